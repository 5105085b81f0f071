//! The Ready loop: one `RaftNode` owns the raft-rs `RawNode`, its durable
//! storage and the state machine. The caller feeds it ticks, proposals and
//! peer messages and calls [`RaftNode::handle_ready`]; it returns messages
//! to send and the outcomes of applied proposals.
//!
//! Order inside one Ready (raft-rs `lib.rs`, "Processing the Ready State"):
//! leader messages may go out at once; a snapshot is installed first;
//! entries and hard state are made durable in one transaction; only then
//! are persisted messages released and committed entries applied. The hard
//! state's commit index is durable before anything at or below it is
//! snapshotted, so a restart never sees applied > commit.

use std::io::Write as _;
use std::path::Path;

use protobuf::Message as _;
use raft::prelude::{ConfChange, ConfChangeV2, Entry, EntryType, Message};
use raft::{RawNode, StateRole};

use crate::command::{Origin, Proposal, encode_batch};
use crate::error::StoreError;
use crate::state::{Applied, SharedView, StateMachine};
use crate::storage::RedbStorage;
use trunkline_core::Plans;

/// Tunables of one node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub id: u64,
    /// Ticks without a leader before an election.
    pub election_tick: usize,
    /// Election timeouts are drawn (by raft-rs, from its own RNG) from
    /// `[election_tick, election_tick + election_spread)`. A simulation
    /// sets 1 so timeouts are fixed and its seeded tick order decides.
    pub election_spread: usize,
    /// Ticks between leader heartbeats.
    pub heartbeat_tick: usize,
    /// Applied entries between state-machine snapshots.
    pub snapshot_entries: u64,
    /// Entries kept in the log behind a snapshot, so a slightly lagging
    /// follower catches up from the log rather than a snapshot.
    pub trailing_entries: u64,
    /// Voters of a new cluster (this node included). Empty for a node that
    /// joins an existing cluster: it waits for the leader to contact it.
    /// Ignored once the store holds a configuration.
    pub initial_voters: Vec<u64>,
    /// Ticks a follower may stay waiting for a snapshot before the leader
    /// counts the snapshot as failed and tries again (0: never). raft-rs
    /// waits for good on a snapshot report that never comes, so one lost
    /// report would otherwise cost a follower; this makes it cost a retry.
    pub snapshot_stall_ticks: u64,
    /// Trust anchors and this cluster's ITAD, for origin validation.
    pub authority: crate::state::AuthorityConfig,
}

impl NodeConfig {
    pub fn single(id: u64) -> NodeConfig {
        NodeConfig {
            id,
            election_tick: 10,
            // [T, 1.5 T) rather than raft's [T, 2 T): still spread enough
            // to avoid split votes among 3-5 nodes, and failover stays
            // near one election timeout.
            election_spread: 5,
            heartbeat_tick: 1,
            snapshot_entries: 10_000,
            trailing_entries: 1_000,
            initial_voters: vec![id],
            // A minute at the daemon's 100 ms tick: longer than any
            // transfer the transport lets run.
            snapshot_stall_ticks: 600,
            authority: Default::default(),
        }
    }
}

/// What one pass of the Ready loop produced.
#[derive(Debug, Default)]
pub struct Output {
    /// Messages for other nodes.
    pub messages: Vec<Message>,
    /// Outcomes of proposals applied in this pass, in log order.
    pub applied: Vec<Applied>,
    /// Log indexes of membership changes applied in this pass.
    pub conf_changes: Vec<u64>,
    /// Answers to read-index requests: (request, commit index to wait for).
    pub read_states: Vec<(u64, u64)>,
    /// Prefixes whose routes changed in this pass, for exporters.
    pub changes: crate::state::Changes,
}

