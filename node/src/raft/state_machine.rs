//! The replicated state machine: the keyspace, changed only by applying committed entries.
//!
//! The keyspace lives in memory; snapshots of it are persisted in sled, so a restart loads
//! the latest snapshot and openraft re-applies the committed log after it.

use super::durable::DurableDb;
use super::types::{
    Entry, LogId, Member, NodeId, Request, Response, Snapshot, SnapshotMeta, StorageError,
    StoredMembership, TypeConfig,
};
use crate::commands::{self, Exec};
use crate::engine::{run_batch, Call};
use crate::keyspace::Store;
use crate::protocol::Reply;
use openraft::storage::RaftStateMachine;
use openraft::{
    AnyError, EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder,
    StorageIOError,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const SNAPSHOT_KEY: &[u8] = b"current";

/// The state shared between the state machine and readers (sessions serving reads).
pub struct Applied {
    pub store: Arc<Mutex<Store>>,
    pub last_applied: Mutex<Option<LogId>>,
    pub membership: Mutex<StoredMembership>,
    pub snapshots_built: AtomicU64,
    /// The cluster's name, from its `ClusterId` entry (kept in snapshots).
    pub cluster_id: Mutex<Option<String>>,
}

#[derive(Clone)]
pub struct StateMachine {
    applied: Arc<Applied>,
    snapshots: sled::Tree,
    db: DurableDb,
}

#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    data: Vec<u8>,
}

/// What a snapshot's data holds: the state that is not the Raft log's own metadata.
#[derive(Serialize, Deserialize)]
struct SnapshotData {
    cluster_id: Option<String>,
    image: Vec<u8>,
}

fn sm_error(verb: ErrorVerb, e: impl std::fmt::Display) -> StorageError {
    StorageIOError::new(
        ErrorSubject::StateMachine,
        verb,
        AnyError::error(e.to_string()),
    )
    .into()
}

impl StateMachine {
    /// Opens the state machine, restoring the keyspace from the latest snapshot if any.
    pub fn open(db: &DurableDb, store: Arc<Mutex<Store>>) -> anyhow::Result<Self> {
        let snapshots = db.db().open_tree("snapshots")?;
        let applied = Arc::new(Applied {
            store,
            last_applied: Mutex::new(None),
            membership: Mutex::new(StoredMembership::default()),
            snapshots_built: AtomicU64::new(0),
            cluster_id: Mutex::new(None),
        });
        let sm = StateMachine {
            applied,
            snapshots,
            db: db.clone(),
        };
        if let Some(stored) = sm.load_snapshot()? {
            sm.restore(&stored.meta, &stored.data)?;
        }
        Ok(sm)
    }

    pub fn applied(&self) -> Arc<Applied> {
        self.applied.clone()
    }

    fn load_snapshot(&self) -> anyhow::Result<Option<StoredSnapshot>> {
        match self.snapshots.get(SNAPSHOT_KEY)? {
            Some(bytes) => Ok(Some(bincode::deserialize(&bytes)?)),
            None => Ok(None),
        }
    }

    fn restore(&self, meta: &SnapshotMeta, data: &[u8]) -> anyhow::Result<()> {
        let data: SnapshotData = bincode::deserialize(data)?;
        self.applied.store.lock().restore_image(&data.image)?;
        *self.applied.cluster_id.lock() = data.cluster_id;
        *self.applied.last_applied.lock() = meta.last_log_id;
        *self.applied.membership.lock() = meta.last_membership.clone();
        Ok(())
    }

    async fn save_snapshot(&self, stored: &StoredSnapshot) -> Result<(), StorageError> {
        let bytes = bincode::serialize(stored).expect("snapshot serialises");
        self.snapshots
            .insert(SNAPSHOT_KEY, bytes)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        self.db
            .flush()
            .await
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        Ok(())
    }
}

