//! One harness for every integration test: real `trunklined` processes on
//! free loopback ports, each with its own data directory, and the real
//! `trunkline` CLI pointed at them.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::proxy::Fault;
use trunkline_proto::v1::routes_client::RoutesClient;

/// The directory holding the workspace's built binaries.
fn bin_dir() -> PathBuf {
    // tests run from target/<profile>/deps/<test-binary>
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_owned()
}

pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} is not built; run `cargo build --workspace --bins` before the integration tests",
        p.display()
    );
    p
}

/// A free loopback port below Linux's ephemeral range (32768 and up), so
/// no outgoing connection can take it while a node is down between a kill
/// and its restart.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = 10_000 + (std::process::id() % 500) as u16 * 40;
    let _ = NEXT.compare_exchange(0, start, Ordering::SeqCst, Ordering::SeqCst);
    loop {
        let port = NEXT.fetch_add(1, Ordering::SeqCst);
        if port >= 32_000 {
            NEXT.store(10_000, Ordering::SeqCst);
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A node's config, written to its directory before each start.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub id: u64,
    /// The cluster's ITAD.
    pub itad: u32,
    /// The lines of the `[cluster]` section after `listen` (members,
    /// join), empty for a single node.
    pub cluster: String,
    /// The node-to-node port (`[cluster] listen`).
    pub cluster_port: u16,
    pub grpc: u16,
    pub http: u16,
    /// Extra TOML appended to the generated config.
    pub extra: String,
    pub raft_extra: String,
    /// Extra lines of the `[api]` section.
    pub api_extra: String,
    /// Extra lines of the `[http]` section.
    pub http_extra: String,
    /// The address gRPC listens on (the CLI still dials loopback).
    pub api_host: &'static str,
    /// `[cluster.tls]`, when node-to-node traffic is mutual TLS (as in
    /// every [`Cluster`]).
    pub cluster_tls: String,
    /// With `[api.tls]` (in `extra`): the CA the CLI checks the node's
    /// certificate with; the CLI then dials https://.
    pub api_ca: Option<PathBuf>,
    /// Environment variables the process starts with.
    pub env: Vec<(String, String)>,
}

impl NodeSpec {
    /// Node `id` on the given ports, with no extra config.
    pub fn new(id: u64, cluster: String, grpc: u16, http: u16) -> NodeSpec {
        NodeSpec {
            id,
            itad: 4_200_000_001,
            cluster,
            grpc,
            http,
            extra: String::new(),
            raft_extra: String::new(),
            api_extra: String::new(),
            http_extra: String::new(),
            api_host: "127.0.0.1",
            cluster_port: free_port(),
            cluster_tls: String::new(),
            api_ca: None,
            env: Vec::new(),
        }
    }
}

/// Adds `authorization: Bearer <token>` to every request.
#[derive(Debug, Clone)]
pub struct Bearer(AsciiMetadataValue);

impl Bearer {
    pub fn new(token: &str) -> Bearer {
        Bearer(MetadataValue::try_from(format!("Bearer {token}")).unwrap())
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}

/// A channel with a credential.
pub type Authed = InterceptedService<Channel, Bearer>;

/// One running (or stopped) `trunklined`.
#[derive(Debug)]
pub struct Node {
    pub dir: tempfile::TempDir,
    pub spec: NodeSpec,
    child: Option<Child>,
}

impl Node {
    /// A node with a fresh directory, not started yet.
    pub fn new(spec: NodeSpec) -> Node {
        Node {
            dir: tempfile::tempdir().unwrap(),
            spec,
            child: None,
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("trunkline.toml")
    }

    /// The admin credential the node writes at first start.
    pub fn admin_token_file(&self) -> PathBuf {
        self.dir.path().join("data").join("admin.token")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("trunklined.log")
    }

    pub fn config_text(&self) -> String {
        format!(
            "[node]\nid = {}\nname = \"test{}\"\nitad = {}\ndata_dir = \"{}\"\n\n[api]\nlisten = \"{}:{}\"\n{}\n[http]\nlisten = \"127.0.0.1:{}\"\n{}\n[raft]\ntick_ms = 100\n{}\n[cluster]\nlisten = \"{}:{}\"\n{}\n{}\n{}\n",
            self.spec.id,
            self.spec.id,
            self.spec.itad,
            self.dir.path().join("data").display(),
            self.spec.api_host,
            self.spec.grpc,
            self.spec.api_extra,
            self.spec.http,
            self.spec.http_extra,
            self.spec.raft_extra,
            self.spec.api_host,
            self.spec.cluster_port,
            self.spec.cluster,
            self.spec.cluster_tls,
            self.spec.extra
        )
    }

    /// Starts a node with a fresh directory.
    pub fn start() -> Node {
        Node::start_with("", "")
    }

    pub fn start_with(extra: &str, raft_extra: &str) -> Node {
        let mut n = Node::new(NodeSpec {
            extra: extra.to_owned(),
            raft_extra: raft_extra.to_owned(),
            ..NodeSpec::new(1, String::new(), free_port(), free_port())
        });
        n.restart();
        n
    }

    /// A single node of ITAD `itad` on gRPC port `grpc`, with `extra`
    /// config (routes, peers), started.
    pub fn start_as(itad: u32, grpc: u16, extra: &str) -> Node {
        let mut n = Node::new(NodeSpec {
            itad,
            extra: extra.to_owned(),
            ..NodeSpec::new(1, String::new(), grpc, free_port())
        });
        n.restart();
        n
    }

    /// (Re)starts the process on the same directory and waits until ready.
    pub fn restart(&mut self) {
        self.spawn();
        self.wait_ready();
    }

    /// Writes the config file from the spec (a running node reads it
    /// again on SIGHUP).
    pub fn write_config(&self) {
        std::fs::write(self.config_path(), self.config_text()).unwrap();
    }

    /// The running process's id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Starts the process without waiting for it to be ready.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "node is running");
        self.write_config();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new(bin("trunklined"))
            .arg("--config")
            .arg(self.config_path())
            .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    pub fn wait_ready(&mut self) {
        if let Err(e) = self.try_wait_ready() {
            panic!("{e}:\n{}", self.log());
        }
    }

    /// Waits up to 20 s for `/readyz`; the error says why not.
    pub fn try_wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                return Err(format!("trunklined exited with {status} during start"));
            }
            if http_get(self.spec.http, "/readyz").is_ok_and(|(code, _)| code == 200) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err("node not ready in time".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last `n` lines of the log, headed by the node id.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let from = lines.len().saturating_sub(n);
        format!(
            "--- node {} ---\n{}",
            self.spec.id,
            lines[from..].join("\n")
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn server(&self) -> String {
        let scheme = if self.spec.api_ca.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}", self.spec.grpc)
    }

    /// The node-to-node address other nodes reach it at (`add-node`).
    pub fn cluster_addr(&self) -> String {
        let scheme = if self.spec.cluster_tls.is_empty() {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://127.0.0.1:{}", self.spec.cluster_port)
    }

    pub fn is_up(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM, then wait for a clean exit; returns the exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        self.signal("-TERM")
    }

    /// Sends a signal (`-TERM`, `-INT`) and waits for the process to exit.
    pub fn signal(&mut self, sig: &str) -> Option<i32> {
        let mut c = self.child.take()?;
        let ok = Command::new("kill")
            .args([sig, &c.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return st.code();
            }
            assert!(
                Instant::now() < deadline,
                "no exit after SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Freezes (`-STOP`) or thaws (`-CONT`) the process without killing it.
    pub fn pause(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    /// Arms a fail-rs failpoint in the running node, which must be built
    /// with the `failpoints` feature (the test script does that).
    pub fn failpoint(&self, name: &str, action: &str) {
        let path = format!("/debug/failpoints/{name}");
        let (code, body) = http_request(self.spec.http, "PUT", &path, action).unwrap();
        assert_eq!(
            code, 200,
            "arming {name}: {body} (is trunklined built with --features failpoints?)"
        );
    }

    /// Waits for the process to stop by itself; true if it did in time.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut()
                && c.try_wait().unwrap().is_some()
            {
                self.child = None;
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// Runs the CLI against this node.
    pub fn cli(&self, args: &[&str]) -> CliOutput {
        cli(&self.cli_args(args))
    }

    /// Runs the CLI against this node with `input` on its standard input
    /// (which it reads whole before it answers).
    pub fn cli_stdin(&self, args: &[&str], input: &str) -> CliOutput {
        use std::io::Write as _;
        let mut child = Command::new(bin("trunkline"))
            .args(self.cli_args(args))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        CliOutput {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The CLI's arguments for this node: its address, CA and credential.
    fn cli_args(&self, args: &[&str]) -> Vec<String> {
        let mut full = vec!["--server".to_owned(), self.server()];
        if let Some(ca) = &self.spec.api_ca {
            full.extend(["--ca".to_owned(), ca.display().to_string()]);
        }
        // The node's own admin credential, written at its first start.
        let token = self.admin_token_file();
        if token.exists() {
            full.extend(["--token-file".to_owned(), token.display().to_string()]);
        }
        full.extend(args.iter().map(|s| (*s).to_owned()));
        full
    }

    /// A Routes client carrying the node's admin credential.
    pub async fn client(&self) -> RoutesClient<Authed> {
        RoutesClient::new(self.authed().await)
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20)
    }

    /// A channel whose requests carry the node's admin credential.
    pub async fn authed(&self) -> Authed {
        let token = std::fs::read_to_string(self.admin_token_file()).unwrap();
        InterceptedService::new(self.channel().await, Bearer::new(token.trim()))
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.server())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

#[derive(Debug)]
pub struct CliOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "CLI failed: {}{}", self.stdout, self.stderr);
        &self.stdout
    }

    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.ok()).unwrap()
    }
}

pub fn cli<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> CliOutput {
    run_cli(Command::new(bin("trunkline")).args(args))
}

/// The CLI with `token` (in `TRUNKLINE_TOKEN`, as a user would give it).
pub fn cli_with_token<S: AsRef<std::ffi::OsStr>>(token: &str, args: &[S]) -> CliOutput {
    run_cli(
        Command::new(bin("trunkline"))
            .args(args)
            .env("TRUNKLINE_TOKEN", token),
    )
}

fn run_cli(cmd: &mut Command) -> CliOutput {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    CliOutput {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Announces `prefix` with request id `id`, trying the servers in turn
/// (starting at `first`) until one acknowledges it; false if none did in
/// `attempts` tries. The request id makes every retry safe.
pub fn announce_retrying(
    (servers, token): (&[String], &str),
    first: usize,
    prefix: &str,
    id: &str,
    attempts: usize,
) -> bool {
    for attempt in 0..attempts {
        let server = &servers[(first + attempt) % servers.len()];
        let out = cli_with_token(
            token,
            &[
                "--server",
                server,
                "--timeout",
                "4",
                "announce",
                prefix,
                "--via",
                "sip:a@b",
                "--request-id",
                id,
            ],
        );
        if out.code == 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Polls `check` until it holds; panics with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A minimal HTTP/1.0 GET: status code and body.
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    http_request(port, "GET", path, "")
}

/// A minimal HTTP/1.0 request with a text body: status code and body.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let code = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((code, body))
}

/// An admin token for every node of `node`'s cluster, made with the
/// node's own admin credential.
pub fn cluster_token(node: &Node) -> String {
    let mut last = String::new();
    for _ in 0..50 {
        let out = node.cli(&[
            "--json", "token", "create", "--role", "admin", "--name", "harness",
        ]);
        if out.code == 0 {
            return out.json()["token"].as_str().unwrap().to_owned();
        }
        last = out.stderr;
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no cluster token: {last}");
}

/// Several nodes forming one cluster on loopback.
#[derive(Debug)]
pub struct Cluster {
    pub nodes: Vec<Node>,
    /// With [`Cluster::start_with_proxies`]: `links[i][j]` carries node
    /// `i`'s traffic to node `j`.
    pub links: Vec<Vec<Option<crate::proxy::Proxy>>>,
    /// The cluster's CA: node-to-node traffic is mutual TLS.
    pub ca: crate::certs::TestCa,
    /// An admin token every node honours (made with `token create`).
    pub token: String,
}

impl Cluster {
    /// Starts `n` voters whose traffic to each other goes through proxies,
    /// so links can be cut. `api_extra` goes into every `[api]` section.
    pub fn start_with_proxies(n: usize, api_extra: &str, raft_extra: &str) -> Cluster {
        // (gRPC, HTTP, node-to-node) ports of each node.
        let ports: Vec<(u16, u16, u16)> = (0..n)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let links: Vec<Vec<Option<crate::proxy::Proxy>>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| (i != j).then(|| crate::proxy::Proxy::start(ports[j].2)))
                    .collect()
            })
            .collect();
        let ca = crate::certs::TestCa::new();
        let nodes: Vec<Node> = (0..n)
            .map(|i| {
                let members: Vec<String> = (0..n)
                    .map(|j| {
                        let port = links[i][j].as_ref().map_or(ports[j].2, |p| p.port);
                        format!("{{ id = {}, addr = \"https://127.0.0.1:{port}\" }}", j + 1)
                    })
                    .collect();
                let cluster = format!("members = [{}]\n", members.join(", "));
                Node::new(NodeSpec {
                    api_extra: api_extra.to_owned(),
                    raft_extra: raft_extra.to_owned(),
                    cluster_port: ports[i].2,
                    cluster_tls: ca.cluster_tls(i as u64 + 1),
                    ..NodeSpec::new(i as u64 + 1, cluster, ports[i].0, ports[i].1)
                })
            })
            .collect();
        Cluster::launch(nodes, links, ca)
    }

    /// Cuts every link to and from node index `i`.
    pub fn isolate(&self, i: usize) {
        self.fault_links(i, Fault::Cut);
    }

    /// Puts `fault` on every link to and from node index `i`.
    pub fn fault_links(&self, i: usize, fault: Fault) {
        for (a, row) in self.links.iter().enumerate() {
            for (b, p) in row.iter().enumerate() {
                if let Some(p) = p
                    && (a == i || b == i)
                {
                    p.set(fault);
                }
            }
        }
    }

    /// Heals every link.
    pub fn heal(&self) {
        for p in self.links.iter().flatten().flatten() {
            p.heal();
        }
    }

    /// Starts `n` voters with ids 1..=n and waits until all are ready.
    pub fn start(n: u64) -> Cluster {
        Cluster::start_as(n, 4_200_000_001, "")
    }

    /// Like [`Cluster::start`], as ITAD `itad`, with `extra` config on
    /// every node.
    pub fn start_as(n: u64, itad: u32, extra: &str) -> Cluster {
        Cluster::start_with_ca(n, itad, |_, _| extra.to_owned(), false)
    }

    /// A cluster whose extra config is made from its CA and its nodes'
    /// gRPC ports; with `api_tls`, the CLI dials them over TLS, checking
    /// their certificates with that CA (`extra` gives `[api.tls]`).
    pub fn start_with_ca(
        n: u64,
        itad: u32,
        extra: impl Fn(&crate::certs::TestCa, &[u16]) -> String,
        api_tls: bool,
    ) -> Cluster {
        let ports: Vec<(u16, u16, u16)> = (0..n)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let members: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, _, c))| format!("{{ id = {}, addr = \"https://127.0.0.1:{c}\" }}", i + 1))
            .collect();
        let cluster = format!("members = [{}]\n", members.join(", "));
        let ca = crate::certs::TestCa::new();
        let grpc: Vec<u16> = ports.iter().map(|p| p.0).collect();
        let extra = extra(&ca, &grpc);
        let nodes: Vec<Node> = ports
            .iter()
            .enumerate()
            .map(|(i, (g, h, c))| {
                Node::new(NodeSpec {
                    itad,
                    extra: extra.clone(),
                    cluster_port: *c,
                    cluster_tls: ca.cluster_tls(i as u64 + 1),
                    api_ca: api_tls.then(|| ca.ca()),
                    ..NodeSpec::new(i as u64 + 1, cluster.clone(), *g, *h)
                })
            })
            .collect();
        Cluster::launch(nodes, Vec::new(), ca)
    }

    /// Starts every node, then waits until all are ready (a cluster needs
    /// a quorum up before any node can be).
    fn launch(
        mut nodes: Vec<Node>,
        links: Vec<Vec<Option<crate::proxy::Proxy>>>,
        ca: crate::certs::TestCa,
    ) -> Cluster {
        for node in &mut nodes {
            node.spawn();
        }
        for node in &mut nodes {
            node.wait_ready();
        }
        let token = cluster_token(&nodes[0]);
        Cluster {
            nodes,
            links,
            ca,
            token,
        }
    }

    /// A node that joins this cluster later (not started, not a member),
    /// with a certificate from the cluster's CA.
    pub fn joiner(&self, id: u64) -> Node {
        Node::new(NodeSpec {
            cluster_tls: self.ca.cluster_tls(id),
            ..NodeSpec::new(id, "join = true\n".into(), free_port(), free_port())
        })
    }

    /// Waits (up to 30 s) until node `id` is a voter.
    pub fn wait_voter(&self, id: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.status();
            let m = s["members"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["id"] == id)
                .cloned();
            if m.is_some_and(|m| m["membership"] == "voter") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {id} did not become a voter: {s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `cluster status --json` as seen from a running node.
    pub fn status(&self) -> serde_json::Value {
        let node = self
            .nodes
            .iter()
            .find(|n| n.is_up())
            .expect("a running node");
        node.cli(&["cluster", "status", "--json"]).json()
    }

    /// Index (in `nodes`) of the current leader, waiting for one.
    pub fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            for n in self.nodes.iter().filter(|n| n.is_up()) {
                let out = n.cli(&["--timeout", "2", "status", "--json"]);
                if out.code == 0 {
                    let j: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
                    if j["raft"]["role"] == "leader" {
                        return self
                            .nodes
                            .iter()
                            .position(|m| m.spec.id == n.spec.id)
                            .unwrap();
                    }
                }
            }
            assert!(Instant::now() < deadline, "no leader elected");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every route of a node as JSON text, for comparing tables.
    pub fn table(&self, i: usize) -> String {
        self.nodes[i].cli(&["routes", "--json"]).ok().to_owned()
    }

    /// Waits until every running node has applied the same index, then
    /// returns their tables (which must be identical).
    pub fn converged_tables(&self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let applied: Vec<u64> = self
                .nodes
                .iter()
                .filter(|n| n.is_up())
                .map(|n| {
                    n.cli(&["status", "--json"]).json()["raft"]["applied_index"]
                        .as_u64()
                        .unwrap()
                })
                .collect();
            if applied.windows(2).all(|w| w[0] == w[1]) {
                break;
            }
            if Instant::now() >= deadline {
                let logs: Vec<String> = self
                    .nodes
                    .iter()
                    .filter(|n| n.is_up())
                    .map(|n| n.log_tail(120))
                    .collect();
                panic!("nodes did not converge: {applied:?}\n{}", logs.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].is_up())
            .map(|i| self.table(i))
            .collect()
    }
}
