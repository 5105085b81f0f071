//! Who may call what on the public API. Every request passes one layer:
//! it finds the credential (a bearer token in `authorization`, else a
//! client certificate's identity, else nobody), maps it to a role, and
//! refuses a method that needs more (`UNAUTHENTICATED` without a
//! credential that works, `PERMISSION_DENIED` with one too weak). The
//! handlers of writes then check the credential's prefix scope.
//!
//! Tokens are `tl_<id>_<secret>`: the id is public (logs, `token list`,
//! revocation), the secret 256 random bits of which only a SHA-256 hash
//! is kept, in the replicated state. The node's own bootstrap credential,
//! written to its data directory at first start, is `tl_local_<secret>`
//! and honoured by that node only.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ring::rand::SecureRandom as _;
use tonic::Status;
use trunkline_cluster::tokens::Role;
use trunkline_core::Prefix;

use crate::store::StoreHandle;
use crate::tls::Identity;
use crate::tls::server::ConnInfo;

/// The id of the node-local bootstrap credential.
const LOCAL_ID: &str = "local";
/// Who calls without credentials.
const ANONYMOUS: &str = "anonymous";
/// Where a node keeps its bootstrap credential, in its data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// Who is calling, as the handlers see it.
#[derive(Debug, Clone)]
pub struct Principal {
    /// For logs and errors: `token <id>`, the certificate's identity, or
    /// `anonymous`.
    pub who: String,
    pub role: Role,
    /// For writes: the prefixes it may change; empty: any.
    pub scope: Vec<Prefix>,
}

impl Principal {
    /// Whether this caller may change routes under `p`.
    pub fn may_write(&self, p: &Prefix) -> bool {
        self.role == Role::Admin
            || (self.role == Role::Write
                && (self.scope.is_empty()
                    || self
                        .scope
                        .iter()
                        .any(|s| s.plan == p.plan && p.digits.starts_with(&s.digits))))
    }

    /// The caller of a request that passed the layer. Its absence (a
    /// handler reached some other way) is refused, never waved through.
    pub fn of<T>(req: &tonic::Request<T>) -> Result<&Principal, Status> {
        req.extensions()
            .get::<Principal>()
            .ok_or_else(|| Status::unauthenticated("no credentials were checked"))
    }
}

