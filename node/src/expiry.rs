//! Active expiry, like Redis's `activeExpireCycle`: keys whose TTL has passed are deleted
//! even if nobody reads them again, so their memory is reclaimed.
//!
//! The work is split so a replicated node can route it through its log: `find_expired`
//! only reads (the leader runs it and proposes the keys), `delete_expired` is the
//! deterministic apply step (it deletes a key only if it is still expired at the entry's
//! time, so a key rewritten in between survives). Standalone, `run` does both locally.

use crate::engine::{now_ms, Engine};
use crate::keyspace::{Db, Store, NUM_DBS};
use crate::server::Shared;
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Redis runs the cycle `hz` (10) times a second.
const CYCLE_PERIOD: Duration = Duration::from_millis(100);
/// Redis spends at most 25% of a cycle's period on it.
const TIME_BUDGET: Duration = Duration::from_millis(25);
/// Keys with a TTL one chunk aims to look at (Redis's ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP).
const SAMPLE_KEYS: usize = 20;
/// Upper bound of slots one chunk walks, so one lock hold stays short when few keys
/// have a TTL.
const MAX_CHUNK_SLOTS: usize = 10_000;

/// What one chunk of the walk over a db found.
#[derive(Debug, Default)]
pub struct Found {
    /// Keys whose TTL had passed.
    pub keys: Vec<Bytes>,
    /// Keys with a TTL looked at, expired or not.
    pub volatile_seen: usize,
    /// Where the next chunk starts; 0 when the walk wrapped around.
    pub next_cursor: u64,
}

impl Found {
    /// Redis keeps sampling a db while more than 10% of the sampled keys were stale.
    pub fn worth_continuing(&self) -> bool {
        self.next_cursor != 0 && self.keys.len() * 10 > self.volatile_seen
    }
}

/// How many slots a chunk walks to meet about `SAMPLE_KEYS` keys with a TTL.
pub fn chunk_slots(db: &Db) -> usize {
    let volatile = db.volatile_len().max(1);
    (SAMPLE_KEYS * db.entries().slot_count() / volatile).clamp(SAMPLE_KEYS, MAX_CHUNK_SLOTS)
}

/// Walks `slots` slots of `db` from `cursor` and lists the keys expired at `now_ms`.
/// Reads only.
pub fn find_expired(db: &Db, now_ms: u64, cursor: u64, slots: usize) -> Found {
    let mut found = Found::default();
    found.next_cursor = db.entries().scan(cursor, slots, |key, entry| {
        if entry.expire_at().is_some() {
            found.volatile_seen += 1;
            if entry.is_expired(now_ms) {
                found.keys.push(key.to_bytes());
            }
        }
    });
    found
}

/// Deletes those of `keys` in db `db` that are still expired at `now_ms`, counting them
/// in INFO's `expired_keys`. Returns how many were deleted.
pub fn delete_expired(store: &mut Store, db: usize, keys: &[Bytes], now_ms: u64) -> usize {
    let deleted = keys
        .iter()
        .filter(|key| store.dbs[db].expire_if_due(key, now_ms))
        .count();
    store.stats.expired_keys += deleted as u64;
    deleted
}

/// Where the walk of every db stands between cycles, and which db the next cycle starts
/// with (so a db that used up the time budget does not starve the ones after it).
#[derive(Debug, Clone)]
pub struct ExpiryState {
    cursors: [u64; NUM_DBS],
    next_db: usize,
}

impl Default for ExpiryState {
    fn default() -> Self {
        ExpiryState {
            cursors: [0; NUM_DBS],
            next_db: 0,
        }
    }
}

/// One standalone cycle: per db, chunks (each under one short lock) until a chunk finds
/// few expired keys, the walk wraps, or the time budget is spent.
pub fn cycle(engine: &Engine, state: &mut ExpiryState) {
    let started = Instant::now();
    for i in 0..NUM_DBS {
        let db = (state.next_db + i) % NUM_DBS;
        while sweep_chunk(engine, state, db) {
            if started.elapsed() >= TIME_BUDGET {
                state.next_db = db;
                return;
            }
        }
    }
    state.next_db = 0;
}

/// Finds and deletes one chunk's expired keys in `db`; returns whether to go on.
fn sweep_chunk(engine: &Engine, state: &mut ExpiryState, db: usize) -> bool {
    engine.with_store(|store| {
        let target = &store.dbs[db];
        if target.volatile_len() == 0 {
            return false;
        }
        let now = now_ms();
        let found = find_expired(target, now, state.cursors[db], chunk_slots(target));
        state.cursors[db] = found.next_cursor;
        delete_expired(store, db, &found.keys, now);
        found.worth_continuing()
    })
}

/// The standalone background task: a cycle every `CYCLE_PERIOD` until `stop` turns true.
pub async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut state = ExpiryState::default();
    let mut ticks = tokio::time::interval(CYCLE_PERIOD);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = ticks.tick() => cycle(&shared.engine, &mut state),
            _ = stop.changed() => {
                if *stop.borrow() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::{Entry, Str, Value};

    fn store_with(keys: usize, expire_at: Option<u64>) -> Store {
        let mut store = Store::default();
        for i in 0..keys {
            let entry = Entry::with_expiry(Value::Str(Str::from(&b"v"[..])), expire_at);
            store.dbs[0].insert(Bytes::from(format!("k{i}")), entry);
        }
        store
    }

    #[test]
    fn finds_only_expired_keys_and_walks_on() {
        let mut store = store_with(10, Some(1_000));
        store.dbs[0].set(b"plain", Value::Str(Str::default()));
        let found = find_expired(&store.dbs[0], 999, 0, 100);
        assert!(found.keys.is_empty());
        assert_eq!(found.volatile_seen, 10);
        let found = find_expired(&store.dbs[0], 1_000, 0, 4);
        assert_eq!(found.keys.len(), 4);
        assert_eq!(found.next_cursor, 4);
    }

    #[test]
    fn deletes_only_what_is_still_expired() {
        let mut store = store_with(3, Some(1_000));
        let found = find_expired(&store.dbs[0], 2_000, 0, 100);
        // A key rewritten without TTL after it was found must survive.
        store.dbs[0].set(b"k1", Value::Str(Str::default()));
        assert_eq!(delete_expired(&mut store, 0, &found.keys, 2_000), 2);
        assert_eq!(store.dbs[0].len(), 1);
        assert_eq!(store.stats.expired_keys, 2);
    }

    #[test]
    fn chunks_stretch_when_few_keys_have_a_ttl() {
        let mut store = store_with(1_000, None);
        store.dbs[0].set_expiry(b"k5", Some(1), 0);
        assert_eq!(chunk_slots(&store.dbs[0]), MAX_CHUNK_SLOTS);
        let store = store_with(1_000, Some(1));
        assert_eq!(chunk_slots(&store.dbs[0]), SAMPLE_KEYS);
    }
}
