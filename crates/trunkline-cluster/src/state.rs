//! The replicated state machine: applies committed entries to the route
//! table and publishes a consistent view for readers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use arc_swap::ArcSwap;
use trunkline_core::table::AttrsInterner;
use trunkline_core::{Attrs, PlanId, Plans, Prefix, Route, RouteTable, Source};

use crate::command::{Command, Origin, decode_batch};
use crate::invites::Invites;
use crate::peers::{PeerEntry, Peers, Rejection, SessionMark};
use crate::tokens::Tokens;

pub mod authority;
mod by_peer;
mod snapshot;

use authority::with_validation;
pub use authority::{AuthorityConfig, AuthorityState};
use by_peer::ByPeer;

/// How many request ids are remembered for deduplication.
pub const DEDUPE_CAPACITY: usize = 100_000;

/// What readers see: the table as of `applied_index`.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub table: RouteTable,
    pub applied_index: u64,
    pub peers: Arc<Peers>,
    pub tokens: Arc<Tokens>,
    pub authority: Arc<AuthorityState>,
    pub invites: Arc<Invites>,
}

/// Readers load the current view without locks; the state machine swaps
/// in a new one after each batch of applied entries.
pub type SharedView = Arc<ArcSwap<View>>;

/// What [`StateMachine::peer_routes`] does to the routes it picks.
#[derive(Debug, Clone, Copy)]
enum Act {
    Stale,
    Drop,
}

/// Fewest routes of a peer in a plan worth a rewrite of the plan.
const BULK_MIN: usize = 4096;

/// The result of applying one proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied; `changed` routes were installed or removed.
    Applied { changed: u64 },
    /// A request id seen before: nothing applied again; the first result.
    Duplicate { changed: u64, index: u64 },
    /// The entry could not be decoded (for example a plan missing from
    /// this node's config). Nothing of it was applied.
    Rejected(String),
    /// The command broke a rule of the replicated state (a peer's ITAD
    /// already taken); nothing of it was applied, the text says why.
    Refused(String),
}

/// A proposal's outcome, for the node that proposed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub origin: Origin,
    pub index: u64,
    pub outcome: Outcome,
}

/// Remembers the results of recent request ids, forgetting the oldest first.
#[derive(Debug, Default)]
struct Dedupe {
    order: VecDeque<String>,
    seen: HashMap<String, (u64, u64)>,
}

impl Dedupe {
    fn get(&self, id: &str) -> Option<(u64, u64)> {
        self.seen.get(id).copied()
    }

    fn insert(&mut self, id: String, index: u64, changed: u64) {
        if self.seen.insert(id.clone(), (index, changed)).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > DEDUPE_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
    }
}

/// The route table and everything else the log builds.
#[derive(Debug)]
pub struct StateMachine {
    plans: Plans,
    table: RouteTable,
    /// Where each peer has routes (kept with the table).
    by_peer: ByPeer,
    /// Fewest routes of a peer in a plan that its end rewrites the plan
    /// for at once ([`BULK_MIN`]; tests move it).
    bulk_min: usize,
    interner: AttrsInterner,
    dedupe: Dedupe,
    applied_index: u64,
    applied_term: u64,
    /// Addresses of members added at run time, from their conf changes.
    members: BTreeMap<u64, String>,
    /// Nodes removed from the cluster, with the log index that removed
    /// them. A removed id never comes back (its disk may hold an old log).
    removed: BTreeMap<u64, u64>,
    peers: Arc<Peers>,
    tokens: Arc<Tokens>,
    authority: Arc<AuthorityState>,
    invites: Arc<Invites>,
    /// Prefixes whose routes changed since [`StateMachine::take_changes`].
    changed: Vec<Prefix>,
    /// Everything may have changed (a snapshot was restored).
    resync: bool,
    /// Statements were added since the last call.
    authority_grew: bool,
    /// Peers whose configuration or session changed since the last call.
    sessions_changed: Vec<String>,
    view: SharedView,
}

