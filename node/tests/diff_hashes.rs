//! Differential tests of the hash commands against redis-server.

mod common;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;

#[test]
fn set_get_and_delete_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        HSET h a 1 b 2
        HSET h a 10 c 3
        HSET h a
        HSET h a 1 b
        HSET h
        HMSET h d 4 e 5
        HMSET h d
        HMSET h d 4 e
        HSETNX h a x
        HSETNX h z 26
        HSETNX new f v
        HSETNX h z
        HGET h a
        HGET h nope
        HGET missing a
        HGET h
        HMGET h a nope z
        HMGET missing a b
        HMGET h
        HLEN h
        HLEN missing
        HSTRLEN h a
        HSTRLEN h nope
        HSTRLEN missing a
        HEXISTS h a
        HEXISTS h nope
        HEXISTS missing a
        HDEL h a nope
        HDEL h nope
        HDEL missing a
        HDEL h
        ~HGETALL h
        HDEL new f
        EXISTS new
        HDEL h b c d e z
        EXISTS h
        HSET h "" ""
        HGET h ""
        HSTRLEN h ""
        SET s v
        HSET s a 1
        HMSET s a 1
        HSETNX s a 1
        HGET s a
        HMGET s a
        HDEL s a
        HLEN s
        HSTRLEN s a
        HEXISTS s a
        HKEYS s
        HVALS s
        HGETALL s
        HINCRBY s a 1
        HINCRBYFLOAT s a 1
        HRANDFIELD s
        HRANDFIELD s 2
        HSCAN s 0
        "#,
    );
}

#[test]
fn whole_hash_replies_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        HKEYS missing
        HVALS missing
        HGETALL missing
        HSET h a 1 b 2 c 3
        ~HKEYS h
        ~HVALS h
        ~HGETALL h
        "#,
    );
    d.check_shape(&["HELLO", "3"]);
    d.script(
        r#"
        HGETALL missing
        ~HGETALL h
        ~HKEYS h
        HGET missing a
        HMGET missing a
        HEXISTS h a
        HRANDFIELD missing
        HRANDFIELD missing 3
        "#,
    );
}

#[test]
fn increments_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        HINCRBY h n 5
        HINCRBY h n -7
        HINCRBY h n x
        HINCRBY h n 1.5
        HINCRBY h n 9223372036854775807
        HSET h big 9223372036854775807 small -9223372036854775808 text abc sp " 1" lead 01
        HINCRBY h big 1
        HINCRBY h big 0
        HINCRBY h small -1
        HINCRBY h text 1
        HINCRBY h sp 1
        HINCRBY h lead 1
        HINCRBY missing f -3
        HGET missing f
        HINCRBYFLOAT h f 10.5
        HINCRBYFLOAT h f 0.1
        HINCRBYFLOAT h f -5.0e3
        HINCRBYFLOAT h f 3.0e3
        HINCRBYFLOAT h n 0.5
        HINCRBYFLOAT h f abc
        HINCRBYFLOAT h f inf
        HINCRBYFLOAT h f -inf
        HINCRBYFLOAT h f nan
        HINCRBYFLOAT h f " 1"
        HINCRBYFLOAT h text 1
        HINCRBYFLOAT h sp 1
        HINCRBYFLOAT h big 1
        HINCRBYFLOAT h g 1e308
        HINCRBYFLOAT h g 1e4000
        HINCRBYFLOAT h g 1.18973149535723176502e+4932
        HINCRBYFLOAT h g 1.18973149535723176502e+4932
        HINCRBYFLOAT h z 0
        HINCRBYFLOAT h z -0.0
        HINCRBYFLOAT h tiny 1e-20
        HINCRBYFLOAT h hex 0x10
        ~HGETALL h
        "#,
    );
}

#[test]
fn hrandfield_matches_redis_in_shape() {
    let mut d = Diff::start();
    d.script(
        r#"
        HRANDFIELD missing
        HRANDFIELD missing 0
        HRANDFIELD missing 5 WITHVALUES
        HRANDFIELD missing x
        HRANDFIELD missing 1 FOO
        HSET h a 1 b 2 c 3 d 4 e 5
        ?HRANDFIELD h
        ?HRANDFIELD h 3
        ?HRANDFIELD h 5
        ?HRANDFIELD h 50
        ?HRANDFIELD h -3
        ?HRANDFIELD h -20
        ?HRANDFIELD h 0
        ?HRANDFIELD h 2 WITHVALUES
        ?HRANDFIELD h 9 withvalues
        ?HRANDFIELD h -9 WITHVALUES
        ~HRANDFIELD h 5
        ~HRANDFIELD h 9 WITHVALUES
        HRANDFIELD h x
        HRANDFIELD h x FOO
        HRANDFIELD h 1 FOO
        HRANDFIELD h 1 WITHVALUES FOO
        HRANDFIELD h 1 2 3
        HRANDFIELD h -9223372036854775808
        HRANDFIELD h 9223372036854775807 WITHVALUES
        HRANDFIELD h -9223372036854775807 WITHVALUES
        ?HRANDFIELD h 4611686018427387903 WITHVALUES
        "#,
    );
}

