//! The gRPC services. The public ones (`trunkline.v1`: routes, node,
//! cluster, neighbors, tokens) speak only through `convert.rs`, the one place that
//! knows both protobuf and core types; `raft.rs` is the internal
//! node-to-node service, kept apart.

mod authority;
mod cluster;
mod convert;
mod errors;
mod history;
mod invites;
mod lookup_batch;
mod neighbors;
mod node;
mod raft;
mod routes;
mod tokens;
mod watch;

pub use history::History;
pub use invites::InvitesApi;
pub use neighbors::NeighborsApi;
pub use raft::RaftService;
pub use routes::Api;
