//! Peering figures with real release processes:
//!
//! - convergence: a chain of single-node clusters, each peering with the
//!   next; a prefix withdrawn at one end, timed until the far end's lookup
//!   changes (and the same for an announcement);
//! - full table: the data set announced by one member into a 3-node
//!   exchange, until installed on all three nodes and re-advertised to a
//!   second member; time and resident memory; then members going away
//!   (`stall.rs`: the raft thread's longest stall, readers' longest wait,
//!   elections); then the same shape for gobgpd with 1,000,000 IPv4
//!   routes.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::node_client::NodeClient;
use trunkline_proto::v1::routes_client::RoutesClient;

use crate::cluster::Member;
use crate::dataset::Dataset;
use crate::node::free_port;
use crate::rss_bytes;
use crate::secure::{Authed, Pki, Target, scheme};

#[derive(Debug, clap::Args)]
pub struct PeeringArgs {
    /// Clusters in the convergence chain.
    #[arg(long, default_value_t = 5)]
    chain: usize,
    /// Withdrawals (and announcements) timed along the chain.
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// Only one part: `convergence`, `table` or `gobgp`.
    #[arg(long)]
    only: Option<String>,
    /// Every node's API, peering (mutual TLS, identities bound to the
    /// certificates) and node-to-node traffic over TLS.
    #[arg(long)]
    tls: bool,
}

const EXCHANGE: u32 = 4_200_000_900;

/// One node of a peering bench.
struct Spec<'a> {
    /// Its node name and, with TLS, the name peers know it by.
    name: &'a str,
    /// How its peers name it (its peer certificate), with TLS.
    peer_name: &'a str,
    id: u64,
    itad: u32,
    grpc: u16,
    cluster_port: u16,
    /// The lines of `[cluster]` after `listen`.
    cluster: &'a str,
    extra: &'a str,
}

/// Writes the node's config (with TLS when `pki`) and starts it.
fn start(dir: &std::path::Path, pki: Option<&Pki>, s: Spec<'_>) -> anyhow::Result<Member> {
    let http = free_port();
    let config = dir.join(format!("{}.toml", s.name));
    let data = dir.join(format!("{}-data", s.name));
    let tls = pki
        .map(|p| p.peer(s.itad, s.peer_name, s.id))
        .transpose()?
        .unwrap_or_default();
    std::fs::write(
        &config,
        format!(
            "[node]\nid = {}\nname = \"{}\"\nitad = {}\ndata_dir = \"{}\"\n[api]\nlisten = \"127.0.0.1:{}\"\n[http]\nlisten = \"127.0.0.1:{http}\"\n[log]\nlevel = \"warn\"\n[cluster]\nlisten = \"127.0.0.1:{}\"\n{}\n{tls}\n{}\n",
            s.id,
            s.name,
            s.itad,
            data.display(),
            s.grpc,
            s.cluster_port,
            s.cluster,
            s.extra
        ),
    )?;
    let target = Target::new(
        format!("{}://127.0.0.1:{}", scheme(pki), s.grpc),
        pki,
        &data,
    );
    let mut m = Member::new(config, target);
    m.start()?;
    Ok(m)
}

fn peer(pki: Option<&Pki>, name: &str, itad: u32, dial: Option<u16>, extra: &str) -> String {
    let s = scheme(pki);
    let addresses = dial.map_or(String::new(), |p| {
        format!("addresses = [\"{s}://127.0.0.1:{p}\"]\n")
    });
    format!(
        "[[peer]]\nname = \"{name}\"\nitad = {itad}\n{addresses}{extra}\n[[peer.import]]\naction = \"accept\"\n[[peer.export]]\naction = \"accept\"\n"
    )
}

