//! Compiles the etcd KV subset used by the comparison benchmark (protox: no
//! system protoc).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("proto");
    println!(
        "cargo:rerun-if-changed={}",
        root.join("etcdserverpb/kv.proto").display()
    );
    let fds = protox::compile(["etcdserverpb/kv.proto"], [&root])?;
    tonic_prost_build::configure()
        .build_server(false)
        .compile_fds(fds)?;
    Ok(())
}
