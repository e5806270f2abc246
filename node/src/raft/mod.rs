//! Raft replication (openraft, storage v2) with sled persistence.
//!
//! Writes are proposed to the log with the leader's time and a random seed stamped in, and
//! answered once committed on a majority and applied. Reads are linearizable by default:
//! the leader confirms it still leads (read index, batched across clients) before reading.

pub mod admin;
mod durable;
pub mod expiry;
mod forward;
mod group_commit;
mod log_store;
pub mod network;
mod read_index;
mod state_machine;
pub mod types;
mod write_batch;

pub use state_machine::{apply_request, Applied};
pub use types::{node_id, Member, Request, Response};

use crate::commands::{flags, CommandSpec};
use crate::config::NodeArgs;
use crate::engine::{now_ms, Serving};
use crate::keyspace::Store;
use crate::protocol::Reply;
use bytes::Bytes;
use group_commit::{GroupCommit, WriteError};
use log_store::LogStore;
use openraft::error::{ClientWriteError, ForwardToLeader, RaftError};
use openraft::network::RaftNetworkFactory;
use openraft::{Config, ServerState, SnapshotPolicy};
use parking_lot::Mutex;
use read_index::ReadIndex;
use serde::Serialize;
use state_machine::StateMachine;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{info, warn};
use types::{NodeId, Raft};

/// The error code of a follower's refusal (Redis's own for writes on a replica).
const REDIRECT_CODE: &str = "READONLY";

/// Settings of the Raft layer, from the command line.
#[derive(Debug, Clone)]
pub struct RaftSettings {
    pub timeout: Duration,
    pub secret: Option<String>,
}

/// A running Raft member and what the rest of the node needs from it.
pub struct RaftNode {
    pub raft: Raft,
    pub id: NodeId,
    pub me: Member,
    pub applied: Arc<Applied>,
    pub settings: RaftSettings,
    log: LogStore,
    reads: ReadIndex,
    writes: GroupCommit,
    /// Set with `--forward-to-leader`.
    forwarder: Option<forward::Forwarder>,
    /// Clients to peers for what a follower forwards over Raft's transport.
    peers: network::Network,
    /// Writes hold it shared; a leadership transfer holds it exclusively.
    write_gate: tokio::sync::RwLock<()>,
}

impl RaftNode {
    /// Opens the Raft state in `--raft-dir`, starts the peer listener, and bootstraps or
    /// joins when asked to and there is no state yet.
    pub async fn start(args: &NodeArgs, store: Arc<Mutex<Store>>) -> anyhow::Result<Arc<RaftNode>> {
        std::fs::create_dir_all(&args.raft_dir)?;
        let db = log_store::open_db(&args.raft_dir.join("sled"))?;
        let log = LogStore::open(&db)?;
        let me = advertised_member(args, log.incarnation()?)?;
        let id = node_id(&me.name);
        let had_state = log.has_state()?;
        let sm = StateMachine::open(&db, store)?;
        let applied = sm.applied();
        let config = raft_config(args)?;
        let network = network::Network::new(args.cluster_secret.clone());
        let raft = Raft::new(id, config, network.clone(), log.clone(), sm).await?;
        let listener = TcpListener::bind(&args.raft_bind)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen for raft on {}: {e}", args.raft_bind))?;
        let identity = network::Identity {
            secret: args.cluster_secret.clone(),
            incarnation: me.incarnation.clone(),
        };
        let settings = RaftSettings {
            timeout: args.raft_timeout.into(),
            secret: args.cluster_secret.clone(),
        };
        let reads = ReadIndex::start(raft.clone());
        let writes = GroupCommit::start(raft.clone());
        let node = Arc::new(RaftNode {
            raft,
            id,
            me,
            applied,
            settings,
            log,
            reads,
            writes,
            forwarder: args.forward_to_leader.then(|| {
                forward::Forwarder::new(args.requirepass.clone(), args.raft_timeout.into())
            }),
            peers: network,
            write_gate: tokio::sync::RwLock::new(()),
        });
        tokio::spawn(network::serve(listener, node.clone(), identity));
        node.bootstrap_or_join(args, had_state).await?;
        if had_state {
            node.reconfirm_restored_leadership().await;
        }
        Ok(node)
    }

