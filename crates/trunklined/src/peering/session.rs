//! One task per configured peer on each node: it owns the session state
//! machine, the stream (dialled or accepted), the peer's Adj-RIB-Out, and
//! turns what the peer sends into replicated writes. Writes go through a
//! second task in order, so a slow commit slows the peer (through stream
//! flow control) rather than reordering anything.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use trunkline_cluster::Command;
use trunkline_cluster::peers::SessionMark;
use trunkline_cluster::state::Changes;
use trunkline_core::{Attrs, Itad, PlanId, Plans, Prefix};
use trunkline_peering::message::{Code, Message};
use trunkline_peering::policy::{self, MaxPrefixAction, Rejected};
use trunkline_peering::session::{Config, Input, Negotiated, Output, Session, State};
use trunkline_proto::peering::v1 as pb;

use super::config::{Peer, PeeringSection};
use super::convert::{self, Msg};
use super::export::{AdjRibOut, Diff};
use crate::store::StoreHandle;

/// Routes per Update sent.
const UPDATE_ROUTES: usize = 1_000;
/// Largest peering message, both ways.
pub const MAX_MESSAGE: usize = 16 << 20;
/// Routes gathered into one replicated write, at most.
const WRITE_ROUTES: usize = 50_000;

/// What every session of a node shares.
#[derive(Debug)]
pub struct Context {
    pub store: StoreHandle,
    pub node_id: u64,
    pub itad: Itad,
    pub name: String,
    pub plans: Plans,
    pub settings: PeeringSection,
    pub metrics: crate::metrics::Metrics,
}

/// A stream the peer opened, its Open already read.
#[derive(Debug)]
pub struct Inbound {
    pub open: pb::Open,
    pub rx: tonic::Streaming<pb::PeerMessage>,
    pub tx: mpsc::Sender<pb::PeerMessage>,
    pub remote: Option<SocketAddr>,
}

#[derive(Debug)]
pub enum Control {
    Inbound(Box<Inbound>),
    /// Whether this node dials the peer.
    SetActive(bool),
    /// The replicated registration of the peer's session changed.
    Registry(Option<SessionMark>),
    Reset,
    Refresh,
    Status(oneshot::Sender<SessionStatus>),
    /// Close with a Notification and end the task.
    Stop(Code, String),
}

/// A session as `neighbor show` reports it.
#[derive(Debug, Clone)]
pub struct SessionStatus {
    pub state: State,
    pub active: bool,
    pub remote: Option<String>,
    pub last_error: Option<String>,
    pub established_secs: Option<u64>,
    pub negotiated: Option<Negotiated>,
    pub received: u64,
    pub advertised: usize,
}

#[derive(Debug)]
enum Event {
    Dialed {
        generation: u64,
        result: Result<
            (
                mpsc::Sender<pb::PeerMessage>,
                tonic::Streaming<pb::PeerMessage>,
            ),
            String,
        >,
    },
    Received {
        generation: u64,
        msg: Result<pb::PeerMessage, String>,
    },
    WriteFailed(String),
}

/// The stream in use.
#[derive(Debug)]
struct Link {
    generation: u64,
    tx: mpsc::Sender<pb::PeerMessage>,
    reader: Option<JoinHandle<()>>,
    remote: Option<String>,
    outbound: bool,
}

