//! Running a node: stopping and restarting it, reloading its config, what
//! it logs, and the README's three nodes on one machine.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::harness::{Cluster, Node, bin, cli, free_port, wait_until};

/// A cluster node stops as soon as its in-flight requests are done, not
/// after the whole grace period its peers' idle links would hold it for,
/// so a restart right after SIGTERM finds its data directory free.
#[test]
fn a_cluster_node_restarts_at_once_after_sigterm() {
    let mut c = Cluster::start_with_proxies(3, "shutdown_grace_ms = 30000\n", "");
    c.nodes[0]
        .cli(&["announce", "+44", "--via", "sip:london@x"])
        .ok();
    c.converged_tables();
    // Stop a follower; the leader is the node that keeps a link to it.
    let leader = c.leader();
    let victim = (leader + 1) % 3;
    let started = Instant::now();
    assert_eq!(c.nodes[victim].terminate(), Some(0));
    let took = started.elapsed();
    eprintln!("SIGTERM to exit of a cluster node: {took:?}");
    assert!(
        took < Duration::from_secs(10),
        "SIGTERM took {took:?}: the node waited for idle peer links\n{}",
        c.nodes[victim].log_tail(30)
    );
    // While it is down, the leader says so once, with the cause, not at
    // every reconnect attempt.
    std::thread::sleep(Duration::from_secs(3));
    let to = format!("to={}", victim + 1);
    let log = c.nodes[leader].log();
    let said: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("INFO") && l.contains("::transport:") && l.contains(&to))
        .collect();
    assert_eq!(said.len(), 1, "{}", c.nodes[leader].log_tail(40));
    assert!(
        ["shutting down", "reset", "refused", "closed"]
            .iter()
            .any(|c| said[0].contains(c)),
        "no cause: {}",
        said[0]
    );
    c.nodes[victim].restart();
    c.nodes[victim].cli(&["lookup", "+4420"]).ok();
}

/// Two processes on one data directory: the second says which directory
/// and that another process has it, and exits.
#[test]
fn a_data_dir_in_use_is_named() {
    let node = Node::start();
    let other = node.dir.path().join("other.toml");
    let text = node
        .config_text()
        .replace(&node.spec.grpc.to_string(), &free_port().to_string())
        .replace(&node.spec.http.to_string(), &free_port().to_string());
    std::fs::write(&other, text).unwrap();
    let out = std::process::Command::new(bin("trunklined"))
        .arg("--config")
        .arg(&other)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let dir = node.dir.path().join("data");
    assert!(
        err.contains("another process is using the data directory")
            && err.contains(&dir.display().to_string()),
        "{err}"
    );
    // Said once, not twice.
    assert_eq!(err.matches("another process").count(), 1, "{err}");
}

fn route(prefix: &str, via: &str) -> String {
    format!("[[route]]\nprefix = \"{prefix}\"\nvia = [\"{via}\"]\n")
}

