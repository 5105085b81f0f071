//! [`StoreHandle`]: what every task holds to write to the raft thread,
//! read the published view and status, and answer writes forwarded by
//! nodes that still use the Forward call.

use std::sync::Arc;
use std::time::Duration;

use raft::prelude::{ConfChangeV2, Message};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use trunkline_cluster::command::decode_batch;
use trunkline_cluster::state::Changes;
use trunkline_cluster::{Command, Outcome, SharedView};
use trunkline_core::Plans;
use trunkline_core::table::AttrsInterner;
use trunkline_proto::cluster::v1 as wire;

use super::msg::{Committed, StoreMsg, StoreStatus, WriteError};

/// Pause before a write tries again while a leader is being elected.
const LEADER_WAIT: Duration = Duration::from_millis(100);
/// How long one ReadIndex round may take before it is retried.
const READ_ROUND: Duration = Duration::from_millis(300);

/// Cheap to clone; every clone talks to the same raft thread.
#[derive(Debug, Clone)]
pub struct StoreHandle {
    pub(super) tx: mpsc::Sender<StoreMsg>,
    pub(super) view: SharedView,
    pub(super) status: watch::Receiver<StoreStatus>,
    pub(super) plans: Plans,
    pub(super) write_timeout: Duration,
    pub(super) dialer: super::dial::NodeDialer,
    /// Start time of this process, making made-up request ids unique
    /// across restarts.
    pub(super) boot: u128,
    /// Prefixes changed by each applied batch, for exporters.
    pub(super) changes: broadcast::Sender<Arc<Changes>>,
    pub(super) next_auto: Arc<std::sync::atomic::AtomicU64>,
}

impl StoreHandle {
    /// Proposes a command and waits until it is applied on this node. On a
    /// follower the write goes to the leader. While there is no leader, or
    /// the leader it tried just went away, it waits for the next one and
    /// tries again until the write timeout, as etcd queues writes during an
    /// election. Every write carries a request id (one is made up if the
    /// caller gave none), so a retry never applies twice.
    pub async fn write(
        &self,
        request_id: String,
        command: Command,
    ) -> Result<Committed, WriteError> {
        let request_id = if request_id.is_empty() {
            self.auto_request_id()
        } else {
            request_id
        };
        let deadline = tokio::time::Instant::now() + self.write_timeout;
        loop {
            match self.write_local(request_id.clone(), command.clone()).await {
                Err(WriteError::NoLeader | WriteError::NotLeader(..))
                    if tokio::time::Instant::now() + LEADER_WAIT < deadline =>
                {
                    tokio::time::sleep(LEADER_WAIT).await;
                }
                Err(WriteError::NotLeader(..)) => return Err(WriteError::NoLeader),
                other => return other,
            }
        }
    }

    /// A request id unique to this process's writes.
    fn auto_request_id(&self) -> String {
        let n = self
            .next_auto
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("auto-{}-{}-{n}", self.status.borrow().raft.id, self.boot)
    }

    /// Proposes on this node only; a follower answers `NotLeader`.
    pub async fn write_local(
        &self,
        request_id: String,
        command: Command,
    ) -> Result<Committed, WriteError> {
        let (reply, rx) = oneshot::channel();
        self.send(StoreMsg::Propose {
            request_id,
            command,
            reply,
        })
        .await?;
        self.answer(rx).await?
    }

    async fn send(&self, msg: StoreMsg) -> Result<(), WriteError> {
        self.tx
            .send(msg)
            .await
            .map_err(|_| WriteError::ShuttingDown)
    }

