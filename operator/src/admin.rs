//! Client of the nodes' admin HTTP API (`docs/admin-api.md`), behind the
//! [`AdminApi`] trait so the orchestration can be driven by a fake in unit
//! tests and by real node processes on loopback in lifecycle tests.
//!
//! Nodes are addressed by the http address they advertise
//! (`<pod>.<headless>.<ns>.svc:17000`); a [`Resolver`] turns that into a URL,
//! which is how a test harness points pod names at loopback ports.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A node's own view, as `GET /status` answers it.
///
/// Lenient where real nodes differ from the contract: indexes are null
/// before anything was logged (read as 0), and `cluster_id` may be absent
/// (nodes that do not track one; see [`crate::orchestrate`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub id: String,
    #[serde(default)]
    pub cluster_id: Option<String>,
    pub role: NodeRole,
    #[serde(default)]
    pub term: u64,
    #[serde(default)]
    pub leader_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_zero")]
    pub commit_index: u64,
    #[serde(default, deserialize_with = "null_as_zero")]
    pub applied_index: u64,
    #[serde(default)]
    pub members: Vec<Member>,
}

fn null_as_zero<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    Ok(Option::<u64>::deserialize(deserializer)?.unwrap_or(0))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    Leader,
    Follower,
    Candidate,
    Learner,
    /// Removed from the membership; waits rather than rejoining silently.
    Removed,
    /// No Raft state at all: a fresh (or wiped) node.
    Uninitialized,
    /// The Raft core stopped (the process is shutting down).
    Shutdown,
}

/// One entry of the Raft membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: String,
    pub raft_addr: String,
    pub resp_addr: String,
    pub http_addr: String,
    pub role: MemberKind,
    /// Last log index known to be replicated to the member; leader only.
    #[serde(default)]
    pub matched_index: Option<u64>,
    /// Entries behind the leader; known on the leader only.
    #[serde(default)]
    pub lag: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberKind {
    Voter,
    Learner,
}

/// Body of `POST /join`: the new node's advertised addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    pub id: String,
    pub raft_addr: String,
    pub resp_addr: String,
    pub http_addr: String,
    /// Always false from the operator: it promotes learners itself, so that
    /// it knows when one membership change ends and the next may start.
    pub voter: bool,
}

/// Which node to call and with which shared secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTarget {
    /// Advertised admin address, `host:port`.
    pub http_addr: String,
    /// Cluster secret for mutating calls, when the cluster has one.
    pub secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    #[error("node {0} is unreachable: {1}")]
    Unreachable(String, String),
    #[error("node {addr} is not the leader (leader: {leader:?})")]
    NotLeader {
        addr: String,
        leader: Option<String>,
    },
    #[error("node {addr} answered {status}: {message}")]
    Rejected {
        addr: String,
        status: u16,
        message: String,
    },
    #[error("node {0} answered something that is not a status: {1}")]
    Decode(String, String),
}

/// The admin calls the operator makes.
#[async_trait]
pub trait AdminApi: Send + Sync {
    async fn status(&self, node: &AdminTarget) -> Result<NodeStatus, AdminError>;
    async fn init(
        &self,
        node: &AdminTarget,
        cluster_id: Option<&str>,
    ) -> Result<NodeStatus, AdminError>;
    async fn join(
        &self,
        leader: &AdminTarget,
        request: &JoinRequest,
    ) -> Result<NodeStatus, AdminError>;
    async fn promote(&self, leader: &AdminTarget, id: &str) -> Result<NodeStatus, AdminError>;
    async fn remove(&self, leader: &AdminTarget, id: &str) -> Result<NodeStatus, AdminError>;
    async fn transfer_leadership(
        &self,
        leader: &AdminTarget,
        to: Option<&str>,
    ) -> Result<(), AdminError>;
}

/// Maps an advertised `host:port` to the base URL to call.
pub trait Resolver: Send + Sync {
    fn base_url(&self, http_addr: &str) -> String;

    /// The address a node advertises for `addr` (its DNS name and port), as
    /// put into a join request. In a cluster the DNS name itself; a test
    /// harness whose nodes run on loopback maps it to the loopback port the
    /// node was started to advertise.
    fn advertised(&self, addr: &str) -> String {
        addr.to_string()
    }
}

/// In a cluster the advertised names resolve through DNS as they are.
pub struct DnsResolver;

impl Resolver for DnsResolver {
    fn base_url(&self, http_addr: &str) -> String {
        format!("http://{http_addr}")
    }
}

/// [`AdminApi`] over HTTP.
pub struct HttpAdmin {
    http: reqwest::Client,
    resolver: Arc<dyn Resolver>,
}

