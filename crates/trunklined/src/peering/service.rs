//! `trunkline.peering.v1.Peering`: peers open sessions here. A stream from
//! a network no peer may use is refused before anything is read; then the
//! first message must be an Open, which names the peer by its ITAD.

use std::pin::Pin;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt as _};
use tonic::{Request, Response, Status, Streaming};
use trunkline_proto::peering::v1 as pb;

use super::manager::ManagerHandle;
use super::opening::Opening;

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
        let rx = request.into_inner();
        let (tx, out) = mpsc::channel(super::session::STREAM_QUEUE);
        // The response must start before the Open can arrive (the dialling
        // side sends its Open once the stream is up), so the manager waits
        // for it, in a task it owns.
        self.manager.opening(Opening { rx, tx, remote }).await;
        let out = ReceiverStream::new(out).map(Ok::<_, Status>);
        Ok(Response::new(Box::pin(out)))
    }
}
