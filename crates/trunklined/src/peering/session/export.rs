//! What an established session sends its peer: it follows the table's
//! change feed into the session's `trunkline_peering::exporter::Exporter`
//! (the batching window, worse routes flushed and held, the Adj-RIB-Out;
//! the simulator runs the same), on the session's clock. The result is a
//! diff for the link to send.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;
use trunkline_cluster::state::{Changes, View};
use trunkline_core::{Itad, PlanId};
use trunkline_peering::adj_out::{Context, Diff};
use trunkline_peering::exporter::Exporter;
use trunkline_peering::pacing::Pacing;
use trunkline_peering::policy::PeerPolicy;

/// The daemon's MRAI is 0: no jitter to draw.
fn no_jitter() -> u16 {
    1000
}

#[derive(Debug)]
pub(super) struct Export {
    changes: broadcast::Receiver<Arc<Changes>>,
    exporter: Exporter,
    /// Time zero of the exporter's clock.
    base: Instant,
}

impl Export {
    /// Subscribe before the first dump reads the table, so no change falls
    /// between the two.
    pub fn new(changes: broadcast::Receiver<Arc<Changes>>, pacing: Pacing) -> Export {
        Export {
            changes,
            exporter: Exporter::new(pacing),
            base: Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    /// Prefixes the peer has been sent.
    pub fn advertised(&self) -> usize {
        self.exporter.advertised()
    }

    /// When the gathered changes are due to go out.
    pub fn flush_at(&self) -> Option<Instant> {
        self.exporter
            .next_deadline()
            .map(|ms| self.base + Duration::from_millis(ms))
    }

    pub async fn next_change(&mut self) -> Result<Arc<Changes>, broadcast::error::RecvError> {
        self.changes.recv().await
    }

    /// Notes a change batch (or that some were missed).
    pub fn on_change(&mut self, c: Result<Arc<Changes>, broadcast::error::RecvError>, peer: &str) {
        let now = self.now();
        match c {
            Ok(c) if c.resync => self.exporter.resync(now),
            Ok(c) => self.exporter.changed(now, c.prefixes.iter().copied()),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::info!(
                    peer,
                    missed = n,
                    "fell behind the change feed: comparing the whole table"
                );
                self.exporter.resync(now);
            }
            Err(broadcast::error::RecvError::Closed) => {}
        }
    }

    fn context<'a>(&self, view: &'a View, peer: &'a PeerPolicy, me: Itad) -> Context<'a> {
        Context {
            table: &view.table,
            peer,
            me,
            now: self.now(),
        }
    }

    /// What changed since the last flush, for the peer.
    pub fn flush(&mut self, view: &View, peer: &PeerPolicy, me: Itad, carried: &[PlanId]) -> Diff {
        let at = self.context(view, peer, me);
        self.exporter.flush(at, carried, no_jitter)
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
        let at = self.context(view, peer, me);
        self.exporter.dump(at, plans, forget, no_jitter)
    }
}
