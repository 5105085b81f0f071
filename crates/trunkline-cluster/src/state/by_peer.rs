//! Which prefixes hold a route from each peer, so that a session going up
//! or down, an End-of-RIB or a peer's deletion costs what that peer holds,
//! not what the table holds: these run on the raft thread, and a table
//! walk there stalls every write and heartbeat behind it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use foldhash::fast::FixedState;
use trunkline_core::key::Key;
use trunkline_core::{PlanId, Prefix, RouteTable, Source};

/// Per peer name, per plan, the prefixes (as packed keys: 8 bytes each)
/// where it has a route.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct ByPeer(HashMap<Arc<str>, BTreeMap<PlanId, Keys>, FixedState>);

type Keys = HashSet<Key, FixedState>;

impl ByPeer {
    /// The index of `table` as it is (after a snapshot's restore).
    pub(super) fn of(table: &RouteTable) -> ByPeer {
        let mut by = ByPeer::default();
        table.walk_all(&mut |px, set| {
            for r in set.iter() {
                by.holds(px, &r.attrs.source);
            }
            true
        });
        by
    }

    /// `source` has a route for `px` now.
    pub(super) fn holds(&mut self, px: &Prefix, source: &Source) {
        if let Source::Peer { name, .. } = source {
            let plans = self.0.entry(name.clone()).or_default();
            plans
                .entry(px.plan)
                .or_default()
                .insert(Key::from_digits(&px.digits));
        }
    }

    /// Peer `name` has no route for `px` any more.
    pub(super) fn lost(&mut self, px: &Prefix, name: &str) {
        let Some(plans) = self.0.get_mut(name) else {
            return;
        };
        if let Some(keys) = plans.get_mut(&px.plan) {
            keys.remove(&Key::from_digits(&px.digits));
            if keys.is_empty() {
                plans.remove(&px.plan);
            }
        }
        if plans.is_empty() {
            self.0.remove(name);
        }
    }

    /// The plans where peer `name` has routes, with how many prefixes.
    pub(super) fn plans(&self, name: &str) -> Vec<(PlanId, usize)> {
        (self.0.get(name).into_iter())
            .flat_map(|plans| plans.iter().map(|(&p, keys)| (p, keys.len())))
            .collect()
    }

    /// The prefixes where peer `name` has a route (in `plan`, if given),
    /// in prefix order: the order a table walk would find them in.
    pub(super) fn prefixes(&self, name: &str, plan: Option<PlanId>) -> Vec<Prefix> {
        let Some(plans) = self.0.get(name) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (&p, keys) in plans.iter().filter(|(p, _)| plan.is_none_or(|q| q == **p)) {
            let mut keys: Vec<Key> = keys.iter().copied().collect();
            keys.sort_unstable();
            out.extend(keys.into_iter().map(|k| Prefix {
                plan: p,
                digits: k.to_digits(),
            }));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use trunkline_core::Plans;

    use super::super::tests::apply;
    use super::super::{Command, StateMachine};
    use super::*;
    use crate::peers::PeerOrigin;

    fn attrs(peer: &str, itad: u32) -> Arc<trunkline_core::Attrs> {
        Arc::new(trunkline_core::Attrs {
            source: Source::Peer {
                itad,
                name: peer.into(),
            },
            next_hops: vec![trunkline_core::NextHop::new("sip:a@b", 10, 100).unwrap()],
            path: vec![itad],
            local_pref: 100,
            med: 0,
            communities: vec![],
            validation: trunkline_core::Validation::NotFound,
            reject_not_found: false,
            local_from: None,
        })
    }

    /// Seeded runs of every command that moves a peer's routes, with
    /// snapshots restored on the way: after each, the index is what a walk
    /// of the table finds, and a peer's routes are the ones the index
    /// names. A twin that never rewrites a plan at once (route by route
    /// only) ends each step in the same state, byte for byte.
    #[test]
    fn the_index_is_what_a_walk_of_the_table_finds() {
        let plans = Plans::default();
        let peers = ["ann", "bob", "cy"];
        for seed in 0..40 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut sm = StateMachine::new(plans.clone());
            sm.bulk_min = 1;
            let mut twin = StateMachine::new(plans.clone());
            twin.bulk_min = usize::MAX;
            let mut epochs = [0u64; 3];
            for index in 1..300u64 {
                let k = rng.random_range(0..peers.len());
                let peer = peers[k];
                // Each peer's ITAD changes now and then: routes of its
                // old ITAD stay under its name until replaced.
                let itad = 64_512 + k as u32 * 10 + u32::from(index > 150);
                let px = |rng: &mut SmallRng| {
                    let digits = format!("+4{}", rng.random_range(0..40));
                    plans.parse_prefix(&digits).unwrap()
                };
                let c = match rng.random_range(0..12) {
                    0 => Command::PeerSet {
                        name: peer.into(),
                        config: format!("name = \"{peer}\"\n"),
                        origin: PeerOrigin::Api,
                        itad,
                    },
                    1 => Command::SessionUp {
                        peer: peer.into(),
                        node: 1,
                        outbound: false,
                    },
                    2 => Command::SessionDown {
                        peer: peer.into(),
                        epoch: epochs[k],
                        graceful: rng.random(),
                    },
                    3 => Command::EndOfRib {
                        peer: peer.into(),
                        epoch: epochs[k],
                        plan: PlanId::E164,
                    },
                    4 => Command::SweepStale { peer: peer.into() },
                    5 if rng.random_range(0..4) == 0 => Command::PeerDelete { name: peer.into() },
                    _ => Command::PeerRoutes {
                        peer: peer.into(),
                        epoch: epochs[k],
                        announce: (0..rng.random_range(0..6))
                            .map(|_| (px(&mut rng), attrs(peer, itad)))
                            .collect(),
                        withdraw: (0..rng.random_range(0..3)).map(|_| px(&mut rng)).collect(),
                        rejected: vec![],
                    },
                };
                if matches!(c, Command::SessionUp { .. }) {
                    epochs[k] = index;
                }
                let (a, b) = (apply(&mut sm, index, c.clone()), apply(&mut twin, index, c));
                assert_eq!(a, b, "seed {seed} at {index}");
                // The same prefixes changed (route by route names a
                // prefix once per route of the peer there).
                let (mut x, mut y) = (sm.take_changes(), twin.take_changes());
                x.prefixes.dedup();
                y.prefixes.dedup();
                assert_eq!(x, y, "seed {seed} at {index}");

                assert_eq!(sm.snapshot(), twin.snapshot(), "seed {seed} at {index}");
                if rng.random_range(0..50) == 0 {
                    let snap = sm.snapshot();
                    sm = StateMachine::new(plans.clone());
                    sm.restore(&snap).unwrap();
                    sm.bulk_min = 1;
                    twin = StateMachine::new(plans.clone());
                    twin.restore(&snap).unwrap();
                    twin.bulk_min = usize::MAX;
                }
                assert_eq!(sm.by_peer, ByPeer::of(&sm.table), "seed {seed} at {index}");
                for name in peers {
                    let mut walked = Vec::new();
                    sm.table.walk_all(&mut |px, set| {
                        if set.iter().any(|r| r.attrs.source.is_peer(name)) {
                            walked.push(*px);
                        }
                        true
                    });
                    assert_eq!(sm.by_peer.prefixes(name, None), walked, "seed {seed}");
                }
            }
        }
    }
}
