//! The peering manager: one task per node that keeps a session task for
//! every configured peer (configs come from the replicated state), decides
//! which node dials (the leader, unless a live node already holds the
//! session), and hands streams peers open to the right session.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use trunkline_cluster::Command;
use trunkline_cluster::node::Role;
use trunkline_cluster::peers::{Peers, SessionMark};
use trunkline_peering::message::{Code, Message, Notification};

use super::config::{Peer, PeerSection};
use super::convert;
use super::opening::Opening;
use super::session::Certified;
use super::session::{self, Context, Control, Handle, Inbound, SessionStatus};
use crate::metrics::Metrics;

#[derive(Debug)]
pub enum ManagerMsg {
    /// May a stream from this address, with this certificate, be a
    /// configured peer? Err says why not.
    Admits {
        ip: Option<IpAddr>,
        cert: Option<Certified>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// A stream whose Open is still to be read.
    Opening(Box<Opening>),
    /// Operator requests for a session on this node.
    Reset {
        name: String,
        reply: oneshot::Sender<Result<(), ControlError>>,
    },
    Refresh {
        name: String,
        reply: oneshot::Sender<Result<(), ControlError>>,
    },
    Status {
        reply: oneshot::Sender<Vec<(Peer, Option<SessionStatus>)>>,
    },
}

/// Why a request for a session could not be handed over.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("no peer named {0:?} on this node")]
    NoSuchPeer(String),
    #[error("the node is stopping")]
    Stopping,
    #[error("the session took no request for {0:?}")]
    Busy(Duration),
}

/// Cheap to clone; talks to the manager task.
#[derive(Debug, Clone)]
pub struct ManagerHandle {
    tx: mpsc::Sender<ManagerMsg>,
}

impl ManagerHandle {
    pub async fn admits(&self, ip: Option<IpAddr>, cert: Option<Certified>) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        let _ = self.tx.send(ManagerMsg::Admits { ip, cert, reply }).await;
        rx.await
            .unwrap_or_else(|_| Err("the node is stopping".into()))
    }

    pub async fn opening(&self, opening: Opening) {
        let _ = self.tx.send(ManagerMsg::Opening(Box::new(opening))).await;
    }

    pub async fn reset(&self, name: String) -> Result<(), ControlError> {
        let (reply, rx) = oneshot::channel();
        let _ = self.tx.send(ManagerMsg::Reset { name, reply }).await;
        rx.await.map_err(|_| ControlError::Stopping)?
    }

    pub async fn refresh(&self, name: String) -> Result<(), ControlError> {
        let (reply, rx) = oneshot::channel();
        let _ = self.tx.send(ManagerMsg::Refresh { name, reply }).await;
        rx.await.map_err(|_| ControlError::Stopping)?
    }

    /// Configured peers with this node's session state for each.
    pub async fn status(&self) -> Vec<(Peer, Option<SessionStatus>)> {
        let (reply, rx) = oneshot::channel();
        let _ = self.tx.send(ManagerMsg::Status { reply }).await;
        rx.await.unwrap_or_default()
    }
}

struct Manager {
    ctx: Arc<Context>,
    metrics: Metrics,
    rx: mpsc::Receiver<ManagerMsg>,
    sessions: BTreeMap<String, Running>,
    /// What the last reconcile saw, to skip work when nothing changed.
    seen: Option<(Arc<Peers>, bool, Vec<u64>)>,
    /// On the leader: members not heard from, since when.
    silent_since: HashMap<u64, Instant>,
    /// On the leader: peers whose session is down, since when.
    down_since: HashMap<String, Instant>,
    /// Sessions (peer, epoch) closed on a dead node's behalf.
    closed: HashSet<(String, u64)>,
    /// Sessions (peer, epoch) whose stale routes were swept.
    swept: HashSet<(String, u64)>,
    /// Members died or came back: reconcile after the janitor's round.
    reconcile_soon: bool,
    /// The janitor's writes, made off the manager's loop.
    janitor_writes: Option<JoinHandle<Vec<Cleaned>>>,
    /// Sessions being stopped (each waits, a bounded time, for its task).
    stopping: JoinSet<()>,
    /// Streams whose Open is being read (each for a bounded time).
    opening: JoinSet<Option<Inbound>>,
}

/// What a janitor write did.
#[derive(Debug)]
enum Cleaned {
    Closed((String, u64)),
    Swept((String, u64)),
}

/// How long the manager waits to hand a session a request.
const CONTROL_WAIT: Duration = Duration::from_secs(1);

