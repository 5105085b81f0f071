//! When an established session sends what changed, as one set of knobs:
//! Trunkline's batching window, and BGP's minimum route advertisement
//! interval (MRAI, RFC 4271 §9.2.1.1), with or without withdrawals waiting
//! for it. The daemon runs Trunkline's values; the simulator runs the same
//! code as BGP for the baseline.
//!
//! Sans I/O: the caller says when something changed and when it sent, and
//! asks at [`Pacer::next_deadline`] what may go now. The MRAI's jitter
//! (RFC 4271 §10: a factor uniform in 0.75..1.0) is the caller's input, so
//! a seeded simulation decides it.

use crate::session::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Changes are gathered this long before they go.
    pub batch_ms: Millis,
    /// After an Update with announcements, the next waits this long
    /// (times the jitter); 0: no MRAI.
    pub mrai_ms: Millis,
    /// Withdrawals wait for the MRAI too (RFC 4271 says so; many
    /// implementations do not).
    pub withdrawals_wait: bool,
    /// A route that got worse for the peer (a longer path) is withdrawn at
    /// once and sent this long after ("ghost flushing", see
    /// [`crate::adj_out`]); 0: replaced at once.
    pub degrade_hold_ms: Millis,
}

impl Pacing {
    /// The daemon's: a few milliseconds of batching, no MRAI, worse routes
    /// flushed and held.
    pub const fn trunkline(batch_ms: Millis, degrade_hold_ms: Millis) -> Pacing {
        Pacing {
            batch_ms,
            mrai_ms: 0,
            withdrawals_wait: false,
            degrade_hold_ms,
        }
    }

    /// BGP's: an MRAI (30 s eBGP by default), withdrawals included.
    pub const fn bgp(mrai_ms: Millis) -> Pacing {
        Pacing {
            batch_ms: 0,
            mrai_ms,
            withdrawals_wait: true,
            degrade_hold_ms: 0,
        }
    }
}

/// What may go out now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// Everything pending.
    All,
    /// Only withdrawals: announcements wait for the MRAI.
    Withdrawals,
}

/// One session's pacing state.
#[derive(Debug, Clone)]
pub struct Pacer {
    cfg: Pacing,
    /// Something waits to go, from this time on.
    due: Option<Millis>,
    /// Announcements may go again from this time on.
    open_at: Millis,
}

impl Pacer {
    pub fn new(cfg: Pacing) -> Pacer {
        Pacer {
            cfg,
            due: None,
            open_at: 0,
        }
    }

    pub fn config(&self) -> Pacing {
        self.cfg
    }

    /// Something changed at `now`: it goes after the batching window, and
    /// not before the MRAI allows.
    pub fn changed(&mut self, now: Millis) {
        if self.due.is_none() {
            self.due = Some(now + self.cfg.batch_ms);
        }
    }

    /// Something is due at once (a held route's hold ended).
    pub fn due_now(&mut self, now: Millis) {
        self.due = Some(self.due.map_or(now, |d| d.min(now)));
    }

    /// When to ask [`Pacer::poll`] next.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.due
    }

    /// At `now`, what may go. After [`Flush::Withdrawals`] the caller keeps
    /// the rest pending, and the pacer asks again when the MRAI ends.
    pub fn poll(&mut self, now: Millis) -> Option<Flush> {
        let due = self.due.filter(|&d| now >= d)?;
        if now >= self.open_at {
            self.due = None;
            return Some(Flush::All);
        }
        self.due = Some(self.open_at.max(due));
        (!self.cfg.withdrawals_wait).then_some(Flush::Withdrawals)
    }

    /// An Update carrying announcements went out at `now`; `jitter_permille`
    /// (750..=1000 for RFC 4271's factor) scales the MRAI that starts.
    pub fn sent(&mut self, now: Millis, jitter_permille: u16) {
        self.open_at = now + self.cfg.mrai_ms * u64::from(jitter_permille.min(1000)) / 1000;
    }

    /// The session went down: nothing is pending, no MRAI runs.
    pub fn reset(&mut self) {
        self.due = None;
        self.open_at = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunkline_batches_and_never_waits_longer() {
        let mut p = Pacer::new(Pacing::trunkline(5, 0));
        p.changed(100);
        p.changed(103);
        assert_eq!(p.next_deadline(), Some(105));
        assert_eq!(p.poll(104), None);
        assert_eq!(p.poll(105), Some(Flush::All));
        p.sent(105, 1000);
        p.changed(106);
        assert_eq!(p.poll(111), Some(Flush::All), "no MRAI");
        assert_eq!(p.next_deadline(), None);
    }

    #[test]
    fn bgp_holds_announcements_and_withdrawals_for_the_jittered_mrai() {
        let mut p = Pacer::new(Pacing::bgp(30_000));
        p.changed(0);
        assert_eq!(p.poll(0), Some(Flush::All), "the first goes at once");
        p.sent(0, 750);
        p.changed(1_000);
        assert_eq!(p.poll(1_000), None);
        assert_eq!(p.next_deadline(), Some(22_500), "30 s x 0.75");
        assert_eq!(p.poll(22_500), Some(Flush::All));
    }

    #[test]
    fn withdrawals_may_skip_the_mrai() {
        let mut p = Pacer::new(Pacing {
            withdrawals_wait: false,
            ..Pacing::bgp(30_000)
        });
        p.changed(0);
        assert_eq!(p.poll(0), Some(Flush::All));
        p.sent(0, 1000);
        p.changed(10);
        assert_eq!(p.poll(10), Some(Flush::Withdrawals));
        assert_eq!(p.next_deadline(), Some(30_000));
        assert_eq!(p.poll(30_000), Some(Flush::All));
        p.reset();
        assert_eq!(p.next_deadline(), None);
    }
}
