//! The node's admin HTTP API on `--raft-http` (see docs/admin-api.md): status, health,
//! and membership changes. Mutating requests need the cluster secret when one is set;
//! leader-only requests sent to a follower are redirected to the leader.

use super::types::{node_id, Member, NodeId};
use super::RaftNode;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};
use openraft::ChangeMembers;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

type Node = Arc<RaftNode>;

/// Routes of the admin API (node.rs adds `/metrics` beside them).
pub fn router(node: Node) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .route("/init", post(init))
        .route("/join", post(join))
        .route("/members/{id}", delete(remove_member))
        .route("/members/{id}/promote", post(promote))
        .route("/leadership/transfer", post(transfer_leadership))
        .route("/leadership/campaign", post(campaign))
        .layer(middleware::from_fn_with_state(node.clone(), require_secret))
        .layer(middleware::from_fn(refuse_oversized))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(json_errors))
        .with_state(node)
}

/// Admin requests are a few hundred bytes of JSON.
const BODY_LIMIT: usize = 64 * 1024;

/// Refuses a body declared bigger than the limit before reading any of it.
async fn refuse_oversized(request: axum::extract::Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over {BODY_LIMIT} bytes"),
        );
    }
    next.run(request).await
}

/// Largest plain-text refusal `json_errors` rewraps; axum's are one line.
const REFUSAL_TEXT_MAX: usize = 64 * 1024;

/// axum's extractors refuse in plain text (a path that is not UTF-8: 400, a body over the
/// limit: 413); give every client error the API's JSON shape, so callers parse one form.
async fn json_errors(request: axum::extract::Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if !status.is_client_error() || is_json {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), REFUSAL_TEXT_MAX)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let text = if text.trim().is_empty() {
        status.canonical_reason().unwrap_or("refused").into()
    } else {
        text
    };
    error(status, text)
}

fn error(status: StatusCode, text: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": text.to_string() }))).into_response()
}

async fn require_secret(
    State(node): State<Node>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let mutating = matches!(*request.method(), Method::POST | Method::DELETE);
    if let (true, Some(secret)) = (mutating, &node.settings.secret) {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(format!("Bearer {secret}").as_str()) {
            return error(StatusCode::UNAUTHORIZED, "missing or wrong cluster secret");
        }
    }
    next.run(request).await
}

async fn status(State(node): State<Node>) -> Response {
    Json(node.status()).into_response()
}

async fn readyz(State(node): State<Node>) -> Response {
    let s = node.status();
    let reason = match s.role {
        "uninitialized" => Some("not initialised"),
        "removed" => Some("removed from the cluster"),
        _ if s.leader_id.is_none() => Some("no leader known"),
        _ if s.applied_index < s.commit_index => Some("applying committed entries"),
        _ => None,
    };
    match reason {
        None => (StatusCode::OK, "ready").into_response(),
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, why).into_response(),
    }
}

/// `POST /init`'s optional JSON body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InitRequest {
    cluster_id: Option<String>,
}

/// Reads `/init`'s body: none, or JSON naming the cluster.
fn init_request(body: &[u8]) -> Result<Option<String>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let request: InitRequest =
        serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))?;
    match request.cluster_id {
        Some(id) if !valid_cluster_id(&id) => Err(format!(
            "cluster_id {id:?} must be 1-128 characters of letters, digits, '-', '_' and '.'"
        )),
        id => Ok(id),
    }
}

fn valid_cluster_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

