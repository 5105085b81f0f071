//! Durable Raft storage on redb: the log, the hard state, the conf state
//! and the snapshot metadata, each write batch committed with one fsync.
//!
//! `raft::Storage` may only fail with `Compacted` or `Unavailable` (any other
//! error panics inside raft-rs), so the in-memory bounds and terms below are
//! kept exact, and I/O errors on reads are reported as `Unavailable` after
//! being logged by the caller's path (they are fatal for the node anyway).

use std::path::{Path, PathBuf};

use protobuf::Message as _;
use raft::prelude::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, StorageError};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::error::StoreError;

const LOG: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");

const HARD_STATE: &str = "hard_state";
const CONF_STATE: &str = "conf_state";
/// Index and term of the newest snapshot; the log holds entries after
/// `compacted` (which is at most the snapshot index).
const SNAPSHOT_META: &str = "snapshot_meta";
const COMPACTED: &str = "compacted";

/// Index (and term) of the snapshot a new cluster starts from.
pub const BOOTSTRAP_INDEX: u64 = 1;

/// Bytes of redb page cache: the log is written once and read back a
/// little behind, so a small cache is enough and keeps resident memory low
/// (16 MiB was 16 bytes a route at 1,000,000 routes; 4 MiB loads as fast).
const CACHE_BYTES: usize = 4 << 20;

/// The Raft log and metadata of one node.
#[derive(Debug)]
pub struct RedbStorage {
    db: Database,
    dir: PathBuf,
    /// The hard state as raft last gave it; its commit index may be ahead
    /// of the stored one (`commit_unwritten`).
    hard_state: HardState,
    /// A commit index newer than the stored hard state's: written with the
    /// next transaction, not on its own (it costs an fsync and is learned
    /// again from the leader after a restart).
    commit_unwritten: bool,
    conf_state: ConfState,
    snapshot_meta: SnapshotMetadata,
    /// Index and term of the last entry removed by compaction.
    compacted: (u64, u64),
    /// Terms of entries `compacted.0 + 1 ..= last`.
    terms: std::collections::VecDeque<u64>,
    /// Raft asked for a snapshot the stored one cannot serve (too old, or
    /// from before the receiver was a member); the node writes a new one.
    snapshot_wanted: std::cell::Cell<bool>,
}

fn encode_pair(a: u64, b: u64) -> [u8; 16] {
    let mut out = [0; 16];
    out[..8].copy_from_slice(&a.to_be_bytes());
    out[8..].copy_from_slice(&b.to_be_bytes());
    out
}

fn decode_pair(b: &[u8]) -> Result<(u64, u64), StoreError> {
    let a: [u8; 8] = b
        .get(..8)
        .and_then(|s| s.try_into().ok())
        .ok_or(StoreError::Corrupt("pair"))?;
    let c: [u8; 8] = b
        .get(8..16)
        .and_then(|s| s.try_into().ok())
        .ok_or(StoreError::Corrupt("pair"))?;
    Ok((u64::from_be_bytes(a), u64::from_be_bytes(c)))
}

