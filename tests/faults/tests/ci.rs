//! Short fixed-seed fault runs, one per kind of fault, against real `tinyredis`
//! processes. Each fails on any anomaly, printing where the history and logs were kept.
//! Longer runs: `cargo run -p tinyredis-faults --release -- soak --minutes N`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tinyredis_faults::nemesis::FaultSet;
use tinyredis_faults::{run, RunConfig};

/// One cluster at a time: the runs share two cores with everything else.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The node binary: `TINYREDIS_BIN`, or `tinyredis` built in this target directory and
/// profile (another package's binary, so cargo does not build it for these tests).
fn node_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("TINYREDIS_BIN") {
            return PathBuf::from(bin);
        }
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "--locked", "-p", "tinyredis", "--bin", "tinyredis"]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        assert!(
            build.status().unwrap().success(),
            "building tinyredis failed"
        );
        profile_dir.join("tinyredis")
    })
    .clone()
}

fn check(
    name: &str,
    faults: FaultSet,
    seconds: u64,
    seed: u64,
    adjust: impl FnOnce(&mut RunConfig),
) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut config = RunConfig::new(
        name,
        node_binary(),
        faults,
        Duration::from_secs(seconds),
        seed,
    );
    // Short runs: faults come quicker than in a soak so that each kind gets its turn.
    config.quiet = Duration::from_secs(1);
    config.hold = Duration::from_secs(2);
    adjust(&mut config);
    let report = run(&config).expect("the harness could not run");
    println!("{}", report.summary());
    assert!(report.anomalies.is_empty(), "{}", report.summary());
    assert!(
        report.ok > 200,
        "too few operations succeeded: {}",
        report.summary()
    );
    let broken: Vec<_> = report.faults.iter().filter(|f| f.error.is_some()).collect();
    assert!(
        report.faults.len() >= 3,
        "too few faults injected: {}",
        report.summary()
    );
    assert!(
        broken.is_empty(),
        "faults that could not be injected or undone: {broken:?}"
    );
}

#[test]
fn kills_of_the_leader_a_minority_and_all_nodes() {
    check("ci-kill", FaultSet::Kill, 20, 11, |_| {});
}

#[test]
fn pauses_of_the_leader_and_a_minority() {
    check("ci-pause", FaultSet::Pause, 20, 12, |_| {});
}

#[test]
fn partitions_halves_isolated_leader_and_ring_on_five_nodes() {
    check("ci-partition", FaultSet::Partition, 25, 13, |_| {});
}

#[test]
fn membership_changes_remove_readd_and_grow_to_five_and_back() {
    check("ci-membership", FaultSet::Membership, 30, 14, |_| {});
}

#[test]
fn every_fault_kind_in_turn_with_frequent_snapshots() {
    check("ci-all", FaultSet::All, 30, 17, |_| {});
}

#[test]
fn partitions_through_tcp_relays_as_without_namespaces() {
    check("ci-relays", FaultSet::Partition, 15, 18, |c| {
        c.loopback = true;
        c.nodes = 3;
    });
}

#[test]
fn snapshot_pressure_with_restarts_and_rejoins() {
    check("ci-snapshot", FaultSet::Snapshot, 20, 15, |_| {});
}

/// The harness must be able to fail: clients reading a partitioned-off replica's state
/// (READONLY) see old values, and the linearizability checker has to say so.
#[test]
fn stale_replica_reads_are_reported_as_not_linearizable() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut config = RunConfig::new(
        "ci-stale-reads",
        node_binary(),
        FaultSet::Partition,
        Duration::from_secs(12),
        16,
    );
    config.nodes = 3;
    config.workload.stale_reads = true;
    let report = run(&config).expect("the harness could not run");
    println!("{}", report.summary());
    if let Some(dir) = &report.kept {
        let _ = std::fs::remove_dir_all(dir);
    }
    assert!(
        report
            .anomalies
            .iter()
            .any(|a| a.kind == "not-linearizable"),
        "stale reads went unnoticed: {}",
        report.summary()
    );
}
