//! One simulated ITAD: a cluster seen as one logical node. It holds the
//! real route table and, per neighbor, the real session state machine,
//! import and export policy, Adj-RIB-Out and pacing. What it learns becomes
//! a write that commits after a sampled latency, in order, as a Raft log
//! would; only then does the table change and export follow.

use std::collections::VecDeque;

use trunkline_core::table::AttrsInterner;
use trunkline_core::{Attrs, Itad, PlanId, Prefix, Route, RouteTable, Source};
use trunkline_peering::adj_out::{Context, Diff};
use trunkline_peering::exporter::Exporter;
use trunkline_peering::message::Message;
use trunkline_peering::policy::{self, Announced, PeerPolicy};
use trunkline_peering::session::Session;

use crate::sim::Millis;

/// What a simulated Update carries: the routes as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub announce: Vec<Announced>,
    pub withdraw: Vec<Prefix>,
}

pub type Msg = Message<Update>;

/// One peering of a node.
#[derive(Debug)]
pub struct Neighbor {
    /// The node at the other end, and the link to it.
    pub node: usize,
    pub link: usize,
    pub policy: PeerPolicy,
    pub fsm: Session<Update>,
    /// Its sending side: pacing and Adj-RIB-Out, as in the daemon.
    pub export: Exporter,
    /// The wake-up already queued for it, if any.
    pub wake_at: Option<Millis>,
    /// Graceful-restart downs so far: a restart timer is for the latest.
    pub restarts: u64,
    /// Receivers its messages stand for (see `World::mirror`).
    pub mirrors: u64,
}

impl Neighbor {
    pub fn source(&self) -> Source {
        Source::Peer {
            itad: self.policy.itad,
            name: self.policy.name.clone(),
        }
    }

    /// When its session or pacer wants to run next.
    pub fn deadline(&self) -> Option<Millis> {
        [self.fsm.next_deadline(), self.export.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }
}

/// What a write changed.
#[derive(Debug, Default)]
pub struct Applied {
    /// Prefixes with any route changed.
    pub changed: Vec<Prefix>,
    /// Prefixes whose best route changed (all that export depends on).
    pub best: Vec<Prefix>,
}

/// A change to a node's table, committed in order.
#[derive(Debug)]
pub enum Write {
    /// Routes a neighbor (by slot) sent, sorted out by import policy.
    Peer {
        nb: usize,
        announce: Vec<(Prefix, Attrs)>,
        withdraw: Vec<Prefix>,
    },
    /// A neighbor's session went down: its routes go, or with graceful
    /// restart stay, marked stale.
    Down { nb: usize, graceful: bool },
    /// A neighbor's session came up: what it sent before is stale until it
    /// sends it again.
    Up { nb: usize },
    /// A neighbor's End-of-RIB, or its restart time ran out: its routes
    /// still stale go.
    Sweep { nb: usize },
    /// The node's own routes.
    Local {
        announce: Vec<(Prefix, Attrs)>,
        withdraw: Vec<Prefix>,
    },
}

#[derive(Debug)]
pub struct Node {
    pub itad: Itad,
    pub table: RouteTable,
    pub neighbors: Vec<Neighbor>,
    /// Writes waiting to commit, with their commit times.
    pub writes: VecDeque<(Millis, Write)>,
    /// The last write's log position (selection's "earliest announcement").
    pub applied: u64,
    /// ITADs it stands for (a class of stubs; see `World::stands_for`).
    pub members: u64,
}

impl Node {
    pub fn new(itad: Itad) -> Node {
        Node {
            itad,
            table: RouteTable::new(),
            neighbors: Vec::new(),
            writes: VecDeque::new(),
            applied: 0,
            members: 1,
        }
    }

    /// Sorts out an Update from neighbor `nb`: accepted routes to install,
    /// refused ones and withdrawals to remove (RFC 7606: a refused route
    /// withdraws what the neighbor sent before for its prefix).
    pub fn import(&self, nb: usize, u: Update) -> Write {
        let n = &self.neighbors[nb];
        let mut announce = Vec::with_capacity(u.announce.len());
        let mut withdraw = u.withdraw;
        for a in u.announce {
            match policy::import(&n.policy, self.itad, &a) {
                Ok(attrs) => announce.push((a.prefix, attrs)),
                Err(_) => withdraw.push(a.prefix),
            }
        }
        Write::Peer {
            nb,
            announce,
            withdraw,
        }
    }

