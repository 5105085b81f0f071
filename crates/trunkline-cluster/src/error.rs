//! Errors of the replicated store.

use thiserror::Error;

/// A storage failure. Any of these stops the node: Raft must never advance
/// past a write that did not become durable.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("I/O: {0}")]
    Io(#[source] std::io::Error),
    #[error("database: {0}")]
    Db(#[from] redb::Error),
    #[error("protobuf: {0}")]
    Protobuf(#[from] protobuf::ProtobufError),
    #[error("store is corrupt: {0}")]
    Corrupt(&'static str),
    #[error("snapshot: {0}")]
    Snapshot(#[from] crate::codec::DecodeError),
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    #[error(
        "another process is using the data directory {0} (is another trunklined, \
         or this one still stopping, running on it?)"
    )]
    InUse(std::path::PathBuf),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.into())
            }
        }
    )*};
}

from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
