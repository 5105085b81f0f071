//! The session state machine, sans I/O: the caller feeds it `(now, input)`
//! and carries out the outputs (send a message, dial, close the stream,
//! install routes). Time is a number of milliseconds from any fixed start;
//! [`Session::next_deadline`] says when to feed the next [`Input::Tick`].
//!
//! States after BGP (RFC 4271 §8), minus Active: a gRPC stream is either
//! being dialled or up.
//!
//! ```text
//! Idle --Start (active)--> Connect --Connected--> OpenSent
//! Idle --Connected (passive, started)-----------> OpenSent
//! OpenSent --valid Open / send Keepalive--> OpenConfirm
//! OpenConfirm --Keepalive--> Established
//! any up state --Notification, close, hold expiry, error--> Idle (retry after backoff)
//! ```

use std::collections::VecDeque;

use crate::message::{Authority, Capabilities, Code, Message, Notification, Open, VERSION};

/// Most Updates (and End-of-RIBs) held while waiting for the peer's
/// authority to end; beyond it they are let through unjudged-first.
pub const MAX_HELD: usize = 10_000;

/// Milliseconds since an arbitrary fixed point.
pub type Millis = u64;

/// What one side of a session is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub itad: u32,
    pub name: String,
    /// The ITAD the peer must present.
    pub peer_itad: u32,
    /// Hold time proposed; the session uses the smaller of both sides'.
    pub hold_secs: u32,
    pub plans: Vec<String>,
    /// Restart time asked of the peer; `None`: no graceful restart.
    pub graceful_restart_secs: Option<u32>,
    pub route_refresh: bool,
    /// Exchange number-authority statements.
    pub authority: bool,
    /// How long after Established the peer's Updates wait for its
    /// authority snapshot to end.
    pub authority_wait_ms: Millis,
    pub password: String,
    /// Dial the peer (otherwise wait for it to connect).
    pub active: bool,
    /// Time allowed from the stream coming up to Established.
    pub open_timeout_ms: Millis,
    /// Reconnect backoff: first delay, doubled per failure up to the max.
    pub retry_min_ms: Millis,
    pub retry_max_ms: Millis,
    /// Updates a second the peer may send, sustained (0: no limit) ...
    pub max_updates_per_sec: u32,
    /// ... and at once (a token bucket this deep; a full-table dump of
    /// 1,000-route Updates fits in it).
    pub update_burst: u32,
    /// After this side closes a session for the peer's fault (a limit or a
    /// malformed message), no session with it for this long, doubled on
    /// each repeat up to the max (RFC 4271's IdleHold, BIRD's error wait).
    pub hold_down_min_ms: Millis,
    pub hold_down_max_ms: Millis,
    /// A session up this long without a fault starts the doubling over.
    pub hold_down_forget_ms: Millis,
}

impl Config {
    pub fn new(itad: u32, name: &str, peer_itad: u32) -> Config {
        Config {
            itad,
            name: name.to_owned(),
            peer_itad,
            hold_secs: 90,
            plans: vec!["e164".to_owned()],
            graceful_restart_secs: Some(120),
            route_refresh: true,
            authority: true,
            authority_wait_ms: 5_000,
            password: String::new(),
            active: true,
            open_timeout_ms: 30_000,
            retry_min_ms: 1_000,
            retry_max_ms: 30_000,
            max_updates_per_sec: 0,
            update_burst: 0,
            hold_down_min_ms: 10_000,
            hold_down_max_ms: 600_000,
            hold_down_forget_ms: 600_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Idle,
    Connect,
    OpenSent,
    OpenConfirm,
    Established,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Connect => "connect",
            State::OpenSent => "open-sent",
            State::OpenConfirm => "open-confirm",
            State::Established => "established",
        }
    }
}

