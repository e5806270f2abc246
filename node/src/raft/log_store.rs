//! The Raft log, vote and commit index in sled, fsynced before openraft is told an append
//! is durable. openraft hands over every entry queued since the last append in one call,
//! so concurrent writes share one flush (group commit).
//!
//! The newest entries are also kept in memory ([`Tail`]): each is read back once per
//! follower it is replicated to and once more to be applied, and decoding them from sled
//! each time took about a tenth of a leader's CPU under write load.

// openraft's storage traits fix the error type (`StorageError`), large as it is.
#![allow(clippy::result_large_err)]

use super::durable::DurableDb;
use super::types::{Entry, LogId, NodeId, StorageError, TypeConfig, Vote};
use bincode::Options;
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, ErrorSubject, ErrorVerb, OptionalSend, RaftLogReader, StorageIOError};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::VecDeque;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";
const INCARNATION: &[u8] = b"incarnation";
const ENTRY_CODEC: &[u8] = b"entry_codec";

/// How entries are encoded in sled. Variable-width integers halve a group-commit entry
/// (a SET's db, lengths, time and seed took 40 of its ~80 bytes): SET -P16 on three nodes
/// went from ~213k to ~238k/s. LZ4 on top shrinks what sled writes for a batch of SETs
/// 2.5x: sled rewrites a leaf of the log with every ten appends to it, so each entry was
/// written about four times its size (63 KB per 400-write batch, now 25 KB), and a node
/// at 10,000 entries held 329 MB on disk and 348 MB resident (now 137 and 242 MB).
/// Directories whose log was written before keep their encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EntryCodec {
    Fixed,
    Varint,
    Lz4,
}

impl EntryCodec {
    const VARINT: &'static [u8] = b"varint";
    const LZ4: &'static [u8] = b"varint-lz4";

    /// The codec of the log in `meta`/`log`; an empty log takes the newest one.
    fn of(meta: &sled::Tree, log: &sled::Tree) -> anyhow::Result<Self> {
        match meta.get(ENTRY_CODEC)? {
            Some(name) if name == Self::LZ4 => Ok(EntryCodec::Lz4),
            Some(name) if name == Self::VARINT => Ok(EntryCodec::Varint),
            Some(name) => anyhow::bail!(
                "the raft log uses an entry encoding this version does not know ({})",
                String::from_utf8_lossy(&name)
            ),
            // Persisted by the first append's flush, before any entry it could describe.
            None if log.is_empty() => {
                meta.insert(ENTRY_CODEC, Self::LZ4)?;
                Ok(EntryCodec::Lz4)
            }
            None => Ok(EntryCodec::Fixed),
        }
    }

    fn encode(self, entry: &Entry) -> Vec<u8> {
        let varint = || bincode::DefaultOptions::new().serialize(entry);
        match self {
            EntryCodec::Fixed => bincode::serialize(entry),
            EntryCodec::Varint => varint(),
            EntryCodec::Lz4 => varint().map(|bytes| lz4_flex::compress_prepend_size(&bytes)),
        }
        .expect("entry serialises")
    }

    fn decode(self, bytes: &[u8]) -> Result<Entry, StorageError> {
        let varint = |bytes: &[u8]| bincode::DefaultOptions::new().deserialize(bytes);
        match self {
            EntryCodec::Fixed => bincode::deserialize(bytes),
            EntryCodec::Varint => varint(bytes),
            EntryCodec::Lz4 => lz4_flex::decompress_size_prepended(bytes)
                .map_err(|e| bincode::ErrorKind::Custom(e.to_string()).into())
                .and_then(|plain| varint(&plain)),
        }
        .map_err(|e| decode_error(ErrorSubject::Logs, e))
    }
}

/// sled's segment size for new data directories. sled writes a tree node bigger than a
/// quarter segment to a file of its own; leaves of 16 group-committed log entries passed
/// the default's 128 KiB, so node splits created and synced a file each (7% of a leader's
/// CPU under write load).
const SEGMENT_SIZE: usize = 8 << 20;

/// Opens the node's sled database. A directory made with another segment size keeps it:
/// sled refuses to open it with a different one.
pub fn open_db(dir: &std::path::Path) -> anyhow::Result<DurableDb> {
    let segment_size = existing_segment_size(dir).unwrap_or(SEGMENT_SIZE);
    let db = sled::Config::new()
        .path(dir)
        .segment_size(segment_size)
        .open()?;
    Ok(DurableDb::new(db, dir)?)
}

