//! Scenario 2: an internet-like hierarchy (see [`crate::hierarchy`]) with
//! Gao-Rexford policies. One prefix is announced and withdrawn from an
//! ITAD of each tier; after each, the routes are checked against the
//! stable solution computed on its own, for loops and for zombies.

use rand::Rng;
use trunkline_core::{Attrs, Plans};

use super::{
    Measured, Pace, Run, Violation, forwarding_reaches, gao_rexford, no_zombies, settings, settle,
};
use crate::hierarchy::{Graph, Rel, tag};
use crate::sim::stream;
use crate::topology::own_route;
use crate::world::World;

/// Prefixes of the block announced and withdrawn as one (scenario 2's
/// "10,000-prefix block"), simulated as one equivalence class.
pub const BLOCK_PREFIXES: u64 = 10_000;

/// The world on `graph`, its sessions up.
fn build(graph: &Graph, seed: u64, pace: Pace) -> World {
    let mut world = World::new(settings(seed, pace, None));
    graph.build(&mut world);
    settle(&mut world, 0);
    world
}

/// What ITAD `origin` announces for its own prefixes: to peers and
/// providers as its customers' routes are.
pub(crate) fn own(origin: usize) -> Attrs {
    let mut attrs = own_route(origin);
    attrs.communities.push(tag(origin, Rel::Customer));
    attrs
}

/// On the seeded synthetic hierarchy of `size` ITADs.
pub fn run(seed: u64, size: usize, pace: Pace) -> Result<Vec<Measured>, Violation> {
    run_on(&Graph::synthetic(size, seed), seed, pace)
}

