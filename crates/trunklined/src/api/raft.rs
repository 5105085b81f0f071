//! The server side of node-to-node traffic: raft message streams in, and
//! writes forwarded by followers.

use protobuf::Message as _;
use raft::prelude::Message;
use tonic::{Request, Response, Status, Streaming};
use trunkline_proto::cluster::v1 as wire;
use trunkline_proto::cluster::v1::raft_transport_server::RaftTransport;

use crate::store::StoreHandle;
use crate::tls::Identity;
use crate::tls::server::ConnInfo;

/// With mutual TLS, the node the connection's certificate names.
fn certified_node<T>(req: &Request<T>) -> Option<u64> {
    match ConnInfo::of(req)?.tls.as_ref()?.identity.as_ref()? {
        Identity::Node(id) => Some(*id),
        _ => None,
    }
}

/// A node speaks only for itself: every message on a certified connection
/// must be from the node its certificate names.
fn check_from(cert: Option<u64>, claimed: u64) -> Result<(), Status> {
    match cert {
        Some(id) if id != claimed => Err(Status::permission_denied(format!(
            "a message from node {claimed} on the connection of node {id} (trunkline:node:{id})"
        ))),
        _ => Ok(()),
    }
}

#[derive(Debug, Clone)]
pub struct RaftService {
    pub store: StoreHandle,
    /// Set on shutdown: long-lived streams end, so the server's graceful
    /// stop need not wait for peers to hang up.
    pub stop: tokio::sync::watch::Receiver<bool>,
}

#[tonic::async_trait]
impl RaftTransport for RaftService {
    async fn send(
        &self,
        req: Request<Streaming<wire::RaftBatch>>,
    ) -> Result<Response<wire::SendSummary>, Status> {
        let cert = certified_node(&req);
        let mut stream = req.into_inner();
        let mut batches = 0;
        let mut stop = self.stop.clone();
        loop {
            let batch = tokio::select! {
                b = stream.message() => match b? {
                    Some(b) => b,
                    None => break,
                },
                _ = stop.wait_for(|s| *s) => {
                    return Err(Status::unavailable("this node is shutting down"));
                }
            };
            check_from(cert, batch.from)?;
            // A removed node that still campaigns (it never applied its
            // removal) learns it here, and stops.
            if let Some(&at) = self.store.status().removed_members.get(&batch.from) {
                return Err(crate::store::transport::removed_status(batch.from, at));
            }
            if batch.removed_at > 0 {
                // Only a member of this node's own configuration says so.
                let st = self.store.status().raft;
                if st.voters.contains(&batch.from) || st.learners.contains(&batch.from) {
                    self.store.told_removed(batch.from, batch.removed_at).await;
                }
                continue;
            }
            let mut msgs = Vec::with_capacity(batch.messages.len());
            for bytes in &batch.messages {
                let m = Message::parse_from_bytes(bytes).map_err(|e| {
                    Status::invalid_argument(format!(
                        "undecodable raft message from node {}: {e}",
                        batch.from
                    ))
                })?;
                check_from(cert, m.from)?;
                msgs.push(m);
            }
            let from = (!batch.from_addr.is_empty()).then(|| (batch.from, batch.from_addr.clone()));
            self.store
                .step(msgs, from)
                .await
                .map_err(|e| Status::unavailable(e.to_string()))?;
            batches += 1;
        }
        Ok(Response::new(wire::SendSummary { batches }))
    }

    async fn send_snapshot(
        &self,
        req: Request<Streaming<wire::SnapshotChunk>>,
    ) -> Result<Response<wire::SnapshotSummary>, Status> {
        let cert = certified_node(&req);
        let mut stream = req.into_inner();
        let first = stream
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("empty snapshot stream"))?;
        let mut msg = Message::parse_from_bytes(&first.message)
            .map_err(|e| Status::invalid_argument(format!("undecodable snapshot message: {e}")))?;
        check_from(cert, first.from)?;
        check_from(cert, msg.from)?;
        let mut data = first.data;
        while let Some(chunk) = stream.message().await? {
            if data.len() + chunk.data.len() > crate::store::transport::MAX_SNAPSHOT {
                return Err(Status::resource_exhausted(
                    "snapshot larger than this node accepts",
                ));
            }
            data.extend_from_slice(&chunk.data);
        }
        let bytes = data.len() as u64;
        msg.mut_snapshot().data = data.into();
        let from = (!first.from_addr.is_empty()).then_some((first.from, first.from_addr));
        self.store
            .step(vec![msg], from)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(wire::SnapshotSummary { bytes }))
    }

    async fn forward(
        &self,
        req: Request<wire::ForwardRequest>,
    ) -> Result<Response<wire::ForwardResponse>, Status> {
        Ok(Response::new(
            self.store.forwarded(&req.into_inner().proposal).await,
        ))
    }
}