/// A member silent this long is taken for dead: its sessions move.
const DEAD_AFTER: Duration = Duration::from_secs(3);

struct Running {
    handle: Handle,
    active: bool,
    mark: Option<SessionMark>,
}

/// Starts the manager; it stops when `stop` turns true.
pub fn start(
    ctx: Arc<Context>,
    metrics: Metrics,
    stop: watch::Receiver<bool>,
) -> (ManagerHandle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(64);
    let m = Manager {
        ctx,
        metrics,
        rx,
        sessions: BTreeMap::new(),
        seen: None,
        silent_since: HashMap::new(),
        down_since: HashMap::new(),
        closed: HashSet::new(),
        swept: HashSet::new(),
        reconcile_soon: false,
        janitor_writes: None,
        stopping: JoinSet::new(),
        opening: JoinSet::new(),
    };
    (ManagerHandle { tx }, tokio::spawn(m.run(stop)))
}

impl Manager {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut status = self.ctx.store.watch_status();
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        tokio::pin!(stopped);
        self.reconcile().await;
        let mut janitor = tokio::time::interval(Duration::from_secs(1));
        janitor.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = janitor.tick() => {
                    self.janitor();
                    if std::mem::take(&mut self.reconcile_soon) {
                        self.reconcile().await;
                    }
                }
                Some(done) = finished(&mut self.janitor_writes) => {
                    for c in done {
                        match c {
                            Cleaned::Closed(key) => self.closed.insert(key),
                            Cleaned::Swept(key) => self.swept.insert(key),
                        };
                    }
                }
                Some(_) = self.stopping.join_next() => {}
                Some(r) = self.opening.join_next() => {
                    if let Ok(Some(inbound)) = r {
                        self.inbound(inbound).await;
                    }
                }
                r = status.changed() => {
                    if r.is_err() {
                        break;
                    }
                    self.reconcile().await;
                }
                Some(msg) = self.rx.recv() => self.on_msg(msg).await,
                () = &mut stopped => break,
            }
        }
        // Node shutdown: streams just close, so peers keep our routes
        // (graceful restart) while this node restarts or another takes over.
        self.sessions.clear();
        self.stopping.abort_all();
        self.opening.abort_all();
        if let Some(t) = self.janitor_writes.take() {
            t.abort();
        }
    }

    async fn on_msg(&mut self, msg: ManagerMsg) {
        match msg {
            ManagerMsg::Admits { ip, cert, reply } => {
                let r = self.admits(ip, cert).await;
                let _ = reply.send(r);
            }
            ManagerMsg::Opening(o) => {
                self.opening.spawn(o.read_open());
            }
            ManagerMsg::Reset { name, reply } => {
                let r = self.control(&name, Control::Reset).await;
                let _ = reply.send(r);
            }
            ManagerMsg::Refresh { name, reply } => {
                let r = self.control(&name, Control::Refresh).await;
                let _ = reply.send(r);
            }
            ManagerMsg::Status { reply } => {
                // Each session publishes its status: reading it never
                // waits on a session.
                let out = self
                    .sessions
                    .values()
                    .map(|s| {
                        let st = s.handle.status.borrow().clone();
                        (s.handle.peer.clone(), st.state.is_some().then_some(st))
                    })
                    .collect();
                let _ = reply.send(out);
            }
        }
    }

    async fn admits(&self, ip: Option<IpAddr>, cert: Option<Certified>) -> Result<(), String> {
        if let Some(ip) = ip
            && !self.sessions.values().any(|s| s.handle.peer.admits(ip))
        {
            self.metrics
                .peering_refused
                .get_or_create(&refused("source"))
                .inc();
            return Err(format!("no peer may connect from {ip}"));
        }
        let Some((itad, name)) = cert else {
            return Ok(());
        };
        let section = |s: &Running| (s.handle.peer.section.itad, s.handle.peer.name().to_owned());
        if self
            .sessions
            .get(&name)
            .is_some_and(|s| section(s) == (itad, name.clone()))
        {
            return Ok(());
        }
        self.metrics
            .peering_refused
            .get_or_create(&refused("certificate"))
            .inc();
        // The peers it might have meant learn why, for `neighbor show`.
        let claimed: Vec<&Running> = self
            .sessions
            .values()
            .filter(|s| s.handle.peer.section.itad == itad || s.handle.peer.name() == name)
            .collect();
        let why = match claimed.first() {
            Some(s) => {
                let (i, n) = section(s);
                format!(
                    "refused a stream before its Open: its certificate is trunkline:peer:{itad}:{name}, \
                     but peer {n:?} is ITAD {i} (expected trunkline:peer:{i}:{n})"
                )
            }
            None => {
                format!("the certificate trunkline:peer:{itad}:{name} names no configured peer")
            }
        };
        for s in claimed {
            let _ = tell(&s.handle, Control::Refused(why.clone())).await;
        }
        Err(why)
    }

    async fn control(&self, name: &str, c: Control) -> Result<(), ControlError> {
        let s = self
            .sessions
            .get(name)
            .ok_or_else(|| ControlError::NoSuchPeer(name.to_owned()))?;
        tell(&s.handle, c).await
    }

    /// Finds the configured peer for a stream by the ITAD in its Open.
    async fn inbound(&mut self, inbound: Inbound) {
        let itad = inbound.open.itad;
        // A fresh stream has room for its one Notification.
        let refuse = |code, reason: String| {
            let n = Message::Notification(Notification { code, reason });
            let _ = inbound.tx.try_send(convert::to_proto(n));
        };
        let Some(s) = self
            .sessions
            .values()
            .find(|s| s.handle.peer.section.itad == itad)
            .filter(|s| {
                inbound
                    .cert
                    .as_ref()
                    .is_none_or(|(i, n)| *i == itad && n == s.handle.peer.name())
            })
        else {
            if let Some((i, n)) = &inbound.cert {
                self.metrics
                    .peering_refused
                    .get_or_create(&refused("certificate"))
                    .inc();
                let why =
                    format!("the Open says ITAD {itad}, the certificate trunkline:peer:{i}:{n}");
                tracing::warn!("peering stream refused: {why}");
                refuse(Code::AuthFailed, why);
                return;
            }
            self.metrics
                .peering_refused
                .get_or_create(&refused("unknown-itad"))
                .inc();
            refuse(
                Code::BadPeerItad,
                format!("no peer with ITAD {itad} is configured"),
            );
            return;
        };
        if let Some(addr) = inbound.remote
            && !s.handle.peer.admits(addr.ip())
        {
            self.metrics
                .peering_refused
                .get_or_create(&refused("source"))
                .inc();
            let why = format!(
                "{} may not connect as peer {}",
                addr.ip(),
                s.handle.peer.name()
            );
            tracing::warn!("{why}");
            refuse(Code::AuthFailed, why);
            return;
        }
        if let Err(e) = tell(&s.handle, Control::Inbound(Box::new(inbound))).await {
            tracing::warn!(peer = %s.handle.peer.name(), error = %e, "cannot hand over a stream");
        }
    }

    /// A member the leader has not heard from for [`DEAD_AFTER`].
    fn dead(&self, node: u64) -> bool {
        self.silent_since
            .get(&node)
            .is_some_and(|t| t.elapsed() >= DEAD_AFTER)
    }

    /// On the leader, once a second: notes silent members; closes, on
    /// their behalf, sessions held by members that died (their routes
    /// stay, stale, as in a graceful restart); sweeps the stale routes of
    /// peers still down after the restart time. Without this, routes of a
    /// peer that went away together with the node holding its session
    /// would stay forever.
    fn janitor(&mut self) {
        let st = self.ctx.store.status();
        if st.raft.role != Role::Leader {
            self.silent_since.clear();
            self.down_since.clear();
            return;
        }
        let was_dead: Vec<u64> = st
            .members
            .keys()
            .copied()
            .filter(|n| self.dead(*n))
            .collect();
        for node in st.members.keys() {
            if st.raft.live.contains(node) {
                self.silent_since.remove(node);
            } else {
                self.silent_since.entry(*node).or_insert_with(Instant::now);
            }
        }
        let now_dead: Vec<u64> = st
            .members
            .keys()
            .copied()
            .filter(|n| self.dead(*n))
            .collect();
        if now_dead != was_dead {
            self.seen = None;
            self.reconcile_soon = true;
        }
        if self.janitor_writes.is_some() {
            // The last round's writes are still going.
            return;
        }
        let mut writes: Vec<(Command, Cleaned)> = Vec::new();
        let view = self.ctx.store.view().load_full();
        let keep = Duration::from_secs(self.ctx.settings.restart_secs.into());
        for (name, mark) in &view.peers.sessions {
            let key = (name.clone(), mark.epoch);
            if mark.up {
                self.down_since.remove(name);
                if mark.node != self.ctx.node_id
                    && self.dead(mark.node)
                    && !self.closed.contains(&key)
                {
                    tracing::info!(peer = %name, node = mark.node, "the node holding the session is gone: keeping its routes stale");
                    let command = Command::SessionDown {
                        peer: name.clone(),
                        epoch: mark.epoch,
                        graceful: true,
                    };
                    writes.push((command, Cleaned::Closed(key)));
                }
            } else {
                let since = *self
                    .down_since
                    .entry(name.clone())
                    .or_insert_with(Instant::now);
                if since.elapsed() >= keep && !self.swept.contains(&key) {
                    let command = Command::SweepStale { peer: name.clone() };
                    writes.push((command, Cleaned::Swept(key)));
                }
            }
        }
        if writes.is_empty() {
            return;
        }
        // A write waits for commit (seconds, in an election): not on the
        // manager's loop, which answers streams and `neighbor list`.
        let store = self.ctx.store.clone();
        self.janitor_writes = Some(tokio::spawn(async move {
            let mut done = Vec::new();
            for (command, cleaned) in writes {
                if store.write(String::new(), command).await.is_ok() {
                    done.push(cleaned);
                }
            }
            done
        }));
    }

    /// Brings the session tasks in line with the replicated peer configs
    /// and with who should dial.
    async fn reconcile(&mut self) {
        let view = self.ctx.store.view().load_full();
        let st = self.ctx.store.status().raft;
        let leader = st.role == Role::Leader;
        if let Some((peers, was_leader, live)) = &self.seen
            && Arc::ptr_eq(peers, &view.peers)
            && *was_leader == leader
            && *live == st.live
        {
            return;
        }
        self.seen = Some((view.peers.clone(), leader, st.live.clone()));
        let mut wanted = BTreeMap::new();
        for (name, entry) in &view.peers.configs {
            match PeerSection::from_toml(&entry.config)
                .and_then(|s| s.resolve(&self.ctx.plans, self.ctx.itad))
            {
                Ok(p) => {
                    wanted.insert(name.clone(), p);
                }
                Err(e) => {
                    tracing::warn!(peer = %name, error = %e, "ignoring a peer this node cannot use")
                }
            }
        }
        let gone: Vec<String> = self
            .sessions
            .iter()
            .filter(|(name, s)| wanted.get(*name) != Some(&s.handle.peer))
            .map(|(name, _)| name.clone())
            .collect();
        for name in gone {
            if let Some(s) = self.sessions.remove(&name) {
                let (code, why) = if wanted.contains_key(&name) {
                    (Code::AdminReset, "peer configuration changed")
                } else {
                    (
                        Code::PeerDeconfigured,
                        "peer removed from the configuration",
                    )
                };
                tracing::info!(peer = %name, "{why}");
                self.stopping.spawn(s.handle.stop(code, why));
            }
        }
        for (name, peer) in wanted {
            let mark = view.peers.sessions.get(&name).copied();
            // The leader dials, unless a live node already holds the session.
            let held_elsewhere =
                mark.is_some_and(|m| m.up && m.node != self.ctx.node_id && !self.dead(m.node));
            let active = leader && !held_elsewhere;
            match self.sessions.get_mut(&name) {
                Some(s) => {
                    if s.active != active {
                        s.active = active;
                        let _ = tell(&s.handle, Control::SetActive(active)).await;
                    }
                    if s.mark != mark {
                        s.mark = mark;
                        let _ = tell(&s.handle, Control::Registry(mark)).await;
                    }
                }
                None => {
                    let handle = session::spawn(self.ctx.clone(), peer, active);
                    self.sessions.insert(
                        name,
                        Running {
                            handle,
                            active,
                            mark,
                        },
                    );
                }
            }
        }
    }
}

/// Hands a session a request, waiting a bounded time: sessions never wait
/// inside their handlers, so a full queue means a session gone wrong.
async fn tell(handle: &Handle, c: Control) -> Result<(), ControlError> {
    match tokio::time::timeout(CONTROL_WAIT, handle.tx.send(c)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(ControlError::Stopping),
        Err(_) => Err(ControlError::Busy(CONTROL_WAIT)),
    }
}

/// Waits for a task to finish (and forgets it), or forever without one.
async fn finished<T>(task: &mut Option<JoinHandle<T>>) -> Option<T> {
    let r = match task.as_mut() {
        Some(t) => t.await,
        None => std::future::pending().await,
    };
    *task = None;
    r.ok()
}

fn refused(reason: &str) -> crate::metrics::ReasonLabel {
    crate::metrics::ReasonLabel {
        reason: reason.to_owned(),
    }
}
