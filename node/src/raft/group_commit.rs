//! Group commit: writes that arrive while earlier ones are being replicated travel
//! together as one `Batch` entry, so many clients share one log append, one fsync on
//! each node and one replication round. openraft 0.9 appends each proposal on its own.

use super::types::{Member, NodeId, Raft, Request, Response};
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
/// Most writes in one entry.
const MAX_BATCH: usize = 1024;
/// A batch stops growing past this many bytes: a follower must receive and flush an
/// entry within openraft's replication timeout (the heartbeat interval).
const MAX_BATCH_BYTES: usize = 1 << 20;

pub type WriteError = RaftError<NodeId, ClientWriteError<NodeId, Member>>;
type Pending = (Request, oneshot::Sender<Result<Response, WriteError>>);

pub struct GroupCommit {
    tx: mpsc::UnboundedSender<Pending>,
}

impl GroupCommit {
    pub fn start(raft: Raft) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, rx));
        GroupCommit { tx }
    }

    /// Queues `requests` in order, next to each other; each receiver resolves when its
    /// request is applied here. Queue order is log order, so one client's pipelined writes
    /// apply in the order it sent them.
    pub fn submit(&self, requests: Vec<Request>) -> Vec<Outcome> {
        requests
            .into_iter()
            .map(|request| {
                let (done, result) = oneshot::channel();
                let _ = self.tx.send((request, done));
                result
            })
            .collect()
    }
}

/// A queued write's result; a closed channel means openraft dropped it unanswered.
pub type Outcome = oneshot::Receiver<Result<Response, WriteError>>;

async fn run(raft: Raft, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        // Take what queued while waiting for a slot: that is the batch.
        let mut bytes = first.0.encoded_bytes();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(more) => {
                    bytes += more.0.encoded_bytes();
                    batch.push(more);
                }
                Err(_) => break,
            }
        }
        let (requests, waiters): (Vec<Request>, Vec<_>) = batch.into_iter().unzip();
        let single = requests.len() == 1;
        let entry = if single {
            requests.into_iter().next().expect("one write")
        } else {
            Request::Batch(requests.into())
        };
        // Proposed here, in queue order; only the wait for the outcome runs on its own.
        match raft.client_write_ff(entry).await {
            Ok(written) => {
                tokio::spawn(async move {
                    // A responder dropped unanswered drops the waiters too: outcome unknown.
                    if let Ok(outcome) = written.await {
                        deliver(
                            outcome.map(|w| w.data).map_err(RaftError::APIError),
                            waiters,
                            single,
                        );
                    }
                    drop(permit);
                });
            }
            Err(fatal) => deliver(Err(RaftError::Fatal(fatal)), waiters, single),
        }
    }
}

/// Hands each waiter its own response, or all of them the batch's error.
fn deliver(
    outcome: Result<Response, WriteError>,
    waiters: Vec<oneshot::Sender<Result<Response, WriteError>>>,
    single: bool,
) {
    match outcome {
        Ok(response) if single => {
            let _ = waiters
                .into_iter()
                .next()
                .expect("one waiter")
                .send(Ok(response));
        }
        Ok(Response::Batch(responses)) => {
            for (done, response) in waiters.into_iter().zip(responses) {
                let _ = done.send(Ok(response));
            }
        }
        Ok(_) => unreachable!("a batch is answered by a batch"),
        Err(e) => {
            for done in waiters {
                let _ = done.send(Err(e.clone()));
            }
        }
    }
}
