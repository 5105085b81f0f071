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
//! A write on a follower is forwarded to the leader (`Forward` RPC), and
//! answered once this node has applied it too, so a client reads its own
//! writes on the node it wrote to.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raft::prelude::{ConfChangeV2, Message};
use thiserror::Error;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use trunkline_cluster::command::{decode_batch, encode_batch};
use trunkline_cluster::node::{NodeConfig, Status};
use trunkline_cluster::state::Changes;
use trunkline_cluster::{Command, Origin, Outcome, Proposal, RaftNode, SharedView};
use trunkline_core::Plans;
use trunkline_core::table::AttrsInterner;
use trunkline_proto::cluster::v1 as wire;
use trunkline_proto::cluster::v1::raft_transport_client::RaftTransportClient;

use crate::metrics::Metrics;
use crate::transport::Transport;

/// Most proposals combined into one log entry.
const MAX_BATCH: usize = 256;
/// Queue of requests waiting for the raft thread.
const QUEUE: usize = 1024;
/// Pause before a write tries again while a leader is being elected.
const LEADER_WAIT: Duration = Duration::from_millis(100);
/// How long one ReadIndex round may take before it is retried.
const READ_ROUND: Duration = Duration::from_millis(300);
/// A learner this close to the leader's log becomes a voter.
const PROMOTE_LAG: u64 = 100;
/// Change batches an exporter may fall behind by before it must compare
/// the whole table.
const CHANGE_BACKLOG: usize = 1024;

/// A write that reached the log and was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub index: u64,
    pub outcome: Outcome,
}

#[derive(Debug, Error, Clone)]
pub enum WriteError {
    #[error("no leader is known right now; retry shortly")]
    NoLeader,
    #[error("node {0} is the leader")]
    NotLeader(u64, Option<String>),
    #[error("the store is shutting down")]
    ShuttingDown,
    #[error("the write was not committed within {0:?}")]
    Timeout(Duration),
    #[error("the leader could not be reached: {0}")]
    Forward(String),
    #[error("{0}")]
    Rejected(String),
    #[error("no quorum confirmed a consistent read within {0:?}")]
    NoQuorum(Duration),
    #[error("{0}")]
    Removed(Removed),
}

/// This node was removed from its cluster: it takes no further part in
/// raft, and its table is stale, so it answers no lookups. It stays so
/// across restarts (a marker file in the data directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// The log index of the membership change that removed it (0: unknown).
    pub log_index: u64,
    /// How it learned it.
    pub detail: String,
}

impl std::fmt::Display for Removed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "this node was removed from its cluster")?;
        if self.log_index > 0 {
            write!(f, " at log index {}", self.log_index)?;
        }
        write!(
            f,
            " ({}); its table is stale and it serves no routes: stop it, and to \
             bring the machine back, wipe its data_dir and add it under a new id",
            self.detail
        )
    }
}

/// The file that keeps a node removed across restarts.
const REMOVED_MARKER: &str = "REMOVED";

/// What the raft thread publishes after every pass.
#[derive(Debug, Clone, Default)]
pub struct StoreStatus {
    pub raft: Status,
    /// Every known member's address: config plus run-time additions.
    pub members: BTreeMap<u64, String>,
    /// Nodes the cluster removed (their ids cannot come back), with the
    /// removing log index.
    pub removed_members: BTreeMap<u64, u64>,
    /// Set once this node itself was removed.
    pub removed: Option<Removed>,
}

pub(crate) enum StoreMsg {
    Propose {
        request_id: String,
        command: Command,
        reply: oneshot::Sender<Result<Committed, WriteError>>,
    },
    /// Raft messages from a peer, with the address it says it has.
    Step(Vec<Message>, Option<(u64, String)>),
    Unreachable(u64),
    SnapshotSent(u64, bool),
    /// Node `by` says this node was removed at `log_index`.
    Removed {
        by: u64,
        log_index: u64,
    },
    ConfChange {
        cc: ConfChangeV2,
        context: Vec<u8>,
        reply: oneshot::Sender<Result<u64, WriteError>>,
    },
    TransferLeader(u64),
    /// Start a linearizable read; the reply is the index to wait for.
    ReadIndex(oneshot::Sender<u64>),
    Tick,
    Shutdown,
}

