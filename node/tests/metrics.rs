//! `/metrics` on the admin HTTP port of real `tinyredis node` processes, standalone and
//! replicated: the output passes `promtool check metrics` and counters move as commands run.

mod common;

use common::cluster::{eventually, Cluster};
use common::{free_port, start_tinyredis, Conn, Resp};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Fetches `/metrics`, checking the content type.
fn scrape(http: &str) -> String {
    let response = ureq::get(&format!("http://{http}/metrics"))
        .timeout(Duration::from_secs(5))
        .call()
        .expect("GET /metrics");
    assert!(
        response.content_type().starts_with("text/plain"),
        "{}",
        response.content_type()
    );
    response.into_string().unwrap()
}

/// Runs `promtool check metrics` on `text`: it must exit 0 and print no lint problem.
fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool must be installed (apt-get install prometheus)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics failed ({}):\n{said}\n--- metrics ---\n{text}",
        out.status
    );
}

/// The value of one series (`name` or `name{labels}` exactly as exposed), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Like `value`, with a series not exposed yet counting as 0 (counters start unexposed).
fn count(text: &str, series: &str) -> f64 {
    value(text, series).unwrap_or(0.0)
}

fn dbsize(conn: &mut Conn) -> f64 {
    conn.cmd(&["DBSIZE"])
        .as_int()
        .expect("DBSIZE answers an integer") as f64
}