/// What both sides agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub peer_name: String,
    /// 0: no keepalives, no hold timer.
    pub hold_secs: u32,
    /// Plans both sides carry.
    pub plans: Vec<String>,
    /// How long to keep the peer's routes (stale) if the session drops;
    /// `None` when either side lacks graceful restart.
    pub peer_restart_secs: Option<u32>,
    pub route_refresh: bool,
    /// Both sides exchange number authority.
    pub authority: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<U> {
    /// Administratively up: dial (active) or accept (passive).
    Start,
    /// Close the session with a Notification. `AdminShutdown` also stops
    /// reconnecting until the next `Start`.
    Stop(Code, String),
    /// The stream is up (dialled, or accepted from the peer).
    Connected,
    ConnectFailed(String),
    /// The stream ended without a Notification.
    Closed(String),
    Received(Message<U>),
    /// Something arrived that does not decode.
    Malformed(String),
    /// Time passed; timers are checked.
    Tick,
    /// Send an Update, EndOfRib or RouteRefresh (only when Established).
    Send(Message<U>),
    /// Start or stop dialling (in a cluster only one node dials a peer).
    /// A stream already up is left alone.
    Activate(bool),
    /// Messages from the peer wait unread because this side is behind (its
    /// writes are backed up, so it reads no further). The peer is alive:
    /// in Established this restarts the hold timer, as a message would, so
    /// this side's slowness never reads as the peer's death.
    Pending,
}

/// Why an established session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Down {
    pub reason: String,
    /// Keep the peer's routes, marked stale, for its restart time: the
    /// session failed (stream lost, hold timer) rather than being closed
    /// on purpose, and graceful restart was negotiated.
    pub graceful: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output<U> {
    Send(Message<U>),
    /// Open the stream to the peer.
    Dial,
    /// End the stream.
    Close,
    Established(Negotiated),
    Down(Down),
    /// An Update from the peer, to import.
    Update(U),
    EndOfRib(String),
    RefreshRequested(Option<String>),
    /// Authority statements from the peer, to verify and keep; `End`: its
    /// snapshot is complete.
    Authority(Authority),
}

/// Where the peer's authority exchange stands in an established session.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sync<U> {
    /// Its snapshot is coming: its Updates and End-of-RIBs wait, in order,
    /// until it ends or `until`.
    Waiting {
        until: Millis,
        held: VecDeque<Output<U>>,
    },
    /// Its snapshot ended (or the wait did), or neither side exchanges
    /// authority: Updates go straight through.
    Done,
}

/// One peering session; `U` is the Update payload (opaque here).
#[derive(Debug, Clone)]
pub struct Session<U> {
    cfg: Config,
    state: State,
    admin_up: bool,
    negotiated: Option<Negotiated>,
    hold_deadline: Option<Millis>,
    keepalive_deadline: Option<Millis>,
    retry_deadline: Option<Millis>,
    backoff: Millis,
    last_error: Option<String>,
    /// Update tokens, in thousandths, and when they were last topped up.
    tokens_milli: u64,
    tokens_at: Millis,
    /// Sessions closed for the peer's fault in a row, the hold-down they
    /// earned, and when the current session came up.
    faults: u32,
    held_until: Option<Millis>,
    established_at: Option<Millis>,
    sync: Sync<U>,
}

