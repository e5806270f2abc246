//! Where data commands run. Every change is a `Request` applied by `apply_request`:
//! standalone, right here under the store's lock; replicated, through the Raft log, so
//! the same code decides the outcome on every replica.

use crate::commands::{self, CommandSpec, Exec, Run, SessionCmd};
use crate::keyspace::{Store, Watch};
use crate::protocol::Reply;
use crate::raft::{apply_request, RaftNode, Request, Response};
use bytes::Bytes;
use parking_lot::{Mutex, MutexGuard};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

pub struct Engine {
    store: Arc<Mutex<Store>>,
    raft: Option<Arc<RaftNode>>,
}

/// How a client's commands are served on a replicated node.
#[derive(Debug, Clone, Copy, Default)]
pub struct Serving {
    /// Reads may be stale (READONLY on a replica).
    pub stale_ok: bool,
    /// The client speaks RESP3. A command forwarded to the leader is asked in the same
    /// protocol, so its reply keeps the shape the client expects.
    pub resp3: bool,
}

/// One command of a transaction.
pub struct Call {
    pub spec: &'static CommandSpec,
    pub args: Vec<Bytes>,
}

impl Call {
    /// Resolves logged arguments; `None` for a command this binary does not know.
    pub fn resolve(args: Vec<Bytes>) -> Option<Call> {
        let spec = commands::resolve(&args).ok()?;
        Some(Call { spec, args })
    }
}

impl Engine {
    pub fn new(store: Arc<Mutex<Store>>, raft: Option<Arc<RaftNode>>) -> Self {
        Engine { store, raft }
    }

    pub fn raft(&self) -> Option<&Arc<RaftNode>> {
        self.raft.as_ref()
    }

    /// Runs one data command. Writes go through the log; reads wait for a linearizable
    /// read point unless the client accepts stale reads (READONLY on a replica).
    pub async fn execute(
        &self,
        db: usize,
        spec: &'static CommandSpec,
        args: &[Bytes],
        serving: Serving,
    ) -> Reply {
        if self.raft.is_none() {
            return self.run_locally(db, spec, args);
        }
        let call = Call {
            spec,
            args: args.to_vec(),
        };
        let mut replies = self.execute_pipeline(db, vec![call], serving).await;
        replies.pop().expect("one reply per call")
    }

    /// Runs one client's pipelined data commands in order, sharing what neighbours can
    /// share on a replicated node: adjacent writes are proposed together (one log append
    /// and fsync per node) and adjacent reads wait for one read point.
    pub async fn execute_pipeline(
        &self,
        db: usize,
        mut calls: Vec<Call>,
        serving: Serving,
    ) -> Vec<Reply> {
        let Some(raft) = &self.raft else {
            return self.run_all_locally(db, &calls);
        };
        let mut replies = Vec::with_capacity(calls.len());
        for run in calls.chunk_by_mut(|a, b| a.spec.is_write() == b.spec.is_write()) {
            if run[0].spec.is_write() {
                replies.extend(self.write_run(raft, serving, db, run).await);
            } else {
                replies.extend(self.read_run(raft, serving, db, run).await);
            }
        }
        replies
    }

    async fn write_run(
        &self,
        raft: &RaftNode,
        serving: Serving,
        db: usize,
        run: &mut [Call],
    ) -> Vec<Reply> {
        let now = now_ms();
        // Arguments are moved into the log, not copied, unless a refused write may be
        // forwarded to the leader; without `--forward-to-leader`, `forward_or` never
        // reads them. Copying allocated the list and, to share each argument, a header
        // per argument: four allocations for a SET.
        let forwards = raft.forwards();
        let requests = run
            .iter_mut()
            .map(|call| Request::Command {
                db,
                args: if forwards {
                    call.args.clone()
                } else {
                    std::mem::take(&mut call.args)
                },
                now_ms: now,
                seed: rand::random(),
            })
            .collect();
        let mut replies = Vec::with_capacity(run.len());
        for (call, result) in run.iter().zip(raft.write_all(requests).await) {
            replies.push(match result {
                Ok(Response::Reply(reply)) => reply,
                Ok(_) => Reply::error("ERR internal: unexpected response to a command"),
                Err(e) => raft.forward_or(e, call.spec, serving, db, &call.args).await,
            });
        }
        replies
    }

