//! The same full-table measurement for GoBGP (Debian `gobgpd`): a peer
//! sends 1,000,000 IPv4 routes to gobgpd, which installs them and
//! re-advertises them to a second peer. Both peers are a minimal BGP-4
//! speaker here (OPEN, KEEPALIVE, UPDATE with ORIGIN, AS_PATH, NEXT_HOP),
//! so the figure is gobgpd's own work.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::node::{Proc, free_port};
use crate::rss_bytes;

const MARKER: [u8; 16] = [0xff; 16];
const OPEN: u8 = 1;
const UPDATE: u8 = 2;
const NOTIFICATION: u8 = 3;
const KEEPALIVE: u8 = 4;
/// Largest BGP message without the extended-message capability.
const MAX_BGP: usize = 4096;

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(19 + body.len());
    m.extend_from_slice(&MARKER);
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

fn read_message(s: &mut TcpStream) -> anyhow::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 19];
    s.read_exact(&mut head)?;
    let len = u16::from_be_bytes([head[16], head[17]]) as usize;
    if !(19..=MAX_BGP).contains(&len) {
        bail!("bad BGP message length {len}");
    }
    let mut body = vec![0u8; len - 19];
    s.read_exact(&mut body)?;
    if head[18] == NOTIFICATION {
        bail!(
            "gobgpd sent a NOTIFICATION {:?}",
            &body[..body.len().min(2)]
        );
    }
    Ok((head[18], body))
}

/// Connects from `local` to gobgpd, exchanges OPEN and KEEPALIVE.
fn session(local: &str, gobgp: u16, asn: u16, id: [u8; 4]) -> anyhow::Result<TcpStream> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind(format!("{local}:0").parse()?)?;
    let std_sock = {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let addr: SocketAddr = format!("127.0.0.1:{gobgp}").parse()?;
        rt.block_on(async { sock.connect(addr).await })?
            .into_std()?
    };
    std_sock.set_nonblocking(false)?;
    let mut s = std_sock;
    s.set_nodelay(true)?;
    let mut open = vec![4u8];
    open.extend_from_slice(&asn.to_be_bytes());
    open.extend_from_slice(&90u16.to_be_bytes());
    open.extend_from_slice(&id);
    open.push(0); // no optional parameters
    s.write_all(&message(OPEN, &open))?;
    let (kind, _) = read_message(&mut s)?;
    if kind != OPEN {
        bail!("expected OPEN, got {kind}");
    }
    s.write_all(&message(KEEPALIVE, &[]))?;
    loop {
        let (kind, _) = read_message(&mut s)?;
        if kind == KEEPALIVE {
            return Ok(s);
        }
    }
}

/// The `i`th /24: 1.0.0.0/24, 1.0.1.0/24, ...
fn prefix24(i: usize) -> [u8; 4] {
    [24, 1 + (i >> 16) as u8, (i >> 8) as u8, i as u8]
}

/// UPDATE messages announcing `n` /24s from AS `asn`, as many per message
/// as fit.
fn updates(n: usize, asn: u16) -> Vec<Vec<u8>> {
    let mut attrs = Vec::new();
    attrs.extend_from_slice(&[0x40, 1, 1, 0]); // ORIGIN IGP
    attrs.extend_from_slice(&[0x40, 2, 4, 2, 1]); // AS_PATH: AS_SEQUENCE of one
    attrs.extend_from_slice(&asn.to_be_bytes());
    attrs.extend_from_slice(&[0x40, 3, 4, 192, 0, 2, 1]); // NEXT_HOP 192.0.2.1 (gobgpd refuses loopback)
    let fixed = 19 + 2 + 2 + attrs.len();
    let per = (MAX_BGP - fixed) / 4;
    (0..n)
        .step_by(per)
        .map(|start| {
            let mut body = Vec::with_capacity(MAX_BGP);
            body.extend_from_slice(&0u16.to_be_bytes());
            body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
            body.extend_from_slice(&attrs);
            for i in start..(start + per).min(n) {
                body.extend_from_slice(&prefix24(i));
            }
            message(UPDATE, &body)
        })
        .collect()
}