/// What changed in the table since the last call, for exporters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub prefixes: Vec<Prefix>,
    /// The whole table was replaced: compare everything.
    pub resync: bool,
    /// Authority statements were added (peers get them as a delta).
    pub authority: bool,
    /// Peers whose configuration or session changed (added, removed, up
    /// or down), each once, in the order they first changed.
    pub sessions: Vec<String>,
    /// The applied index these changes bring the table to (a watch's
    /// revision).
    pub index: u64,
}

impl StateMachine {
    pub fn new(plans: Plans) -> StateMachine {
        StateMachine::with_authority(plans, AuthorityConfig::default())
    }

    /// With the trust anchors and this cluster's ITAD, for validation.
    pub fn with_authority(plans: Plans, authority: AuthorityConfig) -> StateMachine {
        StateMachine {
            plans,
            table: RouteTable::new(),
            by_peer: ByPeer::default(),
            bulk_min: BULK_MIN,
            interner: AttrsInterner::default(),
            dedupe: Dedupe::default(),
            applied_index: 0,
            applied_term: 0,
            members: BTreeMap::new(),
            removed: BTreeMap::new(),
            peers: Arc::default(),
            tokens: Arc::default(),
            invites: Arc::default(),
            authority: Arc::new(AuthorityState::new(authority)),
            changed: Vec::new(),
            resync: false,
            authority_grew: false,
            sessions_changed: Vec::new(),
            view: Arc::new(ArcSwap::from_pointee(View::default())),
        }
    }

    pub fn plans(&self) -> &Plans {
        &self.plans
    }

    /// The handle readers load views from.
    pub fn view(&self) -> SharedView {
        self.view.clone()
    }

    pub fn table(&self) -> &RouteTable {
        &self.table
    }

    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    pub fn applied_term(&self) -> u64 {
        self.applied_term
    }

    /// Makes everything applied so far visible to readers.
    pub fn publish(&self) {
        self.view.store(Arc::new(View {
            table: self.table.clone(),
            applied_index: self.applied_index,
            peers: self.peers.clone(),
            tokens: self.tokens.clone(),
            invites: self.invites.clone(),
            authority: self.authority.clone(),
        }));
    }

    pub fn peers(&self) -> &Peers {
        &self.peers
    }

    pub fn invites(&self) -> &Invites {
        &self.invites
    }

    /// Adds or replaces a peer's configuration.
    fn configure_peer(&mut self, name: String, entry: PeerEntry) {
        self.session_changed(&name);
        Arc::make_mut(&mut self.peers).configs.insert(name, entry);
    }

    fn session_changed(&mut self, peer: &str) {
        if !self.sessions_changed.iter().any(|p| p == peer) {
            self.sessions_changed.push(peer.to_owned());
        }
    }

    /// Takes the prefixes changed since the last call.
    pub fn take_changes(&mut self) -> Changes {
        Changes {
            prefixes: std::mem::take(&mut self.changed),
            resync: std::mem::take(&mut self.resync),
            authority: std::mem::take(&mut self.authority_grew),
            sessions: std::mem::take(&mut self.sessions_changed),
            index: self.applied_index,
        }
    }

    /// Addresses of nodes added at run time (the initial members' come
    /// from config).
    pub fn members(&self) -> &BTreeMap<u64, String> {
        &self.members
    }

    /// Nodes removed from the cluster, and the log index of each removal.
    pub fn removed(&self) -> &BTreeMap<u64, u64> {
        &self.removed
    }

