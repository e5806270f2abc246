//! One database (`SELECT n`) and the store of all sixteen.

use super::{Dict, Key, Typed, Value};
use crate::commands::CommandError;
use bytes::Bytes;
use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::Arc;
use tokio::sync::Notify;

pub const NUM_DBS: usize = 16;

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry time in Unix milliseconds. Zero is kept as 1 (both long past), so
    /// the option fits in 8 bytes.
    expire_at: Option<NonZeroU64>,
    /// The db's change sequence number when this key last changed (for WATCH).
    pub version: u64,
}

impl Entry {
    pub fn new(value: Value) -> Self {
        Self::with_expiry(value, None)
    }

    pub fn with_expiry(value: Value, expire_at: Option<u64>) -> Self {
        let mut entry = Entry {
            value,
            expire_at: None,
            version: 0,
        };
        entry.set_expire_at(expire_at);
        entry
    }

    pub fn expire_at(&self) -> Option<u64> {
        self.expire_at.map(NonZeroU64::get)
    }

    pub fn set_expire_at(&mut self, expire_at: Option<u64>) {
        self.expire_at = expire_at.map(|at| NonZeroU64::new(at).unwrap_or(NonZeroU64::MIN));
    }

    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at().is_some_and(|at| at <= now_ms)
    }
}

/// Counters reported by INFO stats.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_keys: u64,
    /// Changes since start, like Redis's `server.dirty`.
    pub dirty: u64,
}

/// Deleted keys remembered for WATCH; past this many, they are forgotten at once and
/// older watches abort conservatively.
const MAX_TOMBSTONES: usize = 10_000;

#[derive(Debug, Default)]
pub struct Db {
    entries: Dict<Entry, Key>,
    /// Keys with a TTL, for INFO keyspace.
    volatile: usize,
    /// Change sequence number: bumped on every change, so WATCH can tell what changed
    /// since it looked. Part of the replicated state, so every replica decides alike.
    seq: u64,
    /// Sequence numbers of recent deletions, for keys that no longer have an entry.
    tombstones: HashMap<Bytes, u64>,
    /// Changes at or before this are no longer tracked key by key (FLUSHDB, SWAPDB, or
    /// tombstones forgotten): a watch older than it counts as changed.
    horizon: u64,
    /// Clients blocked on a key (BLPOP and friends), woken when the key changes.
    blocked: HashMap<Bytes, Vec<Arc<Notify>>>,
}

impl Db {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn volatile_len(&self) -> usize {
        self.volatile
    }

    pub fn entries(&self) -> &Dict<Entry, Key> {
        &self.entries
    }

    /// A live (unexpired) entry. Reads never delete: on a replica only the log deletes.
    pub fn get(&self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        self.entries.get(key).filter(|e| !e.is_expired(now_ms))
    }

