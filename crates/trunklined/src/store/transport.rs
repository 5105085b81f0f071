//! Node-to-node raft traffic: one long-lived gRPC stream per peer, fed
//! batches of messages from a bounded queue. A peer that cannot be reached
//! is reported to raft; the link reconnects with backoff, and HTTP/2
//! keepalive tears down connections that died in a partition (a tonic
//! channel can otherwise stay stuck on a dead connection).
//!
//! The raft thread owns the [`Transport`]; each peer link is a task the
//! transport owns and aborts when the peer leaves or the node stops.

use std::collections::{BTreeMap, HashMap};
use std::pin::pin;
use std::time::Duration;

use protobuf::Message as _;
use raft::prelude::{Message, MessageType};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use trunkline_cluster::node::Status;
use trunkline_proto::cluster::v1 as wire;
use trunkline_proto::cluster::v1::raft_transport_client::RaftTransportClient;

use super::dial::NodeDialer;
use super::msg::StoreMsg;

/// Messages waiting for one peer; beyond this the peer is unreachable.
const PEER_QUEUE: usize = 4096;
/// Raft messages per batch on the wire.
const BATCH: usize = 256;
/// Largest message between nodes; snapshots travel in chunks of
/// [`SNAPSHOT_CHUNK`] bytes.
pub const MAX_MESSAGE: usize = 64 << 20;
/// Bytes of snapshot data per chunk.
pub const SNAPSHOT_CHUNK: usize = 1 << 20;
/// Largest snapshot a node accepts.
pub const MAX_SNAPSHOT: usize = 8 << 30;

/// Time for a link to connect, handshake included.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a batch may wait for the stream to take it before the link
/// counts as stalled; a healthy stream takes one in milliseconds, a bulk
/// load's largest in well under a second.
const STALL_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug)]
struct Link {
    addr: String,
    tx: mpsc::Sender<Message>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The peer links of one node.
#[derive(Debug)]
pub struct Transport {
    me: u64,
    store: mpsc::Sender<StoreMsg>,
    rt: tokio::runtime::Handle,
    dialer: NodeDialer,
    links: HashMap<u64, Link>,
    failures: Vec<(u64, bool)>,
}

impl Transport {
    pub(crate) fn new(
        me: u64,
        store: mpsc::Sender<StoreMsg>,
        rt: tokio::runtime::Handle,
        dialer: NodeDialer,
    ) -> Transport {
        Transport {
            me,
            store,
            rt,
            dialer,
            links: HashMap::new(),
            failures: Vec::new(),
        }
    }

