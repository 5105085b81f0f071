//! Generated code for the `trunkline.v1` gRPC API, and its file descriptor set
//! (for server reflection). Nothing here is written by hand.

#![allow(missing_debug_implementations, clippy::all)]

/// `trunkline.v1`: routes and node status.
pub mod v1 {
    tonic::include_proto!("trunkline.v1");
}

/// The encoded `FileDescriptorSet` of every file under `proto/`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/trunkline_descriptor.bin"));
