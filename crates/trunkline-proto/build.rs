//! Compiles `proto/` with protox (pure Rust), so no system `protoc` is needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        "trunkline/v1/routes.proto",
        "trunkline/v1/node.proto",
        "trunkline/v1/cluster.proto",
        "trunkline/v1/neighbors.proto",
        "trunkline/v1/tokens.proto",
        "trunkline/v1/authority.proto",
        "trunkline/v1/invites.proto",
        "trunkline/cluster/v1/raft.proto",
        "trunkline/peering/v1/peering.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    let fds = protox::compile(files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("trunkline_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
