//! Scenario 5: a full table. The hierarchy of scenario 2 originates 100
//! prefixes an ITAD on average (1,000,000 at 10,000 ITADs), with a heavy
//! tail ([`classes::prefix_counts`]). Every ITAD starts cold with its own
//! prefixes and every session comes up at once; the run goes on until
//! every session has had its End-of-RIB and every table is quiet. Then
//! whole origins withdraw everything they hold: one of each tier, and the
//! largest.
//!
//! At full size it runs on equivalence classes ([`crate::classes`]); the
//! tests below run the same events with every prefix and every stub on its
//! own at a smaller size and compare.

use rand::Rng;
use trunkline_core::{Plans, Prefix};

use super::hierarchy::own;
use super::{
    Measured, Pace, Run, Violation, forwarding_reaches, gao_rexford, no_zombies, settings,
};
use crate::classes::{Classed, prefix_counts};
use crate::hierarchy::Graph;
use crate::sim::stream;
use crate::world::World;

/// Prefixes an ITAD originates on average.
pub const PREFIXES_PER_ITAD: u64 = 100;

/// How a run is made: its size, how many prefixes, how finely modelled.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub itads: usize,
    pub prefixes_per_itad: u64,
    pub resolution: Resolution,
    /// On two cores (see `world::split`): the figures are those of the
    /// same model, with each link direction's jitter drawn apart.
    pub split: bool,
}

/// How finely a run models the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Each origin's prefixes as one, stubs grouped.
    Classes,
    /// Every prefix and every ITAD on its own (the reference).
    Each,
}

/// The `j`th of ITAD `x`'s prefixes; with classes, `x`'s whole share.
fn prefix(x: usize, j: Option<u64>) -> Prefix {
    let digits = match j {
        Some(j) => format!("+8{x:05}{j:05}"),
        None => format!("+8{x:05}"),
    };
    Plans::default().parse_prefix(&digits).expect("a prefix")
}

/// The run's world and what each of its nodes originates.
struct Table {
    graph: Graph,
    /// Per node of `graph`, its prefixes (with classes, one weighed as
    /// all its members'),
    own: Vec<Vec<Prefix>>,
    /// and how many prefixes they are.
    count: Vec<u64>,
    /// The node of `graph` each ITAD of the full hierarchy is in.
    node_of: Vec<usize>,
}

impl Table {
    /// The world on `full`, with its stubs as `grouped` says when the
    /// shape asks for classes.
    fn new(full: &Graph, grouped: &Classed, seed: u64, shape: Shape, world: &mut World) -> Table {
        let counts = prefix_counts(full, full.nodes as u64 * shape.prefixes_per_itad, seed);
        let classed = match shape.resolution {
            Resolution::Classes => grouped.clone(),
            Resolution::Each => Classed::none(full),
        };
        let mut node_of = vec![0; full.nodes];
        let mut own = Vec::new();
        let mut count = Vec::new();
        for (x, members) in classed.members.iter().enumerate() {
            for &m in members {
                node_of[m] = x;
            }
            let n: u64 = members.iter().map(|&m| counts[m]).sum();
            count.push(n);
            own.push(match shape.resolution {
                Resolution::Classes => {
                    let p = prefix(members[0], None);
                    world.weigh_as(p, n);
                    vec![p]
                }
                Resolution::Each => (0..n).map(|j| prefix(x, Some(j))).collect(),
            });
        }
        classed.graph.build(world);
        classed.mirror(world);
        Table {
            graph: classed.graph,
            own,
            count,
            node_of,
        }
    }
}

