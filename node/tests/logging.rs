//! Logging of a real `tinyredis node`: text on stdout, JSON `redis.log` under `--logdir`,
//! connection events at debug, and the original's sampling flags.

mod common;

use common::cluster::eventually;
use common::{free_port, tinyredis_bin, wait_for_port, Conn, Proc};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Starts a standalone node logging under a fresh directory; stdout goes to `stdout.txt` there.
fn start(name: &str, flags: &[&str]) -> (Proc, PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "tinyredis-logging-{name}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let stdout = std::fs::File::create(dir.join("stdout.txt")).unwrap();
    let port = free_port();
    let child = Command::new(tinyredis_bin())
        .args(["node", "--standalone", "--port", &port.to_string()])
        .args(["--raft-http", &format!("127.0.0.1:{}", free_port())])
        .args(["--logdir", dir.join("logs").to_str().unwrap()])
        .args(flags)
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start tinyredis");
    wait_for_port(port);
    (
        Proc {
            child,
            port,
            dir: Some(dir.clone()),
        },
        dir,
    )
}

/// Every line of `redis.log`, each parsed as one JSON object.
fn json_lines(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("logs/redis.log")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn with_message<'a>(lines: &'a [Value], message: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["fields"]["message"] == message)
        .collect()
}

/// Opens and closes `n` connections, each running one PING.
fn connect_times(port: u16, n: usize) {
    for _ in 0..n {
        let mut conn = Conn::connect(port);
        conn.cmd(&["PING"]);
    }
}

#[test]
fn json_log_file_has_structured_fields_and_debug_connection_events() {
    let (server, dir) = start("json", &["--loglevel", "debug"]);
    connect_times(server.port, 3);
    // A protocol error closes the connection.
    let mut raw = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    raw.write_all(b"*1\r\n$abc\r\n").unwrap();
    let mut reply = String::new();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = raw.read_to_string(&mut reply);
    assert!(reply.starts_with("-ERR Protocol error"), "{reply:?}");

    let lines = eventually(
        "connection events in redis.log",
        Duration::from_secs(10),
        || {
            let lines = json_lines(&dir);
            (with_message(&lines, "client disconnected").len() >= 5).then_some(lines)
        },
    );
    let ready = with_message(&lines, "ready to accept connections");
    assert_eq!(ready.len(), 1, "{lines:#?}");
    let ready = ready[0];
    assert_eq!(ready["level"], "INFO");
    assert!(ready["fields"]["addr"]
        .as_str()
        .unwrap()
        .ends_with(&format!(":{}", server.port)));
    let timestamp = ready["timestamp"].as_str().expect("a timestamp");
    assert!(
        timestamp.len() >= 20 && timestamp.contains('T'),
        "{timestamp}"
    );
    assert!(ready["target"].as_str().unwrap().starts_with("tinyredis"));
    // wait_for_port's probe, three PINGs and the protocol error.
    let connected = with_message(&lines, "client connected");
    assert_eq!(connected.len(), 5);
    assert!(connected.iter().all(|l| l["level"] == "DEBUG"));
    assert!(connected.iter().all(|l| l["fields"]["client"].is_u64()));

    // Text on stdout: the same events, not JSON.
    let stdout = std::fs::read_to_string(dir.join("stdout.txt")).unwrap();
    let line = stdout
        .lines()
        .find(|l| l.contains("ready to accept connections"))
        .expect("startup logged on stdout");
    assert!(line.contains("INFO") && !line.starts_with('{'), "{line}");
    assert!(
        !stdout.contains('\x1b'),
        "no colours when stdout is not a terminal"
    );
}

#[test]
fn connection_events_are_not_logged_at_info() {
    let (server, dir) = start("info", &["--loglevel", "info"]);
    connect_times(server.port, 3);
    let lines = json_lines(&dir);
    assert_eq!(with_message(&lines, "ready to accept connections").len(), 1);
    assert!(lines.iter().all(|l| l["level"] != "DEBUG"), "{lines:#?}");
    assert!(with_message(&lines, "client connected").is_empty());
}

#[test]
fn sampling_keeps_the_first_events_then_every_nth() {
    let sampled = [
        "--loglevel",
        "debug",
        "--log-sampling-interval",
        "1h",
        "--log-sampling-initial",
        "2",
        "--log-sampling-thereafter",
        "3",
    ];
    let (server, dir) = start("sampled", &sampled);
    connect_times(server.port, 8);
    // With wait_for_port's probe, 9 connections: 1, 2, then 5 and 8 are logged.
    let expect = 4;
    eventually("sampled events", Duration::from_secs(10), || {
        let lines = json_lines(&dir);
        (with_message(&lines, "client disconnected").len() >= expect).then_some(())
    });
    // Nothing more arrives late.
    std::thread::sleep(Duration::from_millis(200));
    let lines = json_lines(&dir);
    assert_eq!(with_message(&lines, "client connected").len(), expect);
    assert_eq!(with_message(&lines, "client disconnected").len(), expect);

    // --log-sampling false writes every event.
    let mut all = sampled.to_vec();
    all.extend(["--log-sampling", "false"]);
    let (server, dir) = start("unsampled", &all);
    connect_times(server.port, 8);
    eventually("every event", Duration::from_secs(10), || {
        let lines = json_lines(&dir);
        (with_message(&lines, "client disconnected").len() == 9
            && with_message(&lines, "client connected").len() == 9)
            .then_some(())
    });
}
