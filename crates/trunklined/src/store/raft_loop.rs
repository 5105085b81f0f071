//! The raft thread: it owns the `RaftNode`, takes [`StoreMsg`]s, batches
//! proposals into log entries, runs the Ready loop, and publishes status.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use trunkline_cluster::state::Changes;
use trunkline_cluster::{Outcome, Proposal, RaftNode};

use super::msg::{Committed, REMOVED_MARKER, Removed, StoreMsg, StoreStatus, WriteError};
use super::transport::Transport;
use crate::metrics::Metrics;

/// Most proposals combined into one log entry.
const MAX_BATCH: usize = 256;
/// A learner this close to the leader's log becomes a voter.
const PROMOTE_LAG: u64 = 100;

/// The raft thread's state.
pub(super) struct RaftLoop {
    pub(super) node: RaftNode,
    pub(super) rx: mpsc::Receiver<StoreMsg>,
    pub(super) status: watch::Sender<StoreStatus>,
    pub(super) metrics: Metrics,
    pub(super) transport: Transport,
    pub(super) config_members: BTreeMap<u64, String>,
    /// Addresses peers gave for themselves; the least trusted source.
    pub(super) heard: BTreeMap<u64, String>,
    /// Set once this node was removed: it then ignores raft and answers
    /// every request with the reason.
    pub(super) removed: Option<Removed>,
    pub(super) dir: PathBuf,
    /// Role and leader last logged.
    pub(super) last_role: Option<(trunkline_cluster::node::Role, u64)>,
    /// Read-index requests in flight, by request number.
    pub(super) reads: HashMap<u64, oneshot::Sender<u64>>,
    pub(super) next_read: u64,
    /// Proposals of this node not yet applied here, by origin token. A
    /// follower's go to the leader inside raft (a MsgProp on the node
    /// links), and are answered when this node applies them.
    pub(super) waiters: HashMap<u64, oneshot::Sender<Result<Committed, WriteError>>>,
    /// (term, leader) the waiters were proposed under (see
    /// `answer_lost_waiters`).
    pub(super) leader_seen: (u64, u64),
    /// Membership changes waiting to be applied: (last index when proposed, reply).
    pub(super) conf_waiters: Vec<(u64, oneshot::Sender<Result<u64, WriteError>>)>,
    pub(super) changes: broadcast::Sender<Arc<Changes>>,
}

impl RaftLoop {
    fn members(&self) -> BTreeMap<u64, String> {
        let mut m = self.heard.clone();
        m.extend(self.config_members.clone());
        m.extend(self.node.state().members().clone());
        m
    }

    /// This node was removed: stop taking part, and say so everywhere.
    fn mark_removed(&mut self, log_index: u64, detail: String) {
        if self.removed.is_some() {
            return;
        }
        let r = Removed { log_index, detail };
        tracing::error!("{r}");
        let path = self.dir.join(REMOVED_MARKER);
        let text = format!(
            "{log_index}\nThis node was removed from its cluster ({}). It serves nothing.\n",
            r.detail
        );
        if let Err(e) = std::fs::write(&path, text) {
            tracing::warn!(path = %path.display(), error = %e, "cannot record the removal");
        }
        self.removed = Some(r);
    }

    fn not_leader(&self) -> WriteError {
        let leader = self.node.leader_id();
        if leader == 0 {
            WriteError::NoLeader
        } else {
            WriteError::NotLeader(leader, self.members().get(&leader).cloned())
        }
    }

