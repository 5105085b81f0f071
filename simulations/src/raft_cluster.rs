//! A cluster's commits through three real raft-rs `RawNode`s on the
//! virtual clock: the cross-check of the sampled commit latency. Nodes
//! tick every `tick_ms`; messages between them take `net_us`; each Ready
//! is persisted for `fsync_us` before its persisted messages go and its
//! committed entries apply. A write is committed when the first node
//! applies it (the leader, which acknowledges it).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use raft::prelude::{Entry, Message};
use raft::storage::MemStorage;
use raft::{Config, RawNode, StateRole};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::sim::Millis;

/// The timing a simulated raft cluster runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftModel {
    pub tick_ms: Millis,
    /// One way between two nodes, uniform in this range (µs).
    pub net_us: (u64, u64),
    /// A Ready's fsync, uniform in this range (µs).
    pub fsync_us: (u64, u64),
}

impl Default for RaftModel {
    /// The daemon's tick (100 ms, election after 10), nodes on one LAN,
    /// and an fsync of 1.5-3.5 ms.
    fn default() -> RaftModel {
        RaftModel {
            tick_ms: 100,
            net_us: (150, 400),
            fsync_us: (1_500, 3_500),
        }
    }
}

#[derive(Debug)]
enum Item {
    Tick(usize),
    Deliver(usize, Box<Message>),
    /// Node `i`'s Ready number `n` is on disk: the messages that had to
    /// wait for it go.
    Persisted(usize, u64, Vec<Message>),
}

/// Three `RawNode`s over `MemStorage`, their own event queue in µs.
pub struct RaftCluster {
    nodes: Vec<RawNode<MemStorage>>,
    /// When each node's last Ready is on disk (fsyncs finish in order).
    synced_at: Vec<u64>,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    items: Vec<Option<Item>>,
    free: Vec<usize>,
    seq: u64,
    now_us: u64,
    /// Writes not yet proposed (no leader yet), and highest tag applied.
    waiting: VecDeque<u64>,
    applied_tag: u64,
    model: RaftModel,
    rng: ChaCha8Rng,
}

impl std::fmt::Debug for RaftCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftCluster")
            .field("now_us", &self.now_us)
            .field("waiting", &self.waiting.len())
            .finish()
    }
}

impl RaftCluster {
    pub fn new(model: RaftModel, rng: ChaCha8Rng) -> RaftCluster {
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let nodes: Vec<RawNode<MemStorage>> = (1..=3)
            .map(|id| {
                let cfg = Config {
                    id,
                    election_tick: 10,
                    heartbeat_tick: 3,
                    pre_vote: true,
                    check_quorum: true,
                    max_inflight_msgs: 256,
                    ..Default::default()
                };
                let storage = MemStorage::new_with_conf_state((vec![1, 2, 3], vec![]));
                RawNode::new(&cfg, storage, &logger).expect("a raft node")
            })
            .collect();
        let mut c = RaftCluster {
            nodes,
            synced_at: vec![0; 3],
            queue: BinaryHeap::new(),
            items: Vec::new(),
            free: Vec::new(),
            seq: 0,
            now_us: 0,
            waiting: VecDeque::new(),
            applied_tag: 0,
            model,
            rng,
        };
        let _ = c.nodes[0].campaign();
        for i in 0..3 {
            c.drive(i);
            let at = c.model.tick_ms * 1000;
            c.push(at, Item::Tick(i));
        }
        c
    }

    fn push(&mut self, at_us: u64, item: Item) {
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(s) => {
                self.items[s] = Some(item);
                s
            }
            None => {
                self.items.push(Some(item));
                self.items.len() - 1
            }
        };
        self.queue.push(Reverse((at_us, self.seq, slot)));
    }

    /// When something next happens inside (ms, rounded up).
    pub fn next_at(&self) -> Option<Millis> {
        self.queue.peek().map(|Reverse((t, _, _))| t.div_ceil(1000))
    }

    /// Write `tag` (tags rise by one per write) is proposed at `now`.
    pub fn propose(&mut self, now: Millis, tag: u64) {
        self.now_us = self.now_us.max(now * 1000);
        self.waiting.push_back(tag);
        self.propose_waiting();
    }

    fn leader(&self) -> Option<usize> {
        (0..3).find(|&i| self.nodes[i].raft.state == StateRole::Leader)
    }

    fn propose_waiting(&mut self) {
        let Some(l) = self.leader() else { return };
        while let Some(tag) = self.waiting.pop_front() {
            if self.nodes[l]
                .propose(vec![], tag.to_le_bytes().to_vec())
                .is_err()
            {
                self.waiting.push_front(tag);
                break;
            }
        }
        self.drive(l);
    }

    /// Runs what is due by `now`; returns the highest write tag committed
    /// so far.
    pub fn step(&mut self, now: Millis) -> u64 {
        let until = now * 1000;
        while let Some(&Reverse((t, _, slot))) = self.queue.peek() {
            if t > until {
                break;
            }
            self.queue.pop();
            self.now_us = self.now_us.max(t);
            let item = self.items[slot].take().expect("a queued item");
            self.free.push(slot);
            match item {
                Item::Tick(i) => {
                    self.nodes[i].tick();
                    let at = self.now_us + self.model.tick_ms * 1000;
                    self.push(at, Item::Tick(i));
                    self.drive(i);
                }
                Item::Deliver(i, m) => {
                    let _ = self.nodes[i].step(*m);
                    self.drive(i);
                }
                Item::Persisted(i, number, msgs) => {
                    self.send(msgs);
                    self.nodes[i].on_persist_ready(number);
                    self.drive(i);
                }
            }
            if !self.waiting.is_empty() {
                self.propose_waiting();
            }
        }
        self.applied_tag
    }

    fn send(&mut self, msgs: Vec<Message>) {
        for m in msgs {
            let (lo, hi) = self.model.net_us;
            let at = self.now_us + self.rng.random_range(lo..=hi);
            let to = (m.to - 1) as usize;
            self.push(at, Item::Deliver(to, Box::new(m)));
        }
    }

    fn apply(&mut self, entries: Vec<Entry>) {
        for e in entries {
            if let Ok(b) = <[u8; 8]>::try_from(e.data.as_ref()) {
                self.applied_tag = self.applied_tag.max(u64::from_le_bytes(b));
            }
        }
    }

    /// Handles node `i`'s Ready with raft-rs's asynchronous persistence:
    /// messages that need no persistence go now, committed entries apply,
    /// the entries and hard state are written (visible to raft at once),
    /// and the fsync finishes later, in order.
    fn drive(&mut self, i: usize) {
        while self.nodes[i].has_ready() {
            let mut rd = self.nodes[i].ready();
            let msgs = rd.take_messages();
            self.send(msgs);
            let committed = rd.take_committed_entries();
            self.apply(committed);
            {
                let store = self.nodes[i].store().clone();
                let mut w = store.wl();
                if !rd.entries().is_empty() {
                    w.append(rd.entries()).expect("append");
                }
                if let Some(hs) = rd.hs() {
                    w.set_hardstate(hs.clone());
                }
            }
            let persisted = rd.take_persisted_messages();
            let number = rd.number();
            let (lo, hi) = self.model.fsync_us;
            let at = (self.now_us + self.rng.random_range(lo..=hi)).max(self.synced_at[i]);
            self.synced_at[i] = at;
            self.push(at, Item::Persisted(i, number, persisted));
            self.nodes[i].advance_append_async(rd);
            self.nodes[i].advance_apply();
        }
    }
}