    async fn bootstrap_or_join(
        self: &Arc<Self>,
        args: &NodeArgs,
        had_state: bool,
    ) -> anyhow::Result<()> {
        if had_state {
            if args.raft_bootstrap || !args.raft_join.is_empty() {
                info!("existing raft state found: rejoining with it; --raft-bootstrap/--raft-join ignored");
            }
            return Ok(());
        }
        if args.raft_bootstrap {
            self.initialize(None).await?;
            info!(node = %self.me, "bootstrapped a new single-voter cluster");
        } else if !args.raft_join.is_empty() {
            tokio::spawn(admin::join_until_accepted(
                self.clone(),
                args.raft_join.clone(),
            ));
        } else {
            info!("no raft state: waiting to be initialised (POST /init) or joined by the leader");
        }
        Ok(())
    }

    /// openraft restores a node that led before a restart as leader of its old term,
    /// though peers may have elected another leader since; until it hears of that, two
    /// nodes report leading. Campaigning at once settles it: a current-term vote either
    /// confirms this node (and commits a new-term entry) or makes it a follower.
    async fn reconfirm_restored_leadership(&self) {
        let restored = self
            .raft
            .wait(Some(Duration::from_millis(500)))
            .metrics(
                |m| m.state == ServerState::Leader,
                "leadership restored at start",
            )
            .await
            .is_ok();
        if restored {
            info!("restarted as the leader of the old term: campaigning to confirm it");
            if let Err(e) = self.raft.trigger().elect().await {
                warn!(error = %e, "could not start an election");
            }
        }
    }

