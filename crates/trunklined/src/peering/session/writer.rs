//! A session's replicated writes, applied in order by a task of their own,
//! so a slow commit slows the peer (the session reads no further while its
//! writes are backed up) rather than stopping the session or reordering
//! anything.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use trunkline_cluster::Command;
use trunkline_cluster::command::Refused;
use trunkline_core::{Attrs, PlanId, Prefix};

use super::context::Context;
use crate::store::WriteError;

/// Routes gathered into one replicated write, at most.
const WRITE_ROUTES: usize = 50_000;

/// One write of a session.
#[derive(Debug)]
pub(super) enum Write {
    Up {
        outbound: bool,
    },
    Routes {
        announce: Vec<(Prefix, Arc<Attrs>)>,
        withdraw: Vec<Prefix>,
        rejected: Vec<Refused>,
    },
    EndOfRib(PlanId),
    /// Authority statements the peer sent that verified.
    Authority(Vec<Vec<u8>>),
    Down {
        graceful: bool,
    },
    Sweep,
}

/// Merges route writes queued behind `first` into it while order cannot
/// matter: the state machine applies announcements, then withdrawals, then
/// refusals, so an announcement of a prefix already withdrawn or refused in
/// the merged write must wait for the next one. Returns the first write
/// that could not be merged, if one was taken from the queue.
fn merge(first: &mut Write, next: &mut dyn FnMut() -> Option<Write>) -> Option<Write> {
    let Write::Routes {
        announce,
        withdraw,
        rejected,
    } = first
    else {
        return None;
    };
    let mut removed: HashSet<Prefix> = withdraw
        .iter()
        .chain(rejected.iter().map(|(p, ..)| p))
        .copied()
        .collect();
    while announce.len() + withdraw.len() + rejected.len() < WRITE_ROUTES {
        match next() {
            Some(Write::Routes {
                announce: a,
                withdraw: w,
                rejected: r,
            }) if !a.iter().any(|(p, _)| removed.contains(p)) => {
                removed.extend(w.iter().copied());
                removed.extend(r.iter().map(|(p, ..)| *p));
                announce.extend(a);
                withdraw.extend(w);
                rejected.extend(r);
            }
            Some(other) => return Some(other),
            None => return None,
        }
    }
    None
}

/// Applies a session's writes in order. Consecutive route writes waiting
/// in the queue go out as one command (a full table arrives as thousands
/// of Updates; this makes it a few dozen log entries).
pub(super) async fn run<E>(
    ctx: Arc<Context>,
    peer: String,
    mut rx: mpsc::Receiver<Write>,
    failed: mpsc::Sender<E>,
    epoch_tx: watch::Sender<Option<u64>>,
) where
    E: From<WriteError> + Send + 'static,
{
    let mut next: Option<Write> = None;
    loop {
        let mut w = match next.take() {
            Some(w) => w,
            None => match rx.recv().await {
                Some(w) => w,
                None => return,
            },
        };
        next = merge(&mut w, &mut || rx.try_recv().ok());
        let epoch = *epoch_tx.borrow();
        let command = match w {
            Write::Up { outbound } => Command::SessionUp {
                peer: peer.clone(),
                node: ctx.node_id,
                outbound,
            },
            Write::Routes {
                announce,
                withdraw,
                rejected,
            } => {
                let Some(epoch) = epoch else { continue };
                Command::PeerRoutes {
                    peer: peer.clone(),
                    epoch,
                    announce,
                    withdraw,
                    rejected,
                }
            }
            Write::EndOfRib(plan) => {
                let Some(epoch) = epoch else { continue };
                Command::EndOfRib {
                    peer: peer.clone(),
                    epoch,
                    plan,
                }
            }
            Write::Down { graceful } => {
                let Some(epoch) = epoch else { continue };
                epoch_tx.send_replace(None);
                Command::SessionDown {
                    peer: peer.clone(),
                    epoch,
                    graceful,
                }
            }
            Write::Sweep => Command::SweepStale { peer: peer.clone() },
            // Not fenced by the epoch: statements count whoever brought
            // them, and the state machine keeps only known signers'.
            Write::Authority(statements) => Command::AuthorityLearn { statements },
        };
        let is_up = matches!(command, Command::SessionUp { .. });
        match ctx.store.write(String::new(), command).await {
            Ok(c) => {
                if is_up {
                    // The epoch is the log index of the SessionUp: for a
                    // retried one, the index where it first applied.
                    epoch_tx.send_replace(Some(c.effective_index()));
                }
            }
            Err(e) => {
                let _ = failed.send(E::from(e)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trunkline_core::{NextHop, Plans, Source, Validation};

    fn p(s: &str) -> Prefix {
        Plans::default().parse_prefix(s).unwrap()
    }

    fn attrs() -> Arc<Attrs> {
        Arc::new(Attrs {
            source: Source::Api,
            next_hops: vec![NextHop::new("sip:a@b", 10, 100).unwrap()],
            path: vec![],
            local_pref: 100,
            med: 0,
            communities: vec![],
            validation: Validation::NotFound,
            reject_not_found: false,
            local_from: None,
        })
    }

    fn routes(announce: &[&str], withdraw: &[&str]) -> Write {
        Write::Routes {
            announce: announce.iter().map(|s| (p(s), attrs())).collect(),
            withdraw: withdraw.iter().map(|s| p(s)).collect(),
            rejected: vec![],
        }
    }

    fn counts(w: &Write) -> (usize, usize) {
        match w {
            Write::Routes {
                announce, withdraw, ..
            } => (announce.len(), withdraw.len()),
            _ => (0, 0),
        }
    }

    /// What is queued, the merged write's (announce, withdraw) counts, and
    /// what is handed back.
    type Case = (
        &'static str,
        Vec<Write>,
        (usize, usize),
        Option<&'static str>,
    );

    #[test]
    fn queued_route_writes_merge_while_order_cannot_matter() {
        let cases: Vec<Case> = vec![
            ("nothing queued", vec![], (1, 0), None),
            (
                "independent writes merge",
                vec![routes(&["+45"], &[]), routes(&[], &["+46"])],
                (2, 1),
                None,
            ),
            (
                "a re-announcement of a withdrawn prefix waits",
                vec![routes(&[], &["+47"]), routes(&["+47"], &[])],
                (1, 1),
                Some("routes"),
            ),
            (
                "a session event stops the merge",
                vec![Write::EndOfRib(PlanId::E164), routes(&["+48"], &[])],
                (1, 0),
                Some("end-of-rib"),
            ),
        ];
        for (case, queued, want, handed_back) in cases {
            let mut first = routes(&["+44"], &[]);
            let mut queue = queued.into_iter();
            let back = merge(&mut first, &mut || queue.next());
            assert_eq!(counts(&first), want, "{case}");
            let back = back.map(|w| match w {
                Write::Routes { .. } => "routes",
                Write::EndOfRib(_) => "end-of-rib",
                _ => "other",
            });
            assert_eq!(back, handed_back, "{case}");
        }
    }
}
