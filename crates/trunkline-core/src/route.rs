//! Routes: next hops, attributes, where a route came from.

use std::fmt;
use std::sync::Arc;

use thiserror::Error;

/// IP Telephony Administrative Domain number (RFC 3219), like a BGP ASN.
pub type Itad = u32;

/// The ITAD range set aside for private and hobby use.
pub const PRIVATE_ITADS: std::ops::RangeInclusive<Itad> = 4_200_000_000..=4_294_967_294;

/// Local preference of a route when none is given.
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// Longest next-hop URI accepted, in bytes.
pub const MAX_URI_LEN: usize = 512;

/// Most next hops on one route.
pub const MAX_NEXT_HOPS: usize = 16;

/// Where to send a call: a trunk URI with its priority and weight.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NextHop {
    /// Lower is tried first.
    pub priority: u32,
    /// Share among equal priorities; heavier sorts first.
    pub weight: u32,
    pub uri: String,
}

/// Why a next hop was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NextHopError {
    #[error("a route needs at least one next hop")]
    None,
    #[error("at most {MAX_NEXT_HOPS} next hops per route, not {0}")]
    TooMany(usize),
    #[error("next hop URI is longer than {MAX_URI_LEN} bytes")]
    TooLong,
    #[error("next hop {0:?}: scheme must be sip:, sips:, iax2: or tel:")]
    Scheme(String),
    #[error("next hop {0:?} has nothing after its scheme")]
    Empty(String),
    #[error(
        "next hop {uri:?}: unknown placeholder {{{name}}} (use {{e164}}, {{digits}} or {{local}})"
    )]
    Placeholder { uri: String, name: String },
    #[error("next hop {0:?} holds whitespace or a control character")]
    BadChar(String),
}

const SCHEMES: [&str; 4] = ["sip:", "sips:", "iax2:", "tel:"];
const PLACEHOLDERS: [&str; 3] = ["e164", "digits", "local"];

impl NextHop {
    /// Checks the URI: a known scheme, known placeholders, no whitespace.
    pub fn new(uri: &str, priority: u32, weight: u32) -> Result<NextHop, NextHopError> {
        if uri.len() > MAX_URI_LEN {
            return Err(NextHopError::TooLong);
        }
        let lower = uri.to_ascii_lowercase();
        let Some(scheme) = SCHEMES.iter().find(|s| lower.starts_with(*s)) else {
            return Err(NextHopError::Scheme(uri.to_owned()));
        };
        if uri.len() == scheme.len() {
            return Err(NextHopError::Empty(uri.to_owned()));
        }
        if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(NextHopError::BadChar(uri.to_owned()));
        }
        let mut rest = uri;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let close = after.find('}').unwrap_or(after.len());
            let name = &after[..close];
            if !PLACEHOLDERS.contains(&name) {
                return Err(NextHopError::Placeholder {
                    uri: uri.to_owned(),
                    name: name.to_owned(),
                });
            }
            rest = after.get(close + 1..).unwrap_or("");
        }
        Ok(NextHop {
            priority,
            weight,
            uri: uri.to_owned(),
        })
    }

    /// The URI with `{e164}`, `{digits}` and `{local}` filled in.
    pub fn expand(&self, e164: &str, digits: &str, local: &str) -> String {
        if !self.uri.contains('{') {
            return self.uri.clone();
        }
        // One pass: each placeholder is replaced where it stands, and
        // what a replacement holds is never read again as a template.
        let mut out = String::with_capacity(self.uri.len() + e164.len());
        let mut rest = self.uri.as_str();
        while let Some(at) = rest.find('{') {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            let (value, skip) = [("{e164}", e164), ("{digits}", digits), ("{local}", local)]
                .into_iter()
                .find(|(name, _)| tail.starts_with(name))
                .map_or(("{", 1), |(name, value)| (value, name.len()));
            out.push_str(value);
            rest = &tail[skip..];
        }
        out.push_str(rest);
        out
    }
}

/// Sorts next hops into the order a PBX should try them: by priority, then
/// heaviest weight first; equal ones keep the order they were given in.
pub fn order_next_hops(hops: &mut [NextHop]) {
    hops.sort_by(|a, b| a.priority.cmp(&b.priority).then(b.weight.cmp(&a.weight)));
}

/// A BGP-style large community (RFC 8092): global administrator and two
/// local values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity(pub u32, pub u32, pub u32);

impl LargeCommunity {
    /// Well-known: the route is kept stale through a graceful restart
    /// somewhere upstream (as RFC 9494's LLGR_STALE, 65535:6). Whoever
    /// sends a stale route adds it, so receivers prefer fresh routes too.
    pub const STALE: LargeCommunity = LargeCommunity(0, 65535, 6);
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.0, self.1, self.2)
    }
}

