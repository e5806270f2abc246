//! Hostile and careless clients against a real standalone node: floods of malformed frames
//! from many connections, oversized declarations, huge values read slowly, clients that
//! never read their replies or their pub/sub messages, and 10k idle connections. The node
//! must keep answering well-behaved clients correctly, with memory that stays bounded.
//! Where redis-server can serve as the oracle, the same scenario runs against it too.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const MB: u64 = 1024 * 1024;

/// A field of /proc/<pid>/status in bytes (`VmRSS`, `VmHWM`, `VmSize`).
fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

fn info_field(conn: &mut Conn, section: &str, field: &str) -> String {
    let Resp::Blob(_, Some(info)) = conn.cmd(&["INFO", section]) else {
        panic!("INFO {section} is not a bulk string")
    };
    let info = String::from_utf8(info).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}:\n{info}"))
        .to_string()
}

fn ok() -> Resp {
    Resp::Line(b'+', b"OK".to_vec())
}

/// Checks a well-behaved client still gets correct answers: its own writes read back.
fn assert_serves_correctly(conn: &mut Conn, round: usize) {
    let key = format!("good-{round}");
    let value = format!("value-{round}");
    assert_eq!(conn.cmd(&["SET", &key, &value]), ok());
    assert_eq!(
        conn.cmd(&["GET", &key]),
        Resp::Blob(b'$', Some(value.into_bytes()))
    );
    assert_eq!(
        conn.cmd(&["INCR", "good-counter"]).as_int(),
        Some(round as i64 + 1)
    );
}

/// Sends `input` and reads until the server closes the connection or goes quiet.
fn send_and_drain(port: u16, input: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    // The server may close before taking everything: that is one of the right answers.
    let _ = stream.write_all(input);
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    out
}

fn garbage_inputs() -> Vec<Vec<u8>> {
    vec![
        b"*-1\r\n".to_vec(),
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$99999999999\r\n".to_vec(),
        b"*2\r\n$3\r\nGET\r\n+k\r\n".to_vec(),
        b"*1\r\n$-5\r\n".to_vec(),
        b"*1x\r\n".to_vec(),
        b"$5\r\nhello\r\n".to_vec(),
        vec![0xff; 70 * 1024],
        vec![b'*'; 70 * 1024],
        b"\"unterminated\r\n".to_vec(),
        b"SET k 'a'b\r\n".to_vec(),
        (0..256u32).map(|i| (i * 7 % 256) as u8).collect(),
        b"*2\r\n$3\r\nSET\r\n".repeat(5000),
    ]
}

/// Many connections at once send malformed frames while a good client keeps writing and
/// reading back; afterwards the node's memory is back near where it started.
#[test]
fn malformed_floods_from_many_connections_leave_others_served() {
    let server = start_tinyredis(&[]);
    let pid = server.child.id();
    assert_serves_correctly(&mut Conn::connect(server.port), 0);
    let baseline = proc_status_bytes(pid, "VmRSS");
    let port = server.port;
    let flooders: Vec<_> = (0..16)
        .map(|t| {
            std::thread::spawn(move || {
                for _ in 0..10 {
                    for input in garbage_inputs() {
                        let reply = send_and_drain(port, &input);
                        assert!(
                            reply.is_empty()
                                || reply.starts_with(b"-ERR Protocol error")
                                || reply.starts_with(b"-ERR unknown command"),
                            "thread {t}: {:?}",
                            String::from_utf8_lossy(&reply[..reply.len().min(200)])
                        );
                    }
                }
            })
        })
        .collect();
    let mut round = 1;
    while flooders.iter().any(|f| !f.is_finished()) {
        assert_serves_correctly(&mut Conn::connect(port), round);
        round += 1;
    }
    flooders.into_iter().for_each(|f| f.join().unwrap());
    assert_serves_correctly(&mut Conn::connect(port), round);
    let after = proc_status_bytes(pid, "VmRSS");
    assert!(
        after < baseline + 32 * MB,
        "RSS grew from {baseline} to {after} after the flood ended"
    );
}

/// Over-limit bulk lengths get Redis's exact protocol errors, and the connection closes.
#[test]
fn oversized_bulk_declarations_get_the_same_errors_as_redis() {
    let ours = start_tinyredis(&[]);
    let redis = start_redis();
    let inputs: [&[u8]; 4] = [
        b"*1\r\n$536870913\r\n",
        b"*2\r\n$3\r\nGET\r\n$-1\r\n",
        b"*1\r\n$9223372036854775808\r\n",
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$99999999999\r\n",
    ];
    for input in inputs {
        let theirs = send_and_drain(redis.port, input);
        assert!(theirs.starts_with(b"-ERR Protocol error"), "{theirs:?}");
        assert_eq!(
            String::from_utf8_lossy(&send_and_drain(ours.port, input)),
            String::from_utf8_lossy(&theirs),
            "for {:?}",
            String::from_utf8_lossy(input)
        );
    }
    assert_serves_correctly(&mut Conn::connect(ours.port), 0);
}