    async fn answer<T>(&self, rx: oneshot::Receiver<T>) -> Result<T, WriteError> {
        match tokio::time::timeout(self.write_timeout, rx).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(_)) => Err(WriteError::ShuttingDown),
            Err(_) => Err(WriteError::Timeout(self.write_timeout)),
        }
    }

    /// How this node dials the others.
    pub fn dialer(&self) -> &super::dial::NodeDialer {
        &self.dialer
    }

    /// Handles a write forwarded by another node.
    pub async fn forwarded(&self, proposal: &[u8]) -> wire::ForwardResponse {
        use wire::forward_response::Result as R;
        let decoded = decode_batch(proposal, &self.plans, &mut AttrsInterner::default());
        let result = match decoded.as_deref() {
            Ok([p]) => match self
                .write_local(p.request_id.clone(), p.command.clone())
                .await
            {
                Ok(c) => {
                    let (changed, first_index) = match c.outcome {
                        Outcome::Applied { changed } => (changed, 0),
                        Outcome::Duplicate { changed, index } => (changed, index),
                        Outcome::Rejected(why) => {
                            return wire::ForwardResponse {
                                result: Some(R::Rejected(why)),
                            };
                        }
                        Outcome::Refused(reason) => {
                            return wire::ForwardResponse {
                                result: Some(R::Refused(wire::Refused {
                                    log_index: c.index,
                                    reason,
                                })),
                            };
                        }
                    };
                    R::Applied(wire::Applied {
                        log_index: c.index,
                        changed,
                        duplicate: first_index > 0,
                        first_index,
                    })
                }
                Err(WriteError::NotLeader(id, _)) => {
                    R::NotLeader(wire::NotLeader { leader_id: id })
                }
                // A leader that removed itself: the caller waits for the
                // next leader.
                Err(WriteError::Removed(_)) => R::NotLeader(wire::NotLeader { leader_id: 0 }),
                Err(e) => R::Rejected(e.to_string()),
            },
            Ok(_) => R::Rejected("a forward carries exactly one proposal".into()),
            Err(e) => R::Rejected(format!("undecodable proposal: {e}")),
        };
        wire::ForwardResponse {
            result: Some(result),
        }
    }

    /// Waits until this node has applied `index`.
    pub async fn wait_applied(&self, index: u64) -> Result<(), WriteError> {
        let mut rx = self.status.clone();
        match tokio::time::timeout(
            self.write_timeout,
            rx.wait_for(|s| s.raft.applied_index >= index),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(WriteError::ShuttingDown),
            Err(_) => Err(WriteError::Timeout(self.write_timeout)),
        }
    }

    /// Waits until this node's state includes every write acknowledged
    /// before the call (ReadIndex, then apply). Raft drops a read that
    /// arrives without a leader, so each round is retried until the write
    /// timeout.
    pub async fn read_barrier(&self) -> Result<u64, WriteError> {
        let deadline = tokio::time::Instant::now() + self.write_timeout;
        loop {
            self.serving()?;
            let (reply, rx) = oneshot::channel();
            self.send(StoreMsg::ReadIndex(reply)).await?;
            if let Ok(Ok(index)) = tokio::time::timeout(READ_ROUND, rx).await {
                self.wait_applied(index).await?;
                return Ok(index);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(WriteError::NoQuorum(self.write_timeout));
            }
        }
    }

    /// Raft messages received from a peer.
    pub(crate) async fn step(
        &self,
        msgs: Vec<Message>,
        from: Option<(u64, String)>,
    ) -> Result<(), WriteError> {
        self.send(StoreMsg::Step(msgs, from)).await
    }

    /// Proposes a membership change and waits until it is applied here.
    /// Tries again while the leader is still applying another one (a new
    /// leader's first entry, say).
    pub async fn conf_change(&self, cc: ConfChangeV2, context: Vec<u8>) -> Result<u64, WriteError> {
        let deadline = tokio::time::Instant::now() + self.write_timeout;
        loop {
            let (reply, rx) = oneshot::channel();
            let (cc, context) = (cc.clone(), context.clone());
            self.send(StoreMsg::ConfChange { cc, context, reply })
                .await?;
            match self.answer(rx).await? {
                Err(WriteError::MembershipBusy) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(LEADER_WAIT).await;
                }
                r => return r,
            }
        }
    }

    pub async fn transfer_leader(&self, to: u64) -> Result<(), WriteError> {
        self.send(StoreMsg::TransferLeader(to)).await
    }

    pub fn view(&self) -> &SharedView {
        &self.view
    }

    /// Whether this node may answer from its table: not once it was
    /// removed from the cluster.
    pub fn serving(&self) -> Result<(), WriteError> {
        match &self.status.borrow().removed {
            Some(r) => Err(WriteError::Removed(r.clone())),
            None => Ok(()),
        }
    }

    /// Node `by` said this node was removed at `log_index`.
    pub(crate) async fn told_removed(&self, by: u64, log_index: u64) {
        let _ = self.send(StoreMsg::Removed { by, log_index }).await;
    }

    /// Every later change to the table. A receiver that falls behind gets
    /// `Lagged` and must compare the whole table.
    pub fn subscribe_changes(&self) -> broadcast::Receiver<Arc<Changes>> {
        self.changes.subscribe()
    }

    /// Status updates (one per pass of the raft loop).
    pub fn watch_status(&self) -> watch::Receiver<StoreStatus> {
        self.status.clone()
    }

    pub fn status(&self) -> StoreStatus {
        self.status.borrow().clone()
    }

    pub fn plans(&self) -> &Plans {
        &self.plans
    }
}