    async fn read_run(
        &self,
        raft: &RaftNode,
        serving: Serving,
        db: usize,
        run: &[Call],
    ) -> Vec<Reply> {
        if !serving.stale_ok {
            if let Err(e) = raft.linearize().await {
                let mut replies = Vec::with_capacity(run.len());
                for call in run {
                    let (spec, args) = (call.spec, &call.args);
                    replies.push(raft.forward_or(e.clone(), spec, serving, db, args).await);
                }
                return replies;
            }
        }
        self.run_all_locally(db, run)
    }

    /// Runs `calls` on this node's store under one lock, at one reading of the clock.
    fn run_all_locally(&self, db: usize, calls: &[Call]) -> Vec<Reply> {
        let now = now_ms();
        self.store.lock().run_prefetching(
            calls,
            |call| Some((db, call.args.get(1)?)),
            |store, call| run_local(store, db, call.spec, &call.args, now),
        )
    }

    fn run_locally(&self, db: usize, spec: &'static CommandSpec, args: &[Bytes]) -> Reply {
        run_local(&mut self.store.lock(), db, spec, args, now_ms())
    }

    /// The store, locked, when this node runs data commands right here (standalone):
    /// a session runs a batch of pipelined commands under one lock with [`run_local`].
    pub fn local_store(&self) -> Option<MutexGuard<'_, Store>> {
        self.raft.is_none().then(|| self.store.lock())
    }

    /// Applies a request: locally when standalone, through the log when replicated (the
    /// leader's, with `--forward-to-leader` on a follower).
    async fn submit(&self, request: Request) -> Result<Response, Reply> {
        match &self.raft {
            Some(raft) => raft.write_or_forward(request).await,
            None => Ok(apply_request(&mut self.store.lock(), &request)),
        }
    }

    /// One attempt of a blocking command. `waker` is registered on `keys` before the
    /// attempt runs, so a push that lands right after an empty attempt still wakes us;
    /// it is unregistered when the attempt found something.
    pub async fn blocking_attempt(
        &self,
        db: usize,
        spec: &'static CommandSpec,
        args: &[Bytes],
        keys: &[Bytes],
        waker: &Arc<Notify>,
    ) -> Reply {
        self.block(db, keys, waker);
        // A write, never forwarded on its own: a session forwards the whole command.
        let reply = self.execute(db, spec, args, Serving::default()).await;
        if !matches!(reply, Reply::Nil | Reply::NilArray) {
            self.unblock(db, keys, waker);
        }
        reply
    }

    /// Registers `waker` to be woken when any of `keys` changes.
    pub fn block(&self, db: usize, keys: &[Bytes], waker: &Arc<Notify>) {
        self.with_store(|store| {
            keys.iter()
                .for_each(|k| store.dbs[db].block_on(k, waker.clone()))
        });
    }

    pub fn unblock(&self, db: usize, keys: &[Bytes], waker: &Arc<Notify>) {
        self.with_store(|store| keys.iter().for_each(|k| store.dbs[db].unblock(k, waker)));
    }

    /// Runs a transaction atomically unless a watched key changed (`None`, EXEC's nil).
    /// Returns each data command's reply (`None` for session commands, which the session
    /// runs itself) and the db selected at the end.
    pub async fn execute_transaction(
        &self,
        db: usize,
        calls: &[Call],
        watches: Vec<Watch>,
    ) -> Result<Option<(Vec<Option<Reply>>, usize)>, Reply> {
        let request = Request::Transaction {
            db,
            calls: calls.iter().map(|c| c.args.clone()).collect(),
            watches,
            now_ms: now_ms(),
            seed: rand::random(),
        };
        match self.submit(request).await? {
            Response::Transaction(outcome) => Ok(outcome),
            _ => Err(Reply::error(
                "ERR internal: unexpected response to a transaction",
            )),
        }
    }

    /// Gives `f` the store, for session bookkeeping (WATCH, blocking registration, INFO).
    pub fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut self.store.lock())
    }
}

/// Runs one data command on a standalone node's store at `now_ms`. Pipelined commands
/// share one reading of the clock, as they share one in Redis's event loop iteration.
pub fn run_local(
    store: &mut Store,
    db: usize,
    spec: &'static CommandSpec,
    args: &[Bytes],
    now_ms: u64,
) -> Reply {
    let mut exec = Exec::local(store, db, now_ms);
    commands::execute(spec, &mut exec, args)
}

/// Runs a transaction's calls in order; SELECT inside it switches the db for the calls
/// after it. Session commands get `None`: the session answers them.
pub fn run_batch(exec: &mut Exec, calls: &[Call]) -> Vec<Option<Reply>> {
    calls.iter().map(|call| run_in_batch(exec, call)).collect()
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
