//! `trunklined`: the Trunkline daemon, as a library so the binary, the
//! fuzz targets and the benches reach the same code.
//!
//! Layout:
//! - `config`: the TOML file and its checks.
//! - `store`: the raft thread owning the replicated route table;
//!   `transport` and `raft_service`: node-to-node raft traffic.
//! - `api`, `cluster_api`: the gRPC services; `convert`: protobuf <-> core.
//! - `http`: metrics and health; `metrics`, `logging`.
//! - `lg`: the looking glass, read-only pages over the API.
//! - `tls`: certificates on the three channels, and who they prove.
//! - `server`: starts everything and owns the one shutdown path.
//! - `frontend`, `lookup`: the PBX front ends and the one lookup they share.

mod api;
mod auth;
pub mod config;
pub mod frontend;
mod grpc;
mod http;
mod invite;
mod lg;
pub mod logging;
pub mod lookup;
mod metrics;
mod notify;
mod parse;
mod peering;
pub mod server;
mod store;
mod tls;
