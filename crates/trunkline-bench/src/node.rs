//! Benchmarks against a real release `trunklined`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::node_client::NodeClient;
use trunkline_proto::v1::routes_client::RoutesClient;

use crate::dataset::Dataset;
use crate::rss_bytes;
use crate::secure::{Pki, Target, scheme};

#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    /// Concurrent gRPC lookup streams.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// HTTP/2 connections they share.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Seconds of gRPC lookups.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// The API over TLS (a certificate from `trunkline pki`).
    #[arg(long)]
    tls: bool,
}

pub fn bin(name: &str) -> anyhow::Result<PathBuf> {
    let p = std::env::current_exe()?
        .parent()
        .context("bin dir")?
        .join(name);
    if !p.exists() {
        bail!(
            "{} missing: run `cargo build --release --workspace --bins`",
            p.display()
        );
    }
    Ok(p)
}

/// A free loopback port below Linux's ephemeral range, so a node killed
/// and restarted by the failover bench finds its port still free.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = 20_000 + (std::process::id() % 200) as u16 * 50;
    let _ = NEXT.compare_exchange(0, start, Ordering::SeqCst, Ordering::SeqCst);
    loop {
        let port = NEXT.fetch_add(1, Ordering::SeqCst);
        if port >= 32_000 {
            NEXT.store(20_000, Ordering::SeqCst);
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn run(ds: &Dataset, args: NodeArgs, seed: u64) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("trunkline-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let (grpc, http, cluster) = (free_port(), free_port(), free_port());
    let config = dir.join("trunkline.toml");
    let pki = args.tls.then(|| Pki::new(&dir)).transpose()?;
    let tls = pki
        .as_ref()
        .map(|p| p.node(1))
        .transpose()?
        .unwrap_or_default();
    std::fs::write(
        &config,
        format!(
            "[node]\nid = 1\nitad = 4200000000\ndata_dir = \"{}\"\n[api]\nlisten = \"127.0.0.1:{grpc}\"\n[http]\nlisten = \"127.0.0.1:{http}\"\n[cluster]\nlisten = \"127.0.0.1:{cluster}\"\n[log]\nlevel = \"warn\"\n{tls}",
            dir.join("data").display()
        ),
    )?;
    let target = Target::new(
        format!("{}://127.0.0.1:{grpc}", scheme(pki.as_ref())),
        pki.as_ref(),
        &dir.join("data"),
    );
    let csv = dir.join("blocks.csv");
    std::fs::write(&csv, ds.csv())?;
    let mut child = Command::new(bin("trunklined")?)
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .spawn()?;
    let pid = child.id().to_string();
    let result = (|| -> anyhow::Result<()> {
        let rt = tokio::runtime::Runtime::new()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        let channel = loop {
            if let Ok(c) = rt.block_on(target.channel()) {
                break c;
            }
            if Instant::now() > deadline {
                bail!("trunklined did not start");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let idle = rss_bytes(&pid);
        println!("node: idle resident {:.1} MB", idle as f64 / 1e6);

        let t0 = Instant::now();
        let out = target
            .cli()?
            .args(["announce", "--file"])
            .arg(&csv)
            .stderr(Stdio::inherit())
            .output()?;
        let load = t0.elapsed();
        if !out.status.success() {
            bail!("load failed: {}", String::from_utf8_lossy(&out.stdout));
        }
        let status = rt
            .block_on(NodeClient::new(channel.clone()).status(pb::StatusRequest {}))?
            .into_inner();
        println!(
            "load: {} routes from a CSV file through the CLI and gRPC API into a fresh node in {:.2} s ({:.0} routes/s), committed and applied",
            status.routes,
            load.as_secs_f64(),
            status.routes as f64 / load.as_secs_f64()
        );
        std::thread::sleep(Duration::from_secs(1));
        let rss = rss_bytes(&pid);
        println!(
            "memory: trunklined resident {:.1} MB holding {} routes = {:.0} bytes/route ({:.0} bytes/route above idle)",
            rss as f64 / 1e6,
            status.routes,
            rss as f64 / status.routes as f64,
            rss.saturating_sub(idle) as f64 / status.routes as f64
        );

        let queries = ds.queries(200_000, seed + 2);
        let (count, mut lat) = rt.block_on(grpc_lookups(&target, &queries, &args))?;
        lat.sort_unstable();
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_micros();
        println!(
            "grpc lookups ({}): {:.0}/s over {} s with {} concurrent requests on {} connections (client on the same 2-core machine); latency p50 {} us, p99 {} us",
            if args.tls { "TLS" } else { "plaintext" },
            count as f64 / args.seconds as f64,
            args.seconds,
            args.concurrency,
            args.connections,
            pct(0.5),
            pct(0.99)
        );
        let (numbers, took, mut lat) = rt.block_on(grpc_batches(&target, &queries, &args))?;
        lat.sort_unstable();
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_micros();
        println!(
            "grpc batch lookups ({}): {:.0} numbers/s over {:.1} s through LookupBatch, {BATCH} numbers a request, {BATCH_STREAMS} streams on as many connections with {BATCH_IN_FLIGHT} requests in flight each; a request answered in p50 {} us, p99 {} us",
            if args.tls { "TLS" } else { "plaintext" },
            numbers as f64 / took.as_secs_f64(),
            took.as_secs_f64(),
            pct(0.5),
            pct(0.99)
        );
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn grpc_lookups(
    target: &Target,
    queries: &[String],
    args: &NodeArgs,
) -> anyhow::Result<(u64, Vec<Duration>)> {
    // Reads need no credential on loopback: the lookups are anonymous.
    let mut channels = Vec::new();
    for _ in 0..args.connections.max(1) {
        channels.push(target.channel().await?);
    }
    let end = Instant::now() + Duration::from_secs(args.seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..args.concurrency {
        let mut client = RoutesClient::new(channels[k % channels.len()].clone());
        let queries: Vec<String> = queries
            .iter()
            .skip(k)
            .step_by(args.concurrency)
            .cloned()
            .collect();
        tasks.spawn(async move {
            let mut n = 0u64;
            let mut lat = Vec::new();
            let mut i = 0;
            while Instant::now() < end {
                let t = Instant::now();
                let r = client
                    .lookup(pb::LookupRequest {
                        number: format!("+{}", queries[i % queries.len()]),
                        ..Default::default()
                    })
                    .await;
                if let Err(s) = &r
                    && s.code() != tonic::Code::NotFound
                {
                    return Err(anyhow::anyhow!("lookup failed: {s}"));
                }
                lat.push(t.elapsed());
                n += 1;
                i += 1;
            }
            Ok((n, lat))
        });
    }
    let mut total = 0;
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (n, lat) = r??;
        total += n;
        all.extend(lat);
    }
    Ok((total, all))
}

/// Numbers a LookupBatch request carries in the bench, streams, and
/// requests in flight on each.
const BATCH: usize = 1000;
const BATCH_STREAMS: usize = 4;
const BATCH_IN_FLIGHT: usize = 4;

/// LookupBatch streams for `args.seconds`: the numbers answered, the time
/// they took, and each request's round trip.
async fn grpc_batches(
    target: &Target,
    queries: &[String],
    args: &NodeArgs,
) -> anyhow::Result<(u64, Duration, Vec<Duration>)> {
    let mut channels = Vec::new();
    for _ in 0..BATCH_STREAMS {
        channels.push(target.channel().await?);
    }
    let start = Instant::now();
    let end = start + Duration::from_secs(args.seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for (k, channel) in channels.into_iter().enumerate() {
        // A connection each: one HTTP/2 connection is one task's framing.
        let mut client = RoutesClient::new(channel).max_decoding_message_size(64 << 20);
        let numbers: Vec<String> = (queries.iter().skip(k).step_by(BATCH_STREAMS))
            .map(|q| format!("+{q}"))
            .collect();
        let (tx, rx) = tokio::sync::mpsc::channel(BATCH_IN_FLIGHT);
        let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel();
        // Requests go out while answers come back, at most BATCH_IN_FLIGHT
        // unanswered: the channel alone would let HTTP/2 take as many as
        // its windows hold, and a request's round trip would then measure
        // the queue.
        let room = std::sync::Arc::new(tokio::sync::Semaphore::new(BATCH_IN_FLIGHT));
        let answered = room.clone();
        tasks.spawn(async move {
            let mut chunks = numbers.chunks(BATCH).cycle();
            while Instant::now() < end {
                let Ok(permit) = room.acquire().await else {
                    break;
                };
                permit.forget();
                let numbers = chunks.next().unwrap_or_default().to_vec();
                let _ = sent_tx.send(Instant::now());
                let req = pb::LookupBatchRequest {
                    numbers,
                    ..Default::default()
                };
                if tx.send(req).await.is_err() {
                    break;
                }
            }
            Ok::<_, anyhow::Error>((0, Vec::new()))
        });
        tasks.spawn(async move {
            let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
            let mut answers = client.lookup_batch(stream).await?.into_inner();
            let (mut n, mut lat) = (0u64, Vec::new());
            while let Some(r) = answers.message().await? {
                n += r.answers.len() as u64;
                if let Ok(sent) = sent_rx.try_recv() {
                    lat.push(sent.elapsed());
                }
                answered.add_permits(1);
            }
            Ok((n, lat))
        });
    }
    let (mut total, mut all) = (0, Vec::new());
    while let Some(r) = tasks.join_next().await {
        let (n, lat) = r??;
        total += n;
        all.extend(lat);
    }
    Ok((total, start.elapsed(), all))
}

/// A child process killed (and reaped) on drop.
#[derive(Debug)]
pub(crate) struct Proc(pub(crate) std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A release `trunklined` running in `dir` with `extra` config appended,
/// holding the data set's routes (loaded through the CLI). Killed on drop.
#[derive(Debug)]
pub(crate) struct LoadedNode {
    _child: Proc,
    /// Its HTTP port.
    pub(crate) http: u16,
}

impl LoadedNode {
    pub(crate) fn start(
        dir: &std::path::Path,
        extra: &str,
        ds: &Dataset,
    ) -> anyhow::Result<LoadedNode> {
        use std::process::{Command, Stdio};
        use std::time::{Duration, Instant};
        let (grpc, http, cluster) = (free_port(), free_port(), free_port());
        let config = dir.join("trunklined.toml");
        std::fs::write(
            &config,
            format!(
                "[node]\nid = 1\nitad = 4200000000\ndata_dir = \"{}\"\n[api]\nlisten = \"127.0.0.1:{grpc}\"\n[http]\nlisten = \"127.0.0.1:{http}\"\n[cluster]\nlisten = \"127.0.0.1:{cluster}\"\n[log]\nlevel = \"warn\"\n{extra}\n",
                dir.join("data").display()
            ),
        )?;
        let node = LoadedNode {
            http,
            _child: Proc(
                Command::new(bin("trunklined")?)
                    .arg("--config")
                    .arg(&config)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()?,
            ),
        };
        let csv = dir.join("routes.csv");
        std::fs::write(&csv, ds.csv())?;
        let target = Target::new(format!("http://127.0.0.1:{grpc}"), None, &dir.join("data"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = target
                .cli()?
                .args(["announce", "--file"])
                .arg(&csv)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()?
                .success();
            if ok {
                return Ok(node);
            }
            if Instant::now() > deadline {
                anyhow::bail!("could not load the routes into trunklined");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
