//! Where the CLI connects and what it proves: the server, its CA, a client
//! certificate and a bearer token, from flags, the environment, or a
//! context in the client config file (as kubectl and etcdctl have them).
//! Flags and the environment win over the context.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::{Failure, Result, UNAVAILABLE, source_chain};

/// The channel every command talks through: it carries the token.
pub type Conn = InterceptedService<Channel, Auth>;

/// Adds `authorization: Bearer <token>` to every request.
#[derive(Debug, Clone)]
pub struct Auth(Option<AsciiMetadataValue>);

impl tonic::service::Interceptor for Auth {
    fn call(
        &mut self,
        mut req: tonic::Request<()>,
    ) -> std::result::Result<tonic::Request<()>, tonic::Status> {
        if let Some(t) = &self.0 {
            req.metadata_mut().insert("authorization", t.clone());
        }
        Ok(req)
    }
}

#[derive(Debug, clap::Args)]
pub struct ConnArgs {
    /// gRPC address of the node [default: the context's, else
    /// http://127.0.0.1:50051].
    #[arg(long, global = true, env = "TRUNKLINE_SERVER")]
    pub server: Option<String>,
    /// The CA that signed the node's certificate (for https://); without
    /// it, the public web CAs.
    #[arg(long, global = true, env = "TRUNKLINE_CA", value_name = "FILE")]
    ca: Option<PathBuf>,
    /// A client certificate to present (`trunkline pki issue client`).
    #[arg(long, global = true, env = "TRUNKLINE_CERT", value_name = "FILE")]
    cert: Option<PathBuf>,
    /// Its key.
    #[arg(long, global = true, env = "TRUNKLINE_KEY", value_name = "FILE")]
    key: Option<PathBuf>,
    /// A file holding the API token (the token itself may also be in
    /// $TRUNKLINE_TOKEN; never put it on the command line).
    #[arg(long, global = true, env = "TRUNKLINE_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Which context of the client config to use [default: its `current`].
    #[arg(long, global = true, env = "TRUNKLINE_CONTEXT")]
    context: Option<String>,
    /// The client config [default: $XDG_CONFIG_HOME/trunkline/config.toml,
    /// else ~/.config/trunkline/config.toml, if it exists].
    #[arg(
        long,
        global = true,
        env = "TRUNKLINE_CLIENT_CONFIG",
        value_name = "FILE"
    )]
    client_config: Option<PathBuf>,
}

/// The client config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientConfig {
    current: Option<String>,
    #[serde(default, rename = "context")]
    contexts: Vec<Context>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Context {
    name: String,
    server: Option<String>,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    token_file: Option<PathBuf>,
    token: Option<String>,
}

fn default_config() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("trunkline").join("config.toml"))
}

/// Where to connect and with what, all sources merged.
#[derive(Debug)]
pub struct Target {
    pub server: String,
    ca: Option<PathBuf>,
    identity: Option<(PathBuf, PathBuf)>,
    token: Option<String>,
}

impl ConnArgs {
    pub fn resolve(&self) -> Result<Target> {
        let context = self.context()?;
        let pick = |flag: &Option<PathBuf>, ctx: &Option<PathBuf>| flag.clone().or(ctx.clone());
        let server = self
            .server
            .clone()
            .or(context.server.clone())
            .unwrap_or_else(|| "http://127.0.0.1:50051".to_owned());
        let identity = match (
            pick(&self.cert, &context.cert),
            pick(&self.key, &context.key),
        ) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return Err(Failure::input("--cert and --key go together")),
        };
        let token = match (
            std::env::var("TRUNKLINE_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
            pick(&self.token_file, &context.token_file),
        ) {
            (Some(t), _) => Some(t),
            (None, Some(f)) => Some(read_token(&f)?),
            (None, None) => context.token.clone(),
        };
        Ok(Target {
            server,
            ca: pick(&self.ca, &context.ca),
            identity,
            token,
        })
    }

