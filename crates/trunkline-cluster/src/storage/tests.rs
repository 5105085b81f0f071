//! The `raft::Storage` contract, on a real redb file.

use raft::Storage as _;

use super::*;

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        data: vec![index as u8; 10].into(),
        ..Default::default()
    }
}

fn err(e: raft::Result<impl std::fmt::Debug>) -> StorageError {
    match e {
        Err(raft::Error::Store(s)) => s,
        other => panic!("expected a storage error, got {other:?}"),
    }
}

#[test]
fn contract() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = RedbStorage::open(dir.path(), &[1]).unwrap();
    assert_eq!(s.initial_state().unwrap().conf_state.voters, [1]);
    // A new cluster starts from its bootstrap snapshot at index 1.
    assert_eq!((s.first_index().unwrap(), s.last_index().unwrap()), (2, 1));
    assert_eq!(s.term(1).unwrap(), 1);
    assert_eq!(s.snapshot_meta().index, 1);
    assert_eq!(err(s.term(0)), StorageError::Compacted);

    let es: Vec<Entry> = (2..=10).map(|i| entry(i, 1 + i / 5)).collect();
    s.persist(&es, None).unwrap();
    assert_eq!(s.last_index().unwrap(), 10);
    assert_eq!(s.term(7).unwrap(), 2);
    assert_eq!(err(s.term(11)), StorageError::Unavailable);
    let got = s
        .entries(2, 5, None, GetEntriesContext::empty(false))
        .unwrap();
    assert_eq!(got.iter().map(|e| e.index).collect::<Vec<_>>(), [2, 3, 4]);
    // At least one entry even when it exceeds the size limit.
    assert_eq!(
        s.entries(2, 5, Some(0), GetEntriesContext::empty(false))
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        err(s.entries(2, 12, None, GetEntriesContext::empty(false))),
        StorageError::Unavailable
    );

    // A conflicting append replaces the suffix.
    s.persist(&[entry(8, 5), entry(9, 5)], None).unwrap();
    assert_eq!(s.last_index().unwrap(), 9);
    assert_eq!(s.term(8).unwrap(), 5);
    assert!(
        s.persist(&[entry(12, 5)], None).is_err(),
        "gaps are refused"
    );

    // Compaction keeps the term of the compaction point.
    s.snapshot_taken(6, 2, 5).unwrap();
    assert_eq!(s.first_index().unwrap(), 6);
    assert_eq!(s.term(5).unwrap(), 2);
    assert_eq!(err(s.term(4)), StorageError::Compacted);
    assert_eq!(
        err(s.entries(5, 7, None, GetEntriesContext::empty(false))),
        StorageError::Compacted
    );

    let hs = HardState {
        term: 5,
        vote: 1,
        commit: 9,
        ..Default::default()
    };
    s.persist(&[], Some(&hs)).unwrap();
    drop(s);

    // Everything survives a reopen.
    let s = RedbStorage::open(dir.path(), &[7]).unwrap();
    assert_eq!(s.initial_state().unwrap().hard_state, hs);
    assert_eq!(s.initial_state().unwrap().conf_state.voters, [1]);
    assert_eq!((s.first_index().unwrap(), s.last_index().unwrap()), (6, 9));
    assert_eq!(s.term(5).unwrap(), 2);
    assert_eq!(s.term(9).unwrap(), 5);
    assert_eq!(s.snapshot_meta().index, 6);
}

#[test]
fn a_joining_node_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let s = RedbStorage::open(dir.path(), &[]).unwrap();
    assert!(s.initial_state().unwrap().conf_state.voters.is_empty());
    assert_eq!((s.first_index().unwrap(), s.last_index().unwrap()), (1, 0));
    assert_eq!(s.snapshot_meta().index, 0);
}
