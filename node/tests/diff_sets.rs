//! Differential tests of the set commands against redis-server.

mod common;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[test]
fn basic_set_commands_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        SADD s a b c a
        SADD s c d
        SCARD s
        SCARD missing
        SISMEMBER s a
        SISMEMBER s z
        SISMEMBER missing a
        SMISMEMBER s a z b
        SMISMEMBER missing a b
        ~SMEMBERS s
        SMEMBERS missing
        SREM s a z
        SREM missing a
        SREM s b c d
        EXISTS s
        TYPE s
        SADD
        SADD s
        SREM s
        SCARD
        SISMEMBER s
        SMISMEMBER s
        SMEMBERS
        "#,
    );
}

#[test]
fn wrong_types_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        SET str x
        SADD s a
        SADD str a
        SREM str a
        SCARD str
        SISMEMBER str a
        SMISMEMBER str a
        SMEMBERS str
        SPOP str
        SPOP str 2
        SRANDMEMBER str
        SRANDMEMBER str 2
        SMOVE str s a
        SMOVE s str a
        SMOVE missing str a
        SINTER s str
        SINTER missing str
        SUNION s str
        SDIFF s str
        SINTERSTORE d s str
        SINTERCARD 2 s str
        SSCAN str 0
        GET str
        "#,
    );
}

#[test]
fn spop_and_srandmember_match_redis_in_shape() {
    let mut d = Diff::start();
    d.script(
        r#"
        SADD s a b c d e f g h i j
        ?SPOP s
        SCARD s
        ?SPOP s 2
        SCARD s
        SPOP s 0
        SPOP s -1
        SPOP s x
        SPOP s 1 2
        SPOP missing
        SPOP missing 3
        ?SRANDMEMBER s
        ?SRANDMEMBER s 3
        ?SRANDMEMBER s -20
        ?SRANDMEMBER s 100
        SRANDMEMBER s 0
        SRANDMEMBER s x
        SRANDMEMBER s -9223372036854775808
        SRANDMEMBER s 1 2
        SRANDMEMBER missing
        SRANDMEMBER missing 5
        SRANDMEMBER missing -5
        ?SPOP s 100
        EXISTS s
        SADD one x
        SPOP one
        EXISTS one
        "#,
    );
}

#[test]
fn srandmember_distinct_picks_are_distinct() {
    let mut d = Diff::start();
    d.check(&[
        "SADD", "s", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10",
    ]);
    for count in ["2", "5", "9"] {
        let reply = d.check_shape(&["SRANDMEMBER", "s", count]);
        let Resp::Agg(_, Some(items)) = reply else {
            panic!("array expected")
        };
        let mut unique = items.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), items.len());
    }
}

#[test]
fn writes_that_change_nothing_do_not_abort_watch() {
    let mut d = Diff::start();
    d.script(
        r#"
        SADD s a b
        WATCH s
        SADD s a
        SREM s zz
        SREM missing a
        SPOP s 0
        SMOVE s s a
        SMOVE s t zz
        MULTI
        PING
        EXEC
        WATCH s
        SADD s c
        MULTI
        PING
        EXEC
        WATCH s
        SREM s c
        MULTI
        PING
        EXEC
        "#,
    );
}

#[test]
fn smove_matches_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        SADD a x y
        SADD b z
        SMOVE a b x
        ~SMEMBERS a
        ~SMEMBERS b
        SMOVE a b nope
        SMOVE a a y
        SMOVE a a nope
        SMOVE a c y
        EXISTS a
        ~SMEMBERS c
        SMOVE missing b x
        SMOVE a
        "#,
    );
}

#[test]
fn set_algebra_matches_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        SADD a 1 2 3 4 x
        SADD b 2 3 5 x
        SADD c 3 x y
        ~SINTER a b c
        ~SINTER a
        SINTER a missing
        ~SUNION a b c missing
        ~SDIFF a b
        ~SDIFF a missing c
        SDIFF missing a
        SINTERSTORE d a b c
        ~SMEMBERS d
        SUNIONSTORE d a c
        ~SMEMBERS d
        SDIFFSTORE d a b c
        ~SMEMBERS d
        SET str v
        SINTERSTORE str a b
        TYPE str
        SINTERSTORE d a missing
        EXISTS d
        SUNIONSTORE d missing
        EXISTS d
        SDIFFSTORE a a
        ~SMEMBERS a
        SDIFFSTORE a a b c
        SINTER
        SINTERSTORE d
        "#,
    );
}

#[test]
fn sintercard_matches_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        SADD a 1 2 3 4 5
        SADD b 2 3 4 5 6
        SINTERCARD 2 a b
        SINTERCARD 2 a b LIMIT 2
        SINTERCARD 2 a b LIMIT 0
        SINTERCARD 2 a b limit 100
        SINTERCARD 1 a
        SINTERCARD 2 a missing
        SINTERCARD 0 a
        SINTERCARD -1 a
        SINTERCARD x a
        SINTERCARD 3 a b
        SINTERCARD 2 a b LIMIT
        SINTERCARD 2 a b LIMIT -1
        SINTERCARD 2 a b LIMIT x
        SINTERCARD 2 a b FOO 1
        SINTERCARD 1 missing LIMIT x
        SINTERCARD 1
        "#,
    );
}

#[test]
fn sscan_matches_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        SADD s apple banana cherry avocado 1 2
        ~SSCAN s 0
        ~SSCAN s 0 COUNT 100
        ~SSCAN s 0 MATCH a*
        ~SSCAN s 0 MATCH * COUNT 50
        ~SSCAN s 0 match ?a* count 1000
        SSCAN missing 0
        SSCAN missing x
        SSCAN s x
        SSCAN s 0 COUNT 0
        SSCAN s 0 COUNT x
        SSCAN s 0 MATCH
        SSCAN s 0 FOO bar
        SSCAN missing 0 COUNT 0
        SSCAN s
        "#,
    );
}

