//! Benchmarks against a real 3-node release cluster: failover time and a
//! bulk load until applied on every node.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::node_client::NodeClient;

use crate::dataset::Dataset;
use crate::node::{bin, free_port};
use crate::rss_bytes;
use crate::secure::{Pki, Target, scheme};

#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// Leader kills to time.
    #[arg(long, default_value_t = 5)]
    failovers: usize,
    /// API and node-to-node traffic over TLS (certificates from
    /// `trunkline pki`).
    #[arg(long)]
    tls: bool,
}

pub(crate) struct Member {
    config: std::path::PathBuf,
    target: Target,
    child: Option<Child>,
}

impl Member {
    pub(crate) fn new(config: std::path::PathBuf, target: Target) -> Member {
        Member {
            config,
            target,
            child: None,
        }
    }

    /// How clients reach it (address, CA, admin token).
    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub(crate) fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.config.with_extension("log"))?;
        self.child = Some(
            Command::new(bin("trunklined")?)
                .arg("--config")
                .arg(&self.config)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()?,
        );
        Ok(())
    }

    /// `None` while the node runs; else how it ended and the end of its
    /// log (a bench must not count a dead node's errors as a figure).
    pub(crate) fn ended(&mut self) -> Option<String> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        let log = std::fs::read_to_string(self.config.with_extension("log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(10).collect();
        Some(format!(
            "{status}; its log ends:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ))
    }

    pub(crate) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) async fn status(target: &Target) -> Option<pb::RaftStatus> {
    let ch = target.channel().await.ok()?;
    NodeClient::new(ch)
        .status(pb::StatusRequest {})
        .await
        .ok()?
        .into_inner()
        .raft
}

fn cli(target: &Target, args: &[&str]) -> anyhow::Result<bool> {
    Ok(target
        .cli()?
        .args(["--timeout", "2"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?
        .success())
}

/// Starts a 3-node release cluster with default timing in `dir`; with
/// `pki`, over TLS.
pub(crate) fn start_cluster(
    dir: &std::path::Path,
    pki: Option<&Pki>,
) -> anyhow::Result<Vec<Member>> {
    let s = scheme(pki);
    // (gRPC, HTTP, node-to-node) ports.
    let ports: Vec<(u16, u16, u16)> = (0..3)
        .map(|_| (free_port(), free_port(), free_port()))
        .collect();
    let members: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, (_, _, c))| format!("{{ id = {}, addr = \"{s}://127.0.0.1:{c}\" }}", i + 1))
        .collect();
    let mut nodes: Vec<Member> = Vec::new();
    for (i, (g, h, c)) in ports.iter().enumerate() {
        let id = i as u64 + 1;
        let config = dir.join(format!("n{id}.toml"));
        let data = dir.join(format!("data{id}"));
        let tls = pki.map(|p| p.node(id)).transpose()?.unwrap_or_default();
        std::fs::write(
            &config,
            format!(
                "[node]\nid = {id}\nitad = 4200000000\ndata_dir = \"{}\"\n[api]\nlisten = \"127.0.0.1:{g}\"\n[http]\nlisten = \"127.0.0.1:{h}\"\n[log]\nlevel = \"warn\"\n[cluster]\nlisten = \"127.0.0.1:{c}\"\nmembers = [{}]\n{tls}",
                data.display(),
                members.join(", ")
            ),
        )?;
        let mut m = Member::new(
            config,
            Target::new(format!("{s}://127.0.0.1:{g}"), pki, &data),
        );
        m.start()?;
        nodes.push(m);
    }
    Ok(nodes)
}

pub fn run(ds: &Dataset, args: ClusterArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("trunkline-bench-cluster-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let pki = args.tls.then(|| Pki::new(&dir)).transpose()?;
    let mut nodes = start_cluster(&dir, pki.as_ref())?;
    let rt = tokio::runtime::Runtime::new()?;
    let leader = |nodes: &[Member]| -> anyhow::Result<usize> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for (i, n) in nodes.iter().enumerate() {
                if n.child.is_some()
                    && let Some(s) = rt.block_on(status(n.target()))
                    && s.role() == pb::RaftRole::Leader
                {
                    return Ok(i);
                }
            }
            if Instant::now() > deadline {
                bail!("no leader");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };

    // Bulk load through one node, until applied on all three.
    let first = leader(&nodes)?;
    let csv = dir.join("blocks.csv");
    std::fs::write(&csv, ds.csv())?;
    let t0 = Instant::now();
    let target = &nodes[(first + 1) % 3];
    let ok = target
        .target()
        .cli()?
        .args(["announce", "--file"])
        .arg(&csv)
        .stdout(Stdio::null())
        .status()?
        .success();
    if !ok {
        bail!("bulk load failed");
    }
    let acked = t0.elapsed();
    let want = rt
        .block_on(status(target.target()))
        .context("status")?
        .applied_index;
    loop {
        let all = nodes.iter().all(|n| {
            rt.block_on(status(n.target()))
                .is_some_and(|s| s.applied_index >= want)
        });
        if all {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let applied = t0.elapsed();
    let rss: Vec<String> = nodes
        .iter()
        .map(|n| {
            format!(
                "{:.0} MB",
                rss_bytes(&n.child.as_ref().map_or(0, |c| c.id()).to_string()) as f64 / 1e6
            )
        })
        .collect();
    let mode = if args.tls { "TLS" } else { "plaintext" };
    println!(
        "cluster bulk ({mode}): {} routes through a follower of a 3-node cluster: acknowledged in {:.2} s, applied on all three in {:.2} s; resident {}",
        ds.entries.len(),
        acked.as_secs_f64(),
        applied.as_secs_f64(),
        rss.join(", ")
    );

    // Failover: kill -9 the leader, time until a write is acknowledged.
    let mut times = Vec::new();
    for k in 0..args.failovers {
        let l = leader(&nodes)?;
        let survivor = nodes[(l + 1) % 3].target().clone();
        nodes[l].kill();
        let t0 = Instant::now();
        loop {
            if cli(
                &survivor,
                &["announce", &format!("+88{k:04}"), "--via", "sip:x@y"],
            )? {
                break;
            }
            if t0.elapsed() > Duration::from_secs(30) {
                bail!("no write acknowledged within 30 s of the leader's death");
            }
        }
        times.push(t0.elapsed());
        nodes[l].start()?;
        std::thread::sleep(Duration::from_secs(2));
    }
    times.sort();
    let ms: Vec<String> = times
        .iter()
        .map(|t| format!("{:.0}", t.as_secs_f64() * 1000.0))
        .collect();
    println!(
        "failover ({mode}): kill -9 of the leader to the first acknowledged write (default timing: tick 100 ms, election 10 ticks): median {:.0} ms, max {:.0} ms over {} runs [{} ms]",
        times[times.len() / 2].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0,
        times.len(),
        ms.join(", ")
    );
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
