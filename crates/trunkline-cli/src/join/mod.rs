//! `trunkline join INVITE`: make this machine a member node of the exchange
//! that wrote the invite. It makes a key here and asks the exchange to sign
//! a certificate for it (the key never leaves), after checking the exchange
//! against the CA pin the invite carries; writes the node's config (the
//! exchange as its peer, its blocks); with `--start` starts the node and
//! waits for its session; and prints what to paste into the PBX. Every
//! error says which side failed: the invite, the exchange, or this machine.

mod node;
mod pin;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use prost::Message as _;
use rcgen::{CertificateParams, DnType, KeyPair, SanType};
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::invites_client::InvitesClient;
use trunkline_proto::v1::neighbors_client::NeighborsClient;

use self::node::{Listen, Pbx};
use crate::files::write_new;
use crate::{Failure, Result};

const TICKET_PREFIX: &str = "trunkline-invite-1.";
/// How long `--start` waits for the session with the exchange.
const SESSION_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub struct JoinArgs {
    /// The invite from the exchange's `trunkline invite create`, or `-` to
    /// read it from stdin (it holds a secret: stdin keeps it out of the
    /// process list).
    invite: String,
    /// Where the node's config, key, certificates and data go.
    #[arg(long, default_value = "trunkline-node")]
    dir: PathBuf,
    /// Next hop for this member's blocks (its PBX's trunk), e.g.
    /// `sip:{e164}@pbx.example.org`: announced to the exchange. Repeat for
    /// several; none: announce later with `trunkline announce`.
    #[arg(long, value_name = "URI")]
    via: Vec<String>,
    /// The PBX to configure and print a snippet for.
    #[arg(long, value_enum, default_value = "asterisk")]
    pbx: Pbx,
    /// The node's gRPC address.
    #[arg(long, default_value = "127.0.0.1:50051")]
    api: SocketAddr,
    /// Its HTTP address (lookups for the PBX, metrics, looking glass).
    #[arg(long, default_value = "127.0.0.1:9180")]
    http: SocketAddr,
    /// Its node-to-node address (used once it grows into a cluster).
    #[arg(long, default_value = "127.0.0.1:50052")]
    cluster: SocketAddr,
    /// With --pbx kamailio: the SIP redirect server's address.
    #[arg(long, default_value = "127.0.0.1:5062")]
    sip: SocketAddr,
    /// With --pbx freeswitch: the DNS front end's address.
    #[arg(long, default_value = "127.53.0.1:53")]
    dns: SocketAddr,
    /// Start the node (trunklined, beside this command or on PATH) with
    /// the new config and wait until its session with the exchange is up.
    #[arg(long)]
    start: bool,
    /// Replace a config already in --dir.
    #[arg(long)]
    force: bool,
}

fn invite_error(m: impl std::fmt::Display) -> Failure {
    Failure::input(format!("the invite: {m}"))
}

fn here(m: impl std::fmt::Display) -> Failure {
    Failure {
        code: 1,
        message: format!("this machine: {m}"),
    }
}

/// The ticket in an invite line (or on stdin for `-`).
fn ticket(invite: &str) -> Result<pb::InviteTicket> {
    let line = if invite == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(here)?;
        s
    } else {
        invite.to_owned()
    };
    let body = line.trim().strip_prefix(TICKET_PREFIX).ok_or_else(|| {
        invite_error(format_args!(
            "not a Trunkline invite (one starts with {TICKET_PREFIX})"
        ))
    })?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|e| invite_error(format_args!("damaged ({e}); copy the whole line")))?;
    let t = pb::InviteTicket::decode(bytes.as_slice())
        .map_err(|e| invite_error(format_args!("damaged ({e}); copy the whole line")))?;
    if t.addresses.is_empty() || t.ca_sha256.len() != 32 || t.id.is_empty() || t.secret.is_empty() {
        return Err(invite_error(
            "damaged: it lacks the exchange's addresses, pin or secret",
        ));
    }
    Ok(t)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A new key and a signing request for the identity the invite names.
