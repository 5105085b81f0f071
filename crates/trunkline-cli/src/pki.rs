//! `trunkline pki`: a private certificate authority for a club's cluster or
//! federation, and the certificates its nodes, peers and clients present.
//! The identity a channel checks is a URI in the certificate's subject
//! alternative names, so the binding survives whatever the host names are:
//!
//! - a node: `trunkline:node:<id>` (node-to-node mutual TLS);
//! - a peer: `trunkline:peer:<itad>:<name>` (peering mutual TLS);
//! - a client: `trunkline:client:<role>:<name>` (API client certificates).
//!
//! Keys are ECDSA P-256, written with mode 0600; they never leave the
//! machine that made them.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::files::write_new;
use crate::{Failure, Result};

#[derive(Debug, Subcommand)]
pub enum PkiCmd {
    /// Create a certificate authority: ca.crt and ca.key in --dir.
    Init {
        /// Where the CA's files go (created if missing; existing files are
        /// never overwritten).
        #[arg(long)]
        dir: PathBuf,
        /// The CA's name, shown in every certificate it signs.
        #[arg(long, default_value = "Trunkline CA")]
        name: String,
        /// How long the CA is valid, in days.
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
    /// Issue a key and a certificate signed by the CA in --dir.
    #[command(subcommand)]
    Issue(IssueCmd),
}

#[derive(Debug, Subcommand)]
pub enum IssueCmd {
    /// For a node of the cluster (`trunkline:node:<id>`).
    Node {
        /// The node's id (its `[node] id`).
        #[arg(long)]
        id: u64,
        #[command(flatten)]
        common: IssueArgs,
    },
    /// For a peer or member (`trunkline:peer:<itad>:<name>`).
    Peer {
        /// The peer's ITAD.
        #[arg(long)]
        itad: u32,
        /// The peer's name, as its `[[peer]]` table names it.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        common: IssueArgs,
    },
    /// For an API client (`trunkline:client:<role>:<name>`).
    Client {
        /// `read`, `write` or `admin`.
        #[arg(long)]
        role: String,
        /// Who the client is (shown in logs).
        #[arg(long)]
        name: String,
        #[command(flatten)]
        common: IssueArgs,
    },
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The CA's directory (from `pki init`).
    #[arg(long)]
    dir: PathBuf,
    /// Files to write: OUT.crt and OUT.key.
    #[arg(long)]
    out: PathBuf,
    /// A host name or IP address the certificate is valid for (servers:
    /// what clients dial); repeat for several.
    #[arg(long)]
    host: Vec<String>,
    /// How long the certificate is valid, in days.
    #[arg(long, default_value_t = 365)]
    days: u32,
}

fn fail(what: impl std::fmt::Display) -> Failure {
    Failure {
        code: 1,
        message: what.to_string(),
    }
}

fn validity(params: &mut CertificateParams, days: u32) {
    let now = time::OffsetDateTime::now_utc();
    // A little slack for clocks that disagree.
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(i64::from(days));
}

fn san_uri(uri: &str) -> Result<SanType> {
    Ok(SanType::URI(
        uri.try_into()
            .map_err(|e| Failure::input(format!("{uri:?}: {e}")))?,
    ))
}

pub fn run(cmd: PkiCmd, json: bool) -> Result<()> {
    match cmd {
        PkiCmd::Init { dir, name, days } => init(&dir, &name, days, json),
        PkiCmd::Issue(i) => issue(i, json),
    }
}

fn init(dir: &Path, name: &str, days: u32, json: bool) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| fail(format_args!("{}: {e}", dir.display())))?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, days);
    let key = KeyPair::generate().map_err(fail)?;
    let cert = params.self_signed(&key).map_err(fail)?;
    let (crt, keyf) = (dir.join("ca.crt"), dir.join("ca.key"));
    // The key first: a CA certificate without its key is no use.
    write_new(&keyf, key.serialize_pem().as_bytes(), true)?;
    write_new(&crt, cert.pem().as_bytes(), false)?;
    crate::done(
        json,
        serde_json::json!({"certificate": crt, "key": keyf}),
        format_args!(
            "CA {name:?} in {} and {} (keep the key secret: whoever holds it can issue identities)",
            crt.display(),
            keyf.display()
        ),
    );
    Ok(())
}

fn issue(cmd: IssueCmd, json: bool) -> Result<()> {
    let (identity, common, server) = match cmd {
        IssueCmd::Node { id, common } => {
            if id == 0 {
                return Err(Failure::input("--id: node ids start at 1"));
            }
            (format!("trunkline:node:{id}"), common, true)
        }
        IssueCmd::Peer { itad, name, common } => {
            let ok = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !ok {
                return Err(Failure::input(
                    "--name: 1-64 characters of A-Z a-z 0-9 - _ .",
                ));
            }
            (format!("trunkline:peer:{itad}:{name}"), common, true)
        }
        IssueCmd::Client { role, name, common } => {
            if !["read", "write", "admin"].contains(&role.as_str()) {
                return Err(Failure::input("--role: read, write or admin"));
            }
            if name.is_empty() || name.contains(':') {
                return Err(Failure::input("--name: not empty, without ':'"));
            }
            (format!("trunkline:client:{role}:{name}"), common, false)
        }
    };
    let read = |p: PathBuf| {
        std::fs::read_to_string(&p).map_err(|e| {
            Failure::input(format!(
                "{}: {e} (make the CA with `trunkline pki init --dir {}`)",
                p.display(),
                common.dir.display()
            ))
        })
    };
    let ca_key = KeyPair::from_pem(&read(common.dir.join("ca.key"))?).map_err(fail)?;
    let issuer =
        Issuer::from_ca_cert_pem(&read(common.dir.join("ca.crt"))?, ca_key).map_err(fail)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
    params
        .distinguished_name
        .push(DnType::CommonName, &identity);
    params.subject_alt_names.push(san_uri(&identity)?);
    for h in &common.host {
        params.subject_alt_names.push(match h.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                h.as_str()
                    .try_into()
                    .map_err(|e| Failure::input(format!("--host {h:?}: {e}")))?,
            ),
        });
    }
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = if server {
        // Nodes and peers both dial and are dialled.
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ]
    } else {
        vec![ExtendedKeyUsagePurpose::ClientAuth]
    };
    validity(&mut params, common.days);
    let key = KeyPair::generate().map_err(fail)?;
    let cert = params.signed_by(&key, &issuer).map_err(fail)?;
    let with = |ext: &str| {
        let mut p = common.out.clone().into_os_string();
        p.push(ext);
        PathBuf::from(p)
    };
    let (crt, keyf) = (with(".crt"), with(".key"));
    write_new(&keyf, key.serialize_pem().as_bytes(), true)?;
    write_new(&crt, cert.pem().as_bytes(), false)?;
    crate::done(
        json,
        serde_json::json!({"identity": identity, "certificate": crt, "key": keyf}),
        format_args!(
            "{identity}: {} and {}, valid {} days",
            crt.display(),
            keyf.display(),
            common.days
        ),
    );
    Ok(())
}
