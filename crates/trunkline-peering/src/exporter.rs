//! One established session's sending side, as the daemon and the simulator
//! both run it: prefixes that changed are gathered as the session's
//! [`Pacing`] says, then compared with what the peer was sent
//! ([`AdjRibOut`]). The result is a diff for the caller to send.

use std::collections::BTreeSet;

use trunkline_core::{PlanId, Prefix};

use crate::adj_out::{AdjRibOut, Context, Diff};
use crate::pacing::{Flush, Pacer, Pacing};
use crate::session::Millis;

#[derive(Debug)]
pub struct Exporter {
    /// Prefixes changed since the last flush (in order, so a simulation's
    /// runs repeat).
    pending: BTreeSet<Prefix>,
    /// Compare the whole table at the next flush.
    resync: bool,
    pacer: Pacer,
    adj_out: AdjRibOut,
}

impl Exporter {
    pub fn new(pacing: Pacing) -> Exporter {
        Exporter {
            pending: BTreeSet::new(),
            resync: false,
            pacer: Pacer::new(pacing),
            adj_out: AdjRibOut::new(pacing.degrade_hold_ms),
        }
    }

    /// Prefixes the peer has been sent.
    pub fn advertised(&self) -> usize {
        self.adj_out.len()
    }

    /// These prefixes' routes changed at `now`.
    pub fn changed(&mut self, now: Millis, prefixes: impl IntoIterator<Item = Prefix>) {
        self.pending.extend(prefixes);
        self.pacer.changed(now);
    }

    /// Changes were missed: compare the whole table at the next flush.
    pub fn resync(&mut self, now: Millis) {
        self.resync = true;
        self.pacer.changed(now);
    }

    /// When to call [`Exporter::flush`] next.
    pub fn next_deadline(&self) -> Option<Millis> {
        [self.pacer.next_deadline(), self.adj_out.next_release()]
            .into_iter()
            .flatten()
            .min()
    }

    /// What may go to the peer at `at.now`. `jitter` draws the MRAI's
    /// factor (750..=1000 per mille) when an announcement goes.
    pub fn flush(
        &mut self,
        at: Context<'_>,
        carried: &[PlanId],
        jitter: impl FnOnce() -> u16,
    ) -> Diff {
        let released = self.adj_out.released(at.now);
        if !released.is_empty() {
            self.pending.extend(released);
            self.pacer.due_now(at.now);
        }
        let mut diff = Diff::default();
        match self.pacer.poll(at.now) {
            None => {}
            Some(Flush::Withdrawals) if !self.resync => {
                let pending = std::mem::take(&mut self.pending);
                let later = self
                    .adj_out
                    .update_withdrawals(at, carried, pending, &mut diff);
                self.pending.extend(later);
            }
            // A resync waits for the MRAI whole.
            Some(Flush::Withdrawals) => {}
            Some(Flush::All) => {
                if std::mem::take(&mut self.resync) {
                    self.pending.clear();
                    self.adj_out.full(at, carried, false, &mut diff);
                } else {
                    let pending = std::mem::take(&mut self.pending);
                    self.adj_out.update(at, carried, pending, &mut diff);
                }
                self.sent(at.now, &diff, jitter);
            }
        }
        diff
    }

    /// Everything of `plans` for the peer; `forget` first forgets what was
    /// sent (a route refresh asks for it all again).
    pub fn dump(
        &mut self,
        at: Context<'_>,
        plans: &[PlanId],
        forget: bool,
        jitter: impl FnOnce() -> u16,
    ) -> Diff {
        let mut diff = Diff::default();
        self.adj_out.full(at, plans, forget, &mut diff);
        self.sent(at.now, &diff, jitter);
        diff
    }

    fn sent(&mut self, now: Millis, diff: &Diff, jitter: impl FnOnce() -> u16) {
        if !diff.announce.is_empty() {
            self.pacer.sent(now, jitter());
        }
    }
}
