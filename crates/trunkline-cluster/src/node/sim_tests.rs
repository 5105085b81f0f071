//! Three real `RaftNode`s (redb stores in temp dirs) wired through an
//! in-memory network with a manual clock: the scenarios raft-rs's own
//! harness checks, run against our Ready loop. raft-rs draws election
//! timeouts from its own RNG, so each assertion holds for any draw.

use std::collections::HashSet;
use std::sync::Arc;

use trunkline_core::{Attrs, NextHop, Plans, Source, Validation};

use super::*;
use crate::command::Command;

struct Net {
    _dirs: Vec<tempfile::TempDir>,
    nodes: Vec<RaftNode>,
    /// Nodes cut off from everyone.
    cut: HashSet<u64>,
    /// Read-index answers seen: (request, index).
    reads: Vec<(u64, u64)>,
}

impl Net {
    fn new(n: u64) -> Net {
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let dirs: Vec<tempfile::TempDir> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
        let nodes = dirs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let cfg = NodeConfig {
                    initial_voters: (1..=n).collect(),
                    ..NodeConfig::single(i as u64 + 1)
                };
                RaftNode::open(d.path(), cfg, Plans::default(), &logger).unwrap()
            })
            .collect();
        Net {
            _dirs: dirs,
            nodes,
            cut: HashSet::new(),
            reads: Vec::new(),
        }
    }

    /// Starts one more node that joins an existing cluster (no initial
    /// voters): it waits for the leader to add and contact it.
    fn add_joiner(&mut self) {
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let dir = tempfile::tempdir().unwrap();
        let id = self.nodes.len() as u64 + 1;
        let cfg = NodeConfig {
            initial_voters: Vec::new(),
            ..NodeConfig::single(id)
        };
        let node = RaftNode::open(dir.path(), cfg, Plans::default(), &logger).unwrap();
        self.nodes.push(node);
        self._dirs.push(dir);
    }

    /// Delivers messages until the network is quiet.
    fn settle(&mut self) {
        loop {
            let mut msgs = Vec::new();
            for n in &mut self.nodes {
                let out = n.handle_ready().unwrap();
                msgs.extend(out.messages);
                self.reads.extend(out.read_states);
            }
            if msgs.is_empty() {
                return;
            }
            for m in msgs {
                if !self.cut.contains(&m.from) && !self.cut.contains(&m.to) {
                    let _ = self.nodes[m.to as usize - 1].step(m);
                }
            }
        }
    }

    fn tick(&mut self, ticks: usize) {
        for _ in 0..ticks {
            for n in &mut self.nodes {
                n.tick();
            }
            self.settle();
        }
    }

    fn leaders(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|n| n.is_leader())
            .map(|n| n.id())
            .collect()
    }

    fn leader(&mut self) -> usize {
        for _ in 0..100 {
            if let [l] = self.leaders()[..] {
                return l as usize - 1;
            }
            self.tick(1);
        }
        panic!("no single leader: {:?}", self.leaders());
    }
}

pub(super) fn announce(prefix: &str) -> Vec<Proposal> {
    let attrs = Arc::new(Attrs {
        source: Source::Api,
        next_hops: vec![NextHop::new("sip:a@b", 10, 100).unwrap()],
        path: vec![],
        local_pref: 100,
        med: 0,
        communities: vec![],
        validation: Validation::NotFound,
        reject_not_found: false,
        local_from: None,
    });
    vec![Proposal {
        origin: crate::command::Origin { node: 0, token: 0 },
        request_id: String::new(),
        command: Command::Announce(vec![(
            Plans::default().parse_prefix(prefix).unwrap(),
            attrs,
        )]),
    }]
}

#[test]
fn one_leader_and_replication() {
    let mut net = Net::new(3);
    let l = net.leader();
    net.nodes[l].propose(&announce("+4930")).unwrap();
    net.settle();
    net.tick(2);
    for n in &net.nodes {
        let view = n.view().load_full();
        assert_eq!(view.table.prefix_count(), 1, "node {}", n.id());
    }
    let applied: Vec<u64> = net
        .nodes
        .iter()
        .map(|n| n.state().applied_index())
        .collect();
    assert!(applied.windows(2).all(|w| w[0] == w[1]), "{applied:?}");
}

