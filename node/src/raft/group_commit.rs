//! Group commit: writes that arrive while earlier ones are being replicated travel
//! together as one `Batch` entry, so many clients share one log append, one fsync on
//! each node and one replication round. openraft 0.9 appends each proposal on its own.

use super::types::{Member, NodeId, Raft, Request, Response};
use openraft::error::{ClientWriteError, RaftError};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Batches replicated at once: enough to keep the pipeline to followers busy.
const IN_FLIGHT: usize = 4;
/// Most writes in one entry.
const MAX_BATCH: usize = 1024;

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

    /// Proposes `request` with whatever else is waiting; resolves when applied here.
    pub async fn write(&self, request: Request) -> Result<Response, Option<WriteError>> {
        let (done, result) = oneshot::channel();
        self.tx.send((request, done)).map_err(|_| None)?;
        result.await.map_err(|_| None)?.map_err(Some)
    }
}

async fn run(raft: Raft, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        // Take what queued while waiting for a slot: that is the batch.
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            propose(&raft, batch).await;
            drop(permit);
        });
    }
}

async fn propose(raft: &Raft, mut batch: Vec<Pending>) {
    if batch.len() == 1 {
        let (request, done) = batch.pop().expect("one write");
        let _ = done.send(raft.client_write(request).await.map(|w| w.data));
        return;
    }
    let (requests, waiters): (Vec<Request>, Vec<_>) = batch.into_iter().unzip();
    match raft.client_write(Request::Batch(requests)).await {
        Ok(written) => {
            let Response::Batch(responses) = written.data else {
                unreachable!("a batch is answered by a batch");
            };
            for (done, response) in waiters.into_iter().zip(responses) {
                let _ = done.send(Ok(response));
            }
        }
        Err(e) => {
            for done in waiters {
                let _ = done.send(Err(e.clone()));
            }
        }
    }
}