impl Link {
    /// Ends our side of the stream but keeps reading for a moment, so a
    /// Notification just queued reaches the peer before the stream is torn
    /// down (dropping the response of a dialled stream resets it).
    fn close(mut self) {
        if let Some(reader) = self.reader.take() {
            tokio::spawn(async move {
                let mut reader = reader;
                if tokio::time::timeout(Duration::from_secs(2), &mut reader)
                    .await
                    .is_err()
                {
                    reader.abort();
                }
            });
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(r) = &self.reader {
            r.abort();
        }
    }
}

/// Replicated writes of one session, applied in order.
#[derive(Debug)]
enum Write {
    Up {
        outbound: bool,
    },
    Routes {
        announce: Vec<(Prefix, Arc<Attrs>)>,
        withdraw: Vec<Prefix>,
        rejected: Vec<trunkline_cluster::command::Refused>,
    },
    EndOfRib(PlanId),
    Down {
        graceful: bool,
    },
    Sweep,
}

/// The owner's handle. Dropping it ends the task at once: the stream
/// closes without a Notification, so the peer keeps our routes for its
/// graceful-restart time (what a node shutdown wants).
#[derive(Debug)]
pub struct Handle {
    pub tx: mpsc::Sender<Control>,
    pub peer: Peer,
    task: JoinHandle<()>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Handle {
    /// Closes the session with a Notification and waits for the task.
    pub async fn stop(mut self, code: Code, reason: &str) {
        let _ = self.tx.send(Control::Stop(code, reason.to_owned())).await;
        let _ = tokio::time::timeout(Duration::from_secs(3), &mut self.task).await;
    }
}

pub fn spawn(ctx: Arc<Context>, peer: Peer, active: bool) -> Handle {
    let (tx, rx) = mpsc::channel(64);
    let (events_tx, events) = mpsc::channel(256);
    let (writes, writes_rx) = mpsc::channel(64);
    let (epoch_tx, epoch) = watch::channel(None);
    let writer = tokio::spawn(writer(
        ctx.clone(),
        peer.name().to_owned(),
        writes_rx,
        events_tx.clone(),
        epoch_tx,
    ));
    let s = &ctx.settings;
    let cfg = Config {
        itad: ctx.itad,
        name: ctx.name.clone(),
        peer_itad: peer.section.itad,
        hold_secs: peer.section.hold_secs.unwrap_or(s.hold_secs),
        plans: ctx
            .plans
            .iter()
            .map(|(id, _)| ctx.plans.name(id).to_owned())
            .collect(),
        graceful_restart_secs: (s.restart_secs > 0).then_some(s.restart_secs),
        route_refresh: true,
        password: peer.section.password.clone(),
        active: active && !peer.section.addresses.is_empty(),
        open_timeout_ms: 30_000,
        retry_min_ms: s.connect_retry_ms,
        retry_max_ms: s.connect_retry_max_ms,
    };
    let task = SessionTask {
        ctx,
        label: crate::metrics::NeighborLabels {
            neighbor: peer.name().to_owned(),
        },
        peer: peer.clone(),
        fsm: Session::new(cfg),
        base: Instant::now(),
        control: rx,
        events,
        events_tx,
        writes,
        writer,
        epoch,
        link: None,
        generation: 0,
        dialer: None,
        dials: 0,
        carried: Vec::new(),
        negotiated: None,
        established_at: None,
        changes: None,
        pending: HashSet::new(),
        resync: false,
        flush_at: None,
        sweep_at: None,
        adj_out: AdjRibOut::default(),
        accepted: HashSet::new(),
        received: 0,
        rejected: 0,
    };
    Handle {
        tx,
        peer,
        task: tokio::spawn(task.run()),
    }
}

struct SessionTask {
    ctx: Arc<Context>,
    peer: Peer,
    /// The peer's name as a metric label.
    label: crate::metrics::NeighborLabels,
    fsm: Session,
    /// Time zero of the state machine's clock.
    base: Instant,
    control: mpsc::Receiver<Control>,
    events: mpsc::Receiver<Event>,
    events_tx: mpsc::Sender<Event>,
    writes: mpsc::Sender<Write>,
    writer: JoinHandle<()>,
    epoch: watch::Receiver<Option<u64>>,
    link: Option<Link>,
    generation: u64,
    dialer: Option<JoinHandle<()>>,
    dials: usize,
    carried: Vec<PlanId>,
    negotiated: Option<Negotiated>,
    established_at: Option<Instant>,
    changes: Option<broadcast::Receiver<Arc<Changes>>>,
    pending: HashSet<Prefix>,
    resync: bool,
    flush_at: Option<Instant>,
    sweep_at: Option<Instant>,
    adj_out: AdjRibOut,
    /// Prefixes accepted in this session, kept only under a prefix limit.
    accepted: HashSet<Prefix>,
    received: u64,
    rejected: u64,
}

impl Drop for SessionTask {
    fn drop(&mut self) {
        self.writer.abort();
        if let Some(d) = &self.dialer {
            d.abort();
        }
    }
}

/// Waits for the next change batch, or forever without a subscription.
async fn next_change(
    rx: &mut Option<broadcast::Receiver<Arc<Changes>>>,
) -> Result<Arc<Changes>, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl SessionTask {
    fn now(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    async fn run(mut self) {
        self.step(Input::Start).await;
        loop {
            let deadline = self
                .fsm
                .next_deadline()
                .map(|ms| self.base + Duration::from_millis(ms));
            tokio::select! {
                c = self.control.recv() => match c {
                    Some(Control::Stop(code, why)) => {
                        self.step(Input::Stop(code, why)).await;
                        self.drain_writes().await;
                        return;
                    }
                    Some(c) => self.on_control(c).await,
                    None => return,
                },
                Some(ev) = self.events.recv() => self.on_event(ev).await,
                () = sleep_until(deadline) => self.step(Input::Tick).await,
                c = next_change(&mut self.changes) => self.on_changes(c),
                () = sleep_until(self.flush_at) => self.flush().await,
                () = sleep_until(self.sweep_at) => {
                    self.sweep_at = None;
                    let _ = self.writes.send(Write::Sweep).await;
                }
            }
        }
    }

    async fn on_control(&mut self, c: Control) {
        match c {
            Control::Inbound(inbound) => self.accept(*inbound).await,
            Control::SetActive(active) => {
                let active = active && !self.peer.section.addresses.is_empty();
                self.step(Input::Activate(active)).await;
            }
            Control::Registry(mark) => {
                let mine = *self.epoch.borrow();
                if let (Some(mark), Some(mine)) = (mark, mine)
                    && mark.up
                    && mark.epoch > mine
                    && self.fsm.state() == State::Established
                {
                    let why = format!("superseded by a session on node {}", mark.node);
                    self.step(Input::Stop(Code::ConnectionCollision, why)).await;
                }
            }
            Control::Reset => {
                self.step(Input::Stop(
                    Code::AdminReset,
                    "reset by the operator".into(),
                ))
                .await;
            }
            Control::Refresh => {
                self.step(Input::Send(Message::RouteRefresh { plan: None }))
                    .await;
            }
            Control::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Control::Stop(..) => unreachable!("handled by the loop"),
        }
    }

    /// Lets the writer finish what is queued (the SessionDown of a stop).
    async fn drain_writes(&mut self) {
        let (tx, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.writes, tx));
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.writer).await;
    }

