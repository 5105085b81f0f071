//! What the rest of the node sees of a session: the handle its owner
//! holds, the requests it takes, and the status it publishes.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use trunkline_cluster::peers::SessionMark;
use trunkline_peering::message::Code;
use trunkline_peering::session::{Negotiated, State};
use trunkline_proto::peering::v1 as pb;

use crate::peering::config::Peer;

/// A stream the peer opened, its Open already read.
#[derive(Debug)]
pub struct Inbound {
    pub open: pb::Open,
    pub rx: tonic::Streaming<pb::PeerMessage>,
    pub tx: mpsc::Sender<pb::PeerMessage>,
    pub remote: Option<SocketAddr>,
    /// The peer its certificate names, with mutual TLS.
    pub cert: Option<super::context::Certified>,
}

#[derive(Debug)]
pub enum Control {
    Inbound(Box<Inbound>),
    /// A stream claiming to be this peer was refused before its Open
    /// (its certificate names another): `neighbor show` says why.
    Refused(String),
    /// Whether this node dials the peer.
    SetActive(bool),
    /// The replicated registration of the peer's session changed.
    Registry(Option<SessionMark>),
    Reset,
    Refresh,
    /// Close with a Notification and end the task.
    Stop(Code, String),
}

/// A session as `neighbor show` reports it; each task publishes its own
/// on a watch, so reading it never waits on the task.
#[derive(Debug, Clone, Default)]
pub struct SessionStatus {
    pub state: Option<State>,
    pub active: bool,
    pub remote: Option<String>,
    pub last_error: Option<String>,
    pub established: Option<EstablishedStatus>,
    pub received: u64,
}

/// What only an established session has to report.
#[derive(Debug, Clone)]
pub struct EstablishedStatus {
    pub secs: u64,
    pub negotiated: Negotiated,
    pub advertised: usize,
    /// Authority statements the peer sent that verified, and that did not.
    pub authority_received: u64,
    pub authority_refused: u64,
    /// The peer's authority snapshot ended (or was not negotiated, or the
    /// wait for it is over).
    pub authority_synced: bool,
}

/// The owner's handle. Dropping it ends the task at once: the stream
/// closes without a Notification, so the peer keeps our routes for its
/// graceful-restart time (what a node shutdown wants).
#[derive(Debug)]
pub struct Handle {
    pub tx: mpsc::Sender<Control>,
    pub peer: Peer,
    pub status: watch::Receiver<SessionStatus>,
    pub(super) task: JoinHandle<()>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How long stopping a session may take before its task is dropped.
const STOP_WAIT: Duration = Duration::from_secs(3);

impl Handle {
    /// Closes the session with a Notification and waits (a bounded time)
    /// for the task.
    pub async fn stop(mut self, code: Code, reason: &str) {
        let deadline = tokio::time::Instant::now() + STOP_WAIT;
        let stop = Control::Stop(code, reason.to_owned());
        if tokio::time::timeout_at(deadline, self.tx.send(stop))
            .await
            .is_ok()
        {
            let _ = tokio::time::timeout_at(deadline, &mut self.task).await;
        }
    }
}