impl HttpAdmin {
    /// Redirects are not followed: a 307 means our idea of the leader is
    /// stale, and the next reconcile will look again rather than act on a
    /// node it has not observed.
    pub fn new(resolver: Arc<dyn Resolver>) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .expect("static reqwest configuration");
        Self { http, resolver }
    }

    fn url(&self, node: &AdminTarget, path: &str) -> String {
        format!("{}{path}", self.resolver.base_url(&node.http_addr))
    }

    async fn send(
        &self,
        node: &AdminTarget,
        request: reqwest::RequestBuilder,
    ) -> Result<String, AdminError> {
        let request = match &node.secret {
            Some(secret) => request.bearer_auth(secret),
            None => request,
        };
        let addr = node.http_addr.clone();
        let response = request
            .send()
            .await
            .map_err(|e| AdminError::Unreachable(addr.clone(), e.to_string()))?;
        let status = response.status();
        if status == reqwest::StatusCode::TEMPORARY_REDIRECT {
            let leader = response
                .headers()
                .get("x-raft-leader")
                .and_then(|v| v.to_str().ok())
                .map(String::from);
            return Err(AdminError::NotLeader { addr, leader });
        }
        let body = response
            .text()
            .await
            .map_err(|e| AdminError::Unreachable(addr.clone(), e.to_string()))?;
        if !status.is_success() {
            return Err(AdminError::Rejected {
                addr,
                status: status.as_u16(),
                message: error_text(&body),
            });
        }
        Ok(body)
    }

    async fn send_for_status(
        &self,
        node: &AdminTarget,
        request: reqwest::RequestBuilder,
    ) -> Result<NodeStatus, AdminError> {
        let body = self.send(node, request).await?;
        serde_json::from_str(&body)
            .map_err(|e| AdminError::Decode(node.http_addr.clone(), e.to_string()))
    }
}

/// The `error` field of an error answer, or the raw text if it has none.
fn error_text(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(String::from))
        .unwrap_or_else(|| body.trim().to_string())
}

#[async_trait]
impl AdminApi for HttpAdmin {
    async fn status(&self, node: &AdminTarget) -> Result<NodeStatus, AdminError> {
        self.send_for_status(node, self.http.get(self.url(node, "/status")))
            .await
    }

    async fn init(
        &self,
        node: &AdminTarget,
        cluster_id: Option<&str>,
    ) -> Result<NodeStatus, AdminError> {
        let body = serde_json::json!({ "cluster_id": cluster_id });
        self.send_for_status(node, self.http.post(self.url(node, "/init")).json(&body))
            .await
    }

    async fn join(
        &self,
        leader: &AdminTarget,
        request: &JoinRequest,
    ) -> Result<NodeStatus, AdminError> {
        let request = JoinRequest {
            raft_addr: self.resolver.advertised(&request.raft_addr),
            resp_addr: self.resolver.advertised(&request.resp_addr),
            http_addr: self.resolver.advertised(&request.http_addr),
            ..request.clone()
        };
        self.send_for_status(
            leader,
            self.http.post(self.url(leader, "/join")).json(&request),
        )
        .await
    }

    async fn promote(&self, leader: &AdminTarget, id: &str) -> Result<NodeStatus, AdminError> {
        let url = self.url(leader, &format!("/members/{id}/promote"));
        self.send_for_status(leader, self.http.post(url)).await
    }

    async fn remove(&self, leader: &AdminTarget, id: &str) -> Result<NodeStatus, AdminError> {
        let url = self.url(leader, &format!("/members/{id}"));
        self.send_for_status(leader, self.http.delete(url)).await
    }

    async fn transfer_leadership(
        &self,
        leader: &AdminTarget,
        to: Option<&str>,
    ) -> Result<(), AdminError> {
        let body = serde_json::json!({ "to": to });
        let url = self.url(leader, "/leadership/transfer");
        self.send(leader, self.http.post(url).json(&body))
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_from_the_contract_parses() {
        let status: NodeStatus = serde_json::from_value(serde_json::json!({
            "id": "node-1", "cluster_id": "c0ffee", "role": "leader", "term": 3,
            "leader_id": "node-1",
            "leader": {"id":"node-1","raft_addr":"h:7000","resp_addr":"h:6379","http_addr":"h:17000"},
            "commit_index": 120, "applied_index": 120, "last_log_index": 120,
            "members": [{"id":"node-1","raft_addr":"h:7000","resp_addr":"h:6379",
                         "http_addr":"h:17000","role":"voter","matched_index":120,"lag":0}]
        }))
        .unwrap();
        assert_eq!(status.role, NodeRole::Leader);
        assert_eq!(status.members[0].role, MemberKind::Voter);
        assert_eq!(status.members[0].lag, Some(0));
    }

    #[test]
    fn status_of_a_real_fresh_node_parses() {
        // As `tinyredis node` answers before /init: null indexes, no
        // cluster_id, extra fields.
        let status: NodeStatus = serde_json::from_value(serde_json::json!({
            "id": "demo-1", "role": "uninitialized", "term": 0, "leader_id": null,
            "leader": null, "commit_index": null, "applied_index": null,
            "last_log_index": null, "snapshot_index": null, "members": []
        }))
        .unwrap();
        assert_eq!(status.role, NodeRole::Uninitialized);
        assert_eq!((status.commit_index, status.applied_index), (0, 0));
        assert_eq!(status.cluster_id, None);
    }

    #[test]
    fn error_text_prefers_the_error_field() {
        assert_eq!(error_text(r#"{"error": "not leader"}"#), "not leader");
        assert_eq!(error_text("plain text\n"), "plain text");
    }
}