    /// Makes this node a one-voter cluster named `cluster_id` (a random name when `None`).
    pub async fn initialize(&self, cluster_id: Option<String>) -> anyhow::Result<()> {
        let members = BTreeMap::from([(self.id, self.me.clone())]);
        self.raft.initialize(members).await?;
        // A lone voter elects itself at once; the name is its first entry as leader.
        if !self.wait_leader_is(self.id, self.settings.timeout).await {
            anyhow::bail!("the new cluster elected no leader in time");
        }
        let cluster_id = cluster_id.unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()));
        self.write(Request::ClusterId(cluster_id))
            .await
            .map_err(|e| anyhow::anyhow!("naming the new cluster: {e:?}"))?;
        Ok(())
    }

    pub fn has_state(&self) -> bool {
        self.log.has_state().unwrap_or(true)
    }

    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    /// The current leader's member record, when known.
    pub fn leader(&self) -> Option<Member> {
        let leader = self.raft.metrics().borrow().current_leader?;
        state_machine::member(&self.applied, leader)
    }

    /// Holds writes back until the guard is dropped (after in-flight ones finish).
    pub async fn pause_writes(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.write_gate.write().await
    }

    /// Stops heartbeats until the guard is dropped, and returns once followers' leases
    /// on this leader have run out: until then they refuse to vote for anyone else, so a
    /// transfer target that needs more votes than this leader's own would lose.
    pub async fn lapse_lease(&self) -> impl Drop + '_ {
        struct Heartbeats<'a>(&'a Raft);
        impl Drop for Heartbeats<'_> {
            fn drop(&mut self) {
                self.0.runtime_config().heartbeat(true);
            }
        }
        self.raft.runtime_config().heartbeat(false);
        let lease = Duration::from_millis(self.raft.config().election_timeout_max);
        tokio::time::sleep(lease).await;
        Heartbeats(&self.raft)
    }

    /// Waits until `target` has every entry this leader has; false on timeout.
    pub async fn wait_caught_up(&self, target: NodeId, timeout: Duration) -> bool {
        let caught_up = |m: &openraft::RaftMetrics<NodeId, Member>| {
            let matched = m
                .replication
                .as_ref()
                .and_then(|r| r.get(&target).cloned())
                .flatten();
            matched.map(|l| l.index) == m.last_log_index
        };
        self.wait_for(timeout, caught_up).await
    }

    /// Waits until this node sees `target` as leader; false on timeout.
    pub async fn wait_leader_is(&self, target: NodeId, timeout: Duration) -> bool {
        self.wait_for(timeout, |m| m.current_leader == Some(target))
            .await
    }

    async fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&openraft::RaftMetrics<NodeId, Member>) -> bool,
    ) -> bool {
        let mut metrics = self.raft.metrics();
        let wait = async {
            loop {
                if done(&metrics.borrow_and_update()) {
                    return;
                }
                if metrics.changed().await.is_err() {
                    return std::future::pending().await;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }

    /// Proposes `request` and waits for it to be applied on this node.
    pub async fn write(&self, request: Request) -> Result<Response, Reply> {
        let mut results = self.write_all(vec![request]).await;
        results.pop().expect("one result per request")
    }

    /// Whether refused commands are forwarded to the leader (`--forward-to-leader`).
    pub fn forwards(&self) -> bool {
        self.forwarder.is_some()
    }

    /// `write`, or with `--forward-to-leader` on a follower, proposed by the leader.
    pub async fn write_or_forward(&self, request: Request) -> Result<Response, Reply> {
        if self.forwarder.is_none() {
            return self.write(request).await;
        }
        match self.write(request.clone()).await {
            Err(refusal) => match self.forward_target(&refusal) {
                Some(leader) => {
                    let mut peers = self.peers.clone();
                    let mut client = peers.new_client(node_id(&leader.name), &leader).await;
                    client.propose(request, self.settings.timeout).await
                }
                None => Err(refusal),
            },
            written => written,
        }
    }

    /// Proposes a transaction a follower forwarded, at this leader's clock and with its
    /// seed, as if the client were connected here.
    async fn propose_forwarded(&self, request: Request) -> Result<Response, Reply> {
        let Request::Transaction {
            db, calls, watches, ..
        } = request
        else {
            return Err(Reply::error(
                "ERR only transactions are forwarded to the leader",
            ));
        };
        self.write(Request::Transaction {
            db,
            calls,
            watches,
            now_ms: now_ms(),
            seed: rand::random(),
        })
        .await
    }

    /// Proposes `requests` together, in order (one client's pipelined writes), and waits
    /// for each to be applied on this node.
    pub async fn write_all(&self, requests: Vec<Request>) -> Vec<Result<Response, Reply>> {
        let _gate = self.write_gate.read().await;
        let deadline = tokio::time::Instant::now() + self.settings.timeout;
        let mut results = Vec::with_capacity(requests.len());
        for (outcome, count) in self.writes.submit(requests) {
            let failure = match tokio::time::timeout_at(deadline, outcome).await {
                Ok(Ok(Ok(responses))) => {
                    results.extend(responses.into_iter().map(Ok));
                    continue;
                }
                Ok(Ok(Err(e))) => self.write_refusal(e),
                // openraft dropped the writes unanswered: it stops, or leadership moved.
                Ok(Err(_)) => Reply::error(
                    "ERR raft: the write was dropped before an outcome (leadership moved or the node is stopping); it may or may not have been applied",
                ),
                Err(_) => Reply::error(
                    "ERR timeout: the write was not confirmed in time; it may or may not have been applied",
                ),
            };
            results.extend((0..count).map(|_| Err(failure.clone())));
        }
        results
    }

    fn write_refusal(&self, e: WriteError) -> Reply {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => self.redirect(&f, true),
            e => Reply::error(format!("ERR raft: {e}")),
        }
    }

    /// Waits until a read on this node is linearizable (this node leads and has applied
    /// everything committed before the read arrived).
    pub async fn linearize(&self) -> Result<(), Reply> {
        match tokio::time::timeout(self.settings.timeout, self.reads.wait()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Some(f))) => Err(self.redirect(&f, false)),
            Ok(Err(None)) => Err(Reply::error("ERR raft: this node is shutting down")),
            Err(_) => Err(Reply::error(
                "ERR timeout: could not confirm leadership for a linearizable read",
            )),
        }
    }

    /// What a client gets for a command this node refused with `refusal`: with
    /// `--forward-to-leader`, a redirect becomes the leader's own answer. Blocking
    /// commands are left to [`RaftNode::forward_blocking`]: a session forwards one whole,
    /// not each of its attempts.
    pub async fn forward_or(
        &self,
        refusal: Reply,
        spec: &CommandSpec,
        serving: Serving,
        db: usize,
        args: &[Bytes],
    ) -> Reply {
        match (&self.forwarder, self.forward_target(&refusal)) {
            (Some(forwarder), Some(leader)) if !spec.has(flags::BLOCKING) => {
                let resp3 = serving.resp3;
                forwarder.forward(&leader.resp_addr, resp3, db, args).await
            }
            _ => refusal,
        }
    }

    /// Runs blocking command `args` on the leader when this node refused it with a
    /// redirect and forwards; `None` when it does not. The command blocks there, on a
    /// connection of its own, for `blocks_for` (`None`: until it is served).
    pub async fn forward_blocking(
        &self,
        refusal: &Reply,
        serving: Serving,
        db: usize,
        args: &[Bytes],
        blocks_for: Option<Duration>,
    ) -> Option<Reply> {
        let forwarder = self.forwarder.as_ref()?;
        let leader = self.forward_target(refusal)?;
        let (addr, resp3) = (&leader.resp_addr, serving.resp3);
        Some(
            forwarder
                .forward_blocking(addr, resp3, db, args, blocks_for)
                .await,
        )
    }

    /// The leader to forward to, when this node forwards and `refusal` is a redirect to
    /// another node.
    fn forward_target(&self, refusal: &Reply) -> Option<Member> {
        self.forwarder.as_ref()?;
        let redirected = matches!(refusal, Reply::Error(e) if e.starts_with(REDIRECT_CODE));
        let leader = self.leader().filter(|l| l.name != self.me.name)?;
        redirected.then_some(leader)
    }

    /// The error a client gets from a follower: Redis's READONLY, naming the leader's RESP address.
    fn redirect(&self, f: &ForwardToLeader<NodeId, Member>, write: bool) -> Reply {
        let leader = f.leader_node.clone().or_else(|| {
            f.leader_id
                .and_then(|id| state_machine::member(&self.applied, id))
        });
        match (leader, write) {
            (Some(l), true) => Reply::error(format!("{REDIRECT_CODE} You can't write against a read only replica. leader={}", l.resp_addr)),
            (Some(l), false) => Reply::error(format!(
                "{REDIRECT_CODE} Linearizable reads are served by the leader (or send READONLY to read from this replica). leader={}",
                l.resp_addr
            )),
            (None, _) => Reply::error("CLUSTERDOWN No Raft leader is known yet; retry shortly"),
        }
    }

    /// `GET /status` and INFO replication.
    pub fn status(&self) -> Status {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership().clone();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let replication = metrics.replication.clone();
        let last_log = metrics.last_log_index;
        let members = membership
            .nodes()
            .map(|(id, m)| {
                let matched = replication
                    .as_ref()
                    .and_then(|r| r.get(id).cloned())
                    .flatten()
                    .map(|l| l.index);
                let matched = if *id == self.id { last_log } else { matched };
                MemberStatus {
                    id: m.name.clone(),
                    raft_addr: m.raft_addr.clone(),
                    resp_addr: m.resp_addr.clone(),
                    http_addr: m.http_addr.clone(),
                    role: if voters.contains(id) {
                        "voter"
                    } else {
                        "learner"
                    },
                    matched_index: replication.as_ref().and(matched),
                    lag: replication
                        .as_ref()
                        .and(matched.map(|m| last_log.unwrap_or(0).saturating_sub(m))),
                }
            })
            .collect();
        let initialized = metrics.membership_config.log_id().is_some() || self.has_state();
        let in_membership = membership.get_node(&self.id).is_some();
        let role = match metrics.state {
            _ if !initialized => "uninitialized",
            _ if !in_membership && metrics.membership_config.log_id().is_some() => "removed",
            ServerState::Leader => "leader",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Follower if !voters.contains(&self.id) => "learner",
            ServerState::Follower => "follower",
            ServerState::Shutdown => "shutdown",
        };
        let leader = metrics
            .current_leader
            .and_then(|l| state_machine::member(&self.applied, l));
        Status {
            id: self.me.name.clone(),
            cluster_id: self.applied.cluster_id.lock().clone(),
            incarnation: self.me.incarnation.clone(),
            role,
            term: metrics.current_term,
            leader_id: leader.as_ref().map(|l| l.name.clone()),
            leader: leader.map(MemberRef::from),
            commit_index: self.log.committed_index(),
            applied_index: metrics.last_applied.map(|l| l.index),
            last_log_index: metrics.last_log_index,
            snapshot_index: metrics.snapshot.map(|l| l.index),
            members,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MemberRef {
    pub id: String,
    pub raft_addr: String,
    pub resp_addr: String,
    pub http_addr: String,
}

impl From<Member> for MemberRef {
    fn from(m: Member) -> Self {
        MemberRef {
            id: m.name,
            raft_addr: m.raft_addr,
            resp_addr: m.resp_addr,
            http_addr: m.http_addr,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MemberStatus {
    pub id: String,
    pub raft_addr: String,
    pub resp_addr: String,
    pub http_addr: String,
    pub role: &'static str,
    pub matched_index: Option<u64>,
    pub lag: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub id: String,
    /// The name given at bootstrap; `None` until its entry is applied here.
    pub cluster_id: Option<String>,
    pub incarnation: String,
    pub role: &'static str,
    pub term: u64,
    pub leader_id: Option<String>,
    pub leader: Option<MemberRef>,
    pub commit_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub last_log_index: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub members: Vec<MemberStatus>,
}

/// This node as others must reach it: advertised addresses win over bind addresses.
fn advertised_member(args: &NodeArgs, incarnation: String) -> anyhow::Result<Member> {
    let resp_bind = format!("{}:{}", args.host, args.port);
    let pick = |advertised: &Option<String>, bind: &str, flag: &str| -> anyhow::Result<String> {
        match advertised {
            Some(a) => Ok(a.clone()),
            None if bind.starts_with("0.0.0.0") || bind.starts_with("[::]") => {
                warn!("{bind} is a wildcard address; set --{flag} so peers can reach this node");
                Ok(bind.to_string())
            }
            None => Ok(bind.to_string()),
        }
    };
    Ok(Member {
        name: args.node_id.clone(),
        raft_addr: pick(&args.raft_advertise, &args.raft_bind, "raft-advertise")?,
        resp_addr: pick(&args.resp_advertise, &resp_bind, "resp-advertise")?,
        http_addr: pick(&args.http_advertise, &args.raft_http, "http-advertise")?,
        incarnation,
    })
}

fn raft_config(args: &NodeArgs) -> anyhow::Result<Arc<Config>> {
    let election_ms = args.raft_election_timeout.as_millis() as u64;
    let config = Config {
        cluster_name: "tinyredis".into(),
        heartbeat_interval: election_ms / 3,
        election_timeout_min: election_ms,
        election_timeout_max: election_ms * 2,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(args.raft_snap_threshold),
        // Keep some log behind a snapshot so briefly lagging followers catch up from the
        // log instead of a full snapshot install.
        max_in_snapshot_log_to_keep: (args.raft_snap_threshold / 2).min(1000),
        install_snapshot_timeout: 10_000,
        ..Default::default()
    };
    Ok(Arc::new(config.validate()?))
}
