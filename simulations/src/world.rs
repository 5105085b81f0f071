//! Nodes, links and the event loop: every session output becomes an
//! event (a message on its link, a dial, a wake-up), every event feeds the
//! real state machines again, until nothing is left to do.

use std::collections::HashMap;
use std::sync::Arc;

use foldhash::fast::FixedState;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use trunkline_core::table::AttrsInterner;
use trunkline_core::{Attrs, Itad, Prefix};
use trunkline_peering::adj_out::Diff;
use trunkline_peering::exporter::Exporter;
use trunkline_peering::message::{Message, updates_for};
use trunkline_peering::pacing::Pacing;
use trunkline_peering::policy::PeerPolicy;
use trunkline_peering::session::{Config, Input, Output, Session};

use crate::net::{Link, LinkModel};
use crate::node::{Msg, Neighbor, Node, Update, Write};
use crate::raft_cluster::{RaftCluster, RaftModel};
use crate::sim::{Clock, Millis, stream};

mod split;

/// Seeded stream purposes: one per link, and two per node.
const LINK: u64 = 1 << 40;
const NODE_COMMIT: u64 = 2 << 40;
const NODE_JITTER: u64 = 3 << 40;
const NODE_RAFT: u64 = 4 << 40;
/// A link's `b -> a` direction, in a split run.
const LINK_BACK: u64 = 5 << 40;

/// What a run is made of, besides its topology.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub seed: u64,
    pub pacing: Pacing,
    /// A cluster's commit latency, uniform in this range (ms).
    pub commit_ms: (Millis, Millis),
    pub link: LinkModel,
    /// Apply cost per route carried by a write, in ns.
    pub per_route_ns: u64,
    /// Clusters commit through three raft-rs `RawNode`s with this timing
    /// instead of `commit_ms` (the cross-check).
    pub raft: Option<RaftModel>,
    /// Graceful restart: the restart time sessions ask for (`None`: off,
    /// a session's end takes its routes at once).
    pub restart_secs: Option<u32>,
}

#[derive(Debug)]
pub enum Event {
    /// A session or pacer of `node`'s neighbor `nb` is due.
    Wake { node: usize, nb: usize },
    /// A message (`None`: the stream's end) arrives at `to` over `link`.
    Deliver {
        link: usize,
        generation: u64,
        to: usize,
        /// Boxed: the queue moves its entries about, and most are small.
        msg: Option<Box<Msg>>,
    },
    /// A dial over `link` completed: both ends have a stream (`only`:
    /// this end's half, in a split run).
    Connected {
        link: usize,
        generation: u64,
        only: Option<usize>,
    },
    /// `node`'s oldest write commits.
    Commit { node: usize },
    /// `node`'s raft cluster has something due.
    RaftStep { node: usize },
    /// The restart time of `node`'s neighbor `nb` ran out, for its
    /// `restart`th graceful down: its routes still stale go.
    RestartOver {
        node: usize,
        nb: usize,
        restart: u64,
    },
}

/// Counters a scenario reads around each event it causes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub updates: u64,
    pub announced: u64,
    pub withdrawn: u64,
    /// When a table last changed anywhere, and an Update last went out.
    pub last_change: Millis,
    /// When a best route last changed anywhere (forwarding settled).
    pub last_best: Millis,
    pub last_update: Millis,
    /// End-of-RIBs received, and when the last one arrived.
    pub eors: u64,
    pub last_eor: Millis,
}

#[derive(Debug)]
pub struct World {
    pub clock: Clock<Event>,
    pub nodes: Vec<Node>,
    pub links: Vec<Link>,
    pub stats: Stats,
    settings: Settings,
    /// Per node, its commit latencies and MRAI jitter: seeded streams of
    /// their own, so one node's draws never shift another's (links have
    /// theirs too).
    commit: Vec<ChaCha8Rng>,
    jitter: Vec<ChaCha8Rng>,
    /// Equal route attributes, shared by every node's table.
    interner: AttrsInterner,
    /// Per link, its neighbor slot at its `a` end and at its `b` end.
    slots: Vec<(usize, usize)>,
    /// Its size after the last purge of attributes no route holds.
    interned: usize,
    /// Prefixes that stand for a class of many (see [`World::weigh_as`]).
    weights: Arc<HashMap<Prefix, u64, FixedState>>,
    /// With [`Settings::raft`], per node: its cluster, the wake-up queued
    /// for it, the last write tag proposed and committed, and the writes
    /// whose Commit is already queued.
    raft: Vec<Raft>,
    /// Set when the run is split over two cores ([`World::split`]).
    split: Option<split::Split>,
    /// Set on each part of a split run while it runs.
    part: Option<split::Part>,
}