#[test]
fn hrandfield_picks_distinct_fields_for_positive_counts() {
    let server = start_tinyredis(&[]);
    let mut c = Conn::connect(server.port);
    let fields: Vec<String> = (0..100).map(|i| format!("f{i}")).collect();
    let mut hset = vec!["HSET", "h"];
    for f in &fields {
        hset.extend([f.as_str(), "v"]);
    }
    c.cmd(&hset);
    // Both of Redis's strategies: most of the hash (drop at random) and a small part
    // (pick at random until enough).
    for count in ["80", "10", "99"] {
        let Resp::Agg(_, Some(items)) = c.cmd(&["HRANDFIELD", "h", count]) else {
            panic!("array expected");
        };
        let distinct: BTreeSet<_> = items.iter().collect();
        assert_eq!(distinct.len(), count.parse::<usize>().unwrap());
    }
}

#[test]
fn small_hscan_matches_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        HSCAN missing 0
        HSCAN missing x
        HSCAN missing 0 FOO
        HSET h a 1 b 2 c 3 ab 4
        ~HSCAN h 0
        ~HSCAN h 0 COUNT 1
        ~HSCAN h 0 MATCH a*
        ~HSCAN h 0 MATCH * COUNT 100
        ~HSCAN h ""
        ~HSCAN h -1
        ~HSCAN h +0
        HSCAN h x
        HSCAN h " 1"
        HSCAN h 18446744073709551616
        HSCAN h 0 COUNT 0
        HSCAN h 0 COUNT -1
        HSCAN h 0 COUNT x
        HSCAN h 0 MATCH
        HSCAN h 0 TYPE string
        HSCAN h 0 NOVALUES
        HSCAN h
        "#,
    );
}

/// Scans `key` to the end with COUNT `count` and returns the fields seen.
fn full_hscan(conn: &mut Conn, key: &str, count: &str) -> BTreeSet<Vec<u8>> {
    let mut cursor = "0".to_string();
    let mut fields = BTreeSet::new();
    loop {
        let reply = conn.cmd(&["HSCAN", key, &cursor, "COUNT", count]);
        let Resp::Agg(_, Some(parts)) = reply else {
            panic!("HSCAN reply {reply:?}");
        };
        let Resp::Agg(_, Some(items)) = &parts[1] else {
            panic!("HSCAN elements {:?}", parts[1]);
        };
        fields.extend(items.chunks(2).map(|p| p[0].as_bytes().unwrap().to_vec()));
        cursor = String::from_utf8(parts[0].as_bytes().unwrap().to_vec()).unwrap();
        if cursor == "0" {
            return fields;
        }
    }
}

#[test]
fn large_hscan_sees_every_field_like_redis() {
    let ours = start_tinyredis(&[]);
    let redis = start_redis();
    let mut seen = Vec::new();
    for port in [ours.port, redis.port] {
        let mut c = Conn::connect(port);
        for i in 0..500 {
            c.cmd(&["HSET", "big", &format!("field:{i}"), &i.to_string()]);
        }
        let fields = full_hscan(&mut c, "big", "7");
        assert_eq!(fields.len(), 500);
        assert_eq!(full_hscan(&mut c, "big", "1000"), fields);
        seen.push(fields);
    }
    assert_eq!(seen[0], seen[1]);
}