/// Raft figures for status and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub id: u64,
    pub role: Role,
    pub term: u64,
    pub leader_id: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    pub first_index: u64,
    pub last_index: u64,
    pub snapshot_index: u64,
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    /// On the leader: each member's matched log index.
    pub progress: Vec<(u64, u64)>,
    /// On the leader: members heard from within the last election timeout
    /// (itself included). Empty on followers.
    pub live: Vec<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Role {
    #[default]
    Follower,
    Candidate,
    PreCandidate,
    Leader,
}

/// A raft-rs node with durable storage and the route state machine.
pub struct RaftNode {
    raw: RawNode<RedbStorage>,
    sm: StateMachine,
    cfg: NodeConfig,
    next_token: u64,
    last_snapshot: u64,
    /// On the leader: ticks each follower has spent waiting for a snapshot.
    snapshot_waits: std::collections::HashMap<u64, u64>,
}

impl std::fmt::Debug for RaftNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftNode").field("cfg", &self.cfg).finish()
    }
}

impl RaftNode {
    /// Opens the node's store in `dir`, restores the newest snapshot and
    /// lets raft replay the committed log after it.
    pub fn open(
        dir: &Path,
        cfg: NodeConfig,
        plans: Plans,
        logger: &slog::Logger,
    ) -> Result<RaftNode, StoreError> {
        let storage = RedbStorage::open(dir, &cfg.initial_voters)?;
        let mut sm = StateMachine::with_authority(plans, cfg.authority.clone());
        let snap_index = storage.snapshot_meta().index;
        let snap_path = storage.snapshot_path(snap_index);
        if snap_index == crate::storage::BOOTSTRAP_INDEX && !snap_path.exists() {
            // A new cluster's bootstrap snapshot: the empty state at index 1.
            sm.skip(snap_index, snap_index);
            write_file_durably(&snap_path, &sm.snapshot())?;
        } else if snap_index > 0 {
            let data = std::fs::read(&snap_path).map_err(StoreError::Io)?;
            sm.restore(&data)?;
        }
        sm.publish();
        let raft_cfg = raft::Config {
            id: cfg.id,
            election_tick: cfg.election_tick,
            heartbeat_tick: cfg.heartbeat_tick,
            min_election_tick: cfg.election_tick,
            max_election_tick: cfg.election_tick + cfg.election_spread.max(1),
            applied: sm.applied_index(),
            pre_vote: true,
            check_quorum: true,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            max_uncommitted_size: 256 << 20,
            ..Default::default()
        };
        let single = storage.conf_state().voters == [cfg.id];
        let mut raw = RawNode::new(&raft_cfg, storage, logger)?;
        if single {
            // Alone in the group: no need to wait out an election timeout.
            raw.campaign()?;
        }
        Ok(RaftNode {
            raw,
            sm,
            last_snapshot: snap_index,
            snapshot_waits: std::collections::HashMap::new(),
            cfg,
            next_token: 1,
        })
    }

    /// The handle readers load published views from.
    pub fn view(&self) -> SharedView {
        self.sm.view()
    }

    pub fn state(&self) -> &StateMachine {
        &self.sm
    }

    pub fn is_leader(&self) -> bool {
        self.raw.raft.state == StateRole::Leader
    }

    /// The leader this node knows of (0: none).
    pub fn leader_id(&self) -> u64 {
        self.raw.raft.leader_id
    }

    pub fn id(&self) -> u64 {
        self.cfg.id
    }

    /// A message to `to` could not be sent.
    pub fn report_unreachable(&mut self, to: u64) {
        self.raw.report_unreachable(to);
    }

    /// A snapshot sent to `to` arrived (or failed).
    pub fn report_snapshot(&mut self, to: u64, delivered: bool) {
        let status = if delivered {
            raft::SnapshotStatus::Finish
        } else {
            raft::SnapshotStatus::Failure
        };
        self.raw.report_snapshot(to, status);
    }

    /// Starts a linearizable read: once confirmed by a quorum, the commit
    /// index it may be served at comes back in [`Output::read_states`].
    /// Raft drops the request silently when there is no leader or the
    /// leader has not committed in its term yet; callers retry.
    pub fn read_index(&mut self, request: u64) {
        self.raw.read_index(request.to_be_bytes().to_vec());
    }