    /// Records a membership change. The entry's context carries the
    /// address book (`id addr` per line) the leader knew, new node
    /// included, so a node that joins learns every member's address.
    pub fn apply_membership(
        &mut self,
        index: u64,
        term: u64,
        cc: &raft::prelude::ConfChangeV2,
        context: &[u8],
    ) {
        use raft::prelude::ConfChangeType;
        let book = std::str::from_utf8(context).unwrap_or_default();
        for line in book.lines() {
            if let Some((id, addr)) = line.split_once(' ')
                && let Ok(id) = id.parse::<u64>()
            {
                self.members.insert(id, addr.to_owned());
            }
        }
        for c in &cc.changes {
            if c.get_change_type() == ConfChangeType::RemoveNode {
                self.members.remove(&c.node_id);
                self.removed.insert(c.node_id, index);
            } else {
                self.removed.remove(&c.node_id);
            }
        }
        self.skip(index, term);
    }

    /// Marks an entry without commands (a leader's no-op, a membership
    /// change) as applied.
    pub fn skip(&mut self, index: u64, term: u64) {
        self.applied_index = index;
        self.applied_term = term;
    }

    /// Applies one committed entry's data. Deterministic: the same entries
    /// in the same order give the same table on every node.
    pub fn apply(&mut self, index: u64, term: u64, data: &[u8]) -> Vec<Applied> {
        self.applied_index = index;
        self.applied_term = term;
        if data.is_empty() {
            return Vec::new();
        }
        let batch = match decode_batch(data, &self.plans, &mut self.interner) {
            Ok(b) => b,
            Err(e) => {
                // No origin can be read from a broken entry; proposers time out.
                return vec![Applied {
                    origin: Origin { node: 0, token: 0 },
                    index,
                    outcome: Outcome::Rejected(format!("entry {index}: {e}")),
                }];
            }
        };

        batch
            .into_iter()
            .map(|p| {
                let outcome = match self.dedupe.get(&p.request_id) {
                    Some((first, changed)) if !p.request_id.is_empty() => Outcome::Duplicate {
                        changed,
                        index: first,
                    },
                    _ => match self.check(&p.command) {
                        Err(why) => Outcome::Refused(why),
                        Ok(verified) => {
                            let changed = self.execute(index, p.command, verified);
                            if !p.request_id.is_empty() {
                                self.dedupe.insert(p.request_id, index, changed);
                            }
                            Outcome::Applied { changed }
                        }
                    },
                };
                Applied {
                    origin: p.origin,
                    index,
                    outcome,
                }
            })
            .collect()
    }

    /// The rules a command must keep, checked where every write path
    /// passes (the API, config files, other nodes): here, at apply.
    /// Published statements come back verified, so each is verified once.
    fn check(&self, command: &Command) -> Result<Vec<trunkline_authority::Signed>, String> {
        if let Command::PeerSet { name, itad, .. } = command {
            self.peers
                .check_itad(name, *itad)
                .map_err(|e| format!("peer[{name}].itad: {e}"))?;
        }
        match command {
            Command::TokenCreate { id, .. } if self.tokens.by_id.contains_key(id) => {
                Err(format!("a token with id {id} exists already"))
            }
            Command::TokenRevoke { id } if !self.tokens.by_id.contains_key(id) => {
                Err(format!("no token with id {id}"))
            }
            Command::InviteCreate { id, .. } if self.invites.by_id.contains_key(id) => {
                Err(format!("an invite with id {id} exists already"))
            }
            Command::InviteCreate { invite, .. } => self
                .peers
                .check_itad(&invite.member, invite.itad)
                .map(|()| Vec::new()),
            Command::InviteRevoke { id } if !self.invites.by_id.contains_key(id) => {
                Err(format!("no invite with id {id}"))
            }
            Command::InviteRedeem { id, hash, .. } => self
                .invites
                .check_redeem(id, hash, &self.peers)
                .map(|()| Vec::new()),
            Command::AuthorityPublish { statement } => {
                trunkline_authority::Signed::verify(statement)
                    .map(|s| vec![s])
                    .map_err(|e| e.to_string())
            }
            // The sending node verified them already; one that does not
            // verify is dropped alone.
            Command::AuthorityLearn { statements } => Ok(statements
                .iter()
                .filter_map(|s| trunkline_authority::Signed::verify(s).ok())
                .collect()),
            _ => Ok(Vec::new()),
        }
    }