    /// A live entry for writing; an expired one is deleted first. Marks the key modified.
    pub fn get_mut(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Entry> {
        let slot = self.live_slot(key, now_ms);
        self.touch_slot(key, slot)
    }

    /// The slot of `key`'s entry, found with one lookup; an expired entry is deleted and
    /// gives `None`.
    fn live_slot(&mut self, key: &[u8], now_ms: u64) -> Option<usize> {
        let slot = self.entries.slot_index(key)?;
        let (_, entry) = self.entries.at_slot(slot)?;
        if entry.is_expired(now_ms) {
            self.remove(key);
            return None;
        }
        Some(slot)
    }

    /// Marks `key` modified (even when it has no entry, as a write to it does) and
    /// returns its entry in `slot` stamped with the change.
    fn touch_slot(&mut self, key: &[u8], slot: Option<usize>) -> Option<&mut Entry> {
        let seq = self.touch(key);
        let entry = self.entries.value_at_mut(slot?)?;
        entry.version = seq;
        Some(entry)
    }

    /// Deletes `key` when its TTL has passed; returns whether it did.
    pub fn expire_if_due(&mut self, key: &[u8], now_ms: u64) -> bool {
        if self.entries.get(key).is_some_and(|e| e.is_expired(now_ms)) {
            self.remove(key);
            return true;
        }
        false
    }

    pub fn contains(&self, key: &[u8], now_ms: u64) -> bool {
        self.get(key, now_ms).is_some()
    }

    /// The value at `key` as `T`; `Ok(None)` when missing, WRONGTYPE when another type.
    pub fn read<T: Typed>(&self, key: &[u8], now_ms: u64) -> Result<Option<&T>, CommandError> {
        self.get(key, now_ms).map(|e| T::of(&e.value)).transpose()
    }

    pub fn write<T: Typed>(
        &mut self,
        key: &[u8],
        now_ms: u64,
    ) -> Result<Option<&mut T>, CommandError> {
        self.get_mut(key, now_ms)
            .map(|e| T::of_mut(&mut e.value))
            .transpose()
    }

    /// The value at `key` as `T`, created empty when missing.
    pub fn write_or_create<T: Typed>(
        &mut self,
        key: &[u8],
        now_ms: u64,
    ) -> Result<&mut T, CommandError> {
        let slot = match self.live_slot(key, now_ms) {
            Some(slot) => {
                // The type is checked before the key is marked modified: a refused
                // write changes nothing a WATCH could see.
                let (_, entry) = self.entries.at_slot(slot).expect("live slot");
                T::of(&entry.value)?;
                Some(slot)
            }
            None => {
                self.insert(key, Entry::new(T::default().into_value()));
                self.entries.slot_index(key)
            }
        };
        let entry = self.touch_slot(key, slot).expect("present");
        T::of_mut(&mut entry.value)
    }

    /// Reads and, if `change` decides to, writes the value at `key` as `T`, with one lookup
    /// of the key. `change` gets the value (an empty one when the key is missing) and
    /// whether the key existed, and returns its result and whether it changed the value.
    /// Only a change marks the key modified or creates it: a write that changes nothing
    /// (SADD of members already there) is invisible to WATCH, as in Redis. An existing
    /// key keeps its TTL.
    pub fn update<T: Typed, R>(
        &mut self,
        key: &[u8],
        now_ms: u64,
        change: impl FnOnce(&mut T, bool) -> Result<(R, bool), CommandError>,
    ) -> Result<R, CommandError> {
        let Some(slot) = self.live_slot(key, now_ms) else {
            let mut value = T::default();
            let (result, changed) = change(&mut value, false)?;
            if changed {
                self.insert(key, Entry::new(value.into_value()));
            }
            return Ok(result);
        };
        let entry = self.entries.value_at_mut(slot).expect("live slot");
        let (result, changed) = change(T::of_mut(&mut entry.value)?, true)?;
        if changed {
            self.touch_slot(key, Some(slot));
        }
        Ok(result)
    }

    /// Inserts or replaces the whole entry (TTL included).
    pub fn insert(&mut self, key: impl AsRef<[u8]>, mut entry: Entry) -> Option<Entry> {
        let key = key.as_ref();
        entry.version = self.touch(key);
        let gains_ttl = entry.expire_at.is_some();
        let old = self.entries.upsert(key, entry);
        self.volatile += gains_ttl as usize;
        self.volatile -= old.as_ref().is_some_and(|o| o.expire_at.is_some()) as usize;
        old
    }

    /// Sets a value, keeping no TTL (what SET does without KEEPTTL).
    pub fn set(&mut self, key: impl AsRef<[u8]>, value: Value) {
        self.insert(key, Entry::new(value));
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let old = self.entries.remove(key)?;
        let seq = self.touch(key);
        self.remember_deletion(key, seq);
        self.volatile -= old.expire_at.is_some() as usize;
        Some(old)
    }

    /// Removes a live key; returns whether it existed.
    pub fn delete(&mut self, key: &[u8], now_ms: u64) -> bool {
        let live = self.contains(key, now_ms);
        self.remove(key);
        live
    }

    /// Deletes `key` if it holds an aggregate that became empty.
    pub fn remove_if_empty(&mut self, key: &[u8]) {
        if self
            .entries
            .get(key)
            .is_some_and(|e| e.value.is_empty_aggregate())
        {
            self.remove(key);
        }
    }

    /// Sets or clears the TTL of a live key; returns false when the key is missing.
    pub fn set_expiry(&mut self, key: &[u8], expire_at: Option<u64>, now_ms: u64) -> bool {
        let Some(entry) = self.get_mut(key, now_ms) else {
            return false;
        };
        let had = entry.expire_at.is_some();
        entry.set_expire_at(expire_at);
        self.volatile = self.volatile + expire_at.is_some() as usize - had as usize;
        true
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.volatile = 0;
        self.touch_all();
    }

    fn remember_deletion(&mut self, key: &[u8], seq: u64) {
        if self.tombstones.len() >= MAX_TOMBSTONES {
            self.tombstones.clear();
            self.horizon = seq;
        }
        self.tombstones.insert(Bytes::copy_from_slice(key), seq);
    }

    /// Keys whose TTL has passed, at most `limit`, starting the walk at `cursor`.
    pub fn expired_keys(&self, now_ms: u64, cursor: u64, limit: usize) -> (Vec<Bytes>, u64) {
        let mut found = Vec::new();
        let next = self.entries.scan(cursor, limit, |k, e| {
            if e.is_expired(now_ms) {
                found.push(k.to_bytes());
            }
        });
        (found, next)
    }

    /// WATCH bookkeeping for snapshots: (seq, horizon, tombstones).
    pub(super) fn watch_state(&self) -> (u64, u64, Vec<(Bytes, u64)>) {
        let mut tombstones: Vec<_> = self
            .tombstones
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        // Sorted, so equal states give equal bytes (the map's order is per process).
        tombstones.sort_unstable();
        (self.seq, self.horizon, tombstones)
    }

    /// Replaces the contents with a snapshot's.
    pub(super) fn restore(
        &mut self,
        entries: Dict<Entry, Key>,
        seq: u64,
        horizon: u64,
        tombstones: Vec<(Bytes, u64)>,
    ) {
        self.volatile = entries
            .iter()
            .filter(|(_, e)| e.expire_at.is_some())
            .count();
        self.entries = entries;
        self.seq = seq;
        self.horizon = horizon;
        self.tombstones = tombstones.into_iter().collect();
        self.blocked
            .drain()
            .flat_map(|(_, ws)| ws)
            .for_each(|w| w.notify_one());
    }

    /// The sequence number a WATCH records now.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Whether `key` changed after sequence number `since` (or can no longer be told).
    pub fn changed_since(&self, key: &[u8], since: u64) -> bool {
        let entry_version = self.entries.get(key).map_or(0, |e| e.version);
        let deleted_at = self.tombstones.get(key).copied().unwrap_or(0);
        self.horizon > since || entry_version > since || deleted_at > since
    }

    /// Registers a client blocked on `key`; it is woken (once) on the key's next change.
    pub fn block_on(&mut self, key: &[u8], waker: Arc<Notify>) {
        self.blocked
            .entry(Bytes::copy_from_slice(key))
            .or_default()
            .push(waker);
    }

    /// Forgets a waiter that stopped waiting (woken elsewhere, timed out, disconnected).
    pub fn unblock(&mut self, key: &[u8], waker: &Arc<Notify>) {
        if let Some(waiters) = self.blocked.get_mut(key) {
            waiters.retain(|w| !Arc::ptr_eq(w, waker));
            if waiters.is_empty() {
                self.blocked.remove(key);
            }
        }
    }

    /// Marks `key` modified: returns the new sequence number and wakes blocked clients.
    fn touch(&mut self, key: &[u8]) -> u64 {
        self.seq += 1;
        // Almost always nobody is blocked: skip hashing the key then.
        if !self.blocked.is_empty() {
            if let Some(waiters) = self.blocked.remove(key) {
                waiters.iter().for_each(|w| w.notify_one());
            }
        }
        self.seq
    }

    /// Marks every key modified (FLUSHDB, SWAPDB).
    fn touch_all(&mut self) {
        self.seq += 1;
        self.horizon = self.seq;
        self.tombstones.clear();
        self.blocked
            .drain()
            .flat_map(|(_, ws)| ws)
            .for_each(|w| w.notify_one());
    }
}

/// All databases plus server-wide counters: the state a command executes against.
#[derive(Debug)]
pub struct Store {
    pub dbs: Vec<Db>,
    pub stats: Stats,
}

impl Store {
    /// SWAPDB: the databases trade contents; their watchers and blocked clients stay with
    /// the number and see the change.
    pub fn swap_dbs(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        let (lo, hi) = (a.min(b), a.max(b));
        let (left, right) = self.dbs.split_at_mut(hi);
        let (x, y) = (&mut left[lo], &mut right[0]);
        std::mem::swap(&mut x.entries, &mut y.entries);
        std::mem::swap(&mut x.volatile, &mut y.volatile);
        x.touch_all();
        y.touch_all();
    }
}

/// How many items ahead of the one run [`Store::run_prefetching`] starts loading keys into
/// the cache: their slots this far ahead, their index lines twice as far.
const PREFETCH_AHEAD: usize = 4;

impl Store {
    /// Runs `run` on each of `items` in order, loading the index lines of the keys eight
    /// items ahead into the cache and the slots of those four ahead. On a keyspace larger
    /// than the cache each lookup waits for memory twice, one miss after the other; ahead
    /// of time, the misses of many lookups overlap. `key` names an item's db and its first
    /// key, or a guess at it: prefetching something else costs a little and changes nothing.
    pub fn run_prefetching<T, R>(
        &mut self,
        items: &[T],
        key: impl Fn(&T) -> Option<(usize, &[u8])>,
        mut run: impl FnMut(&mut Store, &T) -> R,
    ) -> Vec<R> {
        let mut results = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if let Some((db, key)) = self.db_key(items.get(i + 2 * PREFETCH_AHEAD), &key) {
                db.entries().prefetch_index(key);
            }
            if let Some((db, key)) = self.db_key(items.get(i + PREFETCH_AHEAD), &key) {
                db.entries().prefetch_slot(key);
            }
            results.push(run(self, item));
        }
        results
    }

    fn db_key<'a, T>(
        &'a self,
        item: Option<&'a T>,
        key: &impl Fn(&T) -> Option<(usize, &[u8])>,
    ) -> Option<(&'a Db, &'a [u8])> {
        let (db, key) = key(item?)?;
        Some((self.dbs.get(db)?, key))
    }
}

impl Default for Store {
    fn default() -> Self {
        Store {
            dbs: (0..NUM_DBS).map(|_| Db::default()).collect(),
            stats: Stats::default(),
        }
    }
}
