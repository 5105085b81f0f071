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
    let mut kept: VecDeque<Arc<Changes>> = VecDeque::new();
    let take = |c: Result<Arc<Changes>, broadcast::error::RecvError>,
                kept: &mut VecDeque<Arc<Changes>>,
                floor: &mut u64| match c {
        Ok(c) if c.resync => {
            // A table replaced whole: nothing before it can be replayed.
            kept.clear();
            *floor = c.index;
            true
        }
        Ok(c) => {
            kept.push_back(c);
            if kept.len() > KEEP
                && let Some(old) = kept.pop_front()
            {
                *floor = old.index;
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
                    Since::Batches(kept.iter().filter(|c| c.index > ask.after).cloned().collect())
                };
                let _ = ask.reply.send(answer);
            }
        }
    }
}
