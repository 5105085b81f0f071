//! What the fuzz targets share: a node's answering state built from a
//! config file, as the daemon builds it, and a byte reader for targets that
//! turn input into a sequence of steps.

use std::sync::Arc;

use trunkline_cluster::command::{Command, Origin, Proposal, encode_batch};
use trunkline_cluster::{StateMachine, View};
use trunkline_core::Plans;
use trunklined::config::{Config, Loaded};
use trunklined::frontend::enum_dns::Zones;

/// A node with a private plan, the DNS front end and a few routes: enough
/// for answers to take every branch (hits, misses below a route, several
/// next hops, a range's `{local}`).
pub const CONFIG: &str = r#"
[node]
id = 1
name = "fuzz"
itad = 4200000001

[dns]
enabled = true
zones = [{ name = "e164.arpa.", plan = "e164" }, { name = "npstn.example.", plan = "npstn" }]

[[plan]]
name = "npstn"
max_digits = 7

[[route]]
prefix = "+1555123XXXX"
via = ["sip:{e164}@pbx.example.org", "iax2:guest@c.example/{digits}"]
next_hops = [{ uri = "sip:{digits}@backup.example.org", priority = 20, weight = 100 }]

[[route]]
prefix = "+15551240000..+15551240499"
via = ["sip:{local}@range.example.org"]

[[route]]
prefix = "npstn:55"
via = ["iax2:npstn@club.example/{digits}", "tel:{e164}"]
"#;

/// The answering state of a node started from [`CONFIG`].
#[derive(Debug)]
pub struct Node {
    pub plans: Plans,
    pub zones: Zones,
    pub view: Arc<View>,
}

impl Node {
    pub fn new() -> Node {
        let Loaded {
            plans,
            dns_zones,
            routes,
            ..
        } = Config::from_toml(CONFIG).expect("the fuzz config loads");
        let mut sm = StateMachine::new(plans.clone());
        let data = encode_batch(
            &[Proposal {
                origin: Origin { node: 1, token: 0 },
                request_id: String::new(),
                command: Command::Announce(routes),
            }],
            &plans,
        );
        sm.apply(2, 1, &data);
        sm.publish();
        Node {
            zones: dns_zones.expect("[dns] is enabled"),
            view: sm.view().load_full(),
            plans,
        }
    }
}

impl Default for Node {
    fn default() -> Node {
        Node::new()
    }
}

/// Reads fuzz input as small numbers, then the rest as bytes.
#[derive(Debug)]
pub struct Bytes<'a>(pub &'a [u8]);

impl<'a> Bytes<'a> {
    pub fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    pub fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }

    /// Up to `max` bytes, the length read first.
    pub fn take(&mut self, max: usize) -> &'a [u8] {
        let n = usize::from(self.u8().unwrap_or(0))
            .min(max)
            .min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }

    /// Up to `max` bytes as text (invalid UTF-8 replaced).
    pub fn text(&mut self, max: usize) -> String {
        String::from_utf8_lossy(self.take(max)).into_owned()
    }
}