    /// Queues a message for its peer. Never blocks: a full queue or an
    /// unknown address is reported to raft as unreachable.
    pub fn send(&mut self, msg: Message, members: &BTreeMap<u64, String>) {
        let to = msg.to;
        let snapshot = msg.get_msg_type() == MessageType::MsgSnapshot;
        let Some(addr) = members.get(&to) else {
            tracing::debug!(to, "no address for peer");
            self.report(to, snapshot);
            return;
        };
        // A link whose task ended (it never should) is made anew rather
        // than left refusing every message.
        if self
            .links
            .get(&to)
            .is_some_and(|l| &l.addr != addr || l.task.is_finished())
        {
            self.links.remove(&to);
        }
        let me = (self.me, members.get(&self.me).cloned().unwrap_or_default());
        let link = self.links.entry(to).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(PEER_QUEUE);
            let task = self.rt.spawn(run_link(
                me,
                (to, addr.clone()),
                self.dialer.clone(),
                rx,
                self.store.clone(),
            ));
            Link {
                addr: addr.clone(),
                tx,
                task,
            }
        });
        if link.tx.try_send(msg).is_err() {
            self.report(to, snapshot);
        }
    }

    /// Notes a message that could not be queued. The raft thread (the
    /// caller) applies the notes with [`Transport::take_failures`]: sending
    /// them through its own channel could lose them when that channel is
    /// full, and a lost snapshot failure leaves raft waiting forever.
    fn report(&mut self, to: u64, snapshot: bool) {
        self.failures.push((to, snapshot));
    }

    /// Messages that could not be queued since the last call: (peer, was
    /// a snapshot).
    pub fn take_failures(&mut self) -> Vec<(u64, bool)> {
        std::mem::take(&mut self.failures)
    }

    /// Tells a node just removed from the cluster that it was, once (a
    /// learner never campaigns, so it would not learn it otherwise). The
    /// task gives up after a few tries: the node may be gone for good.
    pub fn farewell(&mut self, to: u64, addr: String, log_index: u64) {
        let me = self.me;
        let dialer = self.dialer.clone();
        self.rt.spawn(async move {
            for _ in 0..5 {
                let told = async {
                    let mut client = connect(&dialer, to, &addr)
                        .await
                        .map_err(|e| source_chain(&e))?;
                    let batch = wire::RaftBatch {
                        from: me,
                        messages: Vec::new(),
                        from_addr: String::new(),
                        removed_at: log_index,
                    };
                    client
                        .send(tokio_stream::iter([batch]))
                        .await
                        .map(|_| ())
                        .map_err(|s| s.to_string())
                };
                match tokio::time::timeout(CONNECT_TIMEOUT, told).await {
                    Ok(Ok(())) => {
                        tracing::info!(node = to, "told node {to} it was removed");
                        return;
                    }
                    Ok(Err(e)) => tracing::debug!(node = to, "cannot tell it of its removal: {e}"),
                    Err(_) => tracing::debug!(node = to, "cannot tell it of its removal: timeout"),
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }

    /// Drops links to nodes that are no longer members.
    pub fn retain(&mut self, members: &BTreeMap<u64, String>, st: &Status) {
        self.links.retain(|id, _| {
            members.contains_key(id) && (st.voters.contains(id) || st.learners.contains(id))
        });
    }
}

/// One peer link: connect, stream batches until the stream fails, back
/// off, reconnect. Messages queued while disconnected are stale by the
/// time a link is back (raft resends what matters), so they are dropped.
async fn run_link(
    me: (u64, String),
    (to, addr): (u64, String),
    dialer: NodeDialer,
    mut rx: mpsc::Receiver<Message>,
    store: mpsc::Sender<StoreMsg>,
) {
    let mut backoff = Duration::from_millis(50);
    let mut quiet = Quiet::default();
    loop {
        // The TCP connect has its own timeout, but the HTTP/2 handshake
        // after it does not: a peer (or middlebox) that accepts and then
        // says nothing would hold the link forever.
        let connected =
            match tokio::time::timeout(CONNECT_TIMEOUT, connect(&dialer, to, &addr)).await {
                Ok(r) => r.map_err(|e| source_chain(&e)),
                Err(_) => Err(format!("no HTTP/2 handshake within {CONNECT_TIMEOUT:?}")),
            };
        match connected {
            Ok(client) => {
                tracing::debug!(to, %addr, "raft link connected");
                let started = tokio::time::Instant::now();
                let Some(why) = stream(&me, to, client, &mut rx, &store).await else {
                    return;
                };
                // Only a stream that carried traffic for a while counts
                // as the link working again.
                if started.elapsed() >= STABLE {
                    quiet.worked(to, &addr);
                    backoff = Duration::from_millis(50);
                }
                quiet.failed(to, &addr, format!("raft stream to node {to} ended: {why}"));
            }
            Err(e) => quiet.failed(to, &addr, format!("cannot connect to node {to}: {e}")),
        }
        let _ = store.send(StoreMsg::Unreachable(to)).await;
        while let Ok(m) = rx.try_recv() {
            if m.get_msg_type() == MessageType::MsgSnapshot {
                let _ = store.send(StoreMsg::SnapshotSent(to, false)).await;
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// How long a stream must last to count as the link working.
const STABLE: Duration = Duration::from_secs(1);

/// A link to a node that is down fails every second or so: its first
/// failure, and then one a minute, go to the log at INFO with the cause
/// and a count; the rest at DEBUG.
#[derive(Debug, Default)]
struct Quiet {
    failures: u64,
    last_said: Option<tokio::time::Instant>,
}

impl Quiet {
    fn failed(&mut self, to: u64, addr: &str, what: String) {
        self.failures += 1;
        let now = tokio::time::Instant::now();
        if self
            .last_said
            .is_none_or(|t| now - t >= Duration::from_secs(60))
        {
            self.last_said = Some(now);
            tracing::info!(to, %addr, failures = self.failures, "{what}");
        } else {
            tracing::debug!(to, %addr, "{what}");
        }
    }

    fn worked(&mut self, to: u64, addr: &str) {
        if self.failures > 1 {
            tracing::info!(to, %addr, "raft link to node {to} works again after {} failures", self.failures);
        }
        *self = Quiet::default();
    }
}

async fn connect(
    dialer: &NodeDialer,
    to: u64,
    addr: &str,
) -> Result<RaftTransportClient<tonic::transport::Channel>, tonic::transport::Error> {
    let channel = dialer.endpoint(to, addr)?.connect().await?;
    Ok(RaftTransportClient::new(channel)
        .max_encoding_message_size(MAX_MESSAGE)
        .max_decoding_message_size(MAX_MESSAGE))
}

/// Streams batches until the call fails (`Some`, with why) or the queue
/// closes (`None`).
async fn stream(
    me: &(u64, String),
    to: u64,
    mut client: RaftTransportClient<tonic::transport::Channel>,
    rx: &mut mpsc::Receiver<Message>,
    store: &mpsc::Sender<StoreMsg>,
) -> Option<String> {
    let (tx, batches) = mpsc::channel::<wire::RaftBatch>(8);
    // Snapshots go on their own call over the same connection.
    let mut snapshot_client = client.clone();
    let mut call = pin!(client.send(ReceiverStream::new(batches)));
    loop {
        tokio::select! {
            r = &mut call => {
                if let Err(status) = &r
                    && let Some(at) = removed_at(status)
                {
                    let _ = store.send(StoreMsg::Removed { by: to, log_index: at }).await;
                    return Some("this node was removed".into());
                }
                return Some(match r {
                    Ok(_) => "closed by the other side".into(),
                    Err(s) => match std::error::Error::source(&s) {
                        Some(cause) => format!("{}: {}", s.message(), source_chain(cause)),
                        None => s.message().to_owned(),
                    },
                });
            }
            m = rx.recv() => {
                let first = m?;
                let mut msgs = vec![first];
                while msgs.len() < BATCH {
                    match rx.try_recv() {
                        Ok(m) => msgs.push(m),
                        Err(_) => break,
                    }
                }
                let (snapshots, msgs): (Vec<Message>, Vec<Message>) =
                    msgs.into_iter().partition(|m| m.get_msg_type() == MessageType::MsgSnapshot);
                for snap in snapshots {
                    let sent = send_snapshot(me, &mut snapshot_client, snap).await;
                    if let Err(e) = &sent {
                        tracing::info!(to, error = %e, "snapshot not delivered");
                    }
                    let _ = store.send(StoreMsg::SnapshotSent(to, sent.is_ok())).await;
                }
                if msgs.is_empty() {
                    continue;
                }
                let messages = msgs.iter().filter_map(|m| m.write_to_bytes().ok()).collect();
                let batch = wire::RaftBatch {
                    from: me.0,
                    messages,
                    from_addr: me.1.clone(),
                    removed_at: 0,
                };
                // A stream whose connection is alive but takes nothing (its
                // flow-control window never reopens) would hold every later
                // message silently: give up on it and reconnect.
                match tokio::time::timeout(STALL_TIMEOUT, tx.send(batch)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Some("the stream closed".into()),
                    Err(_) => {
                        tracing::info!(to, "raft stream stalled for {STALL_TIMEOUT:?}; reconnecting");
                        return Some(format!("stalled for {STALL_TIMEOUT:?}"));
                    }
                }
            }
        }
    }
}

/// An error with its causes: tonic's "transport error" alone says nothing.
pub(crate) fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let part = c.to_string();
        if !s.ends_with(&part) {
            s.push_str(": ");
            s.push_str(&part);
        }
        cur = c.source();
    }
    s
}

/// The metadata key that says the caller was removed from the cluster.
pub const REMOVED_KEY: &str = "trunkline-removed-at";

/// The answer to traffic from a node the cluster removed at `log_index`.
pub fn removed_status(from: u64, log_index: u64) -> tonic::Status {
    let mut s = tonic::Status::failed_precondition(format!(
        "node {from} was removed from the cluster at log index {log_index}"
    ));
    if let Ok(v) = log_index.to_string().parse() {
        s.metadata_mut().insert(REMOVED_KEY, v);
    }
    s
}

/// The removing log index, if `s` says the caller was removed.
fn removed_at(s: &tonic::Status) -> Option<u64> {
    s.metadata().get(REMOVED_KEY)?.to_str().ok()?.parse().ok()
}

/// Streams one snapshot message: the message without its data first, then
/// the data in chunks.
async fn send_snapshot(
    me: &(u64, String),
    client: &mut RaftTransportClient<tonic::transport::Channel>,
    mut msg: Message,
) -> Result<(), tonic::Status> {
    let data = std::mem::take(&mut msg.mut_snapshot().data);
    let head = msg
        .write_to_bytes()
        .map_err(|e| tonic::Status::internal(e.to_string()))?;
    let mut chunks = vec![wire::SnapshotChunk {
        from: me.0,
        message: head,
        data: Vec::new(),
        from_addr: me.1.clone(),
    }];
    chunks.extend(data.chunks(SNAPSHOT_CHUNK).map(|c| wire::SnapshotChunk {
        from: me.0,
        message: Vec::new(),
        data: c.to_vec(),
        from_addr: String::new(),
    }));
    // A snapshot call that hangs would hold up every message to the peer
    // behind it; give it time in proportion to its size, then give up (raft
    // is told and sends it again).
    let limit = Duration::from_secs(10) + Duration::from_millis(data.len() as u64 / 8_000);
    match tokio::time::timeout(limit, client.send_snapshot(tokio_stream::iter(chunks))).await {
        Ok(r) => r.map(|_| ()),
        Err(_) => Err(tonic::Status::deadline_exceeded(format!(
            "snapshot not delivered within {limit:?}"
        ))),
    }
}