fn hup(node: &Node) {
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &node.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// SIGHUP reads `[[route]]` and `[[peer]]` from the file again, as a
/// restart would; a broken file changes nothing; other sections say they
/// need a restart. The node keeps running throughout.
#[test]
fn sighup_reloads_routes_and_peers() {
    let mut node = Node::start_with(&route("+4930", "sip:berlin@x"), "");
    node.spec.extra = format!(
        "{}[[peer]]\nname = \"bob\"\nitad = 4200000202\n[[peer.import]]\naction = \"accept\"\n",
        route("+4420", "sip:london@x")
    );
    node.write_config();
    hup(&node);
    wait_until("the reloaded route", Duration::from_secs(10), || {
        node.cli(&["lookup", "+442071"]).code == 0
    });
    assert_eq!(
        node.cli(&["lookup", "+493012"]).code,
        3,
        "removed from the file"
    );
    let j = node.cli(&["neighbor", "show", "bob", "--json"]).json();
    assert_eq!(j["itad"], 4200000202u64);
    // The peer has no export policy: the log says nothing will be sent.
    wait_until("the export warning", Duration::from_secs(5), || {
        node.log().contains("no export policy")
    });

    // A broken file: logged, and nothing changes.
    std::fs::write(node.config_path(), "[node]\nid = 1\nbogus = 1\n").unwrap();
    hup(&node);
    wait_until("the reload error", Duration::from_secs(5), || {
        node.log().contains("keeping the running config")
    });
    node.cli(&["lookup", "+442071"]).ok();

    // A change only a restart applies is named.
    node.spec.api_extra = "write_timeout_ms = 5000\n".into();
    node.write_config();
    hup(&node);
    wait_until("the restart notice", Duration::from_secs(5), || {
        node.log()
            .contains("[api] take effect only at the next restart")
    });
    assert!(node.is_running());
}

/// The log says what an operator needs, once: the version, the absolute
/// data directory (a new, empty one is called so), role changes; raft-rs
/// internals stay at DEBUG.
#[test]
fn the_log_says_what_matters() {
    // A relative data_dir, started from a directory of the test's own.
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http) = (free_port(), free_port());
    let config = format!(
        "[node]\nid = 1\nitad = 4200000000\ndata_dir = \"./here\"\n[api]\nlisten = \"127.0.0.1:{grpc}\"\n[http]\nlisten = \"127.0.0.1:{http}\"\n[cluster]\nlisten = \"127.0.0.1:{}\"\n",
        free_port()
    );
    std::fs::write(dir.path().join("t.toml"), config).unwrap();
    let log = dir.path().join("log");
    let mut child = std::process::Command::new(bin("trunklined"))
        .args(["--config", "t.toml"])
        .current_dir(dir.path())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let server = format!("http://127.0.0.1:{grpc}");
    // Serving comes before the election: wait for both.
    wait_until("the node leads", Duration::from_secs(20), || {
        cli(&["--server", &server, "status"]).code == 0
            && std::fs::read_to_string(&log).is_ok_and(|t| t.contains("this node is the leader"))
    });
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    let abs = std::fs::canonicalize(dir.path()).unwrap().join("here");
    let serving = text
        .lines()
        .find(|l| l.contains("trunklined serving"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(serving.contains(env!("CARGO_PKG_VERSION")), "{serving}");
    assert!(
        serving.contains(&abs.display().to_string()),
        "{serving} lacks {}",
        abs.display()
    );
    assert!(text.contains("new, empty node"), "{text}");
    assert!(text.contains("this node is the leader"), "{text}");
    for internal in ["newRaft", "RawNode created", "became follower"] {
        assert!(!text.contains(internal), "{internal} at INFO:\n{text}");
    }
}

/// A node whose port is taken says so once, and exits.
#[test]
fn a_start_up_error_is_said_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.toml");
    std::fs::write(
        &f,
        format!(
            "[node]\nid = 1\nitad = 4200000000\ndata_dir = \"{}\"\n[api]\nlisten = \"127.0.0.1:{port}\"\n[http]\nlisten = \"127.0.0.1:{}\"\n[cluster]\nlisten = \"127.0.0.1:{}\"\n",
            dir.path().join("d").display(),
            free_port(),
            free_port()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(bin("trunklined"))
        .arg("--config")
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("cannot listen for gRPC").count(), 1, "{err}");
}

/// The README's three-node pattern on one machine, with only `[api]
/// listen` and `[cluster]` members set: each node's HTTP and node-to-node
/// listeners sit beside its gRPC, so all three run.
#[test]
fn the_readme_cluster_runs_on_one_machine() {
    let hosts = ["127.0.0.11", "127.0.0.12", "127.0.0.13"];
    let port = free_port();
    let members: Vec<String> = hosts
        .iter()
        .enumerate()
        // Each node's [cluster] listen is its address at the default port.
        .map(|(i, h)| format!("{{ id = {}, addr = \"http://{h}:50052\" }}", i + 1))
        .collect();
    let dirs: Vec<tempfile::TempDir> = hosts.iter().map(|_| tempfile::tempdir().unwrap()).collect();
    // Killed when the test ends, whether it passes or panics: they hold
    // fixed ports another run would find taken.
    struct Children(Vec<std::process::Child>);
    impl Drop for Children {
        fn drop(&mut self) {
            for c in &mut self.0 {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
    let mut children = Children(Vec::new());
    for (i, h) in hosts.iter().enumerate() {
        let d = dirs[i].path();
        let config = format!(
            "[node]\nid = {}\nitad = 4200000000\ndata_dir = \"{}\"\n\n[api]\nlisten = \"{h}:{port}\"\n\n[cluster]\nmembers = [\n  {},\n]\n",
            i + 1,
            d.join("data").display(),
            members.join(",\n  ")
        );
        std::fs::write(d.join("t.toml"), config).unwrap();
        children.0.push(
            std::process::Command::new(bin("trunklined"))
                .arg("--config")
                .arg(d.join("t.toml"))
                .stderr(std::fs::File::create(d.join("log")).unwrap())
                .spawn()
                .unwrap(),
        );
    }
    let ready = |h: &str| -> bool {
        let Ok(mut s) = std::net::TcpStream::connect((h, 9180)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = write!(s, "GET /readyz HTTP/1.0\r\n\r\n");
        let mut buf = String::new();
        let _ = s.read_to_string(&mut buf);
        buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200")
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !hosts.iter().all(|h| ready(h)) {
        if Instant::now() > deadline {
            let logs: Vec<String> = dirs
                .iter()
                .map(|d| std::fs::read_to_string(d.path().join("log")).unwrap_or_default())
                .collect();
            panic!("not all three nodes are ready:\n{}", logs.join("\n---\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Each node wrote its own admin credential in its data directory.
    let server = format!("http://{}:{port}", hosts[1]);
    let token = dirs[1].path().join("data").join("admin.token");
    cli(&[
        "--server",
        &server,
        "--token-file",
        &token.display().to_string(),
        "announce",
        "+44",
        "--via",
        "sip:x@y",
    ])
    .ok();
    let server = format!("http://{}:{port}", hosts[2]);
    wait_until("the route on node 3", Duration::from_secs(10), || {
        cli(&["--server", &server, "lookup", "+4420"]).code == 0
    });
}