    /// Asks the leader to hand leadership to `to`.
    pub fn transfer_leader(&mut self, to: u64) {
        self.raw.transfer_leader(to);
    }

    /// A membership change is proposed and not yet applied; raft ignores
    /// another until it is (it becomes an empty entry).
    pub fn has_pending_conf(&self) -> bool {
        self.raw.raft.has_pending_conf()
    }

    /// Proposes a membership change; `context` travels with it (the new
    /// node's address, for example).
    pub fn propose_conf_change(
        &mut self,
        context: Vec<u8>,
        cc: ConfChangeV2,
    ) -> Result<(), raft::Error> {
        self.raw.propose_conf_change(context, cc)
    }

    /// On the leader, with no membership change in flight: proposes the
    /// first learner whose log is within `max_lag` entries of the leader's
    /// as a voter. Returns the learner proposed.
    pub fn promote_caught_up_learners(&mut self, max_lag: u64) -> Result<Option<u64>, raft::Error> {
        if !self.is_leader() || self.raw.raft.has_pending_conf() {
            return Ok(None);
        }
        let last = self.raw.raft.raft_log.last_index();
        let learners = self.raw.store().conf_state().learners.clone();
        let ready = learners.into_iter().find(|id| {
            self.raw
                .raft
                .prs()
                .get(*id)
                .is_some_and(|p| p.matched + max_lag >= last && p.matched > 0)
        });
        let Some(id) = ready else {
            return Ok(None);
        };
        let mut c = raft::prelude::ConfChangeSingle::default();
        c.set_change_type(raft::prelude::ConfChangeType::AddNode);
        c.node_id = id;
        let mut cc = ConfChangeV2::default();
        cc.mut_changes().push(c);
        self.raw.propose_conf_change(Vec::new(), cc)?;
        Ok(Some(id))
    }

    /// The leader's view of each peer's replication: (id, matched index).
    /// Empty on followers.
    pub fn progress(&self) -> Vec<(u64, u64)> {
        if !self.is_leader() {
            return Vec::new();
        }
        let mut v: Vec<(u64, u64)> = self
            .raw
            .raft
            .prs()
            .iter()
            .map(|(id, p)| (*id, p.matched))
            .collect();
        v.sort_unstable();
        v
    }

    /// Starts this process's proposal tokens at `token`: a daemon passes
    /// its boot time, so an entry proposed before a restart and applied
    /// after it never answers a waiter of the new process.
    pub fn start_tokens_at(&mut self, token: u64) {
        self.next_token = token.max(1);
    }

    /// A fresh origin for a proposal made on this node.
    pub fn origin(&mut self) -> Origin {
        let token = self.next_token;
        self.next_token += 1;
        Origin {
            node: self.cfg.id,
            token,
        }
    }

    /// Advances raft's logical clock by one tick.
    pub fn tick(&mut self) {
        self.raw.tick();
        self.expire_snapshots();
    }

    /// Counts the ticks each follower waits in raft's Snapshot state; past
    /// [`NodeConfig::snapshot_stall_ticks`] the snapshot counts as failed.
    fn expire_snapshots(&mut self) {
        let limit = self.cfg.snapshot_stall_ticks;
        if limit == 0 || self.raw.raft.state != StateRole::Leader {
            self.snapshot_waits.clear();
            return;
        }
        let waiting: Vec<u64> = self
            .raw
            .raft
            .prs()
            .iter()
            .filter(|(_, p)| p.state == raft::ProgressState::Snapshot)
            .map(|(id, _)| *id)
            .collect();
        self.snapshot_waits.retain(|id, _| waiting.contains(id));
        for id in waiting {
            let ticks = self.snapshot_waits.entry(id).or_insert(0);
            *ticks += 1;
            if *ticks > limit {
                self.snapshot_waits.remove(&id);
                self.raw.report_snapshot(id, raft::SnapshotStatus::Failure);
            }
        }
    }