fn existing_segment_size(dir: &std::path::Path) -> Option<usize> {
    // The file ends in a binary checksum.
    let conf = std::fs::read(dir.join("conf")).ok()?;
    String::from_utf8_lossy(&conf)
        .lines()
        .find_map(|line| line.strip_prefix("segment_size:")?.trim().parse().ok())
}

/// Bytes of entries the in-memory tail holds at most; older entries are read from sled.
const TAIL_BYTES: usize = 32 << 20;

#[derive(Clone)]
pub struct LogStore {
    db: DurableDb,
    log: sled::Tree,
    meta: sled::Tree,
    codec: EntryCodec,
    tail: Arc<Mutex<Tail>>,
    /// Purged indexes whose entries [`delete_purged`] is to remove from sled.
    purged: std::sync::mpsc::Sender<u64>,
}

/// The newest entries of the log, contiguous by index, as they are in sled.
#[derive(Default)]
struct Tail {
    /// Each entry with its size, which for a batch is a walk over all its writes.
    entries: VecDeque<(Entry, usize)>,
    bytes: usize,
}

fn entry_bytes(entry: &Entry) -> usize {
    match &entry.payload {
        openraft::EntryPayload::Normal(request) => request.encoded_bytes() + 64,
        _ => 256,
    }
}

impl Tail {
    fn first_index(&self) -> Option<u64> {
        self.entries.front().map(|(e, _)| e.log_id.index)
    }

    fn next_index(&self) -> Option<u64> {
        self.entries.back().map(|(e, _)| e.log_id.index + 1)
    }

    fn push(&mut self, entry: Entry) {
        if self
            .next_index()
            .is_some_and(|next| next != entry.log_id.index)
        {
            self.clear();
        }
        let size = entry_bytes(&entry);
        self.bytes += size;
        self.entries.push_back((entry, size));
        while self.bytes > TAIL_BYTES && self.entries.len() > 1 {
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        if let Some((_, size)) = self.entries.pop_front() {
            self.bytes -= size;
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// Drops entries from `index` on.
    fn truncate(&mut self, index: u64) {
        while self.next_index().is_some_and(|next| next > index) {
            let (_, size) = self.entries.pop_back().expect("not empty");
            self.bytes -= size;
        }
    }

    /// Drops entries up to and including `index`.
    fn purge(&mut self, index: u64) {
        while self.first_index().is_some_and(|first| first <= index) {
            self.pop_front();
        }
    }

    /// The entries in `start..end`, when the tail holds all of them.
    fn get(&self, start: u64, end: u64) -> Option<Vec<Entry>> {
        let first = self.first_index()?;
        if start < first || end > self.next_index()? {
            return None;
        }
        let at = |index: u64| (index - first) as usize;
        Some(
            self.entries
                .range(at(start)..at(end.max(start)))
                .map(|(entry, _)| entry.clone())
                .collect(),
        )
    }
}

/// `range` as a half-open `start..end` of indexes.
fn index_bounds<RB: RangeBounds<u64>>(range: &RB) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(&i) => i,
        Bound::Excluded(&i) => i.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&i) => i.saturating_add(1),
        Bound::Excluded(&i) => i,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
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
    pub fn open(db: &DurableDb) -> anyhow::Result<Self> {
        let log = db.db().open_tree("raft_log")?;
        let meta = db.db().open_tree("raft_meta")?;
        let codec = EntryCodec::of(&meta, &log)?;
        let (purged, to_delete) = std::sync::mpsc::channel();
        let deleting = log.clone();
        std::thread::Builder::new()
            .name("raft-log-purge".into())
            .spawn(move || delete_purged(&deleting, to_delete))?;
        let store = LogStore {
            db: db.clone(),
            log,
            meta,
            codec,
            tail: Arc::default(),
            purged,
        };
        // Entries a crash left behind after their purge was recorded.
        if let Some(last) = store.get_meta::<LogId>(LAST_PURGED)? {
            let _ = store.purged.send(last.index);
        }
        Ok(store)
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
        self.db
            .flush()
            .await
            .map_err(|e| io_error(ErrorSubject::Store, ErrorVerb::Write, e))?;
        Ok(())
    }

    /// This data directory's incarnation id, made (and flushed) on first use.
    pub fn incarnation(&self) -> anyhow::Result<String> {
        if let Some(existing) = self.meta.get(INCARNATION)? {
            return Ok(String::from_utf8_lossy(&existing).into_owned());
        }
        let made = format!("{:016x}", rand::random::<u64>());
        self.meta.insert(INCARNATION, made.as_bytes())?;
        self.db.flush_blocking()?;
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
        Ok(Some(self.codec.decode(&bytes)?.log_id))
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
        let (start, end) = index_bounds(&range);
        if let Some(entries) = self.tail.lock().get(start, end) {
            return Ok(entries);
        }
        let read = |e| io_error(ErrorSubject::Logs, ErrorVerb::Read, e);
        self.log
            .range(to_index_range(&range))
            .map(|item| {
                let (_, bytes) = item.map_err(read)?;
                self.codec.decode(&bytes)
            })
            .collect()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.get_meta(LAST_PURGED)?;
        // Purged entries may still be in sled until `delete_purged` gets to them.
        let last_log_id = match (self.last_entry_id()?, last_purged_log_id) {
            (Some(last), Some(purged)) if last.index <= purged.index => Some(purged),
            (last, purged) => last.or(purged),
        };
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
        let entries: Vec<Entry> = entries.into_iter().collect();
        // One insert per entry, not a sled batch: a batch takes sled's exclusive lock and
        // cost 2-3x as much per append. Inserts persist in order, so a crash mid-append
        // leaves a prefix of the entries, which Raft allows.
        for entry in &entries {
            self.log
                .insert(index_key(entry.log_id.index), self.codec.encode(entry))
                .map_err(write)?;
        }
        self.remember(entries);
        callback.log_io_completed(self.db.flush().await);
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.tail.lock().truncate(log_id.index);
        self.remove_range(log_id.index..).await
    }

    /// Records the purge and leaves the deletion to a thread of its own: openraft 0.9
    /// purges from its core, and deleting ~9,000 group-commit entries in place held it for
    /// over a second after each snapshot, long enough for followers to depose the leader.
    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.tail.lock().purge(log_id.index);
        self.put_meta(LAST_PURGED, &log_id).await?;
        let _ = self.purged.send(log_id.index);
        Ok(())
    }
}