    fn context(&self) -> Result<Context> {
        let path = match &self.client_config {
            Some(p) => p.clone(),
            None => match default_config() {
                Some(p) if p.exists() => p,
                _ if self.context.is_some() => {
                    return Err(Failure::input(
                        "--context: there is no client config (see --client-config)",
                    ));
                }
                _ => return Ok(Context::default()),
            },
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Failure::input(format!("{}: {e}", path.display())))?;
        let config: ClientConfig = toml::from_str(&text)
            .map_err(|e| Failure::input(format!("{}: {e}", path.display())))?;
        let Some(name) = self.context.clone().or(config.current) else {
            return match config.contexts.as_slice() {
                [one] => Ok(one.clone()),
                _ => Err(Failure::input(format!(
                    "{}: say which context with `current = \"name\"` or --context",
                    path.display()
                ))),
            };
        };
        config
            .contexts
            .into_iter()
            .find(|c| c.name == name)
            .ok_or_else(|| Failure::input(format!("{}: no context named {name:?}", path.display())))
    }
}

fn read_token(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::input(format!("token file {}: {e}", path.display())))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(Failure::input(format!(
            "token file {} is empty",
            path.display()
        )));
    }
    Ok(token.to_owned())
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Failure::input(format!("{}: {e}", path.display())))
}

/// Longest wait for a connection; a node that accepts and then says
/// nothing (stopped, overloaded) is reported well before --timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// HTTP/2 ping interval, and how long a ping may go unanswered.
const KEEPALIVE: Duration = Duration::from_secs(2);

pub async fn connect(target: &Target, timeout: u64) -> Result<Conn> {
    let server = &target.server;
    if !server.starts_with("http://") && !server.starts_with("https://") {
        return Err(Failure::input(format!(
            "--server {server:?}: give a URL with its scheme, e.g. http://{server}"
        )));
    }
    let mut ep = Endpoint::from_shared(server.to_owned())
        .map_err(|e| Failure::input(format!("--server {server:?}: {e}")))?
        .connect_timeout(CONNECT_TIMEOUT.min(Duration::from_secs(timeout.max(1))))
        .timeout(Duration::from_secs(timeout.max(1)))
        // Windows sized to the link: a file of numbers streams many.
        .http2_adaptive_window(true)
        // A node that is frozen (stopped, wedged) answers no HTTP/2 pings:
        // give up on it in seconds, while a node busy with a long request
        // still answers them.
        .http2_keep_alive_interval(KEEPALIVE)
        .keep_alive_timeout(KEEPALIVE)
        .keep_alive_while_idle(true);
    if server.starts_with("https://") {
        let mut tls = ClientTlsConfig::new();
        tls = match &target.ca {
            Some(ca) => tls.ca_certificate(Certificate::from_pem(read(ca)?)),
            None => tls.with_webpki_roots(),
        };
        if let Some((cert, key)) = &target.identity {
            tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        ep = ep
            .tls_config(tls)
            .map_err(|e| Failure::input(format!("TLS: {}", source_chain(&e))))?;
    } else if target.ca.is_some() || target.identity.is_some() {
        return Err(Failure::input(format!(
            "--server {server}: a CA or client certificate is for https:// servers"
        )));
    }
    let auth = match &target.token {
        Some(t) => Some(
            MetadataValue::try_from(format!("Bearer {t}"))
                .map_err(|_| Failure::input("the token has characters a header cannot carry"))?,
        ),
        None => None,
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, ep.connect()).await {
        Ok(Ok(ch)) => Ok(InterceptedService::new(ch, Auth(auth))),
        Ok(Err(e)) => Err(Failure {
            code: UNAVAILABLE,
            message: format!("cannot reach trunklined at {server}: {}", source_chain(&e)),
        }),
        Err(_) => Err(Failure {
            code: UNAVAILABLE,
            message: format!(
                "trunklined at {server} accepted the connection but did not answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            ),
        }),
    }
}
