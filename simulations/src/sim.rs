//! The discrete-event core: a virtual clock that jumps to the next event,
//! a queue ordered by time, equal times in the order they were queued,
//! seeded random streams, and a hash of everything that happened (two runs
//! of one seed must hash alike).

use std::collections::{BTreeMap, VecDeque};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

/// Virtual milliseconds since the start of a run.
pub type Millis = u64;

/// Events of type `E` on a virtual clock.
///
/// Times are whole milliseconds and most events fall within a few hundred
/// of now, so the queue is a calendar: one FIFO per millisecond that has
/// events (insertion order is sequence order), in a small ordered map.
/// A binary heap of every event in flight took a tenth of a full table's
/// run in its sifts.
pub struct Clock<E> {
    now: Millis,
    queue: BTreeMap<Millis, VecDeque<E>>,
    log: Sha256,
    /// Events taken so far.
    pub steps: u64,
}

impl<E> std::fmt::Debug for Clock<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock")
            .field("now", &self.now)
            .field(
                "queued",
                &self.queue.values().map(VecDeque::len).sum::<usize>(),
            )
            .field("steps", &self.steps)
            .finish()
    }
}

impl<E> Default for Clock<E> {
    fn default() -> Clock<E> {
        Clock {
            now: 0,
            queue: BTreeMap::new(),
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
        self.queue
            .entry(at.max(self.now))
            .or_default()
            .push_back(event);
    }

    /// The next event, with the clock moved to its time; `None` when
    /// nothing is left before `until`.
    pub fn next(&mut self, until: Millis) -> Option<E> {
        let mut first = self.queue.first_entry()?;
        if *first.key() > until {
            return None;
        }
        let at = *first.key();
        let event = first.get_mut().pop_front();
        if first.get().is_empty() {
            first.remove();
        }
        self.now = at;
        self.steps += 1;
        event
    }

    /// When the next event is due.
    pub fn next_at(&self) -> Option<Millis> {
        self.queue.first_key_value().map(|(&at, _)| at)
    }

    /// Whether anything is queued at or before `until`.
    pub fn pending_before(&self, until: Millis) -> bool {
        self.next_at().is_some_and(|at| at <= until)
    }

    /// Adds a line to the run's log hash (formatted straight into it: a
    /// full table records tens of millions).
    pub fn record(&mut self, line: std::fmt::Arguments<'_>) {
        use std::io::Write;
        self.log.update(self.now.to_le_bytes());
        writeln!(self.log, "{line}").expect("hashing does not fail");
    }

    /// The log hash so far, as hex.
    pub fn log_hash(&self) -> String {
        hex(&self.log)
    }

    /// A clock at `now` with nothing queued, logging on from `log`: one
    /// part of a split run (see `world::split`).
    pub(crate) fn resume(now: Millis, log: Sha256) -> Clock<E> {
        Clock {
            now,
            queue: BTreeMap::new(),
            log,
            steps: 0,
        }
    }

    /// Everything queued, in the order it would be taken.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (Millis, E)> + use<E> {
        std::mem::take(&mut self.queue)
            .into_iter()
            .flat_map(|(at, events)| events.into_iter().map(move |e| (at, e)))
    }

    /// Its log, handed back when a part of a split run ends.
    pub(crate) fn take_log(&mut self) -> Sha256 {
        std::mem::take(&mut self.log)
    }

    /// Catches up with a part of a split run that took `steps` events, the
    /// last at `now`.
    pub(crate) fn caught_up(&mut self, now: Millis, steps: u64) {
        self.now = self.now.max(now);
        self.steps += steps;
    }
}

/// A log hash so far, as hex.
pub(crate) fn hex(log: &Sha256) -> String {
    log.clone()
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