    /// The best route for `px`.
    pub fn best(&self, px: &Prefix) -> Option<&Route> {
        self.table.get(px).and_then(|s| s.iter().next())
    }

    /// Applies a committed write. Equal attributes are shared across the
    /// whole world.
    pub fn apply(&mut self, w: Write, interner: &mut AttrsInterner) -> Applied {
        self.applied += 1;
        let at = self.applied;
        let mut route = |attrs: Attrs| Route {
            attrs: interner.intern(attrs),
            installed_at: at,
            stale: false,
        };
        let mut out = Applied::default();
        let mut note = |px: Prefix, best_changed: bool| {
            out.changed.push(px);
            if best_changed {
                out.best.push(px);
            }
        };
        match w {
            Write::Peer {
                nb,
                announce,
                withdraw,
            } => {
                let source = self.neighbors[nb].source();
                for px in withdraw {
                    if let Some((_, best)) = self.table.remove_noting_best(&px, &source) {
                        note(px, best);
                    }
                }
                for (px, attrs) in announce {
                    let (_, best) = self.table.upsert_noting_best(&px, route(attrs));
                    note(px, best);
                }
            }
            Write::Down {
                nb,
                graceful: false,
            } => {
                let source = self.neighbors[nb].source();
                for px in self.learned(nb) {
                    if let Some((_, best)) = self.table.remove_noting_best(&px, &source) {
                        note(px, best);
                    }
                }
            }
            Write::Down { nb, graceful: true } | Write::Up { nb } => {
                let source = self.neighbors[nb].source();
                for px in self.learned(nb) {
                    if let Some(r) = self.from(&px, &source).filter(|r| !r.stale) {
                        let r = Route {
                            stale: true,
                            ..r.clone()
                        };
                        let (_, best) = self.table.upsert_noting_best(&px, r);
                        note(px, best);
                    }
                }
            }
            Write::Sweep { nb } => {
                let source = self.neighbors[nb].source();
                let stale: Vec<Prefix> = (self.learned(nb).into_iter())
                    .filter(|px| self.from(px, &source).is_some_and(|r| r.stale))
                    .collect();
                for px in stale {
                    if let Some((_, best)) = self.table.remove_noting_best(&px, &source) {
                        note(px, best);
                    }
                }
            }
            Write::Local { announce, withdraw } => {
                for px in withdraw {
                    if let Some((_, best)) = self.table.remove_noting_best(&px, &Source::Api) {
                        note(px, best);
                    }
                }
                for (px, attrs) in announce {
                    let (_, best) = self.table.upsert_noting_best(&px, route(attrs));
                    note(px, best);
                }
            }
        }
        // A prefix touched twice in one write counts once.
        out.best.sort_unstable();
        out.best.dedup();
        out
    }

    /// Prefixes with a route from neighbor `nb`, in prefix order: a walk
    /// of the table, as the daemon's session-down does (an index per
    /// neighbor would cost a full table's worth of memory per session).
    fn learned(&self, nb: usize) -> Vec<Prefix> {
        let source = self.neighbors[nb].source();
        let mut out = Vec::new();
        self.table.walk_all(&mut |px, set| {
            if set.iter().any(|r| r.attrs.source == source) {
                out.push(*px);
            }
            true
        });
        out
    }

    /// Neighbor `nb`'s route for `px`.
    fn from(&self, px: &Prefix, source: &Source) -> Option<&Route> {
        let set = self.table.get(px)?;
        set.iter().find(|r| r.attrs.source == *source)
    }

    /// What neighbor `nb` may be sent at `now`; `jitter` draws the MRAI's
    /// factor.
    pub fn export(&mut self, nb: usize, now: Millis, jitter: impl FnOnce() -> u16) -> Diff {
        let (export, at) = self.sending(nb, now);
        export.flush(at, PLANS, jitter)
    }

    /// Everything for a session just established.
    pub fn dump(&mut self, nb: usize, now: Millis, jitter: impl FnOnce() -> u16) -> Diff {
        let (export, at) = self.sending(nb, now);
        export.dump(at, PLANS, true, jitter)
    }

    /// Neighbor `nb`'s sending side, and what its diffs are taken against.
    fn sending(&mut self, nb: usize, now: Millis) -> (&mut Exporter, Context<'_>) {
        let n = &mut self.neighbors[nb];
        let at = Context {
            table: &self.table,
            peer: &n.policy,
            me: self.itad,
            now,
        };
        (&mut n.export, at)
    }
}

/// Simulated federations carry E.164 only.
pub const PLANS: &[PlanId] = &[PlanId::E164];
