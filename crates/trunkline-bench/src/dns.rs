//! ENUM query rate beside BIND 9 (Debian `bind9`), both driven by
//! `dnsperf` (Debian `dnsperf`) with the same query file: the data set's
//! prefixes as wildcard NAPTR records in a BIND zone, and the same
//! prefixes as routes in a release `trunklined` with `[dns]` on.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::dataset::Dataset;
use crate::node::{LoadedNode, Proc, free_port};

#[derive(Debug, clap::Args)]
pub struct DnsArgs {
    /// Seconds each server is driven.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Queries dnsperf keeps outstanding.
    #[arg(long, default_value_t = 100)]
    outstanding: u32,
}

fn reversed(digits: &str) -> String {
    let mut labels: Vec<String> = digits.chars().rev().map(String::from).collect();
    labels.push("e164.arpa.".into());
    labels.join(".")
}

/// Runs dnsperf against 127.0.0.1:`port`; queries per second.
fn dnsperf(port: u16, queries: &std::path::Path, args: &DnsArgs) -> anyhow::Result<f64> {
    let out = Command::new("dnsperf")
        .args(["-s", "127.0.0.1", "-p", &port.to_string(), "-d"])
        .arg(queries)
        .args([
            "-l",
            &args.seconds.to_string(),
            "-q",
            &args.outstanding.to_string(),
            "-c",
            "4",
            "-T",
            "1",
        ])
        .output()
        .context("dnsperf (Debian package dnsperf) is not installed; scripts/bench installs it")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let qps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Queries per second:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .with_context(|| format!("no rate in dnsperf's output:\n{text}"))?;
    let lost = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Queries lost:"))
        .unwrap_or("")
        .trim()
        .to_owned();
    let codes = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Response codes:"))
        .unwrap_or("")
        .trim()
        .to_owned();
    println!(
        "  dnsperf on port {port}: {qps:.0} queries/s (lost: {lost}; response codes: {codes})"
    );
    Ok(qps)
}

fn wait_answering(port: u16, name: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ok = Command::new("dig")
            .args([
                "@127.0.0.1",
                "-p",
                &port.to_string(),
                "+time=1",
                "+tries=1",
                "NAPTR",
                name,
            ])
            .output()
            .is_ok_and(|o| {
                let text = String::from_utf8_lossy(&o.stdout);
                text.contains("status: NOERROR") && !text.contains("ANSWER: 0")
            });
        if ok {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("nothing answers {name} on port {port}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn run(ds: &Dataset, args: DnsArgs, seed: u64) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("trunkline-bench-dns-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    // The same queries for both.
    let queries = dir.join("queries.txt");
    let mut q = String::new();
    for n in ds.queries(200_000, seed) {
        q.push_str(&reversed(&n));
        q.push_str(" NAPTR\n");
    }
    std::fs::write(&queries, q)?;
    let probe = reversed(&format!("{}0000000", ds.entries[0].digits));

    // BIND: one wildcard NAPTR per prefix.
    let bind_port = free_port();
    let mut zone = String::from(
        "$TTL 60\n@ IN SOA ns.e164.arpa. hostmaster.e164.arpa. 1 3600 600 86400 60\n@ IN NS ns.e164.arpa.\nns IN A 127.0.0.1\n",
    );
    for e in &ds.entries {
        let owner = reversed(&e.digits);
        zone.push_str(&format!(
            "*.{owner} IN NAPTR 100 10 \"u\" \"E2U+sip\" \"!^(.*)$!sip:\\\\1@carrier{}.example.net!\" .\n",
            e.carrier
        ));
    }
    std::fs::write(dir.join("e164.arpa.zone"), zone)?;
    std::fs::write(
        dir.join("named.conf"),
        format!(
            "options {{\n  directory \"{d}\";\n  pid-file \"{d}/named.pid\";\n  listen-on port {bind_port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n  recursion no;\n}};\nzone \"e164.arpa\" {{\n  type primary;\n  file \"{d}/e164.arpa.zone\";\n}};\n",
            d = dir.display()
        ),
    )?;
    let t0 = Instant::now();
    let bind = Proc(
        Command::new("named")
            .arg("-g")
            .arg("-c")
            .arg(dir.join("named.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(dir.join("named.log"))?))
            .spawn()
            .context("named (Debian package bind9) is not installed; scripts/bench installs it")?,
    );
    wait_answering(bind_port, &probe)?;
    println!(
        "{}: {} wildcard NAPTR records loaded and answering in {:.1} s",
        bind_version(),
        ds.entries.len(),
        t0.elapsed().as_secs_f64()
    );
    let bind_qps = dnsperf(bind_port, &queries, &args)?;
    drop(bind);

    // Trunkline: the same prefixes as routes.
    let dns = free_port();
    let node = LoadedNode::start(
        &dir,
        // No response-rate limit: dnsperf asks from one address, as BIND is
        // run without one.
        &format!("[dns]\nenabled = true\nlisten = \"127.0.0.1:{dns}\"\nrate_limit = 0\n"),
        ds,
    )?;
    wait_answering(dns, &probe)?;
    let ours = dnsperf(dns, &queries, &args)?;
    drop(node);
    println!(
        "ENUM: {} prefixes, {} outstanding queries from dnsperf (one thread), {} s each: Trunkline {ours:.0}/s, BIND {bind_qps:.0}/s, ratio {:.2}",
        ds.entries.len(),
        args.outstanding,
        args.seconds,
        ours / bind_qps
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn bind_version() -> String {
    Command::new("named")
        .arg("-v")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
