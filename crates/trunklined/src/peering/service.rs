//! `trunkline.peering.v1.Peering`: peers open sessions here. A stream from
//! a network no peer may use is refused before anything is read; then the
//! first message must be an Open, which names the peer by its ITAD.

use std::pin::Pin;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt as _};
use tonic::{Request, Response, Status, Streaming};
use trunkline_peering::message::{Code, Message, Notification};
use trunkline_proto::peering::v1 as pb;

use super::convert;
use super::manager::ManagerHandle;
use super::session::Inbound;

/// How long a peer has to send its Open.
const OPEN_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct PeeringService {
    pub manager: ManagerHandle,
}

type Out = Pin<Box<dyn Stream<Item = Result<pb::PeerMessage, Status>> + Send>>;

#[tonic::async_trait]
impl pb::peering_server::Peering for PeeringService {
    type SessionStream = Out;

    async fn session(
        &self,
        request: Request<Streaming<pb::PeerMessage>>,
    ) -> Result<Response<Out>, Status> {
        let remote = request.remote_addr();
        if let Some(addr) = remote
            && !self.manager.admits(addr.ip()).await
        {
            tracing::warn!(%addr, "peering stream refused: no peer may connect from there");
            return Err(Status::permission_denied(format!(
                "no peer may connect from {}",
                addr.ip()
            )));
        }
        let mut rx = request.into_inner();
        let (tx, out) = mpsc::channel(256);
        let manager = self.manager.clone();
        // The response must start before the Open can arrive: the dialling
        // side sends its Open once the stream is up.
        tokio::spawn(async move {
            let refuse = |code, reason: &str| {
                let n = Message::Notification(Notification {
                    code,
                    reason: reason.to_owned(),
                });
                convert::to_proto(n)
            };
            let first = match tokio::time::timeout(OPEN_WAIT, rx.message()).await {
                Ok(Ok(Some(m))) => m,
                Ok(_) => return,
                Err(_) => {
                    let _ = tx.send(refuse(Code::HoldTimerExpired, "no Open")).await;
                    return;
                }
            };
            match first.body {
                Some(pb::peer_message::Body::Open(open)) => {
                    manager
                        .inbound(Inbound {
                            open,
                            rx,
                            tx,
                            remote,
                        })
                        .await;
                }
                Some(_) => {
                    let _ = tx
                        .send(refuse(Code::FsmError, "the first message must be Open"))
                        .await;
                }
                None => {
                    let _ = tx
                        .send(refuse(Code::MalformedMessage, "a message with no body"))
                        .await;
                }
            }
        });
        let out = ReceiverStream::new(out).map(Ok::<_, Status>);
        Ok(Response::new(Box::pin(out)))
    }
}
