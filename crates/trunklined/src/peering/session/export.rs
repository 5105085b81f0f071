//! What an established session sends its peer: it follows the table's
//! change feed, gathers changed prefixes as the session's pacing says
//! (`trunkline_peering::pacing`: a short batching window), and compares
//! them (or, after a resync, the whole table) with the peer's Adj-RIB-Out.
//! The result is a diff for the link to send.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;
use trunkline_cluster::state::{Changes, View};
use trunkline_core::{Itad, PlanId, Prefix};
use trunkline_peering::adj_out::{AdjRibOut, Diff};
use trunkline_peering::pacing::{Flush, Pacer, Pacing};
use trunkline_peering::policy::PeerPolicy;

#[derive(Debug)]
pub(super) struct Export {
    changes: broadcast::Receiver<Arc<Changes>>,
    /// Prefixes changed since the last flush.
    pending: HashSet<Prefix>,
    /// Compare the whole table at the next flush.
    resync: bool,
    pacer: Pacer,
    /// Time zero of the pacer's clock.
    base: Instant,
    adj_out: AdjRibOut,
}

impl Export {
    /// Subscribe before the first dump reads the table, so no change falls
    /// between the two.
    pub fn new(changes: broadcast::Receiver<Arc<Changes>>, pacing: Pacing) -> Export {
        Export {
            changes,
            pending: HashSet::new(),
            resync: false,
            pacer: Pacer::new(pacing),
            base: Instant::now(),
            adj_out: AdjRibOut::default(),
        }
    }

    fn now(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    /// Prefixes the peer has been sent.
    pub fn advertised(&self) -> usize {
        self.adj_out.len()
    }

    /// When the gathered changes are due to go out.
    pub fn flush_at(&self) -> Option<Instant> {
        self.pacer
            .next_deadline()
            .map(|ms| self.base + Duration::from_millis(ms))
    }

    pub async fn next_change(&mut self) -> Result<Arc<Changes>, broadcast::error::RecvError> {
        self.changes.recv().await
    }

    /// Notes a change batch (or that some were missed) and tells the
    /// pacer.
    pub fn on_change(&mut self, c: Result<Arc<Changes>, broadcast::error::RecvError>, peer: &str) {
        match c {
            Ok(c) if c.resync => self.resync = true,
            Ok(c) => self.pending.extend(c.prefixes.iter().copied()),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::info!(
                    peer,
                    missed = n,
                    "fell behind the change feed: comparing the whole table"
                );
                self.resync = true;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
        let now = self.now();
        self.pacer.changed(now);
    }

    /// What changed since the last flush, for the peer.
    pub fn flush(&mut self, view: &View, peer: &PeerPolicy, me: Itad, carried: &[PlanId]) -> Diff {
        let mut diff = Diff::default();
        let now = self.now();
        match self.pacer.poll(now) {
            None => {}
            Some(Flush::Withdrawals) if !self.resync => {
                let pending = std::mem::take(&mut self.pending);
                let later = self.adj_out.update_withdrawals(
                    &view.table,
                    peer,
                    me,
                    carried,
                    pending,
                    &mut diff,
                );
                self.pending.extend(later);
            }
            // A resync waits for the MRAI whole.
            Some(Flush::Withdrawals) => {}
            Some(Flush::All) => {
                if std::mem::take(&mut self.resync) {
                    self.pending.clear();
                    self.adj_out
                        .full(&view.table, peer, me, carried, false, &mut diff);
                } else {
                    let pending = std::mem::take(&mut self.pending);
                    self.adj_out
                        .update(&view.table, peer, me, carried, pending, &mut diff);
                }
                if !diff.announce.is_empty() {
                    // The daemon's MRAI is 0: no jitter to draw.
                    self.pacer.sent(now, 1000);
                }
            }
        }
        diff
    }

    /// Everything of `plans` for the peer; `forget` first forgets what was
    /// sent (a route refresh asks for it all again).
    pub fn dump(
        &mut self,
        view: &View,
        peer: &PeerPolicy,
        me: Itad,
        plans: &[PlanId],
        forget: bool,
    ) -> Diff {
        let mut diff = Diff::default();
        self.adj_out
            .full(&view.table, peer, me, plans, forget, &mut diff);
        diff
    }
}