/// Deletes entries up to each purged index it is sent, one at a time (no sled batch, whose
/// exclusive lock would stall appends), until every store is dropped. Deletions are not
/// flushed: a crash only leaves entries that the next start deletes again.
///
/// It rests as long as it worked: deleting the ~9,000 entries behind a snapshot at full
/// speed stopped writes on every node for about half a second under load (sled rewrites
/// each leaf they shrink); at half speed the worst quarter second of a SET -P16 run kept
/// 35-65k writes/s instead of 0-3k, and the deletion still outpaces any log growth that
/// full speed kept up with.
fn delete_purged(log: &sled::Tree, purged: std::sync::mpsc::Receiver<u64>) {
    while let Ok(mut upto) = purged.recv() {
        while let Ok(later) = purged.try_recv() {
            upto = upto.max(later);
        }
        if let Err(e) = remove_resting(log, upto) {
            tracing::warn!(error = %e, "could not delete purged raft log entries");
        }
    }
}

/// Removes the entries up to `upto` a few at a time, sleeping after each few as long as
/// they took.
fn remove_resting(log: &sled::Tree, upto: u64) -> sled::Result<()> {
    const CHUNK: usize = 8;
    let keys = log
        .range(..=index_key(upto))
        .keys()
        .collect::<sled::Result<Vec<_>>>()?;
    for chunk in keys.chunks(CHUNK) {
        let started = std::time::Instant::now();
        for key in chunk {
            log.remove(key)?;
        }
        std::thread::sleep(started.elapsed());
    }
    Ok(())
}

impl LogStore {
    fn remember(&self, entries: Vec<Entry>) {
        let mut tail = self.tail.lock();
        for entry in entries {
            tail.push(entry);
        }
    }

