//! The ENUM front end answering raw packets: whatever it sends back is one
//! DNS message with the query's id, within the UDP limit on UDP.
#![no_main]

use std::sync::OnceLock;

use hickory_proto::op::Message;
use libfuzzer_sys::fuzz_target;
use trunkline_fuzz::Node;

static NODE: OnceLock<Node> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let node = NODE.get_or_init(Node::new);
    let Some((&mode, packet)) = data.split_first() else {
        return;
    };
    let udp = mode & 1 == 0;
    let serving = mode & 2 == 0;
    let Some((wire, _)) = node
        .zones
        .answer_packet(packet, udp, &node.view, &node.plans, serving)
    else {
        return;
    };
    let resp = Message::from_vec(&wire).expect("an answer decodes");
    assert_eq!(&wire[..2], &packet[..2], "the query's id");
    assert!(resp.metadata.message_type == hickory_proto::op::MessageType::Response);
    if udp {
        assert!(wire.len() <= 4096, "{} bytes over UDP", wire.len());
    }
});
