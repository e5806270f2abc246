//! `tinyredis proxy` in front of a real 3-node cluster: plain use through redis-cli and the
//! `redis` crate, failover while clients keep going, pipelining through a failover,
//! transactions, and the Prometheus endpoint checked with promtool.

mod common;

use common::cluster::{eventually, Cluster};
use common::{free_port, read_resp, tinyredis_bin, wait_for_port, Conn, Proc, Resp};
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Proxy {
    proc: Proc,
    metrics_port: u16,
}

/// Starts a proxy in front of the cluster. The nodes' admin ports differ on loopback, so
/// `--admin-port` names node 1's: the proxy learns the others from its members list.
fn start_proxy(cluster: &Cluster, extra: &[&str]) -> Proxy {
    let port = free_port();
    let metrics_port = free_port();
    let nodes = cluster
        .nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect::<Vec<_>>()
        .join(",");
    let child = Command::new(tinyredis_bin())
        .args(["proxy", "--listen", &format!("127.0.0.1:{port}")])
        .args(if extra.contains(&"--discover") {
            vec![]
        } else {
            vec!["--nodes", &nodes]
        })
        .args(["--admin-port", &cluster.nodes[0].http_port.to_string()])
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
        .args(["--loglevel", "warn"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start proxy");
    wait_for_port(port);
    Proxy {
        proc: Proc {
            child,
            port,
            dir: None,
        },
        metrics_port,
    }
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli must be installed");
    assert!(out.status.success(), "redis-cli {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

fn metrics_text(proxy: &Proxy) -> String {
    ureq::get(&format!("http://127.0.0.1:{}/metrics", proxy.metrics_port))
        .timeout(Duration::from_secs(5))
        .call()
        .expect("GET /metrics")
        .into_string()
        .unwrap()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("metric {name} missing in\n{text}"))
}

#[test]
fn redis_cli_transactions_settings_and_metrics_through_the_proxy() {
    let cluster = Cluster::start(3, &[]);
    let proxy = start_proxy(&cluster, &[]);
    let port = proxy.proc.port;

    assert_eq!(redis_cli(port, &["SET", "greeting", "hello"]).trim(), "OK");
    assert_eq!(redis_cli(port, &["GET", "greeting"]).trim(), "hello");
    let info = redis_cli(port, &["INFO", "replication"]);
    assert!(
        info.contains("role:master"),
        "INFO through the proxy: {info}"
    );
    // Piped commands from stdin (the connection half-closes, replies still come back).
    let mut child = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"INCR n\nINCR n\nGET n\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "1\n2\n2\n");

    // MULTI/EXEC, SELECT and pipelining on one connection.
    let mut c = Conn::connect(port);
    assert_eq!(c.cmd(&["SELECT", "3"]), Resp::Line(b'+', b"OK".to_vec()));
    assert_eq!(c.cmd(&["MULTI"]), Resp::Line(b'+', b"OK".to_vec()));
    assert_eq!(
        c.cmd(&["SET", "t", "1"]),
        Resp::Line(b'+', b"QUEUED".to_vec())
    );
    assert_eq!(c.cmd(&["INCR", "t"]), Resp::Line(b'+', b"QUEUED".to_vec()));
    match c.cmd(&["EXEC"]) {
        Resp::Agg(b'*', Some(items)) => assert_eq!(items[1].as_int(), Some(2)),
        other => panic!("EXEC: {}", other.show()),
    }
    let mut batch = Vec::new();
    for i in 0..100 {
        batch.extend(common::encode(&[b"SET", format!("k{i}").as_bytes(), b"v"]));
        batch.extend(common::encode(&[b"GET", format!("k{i}").as_bytes()]));
    }
    c.send_raw(&batch);
    for _ in 0..100 {
        assert_eq!(c.read(), Resp::Line(b'+', b"OK".to_vec()));
        assert_eq!(c.read().as_bytes(), Some(&b"v"[..]));
    }
    assert_eq!(c.cmd(&["DBSIZE"]).as_int(), Some(101), "db 3 kept");
    // Inline commands and a protocol error are answered like the node does.
    c.send_raw(b"PING\r\n");
    assert_eq!(c.read(), Resp::Line(b'+', b"PONG".to_vec()));
    assert_eq!(c.cmd(&["QUIT"]), Resp::Line(b'+', b"OK".to_vec()));
    assert!(c.try_read().is_none(), "closed after QUIT");

    // RESP3 replies pass through as they are.
    let mut c = Conn::connect(port);
    assert!(matches!(c.cmd(&["HELLO", "3"]), Resp::Agg(b'%', Some(_))));
    assert_eq!(c.cmd(&["GET", "missing"]), Resp::Line(b'_', Vec::new()));
    // A subscribed connection is piped: messages arrive as the node sends them.
    let mut sub = Conn::connect(port);
    sub.send(&[b"SUBSCRIBE", b"news", b"more"]);
    assert!(matches!(sub.read(), Resp::Agg(_, Some(_))));
    assert!(matches!(sub.read(), Resp::Agg(_, Some(_))));
    eventually("a subscriber", Duration::from_secs(5), || {
        (c.cmd(&["PUBLISH", "news", "hi"]).as_int() == Some(1)).then_some(())
    });
    match sub.read() {
        Resp::Agg(_, Some(items)) => assert_eq!(items[2].as_bytes(), Some(&b"hi"[..])),
        other => panic!("message: {}", other.show()),
    }

    // Metrics: counters moved, and promtool accepts the output.
    let text = metrics_text(&proxy);
    assert!(metric(&text, "tinyredis_proxy_forwarded_commands_total") >= 200.0);
    assert!(metric(&text, "tinyredis_proxy_connections_total") >= 6.0);
    assert_eq!(metric(&text, "tinyredis_proxy_leader"), 1.0);
    assert!(metric(&text, "tinyredis_proxy_leader_changes_total") >= 1.0);
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool must be installed (Debian package prometheus)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics failed:\n{}{}\n{text}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}

#[test]
fn redis_crate_client_keeps_working_through_failovers() {
    let mut cluster = Cluster::start(3, &[]);
    let proxy = start_proxy(&cluster, &[]);
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", proxy.proc.port)).unwrap();
    let mut con = client.get_connection().unwrap();
    con.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let _: () = redis::cmd("SELECT").arg(2).query(&mut con).unwrap();
    let _: () = redis::cmd("SET")
        .arg("before")
        .arg("1")
        .query(&mut con)
        .unwrap();

    for round in 0..2 {
        let leader = cluster.wait_leader();
        let https: Vec<String> = cluster.nodes.iter().map(|n| n.http()).collect();
        let killed_at = Instant::now();
        cluster.kill(leader);
        // When the cluster itself names a new leader, to tell the proxy's share apart.
        let elected = std::thread::spawn(move || loop {
            let found = https.iter().enumerate().any(|(i, h)| {
                i != leader
                    && common::cluster::http_get(h, "/status")
                        .is_some_and(|s| s["role"] == "leader")
            });
            if found || killed_at.elapsed() > Duration::from_secs(20) {
                return killed_at.elapsed();
            }
            std::thread::sleep(Duration::from_millis(10));
        });
        let mut errors = Vec::new();
        let took = loop {
            let result: redis::RedisResult<()> = redis::cmd("SET")
                .arg(format!("after{round}"))
                .arg("x")
                .query(&mut con);
            match result {
                Ok(()) => break killed_at.elapsed(),
                Err(e) => errors.push(e.to_string()),
            }
            assert!(
                killed_at.elapsed() < Duration::from_secs(20),
                "no write succeeded after the leader was killed: {errors:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let elected = elected.join().unwrap();
        println!(
            "failover {round}: leader kill -> new leader elected {} ms -> first successful write through the proxy {} ms ({} errors before: {:?})",
            elected.as_millis(),
            took.as_millis(),
            errors.len(),
            errors.iter().take(3).collect::<Vec<_>>()
        );
        // The same connection still sees db 2.
        let before: Option<String> = redis::cmd("GET").arg("before").query(&mut con).unwrap();
        assert_eq!(
            before.as_deref(),
            Some("1"),
            "SELECT replayed on the new leader"
        );
        cluster.restart(leader);
        cluster.wait_voters(3);
    }
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 3);
    let text = metrics_text(&proxy);
    assert!(metric(&text, "tinyredis_proxy_leader_changes_total") >= 3.0);
    assert!(metric(&text, "tinyredis_proxy_connection_moves_total") >= 1.0);
}

#[test]
fn pipelined_commands_are_all_answered_in_order_through_a_failover() {
    let mut cluster = Cluster::start(3, &[]);
    let proxy = start_proxy(&cluster, &[]);
    let stream = TcpStream::connect(("127.0.0.1", proxy.proc.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    writer
        .write_all(&common::encode(&[b"SET", b"counter", b"0"]))
        .unwrap();
    assert_eq!(
        read_resp(&mut reader).unwrap(),
        Resp::Line(b'+', b"OK".to_vec())
    );

    let leader = cluster.wait_leader();
    let mut batch_writer = writer.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        // 200 INCRs over about 2 s: the leader dies in the middle.
        for _ in 0..20 {
            let mut batch = Vec::new();
            for _ in 0..10 {
                batch.extend(common::encode(&[b"INCR", b"counter"]));
            }
            batch_writer.write_all(&batch).unwrap();
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    cluster.kill(leader);
    let (mut ok, mut unknown, mut other_errors, mut last) = (0, 0, 0, 0);
    for i in 0..200 {
        match read_resp(&mut reader).unwrap() {
            Resp::Line(b':', n) => {
                let n: i64 = String::from_utf8(n).unwrap().parse().unwrap();
                assert!(
                    n > last,
                    "reply {i}: INCR went from {last} to {n}: out of order"
                );
                last = n;
                ok += 1;
            }
            Resp::Line(b'-', e) if e.ends_with(b"outcome unknown") => unknown += 1,
            Resp::Line(b'-', e) => {
                println!("reply {i}: {}", String::from_utf8_lossy(&e));
                other_errors += 1;
            }
            other => panic!("reply {i}: unexpected {}", other.show()),
        }
    }
    sender.join().unwrap();
    println!("pipelined INCRs: {ok} ok, {unknown} outcome unknown, {other_errors} other errors");
    assert!(ok >= 150, "most INCRs should succeed: {ok}");
    // Nothing more was answered than asked: the next reply is the PING's.
    writer.write_all(b"PING\r\n").unwrap();
    assert_eq!(
        read_resp(&mut reader).unwrap(),
        Resp::Line(b'+', b"PONG".to_vec())
    );
    let mut c = Conn::connect(proxy.proc.port);
    let counter = c.cmd(&["GET", "counter"]);
    let counter: i64 = std::str::from_utf8(counter.as_bytes().unwrap())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        counter >= ok && counter <= ok + unknown,
        "counter {counter}: {ok} acknowledged, {unknown} unknown"
    );
    eventually("proxy to keep serving", Duration::from_secs(5), || {
        (Conn::connect(proxy.proc.port).cmd(&["PING"]) == Resp::Line(b'+', b"PONG".to_vec()))
            .then_some(())
    });
}

#[test]
fn connections_in_multi_are_closed_when_the_leader_changes_and_sigterm_drains() {
    let mut cluster = Cluster::start(3, &[]);
    let proxy = start_proxy(&cluster, &["--drain-timeout", "3s"]);
    let mut c = Conn::connect(proxy.proc.port);
    c.set_timeout(Duration::from_secs(30));
    assert_eq!(c.cmd(&["MULTI"]), Resp::Line(b'+', b"OK".to_vec()));
    assert_eq!(
        c.cmd(&["SET", "m", "1"]),
        Resp::Line(b'+', b"QUEUED".to_vec())
    );
    let leader = cluster.wait_leader();
    cluster.kill(leader);
    // The transaction cannot move: the next command is answered an error and the
    // connection closes (or it closes at once), so the client reconnects.
    c.send(&[b"EXEC"]);
    match c.try_read() {
        None => {}
        Some(Resp::Line(b'-', _)) => assert!(c.try_read().is_none(), "closed after the error"),
        Some(other) => panic!("EXEC after failover: {}", other.show()),
    }
    // A fresh connection works on the new leader.
    let mut c = Conn::connect(proxy.proc.port);
    c.set_timeout(Duration::from_secs(30));
    assert_eq!(c.cmd(&["SET", "m", "2"]), Resp::Line(b'+', b"OK".to_vec()));

    // SIGTERM: the idle connection is closed, the process exits within the drain timeout.
    let mut proxy = proxy;
    let started = Instant::now();
    Command::new("kill")
        .args(["-TERM", &proxy.proc.child.id().to_string()])
        .status()
        .unwrap();
    let status = eventually("proxy to exit", Duration::from_secs(10), || {
        proxy.proc.child.try_wait().unwrap()
    });
    assert!(status.success(), "proxy exit status {status}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(c.try_read().is_none(), "idle connection closed on shutdown");
}

#[test]
fn discover_resolves_a_name_to_the_nodes() {
    let cluster = Cluster::start(3, &[]);
    // `localhost` resolves to node 1 only here; the proxy learns the others from /status.
    let target = format!("localhost:{}", cluster.nodes[0].port);
    let proxy = start_proxy(&cluster, &["--discover", &target]);
    assert_eq!(redis_cli(proxy.proc.port, &["SET", "d", "1"]).trim(), "OK");
    assert_eq!(redis_cli(proxy.proc.port, &["GET", "d"]).trim(), "1");
}