/// Before AUTH only small requests are read, as in Redis since CVE-2021-32675: a client
/// without the password cannot make the node reserve memory for it. Replies byte-equal
/// to redis-server's, including for the largest request still allowed and after AUTH.
#[test]
fn unauthenticated_clients_may_only_send_small_requests_like_redis() {
    let ours = start_tinyredis(&["--requirepass", "pw"]);
    let redis = start_redis();
    let mut conn = Conn::connect(redis.port);
    assert_eq!(conn.cmd(&["CONFIG", "SET", "requirepass", "pw"]), ok());
    let largest_allowed = encode(&[b"PING", &[b'x'; 16 * 1024]]);
    let mut authenticated_big = encode(&[b"AUTH", b"pw"]);
    authenticated_big.extend(encode(&[b"SET", b"k", &[b'x'; 1 << 20]]));
    let inputs: [&[u8]; 5] = [
        b"*11\r\n",
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$16385\r\n",
        b"*1\r\n$536870912\r\n",
        &largest_allowed,
        &authenticated_big,
    ];
    for input in inputs {
        let theirs = send_and_drain(redis.port, input);
        assert!(!theirs.is_empty());
        assert_eq!(
            String::from_utf8_lossy(&send_and_drain(ours.port, input)),
            String::from_utf8_lossy(&theirs),
            "for {:?}",
            String::from_utf8_lossy(&input[..input.len().min(40)])
        );
    }
}

/// More than 1M arguments is refused at once (Redis 7 takes up to 2^31 and waits for
/// them; our bound keeps one connection's argument vector small), with Redis's message.
#[test]
fn a_multibulk_over_a_million_is_refused() {
    let server = start_tinyredis(&[]);
    assert_eq!(
        send_and_drain(server.port, b"*1048577\r\n"),
        b"-ERR Protocol error: invalid multibulk length\r\n"
    );
    assert_serves_correctly(&mut Conn::connect(server.port), 0);
}

/// A legal 64 MB value: written, then read by a client that takes its time, while other
/// clients are served meanwhile; every byte arrives.
#[test]
fn a_64mb_value_reaches_a_slow_reader_while_others_are_served() {
    let server = start_tinyredis(&[]);
    let value: Vec<u8> = (0..64 * MB).map(|i| (i % 251) as u8).collect();
    let mut writer = Conn::connect(server.port);
    writer.send(&[b"SET", b"big", &value]);
    assert_eq!(writer.read(), ok());

    let mut slow = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    slow.write_all(&encode(&[b"GET", b"big"])).unwrap();
    // The node cannot write all of it yet: the slow reader has read nothing.
    for round in 0..20 {
        assert_serves_correctly(&mut Conn::connect(server.port), round);
    }
    let mut reader = std::io::BufReader::new(slow);
    assert_eq!(
        read_resp(&mut reader).unwrap(),
        Resp::Blob(b'$', Some(value))
    );
}

/// A client that pipelines reads of a 1 MB value and never reads the replies stops being
/// read from: the node's memory does not grow with what it sent.
#[test]
fn a_pipelining_client_that_never_reads_holds_bounded_memory() {
    pipelined_reads_of_a_big_value_hold_bounded_memory(start_tinyredis(&[]));
}

/// A replicated node runs pipelined reads together; their replies must still leave in
/// bounded pieces.
#[test]
fn a_replicated_node_holds_bounded_memory_for_a_client_that_never_reads() {
    pipelined_reads_of_a_big_value_hold_bounded_memory(start_one_node_cluster());
}

/// A one-voter Raft cluster (`tinyredis node --raft-bootstrap`).
fn start_one_node_cluster() -> Proc {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("tinyredis-hostile-raft-{port}"));
    let child = std::process::Command::new(tinyredis_bin())
        .args(["node", "--raft-bootstrap", "--port", &port.to_string()])
        .args(["--raft-dir", dir.to_str().unwrap(), "--loglevel", "warn"])
        .args(["--raft-bind", &format!("127.0.0.1:{}", free_port())])
        .args(["--raft-http", &format!("127.0.0.1:{}", free_port())])
        .spawn()
        .expect("start tinyredis node");
    wait_for_port(port);
    Proc {
        child,
        port,
        dir: Some(dir),
    }
}