impl RedbStorage {
    /// Opens (or creates) the store in `dir`. A new store starts with
    /// `initial_voters` as its configuration.
    pub fn open(dir: &Path, initial_voters: &[u64]) -> Result<RedbStorage, StoreError> {
        std::fs::create_dir_all(dir).map_err(StoreError::Io)?;
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(dir.join("raft.redb"))
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse(dir.to_owned()),
                e => e.into(),
            })?;
        let mut s = RedbStorage {
            db,
            dir: dir.to_owned(),
            hard_state: HardState::default(),
            commit_unwritten: false,
            conf_state: ConfState::default(),
            snapshot_meta: SnapshotMetadata::default(),
            compacted: (0, 0),
            terms: Default::default(),
            snapshot_wanted: std::cell::Cell::new(false),
        };
        let fresh = {
            let tx = s.db.begin_write()?;
            let fresh = {
                let meta = tx.open_table(META)?;
                meta.get(CONF_STATE)?.is_none()
            };
            tx.open_table(LOG)?;
            tx.commit()?;
            fresh
        };
        if fresh {
            let cs = ConfState {
                voters: initial_voters.to_vec(),
                ..Default::default()
            };
            let tx = s.db.begin_write()?;
            {
                let mut meta = tx.open_table(META)?;
                meta.insert(CONF_STATE, cs.write_to_bytes()?.as_slice())?;
                if !initial_voters.is_empty() {
                    // A new cluster starts from a snapshot at index 1 that
                    // holds its configuration (as TiKV bootstraps regions):
                    // a node added later has an empty log, needs entries
                    // below every member's first index, and so gets this
                    // snapshot, configuration included, from the leader.
                    let mut snap = SnapshotMetadata {
                        index: BOOTSTRAP_INDEX,
                        term: BOOTSTRAP_INDEX,
                        ..Default::default()
                    };
                    snap.set_conf_state(cs.clone());
                    meta.insert(SNAPSHOT_META, snap.write_to_bytes()?.as_slice())?;
                    meta.insert(
                        COMPACTED,
                        encode_pair(BOOTSTRAP_INDEX, BOOTSTRAP_INDEX).as_slice(),
                    )?;
                    let hs = HardState {
                        term: BOOTSTRAP_INDEX,
                        commit: BOOTSTRAP_INDEX,
                        ..Default::default()
                    };
                    meta.insert(HARD_STATE, hs.write_to_bytes()?.as_slice())?;
                }
            }
            tx.commit()?;
        }
        s.load()?;
        Ok(s)
    }

    fn load(&mut self) -> Result<(), StoreError> {
        let tx = self.db.begin_read()?;
        let meta = tx.open_table(META)?;
        if let Some(v) = meta.get(HARD_STATE)? {
            self.hard_state = HardState::parse_from_bytes(v.value())?;
        }
        if let Some(v) = meta.get(CONF_STATE)? {
            self.conf_state = ConfState::parse_from_bytes(v.value())?;
        }
        if let Some(v) = meta.get(SNAPSHOT_META)? {
            self.snapshot_meta = SnapshotMetadata::parse_from_bytes(v.value())?;
        }
        if let Some(v) = meta.get(COMPACTED)? {
            self.compacted = decode_pair(v.value())?;
        }
        let log = tx.open_table(LOG)?;
        let first = self.compacted.0 + 1;
        for (expect, item) in (first..).zip(log.range(first..)?) {
            let (k, v) = item?;
            if k.value() != expect {
                return Err(StoreError::Corrupt("gap in the log"));
            }
            let e = Entry::parse_from_bytes(v.value())?;
            self.terms.push_back(e.term);
        }
        Ok(())
    }

    /// Directory of this store (snapshots live beside the database).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    pub fn conf_state(&self) -> &ConfState {
        &self.conf_state
    }

    pub fn snapshot_meta(&self) -> &SnapshotMetadata {
        &self.snapshot_meta
    }

    fn last(&self) -> u64 {
        self.compacted.0 + self.terms.len() as u64
    }

    /// Appends entries (dropping any conflicting suffix) and sets the hard
    /// state, in one durable transaction. A hard state that only moves the
    /// commit index, with no entries, is noted instead ([`Self::note_commit`]):
    /// term and vote are what must be durable before a message goes out.
    pub fn persist(&mut self, entries: &[Entry], hs: Option<&HardState>) -> Result<(), StoreError> {
        if entries.is_empty() {
            match hs {
                None => return Ok(()),
                Some(hs) if hs.term == self.hard_state.term && hs.vote == self.hard_state.vote => {
                    self.note_commit(hs.commit);
                    return Ok(());
                }
                Some(_) => {}
            }
        }
        self.write(entries, hs)
    }

    /// Raises the commit index in memory; the next transaction stores it.
    pub fn note_commit(&mut self, commit: u64) {
        if commit > self.hard_state.commit {
            self.hard_state.commit = commit;
            self.commit_unwritten = true;
        }
    }

    /// Stores `hs` now, durably, even when only its commit index moved
    /// (before a snapshot at that index).
    pub fn persist_durably(&mut self, hs: &HardState) -> Result<(), StoreError> {
        self.write(&[], Some(hs))
    }

    fn write(&mut self, entries: &[Entry], hs: Option<&HardState>) -> Result<(), StoreError> {
        let hs = match hs {
            Some(hs) => {
                let mut hs = hs.clone();
                hs.commit = hs.commit.max(self.hard_state.commit);
                Some(hs)
            }
            None => self.commit_unwritten.then(|| self.hard_state.clone()),
        };
        let tx = self.db.begin_write()?;
        if let Some(first) = entries.first() {
            if first.index <= self.compacted.0 {
                return Err(StoreError::Corrupt("append below the compaction point"));
            }
            if first.index > self.last() + 1 {
                return Err(StoreError::Corrupt("append leaves a gap"));
            }
            let mut log = tx.open_table(LOG)?;
            if first.index <= self.last() {
                log.retain_in(first.index.., |_, _| false)?;
            }
            for e in entries {
                log.insert(e.index, e.write_to_bytes()?.as_slice())?;
            }
        }
        if let Some(hs) = &hs {
            let mut meta = tx.open_table(META)?;
            meta.insert(HARD_STATE, hs.write_to_bytes()?.as_slice())?;
        }
        tx.commit()?;
        if let Some(first) = entries.first() {
            self.terms
                .truncate((first.index - self.compacted.0 - 1) as usize);
            self.terms.extend(entries.iter().map(|e| e.term));
        }
        if let Some(hs) = hs {
            self.hard_state = hs;
            self.commit_unwritten = false;
        }
        Ok(())
    }

    /// Records the conf state after a membership change is applied.
    pub fn set_conf_state(&mut self, cs: ConfState) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            meta.insert(CONF_STATE, cs.write_to_bytes()?.as_slice())?;
        }
        tx.commit()?;
        self.conf_state = cs;
        Ok(())
    }

    /// Records that a state-machine snapshot at `index` is durable, and drops
    /// log entries up to `compact_to` (at most `index`).
    pub fn snapshot_taken(
        &mut self,
        index: u64,
        term: u64,
        compact_to: u64,
    ) -> Result<(), StoreError> {
        let compact_to = compact_to.min(index).min(self.last());
        let mut meta_msg = SnapshotMetadata {
            index,
            term,
            ..Default::default()
        };
        meta_msg.set_conf_state(self.conf_state.clone());
        let compact_term = if compact_to > self.compacted.0 {
            self.terms[(compact_to - self.compacted.0 - 1) as usize]
        } else {
            self.compacted.1
        };
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            meta.insert(SNAPSHOT_META, meta_msg.write_to_bytes()?.as_slice())?;
            if compact_to > self.compacted.0 {
                meta.insert(COMPACTED, encode_pair(compact_to, compact_term).as_slice())?;
                let mut log = tx.open_table(LOG)?;
                log.retain_in(..=compact_to, |_, _| false)?;
            }
        }
        tx.commit()?;
        if compact_to > self.compacted.0 {
            self.terms.drain(..(compact_to - self.compacted.0) as usize);
            self.compacted = (compact_to, compact_term);
        }
        self.snapshot_meta = meta_msg;
        Ok(())
    }

    /// Installs a snapshot received from the leader: the log is replaced by
    /// the snapshot's point.
    pub fn install_snapshot(&mut self, meta_msg: &SnapshotMetadata) -> Result<(), StoreError> {
        let (index, term) = (meta_msg.index, meta_msg.term);
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            meta.insert(SNAPSHOT_META, meta_msg.write_to_bytes()?.as_slice())?;
            meta.insert(COMPACTED, encode_pair(index, term).as_slice())?;
            meta.insert(
                CONF_STATE,
                meta_msg.get_conf_state().write_to_bytes()?.as_slice(),
            )?;
            let mut hs = self.hard_state.clone();
            hs.commit = hs.commit.max(index);
            hs.term = hs.term.max(term);
            meta.insert(HARD_STATE, hs.write_to_bytes()?.as_slice())?;
            let mut log = tx.open_table(LOG)?;
            log.retain(|_, _| false)?;
        }
        tx.commit()?;
        self.terms.clear();
        self.compacted = (index, term);
        self.snapshot_meta = meta_msg.clone();
        self.conf_state = meta_msg.get_conf_state().clone();
        self.hard_state.commit = self.hard_state.commit.max(index);
        self.hard_state.term = self.hard_state.term.max(term);
        Ok(())
    }

    /// Whether raft asked for a newer snapshot than the stored one (and
    /// forgets the request).
    pub fn take_snapshot_wanted(&self) -> bool {
        self.snapshot_wanted.replace(false)
    }

    /// The state-machine snapshot file for a snapshot index.
    pub fn snapshot_path(&self, index: u64) -> PathBuf {
        self.dir.join(format!("snapshot-{index:020}.bin"))
    }
}