/// Applies one request to the keyspace: the whole of replicated behaviour.
pub fn apply_request(store: &mut Store, request: &Request) -> Response {
    match request {
        Request::Command {
            db,
            args,
            now_ms,
            seed,
        } => {
            let mut exec = Exec::new(store, *db, *now_ms, *seed);
            Response::Reply(run_command(&mut exec, args))
        }
        Request::Transaction {
            db,
            calls,
            watches,
            now_ms,
            seed,
        } => {
            if watches.iter().any(|w| w.is_dirty(store, *now_ms)) {
                return Response::Transaction(None);
            }
            let calls: Vec<Call> = calls
                .iter()
                .filter_map(|args| Call::resolve(args.clone()))
                .collect();
            let mut exec = Exec::new(store, *db, *now_ms, *seed);
            let replies = run_batch(&mut exec, &calls);
            Response::Transaction(Some((replies, exec.db)))
        }
        Request::Expire { keys, now_ms } => {
            for (db, key) in keys {
                crate::expiry::delete_expired(store, *db, std::slice::from_ref(key), *now_ms);
            }
            Response::None
        }
        Request::Barrier | Request::ClusterId(_) => Response::None,
        Request::Batch(requests) => Response::Batch(apply_batch(store, requests)),
        Request::Writes(batch) => {
            let requests = batch
                .requests()
                .expect("a batch is checked when it is decoded");
            Response::Batch(apply_batch(store, &requests))
        }
    }
}

fn apply_batch(store: &mut Store, requests: &[Request]) -> Vec<Response> {
    store.run_prefetching(requests, first_key, apply_request)
}

/// The db of a command and its first argument, which is the first key of most writes.
fn first_key(request: &Request) -> Option<(usize, &[u8])> {
    match request {
        Request::Command { db, args, .. } => Some((*db, args.get(1)?)),
        _ => None,
    }
}

/// Runs a logged command; one that no longer resolves (a newer node's command replayed by
/// an older binary) answers an error instead of stopping the state machine.
fn run_command(exec: &mut Exec, args: &[bytes::Bytes]) -> Reply {
    match commands::resolve(args) {
        Ok(spec) if matches!(spec.run, commands::Run::Exec(_)) => {
            commands::execute(spec, exec, args)
        }
        Ok(_) => Reply::error("ERR command cannot be replicated"),
        Err(e) => e.into(),
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((
            *self.applied.last_applied.lock(),
            self.applied.membership.lock().clone(),
        ))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut responses = Vec::new();
        let mut store = self.applied.store.lock();
        for entry in entries {
            *self.applied.last_applied.lock() = Some(entry.log_id);
            let response = match entry.payload {
                EntryPayload::Blank => Response::None,
                EntryPayload::Normal(Request::ClusterId(id)) => {
                    self.applied.cluster_id.lock().get_or_insert(id);
                    Response::None
                }
                EntryPayload::Normal(request) => apply_request(&mut store, &request),
                EntryPayload::Membership(membership) => {
                    *self.applied.membership.lock() =
                        StoredMembership::new(Some(entry.log_id), membership);
                    Response::None
                }
            };
            responses.push(response);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        self.restore(meta, &data)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        self.save_snapshot(&StoredSnapshot {
            meta: meta.clone(),
            data,
        })
        .await
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let stored = self
            .load_snapshot()
            .map_err(|e| sm_error(ErrorVerb::Read, e))?;
        Ok(stored.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        // Image and applied id are taken under one lock, so they describe the same state.
        let (data, last_log_id, membership) = {
            let store = self.applied.store.lock();
            let data = SnapshotData {
                cluster_id: self.applied.cluster_id.lock().clone(),
                image: store.to_image(),
            };
            (
                bincode::serialize(&data).expect("snapshot data serialises"),
                *self.applied.last_applied.lock(),
                self.applied.membership.lock().clone(),
            )
        };
        let snapshot_id = match last_log_id {
            Some(id) => format!(
                "{}-{}-{}",
                id.leader_id.term,
                id.index,
                self.applied.snapshots_built.load(Ordering::Relaxed)
            ),
            None => "empty".into(),
        };
        let meta = SnapshotMeta {
            last_log_id,
            last_membership: membership,
            snapshot_id,
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        self.save_snapshot(&stored).await?;
        self.applied.snapshots_built.fetch_add(1, Ordering::Relaxed);
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        })
    }
}

/// Which member a node id names, from the applied membership.
pub fn member(applied: &Applied, id: NodeId) -> Option<Member> {
    applied
        .membership
        .lock()
        .membership()
        .get_node(&id)
        .cloned()
}
