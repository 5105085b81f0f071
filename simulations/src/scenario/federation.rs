//! Scenario 4: a federation of exchanges, each a route server for its
//! members, peering with one another in a ring with chords. One
//! inter-exchange link fails and comes back; then the federation splits in
//! two halves and heals.
//!
//! Members of one exchange are one class of receivers: the route server
//! sends each the same routes (all but its own). So `LISTENERS` members per
//! exchange get its routes and stand for all of them (their messages count
//! once per member); the others announce their blocks over real sessions
//! and are sent nothing. The test below checks this against a federation
//! where every member listens.

use rand::Rng;
use trunkline_core::Prefix;
use trunkline_peering::policy::{Filter, PeerPolicy};

use super::exchange::{block, every_member_holds};
use super::{Measured, Pace, Run, Violation, forwarding_from, settings, settle};
use crate::sim::stream;
use crate::topology::{itad, member_of, open_peer, own_route, route_server_client};
use crate::world::World;

/// Members per exchange.
pub const MEMBERS: usize = 200;
/// Members per exchange that are sent routes, standing for all.
pub const LISTENERS: usize = 2;

/// The federation as built: exchange nodes, and per exchange its members
/// (listeners first).
#[derive(Debug)]
pub struct Federation {
    pub exchanges: Vec<usize>,
    /// Members per exchange that are sent routes.
    pub listening: usize,
    pub members: Vec<Vec<usize>>,
    /// Inter-exchange links (world link indexes) with their two exchanges
    /// (by position in `exchanges`).
    pub trunks: Vec<(usize, usize, usize)>,
}

/// A member that only announces: its exchange sends it nothing.
fn announcer(m: usize) -> PeerPolicy {
    PeerPolicy {
        export: Some(Filter { terms: vec![] }),
        ..member_of(m, vec![block(m)])
    }
}

/// `n` exchanges of `members` members each, `listening` of them sent
/// routes. Exchange `i` peers with `i + 1` (a ring) and, seeded, with one
/// other.
pub fn build(
    world: &mut World,
    n: usize,
    members: usize,
    listening: usize,
    seed: u64,
) -> Federation {
    let exchanges: Vec<usize> = (0..n)
        .map(|_| world.add_node(itad(world.nodes.len())))
        .collect();
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut rng = stream(seed, 31);
    for i in 0..n {
        let ring = (i, (i + 1) % n);
        let chord = (i, rng.random_range(0..n));
        for (a, b) in [ring, chord] {
            let (a, b) = (a.min(b), a.max(b));
            if a != b && !pairs.contains(&(a, b)) {
                pairs.push((a, b));
            }
        }
    }
    let mut trunks = Vec::new();
    for (a, b) in pairs {
        let (x, y) = (exchanges[a], exchanges[b]);
        trunks.push((world.links.len(), a, b));
        world.connect(x, y, open_peer(y), open_peer(x));
    }
    let mut all = Vec::new();
    for &x in &exchanges {
        let mut these = Vec::new();
        for k in 0..members {
            let m = world.add_node(itad(world.nodes.len()));
            let seen = if k < listening {
                member_of(m, vec![block(m)])
            } else {
                announcer(m)
            };
            let mirrors = if k < listening {
                // Each listener stands for its share of the members.
                (members / listening.max(1)) as u64 + u64::from(k < members % listening.max(1))
            } else {
                0
            };
            let link = world.links.len();
            world.connect(m, x, route_server_client(x), seen);
            world.mirror(x, link, mirrors);
            these.push(m);
        }
        all.push(these);
    }
    Federation {
        exchanges,
        listening,
        members: all,
        trunks,
    }
}

/// `size` exchanges of [`MEMBERS`] members, [`LISTENERS`] of each sent
/// routes.
pub fn run(seed: u64, size: usize, pace: Pace) -> Result<Vec<Measured>, Violation> {
    run_with(seed, size, MEMBERS, LISTENERS, pace)
}