/// SHA-256 of a token's secret part.
pub fn hash(secret: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    d.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .expect("the system's random source works");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new token: (id, secret, the whole token to hand out).
pub fn new_token() -> (String, String, String) {
    let (id, secret) = (random_hex(8), random_hex(32));
    let token = format!("tl_{id}_{secret}");
    (id, secret, token)
}

/// Splits `tl_<id>_<secret>`.
fn parse(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix("tl_")?;
    let (id, secret) = rest.split_once('_')?;
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

/// Equal without an early exit (the hashes are not secret, but cheap to
/// compare so anyway).
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads the node's bootstrap credential, writing a new one (mode 0600)
/// at first start; returns its hash and the file.
pub fn bootstrap(data_dir: &Path) -> anyhow::Result<([u8; 32], PathBuf)> {
    use anyhow::Context as _;
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let (id, secret) = parse(text.trim())
                .filter(|(id, _)| *id == LOCAL_ID)
                .with_context(|| format!("{}: not a trunkline admin token", path.display()))?;
            debug_assert_eq!(id, LOCAL_ID);
            Ok((hash(secret), path))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write as _;
            let secret = random_hex(32);
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                opts.mode(0o600);
            }
            let mut f = opts
                .open(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            writeln!(f, "tl_{LOCAL_ID}_{secret}")
                .with_context(|| format!("cannot write {}", path.display()))?;
            tracing::info!(
                file = %path.display(),
                "wrote this node's admin credential (mode 0600); the CLI uses it with \
                 --token-file or TRUNKLINE_TOKEN_FILE"
            );
            Ok((hash(&secret), path))
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// What the layer checks credentials against.
#[derive(Debug)]
pub struct Authenticator {
    pub store: StoreHandle,
    /// The bootstrap credential's hash.
    pub local: [u8; 32],
    /// Reads without any credential.
    pub anonymous_read: bool,
}

/// Wall-clock unix seconds, for token lifetimes.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Authenticator {
    /// The caller, from its token, certificate, or neither.
    pub fn principal(
        &self,
        authorization: Option<&str>,
        conn: Option<&ConnInfo>,
    ) -> Result<Principal, Status> {
        if let Some(value) = authorization {
            let token = value
                .strip_prefix("Bearer ")
                .ok_or_else(|| Status::unauthenticated("authorization: expected `Bearer <token>`"))?
                .trim();
            let (id, secret) = parse(token).ok_or_else(|| {
                Status::unauthenticated("the token is not a trunkline token (tl_<id>_<secret>)")
            })?;
            let h = hash(secret);
            if id == LOCAL_ID {
                return if same(&h, &self.local) {
                    Ok(Principal {
                        who: "this node's admin credential".into(),
                        role: Role::Admin,
                        scope: Vec::new(),
                    })
                } else {
                    Err(Status::unauthenticated(
                        "not this node's admin credential (each node has its own; use a token \
                         from `trunkline token create` for every node)",
                    ))
                };
            }
            let view = self.store.view().load_full();
            return match view.tokens.by_id.get(id) {
                Some(t) if same(&t.hash, &h) => {
                    if t.expired(now_unix()) {
                        Err(Status::unauthenticated(format!("token {id} has expired")))
                    } else {
                        Ok(Principal {
                            who: format!("token {id}"),
                            role: t.role,
                            scope: t.prefixes.clone(),
                        })
                    }
                }
                _ => Err(Status::unauthenticated(format!(
                    "token {id} is unknown or revoked"
                ))),
            };
        }
        let identity = conn
            .and_then(|c| c.tls.as_ref())
            .and_then(|t| t.identity.as_ref());
        if let Some(Identity::Client { role, name }) = identity {
            let role = Role::from_name(role).ok_or_else(|| {
                Status::unauthenticated(format!("client certificate of {name}: no role {role:?}"))
            })?;
            return Ok(Principal {
                who: format!("client certificate {name}"),
                role,
                scope: Vec::new(),
            });
        }
        if self.anonymous_read {
            return Ok(Principal {
                who: ANONYMOUS.into(),
                role: Role::Read,
                scope: Vec::new(),
            });
        }
        Err(Status::unauthenticated(
            "no credentials: give a token (TRUNKLINE_TOKEN, --token-file) or a client certificate",
        ))
    }
}

/// The role a method needs; None: no API credential (health checks, and
/// peering, which proves itself its own way).
fn required(path: &str) -> Option<Role> {
    let (service, method) = path.trim_start_matches('/').split_once('/')?;
    Some(match (service, method) {
        ("grpc.health.v1.Health", _) | ("trunkline.peering.v1.Peering", _) => return None,
        // An invite's secret is the credential of a join.
        ("trunkline.v1.Invites", "Discover" | "Join") => return None,
        ("trunkline.v1.Routes", "Announce" | "Withdraw") => Role::Write,
        ("trunkline.v1.Routes", _) | ("trunkline.v1.Node", "Status") => Role::Read,
        ("trunkline.v1.Cluster", "Status") => Role::Read,
        ("trunkline.v1.Neighbors", "ListNeighbors" | "ListNeighborRoutes") => Role::Read,
        ("trunkline.v1.Authority", "ListStatements" | "Check") => Role::Read,
        (s, _) if s.starts_with("grpc.reflection.") => Role::Read,
        // Everything else, and whatever is added later: admin.
        _ => Role::Admin,
    })
}

/// The layer every public request passes.
#[derive(Debug, Clone)]
pub struct AuthLayer(pub Arc<Authenticator>);

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            auth: self.0.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Arc<Authenticator>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> tower::Service<http::Request<tonic::body::Body>> for AuthService<S>
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<tonic::body::Body>) -> Self::Future {
        let Some(need) = required(req.uri().path()) else {
            return Box::pin(self.inner.call(req));
        };
        let authorization = req
            .headers()
            .get("authorization")
            .map(|v| v.to_str().unwrap_or("\u{fffd}"));
        let checked = self
            .auth
            .principal(authorization, req.extensions().get::<ConnInfo>())
            .and_then(|p| {
                if p.role >= need {
                    Ok(p)
                } else if p.who == ANONYMOUS {
                    Err(Status::unauthenticated(format!(
                        "{} needs {} and no credentials came with it: give a token \
                         (TRUNKLINE_TOKEN, --token-file; a node's own admin credential is \
                         {ADMIN_TOKEN_FILE} in its data directory) or a client certificate",
                        req.uri().path(),
                        need.name()
                    )))
                } else {
                    Err(Status::permission_denied(format!(
                        "{} has role {}; {} needs {}",
                        p.who,
                        p.role.name(),
                        req.uri().path(),
                        need.name()
                    )))
                }
            });
        match checked {
            Ok(p) => {
                req.extensions_mut().insert(p);
                Box::pin(self.inner.call(req))
            }
            Err(status) => {
                tracing::debug!(path = %req.uri().path(), "refused: {}", status.message());
                let resp = status.into_http();
                Box::pin(async move { Ok(resp) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_need_the_roles_the_issue_names() {
        let cases = [
            ("/trunkline.v1.Routes/Lookup", Some(Role::Read)),
            ("/trunkline.v1.Routes/LookupBatch", Some(Role::Read)),
            ("/trunkline.v1.Routes/ListRoutes", Some(Role::Read)),
            ("/trunkline.v1.Routes/Explain", Some(Role::Read)),
            ("/trunkline.v1.Routes/Watch", Some(Role::Read)),
            ("/trunkline.v1.Node/Status", Some(Role::Read)),
            ("/trunkline.v1.Cluster/Status", Some(Role::Read)),
            ("/trunkline.v1.Routes/Announce", Some(Role::Write)),
            ("/trunkline.v1.Routes/Withdraw", Some(Role::Write)),
            ("/trunkline.v1.Neighbors/AddNeighbor", Some(Role::Admin)),
            ("/trunkline.v1.Neighbors/ListNeighbors", Some(Role::Read)),
            ("/trunkline.v1.Cluster/AddNode", Some(Role::Admin)),
            ("/trunkline.v1.Tokens/CreateToken", Some(Role::Admin)),
            ("/trunkline.v1.Tokens/ListTokens", Some(Role::Admin)),
            ("/trunkline.v1.Authority/Publish", Some(Role::Admin)),
            ("/trunkline.v1.Authority/Check", Some(Role::Read)),
            ("/trunkline.v1.Something/New", Some(Role::Admin)),
            ("/grpc.health.v1.Health/Check", None),
            ("/trunkline.peering.v1.Peering/Session", None),
        ];
        for (path, want) in cases {
            assert_eq!(required(path), want, "{path}");
        }
    }

    #[test]
    fn tokens_read_back() {
        let (id, secret, token) = new_token();
        assert_eq!(parse(&token), Some((id.as_str(), secret.as_str())));
        assert_eq!(secret.len(), 64, "256 bits");
        assert_ne!(new_token().2, token);
        assert_eq!(parse("tl_x"), None);
        assert_eq!(parse("bearer"), None);
        assert!(same(&hash("a"), &hash("a")) && !same(&hash("a"), &hash("b")));
    }
}
