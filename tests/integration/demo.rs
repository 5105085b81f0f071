//! The README's peering demo and local exchange run as documented (with
//! the debug binaries), every session over mutual TLS with certificates
//! from `trunkline pki`.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{bin, http_get, wait_until};

fn demo(which: &str) -> String {
    let dir = bin("trunklined").parent().unwrap().to_owned();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(root.join("scripts/demo"))
        .arg(which)
        .env("TRUNKLINE_DEMO_BIN", dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "scripts/demo {which} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn the_peering_demos_work() {
    let two = demo("two-pbx");
    assert!(two.contains("sip:+49305551234@bob.pbx.example"), "{two}");
    assert!(two.contains("sip:+15551234567@alice.pbx.example"), "{two}");
    // Every node is reached over TLS, and peers over mutual TLS.
    assert!(two.contains("--ca pki/ca.crt --server https://"), "{two}");
}

/// The gRPC ports of the local exchange's five nodes.
const LOCAL_EXCHANGE: [u16; 5] = [32101, 32102, 32103, 32104, 32105];

fn local_exchange(dir: &std::path::Path, args: &[&str]) -> Command {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut c = Command::new(root.join("deploy/local-exchange/run"));
    c.arg("--dir")
        .arg(dir)
        .args(args)
        .env("TRUNKLINE_BIN", bin("trunklined").parent().unwrap());
    c
}

fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// `deploy/local-exchange/run`: five nodes up and routing, reachable as it
/// says, until SIGTERM stops them all; run again, it keeps its state.
#[test]
fn the_local_exchange_starts_routes_and_stops_in_one_command() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = local_exchange(dir.path(), &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        out.push_str(&line);
        out.push('\n');
        if line.contains("Ctrl-C stops every node") {
            break;
        }
    }
    assert!(out.contains("Local exchange ready"), "{out}");
    assert!(out.contains("sip:+49305551234@bob.pbx.example"), "{out}");
    assert_eq!(out.matches("established").count(), 2, "{out}");
    assert!(out.contains("http://127.0.0.1:32111/lg/"), "{out}");
    // Each node is where it says, the looking glass too.
    assert!(LOCAL_EXCHANGE.iter().all(|&p| listening(p)));
    let (code, body) = http_get(32111, "/lg/neighbors?format=json").unwrap();
    assert_eq!(code, 200, "{body}");
    assert_eq!(body.matches("\"established\"").count(), 2, "{body}");

    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    wait_until("every node stopped", Duration::from_secs(10), || {
        LOCAL_EXCHANGE.iter().all(|&p| !listening(p))
    });

    // Again, on the same state: the CA is kept, the raft logs reused.
    let ca = std::fs::read(dir.path().join("pki/ca.crt")).unwrap();
    let again = local_exchange(dir.path(), &["--exit-when-ready"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(text.contains("sip:+49305551234@bob.pbx.example"), "{text}");
    assert_eq!(std::fs::read(dir.path().join("pki/ca.crt")).unwrap(), ca);
    let log = std::fs::read_to_string(dir.path().join("exchange1.log")).unwrap();
    assert_eq!(
        log.matches("trunklined serving").count(),
        2,
        "two runs, one log"
    );
    wait_until("every node stopped", Duration::from_secs(10), || {
        LOCAL_EXCHANGE.iter().all(|&p| !listening(p))
    });
}
