//! Where data commands run. Standalone, the store is local and a command runs under one
//! lock; the Raft layer replaces this with "append to the log, wait for apply".

use crate::commands::{self, CommandSpec, Exec, Run, SessionCmd};
use crate::keyspace::Store;
use crate::protocol::Reply;
use bytes::Bytes;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

pub struct Engine {
    store: Mutex<Store>,
}

/// One data command of a batch (MULTI/EXEC runs a batch atomically).
pub struct Call {
    pub spec: &'static CommandSpec,
    pub args: Vec<Bytes>,
}

impl Engine {
    pub fn new(store: Store) -> Self {
        Engine {
            store: Mutex::new(store),
        }
    }

    /// Runs one command against `db`.
    pub fn execute(&self, db: usize, spec: &'static CommandSpec, args: &[Bytes]) -> Reply {
        let mut store = self.store.lock();
        let mut exec = Exec::new(&mut store, db, now_ms(), rand::random());
        commands::execute(spec, &mut exec, args)
    }

    /// Runs a blocking command's non-blocking form; when it finds nothing, registers
    /// `waker` on `keys` under the same lock, so no change can slip in between.
    pub fn execute_or_block(
        &self,
        db: usize,
        spec: &'static CommandSpec,
        args: &[Bytes],
        keys: &[Bytes],
        waker: &Arc<Notify>,
    ) -> Reply {
        let mut store = self.store.lock();
        let mut exec = Exec::new(&mut store, db, now_ms(), rand::random());
        let reply = commands::execute(spec, &mut exec, args);
        if matches!(reply, Reply::Nil | Reply::NilArray) {
            keys.iter()
                .for_each(|k| store.dbs[db].block_on(k, waker.clone()));
        }
        reply
    }

    /// Runs a transaction atomically, in order; `check` runs first under the same lock and
    /// can veto it (WATCH). SELECT inside it switches the db for the calls after it.
    /// Returns each data command's reply (`None` for session commands, which the session
    /// runs itself) and the db selected at the end.
    pub fn execute_batch(
        &self,
        db: usize,
        calls: &[Call],
        check: impl FnOnce(&Store, u64) -> bool,
    ) -> Option<(Vec<Option<Reply>>, usize)> {
        let mut store = self.store.lock();
        let now = now_ms();
        if !check(&store, now) {
            return None;
        }
        let mut exec = Exec::new(&mut store, db, now, rand::random());
        let replies = calls.iter().map(|c| run_in_batch(&mut exec, c)).collect();
        Some((replies, exec.db))
    }

    /// Gives `f` the store, for session bookkeeping (WATCH, blocking registration, INFO).
    pub fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut self.store.lock())
    }
}

fn run_in_batch(exec: &mut Exec, call: &Call) -> Option<Reply> {
    match call.spec.run {
        Run::Exec(_) => Some(commands::execute(call.spec, exec, &call.args)),
        Run::Session(SessionCmd::Select) => Some(match commands::parse_db_index(&call.args[1]) {
            Ok(db) => {
                exec.db = db;
                Reply::OK
            }
            Err(e) => e.into(),
        }),
        _ => None,
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
