//! Encoded UDP answers by query, for as long as the table does not change.
//!
//! An answer is a function of the query's bytes after its ID (flags,
//! question, EDNS payload size) and of the replicated state, which changes
//! only when an entry is applied. So an answer found under the same
//! applied index is the answer, with the query's ID written in. A shard
//! that sees a newer index forgets everything it holds: the change feed's
//! granularity, without a second subscriber.

use std::hash::BuildHasher;
use std::sync::Mutex;

use super::Outcome;

/// Queries longer than this are answered without the cache (a query for
/// an ENUM name with EDNS is under 100 bytes).
const MAX_QUERY: usize = 300;
const SHARDS: usize = 16;

type Map = std::collections::HashMap<Box<[u8]>, (Box<[u8]>, Outcome), foldhash::fast::FixedState>;

#[derive(Debug, Default)]
struct Shard {
    applied: u64,
    answers: Map,
}

#[derive(Debug)]
pub(super) struct AnswerCache {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    hasher: foldhash::fast::FixedState,
}

impl AnswerCache {
    /// A cache of about `entries` answers; `None` for 0 (no cache).
    pub(super) fn new(entries: usize) -> Option<AnswerCache> {
        (entries > 0).then(|| AnswerCache {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: entries.div_ceil(SHARDS),
            hasher: foldhash::fast::FixedState::default(),
        })
    }

    fn shard(&self, key: &[u8]) -> std::sync::MutexGuard<'_, Shard> {
        let i = self.hasher.hash_one(key) as usize % SHARDS;
        // A panic while holding a shard leaves a map that is still whole.
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The answer to `packet` in the state at `applied`, with its ID.
    pub(super) fn get(&self, applied: u64, packet: &[u8]) -> Option<(Vec<u8>, Outcome)> {
        let key = packet.get(2..).filter(|k| k.len() <= MAX_QUERY)?;
        let shard = self.shard(key);
        if shard.applied != applied {
            return None;
        }
        let (wire, outcome) = shard.answers.get(key)?;
        let mut answer = wire.to_vec();
        answer[..2].copy_from_slice(&packet[..2]);
        Some((answer, *outcome))
    }

    /// Keeps `answer` to `packet` in the state at `applied`.
    pub(super) fn put(&self, applied: u64, packet: &[u8], answer: &[u8], outcome: Outcome) {
        let Some(key) = packet.get(2..).filter(|k| k.len() <= MAX_QUERY) else {
            return;
        };
        if answer.len() < 12 {
            return;
        }
        let mut shard = self.shard(key);
        if applied > shard.applied {
            shard.applied = applied;
            shard.answers.clear();
        } else if applied < shard.applied {
            // Answered from an older view than the shard's: keep nothing.
            return;
        }
        if shard.answers.len() >= self.per_shard {
            // Full: start over rather than track what is least used; a
            // set of hot numbers fills it again within a few queries.
            shard.answers.clear();
        }
        shard.answers.insert(key.into(), (answer.into(), outcome));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(id: u16, name: &[u8]) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        q.extend_from_slice(name);
        q
    }

    #[test]
    fn an_answer_is_kept_per_query_and_state_and_carries_the_asking_id() {
        let c = AnswerCache::new(64).unwrap();
        let (a, b) = (query(1, b"a"), query(2, b"b"));
        let answer = query(1, b"answer-a");
        assert!(c.get(7, &a).is_none());
        c.put(7, &a, &answer, Outcome::Hit);
        let (got, outcome) = c.get(7, &query(0xbeef, b"a")).unwrap();
        assert_eq!(&got[..2], &[0xbe, 0xef], "the asker's ID");
        assert_eq!(&got[2..], &answer[2..]);
        assert_eq!(outcome, Outcome::Hit);
        assert!(c.get(7, &b).is_none(), "another question");
        assert!(c.get(8, &a).is_none(), "a newer state");
        // An answer from an older view than the shard's is not kept.
        let newer = query(1, b"answer-b");
        c.put(8, &b, &newer, Outcome::NxDomain);
        c.put(7, &b, &answer, Outcome::Hit);
        assert!(c.get(7, &b).is_none());
        let (got, outcome) = c.get(8, &b).unwrap();
        assert_eq!((&got[2..], outcome), (&newer[2..], Outcome::NxDomain));
        assert!(AnswerCache::new(0).is_none());
    }

    #[test]
    fn a_full_shard_starts_over_and_stays_bounded() {
        let c = AnswerCache::new(SHARDS).unwrap();
        for i in 0..1000u32 {
            let q = query(1, &i.to_be_bytes());
            c.put(1, &q, &q, Outcome::NxDomain);
            assert!(c.get(1, &q).is_some(), "just put");
        }
        for s in &c.shards {
            assert!(s.lock().unwrap().answers.len() <= c.per_shard);
        }
    }
}
