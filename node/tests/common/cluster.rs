//! A cluster of real `tinyredis node` processes on loopback, each with its own ports and
//! data directory, that tests can kill, pause, restart, grow and shrink.

use super::{free_port, tinyredis_bin, wait_for_port, Conn, Resp};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Node {
    pub name: String,
    pub port: u16,
    pub raft_port: u16,
    pub http_port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
    extra: Vec<String>,
}

impl Node {
    pub fn http(&self) -> String {
        format!("127.0.0.1:{}", self.http_port)
    }

    fn spawn(&mut self, join: Option<String>, bootstrap: bool) {
        let mut cmd = Command::new(tinyredis_bin());
        cmd.args([
            "node",
            "--node-id",
            &self.name,
            "--port",
            &self.port.to_string(),
        ])
        .args(["--raft-dir", self.dir.to_str().unwrap()])
        .args(["--raft-bind", &format!("127.0.0.1:{}", self.raft_port)])
        .args(["--raft-http", &self.http()])
        .args(["--loglevel", "warn"])
        .args(&self.extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        if bootstrap {
            cmd.arg("--raft-bootstrap");
        }
        if let Some(join) = join {
            cmd.args(["--raft-join", &join]);
        }
        self.child = Some(cmd.spawn().expect("start tinyredis node"));
        wait_for_port(self.port);
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        Command::new("kill").args([signal, &pid]).status().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    root: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

pub fn http_get(addr: &str, path: &str) -> Option<Value> {
    ureq::get(&format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(5))
        .call()
        .ok()?
        .into_json()
        .ok()
}

/// POST/DELETE with a JSON body; returns the status code and the body.
pub fn http_send(method: &str, addr: &str, path: &str, body: Option<Value>) -> (u16, String) {
    let request =
        ureq::request(method, &format!("http://{addr}{path}")).timeout(Duration::from_secs(30));
    let result = match body {
        Some(body) => request.send_json(body),
        None => request.call(),
    };
    match result {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

pub fn eventually<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Cluster {
    /// Starts `n` nodes: the first bootstraps, the others join it; waits until all are voters.
    pub fn start(n: usize, extra: &[&str]) -> Cluster {
        let root = std::env::temp_dir().join(format!(
            "tinyredis-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        let mut cluster = Cluster {
            nodes: Vec::new(),
            root,
        };
        for _ in 0..n {
            cluster.add_node(extra);
        }
        cluster.wait_voters(n);
        cluster
    }

    /// Starts one more node: it bootstraps when it is the first, else joins node 0.
    pub fn add_node(&mut self, extra: &[&str]) -> usize {
        let i = self.nodes.len();
        let mut node = Node {
            name: format!("n{}", i + 1),
            port: free_port(),
            raft_port: free_port(),
            http_port: free_port(),
            dir: self.root.join(format!("n{}", i + 1)),
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        let join = self
            .nodes
            .iter()
            .filter(|n| n.is_running())
            .map(Node::http)
            .collect::<Vec<_>>()
            .join(",");
        node.spawn((!join.is_empty()).then_some(join), i == 0);
        self.nodes.push(node);
        i
    }

    pub fn status(&self, i: usize) -> Option<Value> {
        http_get(&self.nodes[i].http(), "/status")
    }

    pub fn wait_voters(&self, n: usize) {
        eventually(&format!("{n} voters"), Duration::from_secs(30), || {
            let leader = self.leader()?;
            let status = self.status(leader)?;
            let voters = status["members"]
                .as_array()?
                .iter()
                .filter(|m| m["role"] == "voter")
                .count();
            (voters == n).then_some(())
        });
    }

    /// The index of the node that says it leads (and that every running node agrees on).
    /// The node that leads: among running nodes claiming it, the one with the highest
    /// term (a restarted ex-leader can briefly claim its old, lower term).
    pub fn leader(&self) -> Option<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_running())
            .filter_map(|i| {
                self.status(i)
                    .filter(|s| s["role"] == "leader")
                    .map(|s| (s["term"].as_u64(), i))
            })
            .max()
            .map(|(_, i)| i)
    }

    pub fn wait_leader(&self) -> usize {
        eventually("a leader", Duration::from_secs(20), || self.leader())
    }

    pub fn conn(&self, i: usize) -> Conn {
        Conn::connect(self.nodes[i].port)
    }

    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub fn pause(&self, i: usize) {
        self.nodes[i].signal("-STOP");
    }

    pub fn resume(&self, i: usize) {
        self.nodes[i].signal("-CONT");
    }

    /// Restarts a stopped node with its data and flags, without join or bootstrap.
    pub fn restart(&mut self, i: usize) {
        self.nodes[i].spawn(None, false);
    }

    /// The keyspace digest as node `i` has applied it (a stale read, on purpose).
    pub fn digest(&self, i: usize) -> Option<String> {
        let mut conn = self.conn(i);
        conn.cmd(&["READONLY"]);
        match conn.cmd(&["DEBUG", "DIGEST"]) {
            Resp::Line(b'+', d) => Some(String::from_utf8(d).unwrap()),
            _ => None,
        }
    }

    /// Waits until every running node has the same keyspace digest.
    pub fn wait_converged(&self) -> String {
        eventually("replicas to converge", Duration::from_secs(30), || {
            let digests: Vec<String> = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].is_running())
                .map(|i| self.digest(i))
                .collect::<Option<_>>()?;
            digests
                .windows(2)
                .all(|w| w[0] == w[1])
                .then(|| digests[0].clone())
        })
    }
}
