//! Small-write throughput side by side with etcd: a 3-node etcd
//! (Debian's etcd-server) and a 3-node Trunkline cluster on this machine,
//! each driven by the same number of concurrent clients, one small write
//! per request (a Put for etcd, one route per Announce for Trunkline),
//! spread over all three members.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::routes_client::RoutesClient;

use crate::cluster::{start_cluster, status};
use crate::node::{Proc, free_port};
use crate::secure::{Pki, scheme};

mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}

use etcdserverpb::kv_client::KvClient;

#[derive(Debug, clap::Args)]
pub struct EtcdArgs {
    /// Concurrent clients for each system.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds of load for each system.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Both over TLS: etcd with client and peer TLS, Trunkline with API
    /// and node-to-node TLS, certificates from one `trunkline pki` CA.
    #[arg(long)]
    tls: bool,
}

fn start_etcd(
    dir: &std::path::Path,
    pki: Option<&Pki>,
) -> anyhow::Result<(Vec<Proc>, Vec<String>)> {
    let s = scheme(pki);
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let cluster: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, (_, peer))| format!("e{i}={s}://127.0.0.1:{peer}"))
        .collect();
    let mut procs = Vec::new();
    let mut clients = Vec::new();
    for (i, (client, peer)) in ports.iter().enumerate() {
        let mut cmd = Command::new("etcd");
        if let Some(pki) = pki {
            // The same node certificates Trunkline's nodes get (server and
            // client auth, IP 127.0.0.1), for clients and for peers.
            let base = pki.node_files(100 + i as u64)?;
            let (crt, key) = (
                format!("{}.crt", base.display()),
                format!("{}.key", base.display()),
            );
            let ca = pki.ca().display().to_string();
            cmd.args(["--cert-file", &crt, "--key-file", &key])
                .args(["--peer-cert-file", &crt, "--peer-key-file", &key])
                .args(["--peer-trusted-ca-file", &ca, "--peer-client-cert-auth"]);
        }
        let c = cmd
            .args(["--name", &format!("e{i}")])
            .arg("--data-dir")
            .arg(dir.join(format!("etcd{i}")))
            .args(["--listen-client-urls", &format!("{s}://127.0.0.1:{client}")])
            .args([
                "--advertise-client-urls",
                &format!("{s}://127.0.0.1:{client}"),
            ])
            .args(["--listen-peer-urls", &format!("{s}://127.0.0.1:{peer}")])
            .args([
                "--initial-advertise-peer-urls",
                &format!("{s}://127.0.0.1:{peer}"),
            ])
            .args(["--initial-cluster", &cluster.join(",")])
            .args(["--initial-cluster-state", "new", "--log-level", "error"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start etcd (Debian package etcd-server; scripts/bench installs it)")?;
        procs.push(Proc(c));
        clients.push(format!("{s}://127.0.0.1:{client}"));
    }
    Ok((procs, clients))
}

/// What one system did under load.
struct Load {
    acked: u64,
    /// Writes answered with an error, and the first error.
    failed: u64,
    first_error: Option<String>,
    /// Latency of each acknowledged write, sorted.
    latencies: Vec<Duration>,
}

impl Load {
    fn quantile(&self, q: f64) -> f64 {
        let l = &self.latencies;
        if l.is_empty() {
            return f64::NAN;
        }
        l[((l.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3
    }
}

/// Runs `clients` loops for `seconds`, each issuing one write at a time
/// through `write` on one of `channels` (one per member).
async fn drive<Ch, C, F, Fut>(
    channels: Vec<Ch>,
    clients: usize,
    seconds: u64,
    make: impl Fn(Ch) -> C,
    write: F,
) -> anyhow::Result<Load>
where
    Ch: Clone,
    C: Send + 'static,
    F: Fn(C, usize, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = (C, Result<(), String>)> + Send,
{
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..clients {
        let mut client = make(channels[k % channels.len()].clone());
        let write = write.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = (0u64, None);
            let mut seq = 0u64;
            while Instant::now() < end {
                let t0 = Instant::now();
                let (c, result) = write(client, k, seq).await;
                client = c;
                match result {
                    Ok(()) => latencies.push(t0.elapsed()),
                    Err(e) => {
                        errors.0 += 1;
                        errors.1.get_or_insert(e);
                    }
                }
                seq += 1;
            }
            (latencies, errors)
        });
    }
    let mut load = Load {
        acked: 0,
        failed: 0,
        first_error: None,
        latencies: Vec::new(),
    };
    while let Some(r) = tasks.join_next().await {
        let (latencies, (failed, first)) = r?;
        load.latencies.extend(latencies);
        load.failed += failed;
        load.first_error = load.first_error.or(first);
    }
    load.latencies.sort_unstable();
    load.acked = load.latencies.len() as u64;
    Ok(load)
}

pub fn run(args: EtcdArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("trunkline-bench-etcd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let rt = tokio::runtime::Runtime::new()?;
    let pki = args.tls.then(|| Pki::new(&dir)).transpose()?;
    let etcd_endpoint = |e: &str| -> anyhow::Result<tonic::transport::Endpoint> {
        let mut ep = crate::secure::wide(tonic::transport::Endpoint::from_shared(e.to_owned())?);
        if let Some(p) = &pki {
            ep = ep.tls_config(tonic::transport::ClientTlsConfig::new().ca_certificate(
                tonic::transport::Certificate::from_pem(std::fs::read(p.ca())?),
            ))?;
        }
        Ok(ep)
    };

    let (etcd, endpoints) = start_etcd(&dir, pki.as_ref())?;
    // Wait until the etcd cluster takes writes.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = rt.block_on(async {
            let ch = etcd_endpoint(&endpoints[0]).ok()?.connect().await.ok()?;
            KvClient::new(ch)
                .put(etcdserverpb::PutRequest {
                    key: b"warmup".to_vec(),
                    value: b"1".to_vec(),
                    ..Default::default()
                })
                .await
                .ok()
        });
        if ok.is_some() {
            break;
        }
        if Instant::now() > deadline {
            bail!("etcd did not start");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let value = vec![b'v'; 64];
    let mut channels = Vec::new();
    for e in &endpoints {
        channels.push(rt.block_on(etcd_endpoint(e)?.connect())?);
    }
    let etcd_ok = rt.block_on(drive(
        channels,
        args.clients,
        args.seconds,
        KvClient::new,
        move |mut c, k, seq| {
            let value = value.clone();
            async move {
                let r = c
                    .put(etcdserverpb::PutRequest {
                        key: format!("key-{k}-{seq}").into_bytes(),
                        value,
                        ..Default::default()
                    })
                    .await;
                (c, r.map(drop).map_err(|s| s.to_string()))
            }
        },
    ))?;
    drop(etcd);

    let nodes = start_cluster(&dir, pki.as_ref())?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !nodes.iter().any(|n| {
        rt.block_on(status(n.target()))
            .is_some_and(|st| st.role() == pb::RaftRole::Leader)
    }) {
        if Instant::now() > deadline {
            bail!("no trunkline leader");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut channels = Vec::new();
    for n in &nodes {
        channels.push(rt.block_on(n.target().authed())?);
    }
    let tl_ok = rt.block_on(drive(
        channels,
        args.clients,
        args.seconds,
        RoutesClient::new,
        |mut c, k, seq| async move {
            let r = c
                .announce(pb::AnnounceRequest {
                    routes: vec![pb::RouteSpec {
                        prefix: format!("+1{k:03}{seq:07}"),
                        next_hops: vec![pb::NextHop {
                            uri: "sip:{e164}@pbx.example.org".into(),
                            priority: 10,
                            weight: 100,
                        }],
                        ..Default::default()
                    }],
                    request_id: String::new(),
                })
                .await;
            (c, r.map(drop).map_err(|s| s.to_string()))
        },
    ))?;
    let mut nodes = nodes;
    for (i, n) in nodes.iter_mut().enumerate() {
        if let Some(how) = n.ended() {
            bail!("trunkline node {} stopped under load: {how}", i + 1);
        }
    }
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);

    let (e, t) = (
        etcd_ok.acked as f64 / args.seconds as f64,
        tl_ok.acked as f64 / args.seconds as f64,
    );
    println!(
        "small writes ({}), 3 nodes each, {} concurrent clients over all members, {} s each on this machine: etcd {:.0}/s (p50 {:.1} ms, p99 {:.1} ms), trunkline {:.0}/s (p50 {:.1} ms, p99 {:.1} ms), ratio trunkline/etcd {:.2}",
        if args.tls {
            "TLS: client and peer TLS on etcd, API and node-to-node TLS on Trunkline"
        } else {
            "plaintext"
        },
        args.clients,
        args.seconds,
        e,
        etcd_ok.quantile(0.5),
        etcd_ok.quantile(0.99),
        t,
        tl_ok.quantile(0.5),
        tl_ok.quantile(0.99),
        t / e.max(1e-9)
    );
    for (who, load) in [("etcd", &etcd_ok), ("trunkline", &tl_ok)] {
        if let Some(e) = &load.first_error {
            println!(
                "  {who}: {} writes failed, the first with: {e}",
                load.failed
            );
        }
    }
    Ok(())
}
