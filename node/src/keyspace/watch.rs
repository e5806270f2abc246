//! WATCH: a key as a client saw it, and the rule that decides whether EXEC must abort.

use super::Store;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A watched key. Travels inside a transaction's log entry, so every replica judges it
/// against the same state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Watch {
    pub db: usize,
    pub key: Bytes,
    /// The db's change sequence number at WATCH: any later change of the key aborts EXEC.
    pub since: u64,
    /// Whether the key was live then: a watched key that expires since counts as changed.
    pub existed: bool,
}

impl Watch {
    /// Records `key` in `db` as it is now.
    pub fn now(store: &Store, db: usize, key: Bytes, now_ms: u64) -> Watch {
        let d = &store.dbs[db];
        Watch {
            db,
            since: d.seq(),
            existed: d.contains(&key, now_ms),
            key,
        }
    }

    /// Whether EXEC must abort because of this key, judged on the state at EXEC.
    pub fn is_dirty(&self, store: &Store, now_ms: u64) -> bool {
        let db = &store.dbs[self.db];
        db.changed_since(&self.key, self.since) || (self.existed && !db.contains(&self.key, now_ms))
    }
}