pub fn run_with(
    seed: u64,
    exchanges: usize,
    members: usize,
    listening: usize,
    pace: Pace,
) -> Result<Vec<Measured>, Violation> {
    let mut world = World::new(settings(seed, pace, Some(120)));
    let fed = build(&mut world, exchanges, members, listening, seed);
    let run = Run {
        scenario: "federation",
        seed,
        size: exchanges,
        pace,
    };
    settle(&mut world, 0);
    let every: Vec<usize> = fed.members.iter().flatten().copied().collect();
    for &m in &every {
        world.originate(m, block(m), Some(own_route(m)));
    }
    let mut out = vec![run.measure(&mut world, "announce-all")];
    let mut rng = stream(seed, 32);
    let reach = |world: &World, rng: &mut rand_chacha::ChaCha8Rng, among: &[usize]| {
        every_member_holds(world, &listeners_in(&fed, among), &blocks_of(&fed, among))?;
        let probe = (fed.members.iter().enumerate())
            .filter(|(x, _)| among.contains(x))
            .flat_map(|(_, m)| m.iter().copied())
            .nth(rng.random_range(0..among.len() * fed.members[0].len()))
            .expect("a member");
        forwarding_from(world, &block(probe), probe, &listeners_in(&fed, among))
    };
    let everyone: Vec<usize> = (0..exchanges).collect();
    reach(&world, &mut rng, &everyone)?;

    // One inter-exchange link fails: the traffic moves to the other paths
    // at once (stale routes lose to fresh ones), the stale ones go when
    // the restart time runs out.
    let (link, _, _) = fed.trunks[rng.random_range(0..fed.trunks.len())];
    world.cut(link);
    out.push(run.measure(&mut world, "trunk-down"));
    reach(&world, &mut rng, &everyone)?;
    world.heal(link);
    out.push(run.measure(&mut world, "trunk-up"));
    reach(&world, &mut rng, &everyone)?;

    // A partition: the two halves of the ring lose every link between
    // them, so each side's routes to the other go (at the restart time,
    // as no fresh path is left), then the links heal.
    let half: Vec<usize> = (0..exchanges / 2).collect();
    let other: Vec<usize> = (exchanges / 2..exchanges).collect();
    let crossing: Vec<usize> = (fed.trunks.iter())
        .filter(|&&(_, a, b)| half.contains(&a) != half.contains(&b))
        .map(|&(l, _, _)| l)
        .collect();
    for &l in &crossing {
        world.cut(l);
    }
    out.push(run.measure(&mut world, "partition"));
    for (side, away) in [(&half, &other), (&other, &half)] {
        reach(&world, &mut rng, side)?;
        let gone = blocks_of(&fed, away);
        for &m in &listeners_in(&fed, side) {
            if let Some(px) = gone.iter().find(|px| world.nodes[m].best(px).is_some()) {
                return Err(format!("zombie: n{m} keeps {px:?} across the partition"));
            }
        }
    }
    for &l in &crossing {
        world.heal(l);
    }
    out.push(run.measure(&mut world, "heal"));
    reach(&world, &mut rng, &everyone)?;
    Ok(out)
}

/// The listening members of these exchanges (by position).
fn listeners_in(fed: &Federation, exchanges: &[usize]) -> Vec<usize> {
    (exchanges.iter())
        .flat_map(|&x| fed.members[x].iter().take(fed.listening))
        .copied()
        .collect()
}

/// The blocks of every member of these exchanges.
fn blocks_of(fed: &Federation, exchanges: &[usize]) -> Vec<Prefix> {
    (exchanges.iter())
        .flat_map(|&x| fed.members[x].iter().map(|&m| block(m)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_federation_survives_a_trunk_failure_and_a_partition() {
        let r = run_with(1, 8, 10, LISTENERS, Pace::mrai(0)).unwrap();
        let events: Vec<&str> = r.iter().map(|m| m.event).collect();
        assert_eq!(
            events,
            [
                "announce-all",
                "trunk-down",
                "trunk-up",
                "partition",
                "heal"
            ]
        );
        let at = |e: &str| r.iter().find(|m| m.event == e).unwrap();
        // Forwarding moves at once; the stale candidates go at the
        // restart time.
        assert!(at("trunk-down").best_ms < 1_000, "{:?}", at("trunk-down"));
        assert!(at("announce-all").convergence_ms < 2_000);
    }

    /// Listeners standing for their exchange's members give the figures
    /// of a federation in which every member is sent everything.
    #[test]
    fn listeners_stand_for_every_member() {
        let class = run_with(2, 6, 12, 2, Pace::mrai(0)).unwrap();
        let full = run_with(2, 6, 12, 12, Pace::mrai(0)).unwrap();
        for (c, f) in class.iter().zip(&full) {
            // Routes alike; Updates within 1 % (a batching window may cut
            // a burst elsewhere) and times within a commit or two (a
            // listener's commits are drawn beside the others').
            let routes = |m: &Measured| (m.event, m.announced, m.withdrawn);
            assert_eq!(routes(c), routes(f));
            assert!(
                c.updates.abs_diff(f.updates) <= f.updates / 100 + 1,
                "{c:?}\n{f:?}"
            );
            assert!(c.best_ms.abs_diff(f.best_ms) <= 10, "{c:?}\n{f:?}");
            assert!(
                c.convergence_ms.abs_diff(f.convergence_ms) <= 10,
                "{c:?}\n{f:?}"
            );
        }
    }
}
