//! Active expiry on a replicated node. Only the leader looks for expired keys, and it
//! deletes them by proposing an `Expire` entry, as a Redis master sends DEL to replicas:
//! every replica then deletes the same keys at the same logged time.

use super::{RaftNode, Request};
use crate::engine::now_ms;
use crate::expiry::{chunk_slots, find_expired};
use crate::keyspace::NUM_DBS;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::debug;

/// How often the leader looks (Redis's `hz` 10).
const PERIOD: Duration = Duration::from_millis(100);
/// Most keys one entry deletes, so one entry stays small.
const MAX_KEYS_PER_ENTRY: usize = 1000;

/// Runs until `stop` turns true.
pub async fn run(node: Arc<RaftNode>, mut stop: watch::Receiver<bool>) {
    let mut cursors = [0u64; NUM_DBS];
    let mut ticks = tokio::time::interval(PERIOD);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        if !node.is_leader() {
            continue;
        }
        let now = now_ms();
        let keys = collect_expired(&node, &mut cursors, now);
        if keys.is_empty() {
            continue;
        }
        let count = keys.len();
        match node.write(Request::Expire { keys, now_ms: now }).await {
            Ok(_) => debug!(count, "expired keys deleted through the log"),
            Err(e) => debug!(count, error = ?e, "could not propose expired keys"),
        }
    }
}

/// One chunk of every db's walk, up to `MAX_KEYS_PER_ENTRY` keys in all.
fn collect_expired(node: &RaftNode, cursors: &mut [u64; NUM_DBS], now: u64) -> Vec<(usize, Bytes)> {
    let store = node.applied.store.lock();
    let mut keys = Vec::new();
    for (db, cursor) in cursors.iter_mut().enumerate() {
        let target = &store.dbs[db];
        if target.volatile_len() == 0 || keys.len() >= MAX_KEYS_PER_ENTRY {
            continue;
        }
        let found = find_expired(target, now, *cursor, chunk_slots(target));
        *cursor = found.next_cursor;
        let room = MAX_KEYS_PER_ENTRY - keys.len();
        keys.extend(found.keys.into_iter().take(room).map(|k| (db, k)));
    }
    keys
}
