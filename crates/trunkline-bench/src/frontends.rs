//! HTTP lookups and SIP redirects per second from a release `trunklined`
//! holding the data set, driven by clients in this process (keep-alive
//! HTTP/1.1 connections; UDP sockets with a window of outstanding INVITEs),
//! and the redirects once more by `sipp` (Debian sip-tester), the tool a SIP
//! operator would measure with.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::dataset::Dataset;
use crate::node::{LoadedNode, free_port};

#[derive(Debug, clap::Args)]
pub struct FrontendArgs {
    /// Seconds each front end is driven.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// HTTP connections, and UDP sockets for SIP.
    #[arg(long, default_value_t = 16)]
    clients: usize,
}

/// One keep-alive connection asking in a loop until `end`; answers counted.
async fn http_client(
    port: u16,
    numbers: Arc<Vec<String>>,
    offset: usize,
    query: &'static str,
    end: Instant,
    done: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut i = offset;
    while Instant::now() < end {
        let n = &numbers[i % numbers.len()];
        i += 1;
        write
            .write_all(
                format!("GET /v1/lookup/+{n}{query} HTTP/1.1\r\nHost: bench\r\n\r\n").as_bytes(),
            )
            .await?;
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if read.read_line(&mut line).await? == 0 {
                bail!("connection closed");
            }
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse()?;
            }
        }
        let mut body = vec![0u8; length];
        read.read_exact(&mut body).await?;
        done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

