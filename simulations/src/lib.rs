//! `trunkline-simulations`: federations of ITADs at internet scale, on the
//! product's own protocol code. Every simulated ITAD runs the real session
//! state machine, import and export policy, Adj-RIB-Out, pacing and route
//! table (selection included); only time and the network are simulated.
//!
//! - [`sim`]: the virtual clock, the event queue, seeded streams, the run's
//!   log hash.
//! - [`net`]: links carrying session streams (latency, jitter, loss as
//!   retransmission delay, cut and heal).
//! - [`node`]: one ITAD (a cluster as one logical node with a sampled
//!   commit latency, or with [`raft_cluster`], three real raft-rs
//!   `RawNode`s on the virtual clock).
//! - [`world`]: nodes, links and the event loop.
//! - [`topology`]: who peers with whom, and with which policy;
//!   [`hierarchy`]: an internet-like one with Gao-Rexford policies;
//!   [`classes`]: the equivalence classes a full table needs to fit.
//! - [`scenario`]: the runs `trunkline-sim run NAME` makes, and their
//!   invariants; [`plot`]: their SVG plots.

pub mod classes;
pub mod hierarchy;
pub mod net;
pub mod node;
pub mod plot;
pub mod raft_cluster;
pub mod scenario;
pub mod sim;
pub mod topology;
pub mod world;
