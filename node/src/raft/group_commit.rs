//! Group commit: writes that arrive while earlier ones are being replicated travel
//! together as one `Writes` entry, so many clients share one log append, one fsync on
//! each node and one replication round. openraft 0.9 appends each proposal on its own.

use super::types::{Member, NodeId, Raft, Request, Response};
use super::write_batch::WriteBatch;
use openraft::error::{ClientWriteError, RaftError};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Batches replicated at once. openraft 0.9 holds its core while the leader's own append
/// is flushed, so a batch proposed while another is in flight mostly waits, and only
/// splits the writes that would have shared one append and fsync per node: on three nodes
/// on one VM, SET -P16 went from 170-188k/s with two in flight to 194-222k/s with one
/// (four interleaved runs each), and SET without pipelining from 23-25k to ~26.6k/s.
/// Four in flight were slower still (~130k/s), sixteen ~40k/s.
const IN_FLIGHT: usize = 1;
/// A batch stops growing once it holds this many writes; one client's writes are queued
/// in parts of at most this many, and a part is never split.
const MAX_BATCH: usize = 1024;
/// A batch stops growing past this many bytes: a follower must receive and flush an
/// entry within openraft's replication timeout (the heartbeat interval).
const MAX_BATCH_BYTES: usize = 1 << 20;

pub type WriteError = RaftError<NodeId, ClientWriteError<NodeId, Member>>;

/// One client's pipelined writes, queued together and answered together: a channel and a
/// wakeup per client run instead of per write (16 of each for a SET -P16 run).
struct Submission {
    requests: Vec<Request>,
    done: oneshot::Sender<Result<Vec<Response>, WriteError>>,
}

pub struct GroupCommit {
    tx: mpsc::UnboundedSender<Submission>,
}

impl GroupCommit {
    pub fn start(raft: Raft) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, rx));
        GroupCommit { tx }
    }

    /// Queues `requests` in order, next to each other, in parts of at most [`MAX_BATCH`],
    /// each with its number of writes; a part's receiver resolves when its writes are
    /// applied here, with one response per write. Queue order is log order, so one
    /// client's pipelined writes apply in the order it sent them.
    pub fn submit(&self, mut requests: Vec<Request>) -> Vec<(Outcome, usize)> {
        let mut parts = Vec::with_capacity(requests.len().div_ceil(MAX_BATCH));
        while !requests.is_empty() {
            let rest = requests.split_off(requests.len().min(MAX_BATCH));
            let (done, outcome) = oneshot::channel();
            parts.push((outcome, requests.len()));
            let _ = self.tx.send(Submission { requests, done });
            requests = rest;
        }
        parts
    }
}

/// A queued part's result; a closed channel means openraft dropped it unanswered.
pub type Outcome = oneshot::Receiver<Result<Vec<Response>, WriteError>>;

async fn run(raft: Raft, mut rx: mpsc::UnboundedReceiver<Submission>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        // Take what queued while waiting for a slot: that is the batch.
        let mut writes = first.requests.len();
        let mut bytes = encoded_bytes(&first);
        let mut batch = vec![first];
        while writes < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(more) => {
                    writes += more.requests.len();
                    bytes += encoded_bytes(&more);
                    batch.push(more);
                }
                Err(_) => break,
            }
        }
        let (entry, waiters) = into_entry(batch, writes, bytes);
        // Proposed here, in queue order; only the wait for the outcome runs on its own.
        match raft.client_write_ff(entry).await {
            Ok(written) => {
                tokio::spawn(async move {
                    // A responder dropped unanswered drops the waiters too: outcome unknown.
                    if let Ok(outcome) = written.await {
                        deliver(
                            outcome.map(|w| w.data).map_err(RaftError::APIError),
                            waiters,
                        );
                    }
                    drop(permit);
                });
            }
            Err(fatal) => deliver(Err(RaftError::Fatal(fatal)), waiters),
        }
    }
}

fn encoded_bytes(submission: &Submission) -> usize {
    submission.requests.iter().map(Request::encoded_bytes).sum()
}

/// Who waits for a batch: each submission's channel and how many writes it holds.
type Waiters = Vec<(oneshot::Sender<Result<Vec<Response>, WriteError>>, usize)>;

/// The log entry of a batch of `writes` writes taking about `bytes` encoded: a lone write
/// as itself, more as `Writes`.
fn into_entry(batch: Vec<Submission>, writes: usize, bytes: usize) -> (Request, Waiters) {
    let mut requests = Vec::with_capacity(writes);
    let waiters = batch
        .into_iter()
        .map(|submission| {
            let count = submission.requests.len();
            requests.extend(submission.requests);
            (submission.done, count)
        })
        .collect();
    let entry = if writes == 1 {
        requests.pop().expect("one write")
    } else {
        Request::Writes(WriteBatch::encode(&requests, bytes))
    };
    (entry, waiters)
}

/// Hands each submission its own responses, or all of them the batch's error.
fn deliver(outcome: Result<Response, WriteError>, waiters: Waiters) {
    match outcome {
        Ok(Response::Batch(responses)) => {
            let mut responses = responses.into_iter();
            for (done, count) in waiters {
                let _ = done.send(Ok(responses.by_ref().take(count).collect()));
            }
        }
        Ok(response) => {
            let (done, _) = waiters.into_iter().next().expect("one waiter");
            let _ = done.send(Ok(vec![response]));
        }
        Err(e) => {
            for (done, _) in waiters {
                let _ = done.send(Err(e.clone()));
            }
        }
    }
}