#[test]
fn sscan_walks_a_big_set_without_missing_members() {
    let server = start_tinyredis(&[]);
    let mut c = Conn::connect(server.port);
    let members: Vec<String> = (0..500).map(|i| format!("m{i}")).collect();
    let mut sadd = vec!["SADD", "big"];
    sadd.extend(members.iter().map(String::as_str));
    assert_eq!(c.cmd(&sadd).as_int(), Some(500));
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    loop {
        let Resp::Agg(_, Some(reply)) = c.cmd(&["SSCAN", "big", &cursor, "COUNT", "7"]) else {
            panic!("array expected")
        };
        let Resp::Agg(_, Some(items)) = &reply[1] else {
            panic!("array expected")
        };
        seen.extend(items.iter().map(|i| i.as_bytes().unwrap().to_vec()));
        cursor = String::from_utf8(reply[0].as_bytes().unwrap().to_vec()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 500);
}

#[test]
fn resp3_set_replies_match_redis() {
    let mut d = Diff::start();
    d.check_shape(&["HELLO", "3"]);
    d.script(
        r#"
        SADD s a b c
        ~SMEMBERS s
        SMEMBERS missing
        ~SINTER s s
        SINTER s missing
        ~SUNION s
        ~SDIFF s
        SMISMEMBER s a z
        SISMEMBER s a
        SPOP missing 2
        SPOP s 0
        ?SRANDMEMBER s 1
        ~SRANDMEMBER s 10
        SRANDMEMBER missing 2
        SPOP missing
        SRANDMEMBER missing
        ~SSCAN s 0
        SSCAN missing 0
        ?SPOP s 1
        "#,
    );
}

/// Random sequences over a few keys and a small alphabet; every reply is compared
/// (unordered for whole-set replies, by shape for random ones).
#[test]
fn random_set_sequences_match_redis() {
    let mut d = Diff::start();
    let mut rng = StdRng::seed_from_u64(0x5e75);
    let keys = ["s1", "s2", "s3", "str"];
    d.check(&["SET", "str", "x"]);
    for _ in 0..2000 {
        let key = keys[rng.gen_range(0..3)];
        let other = keys[rng.gen_range(0..keys.len())];
        let third = keys[rng.gen_range(0..keys.len())];
        let members: Vec<String> = (0..rng.gen_range(1..5))
            .map(|_| format!("m{}", rng.gen_range(0..12)))
            .collect();
        let mut args: Vec<String> = Vec::new();
        let cmp = match rng.gen_range(0..17) {
            0 | 1 => {
                args.extend(["SADD".into(), key.into()]);
                args.extend(members);
                Cmp::Exact
            }
            2 => {
                args.extend(["SREM".into(), key.into()]);
                args.extend(members);
                Cmp::Exact
            }
            3 => {
                args.extend(["SCARD".into(), other.into()]);
                Cmp::Exact
            }
            4 => {
                args.extend(["SMISMEMBER".into(), other.into()]);
                args.extend(members);
                Cmp::Exact
            }
            5 => {
                args.extend(["SMEMBERS".into(), other.into()]);
                Cmp::Unordered
            }
            6 => {
                args.extend(["SPOP".into(), key.into()]);
                Cmp::Shape
            }
            7 => {
                args.extend(["SPOP".into(), key.into(), rng.gen_range(0..6).to_string()]);
                Cmp::Shape
            }
            8 => {
                let count = rng.gen_range(-5..6).to_string();
                args.extend(["SRANDMEMBER".into(), other.into(), count]);
                Cmp::Shape
            }
            9 => {
                args.extend(["SMOVE".into(), key.into(), other.into(), members[0].clone()]);
                Cmp::Exact
            }
            10 => {
                args.extend(["SINTER".into(), key.into(), other.into(), third.into()]);
                Cmp::Unordered
            }
            11 => {
                args.extend(["SUNION".into(), key.into(), other.into()]);
                Cmp::Unordered
            }
            12 => {
                args.extend(["SDIFF".into(), key.into(), other.into(), third.into()]);
                Cmp::Unordered
            }
            13 => {
                let op = ["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"][rng.gen_range(0..3)];
                args.extend([op.into(), key.into(), other.into(), third.into()]);
                Cmp::Exact
            }
            14 => {
                let limit = rng.gen_range(0..4).to_string();
                args.extend(["SINTERCARD".into(), "2".into(), key.into(), other.into()]);
                args.extend(["LIMIT".into(), limit]);
                Cmp::Exact
            }
            15 => {
                args.extend(["SSCAN".into(), other.into(), "0".into(), "COUNT".into()]);
                args.push("100".into());
                Cmp::Unordered
            }
            _ => {
                args.extend(["SISMEMBER".into(), other.into(), members[0].clone()]);
                Cmp::Exact
            }
        };
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        d.check_with(&refs, cmp);
        // Random picks diverge by design: resynchronise the key they touched.
        if matches!(args[0].as_str(), "SPOP") {
            resync(&mut d, key);
        }
    }
}

/// Makes both servers hold the same members at `key` after a random pop.
fn resync(d: &mut Diff, key: &str) {
    let Resp::Agg(_, Some(members)) = d.redis.cmd(&["SMEMBERS", key]) else {
        return;
    };
    d.ours.cmd(&["DEL", key]);
    if !members.is_empty() {
        let mut args: Vec<&[u8]> = vec![b"SADD", key.as_bytes()];
        args.extend(members.iter().map(|m| m.as_bytes().unwrap()));
        d.ours.send(&args);
        d.ours.read();
    }
}