    async fn remove_range<RB: RangeBounds<u64>>(&self, range: RB) -> Result<(), StorageError> {
        let write = |e| io_error(ErrorSubject::Logs, ErrorVerb::Write, e);
        let mut batch = sled::Batch::default();
        for key in self.log.range(to_index_range(&range)).keys() {
            batch.remove(key.map_err(write)?);
        }
        self.log.apply_batch(batch).map_err(write)?;
        self.db
            .flush()
            .await
            .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Write, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::types::Request;
    use openraft::storage::RaftLogStorageExt;
    use openraft::{CommittedLeaderId, EntryPayload};
    use rand::{Rng, SeedableRng};

    fn set_request(key: &str) -> Request {
        let args = ["SET", key, "xxx"].map(|a| bytes::Bytes::copy_from_slice(a.as_bytes()));
        Request::Command {
            db: 0,
            args: args.to_vec(),
            now_ms: 1_764_000_000_000,
            seed: 7,
        }
    }

    fn entry(term: u64, index: u64) -> Entry {
        let write = Request::Command {
            db: 0,
            args: vec![bytes::Bytes::from(format!("SET k{index} t{term}"))],
            now_ms: index,
            seed: term,
        };
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Normal(Request::Batch(vec![write].into())),
        }
    }

    fn encoded(entries: &[Entry]) -> Vec<Vec<u8>> {
        entries
            .iter()
            .map(|e| bincode::serialize(e).unwrap())
            .collect()
    }

    /// Appends, truncations and purges at random; every read through the store (served
    /// from its tail when it can) must equal a read of sled alone.
    #[tokio::test]
    async fn reads_served_from_the_tail_equal_reads_from_sled() {
        let db = temporary_db("tail");
        let mut store = LogStore::open(&db).unwrap();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let (mut first, mut next, mut term) = (1u64, 1u64, 1u64);
        for _ in 0..400 {
            match rng.gen_range(0..10) {
                0 if next > first + 1 => {
                    let at = rng.gen_range(first + 1..next);
                    store.truncate(entry(term, at).log_id).await.unwrap();
                    next = at;
                    term += 1;
                }
                1 if next > first + 1 => {
                    let upto = rng.gen_range(first..next - 1);
                    store.purge(entry(term, upto).log_id).await.unwrap();
                    first = upto + 1;
                }
                _ => {
                    let n = rng.gen_range(1..5);
                    let batch: Vec<Entry> = (next..next + n).map(|i| entry(term, i)).collect();
                    store.blocking_append(batch).await.unwrap();
                    next += n;
                }
            }
            let start = rng.gen_range(first..=next);
            let end = rng.gen_range(start..=next);
            let mut from_sled = LogStore::open(&db).unwrap();
            assert_eq!(
                encoded(&store.try_get_log_entries(start..end).await.unwrap()),
                encoded(&from_sled.try_get_log_entries(start..end).await.unwrap()),
                "entries {start}..{end} of {first}..{next}"
            );
        }
    }

    fn first_index(store: &LogStore) -> Option<u64> {
        let (key, _) = store.log.first().unwrap()?;
        Some(u64::from_be_bytes(key.as_ref().try_into().unwrap()))
    }

    /// Waits (up to 10 s) for the purge thread to leave `first` as the first entry (`None`:
    /// no entry).
    async fn wait_for_first(store: &LogStore, first: Option<u64>) {
        for _ in 0..1000 {
            if first_index(store) == first {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("first entry {:?}, expected {first:?}", first_index(store));
    }

    #[tokio::test]
    async fn purged_entries_are_deleted_in_the_background_and_again_at_the_next_open() {
        let db = temporary_db("purge");
        let mut store = LogStore::open(&db).unwrap();
        let entries: Vec<Entry> = (1..=100).map(|i| entry(1, i)).collect();
        store.blocking_append(entries.clone()).await.unwrap();
        store.purge(entry(1, 60).log_id).await.unwrap();
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id.map(|id| id.index), Some(60));
        assert_eq!(state.last_log_id.map(|id| id.index), Some(100));
        wait_for_first(&store, Some(61)).await;

        // Entries a crash left behind after the purge was recorded.
        for leftover in &entries[..60] {
            store
                .log
                .insert(
                    index_key(leftover.log_id.index),
                    store.codec.encode(leftover),
                )
                .unwrap();
        }
        let mut reopened = LogStore::open(&db).unwrap();
        wait_for_first(&reopened, Some(61)).await;

        // Purged past its last entry (a snapshot installed): the log ends at the purge
        // point even while the entries are still being deleted.
        reopened.purge(entry(1, 150).log_id).await.unwrap();
        let state = reopened.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id.map(|id| id.index), Some(150));
    }

