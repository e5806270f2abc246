//! Raft RPCs between nodes over TCP on `--raft-bind`: length-prefixed bincode frames on a
//! persistent connection per peer. A connection opens with the cluster secret, so a node
//! outside the cluster cannot vote or append.
//!
//! openraft makes a fresh client per peer for every leadership check (each linearizable
//! read round), so finished clients hand their connections to a pool that the next
//! client for the same peer takes from, instead of each round dialing and greeting anew.
//!
//! Besides Raft's own RPCs, a follower started with `--forward-to-leader` proposes a
//! client's transaction on the leader over the same connections ([`PeerClient::propose`]).

use super::types::{Member, NodeId, Request, Response, TypeConfig};
use super::RaftNode;
use crate::protocol::Reply;
use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::EntryPayload;
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

/// Frames above this are refused: a peer sending more is broken or hostile.
const MAX_FRAME: u32 = 1 << 30;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Bytes of entries one AppendEntries carries (one entry always goes): openraft 0.9
/// times a replication RPC out after the heartbeat interval, and a follower lagging by
/// hundreds of megabytes was sent them all at once, timed out and was sent them again.
const MAX_APPEND_BYTES: usize = 4 << 20;
/// Idle connections kept per peer: leadership checks run one at a time, beside one
/// replication stream, so a few cover the steady state.
const IDLE_PER_PEER: usize = 4;

#[derive(Serialize, Deserialize)]
struct Hello {
    secret: Option<String>,
    /// The incarnation of the target the sender means; empty when unknown.
    incarnation: String,
}

#[derive(Serialize, Deserialize)]
enum RpcRequest {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    /// A follower's client write, for the leader to propose as its own.
    Propose(Request),
}

#[derive(Serialize, Deserialize)]
enum RpcResponse {
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    Snapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
    Proposed(Result<Response, Reply>),
}

async fn write_frame<T: Serialize>(stream: &mut TcpStream, value: &T) -> std::io::Result<()> {
    // Serialised behind its length in one buffer: an append of a group-commit batch is
    // tens of kilobytes, sent to each follower.
    let len = bincode::serialized_size(value).map_err(std::io::Error::other)?;
    let mut frame = Vec::with_capacity(4 + len as usize);
    frame.extend_from_slice(&(len as u32).to_be_bytes());
    bincode::serialize_into(&mut frame, value).map_err(std::io::Error::other)?;
    stream.write_all(&frame).await
}

async fn read_frame<T: DeserializeOwned>(stream: &mut TcpStream) -> std::io::Result<T> {
    let len = stream.read_u32().await?;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "frame of {len} bytes is too large"
        )));
    }
    let mut body = vec![0; len as usize];
    stream.read_exact(&mut body).await?;
    bincode::deserialize(&body).map_err(std::io::Error::other)
}

/// How many of `rpc`'s entries to send when all of them would take more than `limit`
/// bytes (an oversized message would time out, or pass `MAX_FRAME`, and be retried
/// forever); `None` when they fit, or when one entry is all there is.
fn entries_that_fit(rpc: &AppendEntriesRequest<TypeConfig>, limit: usize) -> Option<u64> {
    let sizes = rpc.entries.iter().map(|e| match &e.payload {
        EntryPayload::Normal(request) => request.encoded_bytes() + 64,
        _ => 1024,
    });
    let mut total = 0;
    for (fitting, size) in sizes.enumerate() {
        total += size;
        if total > limit {
            return (rpc.entries.len() > 1).then_some(fitting.max(1) as u64);
        }
    }
    None
}

/// Makes a client per peer.
#[derive(Clone)]
pub struct Network {
    secret: Option<String>,
    idle: Pool,
}

impl Network {
    pub fn new(secret: Option<String>) -> Self {
        Network {
            secret,
            idle: Pool::default(),
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &Member) -> PeerClient {
        PeerClient {
            peer: Peer {
                target,
                addr: node.raft_addr.clone(),
                incarnation: node.incarnation.clone(),
            },
            secret: self.secret.clone(),
            conn: None,
            reused: false,
            in_exchange: false,
            idle: self.idle.clone(),
        }
    }
}

/// A peer as one connection greets it: the same node at the same address and incarnation.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Peer {
    target: NodeId,
    addr: String,
    incarnation: String,
}

