//! Real clients against a standalone node: redis-cli (interactive and --pipe), the `redis`
//! crate, pub/sub across connections, and hostile input. Where redis-server can serve as
//! the oracle, the same scenario runs against both and the replies are compared.

mod common;
use common::*;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

fn redis_cli(port: u16, args: &[&str], stdin: Option<&[u8]>) -> String {
    let mut child = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-cli must be installed");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn redis_cli_pipe_loads_and_reads_back() {
    let server = start_tinyredis(&[]);
    let mut input = Vec::new();
    for i in 0..5000 {
        input.extend(encode(&[
            b"SET",
            format!("k{i}").as_bytes(),
            format!("v{i}").as_bytes(),
        ]));
        input.extend(encode(&[b"RPUSH", b"list", format!("{i}").as_bytes()]));
    }
    let out = redis_cli(server.port, &["--pipe"], Some(&input));
    assert!(out.contains("errors: 0, replies: 10000"), "{out}");
    assert_eq!(
        redis_cli(server.port, &["GET", "k4999"], None).trim(),
        "v4999"
    );
    assert_eq!(
        redis_cli(server.port, &["LLEN", "list"], None).trim(),
        "5000"
    );
}

#[test]
fn redis_cli_output_matches_redis_server() {
    let ours = start_tinyredis(&[]);
    let redis = start_redis();
    let script = "SET a 1\nINCR a\nRPUSH l x y z\nLRANGE l 0 -1\nHSET h f v\nHGETALL h\nZADD z 1.5 m\nZRANGE z 0 -1 WITHSCORES\nGET nope\nINCR l\nEXISTS a l h z\n";
    let a = redis_cli(ours.port, &[], Some(script.as_bytes()));
    let b = redis_cli(redis.port, &[], Some(script.as_bytes()));
    assert_eq!(a, b);
}

#[test]
fn redis_crate_client_round_trips() {
    let server = start_tinyredis(&[]);
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", server.port)).unwrap();
    let mut con = client.get_connection().unwrap();
    let _: () = redis::cmd("SET")
        .arg("greeting")
        .arg("hello")
        .query(&mut con)
        .unwrap();
    let got: String = redis::cmd("GET").arg("greeting").query(&mut con).unwrap();
    assert_eq!(got, "hello");
    let (n, items): (i64, Vec<String>) = redis::pipe()
        .atomic()
        .cmd("RPUSH")
        .arg("q")
        .arg("a")
        .arg("b")
        .cmd("LRANGE")
        .arg("q")
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!((n, items), (2, vec!["a".to_string(), "b".to_string()]));
    let err = redis::cmd("INCR")
        .arg("greeting")
        .query::<i64>(&mut con)
        .unwrap_err();
    assert!(err.to_string().contains("not an integer"), "{err}");
}

/// Subscriber and publisher on two connections, the same on both servers.
#[test]
fn pubsub_across_connections_matches_redis() {
    let ours = start_tinyredis(&[]);
    let redis = start_redis();
    let run = |port: u16| -> Vec<Resp> {
        let mut sub = Conn::connect(port);
        let mut publisher = Conn::connect(port);
        let mut seen = vec![
            sub.cmd(&["SUBSCRIBE", "news"]),
            sub.cmd(&["PSUBSCRIBE", "n*"]),
        ];
        seen.push(publisher.cmd(&["PUBLISH", "news", "hello"]));
        seen.push(sub.read());
        seen.push(sub.read());
        seen.push(sub.cmd(&["GET", "x"]));
        seen.push(sub.cmd(&["PING"]));
        seen.push(publisher.cmd(&["PUBSUB", "NUMSUB", "news", "other"]));
        seen.push(publisher.cmd(&["PUBSUB", "NUMPAT"]));
        sub.send(&[b"UNSUBSCRIBE"]);
        seen.push(sub.read());
        seen.push(sub.cmd(&["PUNSUBSCRIBE"]));
        seen.push(sub.cmd(&["SET", "x", "1"]));
        seen
    };
    assert_eq!(run(ours.port), run(redis.port));
}