#[test]
fn hscan_keeps_fields_present_throughout_despite_churn() {
    let server = start_tinyredis(&[]);
    let mut c = Conn::connect(server.port);
    for i in 0..300 {
        c.cmd(&["HSET", "h", &format!("keep{i}"), "v"]);
        c.cmd(&["HSET", "h", &format!("churn{i}"), "v"]);
    }
    let mut cursor = "0".to_string();
    let mut seen = BTreeSet::new();
    let mut round = 0;
    loop {
        let reply = c.cmd(&["HSCAN", "h", &cursor, "COUNT", "20"]);
        let Resp::Agg(_, Some(parts)) = reply else {
            panic!("HSCAN reply");
        };
        if let Resp::Agg(_, Some(items)) = &parts[1] {
            seen.extend(items.chunks(2).map(|p| p[0].as_bytes().unwrap().to_vec()));
        }
        c.cmd(&["HDEL", "h", &format!("churn{round}")]);
        c.cmd(&["HSET", "h", &format!("new{round}"), "v"]);
        round += 1;
        cursor = String::from_utf8(parts[0].as_bytes().unwrap().to_vec()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    for i in 0..300 {
        assert!(
            seen.contains(format!("keep{i}").as_bytes()),
            "missed keep{i}"
        );
    }
}

#[test]
fn no_op_writes_do_not_abort_a_watching_transaction() {
    let ours = start_tinyredis(&[]);
    let redis = start_redis();
    let mut replies = Vec::new();
    for port in [ours.port, redis.port] {
        let (mut a, mut b) = (Conn::connect(port), Conn::connect(port));
        b.cmd(&["HSET", "h", "f", "1", "t", "x"]);
        b.cmd(&["SET", "s", "v"]);
        a.cmd(&["WATCH", "h", "s"]);
        let no_ops = [
            b.cmd(&["HDEL", "h", "nope"]),
            b.cmd(&["HSETNX", "h", "f", "2"]),
            b.cmd(&["HINCRBY", "h", "t", "1"]),
            b.cmd(&["HINCRBYFLOAT", "h", "t", "1"]),
            b.cmd(&["HSET", "s", "f", "1"]),
        ];
        a.cmd(&["MULTI"]);
        a.cmd(&["HGET", "h", "f"]);
        replies.push((no_ops, a.cmd(&["EXEC"])));
    }
    assert_eq!(replies[0], replies[1]);
}

/// One command of a random sequence over two hashes and a string key.
fn random_command(rng: &mut StdRng) -> (Cmp, Vec<String>) {
    const KEYS: &[&str] = &["h1", "h2", "str"];
    const FIELDS: &[&str] = &["a", "b", "c", "d", "n"];
    const VALUES: &[&str] = &["1", "-2", "x", "", "1.5", "10"];
    let key = |rng: &mut StdRng| KEYS[rng.gen_range(0..KEYS.len())].to_string();
    let field = |rng: &mut StdRng| FIELDS[rng.gen_range(0..FIELDS.len())].to_string();
    let value = |rng: &mut StdRng| VALUES[rng.gen_range(0..VALUES.len())].to_string();
    let s = |x: &str| x.to_string();
    let exact = |c: Vec<String>| (Cmp::Exact, c);
    match rng.gen_range(0..16) {
        0..=2 => {
            let cmd = ["HSET", "HMSET"][rng.gen_range(0..2)];
            let mut c = vec![s(cmd), key(rng)];
            for _ in 0..rng.gen_range(1..4) {
                c.extend([field(rng), value(rng)]);
            }
            exact(c)
        }
        3 => exact(vec![s("HSETNX"), key(rng), field(rng), value(rng)]),
        4 => exact(vec![s("HGET"), key(rng), field(rng)]),
        5 => exact(vec![s("HMGET"), key(rng), field(rng), field(rng)]),
        6 => exact(vec![s("HDEL"), key(rng), field(rng), field(rng)]),
        7 => exact(vec![s("HLEN"), key(rng)]),
        8 => exact(vec![s("HSTRLEN"), key(rng), field(rng)]),
        9 => exact(vec![s("HEXISTS"), key(rng), field(rng)]),
        10 => {
            let cmd = ["HKEYS", "HVALS", "HGETALL"][rng.gen_range(0..3)];
            (Cmp::Unordered, vec![s(cmd), key(rng)])
        }
        11 => exact(vec![
            s("HINCRBY"),
            key(rng),
            field(rng),
            s(["1", "-3", "x"][rng.gen_range(0..3)]),
        ]),
        12 => {
            let incr = ["0.1", "-1.25", "3", "1e3", "x"][rng.gen_range(0..5)];
            exact(vec![s("HINCRBYFLOAT"), key(rng), field(rng), s(incr)])
        }
        13 => {
            let mut c = vec![s("HRANDFIELD"), key(rng)];
            if rng.gen_bool(0.7) {
                c.push(rng.gen_range(-6..7).to_string());
                if rng.gen_bool(0.5) {
                    c.push(s("WITHVALUES"));
                }
            }
            (Cmp::Shape, c)
        }
        14 => (Cmp::Unordered, vec![s("HSCAN"), key(rng), s("0")]),
        _ if rng.gen_bool(0.5) => exact(vec![s("SET"), s("str"), s("v")]),
        _ => exact(vec![s("DEL"), key(rng)]),
    }
}

#[test]
fn random_hash_sequences_match_redis() {
    let mut d = Diff::start();
    let mut rng = StdRng::seed_from_u64(0x4a54);
    for _ in 0..3000 {
        let (cmp, cmd) = random_command(&mut rng);
        let bytes: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        d.check_with(&bytes, cmp);
    }
    for key in ["h1", "h2"] {
        d.check_unordered(&["HGETALL", key]);
    }
}