    /// Proposes a batch of requests as one log entry.
    pub fn propose(&mut self, batch: &[Proposal]) -> Result<(), raft::Error> {
        let data = encode_batch(batch, self.sm.plans());
        self.raw.propose(Vec::new(), data)
    }

    /// Delivers a message from another node.
    pub fn step(&mut self, msg: Message) -> Result<(), raft::Error> {
        self.raw.step(msg)
    }

    pub fn term(&self) -> u64 {
        self.raw.raft.term
    }

    pub fn status(&self) -> Status {
        let r = &self.raw.raft;
        let store = self.raw.store();
        let cs = store.conf_state();
        Status {
            id: self.cfg.id,
            role: match r.state {
                StateRole::Follower => Role::Follower,
                StateRole::Candidate => Role::Candidate,
                StateRole::PreCandidate => Role::PreCandidate,
                StateRole::Leader => Role::Leader,
            },
            term: r.term,
            leader_id: r.leader_id,
            commit_index: r.raft_log.committed,
            applied_index: self.sm.applied_index(),
            first_index: raft::Storage::first_index(store).unwrap_or(0),
            last_index: raft::Storage::last_index(store).unwrap_or(0),
            snapshot_index: store.snapshot_meta().index,
            voters: cs.voters.clone(),
            learners: cs.learners.clone(),
            progress: self.progress(),
            live: if self.is_leader() {
                let mut live: Vec<u64> = r
                    .prs()
                    .iter()
                    .filter(|(id, p)| p.recent_active || **id == self.cfg.id)
                    .map(|(id, _)| *id)
                    .collect();
                live.sort_unstable();
                live
            } else {
                Vec::new()
            },
        }
    }

    /// One pass of the Ready loop. A storage error is fatal: the caller
    /// must stop the node rather than continue past an unwritten state.
    pub fn handle_ready(&mut self) -> Result<Output, StoreError> {
        let mut sent = Vec::new();
        let mut out = self.handle_ready_sending(&mut |m| sent.extend(m))?;
        sent.append(&mut out.messages);
        out.messages = sent;
        Ok(out)
    }

    /// As [`RaftNode::handle_ready`], handing messages to `send` as soon as
    /// they may go: a leader's appends before its own write (raft-rs lets
    /// the leader write in parallel with its followers), every node's
    /// acknowledgements right after the write and before applying. So a
    /// commit waits for one write, the slowest of the quorum's, not for
    /// the leader's and then the follower's in turn.
    pub fn handle_ready_sending(
        &mut self,
        send: &mut dyn FnMut(Vec<Message>),
    ) -> Result<Output, StoreError> {
        let mut out = Output::default();
        if !self.raw.has_ready() {
            return Ok(out);
        }
        let mut rd = self.raw.ready();
        send(rd.take_messages());
        for rs in rd.take_read_states() {
            if let Ok(ctx) = <[u8; 8]>::try_from(rs.request_ctx.as_slice()) {
                out.read_states.push((u64::from_be_bytes(ctx), rs.index));
            }
        }
        if !rd.snapshot().is_empty() {
            let snap = rd.snapshot().clone();
            fail::fail_point!("raft_before_apply_snapshot");
            self.sm.restore(&snap.data)?;
            write_file_durably(
                &self.raw.store().snapshot_path(snap.get_metadata().index),
                &snap.data,
            )?;
            self.raw.mut_store().install_snapshot(snap.get_metadata())?;
            self.last_snapshot = snap.get_metadata().index;
            fail::fail_point!("raft_after_apply_snapshot");
        }
        fail::fail_point!("raft_before_save");
        self.raw.mut_store().persist(rd.entries(), rd.hs())?;
        fail::fail_point!("raft_after_save");
        send(rd.take_persisted_messages());
        let committed = rd.take_committed_entries();
        self.apply(committed, &mut out)?;
        let mut light = self.raw.advance(rd);
        if let Some(commit) = light.commit_index() {
            // Not written on its own: a lost commit index is learned again
            // from the leader, and a snapshot makes it durable first.
            self.raw.mut_store().note_commit(commit);
        }
        send(light.take_messages());
        self.apply(light.take_committed_entries(), &mut out)?;
        self.raw.advance_apply();
        self.sm.publish();
        out.changes = self.sm.take_changes();
        self.maybe_snapshot()?;
        Ok(out)
    }

