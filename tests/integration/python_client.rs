//! A Python client built with Debian's tools only (protoc, the gRPC
//! Python plugin, python3-grpcio; installed by the test script), from the
//! `.proto` files in `proto/`, calls Lookup: the API is plain gRPC.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::Node;

#[test]
fn a_python_grpcio_client_looks_up_a_number() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let stubs = tempfile::tempdir().unwrap();
    let generated = Command::new("protoc")
        .arg(format!("-I{}", root.join("proto").display()))
        .arg(format!("--python_out={}", stubs.path().display()))
        .arg(format!("--grpc_out={}", stubs.path().display()))
        .arg("--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin")
        .arg("trunkline/v1/routes.proto")
        .status()
        .expect("protoc is installed (scripts/test installs protobuf-compiler)");
    assert!(generated.success());

    let node = Node::start_with(
        "[[route]]\nprefix = \"+1555123\"\nvia = [\"sip:{e164}@pbx.example\"]\n",
        "",
    );
    let lookup = |number: &str| {
        let out = Command::new("/usr/bin/python3")
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/python/lookup.py"))
            .arg(format!("127.0.0.1:{}", node.spec.grpc))
            .arg(number)
            .env("PYTHONPATH", stubs.path())
            .output()
            .expect("Debian's python3 with python3-grpcio");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, out) = lookup("+15551234567");
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out, "+1555123\nsip:+15551234567@pbx.example 10 100\n");
    let (code, out) = lookup("+4930");
    assert_eq!(code, Some(3), "{out}");
    assert!(out.starts_with("NOT_FOUND no route for +4930"), "{out}");
    let (code, out) = lookup("+1555x");
    assert_eq!(code, Some(2), "{out}");
    assert!(out.starts_with("INVALID_ARGUMENT"), "{out}");
}
