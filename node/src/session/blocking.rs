//! Blocking commands (BLPOP, BLMOVE, BZPOPMIN…): run the non-blocking form; when it finds
//! nothing, wait for one of its keys to change, the timeout, or the client to go away.

use super::Session;
use crate::commands::{parse_timeout, CommandError, CommandSpec};
use crate::protocol::Reply;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Where the timeout argument is: first for the *MPOP forms, last otherwise.
fn timeout_arg<'a>(spec: &CommandSpec, args: &'a [Bytes]) -> &'a Bytes {
    if matches!(spec.name, "blmpop" | "bzmpop") {
        &args[1]
    } else {
        &args[args.len() - 1]
    }
}

/// The reply a blocking command gives when it found nothing (and so must wait).
fn is_empty_reply(reply: &Reply) -> bool {
    matches!(reply, Reply::Nil | Reply::NilArray)
}

impl Session {
    pub(super) async fn run_blocking(
        &mut self,
        spec: &'static CommandSpec,
        args: Vec<Bytes>,
    ) -> Reply {
        let timeout = match parse_timeout(timeout_arg(spec, &args)) {
            Ok(ms) => ms,
            Err(e) => return e.into(),
        };
        let blocks_for = (timeout > 0).then(|| Duration::from_millis(timeout));
        let deadline = blocks_for.map(|b| Instant::now() + b);
        let keys: Vec<Bytes> = spec.key_args(&args).into_iter().cloned().collect();
        let mut retry = false;
        loop {
            let waker = Arc::new(Notify::new());
            let engine = &self.shared.engine;
            let reply = engine
                .blocking_attempt(self.db, spec, &args, &keys, &waker)
                .await;
            // Redis serves a blocked client only from a key that became a non-empty
            // list or zset; a key that turned into another type leaves it waiting.
            let wrong_type_on_retry = retry && reply == Reply::from(CommandError::WrongType);
            if !retry && reply.is_error() {
                return self.forwarded_or(reply, &args, blocks_for).await;
            }
            if wrong_type_on_retry {
                engine.block(self.db, &keys, &waker);
            } else if !is_empty_reply(&reply) {
                return reply;
            }
            let woken = self.wait(&waker, deadline).await;
            self.shared.engine.unblock(self.db, &keys, &waker);
            if !woken {
                // Redis answers every timed-out blocking command with a null array, even
                // those (BLMOVE) whose immediate "nothing" is a null bulk string.
                return Reply::NilArray;
            }
            retry = true;
        }
    }

    /// The leader's answer to blocking command `args` when this node forwards the
    /// redirect `refusal` (`--forward-to-leader`), else `refusal`.
    async fn forwarded_or(
        &mut self,
        refusal: Reply,
        args: &[Bytes],
        blocks_for: Option<Duration>,
    ) -> Reply {
        let Some(raft) = self.shared.engine.raft().cloned() else {
            return refusal;
        };
        let forwarded = raft.forward_blocking(&refusal, self.serving(), self.db, args, blocks_for);
        match self.unless_client_leaves(forwarded).await {
            Some(Some(reply)) => reply,
            Some(None) => refusal,
            // Nobody is left to answer.
            None => Reply::NilArray,
        }
    }

    /// Waits for a wake-up; false on timeout or when the client left or was killed.
    async fn wait(&mut self, waker: &Notify, deadline: Option<Instant>) -> bool {
        let woken = async {
            match deadline {
                Some(at) => tokio::time::timeout_at(at, waker.notified()).await.is_ok(),
                None => {
                    waker.notified().await;
                    true
                }
            }
        };
        self.unless_client_leaves(woken).await.unwrap_or(false)
    }

    /// Runs `work` to its end, or gives up (`None`) when the client leaves or is killed.
    async fn unless_client_leaves<T>(
        &mut self,
        work: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        tokio::pin!(work);
        let handle = self.handle.clone();
        loop {
            tokio::select! {
                done = &mut work => return Some(done),
                _ = handle.kill.notified() => {
                    self.closing = true;
                    return None;
                }
                // Keep reading so a client that hangs up is noticed; what it sends meanwhile
                // is buffered and served after the blocking command answers.
                read = self.socket.read_buf(&mut self.rbuf) => {
                    if matches!(read, Ok(0) | Err(_)) {
                        self.closing = true;
                        return None;
                    }
                }
            }
        }
    }
}
