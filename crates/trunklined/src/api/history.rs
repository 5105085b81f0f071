//! The recent change batches, by revision, so that a watch can resume
//! after the last revision it saw instead of starting from a snapshot.
//! One task owns them; it reads the store's change feed and answers
//! "what changed after revision R", or that R is older than what it holds
//! (compacted, in etcd's word: the watcher must start again).

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, oneshot};
use trunkline_cluster::state::Changes;

use crate::store::StoreHandle;

/// Change batches kept (a batch is an Arc: its prefixes are shared with
/// every other reader of the feed).
const KEEP: usize = 4096;

/// Prefixes the kept batches may name in all. A bulk load of a million
/// routes is not kept for replay (it was 24 bytes a route on every node):
/// a watcher that was behind it starts again from a snapshot, which sends
/// no more than a replay would.
const KEEP_PREFIXES: usize = 65_536;

/// The batches held, oldest first, and how many prefixes they name.
#[derive(Debug, Default)]
struct Kept {
    batches: VecDeque<Arc<Changes>>,
    prefixes: usize,
}

impl Kept {
    fn clear(&mut self) {
        self.batches.clear();
        self.prefixes = 0;
    }

    /// Adds a batch, dropping the oldest beyond the bounds; returns the
    /// revision of the newest one dropped (nothing after it is missing).
    fn push(&mut self, c: Arc<Changes>) -> Option<u64> {
        self.prefixes += c.prefixes.len();
        self.batches.push_back(c);
        let mut dropped = None;
        while self.batches.len() > KEEP || self.prefixes > KEEP_PREFIXES {
            let Some(old) = self.batches.pop_front() else {
                break;
            };
            self.prefixes -= old.prefixes.len();
            dropped = Some(old.index);
        }
        dropped
    }
}

/// What changed after a revision.
#[derive(Debug)]
pub enum Since {
    /// Every batch after it, in order.
    Batches(Vec<Arc<Changes>>),
    /// Not all of them are held: the oldest revision one can resume from.
    Compacted(u64),
}

struct Ask {
    after: u64,
    reply: oneshot::Sender<Since>,
}

#[derive(Debug, Clone)]
pub struct History {
    asks: mpsc::Sender<Ask>,
}

impl History {
    /// Starts the task; it ends with the store's change feed (at shutdown)
    /// or when every `History` handle is gone.
    pub fn start(store: &StoreHandle) -> History {
        let feed = store.subscribe_changes();
        // What was applied before is not held.
        let floor = store.view().load().applied_index;
        let (asks, rx) = mpsc::channel(64);
        tokio::spawn(run(store.clone(), feed, floor, rx));
        History { asks }
    }

    /// The batches after revision `after`. Ask after subscribing to the
    /// feed: every batch is then in the answer, in the feed, or both.
    pub async fn since(&self, after: u64) -> Option<Since> {
        let (reply, rx) = oneshot::channel();
        self.asks.send(Ask { after, reply }).await.ok()?;
        rx.await.ok()
    }
}

async fn run(
    store: StoreHandle,
    mut feed: broadcast::Receiver<Arc<Changes>>,
    mut floor: u64,
    mut asks: mpsc::Receiver<Ask>,
) {
    let mut kept = Kept::default();
    let take = |c: Result<Arc<Changes>, broadcast::error::RecvError>,
                kept: &mut Kept,
                floor: &mut u64| match c {
        Ok(c) if c.resync => {
            // A table replaced whole: nothing before it can be replayed.
            kept.clear();
            *floor = c.index;
            true
        }
        Ok(c) => {
            if let Some(dropped) = kept.push(c) {
                *floor = dropped;
            }
            true
        }
        Err(broadcast::error::RecvError::Lagged(_)) => {
            kept.clear();
            *floor = store.view().load().applied_index;
            true
        }
        Err(broadcast::error::RecvError::Closed) => false,
    };
    loop {
        tokio::select! {
            c = feed.recv() => {
                if !take(c, &mut kept, &mut floor) {
                    return;
                }
            }
            ask = asks.recv() => {
                let Some(ask) = ask else { return };
                // Batches published before the asker subscribed are queued
                // here by now: take them first.
                loop {
                    match feed.try_recv() {
                        Ok(c) => { take(Ok(c), &mut kept, &mut floor); }
                        Err(broadcast::error::TryRecvError::Lagged(n)) => {
                            take(Err(broadcast::error::RecvError::Lagged(n)), &mut kept, &mut floor);
                        }
                        Err(_) => break,
                    }
                }
                let answer = if ask.after < floor {
                    Since::Compacted(floor)
                } else {
                    Since::Batches(kept.batches.iter().filter(|c| c.index > ask.after).cloned().collect())
                };
                let _ = ask.reply.send(answer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use trunkline_core::{Digits, PlanId, Prefix};

    use super::*;

    fn batch(index: u64, prefixes: usize) -> Arc<Changes> {
        Arc::new(Changes {
            prefixes: vec![
                Prefix {
                    plan: PlanId::E164,
                    digits: Digits::EMPTY,
                };
                prefixes
            ],
            index,
            ..Changes::default()
        })
    }

    /// Batches go oldest first once they are too many or name too many
    /// prefixes; the revision of the newest one gone is the floor.
    #[test]
    fn kept_batches_are_bounded_in_count_and_prefixes() {
        let mut k = Kept::default();
        assert_eq!(k.push(batch(1, 10)), None);
        assert_eq!(k.push(batch(2, KEEP_PREFIXES - 10)), None);
        assert_eq!(k.push(batch(3, 1)), Some(1));
        assert_eq!(k.prefixes, KEEP_PREFIXES - 9);
        // A batch larger than the bound is not kept either.
        assert_eq!(k.push(batch(4, KEEP_PREFIXES + 1)), Some(4));
        assert!(k.batches.is_empty());
        assert_eq!(k.prefixes, 0);
        for i in 5..5 + KEEP as u64 {
            assert_eq!(k.push(batch(i, 0)), None);
        }
        assert_eq!(k.push(batch(5 + KEEP as u64, 0)), Some(5));
        assert_eq!(k.batches.len(), KEEP);
    }
}