/// Pre-vote with check-quorum: a follower cut off for many election
/// timeouts does not raise its term, and on its return it does not depose
/// the leader (the scenario of tikv/tikv#3270 and etcd#9586).
#[test]
fn a_returning_partitioned_node_does_not_disrupt_the_leader() {
    let mut net = Net::new(3);
    let l = net.leader();
    let term = net.nodes[l].status().term;
    let f = (l + 1) % 3;
    net.cut.insert(f as u64 + 1);
    net.tick(100);
    assert_eq!(net.nodes[f].status().term, term, "pre-vote kept the term");
    net.cut.clear();
    net.tick(20);
    assert_eq!(net.leaders(), [l as u64 + 1]);
    assert_eq!(net.nodes[l].status().term, term);
}

/// A minority cannot elect a leader or commit.
#[test]
fn a_minority_cannot_commit() {
    let mut net = Net::new(3);
    let l = net.leader();
    let f = (l + 1) % 3;
    // Cut off the leader and one follower: the remaining follower is alone.
    net.cut.insert(l as u64 + 1);
    net.cut.insert(((l + 2) % 3) as u64 + 1);
    net.tick(100);
    assert!(!net.nodes[f].is_leader());
    assert!(
        net.nodes[f].propose(&announce("+1")).is_err(),
        "no leader, no proposal"
    );
}

/// ReadIndex is answered on the leader and, forwarded by raft, on a
/// follower; the index it gives covers every committed write.
#[test]
fn read_index_on_leader_and_follower() {
    let mut net = Net::new(3);
    let l = net.leader();
    net.nodes[l].propose(&announce("+33")).unwrap();
    net.settle();
    let committed = net.nodes[l].status().commit_index;
    let f = (l + 1) % 3;
    net.nodes[l].read_index(7);
    net.nodes[f].read_index(8);
    net.settle();
    net.tick(1);
    let reads = std::mem::take(&mut net.reads);
    for ctx in [7, 8] {
        let (_, index) = reads
            .iter()
            .find(|(c, _)| *c == ctx)
            .copied()
            .unwrap_or_else(|| panic!("read {ctx} unanswered: {reads:?}"));
        assert!(index >= committed, "read {ctx} at {index} < {committed}");
    }
}

/// Replacing a voter in one step goes through joint consensus
/// (ConfChangeV2 with two changes): the new node joins as a learner,
/// catches up, then one change adds it as a voter and removes the old
/// one. The cluster leaves the joint state by itself and keeps
/// committing without the removed node.
#[test]
fn replace_a_voter_through_joint_consensus() {
    use raft::prelude::{ConfChangeSingle, ConfChangeTransition, ConfChangeType};
    let change = |t: ConfChangeType, id: u64| {
        let mut c = ConfChangeSingle::default();
        c.set_change_type(t);
        c.node_id = id;
        c
    };
    let mut net = Net::new(3);
    net.add_joiner();
    let l = net.leader();
    let mut learner = ConfChangeV2::default();
    learner
        .mut_changes()
        .push(change(ConfChangeType::AddLearnerNode, 4));
    net.nodes[l]
        .propose_conf_change(b"4 http://n4".to_vec(), learner)
        .unwrap();
    net.nodes[l].propose(&announce("+44")).unwrap();
    net.tick(5);
    assert_eq!(net.nodes[3].view().load_full().table.prefix_count(), 1);

    // Replace node 3 (not the leader) by node 4.
    let old = if l == 2 { 1 } else { 2 };
    let mut replace = ConfChangeV2::default();
    replace.set_transition(ConfChangeTransition::Auto);
    replace
        .mut_changes()
        .push(change(ConfChangeType::AddNode, 4));
    replace
        .mut_changes()
        .push(change(ConfChangeType::RemoveNode, old as u64 + 1));
    net.nodes[l]
        .propose_conf_change(Vec::new(), replace)
        .unwrap();
    net.tick(5);
    for (i, n) in net.nodes.iter().enumerate() {
        if i == old {
            continue;
        }
        let cs = n.raw.store().conf_state();
        let mut voters = cs.voters.clone();
        voters.sort_unstable();
        let mut want: Vec<u64> = (1..=4).filter(|id| *id != old as u64 + 1).collect();
        want.sort_unstable();
        assert_eq!(voters, want, "node {}", n.id());
        assert!(
            cs.voters_outgoing.is_empty(),
            "node {} left the joint state",
            n.id()
        );
        assert!(!n.state().members().contains_key(&(old as u64 + 1)));
    }
    // The removed node is gone for good; the rest still commits.
    net.cut.insert(old as u64 + 1);
    let l = net.leader();
    net.nodes[l].propose(&announce("+45")).unwrap();
    net.tick(5);
    for (i, n) in net.nodes.iter().enumerate() {
        if i != old {
            assert_eq!(
                n.view().load_full().table.prefix_count(),
                2,
                "node {}",
                n.id()
            );
        }
    }
}