impl<U: Clone> Session<U> {
    pub fn new(cfg: Config) -> Session<U> {
        let backoff = cfg.retry_min_ms;
        Session {
            cfg,
            state: State::Idle,
            admin_up: false,
            negotiated: None,
            hold_deadline: None,
            keepalive_deadline: None,
            retry_deadline: None,
            backoff,
            last_error: None,
            tokens_milli: 0,
            tokens_at: 0,
            faults: 0,
            held_until: None,
            established_at: None,
            sync: Sync::Done,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// Why the session last failed or closed.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Until when no session with the peer is accepted or dialled, after
    /// closing one for its fault.
    pub fn held_until(&self) -> Option<Millis> {
        self.held_until
    }

    /// When the next [`Input::Tick`] is due.
    pub fn next_deadline(&self) -> Option<Millis> {
        [
            self.hold_deadline,
            self.keepalive_deadline,
            self.retry_deadline,
            match &self.sync {
                Sync::Waiting { until, .. } => Some(*until),
                Sync::Done => None,
            },
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The Open this side sends.
    pub fn open(&self) -> Open {
        Open {
            version: VERSION,
            itad: self.cfg.itad,
            name: self.cfg.name.clone(),
            hold_secs: self.cfg.hold_secs,
            capabilities: Capabilities {
                plans: self.cfg.plans.clone(),
                graceful_restart_secs: self.cfg.graceful_restart_secs,
                route_refresh: self.cfg.route_refresh,
                authority: self.cfg.authority,
            },
            password: self.cfg.password.clone(),
        }
    }

    pub fn handle(&mut self, now: Millis, input: Input<U>) -> Vec<Output<U>> {
        let mut out = Vec::new();
        match input {
            Input::Start => {
                self.admin_up = true;
                if self.state == State::Idle && self.cfg.active {
                    self.dial_unless_held(now, &mut out);
                }
            }
            Input::Stop(code, reason) => {
                if code == Code::AdminShutdown {
                    self.admin_up = false;
                }
                if self.transport_up() {
                    self.notify(now, code, reason, &mut out);
                } else {
                    if self.state == State::Connect {
                        // Abandon the dial in progress.
                        out.push(Output::Close);
                    }
                    self.state = State::Idle;
                    self.last_error = Some(Notification { code, reason }.to_string());
                    self.schedule_retry(now);
                }
            }
            Input::Connected => match self.state {
                State::Idle | State::Connect if self.held(now) => {
                    // The peer dialled during its hold-down: tell it why.
                    let wait = self.held_until.unwrap_or(now) - now;
                    let reason = format!(
                        "held down for {} s more after: {}",
                        wait.div_ceil(1000),
                        self.last_error.as_deref().unwrap_or("a fault")
                    );
                    out.push(Output::Send(Message::Notification(Notification {
                        code: Code::ConnectionRejected,
                        reason,
                    })));
                    out.push(Output::Close);
                }
                State::Connect | State::Idle if self.admin_up => {
                    self.retry_deadline = None;
                    self.state = State::OpenSent;
                    self.hold_deadline = Some(now + self.cfg.open_timeout_ms);
                    out.push(Output::Send(Message::Open(self.open())));
                }
                // Not started: refuse the stream.
                State::Idle | State::Connect => out.push(Output::Close),
                // A stream is already up; collisions are the caller's to
                // resolve before feeding a second stream in.
                _ => {}
            },
            Input::ConnectFailed(why) => {
                if self.state == State::Connect {
                    self.state = State::Idle;
                    self.last_error = Some(format!("connect failed: {why}"));
                    self.schedule_retry(now);
                }
            }
            Input::Closed(why) => {
                if self.transport_up() {
                    self.go_down(now, format!("stream closed: {why}"), true, &mut out);
                }
            }
            Input::Malformed(why) => {
                if self.transport_up() {
                    self.notify(now, Code::MalformedMessage, why, &mut out);
                }
            }
            Input::Received(msg) => self.received(now, msg, &mut out),
            Input::Activate(active) => {
                self.cfg.active = active;
                match self.state {
                    State::Idle if active && self.admin_up && self.retry_deadline.is_none() => {
                        self.dial_unless_held(now, &mut out);
                    }
                    State::Idle if !active => self.retry_deadline = None,
                    State::Connect if !active => {
                        out.push(Output::Close);
                        self.state = State::Idle;
                    }
                    _ => {}
                }
            }
            Input::Tick => self.tick(now, &mut out),
            Input::Pending => {
                if self.state == State::Established {
                    self.heard(now);
                }
            }
            Input::Send(msg) => {
                let allowed = match &msg {
                    Message::Update(_)
                    | Message::EndOfRib { .. }
                    | Message::RouteRefresh { .. } => true,
                    Message::Authority(_) => self.negotiated.as_ref().is_some_and(|n| n.authority),
                    _ => false,
                };
                if self.state == State::Established && allowed {
                    self.sent(now);
                    out.push(Output::Send(msg));
                }
            }
        }
        out
    }

    fn transport_up(&self) -> bool {
        matches!(
            self.state,
            State::OpenSent | State::OpenConfirm | State::Established
        )
    }

    fn dial(&mut self, out: &mut Vec<Output<U>>) {
        self.state = State::Connect;
        self.retry_deadline = None;
        out.push(Output::Dial);
    }

    /// Dials, or waits for the hold-down to end.
    fn dial_unless_held(&mut self, now: Millis, out: &mut Vec<Output<U>>) {
        match self.held_until.filter(|&t| now < t) {
            Some(t) => self.retry_deadline = Some(t),
            None => self.dial(out),
        }
    }

    fn received(&mut self, now: Millis, msg: Message<U>, out: &mut Vec<Output<U>>) {
        if !self.transport_up() {
            // Nothing can arrive without a stream; a late message from a
            // stream already given up on is dropped.
            return;
        }
        if let Message::Notification(n) = msg {
            self.go_down(now, format!("peer sent {n}"), false, out);
            return;
        }
        match (self.state, msg) {
            (State::OpenSent, Message::Open(open)) => match self.check_open(&open) {
                Ok(neg) => {
                    self.negotiated = Some(neg);
                    self.state = State::OpenConfirm;
                    out.push(Output::Send(Message::Keepalive));
                    self.sent(now);
                }
                Err(n) => self.notify(now, n.code, n.reason, out),
            },
            (State::OpenConfirm, Message::Keepalive) => {
                self.state = State::Established;
                self.established_at = Some(now);
                self.tokens_milli = u64::from(self.cfg.update_burst) * 1000;
                self.tokens_at = now;
                self.backoff = self.cfg.retry_min_ms;
                self.last_error = None;
                self.heard(now);
                let neg = self.negotiated.clone().expect("negotiated in OpenSent");
                self.sync = if neg.authority {
                    Sync::Waiting {
                        until: now + self.cfg.authority_wait_ms,
                        held: VecDeque::new(),
                    }
                } else {
                    Sync::Done
                };
                out.push(Output::Established(neg));
            }
            (State::Established, Message::Keepalive) => self.heard(now),
            (State::Established, Message::Update(u)) => {
                self.heard(now);
                if self.take_token(now) {
                    self.deliver(Output::Update(u), out);
                } else {
                    let why = format!(
                        "more than {} updates a second (burst {})",
                        self.cfg.max_updates_per_sec, self.cfg.update_burst
                    );
                    self.notify(now, Code::UpdateRate, why, out);
                }
            }
            (State::Established, Message::EndOfRib { plan }) => {
                self.heard(now);
                if self.carries(&plan) {
                    self.deliver(Output::EndOfRib(plan), out);
                } else {
                    let why = format!("end-of-rib for plan {plan:?}, which was not negotiated");
                    self.notify(now, Code::MalformedMessage, why, out);
                }
            }
            (State::Established, Message::RouteRefresh { plan }) => {
                self.heard(now);
                let neg = self.negotiated.as_ref().expect("established");
                if !neg.route_refresh {
                    let why = "route refresh was not negotiated".to_owned();
                    self.notify(now, Code::FsmError, why, out);
                } else if plan.as_ref().is_some_and(|p| !self.carries(p)) {
                    let why = format!("route refresh for plan {plan:?}, which was not negotiated");
                    self.notify(now, Code::MalformedMessage, why, out);
                } else {
                    out.push(Output::RefreshRequested(plan));
                }
            }
            (State::Established, Message::Authority(a)) => {
                self.heard(now);
                let negotiated = self.negotiated.as_ref().is_some_and(|n| n.authority);
                let waiting = matches!(self.sync, Sync::Waiting { .. });
                match (&a, negotiated, waiting) {
                    (_, false, _) => {
                        let why = "authority exchange was not negotiated".to_owned();
                        self.notify(now, Code::FsmError, why, out);
                    }
                    (Authority::Snapshot(_), _, true) => out.push(Output::Authority(a)),
                    (Authority::End(_), _, true) => {
                        out.push(Output::Authority(a));
                        self.synced(out);
                    }
                    (Authority::Delta(_), _, false) => out.push(Output::Authority(a)),
                    // A late snapshot or end, or a delta before the end.
                    (_, _, _) => {
                        let why = format!(
                            "{} {} the authority snapshot ended",
                            a.kind(),
                            if waiting { "before" } else { "after" }
                        );
                        self.notify(now, Code::FsmError, why, out);
                    }
                }
            }
            (state, msg) => {
                let why = format!("unexpected {} in state {}", msg.kind(), state.name());
                self.notify(now, Code::FsmError, why, out);
            }
        }
    }

    /// An Update or End-of-RIB from the peer: out now, or held in order
    /// while its authority snapshot is coming.
    fn deliver(&mut self, o: Output<U>, out: &mut Vec<Output<U>>) {
        match &mut self.sync {
            Sync::Waiting { held, .. } if held.len() < MAX_HELD => held.push_back(o),
            Sync::Waiting { .. } => {
                // Too much waits: let it all through; later authority
                // judges these routes again.
                self.synced(out);
                out.push(o);
            }
            Sync::Done => out.push(o),
        }
    }

    /// The peer's authority snapshot ended (or the wait did): what was
    /// held goes out, in the order it came.
    fn synced(&mut self, out: &mut Vec<Output<U>>) {
        if let Sync::Waiting { held, .. } = std::mem::replace(&mut self.sync, Sync::Done) {
            out.extend(held);
        }
    }

    /// Whether the peer's authority snapshot has ended (or was not
    /// negotiated, or the wait for it is over).
    pub fn authority_synced(&self) -> bool {
        matches!(self.sync, Sync::Done)
    }

    /// One Update's worth from the bucket, topped up for the time passed.
    fn take_token(&mut self, now: Millis) -> bool {
        let rate = u64::from(self.cfg.max_updates_per_sec);
        if rate == 0 {
            return true;
        }
        let cap = u64::from(self.cfg.update_burst.max(1)) * 1000;
        let elapsed = now.saturating_sub(self.tokens_at);
        self.tokens_milli = (self.tokens_milli + elapsed.saturating_mul(rate)).min(cap);
        self.tokens_at = now;
        if self.tokens_milli < 1000 {
            return false;
        }
        self.tokens_milli -= 1000;
        true
    }

    fn held(&self, now: Millis) -> bool {
        self.held_until.is_some_and(|t| now < t)
    }

    /// The peer's fault closed the session: the hold-down doubles (or
    /// starts over after a long good session).
    fn fault(&mut self, now: Millis) {
        if self
            .established_at
            .is_some_and(|t| now.saturating_sub(t) >= self.cfg.hold_down_forget_ms)
        {
            self.faults = 0;
        }
        self.faults = self.faults.saturating_add(1);
        let hold = self
            .cfg
            .hold_down_min_ms
            .saturating_mul(1 << (self.faults - 1).min(20))
            .min(self.cfg.hold_down_max_ms.max(self.cfg.hold_down_min_ms));
        self.held_until = Some(now + hold);
    }

    fn carries(&self, plan: &str) -> bool {
        self.negotiated
            .as_ref()
            .is_some_and(|n| n.plans.iter().any(|p| p == plan))
    }

    fn check_open(&self, open: &Open) -> Result<Negotiated, Notification> {
        let fail = |code, reason: String| Err(Notification { code, reason });
        if open.version != VERSION {
            return fail(
                Code::UnsupportedVersion,
                format!("version {} (this side speaks {VERSION})", open.version),
            );
        }
        if open.itad != self.cfg.peer_itad {
            return fail(
                Code::BadPeerItad,
                format!("ITAD {} (expected {})", open.itad, self.cfg.peer_itad),
            );
        }
        if open.name.is_empty() || open.name.len() > 64 || open.name.chars().any(char::is_control) {
            return fail(
                Code::BadOpen,
                "name must be 1-64 printable characters".into(),
            );
        }
        if open.hold_secs == 1 || open.hold_secs == 2 {
            return fail(
                Code::UnacceptableHoldTime,
                format!("hold time {} s (must be 0 or at least 3)", open.hold_secs),
            );
        }
        if !constant_time_eq(open.password.as_bytes(), self.cfg.password.as_bytes()) {
            return fail(Code::AuthFailed, "wrong password".into());
        }
        let plans: Vec<String> = self
            .cfg
            .plans
            .iter()
            .filter(|p| open.capabilities.plans.contains(p))
            .cloned()
            .collect();
        if plans.is_empty() {
            return fail(
                Code::NoCommonPlan,
                format!(
                    "peer carries [{}], this side [{}]",
                    open.capabilities.plans.join(", "),
                    self.cfg.plans.join(", ")
                ),
            );
        }
        let hold_secs = if open.hold_secs == 0 || self.cfg.hold_secs == 0 {
            0
        } else {
            open.hold_secs.min(self.cfg.hold_secs)
        };
        Ok(Negotiated {
            peer_name: open.name.clone(),
            hold_secs,
            plans,
            peer_restart_secs: self
                .cfg
                .graceful_restart_secs
                .and(open.capabilities.graceful_restart_secs),
            route_refresh: self.cfg.route_refresh && open.capabilities.route_refresh,
            authority: self.cfg.authority && open.capabilities.authority,
        })
    }

    fn tick(&mut self, now: Millis, out: &mut Vec<Output<U>>) {
        if self.hold_deadline.is_some_and(|d| now >= d) {
            let why = if self.state == State::Established {
                "nothing heard for the hold time".to_owned()
            } else {
                "no Open and Keepalive within the open timeout".to_owned()
            };
            self.notify(now, Code::HoldTimerExpired, why, out);
            return;
        }
        if matches!(self.sync, Sync::Waiting { until, .. } if now >= until) {
            self.synced(out);
        }
        if self.keepalive_deadline.is_some_and(|d| now >= d) {
            out.push(Output::Send(Message::Keepalive));
            self.sent(now);
        }
        if self.retry_deadline.is_some_and(|d| now >= d) {
            self.dial(out);
        }
    }

    /// A message was sent: the keepalive timer restarts.
    fn sent(&mut self, now: Millis) {
        let hold = self.negotiated.as_ref().map_or(0, |n| n.hold_secs);
        self.keepalive_deadline = (hold > 0).then(|| now + u64::from(hold) * 1000 / 3);
    }

    /// A message arrived: the hold timer restarts.
    fn heard(&mut self, now: Millis) {
        let hold = self.negotiated.as_ref().map_or(0, |n| n.hold_secs);
        self.hold_deadline = (hold > 0).then(|| now + u64::from(hold) * 1000);
    }

    /// Sends a Notification and closes.
    fn notify(&mut self, now: Millis, code: Code, reason: String, out: &mut Vec<Output<U>>) {
        if code.is_peer_fault() && self.cfg.hold_down_min_ms > 0 {
            self.fault(now);
        }
        let n = Notification { code, reason };
        let text = match self.held_until.filter(|&t| t > now) {
            Some(t) if code.is_peer_fault() => {
                format!("sent {n} (held down for {} s)", (t - now).div_ceil(1000))
            }
            _ => format!("sent {n}"),
        };
        out.push(Output::Send(Message::Notification(n)));
        // RFC 8538: a hold-timer expiry still keeps the peer's routes.
        self.go_down(now, text, code == Code::HoldTimerExpired, out);
    }

    /// The stream is over: close it, report Down if it was established,
    /// and schedule a reconnect.
    fn go_down(&mut self, now: Millis, reason: String, failure: bool, out: &mut Vec<Output<U>>) {
        out.push(Output::Close);
        if self.state == State::Established {
            let graceful = failure
                && self
                    .negotiated
                    .as_ref()
                    .is_some_and(|n| n.peer_restart_secs.is_some());
            out.push(Output::Down(Down {
                reason: reason.clone(),
                graceful,
            }));
        }
        self.last_error = Some(reason);
        self.state = State::Idle;
        self.negotiated = None;
        self.established_at = None;
        self.sync = Sync::Done;
        self.hold_deadline = None;
        self.keepalive_deadline = None;
        self.schedule_retry(now);
    }

    fn schedule_retry(&mut self, now: Millis) {
        if self.admin_up && self.cfg.active {
            let at = now + self.backoff;
            self.retry_deadline = Some(self.held_until.map_or(at, |h| h.max(at)));
            self.backoff = (self.backoff * 2).min(self.cfg.retry_max_ms);
        } else {
            self.retry_deadline = None;
        }
    }
}

/// Compares secrets without an early exit that would leak how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
