//! What goes into the Raft log and what comes back from applying it.

use super::write_batch::WriteBatch;
use crate::keyspace::Watch;
use crate::protocol::Reply;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use std::sync::Arc;

/// A member of the cluster as Raft stores it: its name and how to reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The user-facing node id (`--node-id`, a pod name in Kubernetes).
    pub name: String,
    pub raft_addr: String,
    pub resp_addr: String,
    pub http_addr: String,
    /// Random id of this member's data directory, made when it was first used. Peers
    /// address Raft traffic to it, so a node that lost its data (a new incarnation under
    /// the same name) cannot silently vote or accept entries as the member it replaced.
    #[serde(default)]
    pub incarnation: String,
}

impl std::fmt::Display for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.raft_addr)
    }
}

/// A log entry's payload. Time and randomness are stamped by the leader when it proposes,
/// so applying is a pure function of the log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// One data command run in `db`.
    Command {
        db: usize,
        args: Vec<Bytes>,
        now_ms: u64,
        seed: u64,
    },
    /// MULTI/EXEC: the calls run atomically unless a watched key changed.
    Transaction {
        db: usize,
        calls: Vec<Vec<Bytes>>,
        watches: Vec<Watch>,
        now_ms: u64,
        seed: u64,
    },
    /// Keys the leader found expired: deleted where still expired at `now_ms`.
    Expire {
        keys: Vec<(usize, Bytes)>,
        now_ms: u64,
    },
    /// Changes nothing: a leader commits one in its term before serving reads, so its read
    /// index covers every write acknowledged before it led.
    Barrier,
    /// Writes of several clients proposed together, applied in order: what group commit
    /// proposed before `Writes`, still applied from logs that hold it.
    Batch(Arc<[Request]>),
    /// Names the cluster: proposed once, right after bootstrap; the first one applied
    /// wins, so a node can tell its own cluster from another.
    ClusterId(String),
    /// Writes of several clients proposed together (group commit), applied in order.
    Writes(WriteBatch),
}

impl Request {
    /// About how many bytes this request takes encoded: its arguments plus a length
    /// prefix each, which is what dominates. Bounds batches and replication messages.
    pub fn encoded_bytes(&self) -> usize {
        let args = |args: &[Bytes]| args.iter().map(|a| a.len() + 16).sum::<usize>();
        match self {
            Request::Command { args: a, .. } => args(a),
            Request::Transaction { calls, .. } => calls.iter().map(|c| args(c)).sum(),
            Request::Expire { keys, .. } => keys.iter().map(|(_, k)| k.len() + 16).sum(),
            Request::Batch(requests) => requests.iter().map(Request::encoded_bytes).sum(),
            Request::Barrier => 0,
            Request::ClusterId(id) => id.len(),
            Request::Writes(batch) => batch.len(),
        }
    }
}

/// What applying an entry answered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Response {
    Reply(Reply),
    /// A transaction's replies (`None` for session commands, which the session answers)
    /// and the db it left selected; `None` when WATCH aborted it.
    Transaction(Option<(Vec<Option<Reply>>, usize)>),
    None,
    /// One response per request of a `Batch`, in order.
    Batch(Vec<Response>),
}

openraft::declare_raft_types!(
    /// The Raft types of tinyredis.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = u64,
        Node = Member,
        SnapshotData = Cursor<Vec<u8>>,
);

pub type NodeId = u64;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, Member>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, Member>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;
pub type Raft = openraft::Raft<TypeConfig>;

/// Raft's numeric id for a node name: a stable 64-bit FNV-1a hash, so every node derives
/// the same number from the same name without coordination.
pub fn node_id(name: &str) -> NodeId {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}
