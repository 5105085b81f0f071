//! What a cluster accepts from a peer and what it sends to one: the path
//! vector rules, member authorisation, import and export filters. Pure
//! functions of the peer's configuration and the route.

use std::sync::Arc;

use trunkline_core::{Attrs, Itad, LargeCommunity, NextHop, Prefix, Route, Source, Validation};

/// Longest path accepted; longer ones are dropped as a loop or a leak.
pub const MAX_PATH_LEN: usize = 64;
/// Most large communities on one received route.
pub const MAX_COMMUNITIES: usize = 64;

/// The two kinds of session (DESIGN §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A PBX with its own ITAD announcing its own blocks: only prefixes
    /// inside its allowed blocks, path exactly `[its ITAD]`.
    Member,
    /// Another cluster: may pass on routes it learned (transit).
    Peer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Accept,
    Reject,
}

/// One term of a filter. A route matches when every condition given holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Term {
    /// The route's prefix is equal to or inside one of these (empty: any).
    pub prefixes: Vec<Prefix>,
    /// Longest prefix (in digits) this term matches.
    pub max_len: Option<usize>,
    /// The route carries one of these communities (empty: any).
    pub communities: Vec<LargeCommunity>,
    pub action: Option<Action>,
    /// On accept: set the local preference.
    pub local_pref: Option<u32>,
    /// On accept: add these communities.
    pub add_communities: Vec<LargeCommunity>,
}

/// An ordered list of terms: the first matching term decides; a route no
/// term matches is rejected.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    pub terms: Vec<Term>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxPrefixAction {
    /// Accept nothing new beyond the limit; the session stays up.
    Refuse,
    /// Close the session with a Notification.
    Close,
}

/// Everything about one peer that import and export depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPolicy {
    pub name: Arc<str>,
    pub itad: Itad,
    pub role: Role,
    /// Member sessions: the blocks (as prefixes) the member may announce.
    pub allowed: Vec<Prefix>,
    /// Export to this peer without prepending our ITAD (route-server mode).
    pub route_server: bool,
    /// The peer itself is a route server: its routes do not start with
    /// its ITAD.
    pub transparent: bool,
    /// `None` on a peer session: nothing is accepted (RFC 8212's default
    /// deny). On a member session the allowed blocks already decide.
    pub import: Option<Filter>,
    /// `None`: what the role implies. A member, or a route-server client
    /// (`route_server`), gets every eligible best route, as an exchange
    /// member expects; a peer session gets nothing (RFC 8212's default
    /// deny, as for import).
    pub export: Option<Filter>,
    /// Local preference of accepted routes unless a filter term sets one.
    pub local_pref: u32,
    pub max_prefixes: Option<(usize, MaxPrefixAction)>,
    /// Its routes are selected only when their origin is valid; not-found
    /// ones are kept, and shown, but never chosen nor passed on.
    pub reject_not_found: bool,
}

/// A route as a peer sends it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Announced {
    pub prefix: Prefix,
    pub next_hops: Vec<NextHop>,
    /// Nearest ITAD first, origin last.
    pub path: Vec<Itad>,
    pub med: u32,
    pub communities: Vec<LargeCommunity>,
    /// Leading digits `{local}` leaves out, when not the prefix's length
    /// (the origin announced a range; see `Attrs::local_from`).
    pub local_from: Option<u8>,
}

/// Why a received route was not accepted, for `routes --received`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Rejected {
    EmptyPath,
    PathTooLong(usize),
    /// Our own ITAD is on the path: accepting it would make a loop.
    Loop,
    /// A member's path must be exactly its ITAD.
    MemberPath(Vec<Itad>),
    /// The nearest ITAD is not the peer's.
    FirstItad {
        first: Itad,
        peer: Itad,
    },
    NotAllowed,
    NoImportPolicy,
    Filtered,
    MaxPrefixes(usize),
    NoNextHops,
    /// `local_from` is longer than the prefix it belongs to.
    LocalFrom(u8),
    TooManyCommunities(usize),
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejected::EmptyPath => write!(f, "empty path"),
            Rejected::PathTooLong(n) => write!(f, "path of {n} ITADs (at most {MAX_PATH_LEN})"),
            Rejected::TooManyCommunities(n) => {
                write!(f, "{n} communities (at most {MAX_COMMUNITIES})")
            }
            Rejected::Loop => write!(f, "loop: our ITAD is on the path"),
            Rejected::MemberPath(p) => {
                write!(f, "member path must be only its own ITAD, got {p:?}")
            }
            Rejected::FirstItad { first, peer } => {
                write!(f, "path starts with ITAD {first}, not the peer's {peer}")
            }
            Rejected::NotAllowed => write!(f, "not inside the blocks this member may announce"),
            Rejected::NoImportPolicy => {
                write!(
                    f,
                    "no import policy on this peer (default deny, as RFC 8212)"
                )
            }
            Rejected::Filtered => write!(f, "rejected by the import filter"),
            Rejected::MaxPrefixes(n) => write!(f, "over the limit of {n} prefixes"),
            Rejected::NoNextHops => write!(f, "no next hops"),
            Rejected::LocalFrom(n) => write!(
                f,
                "local_from {n} is longer than the prefix ({{local}} would cut into it)"
            ),
        }
    }
}

impl Filter {
    /// The first term that matches, if any.
    fn decide(&self, prefix: &Prefix, communities: &[LargeCommunity]) -> Option<&Term> {
        self.terms.iter().find(|t| t.matches(prefix, communities))
    }
}

