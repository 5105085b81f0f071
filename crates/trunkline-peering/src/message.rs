//! The messages of a peering session, as the state machine sees them. The
//! daemon converts them to and from `trunkline.peering.v1.PeerMessage`.
//! Update payloads are opaque here (`U`): the session only decides whether
//! one may be received or sent now.

use std::fmt;

/// Protocol version carried in Open.
pub const VERSION: u32 = 1;

/// Routes announced in one Update at most; a longer diff goes as several.
pub const UPDATE_ROUTES: usize = 1_000;
/// Withdrawals in one Update at most.
pub const UPDATE_WITHDRAWALS: usize = 5 * UPDATE_ROUTES;

/// The Updates a diff of `announce` routes and `withdraw` withdrawals goes
/// out as (the first carries withdrawals beside its routes).
pub fn updates_for(announce: usize, withdraw: usize) -> usize {
    announce
        .div_ceil(UPDATE_ROUTES)
        .max(withdraw.div_ceil(UPDATE_WITHDRAWALS))
        .max(1)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<U> {
    Open(Open),
    Keepalive,
    Update(U),
    /// The initial dump of this plan is complete.
    EndOfRib {
        plan: String,
    },
    /// Please resend everything (of one plan, or all when `None`).
    RouteRefresh {
        plan: Option<String>,
    },
    Notification(Notification),
    /// Number-authority statements, each its signed bytes (opaque here).
    Authority(Authority),
}

/// One part of the authority exchange (RTR's snapshot, end, deltas).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authority {
    Snapshot(Vec<Vec<u8>>),
    /// The snapshot is complete; it held this many statements.
    End(u32),
    Delta(Vec<Vec<u8>>),
}

impl Authority {
    pub fn kind(&self) -> &'static str {
        match self {
            Authority::Snapshot(_) => "authority-snapshot",
            Authority::End(_) => "authority-end",
            Authority::Delta(_) => "authority-delta",
        }
    }
}

impl<U> Message<U> {
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Open(_) => "open",
            Message::Keepalive => "keepalive",
            Message::Update(_) => "update",
            Message::EndOfRib { .. } => "end-of-rib",
            Message::RouteRefresh { .. } => "route-refresh",
            Message::Notification(_) => "notification",
            Message::Authority(a) => a.kind(),
        }
    }
}

/// The first message each side sends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Open {
    pub version: u32,
    pub itad: u32,
    /// The sender's name for itself (a node or cluster name).
    pub name: String,
    /// 0 (no keepalives) or at least 3.
    pub hold_secs: u32,
    pub capabilities: Capabilities,
    /// The shared secret configured for this peering, if any.
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Number plans the sender carries.
    pub plans: Vec<String>,
    /// Graceful restart: how long the sender asks its routes to be kept
    /// when the session drops.
    pub graceful_restart_secs: Option<u32>,
    pub route_refresh: bool,
    /// Exchanges number-authority statements.
    pub authority: bool,
}

/// Why a session is closed. Sent in a Notification, then the stream ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    UnsupportedVersion,
    BadPeerItad,
    BadOpen,
    UnacceptableHoldTime,
    NoCommonPlan,
    AuthFailed,
    HoldTimerExpired,
    /// A message not allowed in the current state.
    FsmError,
    MalformedMessage,
    MaxPrefixes,
    AdminShutdown,
    AdminReset,
    PeerDeconfigured,
    ConnectionCollision,
    /// More Updates a second than the session allows.
    UpdateRate,
    /// A message larger than the session allows.
    MessageTooLarge,
    /// Refused: the peer is held down after an earlier fault.
    ConnectionRejected,
}

impl Code {
    pub const ALL: [Code; 17] = [
        Code::UnsupportedVersion,
        Code::BadPeerItad,
        Code::BadOpen,
        Code::UnacceptableHoldTime,
        Code::NoCommonPlan,
        Code::AuthFailed,
        Code::HoldTimerExpired,
        Code::FsmError,
        Code::MalformedMessage,
        Code::MaxPrefixes,
        Code::AdminShutdown,
        Code::AdminReset,
        Code::PeerDeconfigured,
        Code::ConnectionCollision,
        Code::UpdateRate,
        Code::MessageTooLarge,
        Code::ConnectionRejected,
    ];

    /// Codes this side sends because of what the peer sent: closing a
    /// session for one holds the peer down.
    pub fn is_peer_fault(self) -> bool {
        matches!(
            self,
            Code::FsmError
                | Code::MalformedMessage
                | Code::MaxPrefixes
                | Code::UpdateRate
                | Code::MessageTooLarge
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Code::UnsupportedVersion => "unsupported-version",
            Code::BadPeerItad => "bad-peer-itad",
            Code::BadOpen => "bad-open",
            Code::UnacceptableHoldTime => "unacceptable-hold-time",
            Code::NoCommonPlan => "no-common-plan",
            Code::AuthFailed => "auth-failed",
            Code::HoldTimerExpired => "hold-timer-expired",
            Code::FsmError => "fsm-error",
            Code::MalformedMessage => "malformed-message",
            Code::MaxPrefixes => "max-prefixes",
            Code::AdminShutdown => "admin-shutdown",
            Code::AdminReset => "admin-reset",
            Code::PeerDeconfigured => "peer-deconfigured",
            Code::ConnectionCollision => "connection-collision",
            Code::UpdateRate => "update-rate",
            Code::MessageTooLarge => "message-too-large",
            Code::ConnectionRejected => "connection-rejected",
        }
    }

    pub fn from_name(s: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.name() == s)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub code: Code,
    /// For the operator: what exactly was wrong.
    pub reason: String,
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{}: {}", self.code, self.reason)
        }
    }
}