/// Announced NLRI in an UPDATE body (IPv4 unicast, no ADD-PATH).
fn nlri_count(body: &[u8]) -> usize {
    let Some(w) = body
        .get(0..2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
    else {
        return 0;
    };
    let a_at = 2 + w;
    let Some(a) = body
        .get(a_at..a_at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
    else {
        return 0;
    };
    let mut at = a_at + 2 + a;
    let mut count = 0;
    while at < body.len() {
        let bits = body[at] as usize;
        at += 1 + bits.div_ceil(8);
        count += 1;
    }
    count
}

/// Sends KEEPALIVEs every 10 s until `stop`.
fn keepalives(mut s: TcpStream, stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if s.write_all(&message(KEEPALIVE, &[])).is_err() {
                return;
            }
            for _ in 0..100 {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
}

/// Seconds from the first UPDATE sent until the receiving peer has all
/// `n` routes, and gobgpd's resident bytes then.
pub fn full_table(n: usize) -> anyhow::Result<(Duration, u64)> {
    let dir = std::env::temp_dir().join(format!("trunkline-bench-gobgp-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (port, api) = (free_port(), free_port());
    let conf = dir.join("gobgpd.toml");
    std::fs::write(
        &conf,
        format!(
            r#"[global.config]
  as = 65000
  router-id = "10.0.0.1"
  port = {port}
  local-address-list = ["127.0.0.1"]

[[neighbors]]
  [neighbors.config]
    neighbor-address = "127.0.0.1"
    peer-as = 65001
  [neighbors.transport.config]
    passive-mode = true

[[neighbors]]
  [neighbors.config]
    neighbor-address = "127.0.0.2"
    peer-as = 65002
  [neighbors.transport.config]
    passive-mode = true
"#
        ),
    )?;
    let child = Command::new("gobgpd")
        .arg("-f")
        .arg(&conf)
        .args([
            "--api-hosts",
            &format!("127.0.0.1:{api}"),
            "--pprof-disable",
            "-p",
            "-l",
            "error",
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("gobgpd.log"))?)
        .spawn()
        .context("gobgpd (Debian package gobgpd) is not installed; scripts/bench installs it")?;
    let gobgpd = Proc(child);
    let pid = gobgpd.0.id().to_string();
    // Wait for gobgpd to listen, then bring up both sessions.
    let deadline = Instant::now() + Duration::from_secs(20);
    let receiver = loop {
        match session("127.0.0.2", port, 65002, [10, 0, 0, 3]) {
            Ok(s) => break s,
            Err(e) if Instant::now() > deadline => bail!("gobgpd session: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let mut sender = session("127.0.0.1", port, 65001, [10, 0, 0, 2])?;
    let stop = Arc::new(AtomicBool::new(false));
    keepalives(receiver.try_clone()?, stop.clone());
    let msgs = updates(n, 65001);
    let mut counting = receiver;
    let counter = std::thread::spawn(move || -> anyhow::Result<Instant> {
        let mut got = 0;
        while got < n {
            let (kind, body) = read_message(&mut counting)?;
            if kind == UPDATE {
                got += nlri_count(&body);
            }
        }
        Ok(Instant::now())
    });
    // Whatever gobgpd sends the originating peer is read and dropped, so
    // it never blocks on that session.
    let mut drain = sender.try_clone()?;
    std::thread::spawn(move || while read_message(&mut drain).is_ok() {});
    let t0 = Instant::now();
    for m in &msgs {
        sender.write_all(m)?;
    }
    keepalives(sender.try_clone()?, stop.clone());
    let done = counter
        .join()
        .map_err(|_| anyhow::anyhow!("receiver panicked"))??;
    let rss = rss_bytes(&pid);
    stop.store(true, Ordering::Relaxed);
    drop(sender);
    drop(gobgpd);
    let _ = std::fs::remove_dir_all(&dir);
    Ok((done - t0, rss))
}
