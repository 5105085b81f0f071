//! Scenario 1: a clique of N ITADs, one prefix announced and withdrawn.
//! With BGP's MRAI the withdrawal explores ever longer paths and
//! convergence grows with N (Labovitz et al., SIGCOMM 2000); with
//! Trunkline's batching window it stays flat.

use trunkline_core::Plans;

use super::{Measured, Pace, Run, Violation, forwarding_reaches, no_zombies, settings, settle};
use crate::topology::{clique, own_route};
use crate::world::World;

/// One run: `size` ITADs, MRAI `mrai_s` seconds (0: Trunkline's pacing).
pub fn run(seed: u64, size: usize, pace: Pace) -> Result<Vec<Measured>, Violation> {
    let mut world = World::new(settings(seed, pace, None));
    clique(&mut world, size);
    // Sessions come up.
    settle(&mut world, 0);
    let prefix = Plans::default().parse_prefix("+1555").expect("a prefix");
    let run = Run {
        scenario: "clique",
        seed,
        size,
        pace,
    };
    let mut out = Vec::new();
    world.originate(0, prefix, Some(own_route(0)));
    out.push(run.measure(&mut world, "announce"));
    forwarding_reaches(&world, &prefix, 0)?;
    world.originate(0, prefix, None);
    out.push(run.measure(&mut world, "withdraw"));
    no_zombies(&world, &prefix)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_run() {
        let a = run(7, 6, Pace::mrai(30)).unwrap();
        let b = run(7, 6, Pace::mrai(30)).unwrap();
        assert_eq!(a, b);
        let c = run(8, 6, Pace::mrai(30)).unwrap();
        assert_ne!(a.last().unwrap().log_hash, c.last().unwrap().log_hash);
    }

    /// The Labovitz effect on our own code: with a 30 s MRAI a withdrawal
    /// takes longer in a larger clique and costs more messages; with
    /// Trunkline's pacing it settles in well under a second.
    #[test]
    fn mrai_makes_withdrawals_explore_paths_and_batching_does_not() {
        let w = |size, mrai| {
            let r = run(1, size, Pace::mrai(mrai)).unwrap();
            r.into_iter().find(|m| m.event == "withdraw").unwrap()
        };
        let (small, large) = (w(4, 30), w(10, 30));
        assert!(
            large.convergence_ms > small.convergence_ms,
            "{small:?} {large:?}"
        );
        assert!(large.convergence_ms >= 30_000, "{large:?}");
        assert!(large.updates > small.updates);
        let fast = w(10, 0);
        assert!(fast.convergence_ms < 1_000, "{fast:?}");
    }

    /// The cross-check of the cluster model: clusters committing through
    /// three real raft-rs `RawNode`s on the virtual clock converge as the
    /// sampled commit latency makes them, within a quarter.
    #[test]
    fn raft_in_the_loop_agrees_with_the_sampled_commit_latency() {
        let sampled = run(2, 6, Pace::mrai(0)).unwrap();
        let raft = Pace {
            raft: true,
            ..Pace::mrai(0)
        };
        let raft = run(2, 6, raft).unwrap();
        for (s, r) in sampled.iter().zip(&raft) {
            assert_eq!(s.event, r.event);
            let (a, b) = (s.convergence_ms as f64, r.convergence_ms as f64);
            assert!((a - b).abs() <= 0.25 * a.max(b), "{s:?}\n{r:?}");
        }
    }

    /// What the simulator found in the session code: without the degrade
    /// hold, the withdrawal explored stale paths at every ITAD (about 156
    /// Updates a link at N = 40); with it, stale paths are flushed in a
    /// few messages a link.
    #[test]
    fn a_withdrawal_costs_a_few_messages_a_link() {
        let withdraw = |hold_ms| {
            let r = run(
                3,
                20,
                Pace {
                    hold_ms,
                    ..Pace::mrai(0)
                },
            )
            .unwrap();
            r.into_iter().find(|m| m.event == "withdraw").unwrap()
        };
        let held = withdraw(Pace::HOLD_MS);
        assert!(held.updates <= 3 * held.links as u64, "{held:?}");
        let explored = withdraw(0);
        assert!(explored.updates > 10 * held.updates, "{explored:?}");
    }
}
