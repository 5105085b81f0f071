//! The replicated route store: raft-rs driven over a durable redb log, the
//! state machine that applies committed entries to the route table, and
//! snapshots that compact the log.
//!
//! No sockets and no clock: the daemon feeds ticks, proposals and peer
//! messages in and carries messages out, so tests drive it exactly.
//!
//! Layout:
//! - [`codec`]: the binary encoding used by log entries and snapshots.
//! - [`command`]: replicated commands and their batch encoding.
//! - [`state`]: the state machine and the published view.
//! - [`storage`]: `raft::Storage` on redb.
//! - [`node`]: the Ready loop tying them together.
//! - [`tokens`]: API credentials (hashes only), replicated.
//! - [`invites`]: invitations to join as a member (hashes only), replicated.

pub mod codec;
pub mod command;
pub mod error;
pub mod invites;
pub mod node;
pub mod peers;
pub mod state;
pub mod storage;
pub mod tokens;

pub use command::{Command, Origin, Proposal};
pub use error::StoreError;
pub use node::{NodeConfig, RaftNode, Status};
pub use state::{Applied, Outcome, SharedView, StateMachine, View};
