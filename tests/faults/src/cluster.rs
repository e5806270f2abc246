//! The `tinyredis` processes under test: Raft nodes (each in its own network namespace,
//! or all on loopback behind Raft relays when namespaces cannot be made) and a proxy,
//! started, killed, paused, restarted, wiped and re-joined by the nemesis.

use crate::net::Netns;
use crate::relay::Relays;
use crate::resp::{Client, Value};
use anyhow::{bail, Context};
use serde_json::Value as Json;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Node {
    pub name: String,
    pub resp: String,
    pub raft: String,
    /// Where peers reach the Raft port when it is not `raft` (a relay).
    raft_advertise: Option<String>,
    pub http: String,
    namespace: Option<String>,
    dir: PathBuf,
    logs: PathBuf,
    child: Option<Child>,
    paused: bool,
    /// Whether the node is (meant to be) a voter; removed nodes are not restarted.
    pub member: bool,
}

impl Node {
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status();
        }
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

/// How nodes are connected, and so how partitions are made.
pub enum Network {
    Namespaces(Netns),
    Relays(Relays),
}

impl Network {
    /// Makes node `i` drop the traffic of the nodes in `from`.
    fn cut(&self, i: usize, from: &[usize]) -> anyhow::Result<()> {
        match self {
            Network::Namespaces(net) => net.cut(i, from),
            Network::Relays(relays) => {
                relays.cut(i, from);
                Ok(())
            }
        }
    }

    fn heal(&self) -> anyhow::Result<()> {
        match self {
            Network::Namespaces(net) => net.heal(),
            Network::Relays(relays) => {
                relays.heal();
                Ok(())
            }
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Network::Namespaces(_) => "namespaces",
            Network::Relays(_) => "loopback+relays",
        }
    }
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    pub net: Network,
    bin: PathBuf,
    node_flags: Vec<String>,
    proxy: Option<(Child, String)>,
    dir: PathBuf,
}