    /// A log written in an older encoding keeps being read, and appended to, in it; a new
    /// log gets the newest one, which takes fewer bytes.
    #[tokio::test]
    async fn a_log_keeps_the_entry_encoding_it_was_written_in() {
        let varint = |e: &Entry| bincode::DefaultOptions::new().serialize(e).unwrap();
        let fixed = |e: &Entry| bincode::serialize(e).unwrap();
        keeps_its_encoding("codec-fixed", None, fixed, EntryCodec::Fixed).await;
        let marker = Some(EntryCodec::VARINT);
        keeps_its_encoding("codec-varint", marker, varint, EntryCodec::Varint).await;

        let fresh = temporary_db("codec-new");
        let mut store = LogStore::open(&fresh).unwrap();
        assert_eq!(store.codec, EntryCodec::Lz4);
        let batch = Entry {
            log_id: entry(1, 1).log_id,
            payload: EntryPayload::Normal(Request::Batch(
                (0..100)
                    .map(|i| set_request(&format!("key:{i:012}")))
                    .collect::<Vec<_>>()
                    .into(),
            )),
        };
        store.blocking_append([batch.clone()]).await.unwrap();
        let stored = store.log.get(index_key(1)).unwrap().unwrap();
        assert!(
            stored.len() * 2 < varint(&batch).len(),
            "{} bytes",
            stored.len()
        );
        store.purge(batch.log_id).await.unwrap();
        wait_for_first(&store, None).await;
        assert_eq!(LogStore::open(&fresh).unwrap().codec, EntryCodec::Lz4);
        let mut reopened = LogStore::open(&fresh).unwrap();
        reopened.blocking_append([entry(1, 2)]).await.unwrap();
        assert_eq!(
            encoded(&reopened.try_get_log_entries(2..3).await.unwrap()),
            encoded(&[entry(1, 2)])
        );
    }

    /// Writes five entries in `encode` (and the codec `marker`), then checks the store
    /// reads them as `codec` and appends a sixth in it.
    async fn keeps_its_encoding(
        test: &str,
        marker: Option<&[u8]>,
        encode: impl Fn(&Entry) -> Vec<u8>,
        codec: EntryCodec,
    ) {
        let db = temporary_db(test);
        let old: Vec<Entry> = (1..=5).map(|i| entry(1, i)).collect();
        let log = db.db().open_tree("raft_log").unwrap();
        for e in &old {
            log.insert(index_key(e.log_id.index), encode(e)).unwrap();
        }
        if let Some(marker) = marker {
            let meta = db.db().open_tree("raft_meta").unwrap();
            meta.insert(ENTRY_CODEC, marker).unwrap();
        }
        let mut store = LogStore::open(&db).unwrap();
        assert_eq!(store.codec, codec);
        store.blocking_append([entry(2, 6)]).await.unwrap();
        let mut reopened = LogStore::open(&db).unwrap();
        let mut expected = old;
        expected.push(entry(2, 6));
        assert_eq!(
            encoded(&reopened.try_get_log_entries(1..7).await.unwrap()),
            encoded(&expected)
        );
    }

    #[test]
    fn a_directory_made_with_the_default_segment_size_still_opens() {
        let base = tempfile_dir("segments");
        let dir = base.join("old");
        drop(sled::open(&dir).unwrap());
        let db = open_db(&dir).expect("opens with its own segment size");
        drop(db);
        assert_eq!(existing_segment_size(&dir), Some(512 * 1024));
        let new = base.join("new");
        drop(open_db(&new).unwrap());
        assert_eq!(existing_segment_size(&new), Some(SEGMENT_SIZE));
        std::fs::remove_dir_all(base).unwrap();
    }

    fn temporary_db(test: &str) -> DurableDb {
        let dir = tempfile_dir(test);
        let db = sled::Config::new()
            .path(&dir)
            .temporary(true)
            .open()
            .unwrap();
        DurableDb::new(db, &dir).unwrap()
    }

    fn tempfile_dir(test: &str) -> std::path::PathBuf {
        let name = format!("tinyredis-log-store-{test}-{}", std::process::id());
        std::env::temp_dir().join(name)
    }
}
