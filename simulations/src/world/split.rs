//! A run split over two cores: a conservative parallel discrete-event
//! loop (Chandy-Misra-Bryant's lookahead, in fixed windows).
//!
//! Each node belongs to one of two parts, each part a [`World`] of its
//! own with its own calendar. Nothing one node does reaches another
//! sooner than a link's latency, so both parts run a window of that
//! length at once; what one sent the other is handed over between
//! windows, in a fixed order. The same seed gives the same run, however
//! the threads are scheduled: each link direction draws from its own
//! stream, drawn by the part that runs its sender, and each part keeps
//! its own log, hashed together.
//!
//! What a split run does not carry across its parts is a stream's end
//! (a cut, or a session closing its stream): both ends would have to see
//! the link's new generation at once. Scenarios that cut links run on
//! one core.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use trunkline_core::table::AttrsInterner;

use super::{Event, Node, Stats, World};
use crate::sim::{Clock, Millis, hex};

/// Parts of a split run.
const PARTS: usize = 2;

/// What a split world keeps of its parts between runs.
#[derive(Debug, Default)]
pub(super) struct Split {
    /// Per node, the part that runs it (set at the first run, when the
    /// topology is known).
    owner: Arc<[u8]>,
    kept: [Kept; PARTS],
}

/// A part's state that outlives one run: its log and its interner.
#[derive(Debug, Default)]
struct Kept {
    log: Sha256,
    interner: AttrsInterner,
    interned: usize,
}

/// What a part knows while it runs.
#[derive(Debug)]
pub(super) struct Part {
    me: u8,
    owner: Arc<[u8]>,
    /// Events for the other part, in the order they were sent.
    outbox: Vec<(Millis, Event)>,
    /// The current window's last millisecond.
    end: Millis,
}

impl Part {
    /// Queues `event` here or, if it is for a node the other part runs, in
    /// the outbox; that is never due within this window.
    pub(super) fn post(&mut self, clock: &mut Clock<Event>, at: Millis, event: Event) {
        let node = target(&event).expect("a split run's events are for one node");
        if self.owner[node] == self.me {
            return clock.at(at, event);
        }
        if let Event::Deliver { msg: None, .. } = event {
            panic!("a split run cannot end a stream between its parts (node {node})");
        }
        assert!(
            at > self.end,
            "an event for the other part within the window"
        );
        self.outbox.push((at, event));
    }
}

impl Split {
    /// The run's log hash: the whole world's, then each part's.
    pub(super) fn log_hash(&self, clock: &Clock<Event>) -> String {
        let mut all = Sha256::new();
        all.update(clock.log_hash());
        for k in &self.kept {
            all.update(hex(&k.log));
        }
        hex(&all)
    }
}

/// The node an event is for; `None` for a dial's completion that both
/// ends see (queued before the run was split).
fn target(event: &Event) -> Option<usize> {
    match *event {
        Event::Wake { node, .. }
        | Event::Commit { node }
        | Event::RaftStep { node }
        | Event::RestartOver { node, .. } => Some(node),
        Event::Deliver { to, .. } => Some(to),
        Event::Connected { only, .. } => only,
    }
}

impl World {
    /// Runs this world on two cores from now on. Called before the
    /// topology is built (links get a stream per direction); not with
    /// raft clusters in the loop.
    pub fn split(&mut self) {
        assert!(self.links.is_empty() && self.settings.raft.is_none());
        assert!(
            self.settings.link.latency_ms > 0,
            "a split run needs a link latency to look ahead by"
        );
        self.split = Some(Split::default());
    }
}

/// Runs a split world until nothing is left before `until`: the world
/// goes into its parts, they run window by window, and come back.
pub(super) fn run(world: &mut World, until: Millis) {
    if !world.clock.pending_before(until) {
        return;
    }
    let lookahead = (world.links.iter())
        .map(|l| l.model.latency_ms)
        .min()
        .unwrap_or(Millis::MAX);
    assert!(lookahead > 0, "a split run needs a link latency");
    let mut parts = apart(world);
    let next = |parts: &[World; PARTS]| parts.iter().filter_map(|p| p.clock.next_at()).min();
    while let Some(start) = next(&parts).filter(|&at| at <= until) {
        let end = start.saturating_add(lookahead - 1).min(until);
        let [first, second] = &mut parts;
        std::thread::scope(|s| {
            let other = s.spawn(|| window(second, end));
            window(first, end);
            other.join().expect("a part of the run panicked");
        });
        for from in 0..PARTS {
            let mail = std::mem::take(&mut part(&mut parts[from]).outbox);
            for (at, event) in mail {
                parts[1 - from].clock.at(at, event);
            }
        }
    }
    together(world, parts);
}

fn part(w: &mut World) -> &mut Part {
    w.part.as_mut().expect("a part of a split run")
}