fn key_and_request(t: &pb::InviteTicket) -> Result<(KeyPair, String)> {
    let identity = format!("trunkline:peer:{}:{}", t.itad, t.member);
    let key = KeyPair::generate().map_err(here)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(here)?;
    params
        .distinguished_name
        .push(DnType::CommonName, &identity);
    params.subject_alt_names.push(SanType::URI(
        identity
            .as_str()
            .try_into()
            .map_err(|e| invite_error(format_args!("member {:?}: {e}", t.member)))?,
    ));
    let csr = params.serialize_request(&key).map_err(here)?;
    Ok((key, csr.pem().map_err(here)?))
}

/// Redeems the invite at the first of its exchange's nodes that answers,
/// after checking that node's CA against the pin.
async fn redeem(t: &pb::InviteTicket, csr: String) -> Result<pb::JoinResponse> {
    let mut unreachable = Vec::new();
    for address in &t.addresses {
        let ca = match pin::discover(address).await {
            Ok(ca) => ca,
            Err(e) => {
                unreachable.push(format!("{address}: {e}"));
                continue;
            }
        };
        let got = pin::fingerprint(&ca)
            .map_err(|e| Failure::input(format!("the exchange at {address}: its CA: {e}")))?;
        if got[..] != t.ca_sha256[..] {
            return Err(Failure {
                code: 1,
                message: format!(
                    "the exchange at {address}: its CA is sha256:{}, but the invite pins \
                     sha256:{}: this is not the exchange that wrote the invite (or something \
                     is in between). Nothing was sent to it.",
                    hex(&got),
                    hex(&t.ca_sha256)
                ),
            });
        }
        let channel = match pin::connect(address, &ca).await {
            Ok(c) => c,
            Err(e) => {
                unreachable.push(format!("{address} (pinned): {e}"));
                continue;
            }
        };
        let req = pb::JoinRequest {
            id: t.id.clone(),
            secret: t.secret.clone(),
            csr: csr.clone(),
        };
        return match InvitesClient::new(channel).join(req).await {
            Ok(r) => Ok(r.into_inner()),
            Err(s) if s.code() == tonic::Code::Unavailable => {
                unreachable.push(format!("{address}: {}", s.message()));
                continue;
            }
            Err(s) => Err(Failure {
                code: 1,
                message: format!("the exchange at {address} refused: {}", s.message()),
            }),
        };
    }
    Err(Failure {
        code: crate::UNAVAILABLE,
        message: format!(
            "the exchange: no node of it answered ({})",
            unreachable.join("; ")
        ),
    })
}

fn write(path: &Path, text: &str, secret: bool, force: bool) -> Result<()> {
    if force && path.exists() {
        std::fs::remove_file(path).map_err(|e| here(format_args!("{}: {e}", path.display())))?;
    }
    write_new(path, text.as_bytes(), secret)
}

/// The node binary: beside this one, else on PATH.
fn trunklined() -> PathBuf {
    std::env::current_exe()
        .ok()
        .map(|p| p.with_file_name("trunklined"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("trunklined"))
}

/// Starts the node and waits for its session with the exchange; its pid.
async fn start(config: &Path, dir: &Path, api: SocketAddr, exchange: &str) -> Result<u32> {
    use std::os::unix::process::CommandExt as _;
    let log = std::fs::File::create(dir.join("trunklined.log")).map_err(here)?;
    let err = log.try_clone().map_err(here)?;
    let child = std::process::Command::new(trunklined())
        .arg("--config")
        .arg(config)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(err)
        // Its own process group: the node outlives this command and the
        // terminal's Ctrl-C.
        .process_group(0)
        .spawn()
        .map_err(|e| here(format_args!("cannot start {}: {e}", trunklined().display())))?;
    let pid = child.id();
    let deadline = Instant::now() + SESSION_WAIT;
    let mut last = String::from("the node did not answer");
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Ok(ch) = tonic::transport::Endpoint::from_shared(format!("http://{api}"))
            .map_err(here)?
            .connect()
            .await
        else {
            continue;
        };
        let req = pb::ListNeighborsRequest {
            name: exchange.to_owned(),
        };
        match NeighborsClient::new(ch).list_neighbors(req).await {
            Ok(r) => {
                let n = r.into_inner().neighbors;
                match n.first() {
                    Some(n) if n.state() == pb::SessionState::Established => return Ok(pid),
                    Some(n) if !n.last_error.is_empty() => last = n.last_error.clone(),
                    _ => {}
                }
            }
            Err(s) => last = s.message().to_owned(),
        }
    }
    Err(Failure {
        code: crate::UNAVAILABLE,
        message: format!(
            "this machine: the node started (pid {pid}) but its session with the exchange is not \
             up after {} s: {last} (its log: {})",
            SESSION_WAIT.as_secs(),
            dir.join("trunklined.log").display()
        ),
    })
}

