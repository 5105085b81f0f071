//! The Grafana dashboard and the Prometheus alert rules of `deploy/`,
//! against what a node really exports: promtool checks and unit-tests the
//! rules, every metric they and the dashboard name is one the node's
//! `/metrics` has, and a real Prometheus (Debian's package, installed by
//! the test script) scrapes a node, loads the rules and answers every
//! panel's query.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Node, free_port, http_get, wait_until};

const RULES: &str = "../deploy/prometheus/alerts.yml";
const RULES_TEST: &str = "../deploy/prometheus/alerts_test.yml";
const DASHBOARD: &str = "../deploy/grafana/trunkline.json";

fn promtool(args: &[&str]) {
    let out = Command::new("promtool")
        .args(args)
        .output()
        .expect("promtool is installed (scripts/test installs prometheus)");
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every panel's queries, with the dashboard's variables filled in.
fn panel_queries(dashboard: &Value) -> Vec<(String, String)> {
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut out = Vec::new();
    for p in panels {
        for t in p["targets"].as_array().expect("targets") {
            let expr = t["expr"].as_str().expect("an expr");
            let expr = expr
                .replace("$job", "trunkline")
                .replace("$instance", ".*")
                .replace("$__rate_interval", "1m");
            out.push((p["title"].as_str().unwrap_or("?").to_owned(), expr));
        }
    }
    out
}

/// `trunkline_*` names an expression uses.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("trunkline_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// The family a sample name belongs to, among those exported.
fn family<'a>(name: &'a str, families: &BTreeSet<String>) -> Option<&'a str> {
    if families.contains(name) {
        return Some(name);
    }
    ["_total", "_bucket", "_sum", "_count"]
        .iter()
        .filter_map(|s| name.strip_suffix(s))
        .find(|f| families.contains(*f))
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn scraping(target_port: u16) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let rules = std::path::absolute(RULES).unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
                 scrape_configs:\n  - job_name: trunkline\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n",
                rules.display()
            ),
        )
        .unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed (scripts/test installs it)");
        Prometheus {
            child,
            port,
            _dir: dir,
        }
    }

    fn get(&self, path: &str) -> Value {
        let (code, body) = http_get(self.port, path).unwrap_or((0, String::new()));
        match code {
            0 => Value::Null,
            _ => serde_json::from_str(&body).unwrap_or(Value::Null),
        }
    }

    fn query(&self, expr: &str) -> Value {
        self.get(&format!("/api/v1/query?query={}", encode(expr)))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const ALICE: u32 = 4_200_000_101;
const BOB: u32 = 4_200_000_202;
const CAROL: u32 = 4_200_000_303;

/// Alice, whose metrics are read, with every family in use: a session
/// with Bob, who sends a route she refuses; a stream from Carol, whom she
/// does not know, refused; a lookup over gRPC, over HTTP and over DNS.
struct Exercised {
    a: Node,
    _b: Node,
    _c: Node,
}

fn exercised_node() -> Exercised {
    let (pa, pb, pc, dns) = (free_port(), free_port(), free_port(), free_port());
    let peer = |name: &str, itad: u32, dial: Option<u16>, import: &str| {
        let addrs = dial.map_or(String::new(), |p| format!("\"http://127.0.0.1:{p}\""));
        format!(
            "[[peer]]\nname = \"{name}\"\nitad = {itad}\naddresses = [{addrs}]\n{import}\
             [[peer.import]]\naction = \"accept\"\n[[peer.export]]\naction = \"accept\"\n"
        )
    };
    let route = |prefix: &str| {
        format!("[[route]]\nprefix = \"{prefix}\"\nvia = [\"sip:{{e164}}@pbx.example\"]\n")
    };
    let refuse_1666 = "[[peer.import]]\nprefixes = [\"+1666\"]\naction = \"reject\"\n";
    let a = Node::start_as(
        ALICE,
        pa,
        &format!(
            "[dns]\nenabled = true\nlisten = \"127.0.0.1:{dns}\"\n\n{}{}",
            route("+1555123"),
            peer("bob", BOB, Some(pb), refuse_1666)
        ),
    );
    let b = Node::start_as(
        BOB,
        pb,
        &format!(
            "{}{}{}",
            route("+1777"),
            route("+1666"),
            peer("alice", ALICE, None, "")
        ),
    );
    let c = Node::start_as(CAROL, pc, &peer("alice", ALICE, Some(pa), ""));
    a.cli(&["lookup", "+15551234567"]).ok();
    http_get(a.spec.http, "/v1/lookup/+15551234567").unwrap();
    let dig = Command::new("dig")
        .args(["@127.0.0.1", "-p", &dns.to_string(), "+short", "NAPTR"])
        .arg("7.6.5.4.3.2.1.5.5.5.1.e164.arpa.")
        .output()
        .expect("dig is installed");
    assert!(dig.status.success());
    wait_until(
        "every metric family in use",
        Duration::from_secs(30),
        || {
            let (_, m) = http_get(a.spec.http, "/metrics").unwrap_or_default();
            [
                "trunkline_peering_session_up{neighbor=\"bob\"} 1",
                "trunkline_peering_routes_rejected_total{neighbor=\"bob\"} 1",
                "trunkline_peering_updates_sent_total{",
                "trunkline_peering_refused_total{",
                "trunkline_frontend_queries_total{frontend=\"dns\"",
                "trunkline_frontend_queries_total{frontend=\"http\"",
            ]
            .iter()
            .all(|s| m.contains(s))
        },
    );
    Exercised { a, _b: b, _c: c }
}

#[test]
fn alert_rules_and_dashboard_fit_what_a_node_exports() {
    promtool(&["check", "rules", RULES]);
    promtool(&["test", "rules", RULES_TEST]);

    let nodes = exercised_node();
    let node = &nodes.a;
    let (_, metrics) = http_get(node.spec.http, "/metrics").unwrap();
    let families: BTreeSet<String> = (metrics.lines())
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap()).unwrap();
    let queries = panel_queries(&dashboard);
    assert!(queries.len() >= 16, "{queries:?}");
    let rules = std::fs::read_to_string(RULES).unwrap();
    let mut named = metric_names(&rules);
    for (_, q) in &queries {
        named.extend(metric_names(q));
    }
    for name in &named {
        assert!(
            family(name, &families).is_some(),
            "{name} is not exported; the node has {families:?}"
        );
    }

    let prom = Prometheus::scraping(node.spec.http);
    wait_until(
        "Prometheus scraping the node",
        Duration::from_secs(60),
        || {
            let v = prom.query("count_over_time(up{job=\"trunkline\"}[1m])");
            v["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n >= 3)
        },
    );
    assert_eq!(
        prom.query("up{job=\"trunkline\"}")["data"]["result"][0]["value"][1],
        "1"
    );
    // Metrics with samples in the scrape (others appear once a peer, say,
    // is configured) must give every panel that uses only them a series.
    let sampled = |name: &str| {
        metrics
            .lines()
            .any(|l| !l.starts_with('#') && l.starts_with(name))
    };
    for (title, q) in &queries {
        let v = prom.query(q);
        assert_eq!(v["status"], "success", "{title}: {q}: {v}");
        if metric_names(q).iter().all(|n| sampled(n)) {
            let result = v["data"]["result"].as_array().map_or(0, Vec::len);
            assert!(result > 0, "{title}: {q} has no series: {v}");
        }
    }
    wait_until("every rule evaluated", Duration::from_secs(30), || {
        let v = prom.get("/api/v1/rules");
        let rules: Vec<&Value> = (v["data"]["groups"].as_array().into_iter().flatten())
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
            .collect();
        rules.len() == 10
            && rules
                .iter()
                .all(|r| r["health"] == "ok" && r["lastEvaluation"] != "0001-01-01T00:00:00Z")
    });
    // A lone node has a leader and answers: nothing fires.
    let alerts = prom.get("/api/v1/alerts");
    assert_eq!(alerts["data"]["alerts"], Value::Array(vec![]), "{alerts}");
}