    fn status(&self) -> SessionStatus {
        SessionStatus {
            state: self.fsm.state(),
            active: self.fsm.config().active,
            remote: self.link.as_ref().and_then(|l| l.remote.clone()),
            last_error: self.fsm.last_error().map(str::to_owned),
            established_secs: self.established_at.map(|t| t.elapsed().as_secs()),
            negotiated: self.negotiated.clone(),
            received: self.received,
            advertised: self.adj_out.len(),
        }
    }

    async fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Dialed { generation, result } if generation == self.generation => {
                self.dialer = None;
                match result {
                    Ok((tx, rx)) => {
                        let addr = self.dial_addr(self.dials.wrapping_sub(1));
                        self.attach(tx, rx, Some(addr), true);
                        self.step(Input::Connected).await;
                    }
                    Err(e) => {
                        tracing::info!(peer = %self.peer.name(), "dial failed: {e}");
                        self.step(Input::ConnectFailed(e)).await;
                    }
                }
            }
            Event::Received { generation, msg }
                if self
                    .link
                    .as_ref()
                    .is_some_and(|l| l.generation == generation) =>
            {
                let input = match msg {
                    Ok(m) => match convert::from_proto(m) {
                        Ok(m) => Input::Received(m),
                        Err(e) => Input::Malformed(e),
                    },
                    Err(why) => Input::Closed(why),
                };
                self.step(input).await;
            }
            Event::WriteFailed(why) => {
                let why = format!("cannot commit the peer's routes: {why}");
                tracing::warn!(peer = %self.peer.name(), "{why}");
                self.step(Input::Stop(Code::AdminReset, why)).await;
            }
            // From a stream or dial already given up.
            _ => {}
        }
    }

    fn dial_addr(&self, n: usize) -> String {
        let addrs = &self.peer.section.addresses;
        addrs[n % addrs.len().max(1)].clone()
    }

    fn dial(&mut self) {
        if self.peer.section.addresses.is_empty() {
            return;
        }
        self.generation += 1;
        let generation = self.generation;
        let addr = self.dial_addr(self.dials);
        self.dials += 1;
        let events = self.events_tx.clone();
        if let Some(d) = self.dialer.take() {
            d.abort();
        }
        self.dialer = Some(tokio::spawn(async move {
            let result = dial(&addr).await;
            let _ = events.send(Event::Dialed { generation, result }).await;
        }));
    }

    fn attach(
        &mut self,
        tx: mpsc::Sender<pb::PeerMessage>,
        mut rx: tonic::Streaming<pb::PeerMessage>,
        remote: Option<String>,
        outbound: bool,
    ) {
        if self.link.is_none() || !outbound {
            self.generation += 1;
        }
        let generation = self.generation;
        let events = self.events_tx.clone();
        let reader = tokio::spawn(async move {
            loop {
                let msg = match rx.message().await {
                    Ok(Some(m)) => Ok(m),
                    Ok(None) => Err("closed by the peer".to_owned()),
                    Err(s) => Err(format!("{}: {}", s.code(), s.message())),
                };
                let end = msg.is_err();
                if events
                    .send(Event::Received { generation, msg })
                    .await
                    .is_err()
                    || end
                {
                    return;
                }
            }
        });
        self.link = Some(Link {
            generation,
            tx,
            reader: Some(reader),
            remote,
            outbound,
        });
    }

    /// A stream the peer opened. Two streams at once (both sides dialled)
    /// keep the one dialled by the higher ITAD, as BGP keeps the one from
    /// the higher identifier.
    async fn accept(&mut self, inbound: Inbound) {
        let busy = !matches!(self.fsm.state(), State::Idle | State::Connect);
        if busy {
            let ours_wins = self.link.as_ref().is_some_and(|l| l.outbound)
                && self.ctx.itad > self.peer.section.itad;
            if ours_wins {
                let n = Message::Notification(trunkline_peering::Notification {
                    code: Code::ConnectionCollision,
                    reason: "a session dialled by the higher ITAD is already up".into(),
                });
                let _ = inbound.tx.send(convert::to_proto(n)).await;
                return;
            }
            self.step(Input::Stop(
                Code::ConnectionCollision,
                "the peer's own stream wins".into(),
            ))
            .await;
        }
        if let Some(d) = self.dialer.take() {
            d.abort();
            self.step(Input::ConnectFailed("the peer connected first".into()))
                .await;
        }
        self.attach(
            inbound.tx,
            inbound.rx,
            inbound.remote.map(|a| a.to_string()),
            false,
        );
        self.step(Input::Connected).await;
        let open = Message::Open(convert::open_from_proto(inbound.open));
        self.step(Input::Received(open)).await;
    }

    /// Feeds the state machine and carries out what it says.
    async fn step(&mut self, input: Input<pb::Update>) {
        let mut queue = std::collections::VecDeque::from([input]);
        while let Some(input) = queue.pop_front() {
            let now = self.now();
            for out in self.fsm.handle(now, input) {
                if let Some(next) = self.output(out).await {
                    queue.push_back(next);
                }
            }
        }
    }

    /// Carries out one output; may produce a further input (a limit hit
    /// while importing closes the session).
    async fn output(&mut self, out: Output<pb::Update>) -> Option<Input<pb::Update>> {
        match out {
            Output::Send(m) => {
                if let Some(l) = &self.link {
                    // A closed stream shows up as a Received error.
                    let _ = l.tx.send(convert::to_proto(m)).await;
                }
            }
            Output::Dial => self.dial(),
            Output::Close => {
                if let Some(l) = self.link.take() {
                    l.close();
                }
                if let Some(d) = self.dialer.take() {
                    d.abort();
                }
            }
            Output::Established(neg) => return self.established(neg).await,
            Output::Down(d) => {
                tracing::info!(peer = %self.peer.name(), graceful = d.graceful, "session down: {}", d.reason);
                let restart = self.negotiated.as_ref().and_then(|n| n.peer_restart_secs);
                let _ = self
                    .writes
                    .send(Write::Down {
                        graceful: d.graceful,
                    })
                    .await;
                if d.graceful
                    && let Some(secs) = restart
                {
                    self.sweep_at = Some(Instant::now() + Duration::from_secs(secs.into()));
                }
                self.negotiated = None;
                self.established_at = None;
                self.up_gauge().set(0);
                self.changes = None;
                self.pending.clear();
                self.flush_at = None;
                self.adj_out = AdjRibOut::default();
            }
            Output::Update(u) => return self.import(u).await,
            Output::EndOfRib(plan) => {
                if let Some(id) = self.ctx.plans.by_name(&plan) {
                    let _ = self.writes.send(Write::EndOfRib(id)).await;
                }
            }
            Output::RefreshRequested(plan) => {
                let plans: Vec<PlanId> = match plan {
                    Some(p) => self.ctx.plans.by_name(&p).into_iter().collect(),
                    None => self.carried.clone(),
                };
                return self.dump(&plans, true).await;
            }
        }
        None
    }

    async fn established(&mut self, neg: Negotiated) -> Option<Input<pb::Update>> {
        tracing::info!(peer = %self.peer.name(), hold = neg.hold_secs, plans = ?neg.plans, "session established");
        self.carried = neg
            .plans
            .iter()
            .filter_map(|p| self.ctx.plans.by_name(p))
            .collect();
        self.negotiated = Some(neg);
        self.established_at = Some(Instant::now());
        self.up_gauge().set(1);
        self.accepted.clear();
        let outbound = self.link.as_ref().is_some_and(|l| l.outbound);
        let _ = self.writes.send(Write::Up { outbound }).await;
        // Subscribe before reading the table, so nothing falls between.
        self.changes = Some(self.ctx.store.subscribe_changes());
        self.adj_out = AdjRibOut::default();
        let carried = self.carried.clone();
        self.dump(&carried, false).await
    }

    /// Sends everything of `plans`, then End-of-RIB for each.
    async fn dump(&mut self, plans: &[PlanId], forget: bool) -> Option<Input<pb::Update>> {
        let view = self.ctx.store.view().load_full();
        let mut diff = Diff::default();
        self.adj_out.full(
            &view,
            &self.peer.policy,
            self.ctx.itad,
            plans,
            forget,
            &mut diff,
        );
        self.send_diff(diff).await;
        for p in plans {
            let plan = self.ctx.plans.name(*p).to_owned();
            self.step_send(Message::EndOfRib { plan }).await;
        }
        None
    }

    fn on_changes(&mut self, c: Result<Arc<Changes>, broadcast::error::RecvError>) {
        match c {
            Ok(c) => {
                if c.resync {
                    self.resync = true;
                } else {
                    self.pending.extend(c.prefixes.iter().copied());
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::info!(peer = %self.peer.name(), missed = n, "fell behind the change feed: comparing the whole table");
                self.resync = true;
            }
            Err(broadcast::error::RecvError::Closed) => {
                self.changes = None;
                return;
            }
        }
        if self.flush_at.is_none() {
            self.flush_at =
                Some(Instant::now() + Duration::from_millis(self.ctx.settings.batch_ms));
        }
    }

    /// Sends what changed since the last flush.
    async fn flush(&mut self) {
        self.flush_at = None;
        if self.fsm.state() != State::Established {
            self.pending.clear();
            return;
        }
        let view = self.ctx.store.view().load_full();
        let mut diff = Diff::default();
        let carried = self.carried.clone();
        if std::mem::take(&mut self.resync) {
            self.pending.clear();
            self.adj_out.full(
                &view,
                &self.peer.policy,
                self.ctx.itad,
                &carried,
                false,
                &mut diff,
            );
        } else {
            let pending = std::mem::take(&mut self.pending);
            self.adj_out.update(
                &view,
                &self.peer.policy,
                self.ctx.itad,
                &carried,
                pending,
                &mut diff,
            );
        }
        self.send_diff(diff).await;
    }

    async fn send_diff(&mut self, diff: Diff) {
        if diff.is_empty() {
            return;
        }
        let plans = self.ctx.plans.clone();
        let mut withdraw: Vec<String> = diff.withdraw.iter().map(|p| plans.prefix_str(p)).collect();
        for chunk in diff.announce.chunks(UPDATE_ROUTES) {
            let u = pb::Update {
                announce: chunk
                    .iter()
                    .map(|a| convert::path_route(&plans, a))
                    .collect(),
                withdraw: std::mem::take(&mut withdraw),
            };
            self.step_send(Message::Update(u)).await;
        }
        for chunk in withdraw.chunks(UPDATE_ROUTES * 5) {
            let u = pb::Update {
                announce: Vec::new(),
                withdraw: chunk.to_vec(),
            };
            self.step_send(Message::Update(u)).await;
        }
    }

    fn up_gauge(&self) -> prometheus_client::metrics::gauge::Gauge {
        self.ctx
            .metrics
            .peering_up
            .get_or_create(&self.label)
            .clone()
    }

    /// Sends through the state machine (which restarts the keepalive timer).
    async fn step_send(&mut self, m: Msg) {
        if matches!(m, Message::Update(_)) {
            self.ctx
                .metrics
                .peering_updates_sent
                .get_or_create(&self.label)
                .inc();
        }
        let now = self.now();
        for out in self.fsm.handle(now, Input::Send(m)) {
            if let Output::Send(m) = out
                && let Some(l) = &self.link
            {
                let _ = l.tx.send(convert::to_proto(m)).await;
            }
        }
    }

    /// Checks each received route against the peer's policy and hands
    /// the result to the writer.
    async fn import(&mut self, u: pb::Update) -> Option<Input<pb::Update>> {
        let plans = self.ctx.plans.clone();
        let mut announce = Vec::with_capacity(u.announce.len());
        let mut rejected = Vec::new();
        let mut shared: std::collections::HashMap<Attrs, Arc<Attrs>> =
            std::collections::HashMap::new();
        let rejected_before = self.rejected;
        self.ctx
            .metrics
            .peering_received
            .get_or_create(&self.label)
            .inc_by(u.announce.len() as u64);
        for r in &u.announce {
            self.received += 1;
            let a = match convert::announced(&plans, &self.carried, r) {
                Ok(a) => a,
                Err(why) => {
                    self.rejected += 1;
                    // Treat as withdraw (RFC 7606) when the prefix itself reads.
                    match plans.parse_prefix(&r.prefix) {
                        Ok(px) if self.carried.contains(&px.plan) => {
                            self.accepted.remove(&px);
                            rejected.push((px, why, None));
                        }
                        _ => tracing::info!(peer = %self.peer.name(), "unreadable route: {why}"),
                    }
                    continue;
                }
            };
            match policy::import(&self.peer.policy, self.ctx.itad, &a) {
                Ok(attrs) => {
                    if let Some((limit, action)) = self.peer.policy.max_prefixes
                        && !self.accepted.contains(&a.prefix)
                        && self.accepted.len() >= limit
                    {
                        match action {
                            MaxPrefixAction::Refuse => {
                                self.rejected += 1;
                                let sent = Arc::new(policy::as_received(&self.peer.policy, &a));
                                rejected.push((
                                    a.prefix,
                                    Rejected::MaxPrefixes(limit).to_string(),
                                    Some(sent),
                                ));
                                continue;
                            }
                            MaxPrefixAction::Close => {
                                let why = format!("more than {limit} prefixes");
                                tracing::warn!(peer = %self.peer.name(), "{why}: closing the session");
                                return Some(Input::Stop(Code::MaxPrefixes, why));
                            }
                        }
                    }
                    if self.peer.policy.max_prefixes.is_some() {
                        // Only a limit needs the set; a full table without
                        // one does not pay for it.
                        self.accepted.insert(a.prefix);
                    }
                    let attrs = shared
                        .entry(attrs.clone())
                        .or_insert_with(|| Arc::new(attrs))
                        .clone();
                    announce.push((a.prefix, attrs));
                }
                Err(why) => {
                    self.rejected += 1;
                    self.accepted.remove(&a.prefix);
                    let sent = Arc::new(policy::as_received(&self.peer.policy, &a));
                    rejected.push((a.prefix, why.to_string(), Some(sent)));
                }
            }
        }
        self.ctx
            .metrics
            .peering_rejected
            .get_or_create(&self.label)
            .inc_by(self.rejected - rejected_before);
        let mut withdraw = Vec::with_capacity(u.withdraw.len());
        for w in &u.withdraw {
            match plans.parse_prefix(w) {
                Ok(px) if self.carried.contains(&px.plan) => {
                    self.accepted.remove(&px);
                    withdraw.push(px);
                }
                _ => tracing::info!(peer = %self.peer.name(), "ignoring withdrawal of {w:?}"),
            }
        }
        let _ = self
            .writes
            .send(Write::Routes {
                announce,
                withdraw,
                rejected,
            })
            .await;
        None
    }
}