#[derive(Debug)]
struct Raft {
    cluster: RaftCluster,
    wake_at: Option<Millis>,
    proposed: u64,
    committed: u64,
    queued: usize,
    last_commit: Millis,
}

impl World {
    pub fn new(settings: Settings) -> World {
        World {
            clock: Clock::default(),
            nodes: Vec::new(),
            links: Vec::new(),
            stats: Stats::default(),
            commit: Vec::new(),
            jitter: Vec::new(),
            interner: AttrsInterner::default(),
            interned: 0,
            slots: Vec::new(),
            weights: Arc::default(),
            raft: Vec::new(),
            split: None,
            part: None,
            settings,
        }
    }

    pub fn add_node(&mut self, itad: Itad) -> usize {
        let n = self.nodes.len() as u64;
        self.nodes.push(Node::new(itad));
        self.commit
            .push(stream(self.settings.seed, NODE_COMMIT + n));
        self.jitter
            .push(stream(self.settings.seed, NODE_JITTER + n));
        if let Some(model) = self.settings.raft {
            self.raft.push(Raft {
                cluster: RaftCluster::new(model, stream(self.settings.seed, NODE_RAFT + n)),
                wake_at: None,
                proposed: 0,
                committed: 0,
                queued: 0,
                last_commit: 0,
            });
            self.schedule_raft(n as usize);
        }
        self.nodes.len() - 1
    }

    /// Peers `a` and `b` with these policies (each as the other sees it):
    /// `a` dials. Sessions start at once.
    pub fn connect(&mut self, a: usize, b: usize, a_sees_b: PeerPolicy, b_sees_a: PeerPolicy) {
        let link = self.links.len();
        let rng = stream(self.settings.seed, LINK + link as u64);
        let mut l = Link::new(a, b, self.settings.link, rng);
        if self.split.is_some() {
            l = l.apart(stream(self.settings.seed, LINK_BACK + link as u64));
        }
        self.links.push(l);
        let at = |n: &Node| n.neighbors.len();
        self.slots.push((at(&self.nodes[a]), at(&self.nodes[b])));
        for (me, other, policy, active) in [(a, b, a_sees_b, true), (b, a, b_sees_a, false)] {
            let mut cfg = Config::new(
                self.nodes[me].itad,
                &format!("n{me}"),
                self.nodes[other].itad,
            );
            cfg.active = active;
            // No keepalives: the run ends when nothing is left to do.
            cfg.hold_secs = 0;
            cfg.plans = vec!["e164".into()];
            cfg.authority = false;
            cfg.graceful_restart_secs = self.settings.restart_secs;
            let nb = Neighbor {
                node: other,
                link,
                policy,
                fsm: Session::new(cfg),
                export: Exporter::new(self.settings.pacing),
                wake_at: None,
                restarts: 0,
                mirrors: 1,
            };
            self.nodes[me].neighbors.push(nb);
            let slot = self.nodes[me].neighbors.len() - 1;
            self.step(me, slot, Input::Start);
        }
    }

    /// `node` announces (or withdraws, `attrs: None`) its own `prefix`.
    pub fn originate(&mut self, node: usize, prefix: Prefix, attrs: Option<Attrs>) {
        match attrs {
            Some(a) => self.local(node, vec![(prefix, a)], vec![]),
            None => self.local(node, vec![], vec![prefix]),
        }
    }

    /// `node` announces and withdraws its own routes, in one write.
    pub fn local(&mut self, node: usize, announce: Vec<(Prefix, Attrs)>, withdraw: Vec<Prefix>) {
        self.write(node, Write::Local { announce, withdraw });
    }

    /// What `node` sends over `link` stands for what it would send `n`
    /// receivers alike (an equivalence class of receivers): its messages
    /// count `n` times. With 0 it is sent no routes at all (another
    /// session stands for it).
    pub fn mirror(&mut self, node: usize, link: usize, n: u64) {
        let slot = self.slot(node, link);
        self.nodes[node].neighbors[slot].mirrors = n;
    }

