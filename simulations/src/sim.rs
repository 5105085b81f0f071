//! The discrete-event core: a virtual clock that jumps to the next event,
//! a queue ordered by (time, sequence) so equal times keep their order,
//! seeded random streams, and a hash of everything that happened (two runs
//! of one seed must hash alike).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

/// Virtual milliseconds since the start of a run.
pub type Millis = u64;

struct Entry<E> {
    at: Millis,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    // The heap is a max-heap: the earliest entry must compare greatest.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Events of type `E` on a virtual clock.
pub struct Clock<E> {
    now: Millis,
    seq: u64,
    queue: BinaryHeap<Entry<E>>,
    log: Sha256,
    /// Events taken so far.
    pub steps: u64,
}

impl<E> std::fmt::Debug for Clock<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock")
            .field("now", &self.now)
            .field("queued", &self.queue.len())
            .field("steps", &self.steps)
            .finish()
    }
}

impl<E> Default for Clock<E> {
    fn default() -> Clock<E> {
        Clock {
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            log: Sha256::new(),
            steps: 0,
        }
    }
}

impl<E> Clock<E> {
    pub fn now(&self) -> Millis {
        self.now
    }

    /// Schedules `event` at `at` (never before now).
    pub fn at(&mut self, at: Millis, event: E) {
        self.seq += 1;
        self.queue.push(Entry {
            at: at.max(self.now),
            seq: self.seq,
            event,
        });
    }

    /// The next event, with the clock moved to its time; `None` when
    /// nothing is left before `until`.
    pub fn next(&mut self, until: Millis) -> Option<E> {
        if self.queue.peek().is_none_or(|e| e.at > until) {
            return None;
        }
        let e = self.queue.pop()?;
        self.now = e.at;
        self.steps += 1;
        Some(e.event)
    }

    /// When the next event is due.
    pub fn next_at(&self) -> Option<Millis> {
        self.queue.peek().map(|e| e.at)
    }

    /// Whether anything is queued at or before `until`.
    pub fn pending_before(&self, until: Millis) -> bool {
        self.queue.peek().is_some_and(|e| e.at <= until)
    }

    /// Adds a line to the run's log hash.
    pub fn record(&mut self, line: &str) {
        self.log.update(self.now.to_le_bytes());
        self.log.update(line.as_bytes());
        self.log.update(b"\n");
    }

    /// The log hash so far, as hex.
    pub fn log_hash(&self) -> String {
        self.log
            .clone()
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Independent seeded streams, one per purpose, so adding draws to one
/// (say, more jitter) does not shift another (the topology).
pub fn stream(seed: u64, purpose: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(purpose);
    rng
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_in_time_order_and_equal_times_in_insertion_order() {
        let mut c = Clock::default();
        c.at(5, "b");
        c.at(1, "a");
        c.at(5, "c");
        assert_eq!(c.next(10), Some("a"));
        assert_eq!(c.now(), 1);
        assert_eq!(c.next(10), Some("b"));
        assert_eq!(c.next(10), Some("c"));
        assert_eq!(c.next(10), None);
        c.at(20, "late");
        assert_eq!(c.next(10), None, "beyond the horizon");
        assert_eq!(c.next(20), Some("late"));
    }
}
