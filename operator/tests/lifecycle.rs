//! Layer 3: the real reconciler drives real `tinyredis node` processes.
//!
//! The in-memory Kubernetes API of layer 2 stands for the API server; the
//! [`Kubelet`] harness plays the StatefulSet controller and the kubelet, so
//! every pod the operator's StatefulSet asks for is a node process on
//! loopback started with the operator's arguments and env, its PVC a data
//! directory. The operator talks to the nodes over HTTP through its own
//! admin client, with a resolver mapping pod DNS names to loopback ports.
//!
//! One test walks a cluster through its life — 0→3, 3→5, 5→3, a killed
//! pod, a wiped volume, a rolling update — while a client writes unique
//! keys to whichever node leads. At the end every acknowledged write must
//! be readable on the leader and every replica's `DEBUG DIGEST` must agree.
//! The longest write gap around each leader change is printed.

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::fake_api::{path, FakeApi};
use support::pods::{Kubelet, LoopbackResolver};
use support::resp::{Conn, Reply};
use tinyredis_operator::admin::HttpAdmin;
use tinyredis_operator::crd::TinyRedisCluster;
use tinyredis_operator::metrics::Metrics;
use tinyredis_operator::reconcile::{reconcile, Context};

const NS: &str = "prod";
const NAME: &str = "demo";
const PASSWORD: &str = "client-pass";
const MAX_ORDINALS: i32 = 5;

/// The `tinyredis` binary: `TINYREDIS_BIN` if set, else built here with
/// `cargo build -p tinyredis` into the workspace's target directory.
fn tinyredis_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("TINYREDIS_BIN") {
        return bin.into();
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "tinyredis", "--bin", "tinyredis"])
        .current_dir(&workspace)
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build -p tinyredis failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let target = if target.is_relative() {
        workspace.join(target)
    } else {
        target
    };
    target.join("debug").join("tinyredis")
}

fn cluster_path() -> String {
    path("tinyredis.io/v1alpha1", "tinyredisclusters", NS, NAME)
}

struct Harness {
    api: FakeApi,
    kubelet: Arc<Kubelet>,
    started: Instant,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    root: PathBuf,
}