fn pipelined_reads_of_a_big_value_hold_bounded_memory(server: Proc) {
    let pid = server.child.id();
    let value = vec![b'v'; MB as usize];
    let mut conn = Conn::connect(server.port);
    conn.send(&[b"SET", b"v", &value]);
    assert_eq!(conn.read(), ok());
    let baseline = proc_status_bytes(pid, "VmRSS");

    let mut greedy = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    greedy
        .set_write_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    // Sent in bursts, so one read holds many requests (a replicated node runs those
    // together).
    let burst = encode(&[b"GET", b"v"]).repeat(100);
    let mut sent_requests = 0;
    // Ends when the node stops reading: the write times out once every buffer is full.
    while sent_requests < 2000 && greedy.write_all(&burst).is_ok() {
        sent_requests += 100;
    }
    wait_until_commands_stop(server.port);
    assert_serves_correctly(&mut Conn::connect(server.port), 0);
    let peak = proc_status_bytes(pid, "VmHWM");
    assert!(
        peak < baseline + 64 * MB,
        "peak RSS {peak} vs {baseline} before {sent_requests} unread 1 MB replies"
    );
}

/// Waits until the node runs no commands but our INFO (the greedy client's requests
/// are done or blocked behind its full socket), so memory is measured after the work.
fn wait_until_commands_stop(port: u16) {
    let mut conn = Conn::connect(port);
    let mut processed = || {
        let Some(info) = conn.cmd(&["INFO", "stats"]).as_bytes().map(<[u8]>::to_vec) else {
            panic!("INFO answers a bulk string");
        };
        let info = String::from_utf8(info).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("total_commands_processed:"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .expect("total_commands_processed in INFO stats")
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = processed();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
        let now = processed();
        if now == last + 1 {
            return;
        }
        last = now;
    }
    panic!("the node kept running commands for 20 s");
}

fn set_output_limit(conn: &mut Conn, value: &str) {
    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "client-output-buffer-limit", value]),
        ok()
    );
}

/// Publishes `count` messages of `size` bytes to `channel`, checking each is answered.
fn publish_many(port: u16, channel: &str, count: usize, size: usize) {
    let mut publisher = Conn::connect(port);
    let message = vec![b'm'; size];
    for _ in 0..count {
        publisher.send(&[b"PUBLISH", channel.as_bytes(), &message]);
        assert!(publisher.read().as_int().is_some());
    }
}

/// Waits for the server to drop the connection; false if it keeps it 10 s.
fn closed_by_server(mut stream: TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut sink = vec![0u8; 1 << 20];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

/// A subscriber connection whose messages will never be read.
fn subscribe_without_reading(port: u16, channel: &str) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(&encode(&[b"SUBSCRIBE", channel.as_bytes()]))
        .unwrap();
    let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
    assert!(!read_resp(&mut reader).unwrap().is_error());
    stream
}

