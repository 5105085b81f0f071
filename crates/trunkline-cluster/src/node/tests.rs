//! A single-voter node on a real store: propose, commit, apply, restart,
//! snapshot and compact.

use std::sync::Arc;

use trunkline_core::{Attrs, NextHop, Prefix, Source, Validation};

use super::*;
use crate::command::Command;
use crate::state::Outcome;

fn logger() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

fn attrs(uri: &str) -> Arc<Attrs> {
    Arc::new(Attrs {
        source: Source::Api,
        next_hops: vec![NextHop::new(uri, 10, 100).unwrap()],
        path: vec![],
        local_pref: 100,
        med: 0,
        communities: vec![],
        validation: Validation::NotFound,
        reject_not_found: false,
        local_from: None,
    })
}

fn prefix(s: &str) -> Prefix {
    Plans::default().parse_prefix(s).unwrap()
}

fn open(dir: &Path, snapshot_entries: u64) -> RaftNode {
    let cfg = NodeConfig {
        snapshot_entries,
        trailing_entries: 2,
        ..NodeConfig::single(1)
    };
    let mut n = RaftNode::open(dir, cfg, Plans::default(), &logger()).unwrap();
    run(&mut n);
    assert!(n.is_leader());
    n
}

fn run(n: &mut RaftNode) -> Vec<Applied> {
    let mut applied = Vec::new();
    for _ in 0..10 {
        let out = n.handle_ready().unwrap();
        assert!(out.messages.is_empty(), "a single voter sends nothing");
        applied.extend(out.applied);
    }
    applied
}

fn announce(n: &mut RaftNode, p: &str, uri: &str, id: &str) -> Outcome {
    let origin = n.origin();
    n.propose(&[Proposal {
        origin,
        request_id: id.to_owned(),
        command: Command::Announce(vec![(prefix(p), attrs(uri))]),
    }])
    .unwrap();
    let applied = run(n);
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].origin, origin);
    applied[0].outcome.clone()
}

fn uri_at(n: &RaftNode, p: &str) -> Option<String> {
    let view = n.view().load_full();
    view.table
        .get(&prefix(p))
        .map(|s| s[0].attrs.next_hops[0].uri.clone())
}

#[test]
fn commits_applies_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = open(dir.path(), 1_000);
    assert_eq!(
        announce(&mut n, "+1555123", "sip:a@x", "r1"),
        Outcome::Applied { changed: 1 }
    );
    assert_eq!(uri_at(&n, "+1555123").as_deref(), Some("sip:a@x"));
    // A retried request id applies once.
    let dup = announce(&mut n, "+1555123", "sip:b@x", "r1");
    assert!(
        matches!(dup, Outcome::Duplicate { changed: 1, .. }),
        "{dup:?}"
    );
    assert_eq!(uri_at(&n, "+1555123").as_deref(), Some("sip:a@x"));
    let applied = n.state().applied_index();
    drop(n);

    let n = open(dir.path(), 1_000);
    assert_eq!(uri_at(&n, "+1555123").as_deref(), Some("sip:a@x"));
    assert!(n.state().applied_index() >= applied);
}

#[test]
fn snapshots_compact_the_log_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = open(dir.path(), 5);
    for i in 0..12 {
        announce(&mut n, &format!("+1555{i:03}"), &format!("sip:{i}@x"), "");
    }
    let st = n.status();
    assert!(st.snapshot_index >= 10, "{st:?}");
    assert!(st.first_index > 1, "log was compacted: {st:?}");
    // Exactly one snapshot file is kept.
    let snaps = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("snapshot-")
        })
        .count();
    assert_eq!(snaps, 1);
    drop(n);

    let mut n = open(dir.path(), 5);
    for i in 0..12 {
        assert_eq!(
            uri_at(&n, &format!("+1555{i:03}")),
            Some(format!("sip:{i}@x"))
        );
    }
    // Dedupe ids live in the snapshot too.
    announce(&mut n, "+1666", "sip:z@x", "late");
    drop(n);
    let mut n = open(dir.path(), 5);
    assert!(matches!(
        announce(&mut n, "+1666", "sip:y@x", "late"),
        Outcome::Duplicate { .. }
    ));
}
