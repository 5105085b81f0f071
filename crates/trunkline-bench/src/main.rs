//! `trunkline-bench`: prints the figures the issues ask for.
//!
//! - `lookup`: in-process longest-prefix match over the synthetic data set,
//!   one core, alone and with a concurrent writer.
//! - `cluster`: a real 3-node release cluster: bulk load until applied on
//!   every node, and failover time after kill -9 of the leader.
//! - `node`: a real release `trunklined`: load time of the data set through
//!   the CLI, resident memory per route, gRPC lookups per second from a
//!   concurrent client.
//! - `etcd`: small-write throughput beside a 3-node etcd.
//! - `peering`: convergence along a chain of clusters; a full table into a
//!   3-node exchange and on to a second member, beside gobgpd.
//! - `dns`: ENUM queries per second beside BIND 9, driven by dnsperf.
//! - `frontends`: HTTP lookups and SIP redirects per second.
//! - `authority`: revalidation and validation cost of number authority.
//!
//! Build first: `cargo build --release --workspace --bins`.

mod authority;
mod cluster;
mod dataset;
mod dns;
mod etcd;
mod frontends;
mod gobgp;
mod node;
mod peering;
mod secure;
mod stall;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;
use clap::{Parser, Subcommand};
use trunkline_core::{
    Attrs, Digits, NextHop, Number, PlanId, Prefix, Route, RouteTable, Source, Validation,
};

use crate::dataset::Dataset;

#[derive(Debug, Parser)]
struct Args {
    /// Prefixes in the data set.
    #[arg(long, default_value_t = 1_000_000)]
    prefixes: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// In-process lookups.
    Lookup {
        /// Lookups to time.
        #[arg(long, default_value_t = 20_000_000)]
        lookups: usize,
    },
    /// A real node: load, memory, gRPC lookups.
    Node(node::NodeArgs),
    /// A real 3-node cluster: bulk load until applied everywhere, failover.
    Cluster(cluster::ClusterArgs),
    /// Small-write throughput of a 3-node etcd and a 3-node Trunkline cluster.
    Etcd(etcd::EtcdArgs),
    /// Peering: convergence along a chain of clusters; a full table into a
    /// 3-node exchange and on to a second member, beside gobgpd.
    Peering(peering::PeeringArgs),
    /// ENUM queries per second beside BIND 9, both driven by dnsperf.
    Dns(dns::DnsArgs),
    /// HTTP lookups and SIP redirects per second.
    Frontends(frontends::FrontendArgs),
    /// Number authority on the state machine: revalidation after one
    /// authorisation and after one covering everything, validation cost,
    /// memory per authorisation.
    Authority(authority::AuthorityArgs),
}