    /// `node` stands for `n` ITADs alike (a class of stubs): what it sends
    /// is its members' own routes, each member sending its share in
    /// messages of its own.
    pub fn stands_for(&mut self, node: usize, n: u64) {
        self.nodes[node].members = n;
    }

    /// `prefix` stands for `n` prefixes of one equivalence class (a block
    /// announced, withdrawn and routed as one): messages and apply time
    /// count it `n` times.
    pub fn weigh_as(&mut self, prefix: Prefix, n: u64) {
        Arc::make_mut(&mut self.weights).insert(prefix, n);
    }

    /// The prefixes these stand for.
    fn weigh<'a>(&self, prefixes: impl IntoIterator<Item = &'a Prefix>) -> u64 {
        prefixes
            .into_iter()
            .map(|p| self.weights.get(p).copied().unwrap_or(1))
            .sum()
    }

    /// Runs until nothing is left before `until`.
    pub fn run(&mut self, until: Millis) {
        if self.split.is_some() {
            split::run(self, until);
        } else {
            self.run_here(until);
        }
    }

    /// Runs this world's own events (a whole world, or one part of a
    /// split one) until nothing is left before `until`.
    fn run_here(&mut self, until: Millis) {
        while let Some(ev) = self.clock.next(until) {
            self.handle(ev);
        }
    }

    /// The run's log hash so far (with a split run, over its parts').
    pub fn log_hash(&self) -> String {
        match &self.split {
            Some(split) => split.log_hash(&self.clock),
            None => self.clock.log_hash(),
        }
    }

    /// Queues `event` at `at`: here, or for the other part of a split run
    /// when it is for a node that part runs.
    fn post(&mut self, at: Millis, event: Event) {
        match &mut self.part {
            Some(part) => part.post(&mut self.clock, at, event),
            None => self.clock.at(at, event),
        }
    }

    /// Whether anything is still to happen.
    pub fn busy(&self) -> bool {
        self.clock.pending_before(Millis::MAX)
    }

    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Wake { node, nb } => {
                self.nodes[node].neighbors[nb].wake_at = None;
                let now = self.clock.now();
                let n = &self.nodes[node].neighbors[nb];
                if n.fsm.next_deadline().is_some_and(|d| d <= now) {
                    self.step(node, nb, Input::Tick);
                }
                let jitter = &mut self.jitter[node];
                let diff = self.nodes[node].export(nb, now, || mrai_jitter(jitter));
                self.send_diff(node, nb, diff);
                self.schedule(node, nb);
            }
            Event::Deliver {
                link,
                generation,
                to,
                msg,
            } => {
                if self.links[link].generation != generation {
                    return;
                }
                let nb = self.slot(to, link);
                match msg {
                    Some(m) => self.step(to, nb, Input::Received(*m)),
                    None => {
                        // What the far end sent on the dead stream is gone
                        // with it; a new stream starts afresh.
                        self.links[link].generation += 1;
                        self.step(to, nb, Input::Closed("the stream ended".into()));
                    }
                }
            }
            Event::Connected {
                link,
                generation,
                only,
            } => {
                let (a, b) = (self.links[link].a, self.links[link].b);
                let here = |end: usize| only.is_none_or(|n| n == end);
                if self.links[link].generation != generation || !self.links[link].up {
                    if here(a) {
                        let slot = self.slot(a, link);
                        self.step(a, slot, Input::ConnectFailed("link down".into()));
                    }
                    return;
                }
                for end in [a, b].into_iter().filter(|&e| here(e)) {
                    let slot = self.slot(end, link);
                    self.step(end, slot, Input::Connected);
                }
            }
            Event::RestartOver { node, nb, restart } => {
                if self.nodes[node].neighbors[nb].restarts == restart {
                    self.write(node, Write::Sweep { nb });
                }
            }
            Event::RaftStep { node } => {
                let now = self.clock.now();
                let r = &mut self.raft[node];
                r.wake_at = None;
                let committed = r.cluster.step(now);
                while r.committed < committed {
                    r.committed += 1;
                    let (apply_ms, _) = self.nodes[node].writes[r.queued];
                    let at = (now + apply_ms).max(r.last_commit);
                    r.last_commit = at;
                    r.queued += 1;
                    self.clock.at(at, Event::Commit { node });
                }
                self.schedule_raft(node);
            }
            Event::Commit { node } => {
                if let Some(r) = self.raft.get_mut(node) {
                    r.queued -= 1;
                }
                let Some((_, w)) = self.nodes[node].writes.pop_front() else {
                    return;
                };
                let applied = self.nodes[node].apply(w, &mut self.interner);
                // Replaced routes leave their attributes behind: forget
                // them each time the set has doubled (amortised, linear).
                if self.interner.len() > 2 * self.interned.max(1 << 16) {
                    self.interner.purge();
                    self.interned = self.interner.len();
                }
                if applied.changed.is_empty() {
                    return;
                }
                let now = self.clock.now();
                self.stats.last_change = now;
                self.clock
                    .record(format_args!("commit {node} {}", applied.changed.len()));
                if applied.best.is_empty() {
                    return;
                }
                self.stats.last_best = now;
                for nb in 0..self.nodes[node].neighbors.len() {
                    let n = &mut self.nodes[node].neighbors[nb];
                    // A neighbor standing for nobody is sent nothing.
                    if n.mirrors > 0
                        && n.fsm.state() == trunkline_peering::session::State::Established
                    {
                        n.export.changed(now, applied.best.iter().copied());
                        self.schedule(node, nb);
                    }
                }
            }
        }
    }

    /// The slot of `link` among `node`'s neighbors (kept per link: a
    /// tier-1 has hundreds, and every delivery asks).
    fn slot(&self, node: usize, link: usize) -> usize {
        let (a, b) = self.slots[link];
        if self.links[link].a == node { a } else { b }
    }

    /// Queues a write behind the node's others.
    /// It commits after the sampled commit latency and the previous write,
    /// and applies at `per_route_ns` a route it carries.
    fn write(&mut self, node: usize, w: Write) {
        let (lo, hi) = self.settings.commit_ms;
        let latency = if hi > lo {
            self.commit[node].random_range(lo..=hi)
        } else {
            lo
        };
        let routes = match &w {
            Write::Peer {
                announce, withdraw, ..
            }
            | Write::Local { announce, withdraw } => {
                self.weigh(announce.iter().map(|(p, _)| p)) + self.weigh(withdraw)
            }
            Write::Down { .. } | Write::Up { .. } | Write::Sweep { .. } => 0,
        };
        let apply_ms = (routes * self.settings.per_route_ns + 500_000) / 1_000_000;
        if let Some(r) = self.raft.get_mut(node) {
            // Proposed now; its Commit is queued once raft commits it.
            self.nodes[node].writes.push_back((apply_ms, w));
            r.proposed += 1;
            r.cluster.propose(self.clock.now(), r.proposed);
            self.schedule_raft(node);
            return;
        }
        let at = (self.clock.now() + latency)
            .max(self.nodes[node].writes.back().map_or(0, |(t, _)| *t))
            + apply_ms;
        self.nodes[node].writes.push_back((at, w));
        self.clock.at(at, Event::Commit { node });
    }

    /// Queues the wake-up `node`'s raft cluster wants.
    fn schedule_raft(&mut self, node: usize) {
        let r = &mut self.raft[node];
        if let Some(d) = r.cluster.next_at()
            && r.wake_at.is_none_or(|w| d < w)
        {
            r.wake_at = Some(d);
            self.clock.at(d, Event::RaftStep { node });
        }
    }

    /// Queues the wake-up a session or pacer now wants.
    fn schedule(&mut self, node: usize, nb: usize) {
        let n = &mut self.nodes[node].neighbors[nb];
        if let Some(d) = n.deadline()
            && n.wake_at.is_none_or(|w| d < w)
        {
            n.wake_at = Some(d);
            self.clock.at(d, Event::Wake { node, nb });
        }
    }

    fn send_diff(&mut self, node: usize, nb: usize, diff: Diff) {
        if diff.is_empty() {
            return;
        }
        let now = self.clock.now();
        // A session standing for a class of receivers counts for each.
        let mirrors = self.nodes[node].neighbors[nb].mirrors;
        let announced = self.weigh(diff.announce.iter().map(|a| &a.prefix));
        let withdrawn = self.weigh(&diff.withdraw);
        // As many as the daemon's link would send for as many routes, from
        // each ITAD the node stands for.
        let senders = self.nodes[node].members;
        let share = |routes: u64| routes.div_ceil(senders) as usize;
        let updates = senders * updates_for(share(announced), share(withdrawn)) as u64;
        self.stats.updates += updates * mirrors;
        let (announced, withdrawn) = (announced * mirrors, withdrawn * mirrors);
        self.stats.last_update = now;
        self.stats.announced += announced;
        self.stats.withdrawn += withdrawn;
        let u = Update {
            announce: diff.announce,
            withdraw: diff.withdraw,
        };
        self.step(node, nb, Input::Send(Message::Update(u)));
    }

    /// Feeds one input to a session and carries out what it says.
    fn step(&mut self, node: usize, nb: usize, input: Input<Update>) {
        let now = self.clock.now();
        let outputs = self.nodes[node].neighbors[nb].fsm.handle(now, input);
        for out in outputs {
            self.output(node, nb, out);
        }
        self.schedule(node, nb);
    }

    fn output(&mut self, node: usize, nb: usize, out: Output<Update>) {
        let now = self.clock.now();
        let link = self.nodes[node].neighbors[nb].link;
        match out {
            Output::Send(m) => self.transmit(node, link, Some(m)),
            Output::Close => {
                // The far end sees the stream end after what was sent.
                self.transmit(node, link, None);
            }
            Output::Dial => {
                let l = &self.links[link];
                let at = now + 2 * l.model.latency_ms;
                let (generation, ends) = (l.generation, [l.a, l.b]);
                let connected = move |only| Event::Connected {
                    link,
                    generation,
                    only,
                };
                if self.part.is_none() {
                    self.clock.at(at, connected(None));
                } else {
                    // Each end's half goes to the part that runs it.
                    for end in ends {
                        self.post(at, connected(Some(end)));
                    }
                }
            }
            Output::Established(_) => {
                self.clock.record(format_args!("up {node} {nb}"));
                self.nodes[node].neighbors[nb].restarts += 1;
                self.write(node, Write::Up { nb });
                if self.nodes[node].neighbors[nb].mirrors > 0 {
                    let jitter = &mut self.jitter[node];
                    let diff = self.nodes[node].dump(nb, now, || mrai_jitter(jitter));
                    self.send_diff(node, nb, diff);
                }
                self.step(
                    node,
                    nb,
                    Input::Send(Message::EndOfRib {
                        plan: "e164".into(),
                    }),
                );
            }
            Output::Down(d) => {
                self.clock.record(format_args!("down {node} {nb}"));
                let n = &mut self.nodes[node].neighbors[nb];
                n.export = Exporter::new(self.settings.pacing);
                n.restarts += 1;
                if d.graceful {
                    let restart = n.restarts;
                    let secs = self.settings.restart_secs.unwrap_or(0);
                    let at = now + Millis::from(secs) * 1000;
                    self.clock.at(at, Event::RestartOver { node, nb, restart });
                }
                self.write(
                    node,
                    Write::Down {
                        nb,
                        graceful: d.graceful,
                    },
                );
            }
            Output::Update(u) => {
                let w = self.nodes[node].import(nb, u);
                self.write(node, w);
            }
            Output::RefreshRequested(_) => {
                let jitter = &mut self.jitter[node];
                let diff = self.nodes[node].dump(nb, now, || mrai_jitter(jitter));
                self.send_diff(node, nb, diff);
            }
            Output::EndOfRib(_) => {
                self.stats.eors += 1;
                self.stats.last_eor = now;
                self.write(node, Write::Sweep { nb });
            }
            Output::Authority(_) => {}
        }
    }

    /// Puts a message (or the stream's end) on `link` from `node`.
    fn transmit(&mut self, node: usize, link: usize, msg: Option<Msg>) {
        let now = self.clock.now();
        let l = &mut self.links[link];
        if !l.up {
            return;
        }
        let to = l.other(node);
        let at = l.delivery(node, now);
        let generation = l.generation;
        self.post(
            at,
            Event::Deliver {
                link,
                generation,
                to,
                msg: msg.map(Box::new),
            },
        );
    }

    /// Breaks `link`: both ends see their stream close.
    pub fn cut(&mut self, link: usize) {
        self.links[link].cut();
        let (a, b) = (self.links[link].a, self.links[link].b);
        for end in [a, b] {
            let slot = self.slot(end, link);
            self.step(end, slot, Input::Closed("link cut".into()));
        }
    }

    pub fn heal(&mut self, link: usize) {
        self.links[link].heal();
    }
}

/// RFC 4271 §10: the MRAI times a factor uniform in 0.75..1.0.
fn mrai_jitter(rng: &mut ChaCha8Rng) -> u16 {
    rng.random_range(750..=1000)
}
