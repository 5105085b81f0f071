//! The store task: a dedicated thread that owns the `RaftNode` (raft-rs,
//! redb, the state machine). Everything else talks to it through
//! [`StoreHandle`] with a closed set of messages on a bounded channel.
//! Reads never come here: they load the published view.
//!
//! ```text
//!   gRPC handlers ──StoreMsg──► [raft thread] ──publish──► SharedView ◄── lookups
//!   ticker task ──Tick──────────┘      │
//!                                      └──watch──► Status (metrics, readiness)
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use trunkline_cluster::node::{NodeConfig, Status};
use trunkline_cluster::{Command, Outcome, Proposal, RaftNode, SharedView};
use trunkline_core::Plans;

use crate::metrics::Metrics;

/// Most proposals combined into one log entry.
const MAX_BATCH: usize = 256;
/// Queue of requests waiting for the raft thread.
const QUEUE: usize = 1024;

/// A write that reached the log and was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub index: u64,
    pub outcome: Outcome,
}

#[derive(Debug, Error, Clone)]
pub enum WriteError {
    #[error("this node is not the leader and cannot forward writes yet")]
    NotLeader,
    #[error("the store is shutting down")]
    ShuttingDown,
    #[error("the write was not committed within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Rejected(String),
}

enum StoreMsg {
    Propose {
        request_id: String,
        command: Command,
        reply: oneshot::Sender<Result<Committed, WriteError>>,
    },
    Tick,
    Shutdown,
}

/// Cheap to clone; every clone talks to the same raft thread.
#[derive(Debug, Clone)]
pub struct StoreHandle {
    tx: mpsc::Sender<StoreMsg>,
    view: SharedView,
    status: watch::Receiver<Status>,
    plans: Plans,
    write_timeout: Duration,
}

impl std::fmt::Debug for StoreMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoreMsg::Propose { .. } => "Propose",
            StoreMsg::Tick => "Tick",
            StoreMsg::Shutdown => "Shutdown",
        })
    }
}

impl StoreHandle {
    /// Proposes a command and waits until it is applied.
    pub async fn write(
        &self,
        request_id: String,
        command: Command,
    ) -> Result<Committed, WriteError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(StoreMsg::Propose {
                request_id,
                command,
                reply,
            })
            .await
            .map_err(|_| WriteError::ShuttingDown)?;
        match tokio::time::timeout(self.write_timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(WriteError::ShuttingDown),
            Err(_) => Err(WriteError::Timeout(self.write_timeout)),
        }
    }

    pub fn view(&self) -> &SharedView {
        &self.view
    }

    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    pub fn plans(&self) -> &Plans {
        &self.plans
    }
}

/// Owns the raft thread and its ticker; [`Store::shutdown`] stops both.
#[derive(Debug)]
pub struct Store {
    handle: StoreHandle,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    ticker: tokio::task::JoinHandle<()>,
}

/// What the store needs to start.
#[derive(Debug)]
pub struct StoreConfig {
    pub dir: PathBuf,
    pub node: NodeConfig,
    pub plans: Plans,
    pub tick: Duration,
    pub write_timeout: Duration,
}

impl Store {
    /// Opens the node's data and starts the raft thread. Must run inside a
    /// tokio runtime (for the ticker).
    pub fn start(cfg: StoreConfig, metrics: Metrics) -> anyhow::Result<Store> {
        let logger = crate::logging::raft_logger();
        let node = RaftNode::open(&cfg.dir, cfg.node, cfg.plans.clone(), &logger)
            .map_err(|e| anyhow::anyhow!("cannot open the store in {}: {e}", cfg.dir.display()))?;
        let view = node.view();
        let (status_tx, status) = watch::channel(node.status());
        let (tx, rx) = mpsc::channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("raft".into())
            .spawn(move || run(node, rx, status_tx, metrics))?;
        let tick_tx = tx.clone();
        let tick = cfg.tick;
        let ticker = tokio::spawn(async move {
            let mut every = tokio::time::interval(tick);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if tick_tx.send(StoreMsg::Tick).await.is_err() {
                    return;
                }
            }
        });
        Ok(Store {
            handle: StoreHandle {
                tx,
                view,
                status,
                plans: cfg.plans,
                write_timeout: cfg.write_timeout,
            },
            thread: Some(thread),
            ticker,
        })
    }

    pub fn handle(&self) -> StoreHandle {
        self.handle.clone()
    }

    /// Stops the ticker, lets the raft thread finish what is queued, and
    /// waits for it. Everything acknowledged is already durable.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.ticker.abort();
        let _ = self.handle.tx.send(StoreMsg::Shutdown).await;
        match self.thread.take() {
            Some(t) => tokio::task::spawn_blocking(move || t.join())
                .await?
                .map_err(|_| anyhow::anyhow!("the raft thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.ticker.abort();
    }
}

type Waiters = HashMap<u64, oneshot::Sender<Result<Committed, WriteError>>>;

/// The raft thread's loop: wait for a message, take everything else that
/// is queued, propose it as one batch, then run the Ready loop.
fn run(
    mut node: RaftNode,
    mut rx: mpsc::Receiver<StoreMsg>,
    status: watch::Sender<Status>,
    metrics: Metrics,
) -> anyhow::Result<()> {
    let my_id = node.status().id;
    let mut waiters = Waiters::new();
    let mut stopping = false;
    while !stopping {
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        let mut batch = Vec::new();
        let mut replies = Vec::new();
        let mut msg = Some(first);
        while let Some(m) = msg.take() {
            match m {
                StoreMsg::Tick => node.tick(),
                StoreMsg::Shutdown => stopping = true,
                StoreMsg::Propose {
                    request_id,
                    command,
                    reply,
                } => {
                    let origin = node.origin();
                    batch.push(Proposal {
                        origin,
                        request_id,
                        command,
                    });
                    replies.push((origin.token, reply));
                }
            }
            if batch.len() < MAX_BATCH {
                msg = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            metrics.proposals.inc_by(batch.len() as u64);
            match node.propose(&batch) {
                Ok(()) => waiters.extend(replies),
                Err(e) => {
                    let err = if node.is_leader() {
                        WriteError::Rejected(e.to_string())
                    } else {
                        WriteError::NotLeader
                    };
                    for (_, r) in replies {
                        let _ = r.send(Err(err.clone()));
                    }
                }
            }
        }
        let out = node
            .handle_ready()
            .map_err(|e| anyhow::anyhow!("storage failed, stopping the node: {e}"))?;
        for a in out.applied {
            if let Outcome::Rejected(why) = &a.outcome {
                tracing::error!(index = a.index, "entry not applied: {why}");
            }
            if let Some(r) = waiters
                .remove(&a.origin.token)
                .filter(|_| a.origin.node == my_id)
            {
                let _ = r.send(Ok(Committed {
                    index: a.index,
                    outcome: a.outcome,
                }));
            }
        }
        let st = node.status();
        metrics.observe_raft(&st, &node.view().load());
        status.send_replace(st);
    }
    tracing::info!("raft thread stopped");
    Ok(())
}