pub fn rss_bytes(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn build_table(ds: &Dataset) -> RouteTable {
    let carriers: Vec<Arc<Attrs>> = (0..dataset::CARRIERS)
        .map(|c| {
            Arc::new(Attrs {
                source: Source::Api,
                next_hops: vec![
                    NextHop::new(&format!("sip:{{e164}}@carrier{c}.example.net"), 10, 100).unwrap(),
                ],
                path: vec![],
                local_pref: 100,
                med: 0,
                communities: vec![],
                validation: Validation::NotFound,
                reject_not_found: false,
                local_from: None,
            })
        })
        .collect();
    let mut t = RouteTable::new();
    for (i, e) in ds.entries.iter().enumerate() {
        let p = Prefix {
            plan: PlanId::E164,
            digits: Digits::from_ascii(&e.digits).unwrap(),
        };
        t.upsert(
            &p,
            Route {
                attrs: carriers[e.carrier as usize].clone(),
                installed_at: i as u64,
                stale: false,
            },
        );
    }
    t
}

fn lookup_bench(ds: &Dataset, n: usize, seed: u64) {
    let before = rss_bytes("self");
    let t0 = Instant::now();
    let mut table = build_table(ds);
    table.compact();
    let build = t0.elapsed();
    let after = rss_bytes("self");
    println!(
        "table: {} prefixes built in {:.2} s; index arrays {:.1} MB; resident +{:.1} MB = {:.0} bytes/prefix (index and routes)",
        table.prefix_count(),
        build.as_secs_f64(),
        table.index_bytes() as f64 / 1e6,
        (after.saturating_sub(before)) as f64 / 1e6,
        (after.saturating_sub(before)) as f64 / table.prefix_count() as f64
    );
    let queries: Vec<Number> = ds
        .queries(
            std::env::var("Q")
                .ok()
                .and_then(|q| q.parse().ok())
                .unwrap_or(1_000_000),
            seed + 1,
        )
        .iter()
        .map(|q| Number {
            plan: PlanId::E164,
            digits: Digits::from_ascii(q).unwrap(),
        })
        .collect();
    let hits = queries.iter().filter(|q| table.lookup(q).is_some()).count();
    println!(
        "queries: {} distinct, {:.1} % match a prefix",
        queries.len(),
        hits as f64 * 100.0 / queries.len() as f64
    );

    let run = |table: &RouteTable| {
        let t0 = Instant::now();
        let mut found = 0usize;
        let mut q = queries.iter().cycle();
        for _ in 0..n {
            let number = q.next().expect("cycle never ends");
            if let Some(m) = table.lookup(black_box(number)) {
                found += m.prefix.digits.len();
            }
        }
        black_box(found);
        t0.elapsed()
    };
    let d = run(&table);
    println!(
        "lookup, one core: {n} lookups in {:.2} s = {:.1} M lookups/s, {:.0} ns each",
        d.as_secs_f64(),
        n as f64 / d.as_secs_f64() / 1e6,
        d.as_nanos() as f64 / n as f64
    );

    if std::env::var_os("ONLY_SINGLE").is_some() {
        return;
    }
    // Batched: many lookups in flight, each prefetching its next read.
    let run_batch = |table: &RouteTable| {
        let t0 = Instant::now();
        let mut found = 0usize;
        let mut done = 0;
        while done < n {
            let start = done % queries.len();
            let end = (start + 4096).min(queries.len()).min(start + (n - done));
            table.lookup_batch(black_box(&queries[start..end]), |_, m| {
                if let Some(m) = m {
                    found += m.prefix.digits.len();
                }
            });
            done += end - start;
        }
        black_box(found);
        t0.elapsed()
    };
    let d = run_batch(&table);
    println!(
        "lookup_batch, one core: {n} lookups in {:.2} s = {:.1} M lookups/s, {:.0} ns each",
        d.as_secs_f64(),
        n as f64 / d.as_secs_f64() / 1e6,
        d.as_nanos() as f64 / n as f64
    );

    // What a writer leaves behind, without the writer: a delta of
    // changes over the index (readers probe it at each length it holds).
    let entries: Vec<Prefix> = ds
        .entries
        .iter()
        .map(|e| Prefix {
            plan: PlanId::E164,
            digits: Digits::from_ascii(&e.digits).unwrap(),
        })
        .collect();
    let mut changed = table.clone();
    for p in entries.iter().step_by(10) {
        if let Some(r) = changed.get(p).map(|s| s[0].clone()) {
            changed.remove(p, &Source::Api);
            changed.upsert(p, r);
        }
    }
    let d = run(&changed);
    println!(
        "lookup, one core, over a delta of {} changed prefixes (no writer): {:.1} M lookups/s, {:.0} ns each",
        entries.len() / 10,
        n as f64 / d.as_secs_f64() / 1e6,
        d.as_nanos() as f64 / n as f64
    );
    let d = run_batch(&changed);
    println!(
        "lookup_batch, one core, over the same delta: {:.1} M lookups/s, {:.0} ns each",
        n as f64 / d.as_secs_f64() / 1e6,
        d.as_nanos() as f64 / n as f64
    );
    drop(changed);

    // The same, while another thread keeps changing the table and
    // publishing a new version every 1000 changes.
    let shared = Arc::new(ArcSwap::from_pointee(table.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let shared = shared.clone();
        let stop = stop.clone();
        let mut table = table;
        std::thread::spawn(move || {
            let mut changes = 0u64;
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let p = &entries[i % entries.len()];
                let route = table.get(p).map(|s| s[0].clone());
                if let Some(r) = route {
                    table.remove(p, &Source::Api);
                    table.upsert(p, r);
                }
                changes += 2;
                i = i
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407)
                    % entries.len();
                if changes.is_multiple_of(2000) {
                    shared.store(Arc::new(table.clone()));
                }
            }
            changes
        })
    };
    let t0 = Instant::now();
    let mut found = 0usize;
    for i in 0..n {
        let view = shared.load();
        if let Some(m) = view.lookup(black_box(&queries[i % queries.len()])) {
            found += m.prefix.digits.len();
        }
    }
    black_box(found);
    let d = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    let changes = writer.join().unwrap();
    println!(
        "lookup with a concurrent writer ({:.0} changes/s published every 1000): {:.1} M lookups/s, {:.0} ns each",
        changes as f64 / d.as_secs_f64(),
        n as f64 / d.as_secs_f64() / 1e6,
        d.as_nanos() as f64 / n as f64
    );
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let t0 = Instant::now();
    let ds = Dataset::generate(args.prefixes, args.seed);
    println!(
        "data set: {} prefixes ({} NANP thousands-blocks, {} other country codes, {} ported 15-digit numbers), seed {}, made in {:.1} s",
        ds.entries.len(),
        ds.nanp_blocks,
        ds.other,
        ds.ported,
        args.seed,
        t0.elapsed().as_secs_f64()
    );
    match args.cmd {
        Cmd::Lookup { lookups } => lookup_bench(&ds, lookups, args.seed),
        Cmd::Node(n) => node::run(&ds, n, args.seed)?,
        Cmd::Cluster(c) => cluster::run(&ds, c)?,
        Cmd::Etcd(e) => etcd::run(e)?,
        Cmd::Peering(p) => peering::run(&ds, p)?,
        Cmd::Authority(a) => authority::run(&ds, a)?,
        Cmd::Dns(d) => dns::run(&ds, d, args.seed)?,
        Cmd::Frontends(f) => frontends::run(&ds, f, args.seed)?,
    }
    Ok(())
}
