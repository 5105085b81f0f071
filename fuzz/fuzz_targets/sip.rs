//! The SIP redirect server answering raw message heads: every answer is
//! one well-formed response, with no bare CR or LF copied into a header.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use trunkline_fuzz::Node;
use trunklined::frontend::sip;
use trunklined::lookup::lookup_in;

static NODE: OnceLock<Node> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let node = NODE.get_or_init(Node::new);
    let text = String::from_utf8_lossy(data);
    // Both transports read up to the blank line.
    let head = text.split("\r\n\r\n").next().unwrap_or(&text);
    let src = "192.0.2.1:5060".parse().unwrap();
    let Some((code, answer, _dest)) =
        sip::reply(head, src, |n| lookup_in(&node.view, &node.plans, n))
    else {
        return;
    };
    assert!((100..700).contains(&code));
    assert!(
        answer.starts_with(&format!("SIP/2.0 {code} ")),
        "{answer:?}"
    );
    let head = answer
        .strip_suffix("\r\n\r\n")
        .unwrap_or_else(|| panic!("{answer:?}"));
    for line in head.split("\r\n") {
        assert!(!line.contains(['\r', '\n']), "{answer:?}");
    }
});