impl Term {
    fn matches(&self, prefix: &Prefix, communities: &[LargeCommunity]) -> bool {
        (self.prefixes.is_empty() || self.prefixes.iter().any(|p| within(prefix, p)))
            && self.max_len.is_none_or(|m| prefix.digits.len() <= m)
            && (self.communities.is_empty()
                || self.communities.iter().any(|c| communities.contains(c)))
    }
}

/// `p` is `block` or more specific than it.
pub fn within(p: &Prefix, block: &Prefix) -> bool {
    p.plan == block.plan && p.digits.starts_with(&block.digits)
}

/// Decides whether a route received from `peer` is accepted, and with what
/// attributes. `me` is our own ITAD.
pub fn import(peer: &PeerPolicy, me: Itad, r: &Announced) -> Result<Attrs, Rejected> {
    if r.next_hops.is_empty() {
        return Err(Rejected::NoNextHops);
    }
    if let Some(n) = r.local_from
        && usize::from(n) > r.prefix.digits.len()
    {
        return Err(Rejected::LocalFrom(n));
    }
    if r.path.is_empty() {
        return Err(Rejected::EmptyPath);
    }
    if r.path.len() > MAX_PATH_LEN {
        return Err(Rejected::PathTooLong(r.path.len()));
    }
    if r.communities.len() > MAX_COMMUNITIES {
        return Err(Rejected::TooManyCommunities(r.communities.len()));
    }
    if r.path.contains(&me) {
        return Err(Rejected::Loop);
    }
    match peer.role {
        Role::Member => {
            if r.path != [peer.itad] {
                return Err(Rejected::MemberPath(r.path.clone()));
            }
            if !peer.allowed.iter().any(|b| within(&r.prefix, b)) {
                return Err(Rejected::NotAllowed);
            }
        }
        Role::Peer => {
            if !peer.transparent && r.path[0] != peer.itad {
                return Err(Rejected::FirstItad {
                    first: r.path[0],
                    peer: peer.itad,
                });
            }
            if peer.import.is_none() {
                return Err(Rejected::NoImportPolicy);
            }
        }
    }
    let mut local_pref = peer.local_pref;
    let mut communities = r.communities.clone();
    if let Some(filter) = &peer.import {
        match filter.decide(&r.prefix, &r.communities) {
            Some(t) if t.action != Some(Action::Reject) => {
                if let Some(lp) = t.local_pref {
                    local_pref = lp;
                }
                for c in &t.add_communities {
                    if !communities.contains(c) {
                        communities.push(*c);
                    }
                }
            }
            _ => return Err(Rejected::Filtered),
        }
    }
    Ok(Attrs {
        source: Source::Peer {
            itad: peer.itad,
            name: peer.name.clone(),
        },
        next_hops: r.next_hops.clone(),
        path: r.path.clone(),
        local_pref,
        med: r.med,
        communities,
        validation: Validation::NotFound,
        reject_not_found: peer.reject_not_found,
        local_from: r.local_from,
    })
}

/// A received route's attributes exactly as the peer sent them (no
/// filter applied), to show what was refused.
pub fn as_received(peer: &PeerPolicy, r: &Announced) -> Attrs {
    Attrs {
        source: Source::Peer {
            itad: peer.itad,
            name: peer.name.clone(),
        },
        next_hops: r.next_hops.clone(),
        path: r.path.clone(),
        local_pref: peer.local_pref,
        med: r.med,
        communities: r.communities.clone(),
        validation: Validation::NotFound,
        reject_not_found: false,
        local_from: r.local_from,
    }
}

/// What to send `peer` for a prefix whose best route is `best` (`None`:
/// nothing, so a withdrawal if something was sent before). `me` is our
/// ITAD.
pub fn export(
    peer: &PeerPolicy,
    me: Itad,
    prefix: &Prefix,
    best: Option<&Route>,
) -> Option<Announced> {
    let r = best?;
    let a = &r.attrs;
    if !a.origin_eligible() {
        return None;
    }
    // Never back to where it came from, nor to a peer already on its path.
    if a.source.is_peer(&peer.name) {
        return None;
    }
    if a.path.contains(&peer.itad) {
        return None;
    }
    // Decided before anything is copied: most routes offered to a peer or
    // provider are refused.
    let add: &[LargeCommunity] = match &peer.export {
        Some(filter) => {
            let t = filter.decide(prefix, &a.communities)?;
            if t.action == Some(Action::Reject) {
                return None;
            }
            &t.add_communities
        }
        None if peer.role == Role::Member || peer.route_server => &[],
        None => return None,
    };
    let mut communities = a.communities.clone();
    for c in add {
        if !communities.contains(c) {
            communities.push(*c);
        }
    }
    let path = if a.path.is_empty() {
        vec![me]
    } else if peer.route_server {
        a.path.clone()
    } else {
        std::iter::once(me).chain(a.path.iter().copied()).collect()
    };
    // Receivers prefer fresh routes to this one too.
    if r.stale && !communities.contains(&LargeCommunity::STALE) {
        communities.push(LargeCommunity::STALE);
    }
    // MED is meant for the neighbour only: a learned route's MED is not
    // passed on, except by a route server, which is transparent.
    let med = if a.source.is_local() || peer.route_server {
        a.med
    } else {
        0
    };
    Some(Announced {
        prefix: *prefix,
        next_hops: a.next_hops.clone(),
        path,
        med,
        communities,
        local_from: a.local_from,
    })
}

#[cfg(test)]
mod tests;
