//! Peering: sessions with other clusters and member PBXes (DESIGN §4).
//!
//! - [`config`]: `[[peer]]` tables, replicated as text and resolved alike
//!   on every node.
//! - [`manager`]: one task per node keeping a session task per peer, and
//!   deciding who dials.
//! - [`session`]: one task per peer: the state machine of
//!   `trunkline-peering` driven with a real stream and clock; import into
//!   replicated writes, export from the table's change feed.
//!   The Adj-RIB-Out and the pacing of what changed are the pure
//!   `trunkline_peering::exporter` (over `adj_out` and `pacing`).
//! - [`service`]: the gRPC endpoint peers dial; [`opening`]: a new stream
//!   until its Open is read.
//! - [`convert`]: wire messages to and from the session's types.

pub mod config;
pub mod convert;
pub mod manager;
pub mod opening;
pub mod service;
pub mod session;