    fn execute(
        &mut self,
        index: u64,
        command: Command,
        verified: Vec<trunkline_authority::Signed>,
    ) -> u64 {
        match command {
            Command::Announce(routes) => routes
                .into_iter()
                .filter(|(px, a)| self.install(index, px, a.clone()))
                .count() as u64,
            Command::Withdraw { source, prefixes } => prefixes
                .iter()
                .filter(|px| self.remove(px, &source))
                .count() as u64,
            Command::Replace { source, routes } => {
                let wanted: HashMap<Prefix, Arc<Attrs>> = routes.into_iter().collect();
                let mut stale = Vec::new();
                self.table.walk_all(&mut |px, set| {
                    if set.iter().any(|r| r.attrs.source == source) && !wanted.contains_key(px) {
                        stale.push(*px);
                    }
                    true
                });
                let mut changed = 0;
                for px in stale {
                    changed += u64::from(self.remove(&px, &source));
                }
                for (px, a) in wanted {
                    changed += u64::from(self.install(index, &px, a));
                }
                self.interner.purge();
                changed
            }
            Command::PeerSet {
                name,
                config,
                origin,
                itad,
            } => {
                self.configure_peer(
                    name,
                    PeerEntry {
                        config,
                        origin,
                        itad,
                    },
                );
                1
            }
            Command::PeerDelete { name } => {
                self.session_changed(&name);
                let peers = Arc::make_mut(&mut self.peers);
                let known = peers.configs.remove(&name).is_some();
                peers.sessions.remove(&name);
                peers.rejected.remove(&name);
                u64::from(known) + self.peer_routes(&name, None, |_| true, Act::Drop)
            }
            Command::SessionUp {
                peer,
                node,
                outbound,
            } => {
                if !self.peers.configs.contains_key(&peer) {
                    return 0;
                }
                self.session_changed(&peer);
                let peers = Arc::make_mut(&mut self.peers);
                let mark = SessionMark {
                    epoch: index,
                    node,
                    outbound,
                    up: true,
                };
                peers.sessions.insert(peer.clone(), mark);
                peers.rejected.remove(&peer);
                1 + self.peer_routes(&peer, None, |r| !r.stale, Act::Stale)
            }
            Command::SessionDown {
                peer,
                epoch,
                graceful,
            } => {
                if self.peers.current_epoch(&peer) != Some(epoch) {
                    return 0;
                }
                self.session_changed(&peer);
                let peers = Arc::make_mut(&mut self.peers);
                if let Some(s) = peers.sessions.get_mut(&peer) {
                    s.up = false;
                }
                if graceful {
                    1 + self.peer_routes(&peer, None, |r| !r.stale, Act::Stale)
                } else {
                    1 + self.peer_routes(&peer, None, |_| true, Act::Drop)
                }
            }
            Command::PeerRoutes {
                peer,
                epoch,
                announce,
                withdraw,
                rejected,
            } => {
                if self.peers.current_epoch(&peer) != Some(epoch) {
                    return 0;
                }
                let mut changed = 0;
                for (px, a) in announce {
                    // Only routes in the peer's own name.
                    if a.source.is_peer(&peer) {
                        changed += u64::from(self.install(index, &px, a));
                    }
                }
                for px in withdraw {
                    changed += u64::from(self.remove_peer_route(&px, &peer));
                }
                for (px, why, attrs) in rejected {
                    changed += u64::from(self.remove_peer_route(&px, &peer));
                    Arc::make_mut(&mut self.peers).reject(&peer, px, Rejection { why, attrs });
                }
                changed
            }
            Command::EndOfRib { peer, epoch, plan } => {
                if self.peers.current_epoch(&peer) != Some(epoch) {
                    return 0;
                }
                self.peer_routes(&peer, Some(plan), |r| r.stale, Act::Drop)
            }
            Command::SweepStale { peer } => self.peer_routes(&peer, None, |r| r.stale, Act::Drop),
            Command::TokenCreate { id, token } => {
                Arc::make_mut(&mut self.tokens).by_id.insert(id, token);
                1
            }
            Command::InviteCreate { id, invite } => {
                Arc::make_mut(&mut self.invites).by_id.insert(id, invite);
                1
            }
            Command::InviteRevoke { id } => {
                u64::from(Arc::make_mut(&mut self.invites).by_id.remove(&id).is_some())
            }
            Command::InviteRedeem { id, config, .. } => {
                let Some((name, itad)) = Arc::make_mut(&mut self.invites).redeem(&id) else {
                    return 0;
                };
                let origin = crate::peers::PeerOrigin::Api;
                self.configure_peer(
                    name,
                    PeerEntry {
                        config,
                        origin,
                        itad,
                    },
                );
                1
            }
            Command::TokenRevoke { id } => {
                u64::from(Arc::make_mut(&mut self.tokens).by_id.remove(&id).is_some())
            }
            Command::AuthorityPublish { .. } => {
                for signed in verified {
                    self.authority_grew |= !self.authority.contains(&signed.id);
                    Arc::make_mut(&mut self.authority).keep(signed);
                }
                self.revalidate()
            }
            Command::AuthorityLearn { .. } => {
                let new: Vec<_> = verified
                    .into_iter()
                    .filter(|s| !self.authority.contains(&s.id))
                    .collect();
                let (known, _strangers) = self.authority.learnable(new);
                if known.is_empty() {
                    return 0;
                }
                self.authority_grew = true;
                let authority = Arc::make_mut(&mut self.authority);
                for signed in known {
                    authority.keep(signed);
                }
                self.revalidate()
            }
            Command::Tick { unix_secs } => {
                if Arc::make_mut(&mut self.authority).tick(unix_secs) {
                    self.revalidate()
                } else {
                    0
                }
            }
        }
    }