async fn http_rate(
    port: u16,
    numbers: &Arc<Vec<String>>,
    query: &'static str,
    args: &FrontendArgs,
) -> anyhow::Result<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        tasks.push(tokio::spawn(http_client(
            port,
            numbers.clone(),
            c * 7919,
            query,
            end,
            done.clone(),
        )));
    }
    for t in tasks {
        t.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

/// INVITEs from one UDP socket with `window` outstanding; 302s counted.
async fn sip_client(
    port: u16,
    numbers: Arc<Vec<String>>,
    id: usize,
    end: Instant,
    done: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    sock.connect(("127.0.0.1", port)).await?;
    let local = sock.local_addr()?;
    let window = 16;
    let mut sent = 0usize;
    let invite = |k: usize| {
        let n = &numbers[(id * 7919 + k) % numbers.len()];
        format!(
            "INVITE sip:+{n}@bench SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{id}-{k}\r\nFrom: <sip:bench@{local}>;tag={id}\r\nTo: <sip:+{n}@bench>\r\nCall-ID: {id}-{k}@bench\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
    };
    for _ in 0..window {
        sock.send(invite(sent).as_bytes()).await?;
        sent += 1;
    }
    let mut buf = vec![0u8; 8192];
    while Instant::now() < end {
        // A datagram lost shows as a timeout: the window is refilled anyway.
        if let Ok(r) = tokio::time::timeout(Duration::from_millis(200), sock.recv(&mut buf)).await {
            let n = r?;
            if buf[..n].starts_with(b"SIP/2.0 302") || buf[..n].starts_with(b"SIP/2.0 404") {
                done.fetch_add(1, Ordering::Relaxed);
            }
        }
        sock.send(invite(sent).as_bytes()).await?;
        sent += 1;
    }
    Ok(())
}

async fn sip_rate(
    port: u16,
    numbers: &Arc<Vec<String>>,
    args: &FrontendArgs,
) -> anyhow::Result<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs(args.seconds);
    let tasks: Vec<_> = (0..args.clients)
        .map(|id| tokio::spawn(sip_client(port, numbers.clone(), id, end, done.clone())))
        .collect();
    for t in tasks {
        t.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

/// `calls` redirects driven by one sipp at `rate` calls/s, numbers from an
/// injection file; every call must end in 302 or 404. Returns calls per
/// second of wall time, sipp's start included.
fn sipp_rate(
    dir: &Path,
    port: u16,
    numbers: &[String],
    calls: u64,
    rate: u64,
) -> anyhow::Result<f64> {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sipp_redirect.xml");
    let inject = dir.join("numbers.csv");
    let mut csv = String::from("SEQUENTIAL\n");
    for n in numbers {
        csv.push_str(&format!("+{n};\n"));
    }
    std::fs::write(&inject, csv)?;
    let stats = dir.join("sipp_stats.csv");
    let start = Instant::now();
    let out = Command::new("sipp")
        .current_dir(dir)
        .arg(format!("127.0.0.1:{port}"))
        .arg("-sf")
        .arg(&scenario)
        .arg("-inf")
        .arg(&inject)
        .args([
            "-m",
            &calls.to_string(),
            "-r",
            &rate.to_string(),
            "-l",
            "5000",
        ])
        .args(["-i", "127.0.0.1", "-p", &free_port().to_string()])
        .args([
            "-nostdin",
            "-timeout",
            "120s",
            "-trace_stat",
            "-fd",
            "1",
            "-stf",
        ])
        .arg(&stats)
        .output()
        .context("sipp (Debian package sip-tester) is not installed; scripts/bench installs it")?;
    let elapsed = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "sipp failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The last row of sipp's statistics: cumulative successful calls.
    let text = std::fs::read_to_string(&stats)?;
    let header: Vec<&str> = text.lines().next().unwrap_or("").split(';').collect();
    let last: Vec<&str> = text.lines().last().unwrap_or("").split(';').collect();
    let column = |name: &str| -> anyhow::Result<u64> {
        let i = header
            .iter()
            .position(|h| *h == name)
            .with_context(|| format!("no {name} in sipp's statistics"))?;
        Ok(last.get(i).unwrap_or(&"").trim().parse()?)
    };
    let (ok, failed) = (column("SuccessfulCall(C)")?, column("FailedCall(C)")?);
    if ok != calls || failed != 0 {
        bail!("sipp: {ok} of {calls} calls succeeded, {failed} failed");
    }
    Ok(ok as f64 / elapsed)
}

pub fn run(ds: &Dataset, args: FrontendArgs, seed: u64) -> anyhow::Result<()> {
    let dir =
        std::env::temp_dir().join(format!("trunkline-bench-frontends-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let sip = free_port();
    let node = LoadedNode::start(
        &dir,
        // No response-rate limit: sipp calls from one address.
        &format!("[sip]\nenabled = true\nlisten = \"127.0.0.1:{sip}\"\nrate_limit = 0\n"),
        ds,
    )?;
    let numbers = Arc::new(ds.queries(100_000, seed));
    let rt = tokio::runtime::Runtime::new()?;
    let json = rt
        .block_on(http_rate(node.http, &numbers, "", &args))
        .context("HTTP JSON lookups")?;
    let dial = rt
        .block_on(http_rate(
            node.http,
            &numbers,
            "?format=dial&tech=pjsip",
            &args,
        ))
        .context("HTTP dial-string lookups")?;
    let redirects = rt
        .block_on(sip_rate(sip, &numbers, &args))
        .context("SIP redirects")?;
    println!(
        "front ends ({} prefixes, {} clients on this machine, {} s each): HTTP lookups {json:.0}/s as JSON, {dial:.0}/s as dial strings; SIP INVITEs answered (302/404) {redirects:.0}/s",
        ds.entries.len(),
        args.clients,
        args.seconds
    );
    // sipp is one single-threaded process and saturates its own core near
    // 15,000 calls/s here, so it is asked for that rate: the figure shows
    // what a standard SIP tool gets, bounded by the tool.
    let calls = 100_000;
    let by_sipp = sipp_rate(&dir, sip, &numbers, calls, 15_000).context("sipp redirects")?;
    println!(
        "SIP redirects driven by sipp (one process, asked for 15000 calls/s): {calls} calls, all 302/404, {by_sipp:.0}/s"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