impl raft::Storage for RedbStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState {
            hard_state: self.hard_state.clone(),
            conf_state: self.conf_state.clone(),
        })
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _ctx: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low <= self.compacted.0 {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last() + 1 {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let max = max_size.into().unwrap_or(u64::MAX);
        let read = || -> Result<Vec<Entry>, StoreError> {
            let tx = self.db.begin_read()?;
            let log = tx.open_table(LOG)?;
            let mut out = Vec::new();
            let mut size = 0u64;
            for item in log.range(low..high)? {
                let (_, v) = item?;
                size += v.value().len() as u64;
                if !out.is_empty() && size > max {
                    break;
                }
                out.push(Entry::parse_from_bytes(v.value())?);
            }
            Ok(out)
        };
        // A read error here means the disk failed under us; raft treats
        // Unavailable as fatal for this node, which is what we want.
        read().map_err(|_| raft::Error::Store(StorageError::Unavailable))
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx == self.compacted.0 {
            return Ok(self.compacted.1);
        }
        if idx < self.compacted.0 {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        self.terms
            .get((idx - self.compacted.0 - 1) as usize)
            .copied()
            .ok_or(raft::Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.compacted.0 + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last())
    }

    fn snapshot(&self, request_index: u64, to: u64) -> raft::Result<Snapshot> {
        let index = self.snapshot_meta.index;
        let cs = self.snapshot_meta.get_conf_state();
        let knows_to = cs.voters.contains(&to) || cs.learners.contains(&to);
        if index < request_index || index == 0 || !knows_to {
            self.snapshot_wanted.set(true);
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        let data = std::fs::read(self.snapshot_path(index))
            .map_err(|_| raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable))?;
        let mut snap = Snapshot {
            data: data.into(),
            ..Default::default()
        };
        snap.set_metadata(self.snapshot_meta.clone());
        Ok(snap)
    }
}

#[cfg(test)]
mod tests;
