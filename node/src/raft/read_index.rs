//! Batched linearizable reads: every read waiting when a leadership check starts shares
//! it, so a burst of GETs costs one heartbeat round, not one each. A read that arrives
//! while a check is in flight waits for the next one, whose read index postdates it.
//!
//! Before the first read of each term the leader commits a barrier entry. openraft can
//! restore a restarted node as leader of its old term without a new-term entry; its
//! commit index may then lag writes it acknowledged before the restart, and a read index
//! taken from it would serve a stale read.

use super::types::{Member, NodeId, Raft, Request};
use openraft::error::{CheckIsLeaderError, ClientWriteError, ForwardToLeader, RaftError};
use tokio::sync::{mpsc, oneshot};

/// `Err(Some(_))`: not the leader (whom to ask); `Err(None)`: Raft stopped.
pub type ReadResult = Result<(), Option<ForwardToLeader<NodeId, Member>>>;

pub struct ReadIndex {
    tx: mpsc::UnboundedSender<oneshot::Sender<ReadResult>>,
}

impl ReadIndex {
    pub fn start(raft: Raft) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, rx));
        ReadIndex { tx }
    }

    pub async fn wait(&self) -> ReadResult {
        let (done, result) = oneshot::channel();
        self.tx.send(done).map_err(|_| None)?;
        result.await.map_err(|_| None)?
    }
}

async fn run(raft: Raft, mut rx: mpsc::UnboundedReceiver<oneshot::Sender<ReadResult>>) {
    let mut barrier_term = None;
    while let Some(first) = rx.recv().await {
        let mut waiting = vec![first];
        while let Ok(more) = rx.try_recv() {
            waiting.push(more);
        }
        let result = read_point(&raft, &mut barrier_term).await;
        for done in waiting {
            let _ = done.send(result.clone());
        }
    }
}

/// Confirms this node leads and has applied everything committed before now.
async fn read_point(raft: &Raft, barrier_term: &mut Option<u64>) -> ReadResult {
    let term = raft.metrics().borrow().current_term;
    if *barrier_term != Some(term) {
        match raft.client_write(Request::Barrier).await {
            Ok(_) => *barrier_term = Some(term),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => return Err(Some(f)),
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(_))) => {
                unreachable!("a barrier is not a membership change")
            }
            Err(RaftError::Fatal(_)) => return Err(None),
        }
    }
    match raft.ensure_linearizable().await {
        Ok(_) => Ok(()),
        Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => Err(Some(f)),
        Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(_))) => {
            Err(Some(ForwardToLeader::empty()))
        }
        Err(RaftError::Fatal(_)) => Err(None),
    }
}
