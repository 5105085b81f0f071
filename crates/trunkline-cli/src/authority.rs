//! `trunkline authority`: number-block authority as a club runs it, on
//! local files (as `pki` does). A key pair per authority (`keygen`); a
//! trust anchor or club hands blocks to a holder's key (`delegate`); a
//! holder lets an ITAD originate its prefixes (`sign`); a signer
//! withdraws what it signed (`revoke`); `show` verifies and prints a file.
//!
//! Keys are Ed25519: `NAME.key` holds the secret seed in hex (mode
//! 0600), `NAME.pub` the public key. Statements are written as the exact
//! signed bytes (`*.tla`), which is what nodes keep and pass on.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use ed25519_dalek::SigningKey;
use ring::rand::SecureRandom as _;
use trunkline_authority::envelope::{hex, key_id, unhex};
use trunkline_authority::{Authorisation, Delegation, Entry, Revocations, Signed, Statement};
use trunkline_core::{Digits, Plans};

use crate::files::write_new;
use crate::{Failure, Result};

#[derive(Debug, Subcommand)]
pub enum AuthorityCmd {
    /// Make a key pair: OUT.key (secret, mode 0600) and OUT.pub.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Give blocks to a holder's key (signed with --key).
    Delegate {
        #[command(flatten)]
        common: SignArgs,
        /// The holder's public key: hex, or a .pub file.
        #[arg(long)]
        to: String,
        /// A prefix, block or range it receives; repeat for several.
        #[arg(long = "block", required = true)]
        blocks: Vec<String>,
        /// It may delegate parts of them on.
        #[arg(long)]
        may_delegate: bool,
        /// Who the holder is, for people.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Let an ITAD originate prefixes the signer holds (an authorisation).
    Sign {
        #[command(flatten)]
        common: SignArgs,
        /// The ITAD that may announce them (0: nobody may).
        #[arg(long)]
        origin: u32,
        /// A prefix, block or range; repeat for several.
        #[arg(long = "prefix", required = true)]
        prefixes: Vec<String>,
        /// Longest prefix (in digits) the origin may announce under each;
        /// default: exactly the authorised prefixes.
        #[arg(long)]
        max_len: Option<u8>,
    },
    /// Revoke statements the signer signed: its next numbered list.
    Revoke {
        #[command(flatten)]
        common: SignArgs,
        /// The statement ids (from `show`); the list replaces the
        /// signer's previous one, so repeat earlier ids to keep them.
        #[arg(long = "id")]
        ids: Vec<String>,
        /// The list's number: higher than the signer's previous list.
        #[arg(long)]
        number: u64,
    },
    /// Verify a statement file and print it.
    Show { file: PathBuf },
    /// Publish a statement file into the cluster (every node keeps it).
    Publish { file: PathBuf },
    /// The statements the cluster holds, and whether each counts now.
    List,
    /// Origin validation for a prefix and origin ITAD: the state and why.
    Check {
        prefix: String,
        #[arg(long)]
        origin: u32,
    },
}

impl AuthorityCmd {
    /// Whether it works on local files only (no server).
    pub fn is_local(&self) -> bool {
        !matches!(
            self,
            AuthorityCmd::Publish { .. } | AuthorityCmd::List | AuthorityCmd::Check { .. }
        )
    }
}

/// The subcommands that ask the node.
pub async fn run_remote(ch: crate::client::Conn, cmd: AuthorityCmd, json: bool) -> Result<()> {
    use trunkline_proto::v1 as pb;
    let mut client = trunkline_proto::v1::authority_client::AuthorityClient::new(ch);
    match cmd {
        AuthorityCmd::Publish { file } => {
            let statement = std::fs::read(&file)
                .map_err(|e| Failure::input(format!("{}: {e}", file.display())))?;
            let r = client
                .publish(pb::PublishRequest { statement })
                .await?
                .into_inner();
            crate::done(
                json,
                serde_json::json!({"id": r.id, "log_index": r.log_index, "status": r.status}),
                format_args!(
                    "published {} (log index {}): {}",
                    r.id, r.log_index, r.status
                ),
            );
        }
        AuthorityCmd::List => {
            let r = client
                .list_statements(pb::ListStatementsRequest {})
                .await?
                .into_inner();
            if json {
                let list: Vec<serde_json::Value> = r
                    .statements
                    .iter()
                    .map(|s| {
                        serde_json::json!({
                            "id": s.id, "kind": s.kind, "signer": s.signer,
                            "summary": s.summary, "status": s.status,
                            "not_before": s.not_before, "not_after": s.not_after,
                        })
                    })
                    .collect();
                crate::output::print_json(
                    &serde_json::json!({"now": r.now, "anchors": r.anchors, "statements": list}),
                );
                return Ok(());
            }
            crate::emit(format_args!("replicated time {} (unix)", r.now));
            for a in &r.anchors {
                crate::emit(format_args!("anchor {a}"));
            }
            for s in &r.statements {
                crate::emit(format_args!("{}  {}  {}", &s.id[..16], s.status, s.summary));
            }
        }
        AuthorityCmd::Check { prefix, origin } => {
            let r = client
                .check(pb::CheckRequest {
                    prefix: prefix.clone(),
                    origin,
                })
                .await?
                .into_inner();
            if json {
                let covering: Vec<serde_json::Value> = r
                    .covering
                    .iter()
                    .map(|c| serde_json::json!({"prefix": c.prefix, "origin": c.origin, "max_len": c.max_len, "id": c.id}))
                    .collect();
                crate::output::print_json(&serde_json::json!({
                    "state": r.state, "reason": r.reason, "covering": covering, "now": r.now,
                }));
                return Ok(());
            }
            crate::emit(format_args!(
                "{prefix} from ITAD {origin}: {} ({})",
                r.state, r.reason
            ));
            for c in &r.covering {
                crate::emit(format_args!(
                    "  covered by {} for ITAD {} up to {} digits ({})",
                    c.prefix,
                    c.origin,
                    c.max_len,
                    &c.id[..16]
                ));
            }
        }
        local => return run(local, json),
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The signer's secret key (from `keygen`).
    #[arg(long)]
    key: PathBuf,
    /// Where the signed statement goes.
    #[arg(long)]
    out: PathBuf,
    /// Days it is valid from now (for a revocation list: until its next
    /// update is due).
    #[arg(long, default_value_t = 365)]
    days: u64,
    /// Seconds it is valid from now, instead of days (a short-lived
    /// statement: a test, a trial).
    #[arg(long, conflicts_with = "days")]
    seconds: Option<u64>,
    /// The signer's number for it (default: the current unix time).
    #[arg(long)]
    serial: Option<u64>,
}

impl SignArgs {
    fn valid_secs(&self) -> u64 {
        self.seconds.unwrap_or(self.days.saturating_mul(86_400))
    }
}

fn fail(what: impl std::fmt::Display) -> Failure {
    Failure {
        code: 1,
        message: what.to_string(),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn with_ext(base: &Path, ext: &str) -> PathBuf {
    let mut p = base.as_os_str().to_owned();
    p.push(ext);
    PathBuf::from(p)
}

fn read_key(path: &Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::input(format!("{}: {e}", path.display())))?;
    let seed = unhex::<32>(text.trim()).ok_or_else(|| {
        Failure::input(format!("{}: not a trunkline authority key", path.display()))
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// A public key in hex, or a `.pub` file holding one.
fn public_key(s: &str) -> Result<[u8; 32]> {
    let text = if Path::new(s).exists() {
        std::fs::read_to_string(s).map_err(|e| Failure::input(format!("{s}: {e}")))?
    } else {
        s.to_owned()
    };
    unhex::<32>(text.trim())
        .ok_or_else(|| Failure::input(format!("--to {s:?}: a public key in hex, or a .pub file")))
}

/// The plan name and digits of each prefix a prefix, block or range
/// stands for (`+1555123`, `+1555123XXXX`, `npstn:5582`, ranges).
fn resources(inputs: &[String]) -> Result<(String, Vec<Digits>)> {
    let mut plan: Option<String> = None;
    let mut out = Vec::new();
    for input in inputs {
        // Private plans are named in the input itself; their own length
        // limits are the node's business.
        let plans = match input.split_once(':') {
            Some((name, _)) if !input.starts_with('+') => Plans::with_private([(name, 16)])
                .map_err(|e| Failure::input(format!("{input:?}: {e}")))?,
            _ => Plans::default(),
        };
        let block = plans
            .parse_block(input)
            .map_err(|e| Failure::input(format!("{input:?}: {e}")))?;
        for p in block.prefixes() {
            let name = plans.name(p.plan).to_owned();
            match &plan {
                Some(existing) if *existing != name => {
                    return Err(Failure::input(
                        "one statement covers one plan: sign each plan's prefixes apart",
                    ));
                }
                _ => plan = Some(name),
            }
            out.push(p.digits);
        }
    }
    out.sort();
    out.dedup();
    // Drop prefixes inside others: the statement lists disjoint blocks.
    let mut disjoint: Vec<Digits> = Vec::new();
    for d in out {
        if !disjoint.last().is_some_and(|last| d.starts_with(last)) {
            disjoint.push(d);
        }
    }
    Ok((plan.unwrap_or_else(|| "e164".into()), disjoint))
}

fn sign_and_write(statement: Statement, args: &SignArgs, json: bool) -> Result<()> {
    let key = read_key(&args.key)?;
    let signed = Signed::sign(statement, &key).map_err(Failure::input)?;
    write_new(&args.out, &signed.bytes, false)?;
    crate::done(
        json,
        serde_json::json!({"id": hex(&signed.id), "file": args.out}),
        format_args!(
            "{} in {} (id {})",
            signed.statement.summary(),
            args.out.display(),
            hex(&signed.id)
        ),
    );
    Ok(())
}

pub fn run(cmd: AuthorityCmd, json: bool) -> Result<()> {
    match cmd {
        AuthorityCmd::Keygen { out } => {
            let mut seed = [0u8; 32];
            ring::rand::SystemRandom::new()
                .fill(&mut seed)
                .map_err(|_| fail("the system's random source failed"))?;
            let key = SigningKey::from_bytes(&seed);
            let public = key.verifying_key().to_bytes();
            let (k, p) = (with_ext(&out, ".key"), with_ext(&out, ".pub"));
            write_new(&k, format!("{}\n", hex(&seed)).as_bytes(), true)?;
            write_new(&p, format!("{}\n", hex(&public)).as_bytes(), false)?;
            crate::done(
                json,
                serde_json::json!({"public_key": hex(&public), "key_id": hex(&key_id(&public)), "key": k, "pub": p}),
                format_args!(
                    "public key {} in {} (keep {} secret)",
                    hex(&public),
                    p.display(),
                    k.display()
                ),
            );
            Ok(())
        }
        AuthorityCmd::Delegate {
            common,
            to,
            blocks,
            may_delegate,
            name,
        } => {
            let (plan, blocks) = resources(&blocks)?;
            let now = now();
            let s = Statement::Delegation(Delegation {
                serial: common.serial.unwrap_or(now),
                subject: public_key(&to)?,
                name,
                plan,
                blocks,
                may_delegate,
                not_before: now.saturating_sub(300),
                not_after: now + common.valid_secs(),
            });
            sign_and_write(s, &common, json)
        }
        AuthorityCmd::Sign {
            common,
            origin,
            prefixes,
            max_len,
        } => {
            let (plan, prefixes) = resources(&prefixes)?;
            let now = now();
            let entries = prefixes
                .into_iter()
                .map(|p| Entry {
                    prefix: p,
                    max_len: max_len.unwrap_or(p.len() as u8).max(p.len() as u8),
                })
                .collect();
            let s = Statement::Authorisation(Authorisation {
                serial: common.serial.unwrap_or(now),
                plan,
                origin,
                entries,
                not_before: now.saturating_sub(300),
                not_after: now + common.valid_secs(),
            });
            sign_and_write(s, &common, json)
        }
        AuthorityCmd::Revoke {
            common,
            ids,
            number,
        } => {
            let mut revoked = ids
                .iter()
                .map(|i| {
                    unhex::<32>(i)
                        .ok_or_else(|| Failure::input(format!("--id {i:?}: 64 hex digits")))
                })
                .collect::<Result<Vec<_>>>()?;
            revoked.sort_unstable();
            revoked.dedup();
            let now = now();
            let s = Statement::Revocations(Revocations {
                number,
                this_update: now,
                next_update: now + common.valid_secs(),
                revoked,
            });
            sign_and_write(s, &common, json)
        }
        AuthorityCmd::Publish { .. } | AuthorityCmd::List | AuthorityCmd::Check { .. } => {
            unreachable!("asks the node: run_remote")
        }
        AuthorityCmd::Show { file } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| Failure::input(format!("{}: {e}", file.display())))?;
            let s = Signed::verify(&bytes)
                .map_err(|e| Failure::input(format!("{}: {e}", file.display())))?;
            let (nb, na) = s.statement.window();
            crate::done(
                json,
                serde_json::json!({
                    "id": hex(&s.id),
                    "signer": hex(&s.signer),
                    "signer_id": hex(&s.signer_id()),
                    "statement": s.statement.summary(),
                    "not_before": nb,
                    "not_after": na,
                }),
                format_args!(
                    "{}\nid {}\nsigned by {} (signature verified)\nvalid {nb} to {na} (unix)",
                    s.statement.summary(),
                    hex(&s.id),
                    hex(&s.signer)
                ),
            );
            Ok(())
        }
    }
}
