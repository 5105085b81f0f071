//! The scenarios `trunkline-sim run NAME` makes, the invariants checked at
//! every quiescence, and what a run reports.

pub mod clique;
pub mod exchange;
pub mod federation;
pub mod full_table;
pub mod gao_rexford;
pub mod hierarchy;

use trunkline_core::Prefix;

use crate::sim::Millis;
use crate::world::World;

/// One measured event of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    pub scenario: &'static str,
    pub event: &'static str,
    pub seed: u64,
    pub size: usize,
    pub mrai_s: u64,
    /// Trunkline's degrade hold (MRAI 0 only).
    pub hold_ms: u64,
    /// From the event until every table was quiet.
    pub convergence_ms: Millis,
    /// From the event until the last best route changed (forwarding
    /// settled; tables may still drop stale candidates after that).
    pub best_ms: Millis,
    /// From the event until the last End-of-RIB arrived (0: none came).
    pub eor_ms: Millis,
    pub updates: u64,
    pub announced: u64,
    pub withdrawn: u64,
    /// Links in the topology (messages per event are compared with it).
    pub links: usize,
    /// The run's log hash up to this event.
    pub log_hash: String,
}

impl Measured {
    pub const CSV_HEADER: &'static str = "scenario,event,seed,size,mrai_s,hold_ms,convergence_ms,best_ms,eor_ms,updates,announced,withdrawn,links,log_hash";

    pub fn csv(&self) -> String {
        format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            self.scenario,
            self.event,
            self.seed,
            self.size,
            self.mrai_s,
            self.hold_ms,
            self.convergence_ms,
            self.best_ms,
            self.eor_ms,
            self.updates,
            self.announced,
            self.withdrawn,
            self.links,
            self.log_hash
        )
    }
}

/// How long nothing may change before a run counts as settled: longer
/// than any MRAI round, so path exploration under BGP's pacing is not cut
/// short. Only redials over a link that is down go on beyond it.
pub const QUIET: Millis = 300_000;

/// Runs the world until nothing is left to do but redial dead links (no
/// table change and no Update for [`QUIET`]); the time the last table
/// changed, from `since`, and the messages sent meanwhile.
pub fn settle(world: &mut World, since: Millis) -> (Millis, crate::world::Stats) {
    world.stats = Default::default();
    world.stats.last_change = since;
    world.stats.last_best = since;
    world.stats.last_update = since;
    // Whatever is due within QUIET of the last activity runs; each run
    // may push that horizon on (a split run goes window by window).
    loop {
        let horizon = world.stats.last_change.max(world.stats.last_update) + QUIET;
        if !world.clock.pending_before(horizon) {
            break;
        }
        world.run(horizon);
    }
    let stats = world.stats.clone();
    (stats.last_change.saturating_sub(since), stats)
}

/// A cluster's commit latency for a write, uniform in this range (ms): a
/// real 3-node cluster acknowledges one client's small writes at 178 to
/// 269 a second on this machine, 3.7 to 5.6 ms each
/// (`trunkline-bench --prefixes 1000 etcd --clients 1`, three runs); a
/// chain of single-node clusters takes 9 to 10 ms a hop with its 5 ms
/// batching window (`trunkline-bench peering --only convergence`).
pub const COMMIT_MS: (Millis, Millis) = (3, 6);

/// Apply cost of one route at a hop: a real 3-node exchange installs a
/// 1,000,000-route dump from a member in 6.2 to 6.7 s (issue 11's
/// `trunkline-bench peering` runs), received, committed and applied.
pub const PER_ROUTE_NS: u64 = 6_500;

/// A world's settings for `seed` and `pace`: the calibrated cluster and
/// link models, graceful restart as given.
pub fn settings(seed: u64, pace: Pace, restart_secs: Option<u32>) -> crate::world::Settings {
    crate::world::Settings {
        seed,
        pacing: pace.pacing(),
        commit_ms: COMMIT_MS,
        link: crate::net::LinkModel::default(),
        per_route_ns: PER_ROUTE_NS,
        raft: pace.raft(),
        restart_secs,
    }
}

/// How a run's sessions pace what they send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// 0: Trunkline's pacing; else BGP's MRAI, in seconds.
    pub mrai_s: u64,
    /// Trunkline's degrade hold (with MRAI 0 only).
    pub hold_ms: u64,
    /// Clusters commit through real raft-rs `RawNode`s on the virtual
    /// clock instead of the sampled latency (the cross-check).
    pub raft: bool,
}

impl Pace {
    /// The daemon's `[peering] degrade_hold_ms`.
    pub const HOLD_MS: u64 = 100;

