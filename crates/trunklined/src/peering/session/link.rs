//! The stream a session uses: dialled or accepted, read by a task of its
//! own, written through an outbox the session never waits on. A peer that
//! stops reading fills the outbox, not the session: its timers, its other
//! work and `neighbor list` go on, and the session closes the stream when
//! nothing has gone out for the hold time.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use trunkline_core::{Plans, Prefix};
use trunkline_peering::message::{UPDATE_ROUTES, UPDATE_WITHDRAWALS};
use trunkline_peering::policy::Announced;
use trunkline_proto::peering::v1 as pb;

use super::context::{MAX_MESSAGE, STREAM_QUEUE};
use crate::peering::convert;
use crate::tls::Identity;
use crate::tls::client::Dialer;

/// Time allowed for a dial, the HTTP/2 handshake included.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// What the reader hands the session: a message, or why the stream ended.
#[derive(Debug)]
pub(super) struct Received {
    pub generation: u64,
    pub msg: Result<pb::PeerMessage, Ended>,
}

/// Why a stream gave no further message.
#[derive(Debug)]
pub(super) enum Ended {
    /// Closed or lost.
    Closed(String),
    /// The peer sent a message larger than [`MAX_MESSAGE`].
    TooLarge(String),
    /// The peer sent bytes that are no `PeerMessage`.
    Undecodable(String),
}

impl Ended {
    fn from_status(s: &tonic::Status) -> Ended {
        let text = format!("{}: {}", s.code(), s.message());
        match s.code() {
            // tonic's words for a frame over the decoding limit.
            tonic::Code::OutOfRange if s.message().contains("too large") => {
                Ended::TooLarge(format!(
                    "a message larger than {MAX_MESSAGE} bytes ({})",
                    s.message()
                ))
            }
            tonic::Code::Internal if s.message().contains("decode") => Ended::Undecodable(text),
            _ => Ended::Closed(text),
        }
    }
}

/// What waits to go out, in order.
#[derive(Debug)]
enum Queued {
    Msg(pb::PeerMessage),
    /// Routes to announce and withdraw, turned into Updates of at most
    /// [`UPDATE_ROUTES`] as the stream takes them, so a full table waits
    /// here as routes, not as a thousand encoded messages.
    Routes {
        announce: VecDeque<Announced>,
        withdraw: Vec<Prefix>,
    },
}

/// The stream in use.
#[derive(Debug)]
pub(super) struct Link {
    pub generation: u64,
    tx: mpsc::Sender<pb::PeerMessage>,
    reader: Option<JoinHandle<()>>,
    pub remote: Option<String>,
    pub outbound: bool,
    outbox: VecDeque<Queued>,
    /// Since when the stream has taken nothing while something waited.
    stuck_since: Option<Instant>,
}

impl Link {
    /// Starts reading `rx` into `received`, tagged with `generation`.
    pub fn attach(
        generation: u64,
        tx: mpsc::Sender<pb::PeerMessage>,
        mut rx: tonic::Streaming<pb::PeerMessage>,
        received: mpsc::Sender<Received>,
        remote: Option<String>,
        outbound: bool,
    ) -> Link {
        let reader = tokio::spawn(async move {
            loop {
                let msg = match rx.message().await {
                    Ok(Some(m)) => Ok(m),
                    Ok(None) => Err(Ended::Closed("closed by the peer".to_owned())),
                    Err(s) => Err(Ended::from_status(&s)),
                };
                let end = msg.is_err();
                // Waiting here is the backpressure: while the session is
                // behind, the peer's stream is not read further.
                if received.send(Received { generation, msg }).await.is_err() || end {
                    return;
                }
            }
        });
        Link {
            generation,
            tx,
            reader: Some(reader),
            remote,
            outbound,
            outbox: VecDeque::new(),
            stuck_since: None,
        }
    }

    /// Queues a message behind what already waits.
    pub fn send(&mut self, m: pb::PeerMessage) {
        self.outbox.push_back(Queued::Msg(m));
    }

    /// Queues routes; they become Updates as the stream takes them.
    pub fn send_routes(&mut self, announce: Vec<Announced>, withdraw: Vec<Prefix>) {
        if announce.is_empty() && withdraw.is_empty() {
            return;
        }
        self.outbox.push_back(Queued::Routes {
            announce: announce.into(),
            withdraw,
        });
    }

