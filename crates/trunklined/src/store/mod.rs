//! The store task: a dedicated thread that owns the `RaftNode` (raft-rs,
//! redb, the state machine). Everything else talks to it through
//! [`StoreHandle`] with a closed set of messages on a bounded channel.
//! Reads never come here: they load the published view.
//!
//! ```text
//!   gRPC handlers ──StoreMsg──► [raft thread] ──publish──► SharedView ◄── lookups
//!   ticker task ──Tick──────────┤      │  └──Message──► peer links (transport.rs)
//!   raft service ──Step─────────┘      └──watch──► StoreStatus (metrics, readiness)
//! ```
//!
//! A write on a follower is proposed there too: raft carries it to the
//! leader (a MsgPropose on the peer links), and it is answered once this
//! node has applied it, so a client reads its own writes on the node it
//! wrote to.
//!
//! `msg.rs` holds the messages and errors, `handle.rs` the handle,
//! `raft_loop.rs` the thread, `transport.rs` its links to other nodes. The
//! children import one another downward (handle and raft_loop use msg and
//! transport), never this file.

mod dial;
mod handle;
mod msg;
mod raft_loop;
pub mod transport;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};
use trunkline_cluster::RaftNode;
use trunkline_cluster::node::NodeConfig;
use trunkline_core::Plans;

pub use dial::NodeDialer;
pub use handle::StoreHandle;
pub(crate) use msg::StoreMsg;
pub use msg::{Removed, StoreStatus, WriteError};

use crate::metrics::Metrics;
use msg::REMOVED_MARKER;
use raft_loop::RaftLoop;
use transport::Transport;

/// Queue of requests waiting for the raft thread.
const QUEUE: usize = 1024;
/// Change batches an exporter may fall behind by before it must compare
/// the whole table.
const CHANGE_BACKLOG: usize = 1024;

/// Owns the raft thread and its ticker; [`Store::shutdown`] stops both.
#[derive(Debug)]
pub struct Store {
    handle: StoreHandle,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    ticker: tokio::task::JoinHandle<()>,
    failed: watch::Receiver<Option<String>>,
}

/// What the store needs to start.
#[derive(Debug)]
pub struct StoreConfig {
    pub dir: PathBuf,
    pub node: NodeConfig,
    pub plans: Plans,
    pub tick: Duration,
    pub write_timeout: Duration,
    /// Members' addresses from config.
    pub members: BTreeMap<u64, String>,
    /// How this node dials the others.
    pub dialer: NodeDialer,
}

impl Store {
    /// Opens the node's data and starts the raft thread. Must run inside a
    /// tokio runtime (for the ticker and the peer links).
    pub fn start(cfg: StoreConfig, metrics: Metrics) -> anyhow::Result<Store> {
        let logger = crate::logging::raft_logger();
        let mut node = RaftNode::open(&cfg.dir, cfg.node, cfg.plans.clone(), &logger)
            .map_err(|e| anyhow::anyhow!("cannot open the store in {}: {e}", cfg.dir.display()))?;
        let boot = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        node.start_tokens_at(boot as u64);
        let view = node.view();
        let (tx, rx) = mpsc::channel(QUEUE);
        let mut members = cfg.members.clone();
        members.extend(node.state().members().clone());
        let removed = std::fs::read_to_string(cfg.dir.join(REMOVED_MARKER))
            .ok()
            .map(|text| {
                let log_index = text
                    .lines()
                    .next()
                    .and_then(|l| l.trim().parse().ok())
                    .unwrap_or(0);
                Removed {
                    log_index,
                    detail: format!("recorded in {}", cfg.dir.join(REMOVED_MARKER).display()),
                }
            });
        if let Some(r) = &removed {
            tracing::error!("{r}");
        }
        let (status_tx, status) = watch::channel(StoreStatus {
            raft: node.status(),
            members,
            removed_members: node.state().removed().clone(),
            removed: removed.clone(),
        });
        let transport = Transport::new(
            node.id(),
            tx.clone(),
            tokio::runtime::Handle::current(),
            cfg.dialer.clone(),
        );
        let config_members = cfg.members;
        let (failed_tx, failed) = watch::channel(None);
        let (changes, _) = broadcast::channel(CHANGE_BACKLOG);
        let changes_tx = changes.clone();
        let dir = cfg.dir.clone();
        let thread = std::thread::Builder::new()
            .name("raft".into())
            .spawn(move || {
                // A panic is a bug, but the node must still stop rather
                // than keep serving a state that no longer advances.
                let run = std::panic::AssertUnwindSafe(|| {
                    RaftLoop {
                        node,
                        rx,
                        status: status_tx,
                        metrics,
                        transport,
                        config_members,
                        heard: BTreeMap::new(),
                        removed,
                        dir,
                        last_role: None,
                        reads: HashMap::new(),
                        next_read: 1,
                        waiters: HashMap::new(),
                        leader_seen: (0, 0),
                        conf_waiters: Vec::new(),
                        changes: changes_tx,
                    }
                    .run()
                });
                let result = std::panic::catch_unwind(run).unwrap_or_else(|p| {
                    let why = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    Err(anyhow::anyhow!("the raft thread panicked: {why}"))
                });
                if let Err(e) = &result {
                    tracing::error!(error = %format!("{e:#}"), "the raft thread stopped");
                    failed_tx.send_replace(Some(format!("{e:#}")));
                }
                result
            })?;
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
                dialer: cfg.dialer,
                boot,
                next_auto: Arc::default(),
                changes,
            },
            thread: Some(thread),
            ticker,
            failed,
        })
    }

    /// Resolves with the reason if the raft thread stops on an error (a
    /// storage failure): the node cannot go on and must stop.
    pub fn failed(&self) -> impl std::future::Future<Output = String> + use<> {
        let mut rx = self.failed.clone();
        async move {
            match rx.wait_for(|f| f.is_some()).await {
                Ok(f) => f.clone().unwrap_or_default(),
                Err(_) => std::future::pending().await,
            }
        }
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
