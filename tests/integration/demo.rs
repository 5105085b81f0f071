//! The README's peering demos run as documented (with the debug binaries),
//! every session over mutual TLS with certificates from `trunkline pki`.

use std::process::Command;

use crate::harness::bin;

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
    let ex = demo("exchange");
    assert!(ex.contains("sip:+442079460123@carol.pbx.example"), "{ex}");
    assert!(ex.contains("sip:+49305551234@bob.pbx.example"), "{ex}");
    assert_eq!(ex.matches("established").count(), 3, "{ex}");
}
