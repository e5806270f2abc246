//! A Jepsen-style fault harness for tinyredis: a cluster of real node processes, clients
//! going to the nodes directly and through the proxy, a nemesis killing, pausing,
//! partitioning and reconfiguring the cluster, and checkers for the recorded history.

pub mod checker;
pub mod cluster;
pub mod history;
pub mod nemesis;
pub mod net;
pub mod relay;
pub mod resp;
pub mod workload;

use anyhow::Context;
use checker::{Anomaly, FinalState};
use cluster::Cluster;
use history::{Call, Clock, Op, Status};
use nemesis::{FaultEvent, FaultSet, Schedule};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use workload::{Process, Target, Workload};

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub name: String,
    pub bin: PathBuf,
    pub nodes: usize,
    pub faults: FaultSet,
    pub duration: Duration,
    pub seed: u64,
    pub direct_clients: usize,
    pub proxy_clients: usize,
    pub quiet: Duration,
    pub hold: Duration,
    /// `--raft-snap-threshold`; tiny under snapshot pressure.
    pub snap_threshold: u64,
    /// Loopback with Raft relays even where namespaces could be made.
    pub loopback: bool,
    /// More `tinyredis node` flags (e.g. `--forward-to-leader`).
    pub node_flags: Vec<String>,
    pub workload: Workload,
}

