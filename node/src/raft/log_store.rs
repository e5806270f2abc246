//! The Raft log, vote and commit index in sled, fsynced before openraft is told an append
//! is durable. openraft hands over every entry queued since the last append in one call,
//! so concurrent writes share one flush (group commit).

// openraft's storage traits fix the error type (`StorageError`), large as it is.
#![allow(clippy::result_large_err)]

use super::types::{Entry, LogId, NodeId, StorageError, TypeConfig, Vote};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, ErrorSubject, ErrorVerb, OptionalSend, RaftLogReader, StorageIOError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";
const INCARNATION: &[u8] = b"incarnation";

#[derive(Clone)]
pub struct LogStore {
    db: sled::Db,
    log: sled::Tree,
    meta: sled::Tree,
}

fn io_error(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
    e: impl std::error::Error + 'static,
) -> StorageError {
    StorageIOError::new(subject, verb, AnyError::new(&e)).into()
}

fn decode_error(subject: ErrorSubject<NodeId>, e: bincode::Error) -> StorageError {
    StorageIOError::new(subject, ErrorVerb::Read, AnyError::error(e.to_string())).into()
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

impl LogStore {
    pub fn open(db: &sled::Db) -> anyhow::Result<Self> {
        Ok(LogStore {
            db: db.clone(),
            log: db.open_tree("raft_log")?,
            meta: db.open_tree("raft_meta")?,
        })
    }

    /// Whether this node has any Raft state (a vote or a log): then it must not bootstrap.
    pub fn has_state(&self) -> anyhow::Result<bool> {
        Ok(self.meta.get(VOTE)?.is_some() || !self.log.is_empty())
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        let read = |e| io_error(ErrorSubject::Store, ErrorVerb::Read, e);
        match self.meta.get(key).map_err(read)? {
            Some(bytes) => bincode::deserialize(&bytes)
                .map(Some)
                .map_err(|e| decode_error(ErrorSubject::Store, e)),
            None => Ok(None),
        }
    }

    async fn put_meta<T: Serialize>(&self, key: &[u8], value: &T) -> Result<(), StorageError> {
        let write = |e| io_error(ErrorSubject::Store, ErrorVerb::Write, e);
        let bytes = bincode::serialize(value).expect("meta serialises");
        self.meta.insert(key, bytes).map_err(write)?;
        self.db.flush_async().await.map_err(write)?;
        Ok(())
    }

    /// This data directory's incarnation id, made (and flushed) on first use.
    pub fn incarnation(&self) -> anyhow::Result<String> {
        if let Some(existing) = self.meta.get(INCARNATION)? {
            return Ok(String::from_utf8_lossy(&existing).into_owned());
        }
        let made = format!("{:016x}", rand::random::<u64>());
        self.meta.insert(INCARNATION, made.as_bytes())?;
        self.db.flush()?;
        Ok(made)
    }

    /// The commit index last saved, for status reports.
    pub fn committed_index(&self) -> Option<u64> {
        self.get_meta::<Option<LogId>>(COMMITTED)
            .ok()
            .flatten()
            .flatten()
            .map(|id| id.index)
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, StorageError> {
        let read = |e| io_error(ErrorSubject::Logs, ErrorVerb::Read, e);
        let Some((_, bytes)) = self.log.last().map_err(read)? else {
            return Ok(None);
        };
        let entry: Entry =
            bincode::deserialize(&bytes).map_err(|e| decode_error(ErrorSubject::Logs, e))?;
        Ok(Some(entry.log_id))
    }
}

fn to_index_range<RB: RangeBounds<u64>>(range: &RB) -> (Bound<[u8; 8]>, Bound<[u8; 8]>) {
    let map = |b: Bound<&u64>| match b {
        Bound::Included(i) => Bound::Included(index_key(*i)),
        Bound::Excluded(i) => Bound::Excluded(index_key(*i)),
        Bound::Unbounded => Bound::Unbounded,
    };
    (map(range.start_bound()), map(range.end_bound()))
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let read = |e| io_error(ErrorSubject::Logs, ErrorVerb::Read, e);
        self.log
            .range(to_index_range(&range))
            .map(|item| {
                let (_, bytes) = item.map_err(read)?;
                bincode::deserialize(&bytes).map_err(|e| decode_error(ErrorSubject::Logs, e))
            })
            .collect()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.get_meta(LAST_PURGED)?;
        let last_log_id = self.last_entry_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.put_meta(VOTE, vote).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.get_meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Not flushed on its own: losing it only means re-applying from the snapshot.
        let bytes = bincode::serialize(&committed).expect("log id serialises");
        self.meta
            .insert(COMMITTED, bytes)
            .map_err(|e| io_error(ErrorSubject::Store, ErrorVerb::Write, e))?;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.get_meta::<Option<LogId>>(COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let write = |e| io_error(ErrorSubject::Logs, ErrorVerb::Write, e);
        let mut batch = sled::Batch::default();
        for entry in entries {
            batch.insert(
                &index_key(entry.log_id.index),
                bincode::serialize(&entry).expect("entry serialises"),
            );
        }
        self.log.apply_batch(batch).map_err(write)?;
        let flushed = self
            .db
            .flush_async()
            .await
            .map(|_| ())
            .map_err(std::io::Error::other);
        callback.log_io_completed(flushed);
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.remove_range(log_id.index..).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.put_meta(LAST_PURGED, &log_id).await?;
        self.remove_range(..=log_id.index).await
    }
}

impl LogStore {
    async fn remove_range<RB: RangeBounds<u64>>(&self, range: RB) -> Result<(), StorageError> {
        let write = |e| io_error(ErrorSubject::Logs, ErrorVerb::Write, e);
        let mut batch = sled::Batch::default();
        for key in self.log.range(to_index_range(&range)).keys() {
            batch.remove(key.map_err(write)?);
        }
        self.log.apply_batch(batch).map_err(write)?;
        self.db.flush_async().await.map_err(write)?;
        Ok(())
    }
}
