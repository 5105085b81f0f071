//! The deploy files, as far as this machine can run them: the systemd
//! unit verified by `systemd-analyze` against the built daemon, and the
//! readiness it relies on (`Type=notify`) from a real node.

use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::{Node, NodeSpec, bin, free_port, http_get};

const UNIT: &str = "../deploy/systemd/trunklined.service";
const DROP_IN: &str = "../deploy/systemd/trunklined.service.d/dns-port-53.conf";

fn systemd_analyze(args: &[&str], unit: &Path) -> std::process::Output {
    Command::new("systemd-analyze")
        .args(args)
        .arg(unit)
        .output()
        .expect("systemd-analyze is installed (scripts/test installs systemd)")
}

/// The unit as installed would be, with the binary it names being the one
/// just built (the verifier checks that it exists and is executable).
#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let text = std::fs::read_to_string(UNIT).unwrap();
    let drop_in = std::fs::read_to_string(DROP_IN).unwrap();
    for line in [
        "Type=notify",
        "DynamicUser=yes",
        "StateDirectory=trunkline",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=\n",
        "ExecStart=/usr/bin/trunklined --config /etc/trunkline/trunkline.toml\n",
    ] {
        assert!(text.contains(line), "{line:?} in the unit");
    }
    assert!(
        !text.contains("CAP_NET_BIND_SERVICE="),
        "only the drop-in grants it"
    );
    assert!(drop_in.contains("AmbientCapabilities=CAP_NET_BIND_SERVICE"));

    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("trunklined.service");
    let daemon = bin("trunklined").canonicalize().unwrap();
    let text = text.replace("/usr/bin/trunklined", daemon.to_str().unwrap());
    std::fs::write(&unit, text).unwrap();
    let out = systemd_analyze(&["verify", "--man=no"], &unit);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::create_dir(dir.path().join("trunklined.service.d")).unwrap();
    std::fs::copy(
        DROP_IN,
        dir.path().join("trunklined.service.d/dns-port-53.conf"),
    )
    .unwrap();
    let out = systemd_analyze(&["verify", "--man=no"], &unit);
    assert!(out.status.success(), "with the drop-in: {out:?}");
    // systemd's own exposure score, 0 (locked down) to 10: "OK" is under 2.
    let out = systemd_analyze(&["security", "--offline=yes", "--threshold=20"], &unit);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The config the README tells the unit to use is one the daemon takes.
    let config = dir.path().join("trunkline.toml");
    let default = Command::new(&daemon)
        .arg("default-config")
        .output()
        .unwrap();
    std::fs::write(&config, default.stdout).unwrap();
    let checked = Command::new(&daemon)
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(checked.status.success(), "{checked:?}");
}

/// READY=1 comes once storage is open and every listener accepts, even
/// with no quorum (the node's two fellow members are not running), and
/// STOPPING=1 when it is told to stop.
#[test]
fn ready_is_sent_when_listeners_are_up_not_after_a_quorum() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let ca = crate::certs::TestCa::new();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let members: Vec<String> = (ports.iter().enumerate())
        .map(|(i, c)| format!("{{ id = {}, addr = \"https://127.0.0.1:{c}\" }}", i + 1))
        .collect();
    let (grpc, http) = (free_port(), free_port());
    let mut node = Node::new(NodeSpec {
        cluster_port: ports[0],
        cluster_tls: ca.cluster_tls(1),
        env: vec![("NOTIFY_SOCKET".into(), path.display().to_string())],
        ..NodeSpec::new(
            1,
            format!("members = [{}]\n", members.join(", ")),
            grpc,
            http,
        )
    });
    node.spawn();
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("READY=1 from the node");
    let said = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(said.lines().any(|l| l == "READY=1"), "{said:?}");
    for port in [grpc, http, ports[0]] {
        TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("port {port}: {e}"));
    }
    let (code, why) = http_get(http, "/readyz").unwrap();
    assert_eq!(code, 503, "no quorum yet: {why}");
    assert_eq!(node.terminate(), Some(0));
    let n = sock.recv(&mut buf).expect("STOPPING=1 from the node");
    assert_eq!(String::from_utf8_lossy(&buf[..n]), "STOPPING=1");
}
