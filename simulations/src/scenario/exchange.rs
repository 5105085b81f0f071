//! Scenario 3: an exchange of members around one route server (a cluster,
//! seen as one logical node). Members connect and announce a block each;
//! a new member joins with a full dump (many prefixes in its block, and it
//! is sent the whole table); a member withdraws; and the exchange node
//! holding the sessions dies, so another takes them over: with graceful
//! restart the members keep the exchange's routes, stale, until the new
//! sessions have sent everything again.

use trunkline_core::{Attrs, Plans, Prefix};

use super::{Measured, Pace, Run, Violation, forwarding_reaches, no_zombies, settings, settle};
use crate::sim::{Millis, stream};
use crate::topology::{itad, member_of, own_route, route_server_client};
use crate::world::World;
use rand::Rng;

/// Prefixes the joining member announces.
pub const JOIN_PREFIXES: usize = 1_000;

/// How long the exchange takes to move the sessions to another node: the
/// kill -9 failover of a real 3-node cluster (`trunkline-bench cluster`:
/// medians of 1.15 to 1.18 s, maxima to 1.44 s).
pub const TAKEOVER_MS: (Millis, Millis) = (1_050, 1_450);

/// Member `i`'s block.
pub fn block(i: usize) -> Prefix {
    let plans = Plans::default();
    plans.parse_prefix(&format!("+49{i:06}")).expect("a prefix")
}

/// The `j`th prefix inside member `i`'s block.
fn inside(i: usize, j: usize) -> Prefix {
    let plans = Plans::default();
    plans
        .parse_prefix(&format!("+49{i:06}{j:04}"))
        .expect("a prefix")
}

/// Adds member `m` (a new node) to exchange node `x`, allowed `block(m)`.
pub fn join(world: &mut World, x: usize) -> usize {
    let m = world.add_node(itad(world.nodes.len()));
    // Members dial the exchange.
    world.connect(m, x, route_server_client(x), member_of(m, vec![block(m)]));
    m
}

pub fn run(seed: u64, size: usize, pace: Pace) -> Result<Vec<Measured>, Violation> {
    let mut world = World::new(settings(seed, pace, Some(120)));
    let x = world.add_node(itad(0));
    let members: Vec<usize> = (0..size).map(|_| join(&mut world, x)).collect();
    let run = Run {
        scenario: "exchange",
        seed,
        size,
        pace,
    };
    let mut out = Vec::new();
    settle(&mut world, 0);
    for &m in &members {
        world.originate(m, block(m), Some(own_route(m)));
    }
    out.push(run.measure(&mut world, "announce-all"));
    let mut rng = stream(seed, 21);
    let probe = members[rng.random_range(0..members.len())];
    forwarding_reaches(&world, &block(probe), probe)?;
    every_member_holds(
        &world,
        &members,
        &(members.iter().map(|&m| block(m)).collect::<Vec<_>>()),
    )?;

    // A member joins with a full dump: its many prefixes out, the whole
    // table in.
    let new = join(&mut world, x);
    let dump: Vec<(Prefix, Attrs)> = (0..JOIN_PREFIXES)
        .map(|j| (inside(new, j), own_route(new)))
        .collect();
    let theirs: Vec<Prefix> = dump.iter().map(|(p, _)| *p).collect();
    world.local(new, dump, vec![]);
    out.push(run.measure(&mut world, "join-full-dump"));
    every_member_holds(&world, &members, &theirs)?;
    let (table, _) = routes(&world, new);
    if table < JOIN_PREFIXES + members.len() {
        return Err(format!("the new member holds {table} routes"));
    }
    let mut all = members.clone();
    all.push(new);

    // A member withdraws its block.
    let gone = members[rng.random_range(0..members.len())];
    world.originate(gone, block(gone), None);
    out.push(run.measure(&mut world, "withdraw"));
    no_zombies(&world, &block(gone))?;

    // The exchange node holding the sessions dies; another takes over.
    let links: Vec<usize> = (0..world.links.len()).collect();
    let died = world.clock.now();
    for &l in &links {
        world.cut(l);
    }
    let (lo, hi) = TAKEOVER_MS;
    let back = world.clock.now() + rng.random_range(lo..=hi);
    world.run(back);
    // Meanwhile graceful restart keeps every route (stale) at every member.
    let held: Vec<Prefix> = members
        .iter()
        .filter(|&&m| m != gone)
        .map(|&m| block(m))
        .collect();
    every_member_holds(&world, &all, &held).map_err(|v| format!("during the takeover: {v}"))?;
    for &l in &links {
        world.heal(l);
    }
    out.push(run.measure_since(&mut world, "takeover", died));
    every_member_holds(&world, &all, &held)?;
    let stale: usize = all.iter().map(|&m| routes(&world, m).1).sum();
    if stale > 0 {
        return Err(format!("{stale} routes still stale after the takeover"));
    }
    Ok(out)
}

/// Prefixes with a route at node `n`, and routes marked stale there.
fn routes(world: &World, n: usize) -> (usize, usize) {
    let (mut prefixes, mut stale) = (0, 0);
    world.nodes[n].table.walk_all(&mut |_, set| {
        prefixes += 1;
        stale += set.iter().filter(|r| r.stale).count();
        true
    });
    (prefixes, stale)
}

/// Every member but the prefix's own has a route for each of `prefixes`.
pub(crate) fn every_member_holds(
    world: &World,
    members: &[usize],
    prefixes: &[Prefix],
) -> Result<(), Violation> {
    for &m in members {
        let t = &world.nodes[m].table;
        if let Some(px) = prefixes
            .iter()
            .find(|px| t.get(px).and_then(|s| s.iter().next()).is_none())
        {
            return Err(format!("n{m} has no route for {px:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_exchange_joins_withdraws_and_survives_a_takeover() {
        for seed in 1..=2 {
            let r = run(seed, 50, Pace::mrai(0)).unwrap();
            let events: Vec<&str> = r.iter().map(|m| m.event).collect();
            assert_eq!(
                events,
                ["announce-all", "join-full-dump", "withdraw", "takeover"]
            );
            for m in &r {
                assert!(m.convergence_ms < 10_000, "{m:?}");
            }
        }
    }
}
