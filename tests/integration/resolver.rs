//! The ENUM path a PBX host takes: its validating resolver (Debian's
//! unbound, installed by the test script, with the root trust anchor of
//! `dns-root-data`) forwarding `e164.arpa` to the DNS front end, as
//! `deploy/pbx/README.md` configures it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Node, free_port, wait_until};

/// Debian's `dns-root-data`: the root zone's key, to validate from.
const ROOT_KEY: &str = "/usr/share/dns/root.key";

/// A DS record of a key that signs nothing Trunkline serves.
const SOME_DS: &str = "12345 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE6F6E4F3D6B6F9A0BF6C1E9A2";

/// A running unbound that validates, forwarding `e164.arpa` to `upstream`.
struct Unbound {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Unbound {
    /// `zone`: what the resolver is told of `e164.arpa` besides the root's
    /// key (the README's `domain-insecure`, or a trust anchor).
    fn start(upstream: u16, zone: &str) -> Unbound {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf = format!(
            "server:
    interface: 127.0.0.1
    port: {port}
    do-daemonize: no
    username: \"\"
    chroot: \"\"
    directory: \"{dir}\"
    pidfile: \"\"
    use-syslog: no
    num-threads: 1
    so-reuseport: no
    access-control: 127.0.0.0/8 allow
    module-config: \"validator iterator\"
    trust-anchor-file: \"{ROOT_KEY}\"
    do-not-query-localhost: no
    {zone}
forward-zone:
    name: \"e164.arpa.\"
    forward-addr: 127.0.0.1@{upstream}
",
            dir = dir.path().display()
        );
        let path = dir.path().join("unbound.conf");
        std::fs::write(&path, conf).unwrap();
        let checked = Command::new("unbound-checkconf")
            .arg(&path)
            .output()
            .expect("unbound is installed (scripts/test installs it)");
        assert!(
            checked.status.success(),
            "{}",
            String::from_utf8_lossy(&checked.stdout)
        );
        let child = Command::new("unbound")
            .args(["-d", "-c"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("unbound starts");
        let u = Unbound {
            child,
            port,
            _dir: dir,
        };
        wait_until("unbound answers", Duration::from_secs(10), || {
            // Served from its own local zone: no forwarding, no validation.
            u.ask(&["A", "localhost."]).contains("status: NOERROR")
        });
        u
    }

    /// `dig` asking it, with recursion as a PBX's stub resolver does.
    fn ask(&self, args: &[&str]) -> String {
        let out = Command::new("dig")
            .args(["@127.0.0.1", "-p", &self.port.to_string()])
            .args(["+time=5", "+tries=1"])
            .args(args)
            .output()
            .expect("dig is installed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Forwarding alone, the unsigned answers of a zone that is signed on the
/// Internet are bogus: SERVFAIL. Marked insecure, they come through,
/// validated from the root's key for everything else, and a withdrawal
/// is seen once the cached answer's TTL has run out.
#[test]
fn a_validating_unbound_passes_answers_when_the_zone_is_marked_insecure() {
    const TTL: u64 = 4;
    let dns = free_port();
    let node = Node::start_with(
        &format!(
            "[dns]\nenabled = true\nlisten = \"127.0.0.1:{dns}\"\nttl = {TTL}\n\n[[route]]\nprefix = \"+1555123\"\nvia = [\"sip:{{e164}}@pbx.example\"]\n"
        ),
        "",
    );
    let name = "7.6.5.4.3.2.1.5.5.5.1.e164.arpa.";
    let naptr = r#"100 10 "u" "E2U+sip" "!^.*$!sip:+15551234567@pbx.example!" ."#;

    // On the Internet the root's chain proves `e164.arpa` signed (a DS in
    // `arpa.`); a trust anchor for the zone stands in for that chain, so
    // the test does not depend on reaching the root servers.
    let signed = Unbound::start(dns, &format!("trust-anchor: \"e164.arpa. DS {SOME_DS}\""));
    let bogus = signed.ask(&["NAPTR", name]);
    assert!(bogus.contains("status: SERVFAIL"), "{bogus}");
    drop(signed);

    let resolver = Unbound::start(dns, "domain-insecure: \"e164.arpa.\"");
    let answer = resolver.ask(&["NAPTR", name]);
    assert!(answer.contains("status: NOERROR"), "{answer}");
    assert_eq!(resolver.ask(&["NAPTR", name, "+short"]).trim(), naptr);
    let miss = resolver.ask(&["NAPTR", "9.9.9.4.4.e164.arpa."]);
    assert!(miss.contains("status: NXDOMAIN"), "{miss}");

    node.cli(&["announce", "+1555999", "--via", "sip:x@new.example"])
        .ok();
    let fresh = "1.1.1.1.9.9.9.5.5.5.1.e164.arpa.";
    let cached = Instant::now();
    let first = resolver.ask(&["NAPTR", fresh, "+short"]);
    assert!(first.contains("sip:x@new.example"), "{first}");
    node.cli(&["withdraw", "+1555999"]).ok();
    // Within the TTL the resolver may serve what it cached, and does (it
    // keeps expiry times in whole seconds, so the TTL can be a second
    // shorter).
    let again = resolver.ask(&["NAPTR", fresh, "+short"]);
    if cached.elapsed() < Duration::from_millis((TTL - 1) * 1000 - 500) {
        assert!(again.contains("sip:x@new.example"), "cached: {again}");
    }
    wait_until(
        "the withdrawal through the resolver",
        Duration::from_secs(TTL + 5),
        || resolver.ask(&["NAPTR", fresh]).contains("status: NXDOMAIN"),
    );
    assert!(
        cached.elapsed() >= Duration::from_secs(TTL - 1),
        "seen only once the TTL ran out"
    );
    // The route that stayed still resolves.
    assert_eq!(resolver.ask(&["NAPTR", name, "+short"]).trim(), naptr);
}