/// PUBSUB NUMSUB once the server has unregistered what it closed (a moment after).
fn numsub_when_settled(port: u16, channel: &str) -> Resp {
    let mut conn = Conn::connect(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let numsub = conn.cmd(&["PUBSUB", "NUMSUB", channel]);
        if numsub.show().ends_with(":0]") || Instant::now() > deadline {
            return numsub;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Subscribers that never read pass the pubsub hard limit and are disconnected, as by
/// redis-server, while the publisher keeps being answered. The node counts them in INFO
/// and its memory never holds much more than the limit for each.
#[test]
fn subscribers_that_never_read_are_disconnected_like_redis() {
    let ours = start_tinyredis(&[]);
    let redis = start_redis();
    let pid = ours.child.id();
    for port in [ours.port, redis.port] {
        set_output_limit(&mut Conn::connect(port), "pubsub 1mb 512kb 60");
    }
    let baseline = proc_status_bytes(pid, "VmRSS");
    for port in [ours.port, redis.port] {
        let subscribers = [
            subscribe_without_reading(port, "news"),
            subscribe_without_reading(port, "news"),
        ];
        publish_many(port, "news", 600, 100 * 1024);
        for sub in subscribers {
            assert!(closed_by_server(sub), "a subscriber on {port} was kept");
        }
        assert_eq!(
            numsub_when_settled(port, "news"),
            Resp::Agg(
                b'*',
                Some(vec![
                    Resp::Blob(b'$', Some(b"news".to_vec())),
                    Resp::Line(b':', b"0".to_vec())
                ])
            )
        );
    }
    let peak = proc_status_bytes(pid, "VmHWM");
    assert!(
        peak < baseline + 24 * MB,
        "peak RSS {peak} vs {baseline}: the slow subscribers were buffered for"
    );
    let mut conn = Conn::connect(ours.port);
    assert_eq!(
        info_field(
            &mut conn,
            "stats",
            "client_output_buffer_limit_disconnections"
        ),
        "2"
    );
}

/// A normal client's reply bigger than a non-zero normal hard limit disconnects it, as in
/// redis-server; with the default (no limit) the same reply is delivered.
#[test]
fn a_normal_client_over_its_hard_limit_is_disconnected_like_redis() {
    let ours = start_tinyredis(&[]);
    let redis = start_redis();
    let value = vec![b'x'; 4 * MB as usize];
    for port in [ours.port, redis.port] {
        let mut conn = Conn::connect(port);
        conn.send(&[b"SET", b"big", &value]);
        assert_eq!(conn.read(), ok());
        assert_eq!(
            conn.cmd(&["GET", "big"]).as_bytes().map(<[u8]>::len),
            Some(value.len())
        );
        set_output_limit(&mut conn, "normal 1mb 0 0");
        conn.send(&[b"GET", b"big"]);
        let reply = conn.try_read();
        assert!(
            reply.is_none(),
            "port {port} sent the reply: {}",
            reply.unwrap().show().len()
        );
        assert_serves_correctly(&mut Conn::connect(port), 0);
    }
    assert_eq!(
        info_field(
            &mut Conn::connect(ours.port),
            "stats",
            "client_output_buffer_limit_disconnections"
        ),
        "1"
    );
}

/// CONFIG GET/SET client-output-buffer-limit answer byte for byte what redis-server does,
/// defaults, units, classes and errors included.
#[test]
fn config_client_output_buffer_limit_matches_redis() {
    let mut d = Diff::start();
    d.check(&["CONFIG", "GET", "client-output-buffer-limit"]);
    for value in [
        "pubsub 1mb 512kb 10",
        "normal 1k 2g 3",
        "replica 10 5 3",
        "pubsub 1 2",
        "bogus 1 2 3",
        "master 1 2 3",
        "normal 1 2 x",
        "normal -1 2 3",
        "normal 1 2 3 pubsub 1 2 x",
        "",
        "NORMAL 1GB 1Mb 0",
    ] {
        d.check(&["CONFIG", "SET", "client-output-buffer-limit", value]);
        d.check(&["CONFIG", "GET", "client-output-buffer-limit"]);
    }
    d.check(&["CONFIG", "GET", "client-output-*"]);
}

/// Raises this process's open-files limit so it can hold `count` connections.
fn allow_open_files(count: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = count.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    assert!(
        limit.rlim_cur >= count,
        "the hard open-files limit {} is below {count}",
        limit.rlim_max
    );
}

/// Starts a standalone node whose soft open-files limit starts at `soft`, as on a
/// distribution default.
fn start_with_open_files_limit(soft: u64) -> Proc {
    use std::os::unix::process::CommandExt;
    let port = free_port();
    let mut command = standalone_command(port);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            limit.rlim_cur = soft;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            Ok(())
        });
    }
    let child = command.spawn().expect("start tinyredis");
    wait_for_port(port);
    Proc {
        child,
        port,
        dir: None,
    }
}

/// The soft "Max open files" of a process.
fn open_files_limit(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

/// 10k connections, the default maxclients, all idle but one: the node raised its own
/// open-files limit to take them all, still answers the one, and spends a bounded amount
/// of memory on each.
#[test]
fn ten_thousand_idle_connections_are_held_in_bounded_memory() {
    const IDLE: usize = 9_999;
    allow_open_files(IDLE as u64 + 500);
    let server = start_with_open_files_limit(1024);
    let pid = server.child.id();
    assert!(
        open_files_limit(pid) >= IDLE as u64,
        "the node kept its low limit"
    );
    let baseline = proc_status_bytes(pid, "VmRSS");
    let idle: Vec<TcpStream> = (0..IDLE)
        .map(|i| {
            TcpStream::connect(("127.0.0.1", server.port))
                .unwrap_or_else(|e| panic!("connection {i}: {e}"))
        })
        .collect();
    let mut conn = Conn::connect(server.port);
    let deadline = Instant::now() + Duration::from_secs(60);
    while info_field(&mut conn, "clients", "connected_clients") != (IDLE + 1).to_string() {
        assert!(
            Instant::now() < deadline,
            "the node did not accept every connection"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_serves_correctly(&mut conn, 0);
    let grown = proc_status_bytes(pid, "VmRSS").saturating_sub(baseline);
    assert!(
        grown < IDLE as u64 * 20 * 1024,
        "{} bytes per idle connection",
        grown / IDLE as u64
    );
    drop(idle);
}