impl Harness {
    fn start(spec: Value) -> Harness {
        let root = std::env::temp_dir().join(format!("tinyredis-lifecycle-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("pvc")).unwrap();
        let api = FakeApi::default();
        api.insert(
            &path("v1", "secrets", NS, "creds"),
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "creds", "namespace": NS},
                   // base64 of PASSWORD and of "raft-secret", as the API
                   // server stores stringData.
                   "data": {"password": "Y2xpZW50LXBhc3M=", "cluster-secret": "cmFmdC1zZWNyZXQ="}}),
        );
        api.insert(
            &cluster_path(),
            json!({"apiVersion": "tinyredis.io/v1alpha1", "kind": "TinyRedisCluster",
                   "metadata": {"name": NAME, "namespace": NS}, "spec": spec}),
        );
        let kubelet = Arc::new(Kubelet::new(
            api.clone(),
            NS,
            NAME,
            tinyredis_bin(),
            root.clone(),
        ));
        let resolver = Arc::new(LoopbackResolver(kubelet.ports.clone()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = vec![kubelet.run()];
        if std::env::var_os("LIFECYCLE_TRACE").is_some() {
            threads.push(trace_nodes(kubelet.clone(), api.clone(), stop.clone()));
        }
        // The controller: reconciles again and again, as watch events and
        // requeues would make it.
        let (operator_api, operator_stop) = (api.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let ctx = Arc::new(Context::new(
                    operator_api.client(),
                    Arc::new(HttpAdmin::new(resolver)),
                    Arc::new(Metrics::new()),
                    None,
                ));
                while !operator_stop.load(Ordering::Relaxed) {
                    let object = operator_api.get(&cluster_path()).expect("cluster");
                    let cluster: TinyRedisCluster = serde_json::from_value(object).unwrap();
                    if let Err(error) = reconcile(Arc::new(cluster), ctx.clone()).await {
                        eprintln!("reconcile failed: {error}");
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
        }));
        Harness {
            api,
            kubelet,
            started: Instant::now(),
            stop,
            threads,
            root,
        }
    }

    fn cluster(&self) -> Value {
        self.api.get(&cluster_path()).unwrap()
    }

    fn set_spec(&self, field: &str, value: Value) {
        self.api.update(&cluster_path(), |cluster| {
            cluster["spec"][field] = value;
            let generation = cluster["metadata"]["generation"].as_i64().unwrap_or(1);
            cluster["metadata"]["generation"] = json!(generation + 1);
        });
    }

    fn log(&self, what: &str) {
        eprintln!("[{:6.2}s] {what}", self.started.elapsed().as_secs_f64());
    }

    /// Waits until the status says `replicas` ready voters, phase Running,
    /// and the StatefulSet (and its pods) have exactly that many.
    fn wait_running(&self, replicas: usize, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.cluster()["status"].clone();
            let members = status["members"].as_array().cloned().unwrap_or_default();
            let sts = self.api.get(&path("apps/v1", "statefulsets", NS, NAME));
            let sts_replicas = sts.as_ref().and_then(|s| s["spec"]["replicas"].as_u64());
            let pods = self
                .api
                .list(&format!("/api/v1/namespaces/{NS}/pods/"))
                .len();
            if status["phase"] == "Running"
                && members.len() == replicas
                && members
                    .iter()
                    .all(|m| m["role"] == "Voter" && m["ready"] == true)
                && sts_replicas == Some(replicas as u64)
                && pods == replicas
            {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "cluster not running with {replicas} members after {timeout:?}: status {status:#}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every event the operator published, oldest first.
    fn events(&self) -> Vec<(String, String)> {
        self.api
            .event_log()
            .iter()
            .map(|e| {
                (
                    e["reason"].as_str().unwrap_or("").to_string(),
                    e["note"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    fn claims(&self) -> BTreeSet<String> {
        self.api
            .list(&format!("/api/v1/namespaces/{NS}/persistentvolumeclaims/"))
            .iter()
            .map(|c| c["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    }

    fn leader_ordinal(&self) -> i32 {
        let leader = self.cluster()["status"]["leader"]
            .as_str()
            .expect("a leader")
            .to_string();
        leader.rsplit('-').next().unwrap().parse().unwrap()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.kubelet.shutdown();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.root);
        } else {
            eprintln!("node logs kept in {}", self.root.display());
        }
    }
}

/// With `LIFECYCLE_TRACE` set: prints every change of the nodes' roles,
/// the leader's membership and the operator's Progressing condition.
fn trace_nodes(
    kubelet: Arc<Kubelet>,
    api: FakeApi,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let started = Instant::now();
        let mut last = String::new();
        while !stop.load(Ordering::Relaxed) {
            let mut line = String::new();
            for ordinal in 0..MAX_ORDINALS {
                let status = http_json(&kubelet.http_addr(ordinal), "/status");
                let Some(status) = status else { continue };
                line += &format!(
                    "{ordinal}:{} t{} ",
                    status["role"].as_str().unwrap_or("?"),
                    status["term"]
                );
                if status["role"] == "leader" {
                    let members: Vec<String> = status["members"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|m| {
                            format!(
                                "{}/{}/{}",
                                m["id"].as_str().unwrap_or(""),
                                m["role"].as_str().unwrap_or(""),
                                m["lag"]
                            )
                        })
                        .collect();
                    line += &format!("[{}] ", members.join(" "));
                }
            }
            let cluster = api.get(&cluster_path()).unwrap();
            let progressing = cluster["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Progressing")
                .map(|c| format!("{}: {}", c["reason"], c["message"]))
                .unwrap_or_default();
            line += &progressing;
            if line != last {
                eprintln!("[{:6.2}s] trace {line}", started.elapsed().as_secs_f64());
                last = line;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

fn http_json(addr: &str, path: &str) -> Option<Value> {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_millis(200))
            .ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.split_once("\r\n\r\n")?.1).ok()
}

/// Records every change of leader or term the nodes report, polling
/// `/status` of each pod every 20 ms: (when, leader id, term).
fn watch_leaders(
    kubelet: Arc<Kubelet>,
    stop: Arc<AtomicBool>,
    changes: Arc<Mutex<Vec<(Instant, String, u64)>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut last: Option<(String, u64)> = None;
        while !stop.load(Ordering::Relaxed) {
            let leader = (0..MAX_ORDINALS)
                .filter_map(|o| http_json(&kubelet.http_addr(o), "/status"))
                .filter(|s| s["role"] == "leader")
                .map(|s| {
                    (
                        s["id"].as_str().unwrap_or("").to_string(),
                        s["term"].as_u64().unwrap_or(0),
                    )
                })
                .max_by_key(|(_, term)| *term);
            if let Some(leader) = leader {
                if last.as_ref() != Some(&leader) {
                    changes
                        .lock()
                        .unwrap()
                        .push((Instant::now(), leader.0.clone(), leader.1));
                    last = Some(leader);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

/// One acknowledged write: when, and which node acknowledged it.
#[derive(Clone)]
struct Ack {
    at: Instant,
    node: String,
    key: String,
}

/// Writes unique keys until stopped, to the node that leads: follows
/// `READONLY … leader=host:port` redirects, and tries the other pods when a
/// node does not answer.
fn writer(addrs: Vec<String>, acks: Arc<Mutex<Vec<Ack>>>, stop: Arc<AtomicBool>) {
    let mut target = addrs[0].clone();
    let mut next = 0;
    let mut n = 0u64;
    let mut conn: Option<Conn> = None;
    while !stop.load(Ordering::Relaxed) {
        let connection = match conn.as_mut() {
            Some(c) => c,
            None => match Conn::connect(&target, Duration::from_secs(5))
                .and_then(|mut c| c.cmd(&["AUTH", PASSWORD]).map(|_| c))
            {
                Ok(c) => conn.insert(c),
                Err(_) => {
                    next = (next + 1) % addrs.len();
                    target = addrs[next].clone();
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            },
        };
        let key = format!("key-{n}");
        n += 1;
        match connection.cmd(&["SET", &key, &n.to_string()]) {
            Ok(Reply::Status(ok)) if ok == "OK" => acks.lock().unwrap().push(Ack {
                at: Instant::now(),
                node: target.clone(),
                key,
            }),
            Ok(Reply::Error(error)) => {
                conn = None;
                match error.rsplit_once("leader=") {
                    Some((_, leader)) if error.starts_with("READONLY") => {
                        target = leader.trim().to_string();
                    }
                    _ => {
                        next = (next + 1) % addrs.len();
                        target = addrs[next].clone();
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
            _ => {
                conn = None;
                next = (next + 1) % addrs.len();
                target = addrs[next].clone();
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// The longest time without an acknowledged write around each change of
/// the acknowledging node (a leader change seen by the client).
fn write_gaps(acks: &[Ack]) -> Vec<(String, String, Duration)> {
    acks.windows(2)
        .filter(|w| w[0].node != w[1].node)
        .map(|w| (w[0].node.clone(), w[1].node.clone(), w[1].at - w[0].at))
        .collect()
}

fn digest(addr: &str) -> Option<String> {
    let mut conn = Conn::connect(addr, Duration::from_secs(5)).ok()?;
    conn.cmd(&["AUTH", PASSWORD]).ok()?;
    conn.cmd(&["READONLY"]).ok()?;
    match conn.cmd(&["DEBUG", "DIGEST"]).ok()? {
        Reply::Status(d) => Some(d),
        Reply::Bulk(Some(d)) => Some(String::from_utf8(d).unwrap()),
        _ => None,
    }
}

#[test]
fn a_cluster_lives_through_scaling_failures_and_an_update_without_losing_writes() {
    let suite = Instant::now();
    let h = Harness::start(json!({
        "replicas": 3,
        "image": "tinyredis:1",
        "auth": {"secretRef": {"name": "creds"}},
        "config": {"loglevel": "warn", "snapshotThreshold": 200},
        "proxy": {"enabled": false},
    }));

    // 0 → 3: pod 0 bootstraps, 1 and 2 join as learners and are promoted.
    let status = h.wait_running(3, Duration::from_secs(30));
    h.log(&format!(
        "bootstrapped 3 members, leader {}",
        status["leader"]
    ));
    assert!(status["clusterId"].is_string(), "cluster id recorded");

    let leader_changes = Arc::new(Mutex::new(Vec::new()));
    let watcher = watch_leaders(h.kubelet.clone(), h.stop.clone(), leader_changes.clone());
    let acks = Arc::new(Mutex::new(Vec::new()));
    let stop_writer = Arc::new(AtomicBool::new(false));
    let addrs: Vec<String> = (0..MAX_ORDINALS).map(|o| h.kubelet.redis_addr(o)).collect();
    let writer_thread = {
        let (acks, stop) = (acks.clone(), stop_writer.clone());
        std::thread::spawn(move || writer(addrs, acks, stop))
    };
    std::thread::sleep(Duration::from_millis(500));

    // 3 → 5.
    h.set_spec("replicas", json!(5));
    h.wait_running(5, Duration::from_secs(30));
    h.log("scaled to 5");

    // 5 → 3: members 4 and 3 leave the Raft membership, then their pods,
    // then their PVCs.
    h.set_spec("replicas", json!(3));
    h.wait_running(3, Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.claims().len() > 3 {
        assert!(Instant::now() < deadline, "PVCs left: {:?}", h.claims());
        std::thread::sleep(Duration::from_millis(100));
    }
    h.log("scaled back to 3, PVCs of 3 and 4 deleted");

    // Kill the leader's process: the kubelet restarts it on its data, the
    // cluster elects another leader, and the operator changes nothing.
    let membership_events = |h: &Harness| {
        h.events()
            .iter()
            .filter(|(r, _)| r.starts_with("Member"))
            .count()
    };
    let before = membership_events(&h);
    let killed = h.leader_ordinal();
    // Down for longer than an election timeout, so that the others elect
    // a new leader (restarted at once, it would simply lead on).
    h.kubelet.kill(killed, Duration::from_secs(5));
    h.log(&format!("killed pod {killed} (the leader)"));
    let killed_at = Instant::now();
    let elected = loop {
        let leader = (0..3).filter(|o| *o != killed).find(|o| {
            http_json(&h.kubelet.http_addr(*o), "/status").is_some_and(|s| s["role"] == "leader")
        });
        if let Some(leader) = leader {
            break Some(leader);
        }
        if killed_at.elapsed() > Duration::from_secs(5) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    h.log(&format!(
        "after killing the leader: {elected:?} elected in {} ms",
        killed_at.elapsed().as_millis()
    ));
    std::thread::sleep(Duration::from_secs(5).saturating_sub(killed_at.elapsed()));
    h.wait_running(3, Duration::from_secs(30));
    assert!(h.kubelet.restarts(killed) >= 1, "the kubelet restarted it");
    assert_eq!(
        membership_events(&h),
        before,
        "a pod that comes back with its data needs no membership change: {:?}",
        h.events()
    );
    h.log(&format!("pod {killed} back, leader {}", h.leader_ordinal()));

    // Wipe a follower's volume: the operator removes it from the membership
    // and joins it again as a learner, then promotes it.
    let wiped = (0..3).find(|o| *o != h.leader_ordinal()).unwrap();
    let before = h.events().len();
    h.kubelet.wipe_volume(wiped);
    h.log(&format!("wiped the volume of pod {wiped}"));
    let pod = format!("{NAME}-{wiped}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = h.events()[before..].to_vec();
        let removed = events
            .iter()
            .any(|(r, n)| r == "MemberRemoved" && n.starts_with(&pod));
        let promoted = events
            .iter()
            .any(|(r, n)| r == "MemberPromoted" && n.starts_with(&pod));
        if removed && promoted {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pod {wiped} was not removed and re-added: {events:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    h.wait_running(3, Duration::from_secs(30));
    h.log(&format!("pod {wiped} removed and re-added"));

    // Rolling update: followers first, the leader last after a transfer.
    let old_leader = h.leader_ordinal();
    let before = h.events().len();
    h.set_spec("image", json!("tinyredis:2"));
    std::thread::sleep(Duration::from_millis(500));
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let status = h.wait_running(3, deadline.saturating_duration_since(Instant::now()));
        let sts = h
            .api
            .get(&path("apps/v1", "statefulsets", NS, NAME))
            .unwrap();
        let revision = sts["status"]["updateRevision"].clone();
        let pods = h.api.list(&format!("/api/v1/namespaces/{NS}/pods/"));
        if pods
            .iter()
            .all(|p| p["metadata"]["labels"]["controller-revision-hash"] == revision)
            && status["phase"] == "Running"
        {
            break;
        }
        assert!(Instant::now() < deadline, "rolling update did not finish");
        std::thread::sleep(Duration::from_millis(200));
    }
    let update_events: Vec<(String, String)> = h.events()[before..]
        .iter()
        .filter(|(r, _)| r == "PodRestarted" || r == "LeadershipTransferred")
        .cloned()
        .collect();
    h.log(&format!("rolled to the new image: {update_events:?}"));
    for ordinal in 0..3 {
        let restarts = update_events
            .iter()
            .filter(|(r, n)| r == "PodRestarted" && n.starts_with(&format!("pod {ordinal} ")))
            .count();
        assert_eq!(
            restarts, 1,
            "pod {ordinal} restarted once: {update_events:?}"
        );
    }
    let last_restart = update_events
        .iter()
        .rposition(|(r, _)| r == "PodRestarted")
        .unwrap();
    assert!(
        update_events[..last_restart]
            .iter()
            .any(|(r, _)| r == "LeadershipTransferred"),
        "leadership is moved before the last pod (the leader) restarts: {update_events:?}"
    );
    let _ = old_leader;

    // Let the writer run a moment on the final cluster, then check.
    std::thread::sleep(Duration::from_secs(2));
    stop_writer.store(true, Ordering::Relaxed);
    writer_thread.join().unwrap();
    let acks = acks.lock().unwrap().clone();
    assert!(acks.len() > 100, "too few writes: {}", acks.len());

    let leader = h.leader_ordinal();
    let mut conn = Conn::connect(&h.kubelet.redis_addr(leader), Duration::from_secs(10)).unwrap();
    conn.cmd(&["AUTH", PASSWORD]).unwrap();
    let missing: Vec<&str> = acks
        .iter()
        .filter(|a| conn.cmd(&["EXISTS", &a.key]).unwrap() != Reply::Int(1))
        .map(|a| a.key.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes lost, e.g. {:?}",
        missing.len(),
        acks.len(),
        &missing[..missing.len().min(5)]
    );

    let deadline = Instant::now() + Duration::from_secs(15);
    let digests = loop {
        let digests: Vec<Option<String>> =
            (0..3).map(|o| digest(&h.kubelet.redis_addr(o))).collect();
        if digests[0].is_some() && digests.windows(2).all(|w| w[0] == w[1]) {
            break digests;
        }
        assert!(Instant::now() < deadline, "replicas differ: {digests:?}");
        std::thread::sleep(Duration::from_millis(200));
    };

    let gaps = write_gaps(&acks);
    let leader_changes = leader_changes.lock().unwrap().clone();
    eprintln!(
        "\n== lifecycle: {} acknowledged writes, all present; digests equal ({:?})",
        acks.len(),
        digests[0]
    );
    eprintln!("== write gap per leader change (last ack on the old leader → first on the new):");
    for (from, to, gap) in &gaps {
        eprintln!("   {from} -> {to}: {} ms", gap.as_millis());
    }
    eprintln!("== leader/term changes seen on /status, with the write gap around each (last ack before → first ack after):");
    for (at, leader, term) in leader_changes.iter().skip(1) {
        let before = acks.iter().rev().find(|a| a.at <= *at).map(|a| a.at);
        let after = acks.iter().find(|a| a.at > *at).map(|a| a.at);
        let gap = match (before, after) {
            (Some(b), Some(a)) => format!("{} ms", (a - b).as_millis()),
            _ => "no writes around it".into(),
        };
        eprintln!(
            "   [{:6.2}s] {leader} term {term}: gap {gap}",
            (*at - h.started).as_secs_f64()
        );
    }
    let longest = acks
        .windows(2)
        .map(|w| w[1].at - w[0].at)
        .max()
        .unwrap_or_default();
    eprintln!(
        "== longest gap between two acknowledged writes overall: {} ms",
        longest.as_millis()
    );
    eprintln!("== suite time: {:.1} s\n", suite.elapsed().as_secs_f64());
    assert!(!gaps.is_empty(), "the leader changed at least once");
    drop(h);
    watcher.join().unwrap();
}