/// A free loopback port below the ephemeral range, so a restarted node never finds its
/// port taken by some client connection's local end.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = 21000 + (std::process::id() % 200) as u16 * 50;
    let _ = NEXT.compare_exchange(0, start, Ordering::SeqCst, Ordering::SeqCst);
    loop {
        let port = 21000 + (NEXT.fetch_add(1, Ordering::SeqCst) - 21000) % 11000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn http_get(addr: &str, path: &str) -> Option<Json> {
    ureq::get(&format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(2))
        .call()
        .ok()?
        .into_json()
        .ok()
}

fn http_send(method: &str, addr: &str, path: &str, body: Option<Json>) -> anyhow::Result<()> {
    let request =
        ureq::request(method, &format!("http://{addr}{path}")).timeout(Duration::from_secs(15));
    let result = match body {
        Some(body) => request.send_json(body),
        None => request.call(),
    };
    match result {
        Ok(_) => Ok(()),
        Err(ureq::Error::Status(code, r)) => {
            bail!(
                "{method} {path}: {code} {}",
                r.into_string().unwrap_or_default()
            )
        }
        Err(e) => bail!("{method} {path}: {e}"),
    }
}

pub fn eventually<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Cluster {
    /// Lays out `capacity` nodes without starting them: in namespaces when `net` is
    /// given, else on loopback with every Raft connection going through a relay.
    pub fn new(
        bin: &Path,
        dir: &Path,
        capacity: usize,
        net: Option<Netns>,
        node_flags: Vec<String>,
    ) -> anyhow::Result<Cluster> {
        let names: Vec<String> = (1..=capacity).map(|i| format!("n{i}")).collect();
        let network = match net {
            Some(net) => Network::Namespaces(net),
            None => Network::Relays(Relays::new(&names)),
        };
        let mut nodes = Vec::new();
        for (i, name) in names.into_iter().enumerate() {
            let (host, ports, advertise) = match &network {
                Network::Namespaces(net) => (net.node_ip(i), [6379, 7000, 17000], None),
                Network::Relays(relays) => {
                    let raft_port = free_port();
                    let relay = std::net::TcpListener::bind(("127.0.0.1", free_port()))?;
                    let advertise = relay.local_addr()?.to_string();
                    relays.serve(i, relay, format!("127.0.0.1:{raft_port}"));
                    let ports = [free_port(), raft_port, free_port()];
                    ("127.0.0.1".to_string(), ports, Some(advertise))
                }
            };
            let namespace = match &network {
                Network::Namespaces(net) => Some(net.namespace(i)),
                Network::Relays(_) => None,
            };
            nodes.push(Node {
                resp: format!("{host}:{}", ports[0]),
                raft: format!("{host}:{}", ports[1]),
                raft_advertise: advertise,
                http: format!("{host}:{}", ports[2]),
                namespace,
                dir: dir.join("data").join(&name),
                logs: dir.join("logs").join(&name),
                name,
                child: None,
                paused: false,
                member: false,
            });
        }
        Ok(Cluster {
            nodes,
            net: network,
            bin: bin.to_path_buf(),
            node_flags,
            proxy: None,
            dir: dir.to_path_buf(),
        })
    }

    /// Starts the first `n` nodes as one cluster: node 1 bootstraps, the others join.
    pub fn start(&mut self, n: usize) -> anyhow::Result<()> {
        self.spawn(0, None, true)?;
        self.nodes[0].member = true;
        self.wait_voters(1)?;
        for i in 1..n {
            self.join(i)?;
        }
        Ok(())
    }

    fn spawn(&mut self, i: usize, join: Option<String>, bootstrap: bool) -> anyhow::Result<()> {
        let node = &self.nodes[i];
        std::fs::create_dir_all(&node.logs)?;
        let stderr = File::options()
            .create(true)
            .append(true)
            .open(node.logs.join("stderr.log"))?;
        let port = node.resp.rsplit(':').next().unwrap();
        let host = node.resp.rsplit_once(':').unwrap().0;
        let mut cmd = match &node.namespace {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        cmd.args([
            "node",
            "--node-id",
            &node.name,
            "--host",
            host,
            "--port",
            port,
        ])
        .arg("--raft-dir")
        .arg(&node.dir)
        .args(["--raft-bind", &node.raft, "--raft-http", &node.http])
        .arg("--logdir")
        .arg(&node.logs)
        .args(["--loglevel", "info"])
        .args(&self.node_flags)
        .stdout(Stdio::null())
        .stderr(stderr);
        if let Some(advertise) = &node.raft_advertise {
            cmd.args(["--raft-advertise", advertise]);
        }
        if bootstrap {
            cmd.arg("--raft-bootstrap");
        }
        if let Some(join) = join {
            cmd.args(["--raft-join", &join]);
        }
        let child = cmd.spawn().context("starting tinyredis")?;
        self.nodes[i].child = Some(child);
        self.nodes[i].paused = false;
        let http = self.nodes[i].http.clone();
        eventually(
            &format!("{} to serve /status", self.nodes[i].name),
            Duration::from_secs(20),
            || http_get(&http, "/status"),
        )?;
        Ok(())
    }

    /// Starts node `i` with no data and has it join the running members.
    pub fn join(&mut self, i: usize) -> anyhow::Result<()> {
        let _ = std::fs::remove_dir_all(&self.nodes[i].dir);
        let join = self
            .running_members()
            .map(|m| self.nodes[m].http.clone())
            .collect::<Vec<_>>()
            .join(",");
        self.spawn(i, Some(join), false)?;
        self.nodes[i].member = true;
        let voters = self.nodes.iter().filter(|n| n.member).count();
        self.wait_voters(voters)
    }

    /// Removes member `i` through the leader, then stops it and deletes its data: a
    /// removed node comes back only as a new, empty one.
    pub fn remove(&mut self, i: usize) -> anyhow::Result<()> {
        let name = self.nodes[i].name.clone();
        eventually(
            &format!("removal of {name}"),
            Duration::from_secs(30),
            || {
                let leader = self.leader()?;
                let path = format!("/members/{name}");
                http_send("DELETE", &self.nodes[leader].http, &path, None).ok()
            },
        )?;
        self.nodes[i].member = false;
        self.kill(i);
        let _ = std::fs::remove_dir_all(&self.nodes[i].dir);
        Ok(())
    }

    /// Asks the leader to hand over to its most caught-up voter (retrying: the voter may
    /// refuse a vote it gave moments ago). Returns the old leader.
    pub fn transfer_leadership(&self) -> anyhow::Result<usize> {
        let mut last = None;
        for _ in 0..3 {
            let leader = self.wait_leader()?;
            let http = &self.nodes[leader].http;
            match http_send("POST", http, "/leadership/transfer", None) {
                Ok(()) => return Ok(leader),
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        Err(last.expect("three attempts"))
    }

    pub fn running_members(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].member && self.nodes[i].is_running())
    }

    pub fn members(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].member)
            .collect()
    }

    pub fn status(&self, i: usize) -> Option<Json> {
        http_get(&self.nodes[i].http, "/status")
    }

    /// The node that leads: among running, unpaused nodes claiming it, the one with the
    /// highest term (a deposed leader may still believe it leads an older term).
    pub fn leader(&self) -> Option<usize> {
        self.running_members()
            .filter(|&i| !self.nodes[i].paused)
            .filter_map(|i| {
                self.status(i)
                    .filter(|s| s["role"] == "leader")
                    .map(|s| (s["term"].as_u64(), i))
            })
            .max()
            .map(|(_, i)| i)
    }

    pub fn wait_leader(&self) -> anyhow::Result<usize> {
        eventually("a leader", Duration::from_secs(30), || self.leader())
    }

    pub fn wait_voters(&self, n: usize) -> anyhow::Result<()> {
        eventually(&format!("{n} voters"), Duration::from_secs(60), || {
            let status = self.status(self.leader()?)?;
            let voters = status["members"]
                .as_array()?
                .iter()
                .filter(|m| m["role"] == "voter")
                .count();
            (voters == n).then_some(())
        })
    }

    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.nodes[i].paused = false;
    }

    /// Restarts a stopped member from its data, without join or bootstrap.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.spawn(i, None, false)
    }

    pub fn pause(&mut self, i: usize) {
        self.nodes[i].signal("-STOP");
        self.nodes[i].paused = true;
    }

    pub fn resume(&mut self, i: usize) {
        self.nodes[i].signal("-CONT");
        self.nodes[i].paused = false;
    }

    /// Makes every node hear only the nodes of its own group.
    pub fn partition(&self, groups: &[Vec<usize>]) -> anyhow::Result<()> {
        for group in groups {
            let others: Vec<usize> = groups
                .iter()
                .filter(|g| *g != group)
                .flatten()
                .copied()
                .collect();
            for &i in group {
                self.net.cut(i, &others)?;
            }
        }
        Ok(())
    }

    /// Cuts node `i` off from the nodes in `from` (one direction: `i` stops hearing them).
    pub fn cut(&self, i: usize, from: &[usize]) -> anyhow::Result<()> {
        self.net.cut(i, from)
    }

    /// Undoes every fault: partitions healed, paused nodes resumed, stopped members
    /// restarted.
    pub fn heal(&mut self) -> anyhow::Result<()> {
        self.net.heal()?;
        for i in 0..self.nodes.len() {
            if self.nodes[i].paused {
                self.resume(i);
            }
            if self.nodes[i].member && !self.nodes[i].is_running() {
                self.restart(i)?;
            }
        }
        Ok(())
    }

    /// The keyspace digest node `i` has applied (a replica read, on purpose).
    pub fn digest(&self, i: usize) -> Option<String> {
        let mut c = Client::connect(&self.nodes[i].resp, Duration::from_secs(5)).ok()?;
        let replies = c.pipeline(&[&["READONLY"], &["DEBUG", "DIGEST"]]).ok()?;
        match &replies[1] {
            Value::Simple(d) => Some(d.clone()),
            _ => None,
        }
    }

    /// Waits until every member has applied the same keyspace; returns the digests last
    /// seen when they do not agree in time.
    pub fn wait_converged(&self, timeout: Duration) -> Result<String, Vec<Option<String>>> {
        let deadline = Instant::now() + timeout;
        loop {
            let digests: Vec<Option<String>> =
                self.members().into_iter().map(|i| self.digest(i)).collect();
            if let Some(first) = &digests[0] {
                if digests.iter().all(|d| d.as_ref() == Some(first)) {
                    return Ok(first.clone());
                }
            }
            if Instant::now() > deadline {
                return Err(digests);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Starts a `tinyredis proxy` in this (the root) namespace, in front of every node.
    pub fn start_proxy(&mut self) -> anyhow::Result<String> {
        let listen = format!("127.0.0.1:{}", free_port());
        let nodes: Vec<&str> = self.nodes.iter().map(|n| n.resp.as_str()).collect();
        let admin_port = self.nodes[0].http.rsplit(':').next().unwrap();
        let logs = self.dir.join("logs");
        std::fs::create_dir_all(&logs)?;
        let child = Command::new(&self.bin)
            .args(["proxy", "--listen", &listen, "--nodes", &nodes.join(",")])
            .args(["--admin-port", admin_port, "--loglevel", "info"])
            .args(["--retry-interval", "250ms", "--leader-wait", "5s"])
            .stdout(File::create(logs.join("proxy.log"))?)
            .stderr(File::create(logs.join("proxy.stderr.log"))?)
            .spawn()
            .context("starting tinyredis proxy")?;
        self.proxy = Some((child, listen.clone()));
        eventually("the proxy to listen", Duration::from_secs(10), || {
            std::net::TcpStream::connect(&listen).ok()
        })?;
        Ok(listen)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some((mut child, _)) = self.proxy.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Nodes first: their namespaces go when `net` drops.
        self.nodes.clear();
        if let Network::Relays(relays) = &self.net {
            relays.close();
        }
    }
}
