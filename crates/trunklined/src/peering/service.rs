//! `trunkline.peering.v1.Peering`: peers open sessions here. A stream from
//! a network no peer may use, or (with `[peering.tls]`) one without the
//! certificate of a configured peer, is refused before anything is read;
//! then the first message must be an Open, which names the peer by its
//! ITAD, the certificate's ITAD.

use std::pin::Pin;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt as _};
use tonic::{Request, Response, Status, Streaming};
use trunkline_proto::peering::v1 as pb;

use super::manager::ManagerHandle;
use super::opening::Opening;
use super::session::Certified;
use crate::tls::Identity;
use crate::tls::server::ConnInfo;

#[derive(Debug, Clone)]
pub struct PeeringService {
    pub manager: ManagerHandle,
    /// `[peering.tls]` is set: a peer must prove who it is.
    pub tls: bool,
}

/// With mutual TLS, the peer the connection's certificate proves.
fn certified(conn: Option<&ConnInfo>) -> Result<Certified, Status> {
    let tls = conn.and_then(|c| c.tls.as_ref()).filter(|t| t.peering);
    match tls.and_then(|t| t.identity.as_ref()) {
        Some(Identity::Peer { itad, name }) => Ok((*itad, name.clone())),
        Some(other) => Err(Status::permission_denied(format!(
            "peering needs a peer certificate (trunkline:peer:<itad>:<name>), not {other}"
        ))),
        None => Err(Status::unauthenticated(
            "peering here is mutual TLS: dial with [peering.tls] (a peer certificate from \
             the peers' CA)",
        )),
    }
}

type Out = Pin<Box<dyn Stream<Item = Result<pb::PeerMessage, Status>> + Send>>;

#[tonic::async_trait]
impl pb::peering_server::Peering for PeeringService {
    type SessionStream = Out;

    async fn session(
        &self,
        request: Request<Streaming<pb::PeerMessage>>,
    ) -> Result<Response<Out>, Status> {
        let conn = ConnInfo::of(&request);
        let remote = conn.and_then(|c| c.remote);
        let cert = if self.tls {
            Some(certified(conn).inspect_err(|s| {
                tracing::warn!(?remote, "peering stream refused: {}", s.message());
            })?)
        } else {
            None
        };
        if let Err(why) = self
            .manager
            .admits(remote.map(|a| a.ip()), cert.clone())
            .await
        {
            tracing::warn!(?remote, "peering stream refused: {why}");
            return Err(Status::permission_denied(why));
        }
        let rx = request.into_inner();
        let (tx, out) = mpsc::channel(super::session::STREAM_QUEUE);
        // The response must start before the Open can arrive (the dialling
        // side sends its Open once the stream is up), so the manager waits
        // for it, in a task it owns.
        self.manager
            .opening(Opening {
                rx,
                tx,
                remote,
                cert,
            })
            .await;
        let out = ReceiverStream::new(out).map(Ok::<_, Status>);
        Ok(Response::new(Box::pin(out)))
    }
}