/// A channel to `t` once it answers, carrying its admin token.
async fn channel(t: &Target) -> anyhow::Result<Authed> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match t.authed().await {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() > deadline => bail!("{}: {e}", t.server),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn has_route(c: &mut RoutesClient<Authed>, number: &str) -> bool {
    c.lookup(pb::LookupRequest {
        number: number.to_owned(),
        consistent: false,
    })
    .await
    .is_ok()
}

/// Polls until `number` has a route (or none), returning the time taken.
async fn until(
    c: &mut RoutesClient<Authed>,
    number: &str,
    present: bool,
    t0: Instant,
) -> anyhow::Result<Duration> {
    loop {
        if has_route(c, number).await == present {
            return Ok(t0.elapsed());
        }
        if t0.elapsed() > Duration::from_secs(60) {
            bail!("{number} did not converge within 60 s");
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
}

fn summary(mut v: Vec<Duration>) -> String {
    v.sort();
    format!(
        "median {:.1} ms, max {:.1} ms",
        v[v.len() / 2].as_secs_f64() * 1e3,
        v[v.len() - 1].as_secs_f64() * 1e3
    )
}

pub fn convergence(args: &PeeringArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("trunkline-bench-chain-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let n = args.chain;
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let itad = |i: usize| 4_200_000_001 + i as u32;
    let pki = args.tls.then(|| Pki::new(&dir)).transpose()?;
    let pki = pki.as_ref();
    let mut nodes = Vec::new();
    for i in 0..n {
        let mut extra = String::new();
        if i > 0 {
            extra.push_str(&peer(pki, &format!("c{}", i - 1), itad(i - 1), None, ""));
        }
        if i + 1 < n {
            extra.push_str(&peer(
                pki,
                &format!("c{}", i + 1),
                itad(i + 1),
                Some(ports[i + 1]),
                "",
            ));
        }
        let name = format!("c{i}");
        nodes.push(start(
            &dir,
            pki,
            Spec {
                name: &name,
                peer_name: &name,
                id: 1,
                itad: itad(i),
                grpc: ports[i],
                cluster_port: free_port(),
                cluster: "",
                extra: &extra,
            },
        )?);
    }
    let rt = tokio::runtime::Runtime::new()?;
    let (withdrawals, announcements) = rt.block_on(async {
        let mut first = RoutesClient::new(channel(nodes[0].target()).await?);
        let mut last = RoutesClient::new(channel(nodes[n - 1].target()).await?);
        let announce = |k: usize| pb::AnnounceRequest {
            routes: vec![pb::RouteSpec {
                prefix: format!("+99{k:04}"),
                next_hops: vec![pb::NextHop {
                    uri: "sip:{e164}@origin.example".into(),
                    priority: 10,
                    weight: 100,
                }],
                ..Default::default()
            }],
            request_id: String::new(),
        };
        // Warm up: the chain is up once a first route crosses it.
        let t0 = Instant::now();
        loop {
            if first.announce(announce(9999)).await.is_ok() {
                break;
            }
            if t0.elapsed() > Duration::from_secs(30) {
                bail!("the first node did not take a write");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        until(&mut last, "+999999000", true, Instant::now()).await?;
        let (mut w, mut a) = (Vec::new(), Vec::new());
        for k in 0..args.rounds {
            let number = format!("+99{k:04}123");
            let t0 = Instant::now();
            first.announce(announce(k)).await?;
            a.push(until(&mut last, &number, true, t0).await?);
            let t0 = Instant::now();
            first
                .withdraw(pb::WithdrawRequest {
                    prefixes: vec![format!("+99{k:04}")],
                    request_id: String::new(),
                })
                .await?;
            w.push(until(&mut last, &number, false, t0).await?);
        }
        anyhow::Ok((w, a))
    })?;
    println!(
        "convergence ({}) along a chain of {n} clusters ({} hops), {} rounds: withdrawal at one end until the far end's lookup changes: {}; announcement: {}",
        mode(args.tls),
        n - 1,
        args.rounds,
        summary(withdrawals),
        summary(announcements)
    );
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn mode(tls: bool) -> &'static str {
    if tls { "TLS" } else { "plaintext" }
}

async fn prefixes(t: &Target) -> u64 {
    let Ok(ch) = t.channel().await else {
        return 0;
    };
    NodeClient::new(ch)
        .status(pb::StatusRequest {})
        .await
        .map(|r| r.into_inner().plans.iter().map(|p| p.prefixes).sum())
        .unwrap_or(0)
}

fn cli(t: &Target, args: &[&str]) -> anyhow::Result<()> {
    let ok = t
        .cli()?
        .args(args)
        .stdout(Stdio::null())
        .status()?
        .success();
    if !ok {
        bail!("trunkline {args:?} failed");
    }
    Ok(())
}

pub fn full_table(ds: &Dataset, tls: bool) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("trunkline-bench-table-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let pki = tls.then(|| Pki::new(&dir)).transpose()?;
    let pki = pki.as_ref();
    let total = ds.entries.len() as u64;
    // Two member PBX nodes; the exchange dials both.
    let (p1, p2) = (free_port(), free_port());
    let member = |name: &str, itad: u32, grpc: u16| {
        start(
            &dir,
            pki,
            Spec {
                name,
                peer_name: name,
                id: 1,
                itad,
                grpc,
                cluster_port: free_port(),
                cluster: "",
                extra: &peer(pki, "exchange", EXCHANGE, None, "transparent = true"),
            },
        )
    };
    let m1 = member("m1", 4_200_000_101, p1)?;
    let m2 = member("m2", 4_200_000_202, p2)?;
    let ex_ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let s = scheme(pki);
    let members: Vec<String> = ex_ports
        .iter()
        .enumerate()
        .map(|(i, (_, c))| format!("{{ id = {}, addr = \"{s}://127.0.0.1:{c}\" }}", i + 1))
        .collect();
    let cluster = format!("members = [{}]\n", members.join(", "));
    let mut ex = Vec::new();
    for (i, (g, c)) in ex_ports.iter().enumerate() {
        ex.push(start(
            &dir,
            pki,
            Spec {
                name: &format!("ex{}", i + 1),
                peer_name: "exchange",
                id: i as u64 + 1,
                itad: EXCHANGE,
                grpc: *g,
                cluster_port: *c,
                cluster: &cluster,
                extra: "",
            },
        )?);
    }
    let rt = tokio::runtime::Runtime::new()?;
    // The first member's table, loaded before it peers.
    let csv = dir.join("table.csv");
    std::fs::write(&csv, ds.csv())?;
    rt.block_on(channel(m1.target()))?;
    cli(
        m1.target(),
        &["announce", "--file", csv.to_str().context("path")?],
    )?;
    let ex_target = ex[0].target().clone();
    rt.block_on(channel(&ex_target))?;
    let add = |name: &str, port: u16, allowed: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = cli(
                &ex_target,
                &[
                    "neighbor",
                    "add",
                    name,
                    "--itad",
                    if name == "m1" {
                        "4200000101"
                    } else {
                        "4200000202"
                    },
                    "--role",
                    "member",
                    "--allowed",
                    allowed,
                    "--route-server",
                    "--address",
                    &format!("{s}://127.0.0.1:{port}"),
                ],
            );
            if r.is_ok() || Instant::now() > deadline {
                return r;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    add("m2", p2, "+999")?;
    std::thread::sleep(Duration::from_secs(2));
    let t0 = Instant::now();
    add("m1", p1, "e164:")?;
    let installed = loop {
        let counts: Vec<u64> = ex
            .iter()
            .map(|n| rt.block_on(prefixes(n.target())))
            .collect();
        if counts.iter().all(|c| *c >= total) {
            break t0.elapsed();
        }
        if t0.elapsed() > Duration::from_secs(300) {
            bail!("not installed within 300 s: {counts:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let advertised = loop {
        if rt.block_on(prefixes(m2.target())) >= total {
            break t0.elapsed();
        }
        if t0.elapsed() > Duration::from_secs(300) {
            bail!("not re-advertised within 300 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let rss = |m: &Member| rss_bytes(&m.pid().to_string()) as f64 / 1e6;
    let ex_rss: Vec<String> = ex.iter().map(|m| format!("{:.0} MB", rss(m))).collect();
    println!(
        "full table ({}): {total} prefixes from one member into a 3-node exchange: installed on all three nodes in {:.2} s, re-advertised to a second member in {:.2} s; resident per exchange node {} ({:.0} B/prefix on the largest), receiving member {:.0} MB",
        mode(tls),
        installed.as_secs_f64(),
        advertised.as_secs_f64(),
        ex_rss.join(", "),
        ex.iter().map(rss).fold(0.0, f64::max) * 1e6 / total as f64,
        rss(&m2),
    );
    // Members going away while the exchange holds the table: a small one
    // (its session's end costs what it held), then the one holding the
    // table, killed (no Notification: its routes stay, stale, for the
    // restart time), then removed (its routes go).
    let number = format!("+{}", ds.queries(1, 7)[0]);
    let say = |what: &str, s: crate::stall::Stall| {
        println!("full table ({}): {what}: {s}", mode(tls));
    };
    let s = crate::stall::through(&rt, &ex, &ex_target, &number, || {
        drop(m2);
        Ok(())
    })?;
    say("the member holding one route is killed", s);
    let s = crate::stall::through(&rt, &ex, &ex_target, &number, || {
        drop(m1);
        Ok(())
    })?;
    say(
        &format!("the member holding {total} routes is killed (they go stale)"),
        s,
    );
    let s = crate::stall::through(&rt, &ex, &ex_target, &number, || {
        cli(&ex_target, &["neighbor", "del", "m1"])
    })?;
    say(&format!("then it is removed (its {total} routes go)"), s);
    drop(ex);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

pub fn run(ds: &Dataset, args: PeeringArgs) -> anyhow::Result<()> {
    let part = |p: &str| args.only.as_deref().is_none_or(|o| o == p);
    if part("convergence") {
        convergence(&args)?;
    }
    if part("table") {
        full_table(ds, args.tls)?;
    }
    if part("gobgp") {
        let n = ds.entries.len();
        let (t, rss) = crate::gobgp::full_table(n)?;
        println!(
            "gobgpd {}: {n} IPv4 routes from one peer, installed and re-advertised to a second peer in {:.2} s; resident {:.0} MB ({:.0} B/route)",
            gobgp_version(),
            t.as_secs_f64(),
            rss as f64 / 1e6,
            rss as f64 / n as f64
        );
    }
    Ok(())
}

fn gobgp_version() -> String {
    Command::new("gobgpd")
        .arg("--version")
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .replace("gobgpd version ", "")
        })
        .unwrap_or_default()
}
