//! The peering manager: one task per node that keeps a session task for
//! every configured peer (configs come from the replicated state), decides
//! which node dials (the leader, unless a live node already holds the
//! session), and hands streams peers open to the right session.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use trunkline_cluster::Command;
use trunkline_cluster::node::Role;
use trunkline_cluster::peers::{Peers, SessionMark};
use trunkline_peering::message::{Code, Message, Notification};

use super::config::{Peer, PeerSection};
use super::convert;
use super::session::{self, Context, Control, Handle, Inbound, SessionStatus};
use crate::metrics::Metrics;

#[derive(Debug)]
pub enum ManagerMsg {
    /// May a stream from this address be a peer at all?
    Admits {
        ip: IpAddr,
        reply: oneshot::Sender<bool>,
    },
    Inbound(Box<Inbound>),
    /// Operator requests for a session on this node.
    Reset {
        name: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Refresh {
        name: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Status {
        reply: oneshot::Sender<Vec<(Peer, Option<SessionStatus>)>>,
    },
}

/// Cheap to clone; talks to the manager task.
#[derive(Debug, Clone)]
pub struct ManagerHandle {
    tx: mpsc::Sender<ManagerMsg>,
}

impl ManagerHandle {
    pub async fn admits(&self, ip: IpAddr) -> bool {
        let (reply, rx) = oneshot::channel();
        let _ = self.tx.send(ManagerMsg::Admits { ip, reply }).await;
        rx.await.unwrap_or(false)
    }

    pub async fn inbound(&self, inbound: Inbound) {
        let _ = self.tx.send(ManagerMsg::Inbound(Box::new(inbound))).await;
    }

    pub async fn reset(&self, name: String) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        let _ = self.tx.send(ManagerMsg::Reset { name, reply }).await;
        rx.await.map_err(|_| "node stopping".to_owned())?
    }

    pub async fn refresh(&self, name: String) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        let _ = self.tx.send(ManagerMsg::Refresh { name, reply }).await;
        rx.await.map_err(|_| "node stopping".to_owned())?
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
}

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
                _ = janitor.tick() => self.janitor().await,
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
    }

    async fn on_msg(&mut self, msg: ManagerMsg) {
        match msg {
            ManagerMsg::Admits { ip, reply } => {
                let ok = self.sessions.values().any(|s| s.handle.peer.admits(ip));
                if !ok {
                    self.metrics
                        .peering_refused
                        .get_or_create(&refused("source"))
                        .inc();
                }
                let _ = reply.send(ok);
            }
            ManagerMsg::Inbound(inbound) => self.inbound(*inbound).await,
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

    async fn control(&self, name: &str, c: Control) -> Result<(), String> {
        let s = self
            .sessions
            .get(name)
            .ok_or_else(|| format!("no peer named {name:?}"))?;
        s.handle
            .tx
            .send(c)
            .await
            .map_err(|_| "session task stopped".to_owned())
    }

    /// Finds the configured peer for a stream by the ITAD in its Open.
    async fn inbound(&mut self, inbound: Inbound) {
        let itad = inbound.open.itad;
        let refuse = |code, reason: String| {
            let tx = inbound.tx.clone();
            async move {
                let n = Message::Notification(Notification { code, reason });
                let _ = tx.send(convert::to_proto(n)).await;
            }
        };
        let Some(s) = self
            .sessions
            .values()
            .find(|s| s.handle.peer.section.itad == itad)
        else {
            self.metrics
                .peering_refused
                .get_or_create(&refused("unknown-itad"))
                .inc();
            refuse(
                Code::BadPeerItad,
                format!("no peer with ITAD {itad} is configured"),
            )
            .await;
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
            refuse(Code::AuthFailed, why).await;
            return;
        }
        let _ = s.handle.tx.send(Control::Inbound(Box::new(inbound))).await;
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
    async fn janitor(&mut self) {
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
            self.reconcile().await;
        }
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
                    if self.ctx.store.write(String::new(), command).await.is_ok() {
                        self.closed.insert(key);
                    }
                }
            } else {
                let since = *self
                    .down_since
                    .entry(name.clone())
                    .or_insert_with(Instant::now);
                if since.elapsed() >= keep && !self.swept.contains(&key) {
                    let command = Command::SweepStale { peer: name.clone() };
                    if self.ctx.store.write(String::new(), command).await.is_ok() {
                        self.swept.insert(key);
                    }
                }
            }
        }
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
                Err(e) => tracing::warn!(peer = %name, "ignoring a peer this node cannot use: {e}"),
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
                s.handle.stop(code, why).await;
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
                        let _ = s.handle.tx.send(Control::SetActive(active)).await;
                    }
                    if s.mark != mark {
                        s.mark = mark;
                        let _ = s.handle.tx.send(Control::Registry(mark)).await;
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

fn refused(reason: &str) -> crate::metrics::ReasonLabel {
    crate::metrics::ReasonLabel {
        reason: reason.to_owned(),
    }
}
