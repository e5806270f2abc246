//! Differential tests of the protocol and connection commands against redis-server.

mod common;
use common::*;

#[test]
fn basic_strings_and_errors_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        PING
        PING hello
        ECHO "a b"
        SET k v
        GET k
        GET missing
        DEL k missing
        EXISTS k
        TYPE k
        NOSUCHCOMMAND a b
        GET
        GET a b
        SELECT 1
        SELECT 16
        SELECT x
        DBSIZE
        "#,
    );
}

#[test]
fn transactions_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        EXEC
        DISCARD
        MULTI
        MULTI
        SET a 1
        GET a
        PING
        EXEC
        MULTI
        SET a
        GET a
        EXEC
        MULTI
        WATCH x
        DISCARD
        "#,
    );
}

#[test]
fn watch_aborts_exec_after_another_client_writes() {
    let server = start_tinyredis(&[]);
    let mut a = Conn::connect(server.port);
    let mut b = Conn::connect(server.port);
    a.cmd(&["WATCH", "k"]);
    a.cmd(&["MULTI"]);
    a.cmd(&["SET", "k", "from-a"]);
    b.cmd(&["SET", "k", "from-b"]);
    assert_eq!(a.cmd(&["EXEC"]), Resp::Agg(b'*', None));
    assert_eq!(a.cmd(&["GET", "k"]).as_bytes(), Some(&b"from-b"[..]));
}

#[test]
fn hello_switches_protocol_like_redis() {
    let mut d = Diff::start();
    d.check(&["HELLO", "4"]);
    d.check(&["HELLO", "x"]);
    d.check_shape(&["HELLO", "3"]);
    d.check(&["SET", "a", "1"]);
    d.check(&["GET", "missing"]);
    d.check(&["HELLO", "2", "SETNAME", "bad name"]);
}

#[test]
fn protocol_errors_match_redis() {
    for input in [
        &b"*1\r\n$-5\r\n"[..],
        b"*1\r\n$536870913\r\n",
        b"*1\r\n+PING\r\n",
        b"*abc\r\n",
        b"SET \"unbalanced\r\n",
    ] {
        let ours = start_tinyredis(&[]);
        let redis = start_redis();
        let mut a = Conn::connect(ours.port);
        let mut b = Conn::connect(redis.port);
        a.send_raw(input);
        b.send_raw(input);
        assert_eq!(
            a.read(),
            b.read(),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
        assert!(
            a.try_read().is_none(),
            "connection must close after a protocol error"
        );
    }
}

#[test]
fn bare_newlines_and_inline_commands_are_served() {
    let mut d = Diff::start();
    for conn in [&mut d.ours, &mut d.redis] {
        conn.send_raw(b"\r\n\n\r\nPING\r\nSET  a   \"x y\"\r\nGET a\r\n");
    }
    for _ in 0..3 {
        assert_eq!(d.ours.read(), d.redis.read());
    }
}
