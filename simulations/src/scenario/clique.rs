//! Scenario 1: a clique of N ITADs, one prefix announced and withdrawn.
//! With BGP's MRAI the withdrawal explores ever longer paths and
//! convergence grows with N (Labovitz et al., SIGCOMM 2000); with
//! Trunkline's batching window it stays flat.

use trunkline_core::Plans;

use super::{Measured, Run, Violation, forwarding_reaches, no_zombies, pacing, settle};
use crate::net::LinkModel;
use crate::topology::{clique, own_route};
use crate::world::{Settings, World};

/// One run: `size` ITADs, MRAI `mrai_s` seconds (0: Trunkline's pacing).
pub fn run(seed: u64, size: usize, mrai_s: u64) -> Result<Vec<Measured>, Violation> {
    let mut world = World::new(Settings {
        seed,
        pacing: pacing(mrai_s),
        commit_ms: (2, 6),
        link: LinkModel::default(),
    });
    clique(&mut world, size);
    // Sessions come up.
    settle(&mut world, 0);
    let prefix = Plans::default().parse_prefix("+1555").expect("a prefix");
    let run = Run {
        scenario: "clique",
        seed,
        size,
        mrai_s,
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
        let a = run(7, 6, 30).unwrap();
        let b = run(7, 6, 30).unwrap();
        assert_eq!(a, b);
        let c = run(8, 6, 30).unwrap();
        assert_ne!(a.last().unwrap().log_hash, c.last().unwrap().log_hash);
    }

    /// The Labovitz effect on our own code: with a 30 s MRAI a withdrawal
    /// takes longer in a larger clique and costs more messages; with
    /// Trunkline's pacing it settles in well under a second.
    #[test]
    fn mrai_makes_withdrawals_explore_paths_and_batching_does_not() {
        let w = |size, mrai| {
            let r = run(1, size, mrai).unwrap();
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
}
