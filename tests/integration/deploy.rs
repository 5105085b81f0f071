//! The deploy files, as far as this machine can run them: the systemd
//! unit verified by `systemd-analyze` against the built daemon, and the
//! readiness it relies on (`Type=notify`) from a real node; the container
//! file and the Kubernetes manifests, which cannot be built or applied
//! here, checked against what the daemon accepts and serves.

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
    let (code, why) = http_get(http, "/readyz/local").unwrap();
    assert_eq!(code, 200, "answers from its own table: {why}");
    assert_eq!(node.terminate(), Some(0));
    let n = sock.recv(&mut buf).expect("STOPPING=1 from the node");
    assert_eq!(String::from_utf8_lossy(&buf[..n]), "STOPPING=1");
}

/// A CA and a node certificate for node `id`, as the manifests' comments
/// make them: (the CA's certificate, the node's certificate and key).
fn node_cert(dir: &Path, id: u64) -> (String, String, String) {
    let pki = |args: &[&str]| {
        let out = Command::new(bin("trunkline"))
            .arg("pki")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    let ca = dir.join("ca");
    if !ca.exists() {
        pki(&["init", "--dir", ca.to_str().unwrap(), "--name", "test"]);
    }
    let out = dir.join(format!("node{id}"));
    pki(&[
        "issue",
        "node",
        "--id",
        &id.to_string(),
        "--dir",
        ca.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--host",
        "localhost",
    ]);
    let s = |p: std::path::PathBuf| p.display().to_string();
    (
        s(ca.join("ca.crt")),
        s(out.with_extension("crt")),
        s(out.with_extension("key")),
    )
}

/// `trunklined check-config` on `config`, after pointing its
/// certificate paths at files made here.
fn check_config(dir: &Path, config: &str, tls_dir: &str, id: u64) {
    let (ca, crt, key) = node_cert(dir, id);
    let config = config
        .replace(&format!("{tls_dir}/node{id}.crt"), &crt)
        .replace(&format!("{tls_dir}/node{id}.key"), &key)
        .replace(&format!("{tls_dir}/node.crt"), &crt)
        .replace(&format!("{tls_dir}/node.key"), &key)
        .replace(&format!("{tls_dir}/ca.crt"), &ca);
    let path = dir.join(format!("checked{id}.toml"));
    std::fs::write(&path, config).unwrap();
    let out = Command::new(bin("trunklined"))
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The ports a config's listeners use, by what they serve.
fn config_ports(config: &str) -> Vec<(&'static str, u16)> {
    let mut out = Vec::new();
    let mut section = "";
    for line in config.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if let Some(addr) = line.strip_prefix("listen = \"") {
            let port = addr.trim_end_matches('"').rsplit(':').next().unwrap();
            let name = match section {
                "[api]" => "grpc",
                "[http]" => "http",
                "[cluster]" => "cluster",
                "[dns]" => "dns",
                other => panic!("a listener in {other}"),
            };
            out.push((name, port.parse().unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn the_container_file_runs_the_daemon_as_its_config_says() {
    let file = std::fs::read_to_string("../deploy/container/Dockerfile").unwrap();
    let config = std::fs::read_to_string("../deploy/container/trunkline.toml").unwrap();
    let lines: Vec<&str> = file
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let from = lines.iter().filter(|l| l.starts_with("FROM ")).count();
    assert!(from >= 2, "multi-stage: {from} FROM lines");
    let value = |key: &str| -> serde_json::Value {
        let l = lines.iter().find_map(|l| l.strip_prefix(key)).expect(key);
        serde_json::from_str(l.trim()).expect("exec form")
    };
    assert_eq!(
        value("ENTRYPOINT "),
        serde_json::json!(["/usr/bin/trunklined"])
    );
    assert_eq!(
        value("CMD "),
        serde_json::json!(["--config", "/etc/trunkline/trunkline.toml"])
    );
    assert!(
        file.contains("COPY deploy/container/trunkline.toml /etc/trunkline/trunkline.toml"),
        "the image carries the config its CMD names"
    );
    let exposed: Vec<u16> = (lines.iter())
        .filter_map(|l| l.strip_prefix("EXPOSE "))
        .flat_map(|l| l.split_whitespace())
        .map(|p| p.split('/').next().unwrap().parse().unwrap())
        .collect();
    for (what, port) in config_ports(&config) {
        assert!(
            exposed.contains(&port),
            "{what} port {port} exposed: {exposed:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    check_config(dir.path(), &config, "/etc/trunkline/tls", 1);
}

/// The manifests parsed (Debian's python3-yaml), the init container's
/// script run on the config template for each pod, each result checked
/// by the daemon, and ports, probes and services matched to it.
#[test]
fn the_kubernetes_manifests_name_what_the_daemon_serves() {
    let out = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
            "../deploy/kubernetes/trunkline.yaml",
        ])
        .output()
        .expect("python3 is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let kind = |k: &str, name: &str| {
        (docs.iter())
            .find(|d| d["kind"] == k && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("a {k} {name}"))
            .clone()
    };
    let set = kind("StatefulSet", "trunkline");
    let pod = &set["spec"]["template"]["spec"];
    let labels = &set["spec"]["template"]["metadata"]["labels"];
    assert_eq!(&set["spec"]["selector"]["matchLabels"], labels);

    // The headless Service: every node's address, ready or not.
    let peers = kind("Service", set["spec"]["serviceName"].as_str().unwrap());
    assert_eq!(peers["spec"]["clusterIP"], "None");
    assert_eq!(peers["spec"]["publishNotReadyAddresses"], true);
    let pdb = kind("PodDisruptionBudget", "trunkline");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], labels);

    // Pod trunkline-N: the init script fills in the template; the daemon
    // takes the result.
    let template = kind("ConfigMap", "trunkline-config")["data"]["trunkline.toml"]
        .as_str()
        .unwrap()
        .to_owned();
    let init = &pod["initContainers"][0]["command"];
    assert_eq!(init[0], "/bin/sh");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("trunkline.toml"), &template).unwrap();
    let container = &pod["containers"][0];
    let args: Vec<&str> = (container["args"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "--config");
    let rendered_path = args[1];
    let replicas = set["spec"]["replicas"].as_u64().unwrap();
    let mut rendered = String::new();
    for ordinal in 0..replicas {
        let script = init[2].as_str().unwrap();
        let script = script
            .replace("/template/", &format!("{}/", dir.path().display()))
            .replace("/config/", &format!("{}/pod-", dir.path().display()));
        let ran = Command::new("/bin/sh")
            .args(["-c", &script])
            .env("HOSTNAME", format!("trunkline-{ordinal}"))
            .output()
            .unwrap();
        assert!(ran.status.success(), "{ran:?}");
        let name = Path::new(rendered_path)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        rendered = std::fs::read_to_string(dir.path().join(format!("pod-{name}"))).unwrap();
        assert!(
            rendered.contains(&format!("id = {}\n", ordinal + 1)),
            "{rendered}"
        );
        assert!(rendered.contains(&format!(
            "trunkline-{ordinal}.{}",
            peers["metadata"]["name"].as_str().unwrap()
        )));
        check_config(dir.path(), &rendered, "/etc/trunkline/tls", ordinal + 1);
    }
    // The config is where the init container writes it and the daemon reads it.
    let mounted = |c: &serde_json::Value, volume: &str| {
        (c["volumeMounts"].as_array().unwrap().iter())
            .find(|m| m["name"] == volume)
            .map(|m| m["mountPath"].as_str().unwrap().to_owned())
    };
    let config_dir = mounted(container, "config").unwrap();
    assert!(rendered_path.starts_with(&config_dir));
    assert_eq!(
        mounted(&pod["initContainers"][0], "config"),
        Some(config_dir)
    );

    // Ports: each listener of the config is a named container port, and
    // the Services point at names that exist.
    let ports = container["ports"].as_array().unwrap();
    let port = |name: &str| {
        (ports.iter())
            .find(|p| p["name"] == name)
            .and_then(|p| p["containerPort"].as_u64())
    };
    for (what, p) in config_ports(&rendered) {
        assert_eq!(port(what), Some(u64::from(p)), "{what}");
    }
    assert_eq!(port("dns-tcp"), port("dns"));
    for svc in [peers, kind("Service", "trunkline")] {
        for p in svc["spec"]["ports"].as_array().unwrap() {
            let target = p["targetPort"].as_str().unwrap();
            assert!(port(target).is_some(), "{target}");
        }
    }

    // Probes: on the HTTP port, paths a running node answers; readiness
    // is the one that needs no quorum.
    let path = |probe: &str| {
        let p = &container[probe]["httpGet"];
        assert_eq!(p["port"], "http", "{probe}");
        p["path"].as_str().unwrap().to_owned()
    };
    assert_eq!(path("readinessProbe"), "/readyz/local");
    let node = Node::start();
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let (code, body) = http_get(node.spec.http, &path(probe)).unwrap();
        assert_eq!(code, 200, "{probe}: {body}");
    }
}