    /// Wait for a message, take everything else that is queued, propose it
    /// as one batch, then run the Ready loop.
    pub(super) fn run(mut self) -> anyhow::Result<()> {
        let my_id = self.node.id();
        let mut stopping = false;
        while !stopping {
            let Some(first) = self.rx.blocking_recv() else {
                break;
            };
            let mut batch = Vec::new();
            let mut replies = Vec::new();
            let mut msg = Some(first);
            while let Some(m) = msg.take() {
                if let Some(r) = &self.removed {
                    // A removed node takes no part in raft (no campaigns)
                    // and answers every request with the reason.
                    let err = WriteError::Removed(r.clone());
                    match m {
                        StoreMsg::Shutdown => stopping = true,
                        StoreMsg::Propose { reply, .. } => {
                            let _ = reply.send(Err(err));
                        }
                        StoreMsg::ConfChange { reply, .. } => {
                            let _ = reply.send(Err(err));
                        }
                        _ => {}
                    }
                    msg = self.rx.try_recv().ok();
                    continue;
                }
                match m {
                    StoreMsg::Removed { by, log_index } => {
                        self.mark_removed(log_index, format!("told by node {by}"));
                    }
                    StoreMsg::Tick => self.node.tick(),
                    StoreMsg::Shutdown => stopping = true,
                    StoreMsg::Step(msgs, from) => {
                        if let Some((id, addr)) = from {
                            self.heard.insert(id, addr);
                        }
                        for m in msgs {
                            // Messages from removed or unknown peers are
                            // refused by raft; nothing to do about them.
                            let _ = self.node.step(m);
                        }
                    }
                    StoreMsg::Unreachable(id) => self.node.report_unreachable(id),
                    StoreMsg::SnapshotSent(id, ok) => self.node.report_snapshot(id, ok),
                    StoreMsg::TransferLeader(id) => self.node.transfer_leader(id),
                    StoreMsg::ReadIndex(reply) => {
                        let ctx = self.next_read;
                        self.next_read += 1;
                        self.node.read_index(ctx);
                        self.reads.insert(ctx, reply);
                    }
                    StoreMsg::ConfChange { cc, context, reply } => {
                        if !self.node.is_leader() {
                            let _ = reply.send(Err(self.not_leader()));
                        } else if self.node.has_pending_conf() {
                            let _ = reply.send(Err(WriteError::MembershipBusy));
                        } else {
                            match self.node.propose_conf_change(context, cc) {
                                Ok(()) => self
                                    .conf_waiters
                                    .push((self.node.status().last_index, reply)),
                                Err(e) => {
                                    let _ = reply.send(Err(WriteError::Rejected(e.to_string())));
                                }
                            }
                        }
                    }
                    StoreMsg::Propose {
                        request_id,
                        command,
                        reply,
                    } => {
                        // A follower proposes too: raft forwards it to the
                        // leader, batched with the rest of the node links'
                        // traffic, as etcd does.
                        if self.node.leader_id() == 0 {
                            let _ = reply.send(Err(WriteError::NoLeader));
                        } else {
                            let origin = self.node.origin();
                            batch.push(Proposal {
                                origin,
                                request_id,
                                command,
                            });
                            replies.push((origin.token, reply));
                        }
                    }
                }
                if batch.len() < MAX_BATCH {
                    msg = self.rx.try_recv().ok();
                }
            }
            if self.removed.is_some() {
                self.publish_status();
                continue;
            }
            if !batch.is_empty() {
                self.answer_lost_waiters();
                self.metrics.proposals.inc_by(batch.len() as u64);
                match self.node.propose(&batch) {
                    Ok(()) => self.waiters.extend(replies),
                    Err(e) => {
                        let err = if self.node.is_leader() {
                            WriteError::Rejected(e.to_string())
                        } else {
                            self.not_leader()
                        };
                        for (_, r) in replies {
                            let _ = r.send(Err(err.clone()));
                        }
                    }
                }
            }
            // Addresses as they were before this pass applied any removal.
            let book = self.members();
            // Messages go out as the Ready loop releases them. One to a
            // node this pass may have just added waits for the pass's end,
            // when its address is known.
            let transport = &mut self.transport;
            let mut unknown = Vec::new();
            let out = self
                .node
                .handle_ready_sending(&mut |msgs| {
                    for m in msgs {
                        if book.contains_key(&m.to) {
                            transport.send(m, &book);
                        } else {
                            unknown.push(m);
                        }
                    }
                })
                .map_err(|e| anyhow::anyhow!("storage failed, stopping the node: {e}"))?;
            if !unknown.is_empty() {
                let members = self.members();
                for m in unknown {
                    self.transport.send(m, &members);
                }
            }
            for (to, snapshot) in self.transport.take_failures() {
                self.node.report_unreachable(to);
                if snapshot {
                    self.node.report_snapshot(to, false);
                }
            }
            for a in out.applied {
                if let Outcome::Rejected(why) = &a.outcome {
                    tracing::error!(index = a.index, error = %why, "entry not applied");
                }
                if let Some(r) = self
                    .waiters
                    .remove(&a.origin.token)
                    .filter(|_| a.origin.node == my_id)
                {
                    let _ = r.send(Ok(Committed {
                        index: a.index,
                        outcome: a.outcome,
                    }));
                }
            }
            if !out.changes.prefixes.is_empty()
                || !out.changes.sessions.is_empty()
                || out.changes.resync
                || out.changes.authority
            {
                // No receivers is fine: nothing exports.
                let _ = self.changes.send(Arc::new(out.changes));
            }
            for (ctx, index) in out.read_states {
                if let Some(r) = self.reads.remove(&ctx) {
                    let _ = r.send(index);
                }
            }
            // Callers of dropped reads gave up and retried.
            self.reads.retain(|_, r| !r.is_closed());
            let removed_now: Vec<(u64, u64)> = self
                .node
                .state()
                .removed()
                .iter()
                .filter(|(_, at)| out.conf_changes.contains(at))
                .map(|(id, at)| (*id, *at))
                .collect();
            for (id, at) in removed_now {
                if id == my_id {
                    self.mark_removed(at, "it applied its own removal".into());
                } else if self.node.is_leader()
                    && let Some(addr) = book.get(&id)
                {
                    // It may never hear of it otherwise (a learner never
                    // campaigns): tell it once.
                    self.transport.farewell(id, addr.clone(), at);
                }
            }
            if let Some(&last) = out.conf_changes.last() {
                // Conf changes apply in order; answer every waiter whose
                // change is at or below the last one applied.
                let (done, pending): (Vec<_>, Vec<_>) =
                    self.conf_waiters.drain(..).partition(|(at, _)| *at < last);
                self.conf_waiters = pending;
                for (_, r) in done {
                    let _ = r.send(Ok(last));
                }
                self.transport.retain(&self.members(), &self.node.status());
            }
            self.answer_lost_waiters();
            match self.node.promote_caught_up_learners(PROMOTE_LAG) {
                Ok(Some(id)) => {
                    tracing::info!(node = id, "learner caught up: proposing it as a voter")
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot promote a learner"),
            }
            self.publish_status();
        }
        tracing::info!("raft thread stopped");
        Ok(())
    }

    /// Proposals in flight when the term or the leader changed may or may
    /// not commit; their callers get a clear answer rather than a timeout,
    /// and retry with the same request id.
    fn answer_lost_waiters(&mut self) {
        let seen = (self.node.term(), self.node.leader_id());
        if seen == self.leader_seen {
            return;
        }
        self.leader_seen = seen;
        let lost = self.not_leader();
        for (_, r) in self.waiters.drain() {
            let _ = r.send(Err(lost.clone()));
        }
    }

    fn publish_status(&mut self) {
        let st = self.node.status();
        // raft-rs logs its internals at DEBUG; role changes belong at INFO.
        let seen = (st.role, st.leader_id);
        if self.last_role != Some(seen) {
            use trunkline_cluster::node::Role;
            match st.role {
                Role::Leader => tracing::info!(term = st.term, "this node is the leader"),
                Role::Follower if st.leader_id != 0 => {
                    tracing::info!(
                        term = st.term,
                        leader = st.leader_id,
                        "following node {}",
                        st.leader_id
                    )
                }
                _ => tracing::debug!(term = st.term, role = ?st.role, "no leader known"),
            }
            self.last_role = Some(seen);
        }
        self.metrics.observe_raft(&st, &self.node.view().load());
        self.status.send_replace(StoreStatus {
            raft: st,
            members: self.members(),
            removed_members: self.node.state().removed().clone(),
            removed: self.removed.clone(),
        });
    }
}
