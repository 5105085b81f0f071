//! Scenario 2: an internet-like hierarchy (see [`crate::hierarchy`]) with
//! Gao-Rexford policies. One prefix is announced and withdrawn from an
//! ITAD of each tier; after each, the routes are checked against the
//! stable solution computed on its own, for loops and for zombies.

use rand::Rng;
use trunkline_core::Plans;

use super::{Measured, Pace, Run, Violation, forwarding_reaches, gao_rexford, no_zombies, settle};
use crate::hierarchy::{Graph, Rel, tag};
use crate::net::LinkModel;
use crate::sim::stream;
use crate::topology::own_route;
use crate::world::{Settings, World};

pub fn run(seed: u64, size: usize, pace: Pace) -> Result<Vec<Measured>, Violation> {
    let graph = Graph::synthetic(size, seed);
    let mut world = World::new(Settings {
        seed,
        pacing: pace.pacing(),
        commit_ms: (2, 6),
        link: LinkModel::default(),
        restart_secs: None,
    });
    graph.build(&mut world);
    settle(&mut world, 0);
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
    let own = |origin: usize| {
        let mut attrs = own_route(origin);
        // Our own routes go to peers and providers as customers' do.
        attrs.communities.push(tag(origin, Rel::Customer));
        attrs
    };
    for (up, down, range) in tiers {
        if range.is_empty() {
            continue;
        }
        let origin = rng.random_range(range);
        world.originate(origin, prefix, Some(own(origin)));
        measure(&mut world, up);
        gao_rexford::check(&world, &graph, origin, &prefix)?;
        forwarding_reaches(&world, &prefix, origin)?;
        world.originate(origin, prefix, None);
        measure(&mut world, down);
        no_zombies(&world, &prefix)?;
    }
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
    gao_rexford::check(&world, &graph, origin, &prefix)?;
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

    #[test]
    fn a_small_hierarchy_settles_on_the_stable_solution() {
        for seed in 1..=3 {
            let r = run(seed, 300, Pace::mrai(0)).unwrap();
            assert_eq!(r.len(), 10);
            for m in &r {
                // A healed link waits for the dialler's next retry, which
                // has backed off to 30 s while the link was down.
                let limit = if m.event == "link-up" { 35_000 } else { 5_000 };
                assert!(m.convergence_ms < limit, "{m:?}");
            }
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