async fn init(State(node): State<Node>, body: Bytes) -> Response {
    let cluster_id = match init_request(&body) {
        Ok(id) => id,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    if node.has_state() {
        return error(StatusCode::CONFLICT, "this node already has raft state");
    }
    match node.initialize(cluster_id).await {
        Ok(()) => {
            info!(node = %node.me, "initialised a new cluster through the admin API");
            Json(node.status()).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// Redirects to the leader when this node is not it: 307 keeps the method and body.
fn leader_only(node: &RaftNode, uri: &Uri) -> Option<Response> {
    if node.is_leader() {
        return None;
    }
    let Some(leader) = node.leader() else {
        return Some(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no leader known yet",
        ));
    };
    let location = format!("http://{}{}", leader.http_addr, uri.path());
    Some(
        (
            StatusCode::TEMPORARY_REDIRECT,
            [
                (header::LOCATION, location),
                (
                    header::HeaderName::from_static("x-raft-leader"),
                    leader.http_addr,
                ),
            ],
        )
            .into_response(),
    )
}

/// A join request: JSON, or the original's form fields `id` and `addr` (the raft address).
#[derive(Debug, Deserialize)]
struct JoinRequest {
    id: String,
    #[serde(alias = "addr")]
    raft_addr: String,
    #[serde(default)]
    resp_addr: Option<String>,
    #[serde(default)]
    http_addr: Option<String>,
    #[serde(default = "yes")]
    voter: bool,
    /// The joiner's incarnation; asked from its own /status when not given.
    #[serde(default)]
    incarnation: Option<String>,
}

fn yes() -> bool {
    true
}

fn parse_join(headers: &HeaderMap, body: &[u8]) -> Result<JoinRequest, String> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let parsed = if is_form {
        serde_urlencoded::from_bytes(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    };
    let request: JoinRequest = parsed?;
    if request.id.is_empty() || request.raft_addr.is_empty() {
        return Err("id and raft_addr must not be empty".into());
    }
    Ok(request)
}

async fn join(State(node): State<Node>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let request = match parse_join(&headers, &body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad join request: {e}")),
    };
    if let Some(redirect) = leader_only(&node, &uri) {
        return redirect;
    }
    let incarnation = match request.incarnation.clone() {
        Some(known) => known,
        None => incarnation_of(request.http_addr.as_deref()).await,
    };
    let member = Member {
        resp_addr: request.resp_addr.clone().unwrap_or_default(),
        http_addr: request.http_addr.clone().unwrap_or_default(),
        name: request.id.clone(),
        raft_addr: request.raft_addr.clone(),
        incarnation,
    };
    let id = node_id(&member.name);
    info!(member = %member, voter = request.voter, "adding member as a learner");
    let added = retry_in_progress(&node, || node.raft.add_learner(id, member.clone(), true)).await;
    if let Err(e) = added {
        return error(StatusCode::CONFLICT, e);
    }
    if request.voter {
        let add_voter = ChangeMembers::AddVoterIds(BTreeSet::from([id]));
        if let Err(e) = change_membership(&node, add_voter).await {
            return error(StatusCode::CONFLICT, e);
        }
        info!(member = %request.id, "promoted member to voter");
    }
    Json(node.status()).into_response()
}

type ChangeResult<T> = Result<T, RaftError<NodeId, ClientWriteError<NodeId, Member>>>;

/// Runs a membership change, waiting out one already in progress (one change at a time is
/// Raft's rule; callers such as the operator should not have to retry for it).
async fn retry_in_progress<T, F, Fut>(node: &RaftNode, mut change: F) -> ChangeResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ChangeResult<T>>,
{
    let deadline = tokio::time::Instant::now() + node.settings.timeout;
    loop {
        match change().await {
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                ChangeMembershipError::InProgress(_),
            ))) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

async fn change_membership(
    node: &RaftNode,
    change: ChangeMembers<NodeId, Member>,
) -> ChangeResult<()> {
    retry_in_progress(node, || node.raft.change_membership(change.clone(), false))
        .await
        .map(|_| ())
}

/// A joiner's incarnation from its /status; empty (no check) when it cannot be asked.
async fn incarnation_of(http_addr: Option<&str>) -> String {
    let Some(addr) = http_addr.filter(|a| !a.is_empty()) else {
        return String::new();
    };
    let status = async {
        http_client()
            .get(format!("http://{addr}/status"))
            .send()
            .await?
            .json::<serde_json::Value>()
            .await
    };
    match status.await {
        Ok(s) => s["incarnation"].as_str().unwrap_or_default().to_string(),
        Err(e) => {
            warn!(joiner = %addr, error = %e, "could not ask the joiner for its incarnation");
            String::new()
        }
    }
}

/// The Raft id of a member named `name`, if it is one.
fn member_id(node: &RaftNode, name: &str) -> Option<NodeId> {
    let id = node_id(name);
    node.applied
        .membership
        .lock()
        .membership()
        .get_node(&id)
        .map(|_| id)
}

async fn promote(State(node): State<Node>, uri: Uri, Path(name): Path<String>) -> Response {
    if let Some(redirect) = leader_only(&node, &uri) {
        return redirect;
    }
    let Some(id) = member_id(&node, &name) else {
        return error(StatusCode::NOT_FOUND, format!("no member named {name}"));
    };
    match change_membership(&node, ChangeMembers::AddVoterIds(BTreeSet::from([id]))).await {
        Ok(_) => Json(node.status()).into_response(),
        Err(e) => error(StatusCode::CONFLICT, e),
    }
}

async fn remove_member(State(node): State<Node>, uri: Uri, Path(name): Path<String>) -> Response {
    if let Some(redirect) = leader_only(&node, &uri) {
        return redirect;
    }
    let Some(id) = member_id(&node, &name) else {
        return error(StatusCode::NOT_FOUND, format!("no member named {name}"));
    };
    let ids = BTreeSet::from([id]);
    let is_voter = node
        .applied
        .membership
        .lock()
        .membership()
        .voter_ids()
        .any(|v| v == id);
    let change = if is_voter {
        ChangeMembers::RemoveVoters(ids)
    } else {
        ChangeMembers::RemoveNodes(ids)
    };
    match change_membership(&node, change).await {
        Ok(_) => {
            info!(member = %name, "removed member");
            Json(node.status()).into_response()
        }
        Err(e) => error(StatusCode::CONFLICT, e),
    }
}

#[derive(Debug, Deserialize, Default)]
struct TransferRequest {
    to: Option<String>,
}

/// Hands leadership over by asking the target to campaign: it wins because it is caught
/// up, and this node steps down on seeing the higher term.
/// Elections the target is asked to start before the transfer is given up: a voter that
/// heard from the leader moments ago can still refuse its vote.
const TRANSFER_ATTEMPTS: usize = 3;

async fn transfer_leadership(State(node): State<Node>, uri: Uri, body: Bytes) -> Response {
    let request: TransferRequest = if body.is_empty() {
        TransferRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("bad transfer request: {e}"),
                )
            }
        }
    };
    if let Some(redirect) = leader_only(&node, &uri) {
        return redirect;
    }
    let status = node.status();
    let target = status
        .members
        .iter()
        .filter(|m| m.role == "voter" && m.id != node.me.name)
        .filter(|m| request.to.as_ref().is_none_or(|to| *to == m.id))
        .min_by_key(|m| m.lag.unwrap_or(u64::MAX));
    let Some(target) = target else {
        return error(StatusCode::NOT_FOUND, "no voter to hand leadership to");
    };
    // Writes wait while leadership moves: a target that is behind the leader's log
    // loses the election it is asked to start.
    let _paused = node.pause_writes().await;
    let target_id = node_id(&target.id);
    let _silent = node.lapse_lease().await;
    for _ in 0..TRANSFER_ATTEMPTS {
        if !node.wait_caught_up(target_id, Duration::from_secs(3)).await {
            return error(
                StatusCode::CONFLICT,
                format!("{} did not catch up in time", target.id),
            );
        }
        let url = format!("http://{}/leadership/campaign", target.http_addr);
        if let Err(e) = post_json(&url, &json!({}), node.settings.secret.as_deref()).await {
            return error(
                StatusCode::BAD_GATEWAY,
                format!("{} did not take over: {e}", target.id),
            );
        }
        if node.wait_leader_is(target_id, Duration::from_secs(2)).await {
            return Json(json!({ "to": target.id })).into_response();
        }
    }
    error(
        StatusCode::CONFLICT,
        format!("{} did not win the election", target.id),
    )
}

