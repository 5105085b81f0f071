//! Kamailio (Debian `kamailio`, installed by the test script) running the
//! example `deploy/pbx/kamailio/kamailio.cfg` unchanged: a call from sipp
//! is routed by Trunkline, once through ENUM and once by following
//! Trunkline's 302, and reaches a sipp playing the far PBX at the address
//! Trunkline announced. Withdrawn, the same call fails with 404.
//!
//! Kamailio's ENUM lookups use the system resolver, which takes its
//! nameserver from /etc/resolv.conf, on port 53. So Kamailio runs in its own
//! mount namespace (`unshare --mount`, root) where /etc/resolv.conf names
//! the node's DNS front end, bound to port 53 of a loopback address of its
//! own; nothing outside the test changes.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Node, free_port, wait_until};
use crate::sipp::{self, Uas};

const NUMBER: &str = "+15551234567";

fn example_config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/pbx/kamailio/kamailio.cfg")
}

/// A Kamailio process; stopped (with its children) on drop.
struct Kamailio {
    port: u16,
    child: Option<Child>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Kamailio {
    /// Starts Kamailio on a free UDP port, with `nameserver` in its view of
    /// /etc/resolv.conf and `defines` passed as `-A`.
    fn start(nameserver: &str, defines: &[String]) -> Kamailio {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let resolv = dir.path().join("resolv.conf");
        std::fs::write(
            &resolv,
            format!("nameserver {nameserver}\noptions timeout:2 attempts:2\n"),
        )
        .unwrap();
        let log = dir.path().join("kamailio.log");
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount --bind \"$0\" /etc/resolv.conf && exec kamailio \"$@\"")
            .arg(&resolv)
            .args(["-f", example_config().to_str().unwrap(), "-DD", "-E"])
            .args(["-l", &format!("udp:127.0.0.1:{port}")])
            .args(["-n", "2", "-m", "32", "-M", "4"])
            .arg("-Y")
            .arg(dir.path())
            .arg("-w")
            .arg(dir.path());
        for d in defines {
            cmd.args(["-A", d]);
        }
        let child = cmd
            .stdout(std::fs::File::create(dir.path().join("stdout.log")).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare (util-linux) is installed");
        let mut k = Kamailio {
            port,
            child: Some(child),
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let options = sipp::request("OPTIONS", &format!("sip:127.0.0.1:{port}"));
            if let Some(r) = sipp::udp_exchange(port, &options) {
                assert!(r.starts_with("SIP/2.0 200"), "{r}");
                return k;
            }
            let exited = k.child.as_mut().unwrap().try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "Kamailio did not start ({exited:?}); it needs root for its mount namespace:\n{}",
                k.log()
            );
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM: the main process stops its worker children too.
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.try_wait().unwrap().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A call from sipp through `kamailio` reaches the far PBX, which sees the
/// request URI Trunkline gave for the number. With `busy`, that trunk comes
/// first, answers 503, and must be passed over for the far PBX.
fn call_arrives(kamailio: &Kamailio, node: &Node, how: &str, busy: Option<Uas>) {
    let far = Uas::start("far_pbx");
    let far_port = far.port;
    let trunks: Vec<u16> = busy.iter().map(|b| b.port).chain([far_port]).collect();
    announce(node, &trunks);
    let (ok, out) = sipp::call(kamailio.port, "call", NUMBER, "u1");
    let (far_ok, far_out) = far.finish(Duration::from_secs(10));
    let (busy_ok, busy_out) =
        busy.map_or((true, String::new()), |b| b.finish(Duration::from_secs(10)));
    let context = || {
        format!(
            "caller:\n{out}\nbusy trunk:\n{busy_out}\nfar PBX:\n{far_out}\nkamailio:\n{}",
            kamailio.log()
        )
    };
    assert!(
        ok && far_ok && busy_ok,
        "a call by {how} did not complete\n{}",
        context()
    );
    let expected = format!("INVITE sip:{NUMBER}@127.0.0.1:{far_port} SIP/2.0");
    assert!(
        far_out.contains(&expected),
        "expected {expected}\n{}",
        context()
    );
}

/// Points the number's block at these trunks, the first one preferred.
fn announce(node: &Node, trunks: &[u16]) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("routes.csv");
    let lines: String = trunks
        .iter()
        .enumerate()
        .map(|(i, port)| format!("+1555123,sip:{{e164}}@127.0.0.1:{port},{}\n", 10 * (i + 1)))
        .collect();
    std::fs::write(&csv, lines).unwrap();
    node.cli(&["announce", "--file", csv.to_str().unwrap()])
        .ok();
}

/// A loopback address of its own for the node's DNS front end on port 53.
fn dns_address() -> String {
    format!("127.53.0.{}", std::process::id() % 250 + 1)
}

#[test]
fn kamailio_routes_calls_by_enum_and_by_following_the_302() {
    let dns = dns_address();
    let sip = free_port();
    let node = Node::start_with(
        &format!(
            "[dns]\nenabled = true\nlisten = \"{dns}:53\"\nzones = [{{ name = \"e164.arpa.\" }}]\nttl = 5\n\n[sip]\nenabled = true\nlisten = \"127.0.0.1:{sip}\"\n"
        ),
        "",
    );
    let by_enum = Kamailio::start(&dns, &[]);
    let by_redirect = Kamailio::start(
        &dns,
        &[
            "WITH_REDIRECT".to_owned(),
            format!("TRUNKLINE_SIP=\"sip:127.0.0.1:{sip}\""),
        ],
    );

    call_arrives(&by_enum, &node, "ENUM", None);
    call_arrives(&by_redirect, &node, "302", None);
    // The 302 lists every trunk; Kamailio tries them in Trunkline's order.
    call_arrives(
        &by_redirect,
        &node,
        "302 with a failing first trunk",
        Some(Uas::start("busy_pbx")),
    );

    node.cli(&["withdraw", "+1555123"]).ok();
    wait_until("the lookup goes empty", Duration::from_secs(5), || {
        node.cli(&["lookup", NUMBER]).code != 0
    });
    for (kamailio, how) in [(&by_enum, "ENUM"), (&by_redirect, "302")] {
        let (ok, out) = sipp::call(kamailio.port, "notfound", NUMBER, "u1");
        assert!(
            ok,
            "a withdrawn number by {how} is not 404:\n{out}\n{}",
            kamailio.log()
        );
    }
}
