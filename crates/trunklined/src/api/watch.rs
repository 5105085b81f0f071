//! `Routes.Watch`: a snapshot of the routes under a prefix (and of the
//! neighbors, when asked), its end, then every change, with progress
//! notes, following etcd's watch contract.
//! The revision is the raft applied index. Changes come from the store's
//! change feed, subscribed before the snapshot is read so that nothing
//! falls between the two; a batch at or below the snapshot's revision is
//! already in it. A watcher that cannot keep up (more than `MAX_BEHIND`
//! batches read and not yet sent, its client's stream full) and a table
//! replaced whole end the stream with `Reset`, never with a change left
//! out.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tonic::Status;
use trunkline_cluster::peers::Peers;
use trunkline_cluster::state::Changes;
use trunkline_core::{Plans, Prefix, RouteTable};
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::watch_response::Event;

use super::convert;
use super::history::{History, Since};
use crate::store::StoreHandle;

/// Messages a watcher may have in flight to its client.
const STREAM_BUFFER: usize = 256;

/// Change batches a watcher may have read and not yet sent before it
/// counts as lagged.
const MAX_BEHIND: usize = 64;

const DEFAULT_PROGRESS: Duration = Duration::from_secs(10);

pub type Sender = mpsc::Sender<Result<pb::WatchResponse, Status>>;

/// Starts a watch: the receiving end of its stream.
pub fn start(
    store: &StoreHandle,
    history: &History,
    req: &pb::WatchRequest,
) -> Result<mpsc::Receiver<Result<pb::WatchResponse, Status>>, Status> {
    let plans = store.plans().clone();
    let filter = if req.prefix.is_empty() {
        None
    } else {
        let p = (plans.parse_prefix(&req.prefix))
            .map_err(|e| convert::invalid(format_args!("prefix {:?}", req.prefix), e))?;
        Some(p)
    };
    let kinds: Vec<pb::WatchKind> = req.kinds().collect();
    let sessions = kinds.contains(&pb::WatchKind::Sessions);
    let routes = kinds.is_empty() || kinds.contains(&pb::WatchKind::Routes);
    let progress = match req.progress_interval_ms {
        0 => DEFAULT_PROGRESS,
        ms => Duration::from_millis(u64::from(ms).max(100)),
    };
    // Subscribed first: a change applied while the snapshot is read is
    // then in the snapshot, in the feed, or both (and sent again: harmless).
    let feed = store.subscribe_changes();
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    let w = Watcher {
        store: store.clone(),
        plans,
        filter,
        routes,
        sessions,
        tx,
    };
    // Owned by its stream: it ends when the client goes away, when the
    // store shuts down (the feed closes), or with a Reset.
    let from = match req.start_revision {
        0 => From::Snapshot,
        after => From::After(after, history.clone()),
    };
    tokio::spawn(w.run(feed, from, progress));
    Ok(rx)
}

/// Where a watch starts.
enum From {
    /// The routes now, then changes.
    Snapshot,
    /// The changes after this revision, from the node's history.
    After(u64, History),
}

struct Watcher {
    store: StoreHandle,
    plans: Plans,
    filter: Option<Prefix>,
    /// Route changes are sent.
    routes: bool,
    /// Neighbor changes are sent.
    sessions: bool,
    tx: Sender,
}

/// Where a neighbor stands in `peers`.
fn session(peers: &Peers, name: &str, revision: u64) -> pb::WatchResponse {
    use pb::session_event::Phase;
    let mark = peers.sessions.get(name);
    let (phase, itad) = match peers.configs.get(name) {
        None => (Phase::Removed, 0),
        Some(e) if mark.is_some_and(|m| m.up) => (Phase::Up, e.itad),
        Some(e) => (Phase::Down, e.itad),
    };
    let event = pb::SessionEvent {
        neighbor: name.to_owned(),
        itad,
        phase: phase.into(),
        node: mark.map_or(0, |m| m.node),
        epoch: mark.map_or(0, |m| m.epoch),
    };
    pb::WatchResponse {
        revision,
        event: Some(Event::Session(event)),
    }
}