#[test]
fn resp3_pubsub_pushes_match_redis() {
    let ours = start_tinyredis(&[]);
    let redis = start_redis();
    let run = |port: u16| -> Vec<Resp> {
        let mut sub = Conn::connect(port);
        let mut publisher = Conn::connect(port);
        sub.cmd(&["HELLO", "3"]);
        let mut seen = vec![sub.cmd(&["SUBSCRIBE", "c1", "c2"]), sub.read()];
        seen.push(sub.cmd(&["GET", "k"]));
        seen.push(publisher.cmd(&["PUBLISH", "c2", "m"]));
        seen.push(sub.read());
        seen
    };
    assert_eq!(run(ours.port), run(redis.port));
}

#[test]
fn watch_across_connections_matches_redis() {
    let ours = start_tinyredis(&[]);
    let redis = start_redis();
    let run = |port: u16| -> Vec<Resp> {
        let mut a = Conn::connect(port);
        let mut b = Conn::connect(port);
        let mut seen = vec![a.cmd(&["SET", "k", "1"]), a.cmd(&["WATCH", "k", "absent"])];
        seen.push(b.cmd(&["SET", "absent", "now"]));
        seen.push(a.cmd(&["MULTI"]));
        seen.push(a.cmd(&["INCR", "k"]));
        seen.push(a.cmd(&["EXEC"]));
        seen.push(a.cmd(&["WATCH", "k"]));
        seen.push(b.cmd(&["SET", "other", "x"]));
        seen.push(a.cmd(&["MULTI"]));
        seen.push(a.cmd(&["INCR", "k"]));
        seen.push(a.cmd(&["EXEC"]));
        seen
    };
    assert_eq!(run(ours.port), run(redis.port));
}

#[test]
fn a_flood_of_garbage_never_stops_the_server() {
    let server = start_tinyredis(&[]);
    let inputs: Vec<Vec<u8>> = vec![
        b"*-1\r\n".to_vec(),
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$99999999999\r\n".to_vec(),
        b"$5\r\nhello\r\n".to_vec(),
        vec![0xff; 70 * 1024],
        b"*2\r\n$3\r\nGET\r\n$1\r\nk".to_vec(),
        b"\"unterminated\r\n".to_vec(),
        (0..2000)
            .flat_map(|_| b"*1\r\n$4\r\nPING\r\n".to_vec())
            .collect(),
    ];
    for input in &inputs {
        let mut conn = Conn::connect(server.port);
        conn.set_timeout(Duration::from_millis(500));
        conn.send_raw(input);
        while conn.try_read().is_some() {}
    }
    let mut conn = Conn::connect(server.port);
    assert_eq!(conn.cmd(&["PING"]), Resp::Line(b'+', b"PONG".to_vec()));
}

#[test]
fn binary_safe_keys_and_values() {
    let mut d = Diff::start();
    let key: Vec<u8> = (0u8..=255).collect();
    let value: Vec<u8> = (0u8..=255).rev().chain(b"\r\n\0".iter().copied()).collect();
    d.check_with(&[b"SET", &key, &value], Cmp::Exact);
    d.check_with(&[b"GET", &key], Cmp::Exact);
    d.check_with(&[b"APPEND", &key, b"\r\n"], Cmp::Exact);
    d.check_with(&[b"STRLEN", &key], Cmp::Exact);
}

#[test]
fn thousands_of_idle_clients_are_served() {
    let server = start_tinyredis(&[]);
    let idle: Vec<std::net::TcpStream> = (0..2000)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    let mut conn = Conn::connect(server.port);
    assert_eq!(
        conn.cmd(&["SET", "still", "here"]),
        Resp::Line(b'+', b"OK".to_vec())
    );
    let Resp::Blob(_, Some(info)) = conn.cmd(&["INFO", "clients"]) else {
        panic!("no INFO")
    };
    let info = String::from_utf8(info).unwrap();
    assert!(info.contains("connected_clients:2001"), "{info}");
    drop(idle);
}