    /// BGP with this MRAI in seconds; 0 is Trunkline's pacing with the
    /// daemon's degrade hold.
    pub const fn mrai(mrai_s: u64) -> Pace {
        let hold_ms = if mrai_s == 0 { Pace::HOLD_MS } else { 0 };
        Pace {
            mrai_s,
            hold_ms,
            raft: false,
        }
    }

    /// The clusters' raft timing, when they run raft.
    pub fn raft(self) -> Option<crate::raft_cluster::RaftModel> {
        self.raft.then(crate::raft_cluster::RaftModel::default)
    }

    /// Trunkline's pacing (the daemon's 5 ms window and the degrade hold)
    /// for MRAI 0, else BGP's.
    pub fn pacing(self) -> trunkline_peering::pacing::Pacing {
        use trunkline_peering::pacing::Pacing;
        if self.mrai_s == 0 {
            Pacing::trunkline(5, self.hold_ms)
        } else {
            Pacing::bgp(self.mrai_s * 1000)
        }
    }
}

/// What one run is, for the events it measures.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub scenario: &'static str,
    pub seed: u64,
    pub size: usize,
    pub pace: Pace,
}

impl Run {
    /// Settles the world after `event` and measures it.
    pub fn measure(&self, world: &mut World, event: &'static str) -> Measured {
        let now = world.clock.now();
        self.measure_since(world, event, now)
    }

    /// The same for an event that began at `since` (what happened since
    /// then without a message, such as sessions going down, counts in its
    /// time).
    pub fn measure_since(&self, world: &mut World, event: &'static str, since: Millis) -> Measured {
        let (convergence_ms, stats) = settle(world, since);
        Measured {
            scenario: self.scenario,
            event,
            seed: self.seed,
            size: self.size,
            mrai_s: self.pace.mrai_s,
            hold_ms: self.pace.hold_ms,
            convergence_ms,
            best_ms: stats.last_best.saturating_sub(since),
            eor_ms: if stats.eors > 0 {
                stats.last_eor.saturating_sub(since)
            } else {
                0
            },
            updates: stats.updates,
            announced: stats.announced,
            withdrawn: stats.withdrawn,
            links: world.links.len(),
            log_hash: world.log_hash(),
        }
    }
}

/// A broken invariant, said for people.
pub type Violation = String;

/// After a withdrawal has settled: nobody keeps a route for `prefix`.
pub fn no_zombies(world: &World, prefix: &Prefix) -> Result<(), Violation> {
    for (i, n) in world.nodes.iter().enumerate() {
        if let Some(set) = n.table.get(prefix)
            && let Some(r) = set.iter().next()
        {
            return Err(format!(
                "zombie: n{i} keeps a withdrawn route via {:?}",
                r.attrs.path
            ));
        }
    }
    Ok(())
}

/// After an announcement has settled: every node's best route for
/// `prefix` leads, ITAD by ITAD along best routes, to `origin` without a
/// loop, and no path holds its receiver's own ITAD.
pub fn forwarding_reaches(world: &World, prefix: &Prefix, origin: usize) -> Result<(), Violation> {
    let all: Vec<usize> = (0..world.nodes.len()).collect();
    forwarding_from(world, prefix, origin, &all)
}

/// The same, from the nodes in `starts` only.
pub fn forwarding_from(
    world: &World,
    prefix: &Prefix,
    origin: usize,
    starts: &[usize],
) -> Result<(), Violation> {
    let best_path = |i: usize| -> Option<Vec<u32>> {
        world.nodes[i]
            .table
            .get(prefix)
            .and_then(|s| s.iter().next())
            .map(|r| r.attrs.path.clone())
    };
    let nodes: std::collections::HashMap<u32, usize> = (world.nodes.iter().enumerate())
        .map(|(i, n)| (n.itad, i))
        .collect();
    let by_itad = |a: u32| nodes.get(&a).copied();
    for &start in starts {
        let mut at = start;
        for _ in 0..=world.nodes.len() {
            let Some(path) = best_path(at) else {
                return Err(format!("n{at} has no route (from n{start})"));
            };
            if path.contains(&world.nodes[at].itad) {
                return Err(format!("n{at} holds a path with its own ITAD: {path:?}"));
            }
            let Some(&next) = path.first() else {
                if at != origin {
                    return Err(format!("n{at} originates the prefix, not n{origin}"));
                }
                break;
            };
            at = by_itad(next).ok_or_else(|| format!("no node has ITAD {next}"))?;
        }
        if at != origin {
            return Err(format!("a forwarding loop from n{start}"));
        }
        let ends = best_path(start).and_then(|p| p.last().copied());
        if start != origin && ends != Some(world.nodes[origin].itad) {
            return Err(format!("n{start}'s path does not end at n{origin}"));
        }
    }
    Ok(())
}