#[test]
fn standalone_metrics_pass_promtool_and_follow_commands() {
    let http = format!("127.0.0.1:{}", free_port());
    let server = start_tinyredis(&["--raft-http", &http]);
    let before = scrape(&http);
    promtool_check(&before);
    assert_eq!(value(&before, "redis_up"), Some(1.0));
    assert_eq!(value(&before, r#"redis_db_keys{db="db0"}"#), Some(0.0));
    assert_eq!(value(&before, r#"redis_db_keys{db="db15"}"#), Some(0.0));

    let mut conn = Conn::connect(server.port);
    const SETS: usize = 7;
    for i in 0..SETS {
        assert!(!conn.cmd(&["SET", &format!("k{i}"), "v"]).is_error());
    }
    conn.cmd(&["SET", "ttl", "v", "EX", "100"]);
    conn.cmd(&["GET", "k0"]);
    conn.cmd(&["GET", "k1"]);
    conn.cmd(&["GET", "missing"]);
    conn.cmd(&["SELECT", "3"]);
    conn.cmd(&["SET", "in3", "v"]);
    conn.cmd(&["SELECT", "0"]);
    assert!(conn.cmd(&["INCR", "k0"]).is_error());
    let keys = dbsize(&mut conn);

    let after = scrape(&http);
    promtool_check(&after);
    let delta = |series: &str| count(&after, series) - count(&before, series);
    assert_eq!(
        delta(r#"redis_commands_total{cmd="set"}"#),
        (SETS + 2) as f64
    );
    assert_eq!(delta(r#"redis_commands_total{cmd="get"}"#), 3.0);
    assert_eq!(delta(r#"redis_commands_total{cmd="incr"}"#), 1.0);
    assert_eq!(
        delta(r#"redis_commands_failed_calls_total{cmd="incr"}"#),
        1.0
    );
    assert_eq!(
        delta(r#"redis_commands_failed_calls_total{cmd="set"}"#),
        0.0
    );
    assert!(delta(r#"redis_commands_duration_seconds_total{cmd="set"}"#) > 0.0);
    assert!(delta("redis_commands_processed_total") >= (SETS + 9) as f64);
    assert_eq!(delta("redis_keyspace_hits_total"), 2.0);
    assert_eq!(delta("redis_keyspace_misses_total"), 1.0);
    assert!(delta("redis_net_input_bytes_total") > 0.0);
    assert!(delta("redis_net_output_bytes_total") > 0.0);
    assert!(delta("redis_connections_received_total") >= 1.0);
    assert_eq!(value(&after, r#"redis_db_keys{db="db0"}"#), Some(keys));
    assert_eq!(keys, (SETS + 1) as f64);
    assert_eq!(
        value(&after, r#"redis_db_keys_expiring{db="db0"}"#),
        Some(1.0)
    );
    assert_eq!(value(&after, r#"redis_db_keys{db="db3"}"#), Some(1.0));
    assert!(value(&after, "redis_connected_clients").unwrap() >= 1.0);
    assert!(value(&after, "redis_memory_used_bytes").unwrap() > 0.0);
    assert!(
        !after.contains("tinyredis_raft_"),
        "no Raft metrics standalone"
    );
    // MULTI's queued commands count when EXEC runs them, not when queued.
    conn.cmd(&["MULTI"]);
    conn.cmd(&["SET", "m", "1"]);
    let queued = scrape(&http);
    assert_eq!(
        count(&queued, r#"redis_commands_total{cmd="set"}"#),
        count(&after, r#"redis_commands_total{cmd="set"}"#)
    );
    conn.cmd(&["EXEC"]);
    let exec = scrape(&http);
    assert_eq!(
        count(&exec, r#"redis_commands_total{cmd="exec"}"#),
        count(&after, r#"redis_commands_total{cmd="exec"}"#) + 1.0
    );

    let health = ureq::get(&format!("http://{http}/healthz"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert_eq!(health, "ok");
}

#[test]
fn raft_metrics_on_a_one_node_cluster() {
    let cluster = Cluster::start(1, &["--raft-snap-threshold", "20"]);
    let leader = cluster.wait_leader();
    let http = cluster.nodes[leader].http();
    let mut conn = cluster.conn(leader);
    let before = scrape(&http);
    promtool_check(&before);

    const SETS: usize = 45;
    for i in 0..SETS {
        assert_eq!(
            conn.cmd(&["SET", &format!("k{i}"), "v"]),
            Resp::Line(b'+', b"OK".to_vec())
        );
    }
    let keys = dbsize(&mut conn);
    let after = eventually("a snapshot to be built", Duration::from_secs(20), || {
        let text = scrape(&http);
        (count(&text, "tinyredis_raft_snapshots_built_total") >= 1.0).then_some(text)
    });
    promtool_check(&after);
    let delta = |series: &str| count(&after, series) - count(&before, series);
    assert_eq!(delta(r#"redis_commands_total{cmd="set"}"#), SETS as f64);
    assert_eq!(
        delta("tinyredis_raft_apply_latency_seconds_count"),
        SETS as f64
    );
    assert_eq!(value(&after, r#"redis_db_keys{db="db0"}"#), Some(keys));
    assert_eq!(keys, SETS as f64);
    assert_eq!(value(&after, "tinyredis_raft_is_leader"), Some(1.0));
    assert_eq!(
        value(&after, r#"tinyredis_raft_state{state="leader"}"#),
        Some(1.0)
    );
    assert_eq!(value(&after, "tinyredis_raft_voters"), Some(1.0));
    assert_eq!(value(&after, "tinyredis_raft_learners"), Some(0.0));
    assert!(value(&after, "tinyredis_raft_term").unwrap() >= 1.0);
    let commit = value(&after, "tinyredis_raft_commit_index").unwrap();
    assert!(commit >= SETS as f64, "commit index {commit}");
    assert_eq!(value(&after, "tinyredis_raft_applied_index"), Some(commit));
    assert_eq!(value(&after, "tinyredis_raft_last_log_index"), Some(commit));
    assert!(value(&after, "tinyredis_raft_snapshot_index").unwrap() >= 20.0);
    assert!(after.contains(r#"redis_instance_info{os="linux",redis_mode="standalone",redis_version="7.0.15",role="master""#));
}

#[test]
fn raft_metrics_report_each_peer_on_the_leader() {
    let cluster = Cluster::start(2, &[]);
    let leader = cluster.wait_leader();
    let follower = 1 - leader;
    let peer = &cluster.nodes[follower].name;
    let mut conn = cluster.conn(leader);
    for i in 0..5 {
        conn.cmd(&["SET", &format!("k{i}"), "v"]);
    }
    let on_leader = eventually("the follower to catch up", Duration::from_secs(10), || {
        let text = scrape(&cluster.nodes[leader].http());
        let lag = value(
            &text,
            &format!(r#"tinyredis_raft_replication_lag_entries{{peer="{peer}"}}"#),
        )?;
        (lag == 0.0).then_some(text)
    });
    promtool_check(&on_leader);
    assert_eq!(value(&on_leader, "tinyredis_raft_voters"), Some(2.0));
    assert_eq!(
        value(
            &on_leader,
            &format!(r#"tinyredis_raft_peer_matched_index{{peer="{peer}"}}"#)
        ),
        value(&on_leader, "tinyredis_raft_last_log_index")
    );
    let leader_name = &cluster.nodes[leader].name;
    assert!(
        !on_leader.contains(&format!(r#"peer="{leader_name}""#)),
        "the leader is not its own peer"
    );

    let on_follower = scrape(&cluster.nodes[follower].http());
    promtool_check(&on_follower);
    assert_eq!(value(&on_follower, "tinyredis_raft_is_leader"), Some(0.0));
    assert_eq!(
        value(&on_follower, r#"tinyredis_raft_state{state="follower"}"#),
        Some(1.0)
    );
    assert!(on_follower.contains(r#"role="slave""#));
    assert!(!on_follower.contains("tinyredis_raft_replication_lag_entries{"));
}