/// Opens a session stream to `addr`.
async fn dial(
    addr: &str,
) -> Result<
    (
        mpsc::Sender<pb::PeerMessage>,
        tonic::Streaming<pb::PeerMessage>,
    ),
    String,
> {
    let endpoint = tonic::transport::Endpoint::from_shared(addr.to_owned())
        .map_err(|e| format!("{addr}: {e}"))?
        .connect_timeout(Duration::from_secs(3))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(5))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut client = pb::peering_client::PeeringClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let (tx, rx) = mpsc::channel(256);
    let stream = client
        .session(ReceiverStream::new(rx))
        .await
        .map_err(|s| format!("{addr}: {}: {}", s.code(), s.message()))?
        .into_inner();
    Ok((tx, stream))
}

/// Applies a session's writes in order. Consecutive route writes waiting
/// in the queue go out as one command (a full table arrives as thousands
/// of Updates; this makes it a few dozen log entries).
async fn writer(
    ctx: Arc<Context>,
    peer: String,
    mut rx: mpsc::Receiver<Write>,
    events: mpsc::Sender<Event>,
    epoch_tx: watch::Sender<Option<u64>>,
) {
    let mut next: Option<Write> = None;
    loop {
        let w = match next.take() {
            Some(w) => w,
            None => match rx.recv().await {
                Some(w) => w,
                None => return,
            },
        };
        let epoch = *epoch_tx.borrow();
        let command = match w {
            Write::Up { outbound } => Command::SessionUp {
                peer: peer.clone(),
                node: ctx.node_id,
                outbound,
            },
            Write::Routes {
                mut announce,
                mut withdraw,
                mut rejected,
            } => {
                // Merge while order cannot matter: the state machine
                // applies announcements, then withdrawals, then refusals,
                // so a later announcement of a prefix already withdrawn
                // or refused in this batch must wait for the next one.
                let mut removed: HashSet<Prefix> = withdraw
                    .iter()
                    .chain(rejected.iter().map(|(p, ..)| p))
                    .copied()
                    .collect();
                while announce.len() + withdraw.len() + rejected.len() < WRITE_ROUTES {
                    match rx.try_recv() {
                        Ok(Write::Routes {
                            announce: a,
                            withdraw: w,
                            rejected: r,
                        }) if !a.iter().any(|(p, _)| removed.contains(p)) => {
                            removed.extend(w.iter().copied());
                            removed.extend(r.iter().map(|(p, ..)| *p));
                            announce.extend(a);
                            withdraw.extend(w);
                            rejected.extend(r);
                        }
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let Some(epoch) = epoch else { continue };
                Command::PeerRoutes {
                    peer: peer.clone(),
                    epoch,
                    announce,
                    withdraw,
                    rejected,
                }
            }
            Write::EndOfRib(plan) => {
                let Some(epoch) = epoch else { continue };
                Command::EndOfRib {
                    peer: peer.clone(),
                    epoch,
                    plan,
                }
            }
            Write::Down { graceful } => {
                let Some(epoch) = epoch else { continue };
                epoch_tx.send_replace(None);
                Command::SessionDown {
                    peer: peer.clone(),
                    epoch,
                    graceful,
                }
            }
            Write::Sweep => Command::SweepStale { peer: peer.clone() },
        };
        let is_up = matches!(command, Command::SessionUp { .. });
        match ctx.store.write(String::new(), command).await {
            Ok(c) => {
                if is_up {
                    let index = match c.outcome {
                        trunkline_cluster::Outcome::Duplicate { index, .. } => index,
                        _ => c.index,
                    };
                    epoch_tx.send_replace(Some(index));
                }
            }
            Err(e) => {
                let _ = events.send(Event::WriteFailed(e.to_string())).await;
            }
        }
    }
}