/// Origin validation state, as in RPKI route origin validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Validation {
    NotFound,
    Valid,
    Invalid,
}

/// Where a route came from. The order of the variants is the tie-break
/// order of the last selection step among local sources.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// Announced through the API or CLI.
    Api,
    /// Listed in the config file of node `node` (each node of a cluster
    /// owns the routes of its own file).
    Config { node: u64 },
    /// Learned from a peering session.
    Peer { itad: Itad, name: Arc<str> },
}

impl Source {
    pub fn is_local(&self) -> bool {
        !matches!(self, Source::Peer { .. })
    }

    /// Learned from the peer of this name (whatever ITAD it had then).
    pub fn is_peer(&self, peer: &str) -> bool {
        matches!(self, Source::Peer { name, .. } if **name == *peer)
    }

    /// `api`, `config@NODE` or the peer's name.
    pub fn name(&self) -> String {
        match self {
            Source::Api => "api".to_owned(),
            Source::Config { node } => format!("config@{node}"),
            Source::Peer { name, .. } => name.to_string(),
        }
    }
}

/// Everything about a route except its prefix and when it was installed.
/// Many prefixes share one `Attrs` (a bulk load names the same trunk for
/// thousands of blocks), so routes hold it behind an `Arc`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attrs {
    pub source: Source,
    /// In the order to try them (see [`order_next_hops`]).
    pub next_hops: Vec<NextHop>,
    /// ITADs crossed, nearest first, origin last; empty for local routes.
    pub path: Vec<Itad>,
    pub local_pref: u32,
    pub med: u32,
    pub communities: Vec<LargeCommunity>,
    pub validation: Validation,
    /// The route may be selected only when its origin is valid: it came
    /// from a peer whose policy rejects not-found (`not_found = "reject"`).
    pub reject_not_found: bool,
    /// Leading digits of the dialed number that `{local}` leaves out, when
    /// not the matched prefix's length: the fixed part of the range the
    /// origin announced (see [`crate::Block::local_from`]).
    pub local_from: Option<u8>,
}

impl Attrs {
    /// Whether origin validation lets this route be selected (DESIGN 3):
    /// never when invalid, and not when not-found under a peer's policy
    /// that rejects not-found.
    pub fn origin_eligible(&self) -> bool {
        match self.validation {
            Validation::Valid => true,
            Validation::NotFound => !self.reject_not_found,
            Validation::Invalid => false,
        }
    }

    /// The digits of `number` that `{local}` stands for, on a route whose
    /// prefix has `prefix_len` digits.
    pub fn local_part<'a>(&self, digits: &'a str, prefix_len: usize) -> &'a str {
        let from = self.local_from.map_or(prefix_len, usize::from);
        digits.get(from.min(digits.len())..).unwrap_or("")
    }
}

/// One candidate route for a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub attrs: Arc<Attrs>,
    /// Raft log index of the entry that installed it (selection step 6).
    pub installed_at: u64,
    /// Kept through a peer's graceful restart, awaiting refresh.
    pub stale: bool,
}

impl Route {
    /// Kept through a graceful restart, here or upstream.
    pub fn is_stale(&self) -> bool {
        self.stale || self.attrs.communities.contains(&LargeCommunity::STALE)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// A next hop's URI fills in its placeholders as replacing each
        /// in turn would, whatever text and braces surround them.
        #[test]
        fn expand_fills_placeholders_as_replacing_each_in_turn_does(
            pieces in prop::collection::vec(prop::sample::select(vec![
                "{e164}", "{digits}", "{local}", "{", "}", "{{", "sip:", "@pbx.example", "{e16", "x",
            ]), 0..12),
            digits in "[0-9]{1,15}",
            from in 0usize..16,
        ) {
            let uri: String = pieces.concat();
            let hop = NextHop { uri: uri.clone(), priority: 10, weight: 100 };
            let e164 = format!("+{digits}");
            let local = digits.get(from.min(digits.len())..).unwrap_or("");
            let chained = uri
                .replace("{e164}", &e164)
                .replace("{digits}", &digits)
                .replace("{local}", local);
            prop_assert_eq!(hop.expand(&e164, &digits, local), chained);
        }
    }

    #[test]
    fn digits_print_as_written() {
        let d = crate::Digits::from_ascii("0123456789012345").unwrap();
        assert_eq!(d.to_string(), "0123456789012345");
        assert_eq!(crate::Digits::EMPTY.to_string(), "");
    }
}