/// Cheap to clone; every clone talks to the same raft thread.
#[derive(Debug, Clone)]
pub struct StoreHandle {
    tx: mpsc::Sender<StoreMsg>,
    view: SharedView,
    status: watch::Receiver<StoreStatus>,
    plans: Plans,
    write_timeout: Duration,
    /// gRPC channels to other nodes, for forwarding. Held only to clone a
    /// channel out; never across an await.
    channels: Arc<Mutex<HashMap<String, tonic::transport::Channel>>>,
    /// Start time of this process, making made-up request ids unique
    /// across restarts.
    boot: u128,
    /// Prefixes changed by each applied batch, for exporters.
    changes: broadcast::Sender<Arc<Changes>>,
    next_auto: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for StoreMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoreMsg::Propose { .. } => "Propose",
            StoreMsg::Step(..) => "Step",
            StoreMsg::Unreachable(_) => "Unreachable",
            StoreMsg::SnapshotSent(..) => "SnapshotSent",
            StoreMsg::Removed { .. } => "Removed",
            StoreMsg::ConfChange { .. } => "ConfChange",
            StoreMsg::TransferLeader(_) => "TransferLeader",
            StoreMsg::ReadIndex(_) => "ReadIndex",
            StoreMsg::Tick => "Tick",
            StoreMsg::Shutdown => "Shutdown",
        })
    }
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
            let result = match self.write_local(request_id.clone(), command.clone()).await {
                Err(WriteError::NotLeader(_, Some(addr))) => {
                    match self
                        .forward(&addr, request_id.clone(), command.clone())
                        .await
                    {
                        Ok(c) => {
                            self.wait_applied(c.index).await?;
                            return Ok(c);
                        }
                        Err(e) => Err(e),
                    }
                }
                other => other,
            };
            match result {
                Err(WriteError::NoLeader | WriteError::NotLeader(..) | WriteError::Forward(_))
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

    fn channel(&self, addr: &str) -> Result<tonic::transport::Channel, WriteError> {
        let mut map = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get(addr) {
            return Ok(c.clone());
        }
        let c = crate::transport::endpoint(addr)
            .map_err(|e| WriteError::Forward(e.to_string()))?
            .connect_lazy();
        map.insert(addr.to_owned(), c.clone());
        Ok(c)
    }

    async fn forward(
        &self,
        addr: &str,
        request_id: String,
        command: Command,
    ) -> Result<Committed, WriteError> {
        let proposal = encode_batch(
            &[Proposal {
                origin: Origin { node: 0, token: 0 },
                request_id,
                command,
            }],
            &self.plans,
        );
        let mut client = RaftTransportClient::new(self.channel(addr)?)
            .max_encoding_message_size(usize::MAX)
            .max_decoding_message_size(usize::MAX);
        let mut req = tonic::Request::new(wire::ForwardRequest { proposal });
        req.set_timeout(self.write_timeout);
        let resp = client
            .forward(req)
            .await
            .map_err(|s| WriteError::Forward(format!("{addr}: {}", s.message())))?
            .into_inner();
        match resp.result {
            Some(wire::forward_response::Result::Applied(a)) => Ok(Committed {
                index: a.log_index,
                outcome: if a.duplicate {
                    Outcome::Duplicate {
                        changed: a.changed,
                        index: a.log_index,
                    }
                } else {
                    Outcome::Applied { changed: a.changed }
                },
            }),
            Some(wire::forward_response::Result::NotLeader(_)) => Err(WriteError::NoLeader),
            Some(wire::forward_response::Result::Rejected(why)) => Err(WriteError::Rejected(why)),
            None => Err(WriteError::Forward(format!("{addr}: empty answer"))),
        }
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
                    let (changed, duplicate) = match c.outcome {
                        Outcome::Applied { changed } => (changed, false),
                        Outcome::Duplicate { changed, .. } => (changed, true),
                        Outcome::Rejected(why) => {
                            return wire::ForwardResponse {
                                result: Some(R::Rejected(why)),
                            };
                        }
                    };
                    R::Applied(wire::Applied {
                        log_index: c.index,
                        changed,
                        duplicate,
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
    pub async fn conf_change(&self, cc: ConfChangeV2, context: Vec<u8>) -> Result<u64, WriteError> {
        let (reply, rx) = oneshot::channel();
        self.send(StoreMsg::ConfChange { cc, context, reply })
            .await?;
        self.answer(rx).await?
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
}

impl Store {
    /// Opens the node's data and starts the raft thread. Must run inside a
    /// tokio runtime (for the ticker and the peer links).
    pub fn start(cfg: StoreConfig, metrics: Metrics) -> anyhow::Result<Store> {
        let logger = crate::logging::raft_logger();
        let node = RaftNode::open(&cfg.dir, cfg.node, cfg.plans.clone(), &logger)
            .map_err(|e| anyhow::anyhow!("cannot open the store in {}: {e}", cfg.dir.display()))?;
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
        let transport = Transport::new(node.id(), tx.clone(), tokio::runtime::Handle::current());
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
                    tracing::error!("the raft thread stopped: {e:#}");
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
                channels: Arc::default(),
                boot: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
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

/// The raft thread's state.
struct RaftLoop {
    node: RaftNode,
    rx: mpsc::Receiver<StoreMsg>,
    status: watch::Sender<StoreStatus>,
    metrics: Metrics,
    transport: Transport,
    config_members: BTreeMap<u64, String>,
    /// Addresses peers gave for themselves; the least trusted source.
    heard: BTreeMap<u64, String>,
    /// Set once this node was removed: it then ignores raft and answers
    /// every request with the reason.
    removed: Option<Removed>,
    dir: PathBuf,
    /// Role and leader last logged.
    last_role: Option<(trunkline_cluster::node::Role, u64)>,
    /// Read-index requests in flight, by request number.
    reads: HashMap<u64, oneshot::Sender<u64>>,
    next_read: u64,
    waiters: HashMap<u64, oneshot::Sender<Result<Committed, WriteError>>>,
    /// Membership changes waiting to be applied: (last index when proposed, reply).
    conf_waiters: Vec<(u64, oneshot::Sender<Result<u64, WriteError>>)>,
    changes: broadcast::Sender<Arc<Changes>>,
}

impl RaftLoop {
    fn members(&self) -> BTreeMap<u64, String> {
        let mut m = self.heard.clone();
        m.extend(self.config_members.clone());
        m.extend(self.node.state().members().clone());
        m
    }

    /// This node was removed: stop taking part, and say so everywhere.
    fn mark_removed(&mut self, log_index: u64, detail: String) {
        if self.removed.is_some() {
            return;
        }
        let r = Removed { log_index, detail };
        tracing::error!("{r}");
        let path = self.dir.join(REMOVED_MARKER);
        let text = format!(
            "{log_index}\nThis node was removed from its cluster ({}). It serves nothing.\n",
            r.detail
        );
        if let Err(e) = std::fs::write(&path, text) {
            tracing::warn!("cannot record the removal in {}: {e}", path.display());
        }
        self.removed = Some(r);
    }

    fn not_leader(&self) -> WriteError {
        let leader = self.node.leader_id();
        if leader == 0 {
            WriteError::NoLeader
        } else {
            WriteError::NotLeader(leader, self.members().get(&leader).cloned())
        }
    }

    /// Wait for a message, take everything else that is queued, propose it
    /// as one batch, then run the Ready loop.
    fn run(mut self) -> anyhow::Result<()> {
        let my_id = self.node.id();
        let mut stopping = false;
        while !stopping {
            let Some(first) = self.rx.blocking_recv() else {
                break;
            };
            let mut batch = Vec::new();
            let mut replies = Vec::new();
            let mut msg = Some(first);
            while let Some(m) = msg.take() {
                if let Some(r) = &self.removed {
                    // A removed node takes no part in raft (no campaigns)
                    // and answers every request with the reason.
                    let err = WriteError::Removed(r.clone());
                    match m {
                        StoreMsg::Shutdown => stopping = true,
                        StoreMsg::Propose { reply, .. } => {
                            let _ = reply.send(Err(err));
                        }
                        StoreMsg::ConfChange { reply, .. } => {
                            let _ = reply.send(Err(err));
                        }
                        _ => {}
                    }
                    msg = self.rx.try_recv().ok();
                    continue;
                }
                match m {
                    StoreMsg::Removed { by, log_index } => {
                        self.mark_removed(log_index, format!("told by node {by}"));
                    }
                    StoreMsg::Tick => self.node.tick(),
                    StoreMsg::Shutdown => stopping = true,
                    StoreMsg::Step(msgs, from) => {
                        if let Some((id, addr)) = from {
                            self.heard.insert(id, addr);
                        }
                        for m in msgs {
                            // Messages from removed or unknown peers are
                            // refused by raft; nothing to do about them.
                            let _ = self.node.step(m);
                        }
                    }
                    StoreMsg::Unreachable(id) => self.node.report_unreachable(id),
                    StoreMsg::SnapshotSent(id, ok) => self.node.report_snapshot(id, ok),
                    StoreMsg::TransferLeader(id) => self.node.transfer_leader(id),
                    StoreMsg::ReadIndex(reply) => {
                        let ctx = self.next_read;
                        self.next_read += 1;
                        self.node.read_index(ctx);
                        self.reads.insert(ctx, reply);
                    }
                    StoreMsg::ConfChange { cc, context, reply } => {
                        if !self.node.is_leader() {
                            let _ = reply.send(Err(self.not_leader()));
                        } else {
                            match self.node.propose_conf_change(context, cc) {
                                Ok(()) => self
                                    .conf_waiters
                                    .push((self.node.status().last_index, reply)),
                                Err(e) => {
                                    let _ = reply.send(Err(WriteError::Rejected(e.to_string())));
                                }
                            }
                        }
                    }
                    StoreMsg::Propose {
                        request_id,
                        command,
                        reply,
                    } => {
                        if !self.node.is_leader() {
                            let _ = reply.send(Err(self.not_leader()));
                        } else {
                            let origin = self.node.origin();
                            batch.push(Proposal {
                                origin,
                                request_id,
                                command,
                            });
                            replies.push((origin.token, reply));
                        }
                    }
                }
                if batch.len() < MAX_BATCH {
                    msg = self.rx.try_recv().ok();
                }
            }
            if self.removed.is_some() {
                self.publish_status();
                continue;
            }
            if !batch.is_empty() {
                self.metrics.proposals.inc_by(batch.len() as u64);
                match self.node.propose(&batch) {
                    Ok(()) => self.waiters.extend(replies),
                    Err(e) => {
                        let err = if self.node.is_leader() {
                            WriteError::Rejected(e.to_string())
                        } else {
                            self.not_leader()
                        };
                        for (_, r) in replies {
                            let _ = r.send(Err(err.clone()));
                        }
                    }
                }
            }
            // Addresses as they were before this pass applied any removal.
            let book = self.members();
            let out = self
                .node
                .handle_ready()
                .map_err(|e| anyhow::anyhow!("storage failed, stopping the node: {e}"))?;
            let members = self.members();
            for m in out.messages {
                self.transport.send(m, &members);
            }
            for (to, snapshot) in self.transport.take_failures() {
                self.node.report_unreachable(to);
                if snapshot {
                    self.node.report_snapshot(to, false);
                }
            }
            for a in out.applied {
                if let Outcome::Rejected(why) = &a.outcome {
                    tracing::error!(index = a.index, "entry not applied: {why}");
                }
                if let Some(r) = self
                    .waiters
                    .remove(&a.origin.token)
                    .filter(|_| a.origin.node == my_id)
                {
                    let _ = r.send(Ok(Committed {
                        index: a.index,
                        outcome: a.outcome,
                    }));
                }
            }
            if !out.changes.prefixes.is_empty() || out.changes.resync {
                // No receivers is fine: nothing exports.
                let _ = self.changes.send(Arc::new(out.changes));
            }
            for (ctx, index) in out.read_states {
                if let Some(r) = self.reads.remove(&ctx) {
                    let _ = r.send(index);
                }
            }
            // Callers of dropped reads gave up and retried.
            self.reads.retain(|_, r| !r.is_closed());
            let removed_now: Vec<(u64, u64)> = self
                .node
                .state()
                .removed()
                .iter()
                .filter(|(_, at)| out.conf_changes.contains(at))
                .map(|(id, at)| (*id, *at))
                .collect();
            for (id, at) in removed_now {
                if id == my_id {
                    self.mark_removed(at, "it applied its own removal".into());
                } else if self.node.is_leader()
                    && let Some(addr) = book.get(&id)
                {
                    // It may never hear of it otherwise (a learner never
                    // campaigns): tell it once.
                    self.transport.farewell(id, addr.clone(), at);
                }
            }
            if let Some(&last) = out.conf_changes.last() {
                // Conf changes apply in order; answer every waiter whose
                // change is at or below the last one applied.
                let (done, pending): (Vec<_>, Vec<_>) =
                    self.conf_waiters.drain(..).partition(|(at, _)| *at < last);
                self.conf_waiters = pending;
                for (_, r) in done {
                    let _ = r.send(Ok(last));
                }
                self.transport.retain(&self.members(), &self.node.status());
            }
            if !self.node.is_leader() {
                // Proposals in flight on a deposed leader may or may not
                // commit; their callers get a clear answer rather than a
                // timeout, and can retry with the same request id.
                let lost = self.not_leader();
                for (_, r) in self.waiters.drain() {
                    let _ = r.send(Err(lost.clone()));
                }
            }
            match self.node.promote_caught_up_learners(PROMOTE_LAG) {
                Ok(Some(id)) => {
                    tracing::info!(node = id, "learner caught up: proposing it as a voter")
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("cannot promote a learner: {e}"),
            }
            self.publish_status();
        }
        tracing::info!("raft thread stopped");
        Ok(())
    }

    fn publish_status(&mut self) {
        let st = self.node.status();
        // raft-rs logs its internals at DEBUG; role changes belong at INFO.
        let seen = (st.role, st.leader_id);
        if self.last_role != Some(seen) {
            use trunkline_cluster::node::Role;
            match st.role {
                Role::Leader => tracing::info!(term = st.term, "this node is the leader"),
                Role::Follower if st.leader_id != 0 => {
                    tracing::info!(
                        term = st.term,
                        leader = st.leader_id,
                        "following node {}",
                        st.leader_id
                    )
                }
                _ => tracing::debug!(term = st.term, role = ?st.role, "no leader known"),
            }
            self.last_role = Some(seen);
        }
        self.metrics.observe_raft(&st, &self.node.view().load());
        self.status.send_replace(StoreStatus {
            raft: st,
            members: self.members(),
            removed_members: self.node.state().removed().clone(),
            removed: self.removed.clone(),
        });
    }
}
