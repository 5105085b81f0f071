//! A stream a peer just opened, until its Open is read: the manager owns
//! the task that waits for it, a bounded time.

use std::time::Duration;

use tokio::sync::mpsc;
use tonic::Streaming;
use trunkline_peering::message::{Code, Message, Notification};
use trunkline_proto::peering::v1 as pb;

use super::convert;
use super::session::Inbound;

/// How long a peer has to send its Open.
const OPEN_WAIT: Duration = Duration::from_secs(30);

/// A stream just opened, its Open not read yet.
#[derive(Debug)]
pub struct Opening {
    pub rx: Streaming<pb::PeerMessage>,
    pub tx: mpsc::Sender<pb::PeerMessage>,
    pub remote: Option<std::net::SocketAddr>,
    /// The peer its certificate names, with mutual TLS.
    pub cert: Option<super::session::Certified>,
}

impl Opening {
    /// Reads the Open, answering anything else with a Notification;
    /// `None` when the stream brought no Open in time.
    pub async fn read_open(mut self) -> Option<Inbound> {
        let refuse = |code, reason: &str| {
            let n = Message::Notification(Notification {
                code,
                reason: reason.to_owned(),
            });
            convert::to_proto(n)
        };
        let first = match tokio::time::timeout(OPEN_WAIT, self.rx.message()).await {
            Ok(Ok(Some(m))) => m,
            Ok(_) => return None,
            Err(_) => {
                let _ = self.tx.try_send(refuse(Code::HoldTimerExpired, "no Open"));
                return None;
            }
        };
        let why = match first.body {
            Some(pb::peer_message::Body::Open(open)) => {
                return Some(Inbound {
                    open,
                    rx: self.rx,
                    tx: self.tx,
                    remote: self.remote,
                    cert: self.cert,
                });
            }
            Some(_) => refuse(Code::FsmError, "the first message must be Open"),
            None => refuse(Code::MalformedMessage, "a message with no body"),
        };
        let _ = self.tx.try_send(why);
        None
    }
}