/// Greeted connections with no exchange in progress, by peer.
#[derive(Clone, Default)]
struct Pool(Arc<Mutex<HashMap<Peer, Vec<TcpStream>>>>);

impl Pool {
    fn take(&self, peer: &Peer) -> Option<TcpStream> {
        self.0.lock().get_mut(peer)?.pop()
    }

    fn forget(&self, peer: &Peer) {
        self.0.lock().remove(peer);
    }

    fn put(&self, peer: &Peer, stream: TcpStream) {
        let mut idle = self.0.lock();
        let streams = idle.entry(peer.clone()).or_default();
        if streams.len() < IDLE_PER_PEER {
            streams.push(stream);
        }
    }
}

pub struct PeerClient {
    peer: Peer,
    secret: Option<String>,
    conn: Option<TcpStream>,
    /// The connection came from the pool: the peer may have closed it since.
    reused: bool,
    /// An exchange started and has not finished: a call dropped here (a timeout above
    /// it) leaves half a frame on the stream, which must then never be reused.
    in_exchange: bool,
    idle: Pool,
}

impl Drop for PeerClient {
    fn drop(&mut self) {
        if let Some(stream) = self.conn.take() {
            if !self.in_exchange {
                self.idle.put(&self.peer, stream);
            }
        }
    }
}

/// How one RPC failed, before it is typed for openraft.
enum CallError {
    Unreachable(std::io::Error),
    Network(std::io::Error),
}