    fn apply(&mut self, entries: Vec<Entry>, out: &mut Output) -> Result<(), StoreError> {
        if !entries.is_empty() {
            fail::fail_point!("raft_before_apply");
        }
        for e in entries {
            match e.get_entry_type() {
                EntryType::EntryNormal => {
                    out.applied.extend(self.sm.apply(e.index, e.term, &e.data));
                }
                EntryType::EntryConfChange => {
                    let cc = ConfChange::parse_from_bytes(&e.data)?;
                    let cs = self.raw.apply_conf_change(&cc)?;
                    self.raw.mut_store().set_conf_state(cs)?;
                    self.sm.skip(e.index, e.term);
                    out.conf_changes.push(e.index);
                }
                EntryType::EntryConfChangeV2 => {
                    let cc = ConfChangeV2::parse_from_bytes(&e.data)?;
                    let cs = self.raw.apply_conf_change(&cc)?;
                    self.raw.mut_store().set_conf_state(cs)?;
                    self.sm.apply_membership(e.index, e.term, &cc, &e.context);
                    out.conf_changes.push(e.index);
                }
            }
            fail::fail_point!("raft_after_apply");
        }
        Ok(())
    }

    /// Writes a state-machine snapshot and compacts the log behind it, once
    /// enough entries were applied since the last one.
    fn maybe_snapshot(&mut self) -> Result<(), StoreError> {
        let applied = self.sm.applied_index();
        let wanted = self.raw.store().take_snapshot_wanted();
        if applied < self.last_snapshot + self.cfg.snapshot_entries && !wanted {
            return Ok(());
        }
        self.snapshot_now()
    }

    /// Writes a snapshot at the applied index now.
    pub fn snapshot_now(&mut self) -> Result<(), StoreError> {
        let (index, term) = (self.sm.applied_index(), self.sm.applied_term());
        if index == 0 || index == self.last_snapshot {
            return Ok(());
        }
        // The commit index must be durable at or above the snapshot.
        let mut hs = self.raw.store().hard_state().clone();
        hs.commit = hs.commit.max(self.raw.raft.raft_log.committed);
        self.raw.mut_store().persist_durably(&hs)?;
        let data = self.sm.snapshot();
        let store = self.raw.mut_store();
        fail::fail_point!("raft_before_save_snapshot");
        write_file_durably(&store.snapshot_path(index), &data)?;
        fail::fail_point!("raft_after_save_snapshot");
        store.snapshot_taken(index, term, index.saturating_sub(self.cfg.trailing_entries))?;
        let old = std::mem::replace(&mut self.last_snapshot, index);
        if old > 0 {
            let _ = std::fs::remove_file(store.snapshot_path(old));
        }
        Ok(())
    }
}

/// Write to a temporary file, fsync, rename into place, fsync the directory.
fn write_file_durably(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension("tmp");
    let io = |r: std::io::Result<()>| r.map_err(StoreError::Io);
    let mut f = std::fs::File::create(&tmp).map_err(StoreError::Io)?;
    io(f.write_all(data))?;
    io(f.sync_all())?;
    io(std::fs::rename(&tmp, path))?;
    if let Some(dir) = path.parent() {
        io(std::fs::File::open(dir).and_then(|d| d.sync_all()))?;
    }
    Ok(())
}

#[cfg(test)]
mod chaos_tests;
#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;
