//! The accepting side: a listener's TLS configs (swapped whole when the
//! files change), the accept loop that runs handshakes off the accept
//! path, and the connection type tonic serves, which carries who the
//! client proved to be.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

use super::files::{TlsError, TlsSection, Watched, provider};
use super::identity::Identity;

/// What the server name of a peering dial is, so the public port can tell
/// a peer (who must present a peer certificate) from an API client.
pub const PEERING_SNI: &str = "peering.trunkline.invalid";
/// A handshake that takes longer is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether and how clients present certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Optional, and an identity when given (the API; none asked for
    /// without a client CA).
    Optional,
    /// Required (peering, node to node).
    Required,
}

/// One server config, built from its files, swapped whole on reload.
#[derive(Debug)]
pub struct Side {
    auth: ClientAuth,
    config: Watched<ServerConfig>,
}

impl Side {
    pub fn new(section: TlsSection, auth: ClientAuth) -> Result<Side, TlsError> {
        Ok(Side {
            auth,
            config: Watched::new(section, |s| build(s, auth))?,
        })
    }

    /// See [`Watched::reload`].
    pub fn reload(&self, force: bool) -> Result<bool, TlsError> {
        self.config.reload(force, |s| build(s, self.auth))
    }

    pub fn files(&self) -> &TlsSection {
        self.config.files()
    }
}

fn build(section: &TlsSection, auth: ClientAuth) -> Result<Arc<ServerConfig>, TlsError> {
    if auth == ClientAuth::Required {
        section.required_ca()?;
    }
    let files = section.load()?;
    let builder =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match files.roots {
        None => builder.with_no_client_auth(),
        Some(roots) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider());
            let verifier = match auth {
                ClientAuth::Optional => verifier.allow_unauthenticated(),
                ClientAuth::Required => verifier,
            };
            builder.with_client_cert_verifier(verifier.build()?)
        }
    };
    let mut config = builder.with_single_cert(files.chain, files.key)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// A listener's TLS: its own config, and on the public port a second one
/// for peers, chosen by the server name they dial ([`PEERING_SNI`]).
#[derive(Debug)]
pub struct ServerTls {
    pub main: Side,
    pub peering: Option<Side>,
    /// Node to node: a client must prove to be a node (`trunkline:node:`).
    pub nodes_only: bool,
}

impl ServerTls {
    pub fn sides(&self) -> impl Iterator<Item = &Side> {
        std::iter::once(&self.main).chain(&self.peering)
    }
}

/// What a connection proved: tonic puts it in every request's extensions.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub remote: Option<SocketAddr>,
    /// None: a plaintext connection.
    pub tls: Option<TlsInfo>,
}

#[derive(Debug, Clone)]
pub struct TlsInfo {
    /// Dialled as a peer, and verified against the peering CA.
    pub peering: bool,
    /// The client certificate's identity; None without one.
    pub identity: Option<Identity>,
}

impl ConnInfo {
    pub fn of<T>(request: &tonic::Request<T>) -> Option<&ConnInfo> {
        request.extensions().get::<ConnInfo>()
    }
}

/// A connection the servers serve: plaintext or TLS.
#[derive(Debug)]
pub enum Conn {
    Plain(TcpStream, ConnInfo),
    Tls(Box<TlsStream<TcpStream>>, ConnInfo),
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ConnInfo;
    fn connect_info(&self) -> ConnInfo {
        match self {
            Conn::Plain(_, i) | Conn::Tls(_, i) => i.clone(),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s, _) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s, _) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s, _) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s, _) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s, _) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s, _) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s, _) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s, _) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s, _) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s, _) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s, _) => s.is_write_vectored(),
            Conn::Tls(s, _) => s.is_write_vectored(),
        }
    }
}

/// The connections a listener accepts, handshakes done. Dropping it stops
/// the accept loop and every handshake in progress.
#[derive(Debug)]
pub struct Incoming {
    rx: mpsc::Receiver<io::Result<Conn>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Incoming {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl tokio_stream::Stream for Incoming {
    type Item = io::Result<Conn>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

pub fn incoming(listener: TcpListener, tls: Option<Arc<ServerTls>>) -> Incoming {
    let (tx, rx) = mpsc::channel(64);
    let task = tokio::spawn(accept_loop(listener, tls, tx));
    Incoming { rx, task }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<Arc<ServerTls>>,
    tx: mpsc::Sender<io::Result<Conn>>,
) {
    // Handshakes run beside the loop, so a slow client delays only itself;
    // they end with the loop.
    let mut handshakes = JoinSet::new();
    loop {
        let (stream, remote) = tokio::select! {
            _ = tx.closed() => return,
            Some(_) = handshakes.join_next(), if !handshakes.is_empty() => continue,
            r = listener.accept() => match r {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let _ = socket2::SockRef::from(&stream)
            .set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(Duration::from_secs(60)));
        let Some(tls) = tls.clone() else {
            let info = ConnInfo {
                remote: Some(remote),
                tls: None,
            };
            if tx.send(Ok(Conn::Plain(stream, info))).await.is_err() {
                return;
            }
            continue;
        };
        let tx = tx.clone();
        handshakes.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(stream, remote, &tls)).await {
                Ok(Ok(conn)) => {
                    let _ = tx.send(Ok(conn)).await;
                }
                Ok(Err(why)) => tracing::info!(%remote, "TLS connection refused: {why}"),
                Err(_) => tracing::info!(%remote, "TLS handshake took over {HANDSHAKE_TIMEOUT:?}"),
            }
        });
    }
}

async fn handshake(stream: TcpStream, remote: SocketAddr, tls: &ServerTls) -> Result<Conn, String> {
    let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream)
        .await
        .map_err(|e| format!("not a TLS client hello: {e}"))?;
    let peering = match &tls.peering {
        Some(p) if start.client_hello().server_name() == Some(PEERING_SNI) => Some(p),
        _ => None,
    };
    let side = peering.unwrap_or(&tls.main);
    let stream = start
        .into_stream(side.config.load())
        .await
        .map_err(|e| e.to_string())?;
    let identity = match stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
    {
        Some(leaf) => Some(Identity::of(leaf)?),
        None => None,
    };
    if tls.nodes_only && !matches!(identity, Some(Identity::Node(_))) {
        return Err(format!(
            "node-to-node connections need a node certificate (trunkline:node:<id>), not {}",
            identity.map_or("none".into(), |i| i.to_string())
        ));
    }
    let info = ConnInfo {
        remote: Some(remote),
        tls: Some(TlsInfo {
            peering: peering.is_some(),
            identity,
        }),
    };
    Ok(Conn::Tls(Box::new(stream), info))
}