pub async fn run(args: JoinArgs, json: bool) -> Result<()> {
    let t = ticket(&args.invite)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if now >= t.expires_at {
        return Err(invite_error(format_args!(
            "it expired {} s ago (at unix time {}, by this machine's clock); ask the exchange \
             for a new one",
            now - t.expires_at,
            t.expires_at
        )));
    }
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| here(format_args!("{}: {e}", args.dir.display())))?;
    let dir = std::path::absolute(&args.dir).map_err(here)?;
    let config_path = dir.join("trunkline.toml");
    if config_path.exists() && !args.force {
        return Err(here(format_args!(
            "{} exists: give another --dir, or --force to replace it",
            config_path.display()
        )));
    }
    let (key, csr) = key_and_request(&t)?;
    let joined = redeem(&t, csr).await?;
    let at = Listen {
        api: args.api,
        http: args.http,
        cluster: args.cluster,
        sip: args.sip,
        dns: args.dns,
    };
    write(
        &dir.join("peer.key"),
        &key.serialize_pem(),
        true,
        args.force,
    )?;
    write(
        &dir.join("peer.crt"),
        &joined.certificate,
        false,
        args.force,
    )?;
    write(
        &dir.join("ca.crt"),
        &joined.ca_certificate,
        false,
        args.force,
    )?;
    let text = node::config(&joined, &dir, &args.via, args.pbx, &at);
    write(&config_path, &text, false, args.force)?;
    let pid = if args.start {
        Some(start(&config_path, &dir, args.api, &joined.exchange_name).await?)
    } else {
        None
    };
    let snippet = node::snippet(args.pbx, &at);
    if json {
        crate::output::print_json(&serde_json::json!({
            "member": joined.member, "itad": joined.itad, "allowed": joined.allowed,
            "exchange": joined.exchange_name, "exchange_itad": joined.exchange_itad,
            "config": config_path, "certificate": dir.join("peer.crt"), "key": dir.join("peer.key"),
            "authorisations": joined.authorisations.len(), "pending": joined.pending,
            "pid": pid, "session": pid.map(|_| "established"), "snippet": snippet,
        }));
        return Ok(());
    }
    say!(
        "Joined {} (ITAD {}) as {} (ITAD {}), allowed {}.",
        joined.exchange_name,
        joined.exchange_itad,
        joined.member,
        joined.itad,
        joined.allowed.join(", ")
    );
    say!(
        "  key and certificate: {} (made here; it never left), {} (trunkline:peer:{}:{})",
        dir.join("peer.key").display(),
        dir.join("peer.crt").display(),
        joined.itad,
        joined.member
    );
    say!("  config: {}", config_path.display());
    if !joined.authorisations.is_empty() {
        say!(
            "  authority: the exchange signed and published {} authorisation(s) for your blocks",
            joined.authorisations.len()
        );
    }
    for p in &joined.pending {
        say!("  not done: {p}");
    }
    match pid {
        Some(pid) => say!(
            "  node: started (pid {pid}, log {}); its session with {} is established",
            dir.join("trunklined.log").display(),
            joined.exchange_name
        ),
        None => say!(
            "  node: start it with `trunklined --config {}` (or join again with --start)",
            config_path.display()
        ),
    }
    say!("\nFor your PBX ({:?}):\n\n{snippet}", args.pbx);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_or_foreign_line_is_the_invites_fault() {
        for bad in [
            "",
            "hello",
            "trunkline-invite-1.%%%",
            "trunkline-invite-1.AAAA",
        ] {
            let e = ticket(bad).unwrap_err();
            assert!(
                e.message.starts_with("the invite: "),
                "{bad}: {}",
                e.message
            );
            assert_eq!(e.code, 2);
        }
    }
}