    /// Marks stale or drops every route of peer `name` (in `plan`, if
    /// given) that `select` picks; returns how many it changed. It costs
    /// what the peer holds: the index says where, no walk of the table.
    /// Where the peer holds a quarter of a plan or more (a member with the
    /// full table), the plan is rewritten in one pass: route by route, the
    /// table's merges would rebuild its index several times over, and the
    /// raft thread would stall past an election timeout.
    fn peer_routes(
        &mut self,
        name: &str,
        plan: Option<PlanId>,
        select: impl Fn(&Route) -> bool,
        act: Act,
    ) -> u64 {
        let mut n = 0;
        for (p, held) in self.by_peer.plans(name) {
            if plan.is_some_and(|q| q != p) {
                continue;
            }
            if held >= self.bulk_min && held * 4 >= self.table.prefix_count_in(p) {
                n += self.peer_routes_at_once(name, p, &select, act);
                continue;
            }
            let mut hits = Vec::new();
            for px in self.by_peer.prefixes(name, Some(p)) {
                let Some(set) = self.table.get(&px) else {
                    continue;
                };
                hits.extend(
                    set.iter()
                        .filter(|r| r.attrs.source.is_peer(name) && select(r))
                        .map(|r| (px, r.clone())),
                );
            }
            let f = match act {
                Act::Stale => Self::mark_stale,
                Act::Drop => Self::drop_route,
            };
            n += hits.iter().filter(|(px, r)| f(self, px, r)).count() as u64;
        }
        n
    }

