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
pub mod sip;

use std::future::Future;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// Resolves once the stop signal is set.
pub(crate) async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Accepts TCP connections until `stop`, at most `limit` at once (one over
/// the limit is closed at once), each served by `serve` in a task this
/// loop owns and aborts when it stops.
pub(crate) async fn accept_loop<F, Fut>(
    tcp: TcpListener,
    limit: usize,
    stop: watch::Receiver<bool>,
    serve: F,
) where
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
                let Ok((stream, _)) = r else { continue };
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