impl RunConfig {
    /// Defaults for `faults`: three nodes (five for partitions, so a ring cuts something),
    /// six clients, a fault every couple of seconds.
    pub fn new(name: &str, bin: PathBuf, faults: FaultSet, duration: Duration, seed: u64) -> Self {
        let partitions = matches!(faults, FaultSet::Partition);
        RunConfig {
            name: name.to_string(),
            bin,
            nodes: if partitions { 5 } else { 3 },
            faults,
            duration,
            seed,
            direct_clients: 4,
            proxy_clients: 2,
            quiet: Duration::from_secs(2),
            hold: Duration::from_secs(3),
            snap_threshold: match faults {
                FaultSet::Snapshot => 8,
                FaultSet::All => 64,
                _ => 10_000,
            },
            loopback: false,
            node_flags: Vec::new(),
            workload: Workload {
                registers: 4,
                key_lifetime: Duration::from_secs(4),
                lists: 3,
                list_lifetime: Duration::from_secs(30),
                op_timeout: Duration::from_secs(3),
                stale_reads: false,
            },
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub name: String,
    pub seed: u64,
    /// `namespaces` or `loopback+relays`.
    pub network: String,
    pub ops: usize,
    pub ok: usize,
    pub fail: usize,
    pub unknown: usize,
    pub faults: Vec<FaultEvent>,
    pub registers_checked: usize,
    pub inconclusive: usize,
    pub anomalies: Vec<Anomaly>,
    /// Where the history and logs were kept (only when something was found).
    pub kept: Option<PathBuf>,
}

impl Report {
    pub fn summary(&self) -> String {
        let mut faults: BTreeMap<String, usize> = BTreeMap::new();
        for e in &self.faults {
            *faults.entry(format!("{:?}", e.fault)).or_default() += 1;
        }
        let failed_faults = self.faults.iter().filter(|e| e.error.is_some()).count();
        let mut text = format!(
            "[{}] seed {} network {}: {} ops (ok {}, fail {}, unknown {}), {} registers \
             checked ({} inconclusive), faults {:?} ({} could not be completed), {} anomalies",
            self.name,
            self.seed,
            self.network,
            self.ops,
            self.ok,
            self.fail,
            self.unknown,
            self.registers_checked,
            self.inconclusive,
            faults,
            failed_faults,
            self.anomalies.len()
        );
        for e in self.faults.iter().filter(|e| e.error.is_some()) {
            let error = e.error.as_deref().unwrap_or_default();
            text += &format!(
                "\n  fault {:?} on {:?} not completed: {error}",
                e.fault, e.targets
            );
        }
        for a in &self.anomalies {
            text += &format!("\n  ANOMALY {}: {}", a.kind, a.detail);
        }
        if let Some(dir) = &self.kept {
            text += &format!(
                "\n  history, faults and node logs kept in {}",
                dir.display()
            );
        }
        text
    }
}

/// Runs one test: cluster up, clients and nemesis for `duration`, heal, final reads,
/// checks. Anomalies are in the report; an `Err` means the harness itself could not run.
pub fn run(config: &RunConfig) -> anyhow::Result<Report> {
    let dir = std::env::temp_dir().join("tinyredis-faults").join(format!(
        "{}-{}-{}",
        config.name,
        config.seed,
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let grows = config
        .faults
        .faults()
        .contains(&nemesis::Fault::GrowAndShrink);
    let capacity = if grows {
        config.nodes + 2
    } else {
        config.nodes
    };
    let net = namespaces(config, capacity);
    let mut flags = vec![
        "--raft-snap-threshold".to_string(),
        config.snap_threshold.to_string(),
        "--raft-timeout".to_string(),
        "2s".to_string(),
    ];
    flags.extend(config.node_flags.iter().cloned());
    let mut cluster = Cluster::new(&config.bin, &dir, capacity, net, flags)?;
    let network = cluster.net.describe().to_string();
    cluster
        .start(config.nodes)
        .context("starting the cluster")?;
    let proxy = cluster.start_proxy()?;
    let clock = Clock::start();
    let until = clock.now() + config.duration.as_nanos() as u64;
    let clients = spawn_clients(config, &cluster, &proxy, clock, until);
    let schedule = Schedule {
        faults: config.faults.faults(),
        quiet: config.quiet,
        hold: config.hold,
        grow_to: config.nodes + 2,
    };
    let mut rng = SmallRng::seed_from_u64(config.seed);
    let faults = nemesis::run(&mut cluster, &schedule, &mut rng, clock, until);
    let mut ops: Vec<Op> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client thread"))
        .collect();
    cluster.heal().context("healing the cluster")?;
    let mut anomalies = Vec::new();
    let end = final_reads(&cluster, &mut ops, clock)?;
    if let Err(digests) = cluster.wait_converged(Duration::from_secs(60)) {
        anomalies.push(Anomaly::new(
            "replicas-diverged",
            format!("DEBUG DIGEST of the members after healing: {digests:?}"),
        ));
    }
    let findings = checker::check(&ops, &end);
    anomalies.extend(findings.anomalies);
    let count = |s| ops.iter().filter(|op| op.status == s).count();
    let mut report = Report {
        name: config.name.clone(),
        seed: config.seed,
        network,
        ops: ops.len(),
        ok: count(Status::Ok),
        fail: count(Status::Fail),
        unknown: count(Status::Unknown),
        faults,
        registers_checked: findings.registers_checked,
        inconclusive: findings.inconclusive,
        anomalies,
        kept: None,
    };
    drop(cluster);
    if report.anomalies.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        keep(&dir, &ops, &end, &report)?;
        report.kept = Some(dir);
    }
    Ok(report)
}

/// Namespaces when they can be made (and `loopback` is not asked for); otherwise
/// loopback with Raft relays, said out loud.
fn namespaces(config: &RunConfig, capacity: usize) -> Option<net::Netns> {
    if config.loopback {
        eprintln!(
            "[{}] loopback asked for: Raft traffic goes through relays",
            config.name
        );
        return None;
    }
    match net::Netns::create(capacity) {
        Ok(net) => Some(net),
        Err(e) => {
            eprintln!(
                "[{}] NO NETWORK NAMESPACES ({e:#}): nodes run on loopback and partitions \
                 are made by fault-injecting TCP relays in front of every Raft port",
                config.name
            );
            None
        }
    }
}

fn spawn_clients(
    config: &RunConfig,
    cluster: &Cluster,
    proxy: &str,
    clock: Clock,
    until: u64,
) -> Vec<std::thread::JoinHandle<Vec<Op>>> {
    let nodes: Vec<String> = cluster.nodes.iter().map(|n| n.resp.clone()).collect();
    let direct = (0..config.direct_clients).map(|i| Target::Direct {
        nodes: nodes.clone(),
        first: i % config.nodes,
    });
    let proxied = (0..config.proxy_clients).map(|_| Target::Proxy(proxy.to_string()));
    direct
        .chain(proxied)
        .enumerate()
        .map(|(id, target)| {
            let process = Process {
                id,
                target,
                seed: config.seed.wrapping_mul(1000).wrapping_add(id as u64),
                until,
            };
            let workload = config.workload.clone();
            std::thread::spawn(move || workload::run(process, &workload, clock))
        })
        .collect()
}

/// Reads every register, the counter and every list on the leader once the cluster is
/// healed. Register reads join the history, so "every acknowledged write is there at
/// the end" is part of the linearizability check.
fn final_reads(cluster: &Cluster, ops: &mut Vec<Op>, clock: Clock) -> anyhow::Result<FinalState> {
    let mut registers = std::collections::BTreeSet::new();
    let mut lists = std::collections::BTreeSet::new();
    for op in ops.iter() {
        match &op.call {
            Call::Get { key, .. }
            | Call::Set { key, .. }
            | Call::Cas { key, .. }
            | Call::Incr { key, .. } => {
                registers.insert(key.clone());
            }
            Call::Append { keys, .. } => lists.extend(keys.iter().cloned()),
            Call::Count { .. } => {}
        }
    }
    let mut reader = FinalReader::connect(cluster)?;
    let process = usize::MAX;
    for key in registers {
        let invoke = clock.now();
        let value = reader.call(&["GET", &key])?;
        ops.push(Op {
            process,
            via: reader.addr.clone(),
            invoke,
            complete: Some(clock.now()),
            status: Status::Ok,
            call: Call::Get {
                value: value.as_int(),
                key,
            },
            error: None,
        });
    }
    let mut end = FinalState {
        counter: reader.call(&["GET", workload::COUNTER_KEY])?.as_int(),
        lists: BTreeMap::new(),
    };
    for key in lists {
        let items = reader.call(&["LRANGE", &key, "0", "-1"])?;
        end.lists
            .insert(key, items.as_strings().unwrap_or_default());
    }
    Ok(end)
}

/// A connection to the leader that retries each read until the leader answers it.
struct FinalReader<'a> {
    cluster: &'a Cluster,
    addr: String,
    conn: resp::Client,
}

impl<'a> FinalReader<'a> {
    fn connect(cluster: &'a Cluster) -> anyhow::Result<Self> {
        let addr = cluster.nodes[cluster.wait_leader()?].resp.clone();
        let conn = resp::Client::connect(&addr, Duration::from_secs(10))?;
        Ok(FinalReader {
            cluster,
            addr,
            conn,
        })
    }

    fn call(&mut self, args: &[&str]) -> anyhow::Result<resp::Value> {
        for _ in 0..30 {
            match self.conn.call(args) {
                Ok(resp::Value::Error(_)) | Err(_) => {
                    std::thread::sleep(Duration::from_millis(500));
                    *self = FinalReader::connect(self.cluster)?;
                }
                Ok(v) => return Ok(v),
            }
        }
        anyhow::bail!("the leader did not answer {args:?}")
    }
}

fn keep(
    dir: &std::path::Path,
    ops: &[Op],
    end: &FinalState,
    report: &Report,
) -> anyhow::Result<()> {
    let mut sorted = ops.to_vec();
    sorted.sort_by_key(|op| op.invoke);
    history::write_jsonl(&dir.join("history.jsonl"), &sorted)?;
    history::write_jsonl(&dir.join("faults.jsonl"), &report.faults)?;
    std::fs::write(dir.join("final.json"), serde_json::to_string_pretty(end)?)?;
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(report)?,
    )?;
    Ok(())
}