impl PeerClient {
    /// A greeted connection to the peer, marked as in an exchange until `exchange` ends.
    async fn connect(&mut self) -> Result<&mut TcpStream, CallError> {
        if self.in_exchange {
            self.conn = None;
        }
        if self.conn.is_none() {
            self.conn = self.idle.take(&self.peer);
            self.reused = self.conn.is_some();
        }
        if self.conn.is_none() {
            let connect = TcpStream::connect(&self.peer.addr);
            let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, connect)
                .await
                .map_err(|_| CallError::Unreachable(std::io::ErrorKind::TimedOut.into()))?
                .map_err(CallError::Unreachable)?;
            let _ = stream.set_nodelay(true);
            write_frame(
                &mut stream,
                &Hello {
                    secret: self.secret.clone(),
                    incarnation: self.peer.incarnation.clone(),
                },
            )
            .await
            .map_err(CallError::Unreachable)?;
            self.conn = Some(stream);
        }
        self.in_exchange = true;
        Ok(self.conn.as_mut().expect("connected"))
    }

    /// Sends `request` and reads the answer. Raft RPCs may be repeated, so one that failed
    /// on a pooled connection (which the peer may have closed while it sat idle) is sent
    /// once more on a new one.
    async fn call(&mut self, request: RpcRequest, ttl: Duration) -> Result<RpcResponse, CallError> {
        let deadline = tokio::time::Instant::now() + ttl;
        let first = self.exchange(&request, deadline).await;
        match first {
            Err(CallError::Network(_)) if self.reused => {
                // Its siblings in the pool most likely went stale with it.
                self.idle.forget(&self.peer);
                self.reused = false;
                self.exchange(&request, deadline).await
            }
            first => first,
        }
    }

    async fn exchange(
        &mut self,
        request: &RpcRequest,
        deadline: tokio::time::Instant,
    ) -> Result<RpcResponse, CallError> {
        let exchange = async {
            let stream = self.connect().await?;
            write_frame(stream, request)
                .await
                .map_err(CallError::Network)?;
            read_frame(stream).await.map_err(CallError::Network)
        };
        let result = match tokio::time::timeout_at(deadline, exchange).await {
            Ok(result) => result,
            Err(_) => Err(CallError::Network(std::io::ErrorKind::TimedOut.into())),
        };
        if result.is_err() {
            // The stream may hold half a frame: start over on a new connection.
            self.conn = None;
        }
        self.in_exchange = false;
        result
    }

    /// Has the peer, which leads, propose `request` and answer with its outcome. Sent
    /// once, never again on another connection as Raft's RPCs are: a write must not run
    /// twice, so any failure here leaves its outcome unknown.
    pub async fn propose(&mut self, request: Request, ttl: Duration) -> Result<Response, Reply> {
        let deadline = tokio::time::Instant::now() + ttl;
        match self.exchange(&RpcRequest::Propose(request), deadline).await {
            Ok(RpcResponse::Proposed(outcome)) => outcome,
            Ok(_) => Err(Reply::error(
                "ERR forwarding to the leader failed (it answered another RPC); the outcome is unknown",
            )),
            Err(CallError::Unreachable(e) | CallError::Network(e)) => Err(Reply::error(format!(
                "ERR forwarding to the leader failed ({e}); the outcome is unknown"
            ))),
        }
    }

    fn rpc_error<E: std::error::Error>(&self, e: CallError) -> RPCError<NodeId, Member, E> {
        match e {
            CallError::Unreachable(e) => RPCError::Unreachable(Unreachable::new(&e)),
            CallError::Network(e) => RPCError::Network(NetworkError::new(&e)),
        }
    }

    fn remote<E: std::error::Error>(&self, e: E) -> RPCError<NodeId, Member, E> {
        RPCError::RemoteError(RemoteError::new(self.peer.target, e))
    }

    fn unexpected<E: std::error::Error>(&self) -> RPCError<NodeId, Member, E> {
        let e = std::io::Error::other("peer answered a different RPC");
        RPCError::Network(NetworkError::new(&e))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        if let Some(hint) = entries_that_fit(&rpc, MAX_APPEND_BYTES) {
            return Err(PayloadTooLarge::new_entries_hint(hint).into());
        }
        match self.call(RpcRequest::Append(rpc), option.hard_ttl()).await {
            Ok(RpcResponse::Append(Ok(resp))) => Ok(resp),
            Ok(RpcResponse::Append(Err(e))) => Err(self.remote(e)),
            Ok(_) => Err(self.unexpected()),
            Err(e) => Err(self.rpc_error(e)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Member, RaftError<NodeId, InstallSnapshotError>>,
    > {
        match self
            .call(RpcRequest::Snapshot(rpc), option.hard_ttl())
            .await
        {
            Ok(RpcResponse::Snapshot(Ok(resp))) => Ok(resp),
            Ok(RpcResponse::Snapshot(Err(e))) => Err(self.remote(e)),
            Ok(_) => Err(self.unexpected()),
            Err(e) => Err(self.rpc_error(e)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        match self.call(RpcRequest::Vote(rpc), option.hard_ttl()).await {
            Ok(RpcResponse::Vote(Ok(resp))) => Ok(resp),
            Ok(RpcResponse::Vote(Err(e))) => Err(self.remote(e)),
            Ok(_) => Err(self.unexpected()),
            Err(e) => Err(self.rpc_error(e)),
        }
    }
}

/// Who this node is, as peers must name it: the cluster secret and its incarnation.
#[derive(Clone)]
pub struct Identity {
    pub secret: Option<String>,
    pub incarnation: String,
}

/// Serves peers' RPCs on `listener` for `node`.
pub async fn serve(listener: TcpListener, node: Arc<RaftNode>, identity: Identity) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                warn!(error = %e, "raft accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (node, identity) = (node.clone(), identity.clone());
        tokio::spawn(async move {
            if let Err(e) = serve_peer(stream, node, identity).await {
                debug!(peer = %addr, error = %e, "raft peer connection closed");
            }
        });
    }
}

async fn serve_peer(
    mut stream: TcpStream,
    node: Arc<RaftNode>,
    identity: Identity,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let hello: Hello = read_frame(&mut stream).await?;
    if identity.secret.is_some() && hello.secret != identity.secret {
        warn!("refused a raft connection with a wrong cluster secret");
        return Ok(());
    }
    if !hello.incarnation.is_empty() && hello.incarnation != identity.incarnation {
        warn!(
            expected = %hello.incarnation,
            "refused raft traffic meant for an earlier incarnation of this node: its data was lost; remove it from the cluster and add it again"
        );
        return Ok(());
    }
    let raft = &node.raft;
    loop {
        let response = match read_frame(&mut stream).await? {
            RpcRequest::Append(rpc) => RpcResponse::Append(raft.append_entries(rpc).await),
            RpcRequest::Vote(rpc) => RpcResponse::Vote(raft.vote(rpc).await),
            RpcRequest::Snapshot(rpc) => RpcResponse::Snapshot(raft.install_snapshot(rpc).await),
            RpcRequest::Propose(request) => {
                RpcResponse::Proposed(node.propose_forwarded(request).await)
            }
        };
        write_frame(&mut stream, &response).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::types::{Entry, LogId, Request, Vote};
    use bytes::Bytes;

    fn append_of(values: &[usize]) -> AppendEntriesRequest<TypeConfig> {
        let entries = values
            .iter()
            .enumerate()
            .map(|(i, &len)| Entry {
                log_id: LogId::new(openraft::CommittedLeaderId::new(1, 1), i as u64 + 1),
                payload: EntryPayload::Normal(Request::Command {
                    db: 0,
                    args: vec![Bytes::from_static(b"SET"), Bytes::from(vec![b'v'; len])],
                    now_ms: 0,
                    seed: 0,
                }),
            })
            .collect();
        AppendEntriesRequest {
            vote: Vote::new_committed(1, 1),
            prev_log_id: None,
            entries,
            leader_commit: None,
        }
    }

    #[test]
    fn an_append_too_large_for_a_frame_is_split_and_one_entry_always_goes() {
        assert_eq!(entries_that_fit(&append_of(&[1000; 10]), 100_000), None);
        let hint = entries_that_fit(&append_of(&[1000; 10]), 3500).unwrap();
        assert_eq!(hint, 3, "three entries of about 1.1 KB fit in 3.5 KB");
        assert_eq!(entries_that_fit(&append_of(&[5000, 10]), 3500), Some(1));
        assert_eq!(entries_that_fit(&append_of(&[5000]), 3500), None);
    }

    /// A peer that grants every vote, counting the connections it accepts; with
    /// `close_after_one`, it hangs up after answering once, as a restarted peer has.
    async fn fake_peer(close_after_one: bool) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let _: Hello = read_frame(&mut stream).await?;
                    loop {
                        let RpcRequest::Vote(rpc) = read_frame(&mut stream).await? else {
                            panic!("only votes are sent here");
                        };
                        let granted = VoteResponse::new(rpc.vote, None, true);
                        write_frame(&mut stream, &RpcResponse::Vote(Ok(granted))).await?;
                        if close_after_one {
                            return Ok::<_, std::io::Error>(());
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    async fn vote_through_new_client(network: &mut Network, addr: &str) {
        let member = Member {
            name: "peer".into(),
            raft_addr: addr.into(),
            resp_addr: String::new(),
            http_addr: String::new(),
            incarnation: "i1".into(),
        };
        let mut client = network.new_client(2, &member).await;
        let option = RPCOption::new(Duration::from_secs(5));
        let reply = client.vote(VoteRequest::new(Vote::new(1, 1), None), option);
        assert!(reply.await.expect("the vote is answered").vote_granted);
    }

    /// How many connections the peer accepted while `votes` clients, one after another,
    /// each had a vote answered.
    async fn connections_for_votes(close_after_one: bool, votes: usize) -> usize {
        let (addr, accepted) = fake_peer(close_after_one).await;
        let mut network = Network::new(None);
        for _ in 0..votes {
            vote_through_new_client(&mut network, &addr).await;
        }
        accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn clients_made_one_after_another_share_one_connection() {
        assert_eq!(connections_for_votes(false, 20).await, 1);
    }

    #[tokio::test]
    async fn a_pooled_connection_the_peer_closed_is_replaced_without_an_error() {
        assert_eq!(connections_for_votes(true, 5).await, 5);
    }
}
