//! MULTI/EXEC/DISCARD/WATCH/UNWATCH.

use super::Session;
use crate::commands::{flags, CommandError, CommandSpec, Run, SessionCmd};
use crate::engine::{now_ms, Call};
use crate::keyspace::Watch;
use crate::protocol::Reply;
use bytes::Bytes;

#[derive(Default)]
pub struct Transaction {
    queued: Option<Vec<Call>>,
    /// A command failed to queue: EXEC must answer EXECABORT.
    aborted: bool,
    watched: Vec<Watch>,
}

impl Transaction {
    pub fn is_open(&self) -> bool {
        self.queued.is_some()
    }

    /// Records a queue-time error (unknown command, wrong arity) inside MULTI.
    pub fn flag_error(&mut self) {
        if self.is_open() {
            self.aborted = true;
        }
    }

    pub fn queue(&mut self, spec: &'static CommandSpec, args: Vec<Bytes>) -> Reply {
        if spec.has(flags::NO_MULTI) {
            self.aborted = true;
            return CommandError::err("Command not allowed inside a transaction").into();
        }
        self.queued
            .get_or_insert_with(Vec::new)
            .push(Call { spec, args });
        Reply::Status("QUEUED".into())
    }

    pub fn discard(&mut self) {
        self.queued = None;
        self.aborted = false;
    }
}

/// Commands that act at once even inside MULTI.
pub fn runs_immediately(spec: &CommandSpec) -> bool {
    use SessionCmd::*;
    matches!(
        spec.run,
        Run::Session(Exec | Discard | Multi | Watch | Quit | Reset)
    )
}

impl Session {
    pub(super) async fn transaction(&mut self, cmd: SessionCmd, args: &[Bytes]) -> Reply {
        match cmd {
            SessionCmd::Multi if self.tx.is_open() => {
                Reply::error("ERR MULTI calls can not be nested")
            }
            SessionCmd::Multi => {
                self.tx.queued = Some(Vec::new());
                self.handle.meta.lock().in_multi = true;
                Reply::OK
            }
            SessionCmd::Discard if !self.tx.is_open() => Reply::error("ERR DISCARD without MULTI"),
            SessionCmd::Discard => {
                self.end_transaction();
                Reply::OK
            }
            SessionCmd::Exec => self.exec().await,
            SessionCmd::Watch if self.tx.is_open() => {
                Reply::error("ERR WATCH inside MULTI is not allowed")
            }
            SessionCmd::Watch => {
                self.watch(&args[1..]);
                Reply::OK
            }
            SessionCmd::Unwatch => {
                self.release_watches();
                Reply::OK
            }
            _ => unreachable!("not a transaction command"),
        }
    }

    async fn exec(&mut self) -> Reply {
        if !self.tx.is_open() {
            return Reply::error("ERR EXEC without MULTI");
        }
        if self.tx.aborted {
            self.end_transaction();
            return Reply::error("EXECABORT Transaction discarded because of previous errors.");
        }
        let calls = self.tx.queued.take().unwrap_or_default();
        let watched = std::mem::take(&mut self.tx.watched);
        let outcome = self
            .shared
            .engine
            .execute_transaction(self.db, &calls, watched)
            .await;
        self.end_transaction();
        let (replies, db) = match outcome {
            Ok(Some(done)) => done,
            Ok(None) => return Reply::NilArray,
            Err(e) => return e,
        };
        self.db = db;
        self.handle.meta.lock().db = db;
        self.fill_session_replies(calls, replies)
    }

    /// Session commands queued in a transaction (PING, PUBLISH…) run after the data
    /// commands, in their places in the reply.
    fn fill_session_replies(&mut self, calls: Vec<Call>, replies: Vec<Option<Reply>>) -> Reply {
        let mut out = Vec::with_capacity(replies.len());
        for (call, reply) in calls.into_iter().zip(replies) {
            out.push(match (reply, call.spec.run) {
                (Some(reply), _) => reply,
                (None, Run::Session(cmd)) => self.run_queued_session(cmd, call.spec, &call.args),
                (None, _) => unreachable!("data commands always reply"),
            });
        }
        Reply::Array(out)
    }

    fn run_queued_session(&mut self, cmd: SessionCmd, spec: &CommandSpec, args: &[Bytes]) -> Reply {
        use SessionCmd::*;
        match cmd {
            Ping => self.ping(args),
            Subscribe | Unsubscribe | PSubscribe | PUnsubscribe | Publish | PubsubChannels
            | PubsubNumsub | PubsubNumpat => self.pubsub(cmd, args),
            Readonly | Readwrite => Reply::OK,
            Hello | Auth => CommandError::err("Command not allowed inside a transaction").into(),
            _ => super::admin::run(self, cmd, spec, args),
        }
    }

    fn end_transaction(&mut self) {
        self.tx.discard();
        self.release_watches();
        self.handle.meta.lock().in_multi = false;
    }

    fn watch(&mut self, keys: &[Bytes]) {
        let db = self.db;
        let now = now_ms();
        let new: Vec<Watch> = self.shared.engine.with_store(|store| {
            keys.iter()
                .map(|key| Watch::now(store, db, key.clone(), now))
                .collect()
        });
        self.tx.watched.extend(new);
    }

    pub(super) fn release_watches(&mut self) {
        self.tx.watched.clear();
    }
}
