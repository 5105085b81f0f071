//! TLS and credentials for the nodes the benches start. Writes need a
//! credential: each node's own admin token (`admin.token` in its data
//! directory). With `--tls`, a CA from `trunkline pki` and a certificate
//! per node put the API and node-to-node traffic (and peering) on TLS,
//! and clients dial `https://` trusting that CA.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::node::bin;

/// A CA for one bench run's nodes.
#[derive(Debug)]
pub struct Pki {
    dir: PathBuf,
}

impl Pki {
    pub fn new(dir: &Path) -> anyhow::Result<Pki> {
        let dir = dir.join("pki");
        let ok = Command::new(bin("trunkline")?)
            .args(["pki", "init", "--dir"])
            .arg(&dir)
            .stdout(Stdio::null())
            .status()?
            .success();
        if !ok {
            bail!("trunkline pki init failed");
        }
        Ok(Pki { dir })
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// Issues `kind` (node or peer) with `args`; returns its base path.
    fn issue(&self, kind: &str, args: &[&str], name: &str) -> anyhow::Result<PathBuf> {
        let out = self.dir.join(name);
        if out.with_extension("crt").exists() {
            return Ok(out);
        }
        let ok = Command::new(bin("trunkline")?)
            .args(["pki", "issue", kind])
            .args(args)
            .arg("--dir")
            .arg(&self.dir)
            .arg("--out")
            .arg(&out)
            .args(["--host", "127.0.0.1"])
            .stdout(Stdio::null())
            .status()?
            .success();
        if !ok {
            bail!("trunkline pki issue {kind} failed");
        }
        Ok(out)
    }

    fn table(&self, table: &str, base: &Path, ca: bool) -> String {
        let b = base.display();
        let ca = if ca {
            format!("ca = \"{}\"\n", self.ca().display())
        } else {
            String::new()
        };
        format!("[{table}]\ncert = \"{b}.crt\"\nkey = \"{b}.key\"\n{ca}")
    }

    /// The certificate and key of node `id` (base path, without extension).
    pub fn node_files(&self, id: u64) -> anyhow::Result<PathBuf> {
        self.issue("node", &["--id", &id.to_string()], &format!("node{id}"))
    }

    /// `[api.tls]` and `[cluster.tls]` for node `id`.
    pub fn node(&self, id: u64) -> anyhow::Result<String> {
        let base = self.node_files(id)?;
        Ok(self.table("api.tls", &base, false) + &self.table("cluster.tls", &base, true))
    }

    /// `[api.tls]` and `[peering.tls]` for the peer `itad`/`name`, and
    /// `[cluster.tls]` for node `id` of its cluster.
    pub fn peer(&self, itad: u32, name: &str, id: u64) -> anyhow::Result<String> {
        let base = self.issue(
            "peer",
            &["--itad", &itad.to_string(), "--name", name],
            &format!("peer-{itad}-{name}"),
        )?;
        let node = self.issue(
            "node",
            &["--id", &id.to_string()],
            &format!("{name}-node{id}"),
        )?;
        Ok(self.table("api.tls", &base, false)
            + &self.table("peering.tls", &base, true)
            + &self.table("cluster.tls", &node, true))
    }
}

/// `http` or, with TLS, `https`.
pub fn scheme(pki: Option<&Pki>) -> &'static str {
    if pki.is_some() { "https" } else { "http" }
}

/// Adds `authorization: Bearer <token>` to every request.
#[derive(Debug, Clone)]
pub struct Bearer(AsciiMetadataValue);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}

/// A channel whose requests carry a token.
pub type Authed = InterceptedService<Channel, Bearer>;

/// How a client reaches one node: its address, the CA (with TLS) and the
/// node's admin token.
#[derive(Debug, Clone)]
pub struct Target {
    pub server: String,
    pub ca: Option<PathBuf>,
    pub token_file: PathBuf,
}

impl Target {
    pub fn new(server: String, pki: Option<&Pki>, data_dir: &Path) -> Target {
        Target {
            server,
            ca: pki.map(Pki::ca),
            token_file: data_dir.join("admin.token"),
        }
    }

    /// The node's admin token, once the node wrote it.
    pub fn token(&self) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(t) = std::fs::read_to_string(&self.token_file) {
                return Ok(t.trim().to_owned());
            }
            if Instant::now() > deadline {
                bail!("{} never appeared", self.token_file.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn endpoint(&self) -> anyhow::Result<Endpoint> {
        let mut ep = wide(Endpoint::from_shared(self.server.clone())?);
        if let Some(ca) = &self.ca {
            ep = ep.tls_config(
                ClientTlsConfig::new().ca_certificate(Certificate::from_pem(std::fs::read(ca)?)),
            )?;
        }
        Ok(ep)
    }

    /// A connected channel without a credential (reads).
    pub async fn channel(&self) -> anyhow::Result<Channel> {
        Ok(self.endpoint()?.connect().await?)
    }

    /// A connected channel carrying the node's admin token.
    pub async fn authed(&self) -> anyhow::Result<Authed> {
        let token = self.token()?;
        let bearer: AsciiMetadataValue =
            MetadataValue::try_from(format!("Bearer {token}")).context("token")?;
        Ok(InterceptedService::new(
            self.channel().await?,
            Bearer(bearer),
        ))
    }

    /// The CLI against this node, with its CA and token.
    pub fn cli(&self) -> anyhow::Result<Command> {
        let mut c = Command::new(bin("trunkline")?);
        c.args(["--server", &self.server])
            .env("TRUNKLINE_TOKEN_FILE", &self.token_file);
        if let Some(ca) = &self.ca {
            c.arg("--ca").arg(ca);
        }
        Ok(c)
    }
}

/// Flow-control windows for a client with many calls in flight on one
/// connection: h2 closes a connection whose unread small DATA frames (one
/// per unary answer) pass half its window, and adaptive windows start at
/// 64 KiB. The same for every server a bench compares.
pub fn wide(ep: Endpoint) -> Endpoint {
    ep.initial_stream_window_size(Some(2 << 20))
        .initial_connection_window_size(Some(8 << 20))
}
