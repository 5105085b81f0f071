//! `trunkline-sim`: runs a scenario over seeds and sizes, prints a table,
//! and writes `per_event.csv`, `summary.json` and SVG plots.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use trunkline_simulations::scenario::{self, Measured, Pace};

/// A full table allocates and frees a few small blocks for every route at
/// every hop; mimalloc takes a third less time over them than glibc's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(about = "Federations at internet scale on Trunkline's own protocol code")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run a scenario: clique, hierarchy, exchange, federation, full-table.
    Run {
        name: String,
        /// Seeds 1..=N.
        #[arg(long, default_value_t = 5)]
        seeds: u64,
        /// Sizes (ITADs), comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "4,8,16,24,32,40")]
        size: Vec<usize>,
        /// MRAI values in seconds, comma-separated; 0 is Trunkline's pacing.
        #[arg(long, value_delimiter = ',', default_value = "0,1,5,30")]
        mrai: Vec<u64>,
        /// Trunkline's degrade hold in ms (MRAI 0 only; 0 turns it off, as
        /// before the clique's path exploration was fixed).
        #[arg(long, default_value_t = Pace::HOLD_MS)]
        hold_ms: u64,
        /// Every cluster commits through three real raft-rs RawNodes on the
        /// virtual clock instead of the sampled commit latency.
        #[arg(long)]
        raft: bool,
        /// hierarchy: the AS graph of a CAIDA AS-relationship file (serial-1
        /// or serial-2) instead of the synthetic one; --size is ignored.
        #[arg(long)]
        caida: Option<PathBuf>,
        /// full-table: prefixes an ITAD originates on average.
        #[arg(long, default_value_t = scenario::full_table::PREFIXES_PER_ITAD)]
        prefixes_per_itad: u64,
        /// full-table: every prefix and every stub on its own, not in
        /// equivalence classes (the reference the classes are checked by).
        #[arg(long)]
        per_prefix: bool,
        /// full-table: run on one core (it runs on two, split by node;
        /// see simulations/README.md).
        #[arg(long)]
        one_core: bool,
        /// Where per_event.csv, summary.json and the plots go.
        #[arg(long, default_value = "simulations/out")]
        out: PathBuf,
    },
}

/// mimalloc hands pages back to the OS once they have been free for a
/// second; a full table frees and refills so much that faulting them back
/// in (zeroed, as 2 MB pages) cost a twelfth of its run. Its options are
/// read from the environment before `main`, so the binary runs itself
/// again with that off: a run keeps its peak anyway.
fn without_purging() -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    const PURGE: &str = "MIMALLOC_PURGE_DELAY";
    if std::env::var_os(PURGE).is_some() {
        return Ok(());
    }
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_default();
    let exe = std::env::current_exe().context("finding trunkline-sim's own binary")?;
    let err = (std::process::Command::new(exe).arg0(arg0).args(args))
        .env(PURGE, "-1")
        .exec();
    Err(err).context("running trunkline-sim again with mimalloc's purging off")
}