/// On `graph` (synthetic, or read from a CAIDA file).
pub fn run_on(graph: &Graph, seed: u64, pace: Pace) -> Result<Vec<Measured>, Violation> {
    let size = graph.nodes;
    let mut world = build(graph, seed, pace);
    let prefix = Plans::default().parse_prefix("+1555").expect("a prefix");
    let mut rng = stream(seed, 11);
    let mut out = Vec::new();
    let tiers: [(&'static str, &'static str, std::ops::Range<usize>); 3] = [
        ("announce-tier1", "withdraw-tier1", 0..graph.tier1),
        (
            "announce-transit",
            "withdraw-transit",
            graph.tier1..graph.transit_end,
        ),
        (
            "announce-stub",
            "withdraw-stub",
            graph.transit_end..graph.nodes,
        ),
    ];
    let run = Run {
        scenario: "hierarchy",
        seed,
        size,
        pace,
    };
    let mut measure = |world: &mut World, event| out.push(run.measure(world, event));
    for (up, down, range) in tiers {
        if range.is_empty() {
            continue;
        }
        let origin = rng.random_range(range);
        world.originate(origin, prefix, Some(own(origin)));
        measure(&mut world, up);
        gao_rexford::check(&world, graph, origin, &prefix)?;
        forwarding_reaches(&world, &prefix, origin)?;
        world.originate(origin, prefix, None);
        measure(&mut world, down);
        no_zombies(&world, &prefix)?;
    }
    // A block from a transit ITAD: one prefix standing for BLOCK_PREFIXES
    // (messages and apply time count each; see the test below).
    let block = Plans::default().parse_prefix("+4930").expect("a prefix");
    world.weigh_as(block, BLOCK_PREFIXES);
    let origin = rng.random_range(graph.tier1..graph.transit_end.max(graph.tier1 + 1));
    world.originate(origin, block, Some(own(origin)));
    measure(&mut world, "announce-block");
    gao_rexford::check(&world, graph, origin, &block)?;
    forwarding_reaches(&world, &block, origin)?;
    world.originate(origin, block, None);
    measure(&mut world, "withdraw-block");
    no_zombies(&world, &block)?;
    // Failures, seen from a stub's prefix: one of its provider links goes
    // down and comes back; then a transit ITAD fails whole.
    let origin = rng.random_range(graph.transit_end..graph.nodes);
    world.originate(origin, prefix, Some(own(origin)));
    measure(&mut world, "announce-stub-2");
    let first_link = |node: usize| {
        graph
            .links
            .iter()
            .position(|&(a, b, _)| a == node || b == node)
            .expect("every node has a link")
    };
    let link = first_link(origin);
    world.cut(link);
    measure(&mut world, "link-down");
    gao_rexford::check(&world, &graph.without(&[link]), origin, &prefix)?;
    world.heal(link);
    measure(&mut world, "link-up");
    gao_rexford::check(&world, graph, origin, &prefix)?;
    forwarding_reaches(&world, &prefix, origin)?;
    let (p, c, _) = graph.links[link];
    let provider = if p == origin { c } else { p };
    let failed: Vec<usize> = (0..graph.links.len())
        .filter(|&i| graph.links[i].0 == provider || graph.links[i].1 == provider)
        .collect();
    for &l in &failed {
        world.cut(l);
    }
    measure(&mut world, "itad-down");
    gao_rexford::check(&world, &graph.without(&failed), origin, &prefix)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use trunkline_core::{Itad, Prefix};

    #[test]
    fn a_small_hierarchy_settles_on_the_stable_solution() {
        for seed in 1..=3 {
            let r = run(seed, 300, Pace::mrai(0)).unwrap();
            assert_eq!(r.len(), 12);
            for m in &r {
                // A healed link waits for the dialler's next retry, which
                // has backed off to 30 s while the link was down.
                let limit = if m.event == "link-up" { 35_000 } else { 5_000 };
                assert!(m.convergence_ms < limit, "{m:?}");
            }
        }
    }

    /// The block event's equivalence class, one prefix weighed as N, is
    /// what N real prefixes from the same origin do: the same times,
    /// messages and routes at every ITAD.
    #[test]
    fn a_weighed_prefix_behaves_as_the_block_it_stands_for() {
        const N: usize = 300;
        let plans = Plans::default();
        let class = plans.parse_prefix("+4930").unwrap();
        let real: Vec<Prefix> = (0..N)
            .map(|j| plans.parse_prefix(&format!("+4930{j:03}")).unwrap())
            .collect();
        let best = |w: &World, px: &Prefix| -> Vec<Option<Vec<Itad>>> {
            (w.nodes.iter())
                .map(|n| {
                    n.table
                        .get(px)
                        .and_then(|s| s.iter().next())
                        .map(|r| r.attrs.path.clone())
                })
                .collect()
        };
        let run = Run {
            scenario: "hierarchy",
            seed: 4,
            size: 400,
            pace: Pace::mrai(0),
        };
        let graph = Graph::synthetic(run.size, run.seed);
        let mut weighed = build(&graph, run.seed, run.pace);
        let origin = graph.tier1 + 1;
        weighed.weigh_as(class, N as u64);
        weighed.originate(origin, class, Some(own(origin)));
        let up = run.measure(&mut weighed, "announce-block");
        let paths = best(&weighed, &class);
        weighed.originate(origin, class, None);
        let down = run.measure(&mut weighed, "withdraw-block");

        let mut each = build(&graph, run.seed, run.pace);
        each.local(
            origin,
            real.iter().map(|p| (*p, own(origin))).collect(),
            vec![],
        );
        let up_each = run.measure(&mut each, "announce-block");
        for px in &real {
            assert_eq!(best(&each, px), paths, "{px:?}");
        }
        each.local(origin, vec![], real.clone());
        let down_each = run.measure(&mut each, "withdraw-block");
        let figures = |m: &Measured| (m.convergence_ms, m.updates, m.announced, m.withdrawn);
        assert_eq!(figures(&up), figures(&up_each));
        assert_eq!(figures(&down), figures(&down_each));
        assert!(up.announced >= (N * graph.nodes / 2) as u64, "{up:?}");
    }

    /// A CAIDA serial-2 excerpt: two tier-1s, a transit, stubs.
    const CAIDA: &str = "# source:topology|BGP\n# inferred clique: 10 20\n\
        10|20|0|bgp\n10|30|-1|bgp\n20|30|-1|bgp\n30|40|-1|bgp\n30|50|-1|bgp\n20|50|-1|bgp\n40|50|0|bgp\n";

    #[test]
    fn a_caida_file_is_read_and_run() {
        let g = Graph::from_caida(CAIDA).unwrap();
        assert_eq!(
            (g.nodes, g.tier1, g.transit_end, g.links.len()),
            (5, 2, 3, 7)
        );
        assert!(
            g.links.contains(&(2, 3, Rel::Customer)),
            "30 is 40's provider"
        );
        assert!(g.links.contains(&(3, 4, Rel::Peer)), "40 and 50 peer");
        let r = run_on(&g, 1, Pace::mrai(0)).unwrap();
        assert!(r.iter().all(|m| m.size == 5));
        for bad in ["10|x|-1", "10|20|2", "10|20"] {
            assert!(Graph::from_caida(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_generator_is_a_hierarchy() {
        let g = Graph::synthetic(2_000, 1);
        let stubs = g.nodes - g.transit_end;
        assert!(stubs * 100 / g.nodes >= 80, "{stubs} stubs");
        for &(a, b, rel) in &g.links {
            if rel == Rel::Customer {
                assert!(a < b, "providers come before their customers");
            }
        }
        // Every ITAD is reached from every tier.
        let sol = gao_rexford::solve(&g, g.nodes - 1);
        assert!(
            sol.iter()
                .enumerate()
                .all(|(x, s)| x == g.nodes - 1 || s.is_some())
        );
    }
}
