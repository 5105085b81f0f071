//! One task per configured peer on each node: it owns the session state
//! machine, the stream (`link.rs`, dialled or accepted), the peer's
//! Adj-RIB-Out, and turns what the peer sends (`import.rs`) into
//! replicated writes, made in order by a task of their own (`writer.rs`).
//!
//! The task never waits inside a handler: what goes to the peer waits in
//! the link's outbox, what goes to the store in a write queue, each moved
//! on as there is room. While the writes are backed up the task reads no
//! further from the peer, which is the backpressure; its timers, control
//! requests and status keep running throughout.

mod authority;
mod context;
mod export;
mod handle;
mod import;
mod link;
mod writer;

pub use context::{Certified, Context, MAX_MESSAGE, STREAM_QUEUE};
pub use handle::{Control, EstablishedStatus, Handle, Inbound, SessionStatus};

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use trunkline_cluster::state::Changes;
use trunkline_core::{PlanId, Prefix};
use trunkline_peering::message::{Authority, Code, Message};
use trunkline_peering::session::{Config, Input, Negotiated, Output, Session, State};
use trunkline_proto::peering::v1 as pb;

use self::authority::Exchange;
use self::export::Export;
use self::import::Imported;
use self::link::{Dialled, Ended, Link, Received};
use self::writer::Write;
use super::config::Peer;
use super::convert::{self, Msg};
use crate::store::WriteError;
use trunkline_peering::adj_out::Diff;
use trunkline_peering::pacing::Pacing;

/// Writes queued beyond the writer's channel before the session stops
/// reading from the peer.
const WRITE_BACKLOG: usize = 8;
/// How long a closing stream is still read, so a Notification reaches
/// the peer.
const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// How long a peer's routes wait for its authority snapshot to end.
const AUTHORITY_WAIT: Duration = Duration::from_secs(5);
/// How long nothing may go out while something waits, when the session
/// has no hold time.
const STUCK_WITHOUT_HOLD: Duration = Duration::from_secs(90);

/// Work for the task from its helpers.
#[derive(Debug)]
enum Event {
    Dialed {
        generation: u64,
        result: Result<Box<Dialled>, String>,
    },
    WriteFailed(WriteError),
}

impl From<WriteError> for Event {
    fn from(e: WriteError) -> Event {
        Event::WriteFailed(e)
    }
}

