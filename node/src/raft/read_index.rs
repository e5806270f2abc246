//! Batched linearizable reads: every read waiting when a leadership check starts shares
//! it, so a burst of GETs costs one heartbeat round, not one each. A read that arrives
//! while a check is in flight waits for the next one, whose read index postdates it.

use super::types::{Member, NodeId, Raft};
use openraft::error::{CheckIsLeaderError, ForwardToLeader, RaftError};
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
    while let Some(first) = rx.recv().await {
        let mut waiting = vec![first];
        while let Ok(more) = rx.try_recv() {
            waiting.push(more);
        }
        let result = match raft.ensure_linearizable().await {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => Err(Some(f)),
            Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(_))) => {
                Err(Some(ForwardToLeader::empty()))
            }
            Err(RaftError::Fatal(_)) => Err(None),
        };
        for done in waiting {
            let _ = done.send(result.clone());
        }
    }
}