fn main() -> anyhow::Result<()> {
    without_purging()?;
    let Args { cmd } = Args::parse();
    let Cmd::Run {
        name,
        seeds,
        size,
        mrai,
        hold_ms,
        raft,
        caida,
        prefixes_per_itad,
        per_prefix,
        one_core,
        out,
    } = cmd;
    let caida = match &caida {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let g = trunkline_simulations::hierarchy::Graph::from_caida(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            println!(
                "{}: {} ASes ({} tier 1, {} transit), {} links",
                path.display(),
                g.nodes,
                g.tier1,
                g.transit_end - g.tier1,
                g.links.len()
            );
            Some(g)
        }
        None => None,
    };
    let size = match &caida {
        Some(g) => vec![g.nodes],
        None => size,
    };
    let commit = git_commit();
    let mut rows: Vec<Measured> = Vec::new();
    for &n in &size {
        for &m in &mrai {
            for seed in 1..=seeds {
                let pace = Pace {
                    hold_ms: if m == 0 { hold_ms } else { 0 },
                    raft,
                    ..Pace::mrai(m)
                };
                let r = match name.as_str() {
                    "clique" => scenario::clique::run(seed, n, pace),
                    "hierarchy" => match &caida {
                        Some(g) => scenario::hierarchy::run_on(g, seed, pace),
                        None => scenario::hierarchy::run(seed, n, pace),
                    },
                    "exchange" => scenario::exchange::run(seed, n, pace),
                    "federation" => scenario::federation::run(seed, n, pace),
                    "full-table" => {
                        use scenario::full_table::{Resolution, Shape, run_shaped};
                        let shape = Shape {
                            itads: n,
                            prefixes_per_itad,
                            resolution: if per_prefix {
                                Resolution::Each
                            } else {
                                Resolution::Classes
                            },
                            split: !one_core,
                        };
                        run_shaped(seed, shape, pace)
                    }
                    other => bail!(
                        "no scenario {other:?} (clique, hierarchy, exchange, federation, full-table)"
                    ),
                };
                rows.extend(
                    r.map_err(|v| anyhow::anyhow!("seed {seed}, size {n}, MRAI {m} s: {v}"))?,
                );
            }
        }
    }
    let dir = out.join(&name);
    std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
    let mut csv = String::from(Measured::CSV_HEADER);
    csv.push('\n');
    for r in &rows {
        csv.push_str(&r.csv());
        csv.push('\n');
    }
    std::fs::write(dir.join("per_event.csv"), csv)?;
    println!(
        "{:<18} {:>5} {:>7} {:>12} {:>12} {:>12} {:>11} {:>10} {:>8}",
        "event",
        "size",
        "MRAI s",
        "p50 conv ms",
        "max conv ms",
        "max best ms",
        "max EoR ms",
        "updates",
        "links"
    );
    let mut summary = Vec::new();
    for &n in &size {
        for &m in &mrai {
            let mut events: Vec<&str> = Vec::new();
            for r in rows.iter().filter(|r| r.size == n && r.mrai_s == m) {
                if !events.contains(&r.event) {
                    events.push(r.event);
                }
            }
            for event in events {
                let these =
                    || (rows.iter()).filter(|r| r.size == n && r.mrai_s == m && r.event == event);
                let sorted = |f: fn(&Measured) -> u64| {
                    let mut v: Vec<u64> = these().map(f).collect();
                    v.sort_unstable();
                    v
                };
                let (conv, best) = (sorted(|r| r.convergence_ms), sorted(|r| r.best_ms));
                let eor = sorted(|r| r.eor_ms);
                let updates: Vec<u64> = these().map(|r| r.updates).collect();
                let at = |v: &[u64], p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
                let q = |p: f64| at(&conv, p);
                let b = |p: f64| at(&best, p);
                let links = rows.iter().find(|r| r.size == n).map_or(0, |r| r.links);
                let mean_updates = updates.iter().sum::<u64>() as f64 / updates.len() as f64;
                println!(
                    "{event:<18} {n:>5} {m:>7} {:>12} {:>12} {:>12} {:>11} {mean_updates:>10.0} {links:>8}",
                    q(0.5),
                    q(1.0),
                    b(1.0),
                    at(&eor, 1.0)
                );
                summary.push(serde_json::json!({
                    "event": event, "size": n, "mrai_s": m, "seeds": seeds,
                    "convergence_ms": { "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": q(1.0) },
                    "best_ms": { "p50": b(0.5), "p90": b(0.9), "p99": b(0.99), "max": b(1.0) },
                    "eor_ms_max": at(&eor, 1.0),
                    "updates_mean": mean_updates, "links": links,
                }));
            }
        }
    }
    let doc = serde_json::json!({
        "scenario": name, "commit": commit, "seeds": seeds, "sizes": size, "mrai_s": mrai, "hold_ms": hold_ms, "raft": raft,
        "results": summary,
    });
    std::fs::write(
        dir.join("summary.json"),
        serde_json::to_string_pretty(&doc)?,
    )?;
    plots(&name, &rows, &size, &dir).map_err(|e| anyhow::anyhow!("plots: {e}"))?;
    println!("wrote {}", dir.display());
    if let Some(peak) = peak_memory() {
        println!("peak resident memory: {peak}");
    }
    Ok(())
}

/// The scenario's plots, beside its CSV.
fn plots(
    name: &str,
    rows: &[Measured],
    sizes: &[usize],
    dir: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    use trunkline_simulations::plot;
    let largest = sizes.iter().copied().max().unwrap_or(0);
    plot::ecdf(rows, largest, &dir.join("convergence_ecdf.svg"))?;
    match name {
        "clique" => {
            let secs = |r: &Measured| r.convergence_ms as f64 / 1000.0;
            let per_link = |r: &Measured| r.updates as f64 / r.links.max(1) as f64;
            plot::by_size(
                rows,
                "withdraw",
                "seconds to converge",
                secs,
                &dir.join("withdraw_convergence.svg"),
            )?;
            plot::by_size(
                rows,
                "withdraw",
                "Updates per link",
                per_link,
                &dir.join("withdraw_messages.svg"),
            )?;
        }
        _ => plot::boxes(rows, largest, &dir.join("events_boxes.svg"))?,
    }
    Ok(())
}

/// The process's peak resident memory, as the kernel reports it.
fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.trim_start_matches("VmHWM:").trim().to_owned())
}

/// The commit the run was made on, for the record.
fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".into(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        )
}