pub fn spawn(ctx: Arc<Context>, peer: Peer, active: bool) -> Handle {
    let (tx, rx) = mpsc::channel(64);
    let (events_tx, events) = mpsc::channel(16);
    let (received_tx, received) = mpsc::channel(STREAM_QUEUE);
    let (writes, writes_rx) = mpsc::channel(64);
    let (epoch_tx, epoch) = watch::channel(None);
    let (status_tx, status) = watch::channel(SessionStatus::default());
    let writer = tokio::spawn(writer::run(
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
        authority: true,
        authority_wait_ms: AUTHORITY_WAIT.as_millis() as u64,
        password: peer.section.password.clone(),
        active: active && !peer.section.addresses.is_empty(),
        open_timeout_ms: 30_000,
        retry_min_ms: s.connect_retry_ms,
        retry_max_ms: s.connect_retry_max_ms,
        max_updates_per_sec: peer
            .section
            .max_updates_per_sec
            .unwrap_or(s.max_updates_per_sec),
        update_burst: s.update_burst,
        hold_down_min_ms: u64::from(s.hold_down_secs) * 1000,
        hold_down_max_ms: u64::from(s.hold_down_max_secs) * 1000,
        hold_down_forget_ms: u64::from(s.hold_down_max_secs) * 1000,
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
        received,
        received_tx,
        writes,
        queued_writes: VecDeque::new(),
        writer,
        epoch,
        status: status_tx,
        link: None,
        closing: None,
        generation: 0,
        dialer: None,
        dials: 0,
        up: None,
        sweep_at: None,
        received_total: 0,
        refused: None,
    };
    Handle {
        tx,
        peer,
        status,
        task: tokio::spawn(task.run()),
    }
}

/// What only an established session holds; gone when it goes down.
#[derive(Debug)]
struct Up {
    since: Instant,
    negotiated: Negotiated,
    /// Plans both sides carry, as ids.
    carried: Vec<PlanId>,
    export: Export,
    /// Prefixes accepted in this session, kept only under a prefix limit.
    accepted: HashSet<Prefix>,
    /// Number authority sent and received.
    authority: Exchange,
    /// The federation's statements grew: a delta is due at the next flush.
    authority_due: bool,
}

/// A closed stream's reader, still draining until `until`.
#[derive(Debug)]
struct Closing {
    reader: JoinHandle<()>,
    until: Instant,
}

impl Drop for Closing {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

struct SessionTask {
    ctx: Arc<Context>,
    peer: Peer,
    /// The peer's name as a metric label.
    label: crate::metrics::NeighborLabels,
    fsm: Session<pb::Update>,
    /// Time zero of the state machine's clock.
    base: Instant,
    control: mpsc::Receiver<Control>,
    events: mpsc::Receiver<Event>,
    events_tx: mpsc::Sender<Event>,
    received: mpsc::Receiver<Received>,
    received_tx: mpsc::Sender<Received>,
    writes: mpsc::Sender<Write>,
    /// Writes waiting for room in the writer's channel.
    queued_writes: VecDeque<Write>,
    writer: JoinHandle<()>,
    epoch: watch::Receiver<Option<u64>>,
    status: watch::Sender<SessionStatus>,
    link: Option<Link>,
    closing: Option<Closing>,
    generation: u64,
    dialer: Option<JoinHandle<()>>,
    dials: usize,
    up: Option<Up>,
    sweep_at: Option<Instant>,
    received_total: u64,
    /// Why the last stream claiming to be this peer was refused before its
    /// Open; forgotten once a session is established.
    refused: Option<String>,
}

impl Drop for SessionTask {
    fn drop(&mut self) {
        self.writer.abort();
        if let Some(d) = &self.dialer {
            d.abort();
        }
    }
}

/// Waits for the next change batch, or forever without a session.
async fn next_change(up: &mut Option<Up>) -> Result<Arc<Changes>, broadcast::error::RecvError> {
    match up {
        Some(up) => up.export.next_change().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Waits until `tx` has room, or forever without one.
async fn room<T>(tx: Option<mpsc::Sender<T>>) -> Option<mpsc::OwnedPermit<T>> {
    match tx {
        Some(tx) => tx.reserve_owned().await.ok(),
        None => std::future::pending().await,
    }
}

impl SessionTask {
    fn now(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    /// The task's loop. Every branch is handled without waiting, except
    /// the bounded drain of the writer when the session is stopped.
    async fn run(mut self) {
        self.step(Input::Start);
        loop {
            self.publish_status();
            let deadline = self
                .fsm
                .next_deadline()
                .map(|ms| self.base + Duration::from_millis(ms));
            let reading = self.queued_writes.len() < WRITE_BACKLOG;
            let link_room = self.link.as_ref().and_then(Link::room);
            let write_room = (!self.queued_writes.is_empty()).then(|| self.writes.clone());
            let stuck_at = self.stuck_deadline();
            let flush_at = self.up.as_ref().and_then(|u| u.export.flush_at());
            let linger = self.closing.as_ref().map(|c| c.until);
            tokio::select! {
                c = self.control.recv() => match c {
                    Some(Control::Stop(code, why)) => {
                        self.step(Input::Stop(code, why));
                        self.drain_writes().await;
                        return;
                    }
                    Some(c) => self.on_control(c),
                    None => return,
                },
                Some(ev) = self.events.recv() => self.on_event(ev),
                Some(r) = self.received.recv(), if reading => self.on_received(r),
                () = sleep_until(deadline) => {
                    if !reading && !self.received.is_empty() {
                        // The peer's messages wait because this side is
                        // behind: the peer is alive.
                        self.step(Input::Pending);
                    }
                    self.step(Input::Tick);
                }
                c = next_change(&mut self.up) => self.on_changes(c),
                () = sleep_until(flush_at) => self.flush(),
                Some(permit) = room(link_room) => {
                    drop(permit);
                    self.pump();
                }
                Some(permit) = room(write_room) => {
                    if let Some(w) = self.queued_writes.pop_front() {
                        permit.send(w);
                    }
                }
                () = sleep_until(stuck_at) => {
                    let why = "the peer read nothing of what waited for it for the hold time";
                    tracing::warn!(peer = %self.peer.name(), "{why}: closing the stream");
                    self.step(Input::Closed(why.into()));
                }
                () = sleep_until(linger) => self.closing = None,
                () = sleep_until(self.sweep_at) => {
                    self.sweep_at = None;
                    self.write(Write::Sweep);
                }
            }
        }
    }

    /// When a link whose outbox does not move counts as dead.
    fn stuck_deadline(&self) -> Option<Instant> {
        let since = self.link.as_ref()?.stuck_since()?;
        let hold = self.up.as_ref().map_or(0, |u| u.negotiated.hold_secs);
        Some(
            since
                + if hold > 0 {
                    Duration::from_secs(hold.into())
                } else {
                    STUCK_WITHOUT_HOLD
                },
        )
    }

    fn publish_status(&self) {
        let status = SessionStatus {
            state: Some(self.fsm.state()),
            active: self.fsm.config().active,
            remote: self.link.as_ref().and_then(|l| l.remote.clone()),
            last_error: self
                .refused
                .clone()
                .or_else(|| self.fsm.last_error().map(str::to_owned)),
            established: self.up.as_ref().map(|u| EstablishedStatus {
                secs: u.since.elapsed().as_secs(),
                negotiated: u.negotiated.clone(),
                advertised: u.export.advertised(),
                authority_received: u.authority.received,
                authority_refused: u.authority.refused,
                authority_synced: self.fsm.authority_synced(),
            }),
            received: self.received_total,
        };
        // Nobody waits on it: readers borrow the latest.
        self.status.send_replace(status);
    }

    fn on_control(&mut self, c: Control) {
        match c {
            Control::Inbound(inbound) => self.accept(*inbound),
            Control::Refused(why) => {
                self.refused = Some(why);
                self.publish_status();
            }
            Control::SetActive(active) => {
                let active = active && !self.peer.section.addresses.is_empty();
                self.step(Input::Activate(active));
            }
            Control::Registry(mark) => {
                let mine = *self.epoch.borrow();
                if let (Some(mark), Some(mine)) = (mark, mine)
                    && mark.up
                    && mark.epoch > mine
                    && self.fsm.state() == State::Established
                {
                    let why = format!("superseded by a session on node {}", mark.node);
                    self.step(Input::Stop(Code::ConnectionCollision, why));
                }
            }
            Control::Reset => {
                self.step(Input::Stop(
                    Code::AdminReset,
                    "reset by the operator".into(),
                ));
            }
            Control::Refresh => self.step(Input::Send(Message::RouteRefresh { plan: None })),
            Control::Stop(..) => unreachable!("handled by the loop"),
        }
    }

    /// Hands the writer what is queued and lets it finish (the
    /// SessionDown of a stop), within a bound.
    async fn drain_writes(&mut self) {
        let deadline = tokio::time::Instant::now() + CLOSE_LINGER;
        while let Some(w) = self.queued_writes.pop_front() {
            if tokio::time::timeout_at(deadline, self.writes.send(w))
                .await
                .is_err()
            {
                break;
            }
        }
        let (tx, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.writes, tx));
        let _ = tokio::time::timeout_at(deadline, &mut self.writer).await;
    }

    /// Queues a replicated write behind the others.
    fn write(&mut self, w: Write) {
        match self.writes.try_reserve() {
            Ok(permit) if self.queued_writes.is_empty() => permit.send(w),
            _ => self.queued_writes.push_back(w),
        }
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Dialed { generation, result } if generation == self.generation => {
                self.dialer = None;
                match result {
                    Ok(d) => {
                        let (tx, rx) = *d;
                        let addr = self.dial_addr(self.dials.wrapping_sub(1));
                        self.attach(tx, rx, Some(addr), true);
                        self.step(Input::Connected);
                    }
                    Err(e) => {
                        tracing::info!(peer = %self.peer.name(), error = %e, "dial failed");
                        self.step(Input::ConnectFailed(e));
                    }
                }
            }
            Event::WriteFailed(e) => {
                let why = format!("cannot commit the peer's routes: {e}");
                tracing::warn!(peer = %self.peer.name(), error = %e, "cannot commit the peer's routes");
                self.step(Input::Stop(Code::AdminReset, why));
            }
            // A dial already given up.
            Event::Dialed { .. } => {}
        }
    }

    fn on_received(&mut self, r: Received) {
        if self
            .link
            .as_ref()
            .is_none_or(|l| l.generation != r.generation)
        {
            // From a stream already given up.
            return;
        }
        let input = match r.msg {
            Ok(m) => match convert::from_proto(m) {
                Ok(m) => Input::Received(m),
                Err(e) => Input::Malformed(e),
            },
            Err(Ended::Closed(why)) => Input::Closed(why),
            // RFC 7606: what cannot be read as a message resets the session.
            Err(Ended::Undecodable(why)) => Input::Malformed(why),
            Err(Ended::TooLarge(why)) => Input::Stop(Code::MessageTooLarge, why),
        };
        self.step(input);
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
        let tls = self.ctx.tls.clone().map(|t| {
            let peer = crate::tls::Identity::Peer {
                itad: self.peer.section.itad,
                name: self.peer.section.name.clone(),
            };
            (t, peer)
        });
        self.dialer = Some(tokio::spawn(async move {
            let result = link::dial(&addr, tls).await.map(Box::new);
            let _ = events.send(Event::Dialed { generation, result }).await;
        }));
    }

    fn attach(
        &mut self,
        tx: mpsc::Sender<pb::PeerMessage>,
        rx: tonic::Streaming<pb::PeerMessage>,
        remote: Option<String>,
        outbound: bool,
    ) {
        if self.link.is_none() || !outbound {
            self.generation += 1;
        }
        self.link = Some(Link::attach(
            self.generation,
            tx,
            rx,
            self.received_tx.clone(),
            remote,
            outbound,
        ));
    }

    /// A stream the peer opened. Two streams at once (both sides dialled)
    /// keep the one dialled by the higher ITAD, as BGP keeps the one from
    /// the higher identifier.
    fn accept(&mut self, inbound: Inbound) {
        let busy = !matches!(self.fsm.state(), State::Idle | State::Connect);
        if busy {
            let ours_wins = self.link.as_ref().is_some_and(|l| l.outbound)
                && self.ctx.itad > self.peer.section.itad;
            if ours_wins {
                let n = Message::Notification(trunkline_peering::Notification {
                    code: Code::ConnectionCollision,
                    reason: "a session dialled by the higher ITAD is already up".into(),
                });
                // A fresh stream has room; if not, dropping it says enough.
                let _ = inbound.tx.try_send(convert::to_proto(n));
                return;
            }
            self.step(Input::Stop(
                Code::ConnectionCollision,
                "the peer's own stream wins".into(),
            ));
        }
        if let Some(d) = self.dialer.take() {
            d.abort();
            self.step(Input::ConnectFailed("the peer connected first".into()));
        }
        self.attach(
            inbound.tx,
            inbound.rx,
            inbound.remote.map(|a| a.to_string()),
            false,
        );
        self.step(Input::Connected);
        let open = Message::Open(convert::open_from_proto(inbound.open));
        self.step(Input::Received(open));
    }

    /// Feeds the state machine and carries out what it says.
    fn step(&mut self, input: Input<pb::Update>) {
        let mut queue = VecDeque::from([input]);
        while let Some(input) = queue.pop_front() {
            let now = self.now();
            for out in self.fsm.handle(now, input) {
                if let Some(next) = self.output(out) {
                    queue.push_back(next);
                }
            }
        }
    }

    /// Carries out one output; may produce a further input (a limit hit
    /// while importing closes the session).
    fn output(&mut self, out: Output<pb::Update>) -> Option<Input<pb::Update>> {
        match out {
            Output::Send(m) => {
                let last = matches!(m, Message::Notification(_));
                if let Some(l) = &mut self.link {
                    if last {
                        l.send_last(convert::to_proto(m));
                    } else {
                        l.send(convert::to_proto(m));
                    }
                }
                self.pump();
            }
            Output::Dial => self.dial(),
            Output::Close => {
                if let Some(reader) = self.link.take().and_then(Link::close) {
                    self.closing = Some(Closing {
                        reader,
                        until: Instant::now() + CLOSE_LINGER,
                    });
                }
                if let Some(d) = self.dialer.take() {
                    d.abort();
                }
            }
            Output::Established(neg) => self.established(neg),
            Output::Down(d) => {
                tracing::info!(peer = %self.peer.name(), graceful = d.graceful, reason = %d.reason, "session down");
                let restart = self.up.take().and_then(|u| u.negotiated.peer_restart_secs);
                self.write(Write::Down {
                    graceful: d.graceful,
                });
                if d.graceful
                    && let Some(secs) = restart
                {
                    self.sweep_at = Some(Instant::now() + Duration::from_secs(secs.into()));
                }
                self.up_gauge().set(0);
            }
            Output::Update(u) => return self.import(u),
            Output::EndOfRib(plan) => {
                if let Some(id) = self.ctx.plans.by_name(&plan) {
                    self.write(Write::EndOfRib(id));
                }
            }
            Output::Authority(a) => self.authority_received(a),
            Output::RefreshRequested(plan) => {
                let plans: Vec<PlanId> = match plan {
                    Some(p) => self.ctx.plans.by_name(&p).into_iter().collect(),
                    None => self
                        .up
                        .as_ref()
                        .map(|u| u.carried.clone())
                        .unwrap_or_default(),
                };
                self.dump(&plans, true);
            }
        }
        None
    }

    fn established(&mut self, neg: Negotiated) {
        tracing::info!(peer = %self.peer.name(), hold = neg.hold_secs, plans = ?neg.plans, "session established");
        let carried = neg
            .plans
            .iter()
            .filter_map(|p| self.ctx.plans.by_name(p))
            .collect::<Vec<_>>();
        self.up_gauge().set(1);
        let outbound = self.link.as_ref().is_some_and(|l| l.outbound);
        self.write(Write::Up { outbound });
        self.refused = None;
        self.up = Some(Up {
            since: Instant::now(),
            negotiated: neg,
            carried: carried.clone(),
            export: Export::new(
                self.ctx.store.subscribe_changes(),
                Pacing::trunkline(
                    self.ctx.settings.batch_ms,
                    self.ctx.settings.degrade_hold_ms,
                ),
            ),
            accepted: HashSet::new(),
            authority: Exchange::default(),
            authority_due: false,
        });
        if self.up.as_ref().is_some_and(|u| u.negotiated.authority) {
            // Before any route, so the peer judges them with it.
            let view = self.ctx.store.view().load_full();
            let msgs = self.up.as_mut().map(|u| u.authority.snapshot(&view));
            for m in msgs.into_iter().flatten() {
                self.send_msg(m);
            }
        }
        self.dump(&carried, false);
    }

    /// Statements from the peer: verified ones go to the store in order
    /// with its routes (so the routes after them are judged with them).
    fn authority_received(&mut self, a: Authority) {
        let Some(up) = &mut self.up else { return };
        match a {
            Authority::Snapshot(s) | Authority::Delta(s) => {
                let keep = up.authority.receive(s, self.peer.name());
                if !keep.is_empty() {
                    self.write(Write::Authority(keep));
                }
            }
            Authority::End(n) => tracing::info!(
                peer = %self.peer.name(),
                announced = n,
                verified = up.authority.received,
                refused = up.authority.refused,
                "the peer's authority snapshot ended"
            ),
        }
    }

    /// Queues everything of `plans`, then End-of-RIB for each.
    fn dump(&mut self, plans: &[PlanId], forget: bool) {
        let Some(up) = &mut self.up else { return };
        let view = self.ctx.store.view().load_full();
        let diff = up
            .export
            .dump(&view, &self.peer.policy, self.ctx.itad, plans, forget);
        self.send_diff(diff);
        for p in plans {
            let plan = self.ctx.plans.name(*p).to_owned();
            self.send_msg(Message::EndOfRib { plan });
        }
    }

    fn on_changes(&mut self, c: Result<Arc<Changes>, broadcast::error::RecvError>) {
        if let Some(up) = &mut self.up {
            // A missed batch may have held statements too.
            up.authority_due |= c.as_ref().map_or(true, |c| c.authority);
            up.export.on_change(c, self.peer.name());
        }
    }

    /// Queues what changed since the last flush: new statements first,
    /// so the peer judges the routes after them with them.
    fn flush(&mut self) {
        let Some(up) = &mut self.up else { return };
        let view = self.ctx.store.view().load_full();
        if std::mem::take(&mut up.authority_due) && up.negotiated.authority {
            for m in up.authority.delta(&view) {
                self.send_msg(m);
            }
        }
        let Some(up) = &mut self.up else { return };
        let diff = up
            .export
            .flush(&view, &self.peer.policy, self.ctx.itad, &up.carried);
        self.send_diff(diff);
    }

    fn send_diff(&mut self, diff: Diff) {
        if diff.is_empty() {
            return;
        }
        if let Some(l) = &mut self.link {
            l.send_routes(diff.announce, diff.withdraw);
        }
        self.pump();
    }

    /// Moves what the link has waiting into the stream, as far as there is
    /// room; each Update that goes out is an Update sent for the state
    /// machine (its keepalive timer restarts) and the metrics.
    fn pump(&mut self) {
        let Some(link) = &mut self.link else { return };
        let (fsm, base, metrics, label) =
            (&mut self.fsm, self.base, &self.ctx.metrics, &self.label);
        link.pump(&self.ctx.plans, || {
            metrics.peering_updates_sent.get_or_create(label).inc();
            let now = base.elapsed().as_millis() as u64;
            // Only the timer matters: the Update itself is already built.
            let _ = fsm.handle(now, Input::Send(Message::Update(pb::Update::default())));
        });
    }

    fn up_gauge(&self) -> prometheus_client::metrics::gauge::Gauge {
        self.ctx
            .metrics
            .peering_up
            .get_or_create(&self.label)
            .clone()
    }

    /// Sends through the state machine (which restarts the keepalive timer).
    fn send_msg(&mut self, m: Msg) {
        let now = self.now();
        for out in self.fsm.handle(now, Input::Send(m)) {
            if let Output::Send(m) = out
                && let Some(l) = &mut self.link
            {
                l.send(convert::to_proto(m));
            }
        }
        self.pump();
    }

    /// Checks a received Update against the peer's policy and queues the
    /// write.
    fn import(&mut self, u: pb::Update) -> Option<Input<pb::Update>> {
        let up = self.up.as_mut()?;
        match import::import(
            &u,
            &self.peer,
            self.ctx.itad,
            &self.ctx.plans,
            &up.carried,
            &mut up.accepted,
        ) {
            Imported::Write {
                write,
                received,
                rejected,
            } => {
                self.received_total += received;
                let m = &self.ctx.metrics;
                m.peering_received
                    .get_or_create(&self.label)
                    .inc_by(received);
                m.peering_rejected
                    .get_or_create(&self.label)
                    .inc_by(rejected);
                self.write(write);
                None
            }
            Imported::Close(code, why) => Some(Input::Stop(code, why)),
        }
    }
}