async fn campaign(State(node): State<Node>) -> Response {
    match node.raft.trigger().elect().await {
        Ok(()) => (StatusCode::OK, "campaigning").into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

async fn post_json(
    url: &str,
    body: &serde_json::Value,
    secret: Option<&str>,
) -> anyhow::Result<serde_json::Value> {
    let mut request = http_client().post(url).json(body);
    if let Some(secret) = secret {
        request = request.bearer_auth(secret);
    }
    let response = request.send().await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    anyhow::ensure!(status.is_success(), "{status}: {body}");
    Ok(body)
}

/// `--raft-join`: asks the given nodes in turn to add this node, until one accepts.
pub async fn join_until_accepted(node: Node, targets: Vec<String>) {
    let body = json!({
        "id": node.me.name,
        "raft_addr": node.me.raft_addr,
        "resp_addr": node.me.resp_addr,
        "http_addr": node.me.http_addr,
        "incarnation": node.me.incarnation,
        "voter": true,
    });
    loop {
        for target in &targets {
            let url = format!("http://{target}/join");
            match post_json(&url, &body, node.settings.secret.as_deref()).await {
                Ok(_) => {
                    info!(via = %target, "joined the cluster");
                    return;
                }
                Err(e) => warn!(via = %target, error = %e, "join failed; will retry"),
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
