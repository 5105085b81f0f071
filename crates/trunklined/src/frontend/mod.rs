//! Front ends that let PBXes ask without new modules (DESIGN §6), all
//! answered from the same lookup as the gRPC API.
//!
//! - [`http_lookup`]: `GET /v1/lookup/{number}`, JSON or an Asterisk dial
//!   string.
//! - [`dial`]: dial strings from next-hop URIs.
//! - [`enum_dns`]: ENUM NAPTR answers over DNS (UDP and TCP).
//! - [`sip`]: a SIP redirect server (UDP and TCP).

pub mod dial;
pub mod enum_dns;
pub mod http_lookup;
pub mod rate;
pub mod sip;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

/// How many loops and how much a front end takes.
#[derive(Debug, Clone)]
pub struct Sizing {
    /// Receive loops sharing the UDP socket.
    pub udp_loops: usize,
    /// Largest datagram read.
    pub max_datagram: usize,
    /// TCP connections at once; one more is closed at once.
    pub max_tcp: usize,
    /// UDP answers per second to one address; None: no limit.
    pub rate: Option<Arc<rate::RateLimit>>,
    /// Counts UDP answers the limit dropped.
    pub limited: prometheus_client::metrics::counter::Counter,
}

/// The tasks of a front end served on UDP and TCP at one address: UDP
/// receive loops and the TCP accept loop. They end when the stop signal is
/// set; [`Listeners::stop`] waits for them.
#[derive(Debug)]
pub struct Listeners {
    tasks: Vec<JoinHandle<()>>,
}

impl Listeners {
    /// Binds `addr` on UDP and TCP. `sizing.udp_loops` loops share the
    /// UDP socket, each answering a datagram (and its source) with
    /// `answer`, which also says where the answer goes; TCP connections
    /// are each served by `serve`.
    pub async fn bind<A, F, Fut>(
        what: &str,
        addr: SocketAddr,
        sizing: Sizing,
        stop: watch::Receiver<bool>,
        answer: A,
        serve: F,
    ) -> anyhow::Result<Listeners>
    where
        A: Fn(&[u8], SocketAddr) -> Option<(Vec<u8>, SocketAddr)> + Send + Sync + 'static,
        F: Fn(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let udp = Arc::new(
            UdpSocket::bind(addr)
                .await
                .with_context(|| format!("cannot listen for {what} (UDP) on {addr}"))?,
        );
        let tcp = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for {what} (TCP) on {addr}"))?;
        let answer = Arc::new(answer);
        let mut tasks = Vec::new();
        let max_datagram = sizing.max_datagram;
        for _ in 0..sizing.udp_loops {
            let (udp, answer, stop) = (udp.clone(), answer.clone(), stop.clone());
            let (rate, limited) = (sizing.rate.clone(), sizing.limited.clone());
            tasks.push(tokio::spawn(async move {
                let stopped = stopped(stop);
                tokio::pin!(stopped);
                let mut buf = vec![0u8; max_datagram];
                loop {
                    tokio::select! {
                        r = udp.recv_from(&mut buf) => {
                            let Ok((n, from)) = r else { continue };
                            if let Some((resp, to)) = answer(&buf[..n], from) {
                                if rate.as_ref().is_some_and(|r| !r.allow(to.ip(), std::time::Instant::now())) {
                                    limited.inc();
                                    continue;
                                }
                                let _ = udp.send_to(&resp, to).await;
                            }
                        }
                        () = &mut stopped => return,
                    }
                }
            }));
        }
        tasks.push(tokio::spawn(accept_loop(tcp, sizing.max_tcp, stop, serve)));
        tracing::info!(listen = %addr, "{what} serving on UDP and TCP");
        Ok(Listeners { tasks })
    }

    pub async fn stop(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Resolves once the stop signal is set.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Accepts TCP connections until `stop`, at most `limit` at once (one over
/// the limit is closed at once), each served by `serve` in a task this
/// loop owns and aborts when it stops.
async fn accept_loop<F, Fut>(tcp: TcpListener, limit: usize, stop: watch::Receiver<bool>, serve: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let limit = Arc::new(Semaphore::new(limit));
    let stopped = stopped(stop);
    tokio::pin!(stopped);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            r = tcp.accept() => {
                let stream = match r {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors fails at once, again and
                        // again: wait instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Ok(permit) = limit.clone().try_acquire_owned() else { continue };
                let conn = serve(stream);
                conns.spawn(async move {
                    let _permit = permit;
                    conn.await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            () = &mut stopped => {
                conns.abort_all();
                return;
            }
        }
    }
}