    /// Whether something waits to go out.
    pub fn backlogged(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Since when nothing has gone out while something waited.
    pub fn stuck_since(&self) -> Option<Instant> {
        self.stuck_since
    }

    /// A sender to wait on for room, when something waits.
    pub fn room(&self) -> Option<mpsc::Sender<pb::PeerMessage>> {
        self.backlogged().then(|| self.tx.clone())
    }

    /// Moves what waits into the stream's buffer, as far as there is room,
    /// never waiting. `update_sent` is told of each Update that goes (the
    /// session counts them and restarts its keepalive timer).
    pub fn pump(&mut self, plans: &Plans, mut update_sent: impl FnMut()) {
        while let Some(front) = self.outbox.front_mut() {
            let permit = match self.tx.try_reserve() {
                Ok(p) => p,
                Err(TrySendError::Full(())) => {
                    self.stuck_since.get_or_insert_with(Instant::now);
                    return;
                }
                // A closed stream shows up as a Received error.
                Err(TrySendError::Closed(())) => {
                    self.outbox.clear();
                    return;
                }
            };
            self.stuck_since = None;
            let msg = match front {
                Queued::Msg(_) => match self.outbox.pop_front() {
                    Some(Queued::Msg(m)) => m,
                    _ => unreachable!("the front is a message"),
                },
                Queued::Routes { announce, withdraw } => {
                    let n = announce.len().min(UPDATE_ROUTES);
                    let u = if n > 0 {
                        // The first Update carries the withdrawals too.
                        let k = withdraw.len().min(UPDATE_WITHDRAWALS);
                        pb::Update {
                            announce: announce
                                .drain(..n)
                                .map(|a| convert::path_route(plans, &a))
                                .collect(),
                            withdraw: withdraw.drain(..k).map(|p| plans.prefix_str(&p)).collect(),
                        }
                    } else {
                        let k = withdraw.len().min(UPDATE_WITHDRAWALS);
                        pb::Update {
                            announce: Vec::new(),
                            withdraw: withdraw.drain(..k).map(|p| plans.prefix_str(&p)).collect(),
                        }
                    };
                    if announce.is_empty() && withdraw.is_empty() {
                        self.outbox.pop_front();
                    }
                    update_sent();
                    pb::PeerMessage {
                        body: Some(pb::peer_message::Body::Update(u)),
                    }
                }
            };
            permit.send(msg);
        }
    }

    /// Sends a last message if there is room at once (a Notification as
    /// the stream closes), dropping whatever else waits.
    pub fn send_last(&mut self, m: pb::PeerMessage) {
        self.outbox.clear();
        let _ = self.tx.try_send(m);
    }

    /// Ends our side of the stream but keeps reading for a moment, so a
    /// Notification just queued reaches the peer before the stream is torn
    /// down (dropping the response of a dialled stream resets it). The
    /// reader is returned for the session to stop after that moment.
    pub fn close(mut self) -> Option<JoinHandle<()>> {
        self.reader.take()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(r) = &self.reader {
            r.abort();
        }
    }
}

/// A stream to the peer: the sender half and the peer's messages.
pub(super) type Dialled = (
    mpsc::Sender<pb::PeerMessage>,
    tonic::Streaming<pb::PeerMessage>,
);

/// Opens a session stream to `addr`; with `tls`, over mutual TLS with
/// the peer that certificate must name.
pub(super) async fn dial(
    addr: &str,
    tls: Option<(Arc<Dialer>, Identity)>,
) -> Result<Dialled, String> {
    let mut endpoint = tonic::transport::Endpoint::from_shared(addr.to_owned())
        .map_err(|e| format!("{addr}: {e}"))?
        .connect_timeout(Duration::from_secs(3))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(5))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true);
    match tls {
        Some((tls, peer)) if addr.starts_with("https://") => {
            endpoint = tls
                .secure(endpoint, peer)
                .map_err(|e| format!("{addr}: {e}"))?;
        }
        Some(_) => {
            return Err(format!(
                "{addr}: [peering.tls] is set, so peers are dialled over TLS: use https://"
            ));
        }
        None if addr.starts_with("https://") => {
            return Err(format!(
                "{addr}: https:// needs [peering.tls] (this node's peer certificate and the peers' CA)"
            ));
        }
        None => {}
    }
    let open = async {
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| format!("{addr}: {}", crate::store::transport::source_chain(&e)))?;
        let mut client = pb::peering_client::PeeringClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        let stream = client
            .session(ReceiverStream::new(rx))
            .await
            .map_err(|s| format!("{addr}: {}: {}", s.code(), s.message()))?
            .into_inner();
        Ok((tx, stream))
    };
    match tokio::time::timeout(DIAL_TIMEOUT, open).await {
        Ok(r) => r,
        Err(_) => Err(format!("{addr}: no answer within {DIAL_TIMEOUT:?}")),
    }
}
