//! The admin HTTP API against real `tinyredis node` processes started with a cluster
//! secret: every mutating route refuses requests without the right secret and changes
//! nothing; malformed requests get a 4xx with a JSON error message, never a panic, and
//! the node keeps serving.

mod common;
use common::cluster::*;
use common::Resp;
use serde_json::{json, Value};
use std::time::Duration;

const SECRET: &str = "s3cret-for-tests";

/// A raw request; `auth` is the whole Authorization header value.
fn request(
    method: &str,
    addr: &str,
    path: &str,
    auth: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let mut req =
        ureq::request(method, &format!("http://{addr}{path}")).timeout(Duration::from_secs(30));
    if let Some(auth) = auth {
        req = req.set("Authorization", auth);
    }
    if let Some(content_type) = content_type {
        req = req.set("Content-Type", content_type);
    }
    match req.send_bytes(body) {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{method} {path}: {e}"),
    }
}

fn bearer() -> String {
    format!("Bearer {SECRET}")
}

/// What must not change when a request is refused: who is in with which role, who
/// leads, in which term.
fn membership(cluster: &Cluster, i: usize) -> (Vec<(Value, Value)>, Value, Value) {
    let status = cluster.status(i).expect("status");
    let members = status["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| (m["id"].clone(), m["role"].clone()))
        .collect();
    (members, status["leader_id"].clone(), status["term"].clone())
}

/// Declares a body of `declared` bytes but sends none of it: a node that judges the
/// declared size answers at once, and the answer is not lost to a reset of a connection
/// still sending (as a client library writing the whole body would see).
fn declare_huge_body(addr: &str, path: &str, declared: usize) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n",
        bearer()
    )
    .unwrap();
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("an answer before the body");
    let status = response[9..12].parse().expect("status code");
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, body.to_string())
}

/// The error body is JSON with a non-empty message.
fn assert_json_error(body: &str, context: &str) {
    let parsed: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{context}: error body is not JSON ({e}): {body:?}"));
    let message = parsed["error"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{context}: no error message in {body}");
}

fn assert_still_serving(cluster: &Cluster, leader: usize) {
    let mut conn = cluster.conn(leader);
    assert_eq!(
        conn.cmd(&["SET", "after", "hostile"]),
        Resp::Line(b'+', b"OK".to_vec())
    );
    assert!(http_get(&cluster.nodes[leader].http(), "/status").is_some());
}

fn mutating_routes(follower: &str) -> Vec<(&'static str, String, Vec<u8>)> {
    let join = json!({"id": "intruder", "raft_addr": "127.0.0.1:1", "voter": true});
    vec![
        ("POST", "/init".into(), b"{}".to_vec()),
        ("POST", "/join".into(), join.to_string().into_bytes()),
        ("DELETE", format!("/members/{follower}"), Vec::new()),
        ("POST", format!("/members/{follower}/promote"), Vec::new()),
        ("POST", "/leadership/transfer".into(), b"{}".to_vec()),
        ("POST", "/leadership/campaign".into(), b"{}".to_vec()),
    ]
}

#[test]
fn mutating_routes_refuse_a_missing_or_wrong_secret_and_change_nothing() {
    let cluster = Cluster::start(2, &["--cluster-secret", SECRET]);
    let leader = cluster.wait_leader();
    let follower = 1 - leader;
    let before = membership(&cluster, leader);
    let wrong = [
        None,
        Some("Bearer wrong".to_string()),
        Some(format!("Bearer {SECRET}x")),
        Some(format!("Basic {SECRET}")),
        Some(SECRET.to_string()),
        Some("Bearer ".to_string()),
    ];
    for node in [leader, follower] {
        let addr = cluster.nodes[node].http();
        for (method, path, body) in mutating_routes(&cluster.nodes[follower].name) {
            for auth in &wrong {
                let (status, text) = request(
                    method,
                    &addr,
                    &path,
                    auth.as_deref(),
                    Some("application/json"),
                    &body,
                );
                let context = format!("{method} {path} on node {node} with {auth:?}");
                assert_eq!(status, 401, "{context}: {text}");
                assert_json_error(&text, &context);
            }
        }
    }
    assert_eq!(membership(&cluster, leader), before);
    assert_eq!(cluster.wait_leader(), leader);
    assert_still_serving(&cluster, leader);
}

/// Method, path, content type, body, and the status it must get.
type Case<'a> = (&'a str, &'a str, Option<&'a str>, &'a [u8], u16);

#[test]
fn malformed_requests_get_a_clear_4xx_and_the_node_keeps_serving() {
    let cluster = Cluster::start(2, &["--cluster-secret", SECRET]);
    let leader = cluster.wait_leader();
    let addr = cluster.nodes[leader].http();
    let before = membership(&cluster, leader);
    let auth = bearer();
    let json_type = Some("application/json");
    let cases: Vec<Case> = vec![
        ("POST", "/join", json_type, b"{", 400),
        ("POST", "/join", json_type, b"", 400),
        ("POST", "/join", json_type, b"null", 400),
        ("POST", "/join", json_type, b"[1,2,3]", 400),
        (
            "POST",
            "/join",
            json_type,
            br#"{"id": 5, "raft_addr": []}"#,
            400,
        ),
        ("POST", "/join", json_type, br#"{"id": "x"}"#, 400),
        (
            "POST",
            "/join",
            json_type,
            br#"{"id": "", "raft_addr": ""}"#,
            400,
        ),
        (
            "POST",
            "/join",
            json_type,
            br#"{"id": "x", "raft_addr": "h:1", "voter": "yes"}"#,
            400,
        ),
        ("POST", "/join", json_type, b"\xff\xfe\x00garbage", 400),
        (
            "POST",
            "/join",
            Some("application/x-www-form-urlencoded"),
            b"%%%=&&id",
            400,
        ),
        ("POST", "/join", Some("text/plain"), b"id=x&addr=y", 400),
        (
            "POST",
            "/leadership/transfer",
            json_type,
            b"{\"to\": 5}",
            400,
        ),
        ("POST", "/leadership/transfer", json_type, b"{\"to\": ", 400),
        ("DELETE", "/members/%FF%FE", None, b"", 400),
        ("POST", "/members/%C0/promote", None, b"", 400),
        ("DELETE", "/members/nobody", None, b"", 404),
    ];
    for (method, path, content_type, body, expected) in cases {
        let (status, text) = request(method, &addr, path, Some(&auth), content_type, body);
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]);
        let context = format!("{method} {path} {content_type:?} {shown:?}");
        assert_eq!(status, expected, "{context}: {text}");
        assert_json_error(&text, &context);
    }
    for path in ["/join", "/leadership/transfer"] {
        let (status, text) = declare_huge_body(&addr, path, 64 << 20);
        assert_eq!(status, 413, "{path} with a 64 MB body: {text}");
        assert_json_error(&text, path);
    }
    assert_eq!(membership(&cluster, leader), before);
    assert_still_serving(&cluster, leader);
}

/// GET routes stay open without the secret: probes and the operator read them.
#[test]
fn read_only_routes_need_no_secret() {
    let cluster = Cluster::start(1, &["--cluster-secret", SECRET]);
    let addr = cluster.nodes[0].http();
    for path in ["/healthz", "/readyz", "/status", "/metrics"] {
        let (status, text) = request("GET", &addr, path, None, None, b"");
        assert_eq!(status, 200, "GET {path}: {text}");
    }
}