impl Watcher {
    fn covers(&self, p: &Prefix) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| f.plan == p.plan && p.digits.starts_with(&f.digits))
    }

    fn routes(&self, table: &RouteTable, p: &Prefix, revision: u64) -> pb::WatchResponse {
        let routes = (table.get(p).into_iter().flat_map(|s| s.iter()))
            .map(|r| convert::route(&self.plans, p, r))
            .collect();
        pb::WatchResponse {
            revision,
            event: Some(Event::Routes(pb::PrefixRoutes {
                prefix: self.plans.prefix_str(p),
                routes,
            })),
        }
    }

    async fn send(&self, revision: u64, event: Event) -> bool {
        let m = pb::WatchResponse {
            revision,
            event: Some(event),
        };
        self.tx.send(Ok(m)).await.is_ok()
    }

    async fn reset(&self, revision: u64, reason: pb::reset::Reason, message: String) {
        let event = Event::Reset(pb::Reset {
            reason: reason.into(),
            message,
        });
        self.send(revision, event).await;
    }

    /// The prefixes of the snapshot, in order.
    fn snapshot(&self, table: &RouteTable) -> Vec<Prefix> {
        let mut out = Vec::new();
        let mut keep = |p: &Prefix, _: &trunkline_core::RouteSet| {
            out.push(*p);
            true
        };
        match &self.filter {
            Some(f) => table.walk_longer(f, &mut keep),
            None => table.walk_all(&mut keep),
        }
        out
    }

    /// Sends the snapshot and its end: the revision it is at.
    async fn send_snapshot(&self) -> Option<u64> {
        let view = self.store.view().load_full();
        let revision = view.applied_index;
        if self.routes {
            for p in self.snapshot(&view.table) {
                let m = self.routes(&view.table, &p, revision);
                self.tx.send(Ok(m)).await.ok()?;
            }
        }
        if self.sessions {
            for name in view.peers.configs.keys() {
                self.tx
                    .send(Ok(session(&view.peers, name, revision)))
                    .await
                    .ok()?;
            }
        }
        drop(view);
        let end = Event::SnapshotEnd(pb::SnapshotEnd {});
        self.send(revision, end).await.then_some(revision)
    }

    async fn run(
        self,
        mut feed: broadcast::Receiver<Arc<Changes>>,
        from: From,
        progress: Duration,
    ) {
        // Batches read from the feed (or the history) and not yet sent
        // whole, and how far into the first one sending has got. The feed
        // is read as it comes (a batch is an Arc, however many prefixes it
        // holds), so a watcher is behind by batches, not by their size.
        let mut behind: VecDeque<Arc<Changes>> = VecDeque::new();
        let mut at = 0;
        // Sent up to `revision`; queued up to `queued`.
        let (mut revision, mut queued) = match from {
            From::Snapshot => match self.send_snapshot().await {
                Some(r) => (r, r),
                None => return,
            },
            From::After(after, history) => match history.since(after).await {
                Some(Since::Batches(batches)) => {
                    let queued = batches.last().map_or(after, |c| c.index);
                    behind.extend(batches);
                    (after, queued)
                }
                Some(Since::Compacted(oldest)) => {
                    let why = format!(
                        "revision {after} is compacted: this node can resume after {oldest} at the \
                         earliest; watch again for a snapshot"
                    );
                    self.reset(oldest, pb::reset::Reason::Compacted, why).await;
                    return;
                }
                None => return,
            },
        };
        // A resume starts with what it missed queued: that much more may
        // wait, shrinking as it is sent.
        let mut limit = behind.len() + MAX_BEHIND;
        let mut tick = tokio::time::interval(progress);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.reset();
        loop {
            tokio::select! {
                () = self.tx.closed() => return,
                // Only when all is sent up to the revision, and never
                // waiting for a full stream.
                _ = tick.tick(), if behind.is_empty() => {
                    let m = pb::WatchResponse { revision, event: Some(Event::Progress(pb::Progress {})) };
                    let _ = self.tx.try_send(Ok(m));
                }
                c = feed.recv() => match c {
                    Ok(c) if c.resync => {
                        let why = "the table was replaced whole (a snapshot was installed): watch again";
                        self.reset(c.index, pb::reset::Reason::Resync, why.into()).await;
                        return;
                    }
                    Ok(c) if c.index <= queued => {}
                    Ok(c) => {
                        queued = c.index;
                        behind.push_back(c);
                        if behind.len() > limit {
                            let why = format!(
                                "this watcher fell {MAX_BEHIND} change batches behind after revision {revision}: watch again"
                            );
                            self.reset(revision, pb::reset::Reason::Lagged, why).await;
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        let why = format!(
                            "this watcher fell {n} change batches behind after revision {revision}: watch again"
                        );
                        self.reset(revision, pb::reset::Reason::Lagged, why).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                permit = self.tx.reserve(), if !behind.is_empty() => {
                    let Ok(permit) = permit else { return };
                    let batch = behind.front().expect("not empty").clone();
                    // A message each: the prefixes the filter covers, then
                    // the neighbors.
                    let prefixes = if self.routes { batch.prefixes.len() } else { 0 };
                    let end = prefixes + if self.sessions { batch.sessions.len() } else { 0 };
                    if at < prefixes {
                        match (batch.prefixes[at..].iter()).position(|p| self.covers(p)) {
                            Some(i) => {
                                let p = batch.prefixes[at + i];
                                at += i + 1;
                                let view = self.store.view().load();
                                permit.send(Ok(self.routes(&view.table, &p, batch.index)));
                            }
                            None => at = prefixes,
                        }
                    } else if at < end {
                        let view = self.store.view().load();
                        permit.send(Ok(session(&view.peers, &batch.sessions[at - prefixes], batch.index)));
                        at += 1;
                    }
                    if at >= end {
                        revision = batch.index;
                        behind.pop_front();
                        at = 0;
                        limit = (limit - 1).max(MAX_BEHIND);
                    }
                }
            }
        }
    }
}
