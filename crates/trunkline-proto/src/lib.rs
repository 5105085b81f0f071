//! Generated code for the `trunkline.v1` gRPC API, and its file descriptor set
//! (for server reflection). Nothing here is written by hand.

#![allow(missing_debug_implementations, clippy::all)]

/// `trunkline.v1`: routes, node and cluster status, membership.
pub mod v1 {
    tonic::include_proto!("trunkline.v1");
}

/// `trunkline.cluster.v1`: node-to-node raft transport (not a public API).
pub mod cluster {
    pub mod v1 {
        tonic::include_proto!("trunkline.cluster.v1");
    }
}

/// `trunkline.peering.v1`: the peering protocol between clusters and PBX nodes.
pub mod peering {
    pub mod v1 {
        tonic::include_proto!("trunkline.peering.v1");
    }
}

/// The encoded `FileDescriptorSet` of every file under `proto/`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/trunkline_descriptor.bin"));