fn window(w: &mut World, end: Millis) {
    part(w).end = end;
    w.run_here(end);
}

/// The world in two parts: each takes the nodes it runs, copies of the
/// links and streams, and the events due to its nodes.
fn apart(world: &mut World) -> [World; PARTS] {
    let split = world.split.as_mut().expect("a split world");
    if split.owner.len() != world.nodes.len() {
        split.owner = assign(&world.nodes);
    }
    let owner = split.owner.clone();
    let mut parts = [0, 1].map(|me| {
        let kept = std::mem::take(&mut split.kept[me]);
        let placeholder = |n: &Node| Node::new(n.itad);
        World {
            clock: Clock::resume(world.clock.now(), kept.log),
            nodes: (world.nodes.iter_mut().enumerate())
                .map(|(i, n)| match usize::from(owner[i]) == me {
                    true => std::mem::replace(n, placeholder(n)),
                    false => placeholder(n),
                })
                .collect(),
            links: world.links.clone(),
            stats: Stats {
                updates: 0,
                announced: 0,
                withdrawn: 0,
                eors: 0,
                ..world.stats.clone()
            },
            settings: world.settings,
            commit: world.commit.clone(),
            jitter: world.jitter.clone(),
            interner: kept.interner,
            slots: world.slots.clone(),
            interned: kept.interned,
            weights: world.weights.clone(),
            raft: Vec::new(),
            split: None,
            part: Some(Part {
                me: me as u8,
                owner: owner.clone(),
                outbox: Vec::new(),
                end: 0,
            }),
        }
    });
    for (at, event) in world.clock.drain() {
        match target(&event) {
            Some(node) => parts[usize::from(owner[node])].clock.at(at, event),
            None => {
                let Event::Connected {
                    link, generation, ..
                } = event
                else {
                    unreachable!("only a dial's completion is for both ends")
                };
                let l = &world.links[link];
                for end in [l.a, l.b] {
                    let only = Some(end);
                    let ev = Event::Connected {
                        link,
                        generation,
                        only,
                    };
                    parts[usize::from(owner[end])].clock.at(at, ev);
                }
            }
        }
    }
    parts
}

/// The parts back into one world: each node, stream and link direction
/// from the part that ran it, the counters summed, what is still queued
/// in time order (the first part's first at equal times).
fn together(world: &mut World, parts: [World; PARTS]) {
    let split = world.split.as_mut().expect("a split world");
    let owner = split.owner.clone();
    let [mut p0, mut p1] = parts;
    let copies = std::mem::take(&mut p0.links).into_iter();
    let copies = copies.zip(std::mem::take(&mut p1.links));
    for (l, (c0, c1)) in world.links.iter_mut().zip(copies) {
        let mut copy = [Some(c0), Some(c1)];
        let mut from_a = copy[usize::from(owner[l.a])].take().expect("a copy");
        if let Some(from_b) = copy[usize::from(owner[l.b])].take() {
            from_a.join_back(from_b);
        }
        *l = from_a;
    }
    for (i, node) in world.nodes.iter_mut().enumerate() {
        let p = if owner[i] == 0 { &mut p0 } else { &mut p1 };
        *node = std::mem::replace(&mut p.nodes[i], Node::new(node.itad));
        world.commit[i] = p.commit[i].clone();
        world.jitter[i] = p.jitter[i].clone();
    }
    for (me, mut p) in [p0, p1].into_iter().enumerate() {
        let s = &p.stats;
        let w = &mut world.stats;
        w.updates += s.updates;
        w.announced += s.announced;
        w.withdrawn += s.withdrawn;
        w.eors += s.eors;
        w.last_change = w.last_change.max(s.last_change);
        w.last_best = w.last_best.max(s.last_best);
        w.last_update = w.last_update.max(s.last_update);
        w.last_eor = w.last_eor.max(s.last_eor);
        world.clock.caught_up(p.clock.now(), p.clock.steps);
        for (at, event) in p.clock.drain() {
            world.clock.at(at, event);
        }
        split.kept[me] = Kept {
            log: p.clock.take_log(),
            interner: std::mem::take(&mut p.interner),
            interned: p.interned,
        };
    }
}

/// Parts for nodes by longest processing time first: the busiest node
/// (the most neighbors) to the part with less so far. A node's work is
/// about its table's size times its neighbors, and every table is full.
fn assign(nodes: &[Node]) -> Arc<[u8]> {
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(nodes[i].neighbors.len()), i));
    let mut load = [0usize; PARTS];
    let mut owner = vec![0u8; nodes.len()];
    for i in order {
        let p = usize::from(load[1] < load[0]);
        owner[i] = p as u8;
        load[p] += nodes[i].neighbors.len() + 1;
    }
    owner.into()
}