    /// [`StateMachine::peer_routes`] for one plan, in one rewrite of it.
    fn peer_routes_at_once(
        &mut self,
        name: &str,
        plan: PlanId,
        select: &impl Fn(&Route) -> bool,
        act: Act,
    ) -> u64 {
        let mut n = 0;
        let by_peer = &mut self.by_peer;
        let changed = self.table.rewrite(plan, &mut |px, set| {
            let picked = |r: &Route| r.attrs.source.is_peer(name) && select(r);
            let hits = set.iter().filter(|r| picked(r)).count();
            if hits == 0 {
                return None;
            }
            n += hits as u64;
            let mut routes: Vec<Route> = Vec::with_capacity(set.len());
            for r in set.iter() {
                match (picked(r), act) {
                    (false, _) => routes.push(r.clone()),
                    (true, Act::Stale) => routes.push(Route {
                        stale: true,
                        ..r.clone()
                    }),
                    (true, Act::Drop) => {}
                }
            }
            if !routes.iter().any(|r| r.attrs.source.is_peer(name)) {
                by_peer.lost(px, name);
            }
            if routes.is_empty() {
                return Some(None);
            }
            trunkline_core::select::rank(&mut routes);
            Some(Some(routes.into()))
        });
        self.changed.extend(changed);
        n
    }

    fn mark_stale(&mut self, px: &Prefix, r: &Route) -> bool {
        self.changed.push(*px);
        self.table.upsert(
            px,
            Route {
                stale: true,
                ..r.clone()
            },
        );
        true
    }

    fn drop_route(&mut self, px: &Prefix, r: &Route) -> bool {
        self.remove(px, &r.attrs.source)
    }

    /// Removes peer `name`'s route for `px` (whatever ITAD it carries).
    fn remove_peer_route(&mut self, px: &Prefix, name: &str) -> bool {
        let source = self
            .table
            .get(px)
            .and_then(|set| set.iter().find(|r| r.attrs.source.is_peer(name)))
            .map(|r| r.attrs.source.clone());
        source.is_some_and(|s| self.remove(px, &s))
    }

    fn remove(&mut self, px: &Prefix, source: &Source) -> bool {
        let removed = self.table.remove(px, source).is_some();
        if removed {
            self.changed.push(*px);
            // The same peer may hold another route there (another ITAD).
            if let Source::Peer { name, .. } = source
                && !(self.table.get(px))
                    .is_some_and(|set| set.iter().any(|r| r.attrs.source.is_peer(name)))
            {
                self.by_peer.lost(px, name);
            }
        }
        removed
    }

    /// Judges the statements again and validates again the routes they
    /// touch; returns how many changed.
    fn revalidate(&mut self) -> u64 {
        let roots = Arc::make_mut(&mut self.authority).recompute();
        let changed =
            self.authority
                .revalidate(roots, &self.plans, &mut self.table, &mut self.interner);
        if !changed.is_empty() {
            self.interner.purge();
        }
        let n = changed.len() as u64;
        self.changed.extend(changed);
        n
    }

    /// Installs a route unless the same source already has identical
    /// attributes there (then its original log index stands). Its origin
    /// validation state is set here, from the authority that counts now.
    fn install(&mut self, index: u64, prefix: &Prefix, attrs: Arc<Attrs>) -> bool {
        let validation = self.authority.validate(&self.plans, prefix, &attrs);
        let attrs = with_validation(&mut self.interner, &attrs, validation);
        if let Some(set) = self.table.get(prefix)
            && set.iter().any(|r| {
                r.attrs.source == attrs.source && Arc::ptr_eq(&r.attrs, &attrs) && !r.stale
            })
        {
            return false;
        }
        self.changed.push(*prefix);
        self.by_peer.holds(prefix, &attrs.source);
        self.table.upsert(
            prefix,
            Route {
                attrs,
                installed_at: index,
                stale: false,
            },
        );
        true
    }

    /// Routes of one source, for tests and config reloads.
    pub fn routes_of(&self, source: &Source) -> Vec<(Prefix, Route)> {
        let mut out = Vec::new();
        self.table.walk_all(&mut |px, set| {
            out.extend(
                set.iter()
                    .filter(|r| &r.attrs.source == source)
                    .map(|r| (*px, r.clone())),
            );
            true
        });
        out
    }
}

#[cfg(test)]
mod invite_tests;
#[cfg(test)]
mod tests;
