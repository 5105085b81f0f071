//! `trunkline watch [PREFIX]`: the routes under a prefix, then every
//! change as the node applies it, until Ctrl-C. A line per prefix: its
//! revision, the prefix and its best route (or `withdrawn`); with
//! `--sessions` also a line per neighbor as its session goes up or down;
//! `--json` prints one object a line. A Reset from the node (this watcher fell
//! behind, or the table was replaced whole) ends it with exit 1: nothing
//! is skipped silently.

use serde_json::{Value, json};
use trunkline_proto::v1 as pb;
use trunkline_proto::v1::watch_response::Event;

use crate::client::Conn;
use crate::output::{hops, path, route_json};
use crate::{Failure, Result};

/// What to watch and how.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Only this prefix and more specific ones.
    prefix: Option<String>,
    /// With --json: a progress line this often, in seconds (0: the node's
    /// default, 10 s).
    #[arg(long, default_value_t = 0)]
    progress: u32,
    /// Resume after this revision (the last one a previous watch printed):
    /// no snapshot, every change since; exit 1 if the node no longer
    /// holds them.
    #[arg(long, value_name = "REVISION")]
    after: Option<u64>,
    /// Also neighbors: each one first, then as it is added, removed, or
    /// its session goes up or down.
    #[arg(long)]
    sessions: bool,
    /// Only neighbors, no routes (implies --sessions).
    #[arg(long, conflicts_with = "prefix")]
    only_sessions: bool,
}

pub async fn run(ch: Conn, args: WatchArgs, json: bool) -> Result<()> {
    let WatchArgs {
        prefix,
        progress: progress_secs,
        after,
        sessions,
        only_sessions,
    } = args;
    let mut kinds = Vec::new();
    if !only_sessions {
        kinds.push(pb::WatchKind::Routes.into());
    }
    if sessions || only_sessions {
        kinds.push(pb::WatchKind::Sessions.into());
    }
    let mut stream = crate::routes_client(ch)
        .watch(pb::WatchRequest {
            prefix: prefix.unwrap_or_default(),
            progress_interval_ms: progress_secs.saturating_mul(1000),
            start_revision: after.unwrap_or(0),
            kinds,
        })
        .await
        .map_err(|s| crate::for_one_argument(s.into()))?
        .into_inner();
    let mut snapshot = 0u64;
    let mut neighbors = 0u64;
    let mut in_snapshot = after.is_none();
    while let Some(m) = stream.message().await? {
        let rev = m.revision;
        let Some(event) = m.event else { continue };
        match event {
            Event::Routes(r) => {
                if in_snapshot {
                    snapshot += 1;
                }
                if json {
                    line(
                        json!({"revision": rev, "type": "routes", "prefix": r.prefix,
                        "routes": r.routes.iter().map(route_json).collect::<Vec<_>>()}),
                    );
                } else {
                    say!("{rev}  {}  {}", r.prefix, best(&r.routes));
                }
            }
            Event::Session(e) => {
                let phase = match e.phase() {
                    pb::session_event::Phase::Up => "up",
                    pb::session_event::Phase::Down => "down",
                    pb::session_event::Phase::Removed => "removed",
                    pb::session_event::Phase::Unspecified => "unknown",
                };
                if in_snapshot {
                    neighbors += 1;
                }
                if json {
                    line(
                        json!({"revision": rev, "type": "session", "neighbor": e.neighbor,
                        "itad": e.itad, "phase": phase, "node": e.node, "epoch": e.epoch}),
                    );
                } else {
                    let on = match e.node {
                        0 => String::new(),
                        n => format!(" (node {n}, epoch {})", e.epoch),
                    };
                    say!("{rev}  neighbor {} {phase}{on}", e.neighbor);
                }
            }
            Event::SnapshotEnd(_) => {
                in_snapshot = false;
                if json {
                    line(
                        json!({"revision": rev, "type": "snapshot_end", "prefixes": snapshot,
                        "neighbors": neighbors}),
                    );
                } else if neighbors > 0 {
                    eprintln!(
                        "-- {snapshot} prefixes and {neighbors} neighbors at revision {rev}; changes follow"
                    );
                } else {
                    eprintln!("-- {snapshot} prefixes at revision {rev}; changes follow");
                }
            }
            Event::Progress(_) => {
                if json {
                    line(json!({"revision": rev, "type": "progress"}));
                }
            }
            Event::Reset(r) => {
                let reason = match r.reason() {
                    pb::reset::Reason::Lagged => "lagged",
                    pb::reset::Reason::Resync => "resync",
                    pb::reset::Reason::Compacted => "compacted",
                    pb::reset::Reason::Unspecified => "reset",
                };
                if json {
                    line(
                        json!({"revision": rev, "type": "reset", "reason": reason, "message": r.message}),
                    );
                }
                return Err(Failure {
                    code: 1,
                    message: format!("watch ended at revision {rev} ({reason}): {}", r.message),
                });
            }
        }
    }
    Err(Failure {
        code: crate::UNAVAILABLE,
        message: "the node ended the watch".into(),
    })
}

fn line(v: Value) {
    say!("{v}");
}

/// The best route in a line: its next hops and path.
fn best(routes: &[pb::Route]) -> String {
    match routes.first() {
        None => "withdrawn".into(),
        Some(r) => {
            let more = match routes.len() {
                1 => String::new(),
                n => format!(" (+{} more)", n - 1),
            };
            format!("{}  path {}{more}", hops(r), path(r))
        }
    }
}