/// Every origin's prefixes at every node against the stable solution,
/// on both cores (the world is only read).
fn check_every_origin(world: &World, t: &Table) -> Result<(), Violation> {
    let adj = t.graph.adjacency();
    let origins: Vec<usize> = (0..t.own.len()).collect();
    let half = origins.len().div_ceil(2);
    std::thread::scope(|s| {
        let runs: Vec<_> = (origins.chunks(half.max(1)))
            .map(|chunk| {
                let adj = &adj;
                s.spawn(move || {
                    chunk.iter().try_for_each(|&x| {
                        gao_rexford::check_on(world, &t.graph, adj, x, &t.own[x][0])
                    })
                })
            })
            .collect();
        (runs.into_iter()).try_for_each(|r| r.join().expect("a check thread"))
    })
}

/// At full size: `size` ITADs, 100 prefixes each on average, in classes.
pub fn run(seed: u64, size: usize, pace: Pace) -> Result<Vec<Measured>, Violation> {
    let shape = Shape {
        itads: size,
        prefixes_per_itad: PREFIXES_PER_ITAD,
        resolution: Resolution::Classes,
        split: true,
    };
    run_shaped(seed, shape, pace)
}

pub fn run_shaped(seed: u64, shape: Shape, pace: Pace) -> Result<Vec<Measured>, Violation> {
    let full = Graph::synthetic(shape.itads, seed);
    let grouped = Classed::stubs_of(&full);
    let mut world = World::new(settings(seed, pace, None));
    // Both cores: a full table is the one run long enough to need them.
    if shape.split {
        world.split();
    }
    let t = Table::new(&full, &grouped, seed, shape, &mut world);
    let run = Run {
        scenario: "full-table",
        seed,
        size: shape.itads,
        pace,
    };
    for (x, own_prefixes) in t.own.iter().enumerate() {
        let routes = own_prefixes.iter().map(|p| (*p, own(x))).collect();
        world.local(x, routes, vec![]);
    }
    // Messages per link are against the full hierarchy's links, which the
    // mirrored ones stand for.
    let measure = |world: &mut World, event, since: Option<u64>| Measured {
        links: full.links.len(),
        ..match since {
            Some(t) => run.measure_since(world, event, t),
            None => run.measure(world, event),
        }
    };
    let mut out = vec![measure(&mut world, "cold-start", Some(0))];
    let sessions = 2 * t.graph.links.len() as u64;
    if world.stats.eors != sessions {
        return Err(format!(
            "{} End-of-RIBs of {sessions} arrived",
            world.stats.eors
        ));
    }
    check_every_origin(&world, &t)?;
    // Whole origins withdraw: picked in the full hierarchy, each an ITAD
    // on its own (a class of one), the same at either resolution.
    let mut rng = stream(seed, 13);
    let stubs: Vec<usize> = (grouped.members.iter())
        .filter(|m| m.len() == 1 && m[0] >= full.transit_end)
        .map(|m| m[0])
        .collect();
    let mut origins = vec![
        ("withdraw-tier1", rng.random_range(0..full.tier1)),
        (
            "withdraw-transit",
            rng.random_range(full.tier1..full.transit_end),
        ),
    ];
    if !stubs.is_empty() {
        origins.push(("withdraw-stub", stubs[rng.random_range(0..stubs.len())]));
    }
    let largest = (0..full.transit_end)
        .filter(|x| origins.iter().all(|(_, o)| o != x))
        .max_by_key(|&x| (t.count[t.node_of[x]], std::cmp::Reverse(x)))
        .expect("a transit ITAD");
    origins.push(("withdraw-largest", largest));
    for (event, origin) in origins {
        let x = t.node_of[origin];
        eprintln!(
            "full-table seed {seed}: {event}: n{origin} ({}) withdraws its {} prefixes",
            full.tier(origin),
            t.count[x]
        );
        forwarding_reaches(&world, &t.own[x][0], x)?;
        world.local(x, vec![], t.own[x].clone());
        out.push(measure(&mut world, event, None));
        for p in &t.own[x] {
            no_zombies(&world, p)?;
        }
    }
    // A full table is millions of small blocks: the process ends sooner
    // than it would free them one by one.
    if shape.itads >= 5_000 {
        std::mem::forget(world);
    } else {
        drop(world);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shaped(seed: u64, resolution: Resolution, split: bool) -> Vec<Measured> {
        let shape = Shape {
            itads: 150,
            prefixes_per_itad: 10,
            resolution,
            split,
        };
        run_shaped(seed, shape, Pace::mrai(0)).unwrap()
    }

    /// Within `pct` % of `b`, or `slack` of it.
    fn near(a: u64, b: u64, pct: u64, slack: u64) -> bool {
        a.abs_diff(b) <= b * pct / 100 + slack
    }

    fn routes(m: &Measured) -> u64 {
        m.announced + m.withdrawn
    }

    /// Split over two cores, a run is the same run each time, however its
    /// threads are scheduled, and it behaves as the run on one core: the
    /// same events and End-of-RIBs, every table at the stable solution
    /// (`run_shaped` checks), and within a few percent of the same times
    /// and messages (each link direction draws its jitter apart).
    #[test]
    fn a_run_split_over_two_cores_repeats_and_agrees_with_one_core() {
        for seed in 1..=3 {
            let split = shaped(seed, Resolution::Each, true);
            assert_eq!(split, shaped(seed, Resolution::Each, true), "seed {seed}");
            let whole = shaped(seed, Resolution::Each, false);
            assert_ne!(split[0].log_hash, whole[0].log_hash, "it did split");
            for (s, w) in split.iter().zip(&whole) {
                let say = format!("seed {seed}\n{s:?}\n{w:?}");
                assert_eq!(s.event, w.event, "{say}");
                assert!(near(s.convergence_ms, w.convergence_ms, 10, 20), "{say}");
                assert!(near(s.updates, w.updates, 10, 5), "{say}");
                assert!(near(routes(s), routes(w), 10, 10), "{say}");
            }
        }
    }

    /// Classes against every prefix and every stub on its own: the same
    /// events, within 10 % of the same times, messages and routes
    /// sent (what differs: the jitter of each stub's own links, and the
    /// routes stubs of a class hold to one another).
    #[test]
    fn classes_behave_as_every_prefix_and_stub_on_its_own() {
        for seed in 1..=3 {
            let (classes, each) = (
                shaped(seed, Resolution::Classes, true),
                shaped(seed, Resolution::Each, true),
            );
            assert_eq!(classes.len(), 5);
            for (c, e) in classes.iter().zip(&each) {
                let say = format!("seed {seed}\n{c:?}\n{e:?}");
                assert_eq!((c.event, c.links), (e.event, e.links), "{say}");
                assert!(near(c.convergence_ms, e.convergence_ms, 10, 20), "{say}");
                assert!(near(c.best_ms, e.best_ms, 10, 20), "{say}");
                assert!(near(c.eor_ms, e.eor_ms, 10, 5), "{say}");
                assert!(near(c.updates, e.updates, 10, 5), "{say}");
                assert!(near(routes(c), routes(e), 10, 10), "{say}");
            }
        }
    }

    #[test]
    fn a_small_full_table_starts_cold_and_withdraws_without_zombies() {
        let r = run(1, 300, Pace::mrai(0)).unwrap();
        let events: Vec<&str> = r.iter().map(|m| m.event).collect();
        assert_eq!(
            events,
            [
                "cold-start",
                "withdraw-tier1",
                "withdraw-transit",
                "withdraw-stub",
                "withdraw-largest"
            ]
        );
        // Every ITAD got every other's 100 prefixes (30,000 in all) over
        // each of its links that carries them.
        assert!(r[0].announced >= 300 * 29_900, "{:?}", r[0]);
        assert!(r[0].eor_ms > 0 && r[0].eor_ms <= r[0].convergence_ms);
        for m in &r[1..] {
            assert!(m.withdrawn > 0 && m.convergence_ms < 5_000, "{m:?}");
        }
    }
}
