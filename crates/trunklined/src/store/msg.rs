//! What the raft thread and its callers say to each other: the closed set
//! of messages, the published status, and the results and errors of
//! writes.

use std::collections::BTreeMap;
use std::time::Duration;

use raft::prelude::{ConfChangeV2, Message};
use thiserror::Error;
use tokio::sync::oneshot;
use trunkline_cluster::node::Status;
use trunkline_cluster::{Command, Outcome};

/// A write that reached the log and was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub index: u64,
    pub outcome: Outcome,
}

impl Committed {
    /// Where the write took effect: its own entry, or, for a request id
    /// seen before, the entry that first applied it.
    pub fn effective_index(&self) -> u64 {
        match self.outcome {
            Outcome::Duplicate { index, .. } => index,
            _ => self.index,
        }
    }
}

#[derive(Debug, Error, Clone)]
pub enum WriteError {
    #[error("no leader is known right now; retry shortly")]
    NoLeader,
    /// raft drops a membership change proposed while another is not yet
    /// applied (a new leader counts its first entry as one), so the leader
    /// refuses it rather than let the caller wait for nothing.
    #[error("another membership change is being applied; retry shortly")]
    MembershipBusy,
    #[error("node {0} is the leader")]
    NotLeader(u64, Option<String>),
    #[error("the store is shutting down")]
    ShuttingDown,
    #[error("the write was not committed within {0:?}")]
    Timeout(Duration),
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
pub(super) const REMOVED_MARKER: &str = "REMOVED";

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
