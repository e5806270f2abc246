//! Differential tests of the string commands against redis-server.

mod common;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

#[test]
fn get_set_and_options_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        SET k v
        GET k
        SET k v2 NX
        SET k v3 XX
        GET k
        SET new v XX
        GET new
        SET new v NX
        SET k v4 GET
        SET missing v GET
        SET k v NX XX
        SET k v XX NX
        SET k v NX NX
        SET k v EX
        SET k v EX 10 PX 100
        SET k v EX 10 EX 20
        SET k v KEEPTTL EX 10
        SET k v EX 10 KEEPTTL
        SET k v PERSIST
        SET k v FOO
        SET k v EX 0
        SET k v EX -5
        SET k v PX 0
        SET k v EXAT 0
        SET k v PXAT -1
        SET k v EX abc
        SET k v EX 1.5
        SET k v EX 9223372036854775807
        SET k v EX 9223372036854775
        SET k v PX 9223372036854775807
        SET k v PXAT 9223372036854775807
        TTL k
        SET k v EX 100
        TTL k
        SET k v2 KEEPTTL
        TTL k
        SET k v3 XX
        TTL k
        SET k v EXAT 99999999999
        EXPIRETIME k
        SET k v PXAT 99999999999000
        PEXPIRETIME k
        SET k v PXAT 1
        GET k
        EXISTS k
        RPUSH list a
        SET list v GET
        GET list
        SET list v NX GET
        SET list v
        GET list
        SET n v NX GET
        SET n w NX GET
        SET n x XX GET
        SET
        SET k
        GET
        GET a b
        set lower v ex 100 nx
        TTL lower
        "#,
    );
}

#[test]
fn setnx_setex_psetex_getset_getdel_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        SETNX a 1
        SETNX a 2
        GET a
        SETEX b 100 v
        TTL b
        SETEX b 0 v
        SETEX b -1 v
        SETEX b x v
        SETEX b 9223372036854775807 v
        PSETEX c 100000 v
        @PTTL c
        PSETEX c 0 v
        PSETEX c 9223372036854775807 v
        SETEX b 100
        GETSET a new
        GETSET fresh v
        GET fresh
        SETEX t 100 v
        GETSET t w
        TTL t
        GETDEL a
        GETDEL a
        EXISTS a
        RPUSH l x
        GETSET l v
        GETDEL l
        SETNX l v
        SETEX l 10 v
        TYPE l
        "#,
    );
}

#[test]
fn getex_matches_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        GETEX missing
        GETEX missing EX 10
        GETEX missing EX 0
        GETEX missing FOO
        SET k v
        GETEX k
        TTL k
        GETEX k EX 100
        TTL k
        GETEX k PX 200000
        TTL k
        GETEX k EXAT 99999999999
        EXPIRETIME k
        GETEX k PXAT 99999999999000
        PEXPIRETIME k
        GETEX k PERSIST
        TTL k
        GETEX k PERSIST
        GETEX k EX 10 PERSIST
        GETEX k PERSIST EX 10
        GETEX k NX
        GETEX k KEEPTTL
        GETEX k GET
        GETEX k EX
        GETEX k EX 0
        GETEX k EX -1
        GETEX k EX x
        GETEX k EX 10 PX 10
        GETEX k EXAT 1
        EXISTS k
        SET k v
        GETEX k PXAT 1
        GET k
        RPUSH l a
        GETEX l
        GETEX l EX 0
        GETEX
        "#,
    );
}

#[test]
fn mget_mset_msetnx_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        MSET a 1 b 2 c 3
        MGET a b c d
        MSET a 1 b
        MSET a
        MSETNX a 1 x 2
        MGET x
        MSETNX x 1 y 2
        MGET x y
        MSETNX z 1 z 2
        GET z
        MSETNX p
        MSETNX p 1 q
        RPUSH l a
        MGET a l b
        SETEX t 100 v
        MSET t w
        TTL t
        MGET
        MSET a 1 a 2
        GET a
        "#,
    );
}

#[test]
fn append_strlen_setrange_getrange_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        APPEND a hello
        APPEND a " world"
        GET a
        STRLEN a
        STRLEN missing
        SETEX t 100 x
        APPEND t y
        TTL t
        SETRANGE a 6 WORLD
        GET a
        SETRANGE a 20 x
        GET a
        STRLEN a
        SETRANGE a -1 x
        SETRANGE a x x
        SETRANGE a 0 ""
        SETRANGE nokey 0 ""
        EXISTS nokey
        SETRANGE nokey 3 abc
        GET nokey
        SETRANGE big 536870912 x
        SETRANGE big 536870911 x
        STRLEN big
        DEL big
        SETRANGE huge 9223372036854775807 x
        SETRANGE a 9223372036854775807 ""
        GETRANGE a 0 4
        GETRANGE a -5 -1
        GETRANGE a -1 -5
        GETRANGE a 5 2
        GETRANGE a 0 -1
        GETRANGE a 0 1000
        GETRANGE a -1000 3
        GETRANGE a -1000 -999
        GETRANGE a 100 200
        GETRANGE a x 1
        GETRANGE a 0 y
        GETRANGE missing 0 -1
        SUBSTR a 0 3
        SET empty ""
        GETRANGE empty 0 -1
        GETRANGE empty -1 0
        SET n 12345
        GETRANGE n 1 2
        APPEND n 6
        GET n
        RPUSH l a
        APPEND l x
        STRLEN l
        SETRANGE l 0 x
        GETRANGE l 0 1
        SETRANGE l 0 ""
        GETRANGE
        SETRANGE a 1
        "#,
    );
}

#[test]
fn integer_counters_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        INCR c
        INCR c
        DECR c
        INCRBY c 10
        DECRBY c 5
        INCRBY c -100
        DECRBY c -1
        GET c
        SET big 9223372036854775806
        INCR big
        INCR big
        GET big
        SET small -9223372036854775807
        DECR small
        DECR small
        DECRBY small 1
        INCRBY small -1
        SET x 5
        DECRBY x -9223372036854775808
        INCRBY x -9223372036854775808
        INCRBY x 9223372036854775807
        INCRBY x 9223372036854775808
        INCRBY x abc
        INCRBY x 1.5
        SET s abc
        INCR s
        SET s " 1"
        INCR s
        SET s "1 "
        INCR s
        SET s 01
        INCR s
        SET s +1
        INCR s
        SET s -0
        INCR s
        SET s 1.0
        DECR s
        SET s 99999999999999999999
        INCR s
        RPUSH l a
        INCR l
        INCRBY l x
        SETEX t 100 1
        INCR t
        TTL t
        INCR
        INCRBY c
        "#,
    );
}

#[test]
fn a_refused_incr_does_not_abort_watch_and_an_incr_keeps_the_ttl() {
    let mut d = Diff::start();
    d.script(
        r#"
        SET text abc
        WATCH text
        INCR text
        INCRBY text 5
        MULTI
        PING
        EXEC
        SET n 5
        PEXPIRE n 100000
        WATCH n
        INCR n
        MULTI
        PING
        EXEC
        GET n
        TTL n
        "#,
    );
}

#[test]
fn incrbyfloat_matches_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        SET x 10.5
        INCRBYFLOAT x 0.1
        INCRBYFLOAT y 0.1
        INCRBYFLOAT y 0.2
        INCRBYFLOAT z 5.0e3
        INCRBYFLOAT z 2.0e2
        INCRBYFLOAT z -5200
        INCRBYFLOAT z 1e-20
        INCRBYFLOAT z -1e-20
        INCRBYFLOAT z -1e-16
        INCRBYFLOAT h 0x10
        INCRBYFLOAT h 0x1.8p1
        INCRBYFLOAT h 0X.8
        INCRBYFLOAT h 0x
        INCRBYFLOAT h 0xp1
        INCRBYFLOAT h 1e
        INCRBYFLOAT h 1e+
        INCRBYFLOAT h .5
        INCRBYFLOAT h 5.
        INCRBYFLOAT h .
        INCRBYFLOAT h +.5e+1
        INCRBYFLOAT h " 1"
        INCRBYFLOAT h "1 "
        INCRBYFLOAT h ""
        INCRBYFLOAT h abc
        INCRBYFLOAT h inf
        INCRBYFLOAT h -infinity
        INCRBYFLOAT h nan
        INCRBYFLOAT h 1e4933
        INCRBYFLOAT h 1e-4940
        INCRBYFLOAT h 1e-5000
        INCRBYFLOAT h 1.7976931348623157e308
        INCRBYFLOAT h 1e300
        INCRBYFLOAT h 1e308
        INCRBYFLOAT h 1e4000
        INCRBYFLOAT h -1e4000
        GET h
        SET e "1\x00abc"
        INCRBYFLOAT e 1
        SET e "\x00"
        INCRBYFLOAT e 1
        SET inf inf
        INCRBYFLOAT inf 1
        SET w abc
        INCRBYFLOAT w 1
        SET w " 1"
        INCRBYFLOAT w 1
        RPUSH l a
        INCRBYFLOAT l 1
        SETEX t 100 1
        INCRBYFLOAT t 1.5
        TTL t
        SET i 3
        INCRBYFLOAT i 2
        INCRBYFLOAT i 1.23456789012345678901234567890
        INCRBYFLOAT i -0.00000000000000001
        INCRBYFLOAT i 0.000000000000000005
        INCRBYFLOAT i 12345678901234567890
        INCRBYFLOAT i 0.1
        INCRBYFLOAT
        "#,
    );
}

/// Random decimal texts of many shapes, added in long double on both sides.
#[test]
fn incrbyfloat_random_values_match_redis() {
    let mut d = Diff::start();
    let mut rng = StdRng::seed_from_u64(0x1ec0_f10a);
    for i in 0..2000 {
        let key = format!("f{}", i % 7);
        let incr = random_float_text(&mut rng);
        d.check(&["INCRBYFLOAT", &key, &incr]);
        if rng.gen_bool(0.1) {
            let start = random_float_text(&mut rng);
            d.check(&["SET", &key, &start]);
        }
    }
}

fn random_float_text(rng: &mut StdRng) -> String {
    match rng.gen_range(0..8) {
        6 => format!(
            "{}.{}e{}",
            rng.gen_range(1..10),
            rng.gen_range(0..u64::MAX),
            rng.gen_range(-4940..4930)
        ),
        7 => format!(
            "0x{:x}.{:x}p{}",
            rng.gen::<u32>(),
            rng.gen::<u32>(),
            rng.gen_range(-80..80)
        ),
        0 => format!("{}", rng.gen_range(-1000..1000)),
        1 => format!("{:.3}", rng.gen_range(-100.0..100.0)),
        2 => format!("{}", rng.gen::<f64>() * 10f64.powi(rng.gen_range(-20..20))),
        3 => format!(
            "{}e{}",
            rng.gen_range(-99999..99999),
            rng.gen_range(-30..30)
        ),
        4 => format!(
            "0.{:0width$}",
            rng.gen_range(1..1000),
            width = rng.gen_range(1..20)
        ),
        _ => format!(
            "{}.{}",
            rng.gen_range(0..u32::MAX),
            rng.gen_range(0..u32::MAX)
        ),
    }
}

#[test]
fn wrong_arity_matches_redis() {
    let mut d = Diff::start();
    for cmd in [
        "GET",
        "SET",
        "SETNX",
        "SETEX",
        "PSETEX",
        "GETSET",
        "GETDEL",
        "GETEX",
        "MGET",
        "MSET",
        "MSETNX",
        "APPEND",
        "STRLEN",
        "SETRANGE",
        "GETRANGE",
        "SUBSTR",
        "INCR",
        "DECR",
        "INCRBY",
        "DECRBY",
        "INCRBYFLOAT",
    ] {
        d.check(&[cmd]);
        d.check(&[cmd, "k", "a", "b", "c", "d"]);
    }
}

#[test]
fn keys_expire_for_real() {
    let mut d = Diff::start();
    d.script(
        r#"
        SET a 1 PX 100
        PSETEX b 100 v
        SET c 1
        GETEX c PX 100
        SET d 1 KEEPTTL
        "#,
    );
    std::thread::sleep(Duration::from_millis(250));
    d.script(
        r#"
        GET a
        GET b
        GET c
        EXISTS a b c d
        SET a 2 XX
        SETNX b 2
        GET b
        INCR a
        APPEND c x
        GET c
        "#,
    );
}

/// A seeded random walk over the string commands, every reply compared.
#[test]
fn random_string_commands_match_redis() {
    let mut d = Diff::start();
    let mut rng = StdRng::seed_from_u64(42);
    let keys = ["a", "b", "c", "d", "e", "list"];
    d.check(&["RPUSH", "list", "x"]);
    for _ in 0..3000 {
        let key = keys[rng.gen_range(0..keys.len())];
        let other = keys[rng.gen_range(0..keys.len())];
        let value = random_value(&mut rng);
        let n = rng.gen_range(-20..20).to_string();
        let m = rng.gen_range(-20..20).to_string();
        let cmd: Vec<&str> = match rng.gen_range(0..20) {
            0 => vec!["GET", key],
            1 => vec!["SET", key, &value],
            2 => vec![
                "SET",
                key,
                &value,
                ["NX", "XX", "GET", "KEEPTTL"][rng.gen_range(0..4)],
            ],
            3 => vec!["SETNX", key, &value],
            4 => vec!["GETSET", key, &value],
            5 => vec!["GETDEL", key],
            6 => vec!["MGET", key, other, "zz"],
            7 => vec!["MSET", key, &value, other, &n],
            8 => vec!["MSETNX", key, &value, other, &n],
            9 => vec!["APPEND", key, &value],
            10 => vec!["STRLEN", key],
            11 => vec![
                "SETRANGE",
                key,
                if n.starts_with('-') { "3" } else { &n },
                &value,
            ],
            12 => vec!["GETRANGE", key, &n, &m],
            13 => vec!["INCR", key],
            14 => vec!["DECRBY", key, &n],
            15 => vec!["INCRBY", key, &n],
            16 => vec!["INCRBYFLOAT", key, &value],
            17 => vec!["GETEX", key],
            18 => vec!["SETEX", key, "100", &value],
            _ => vec!["SET", key, &n],
        };
        d.check(&cmd);
    }
}

fn random_value(rng: &mut StdRng) -> String {
    match rng.gen_range(0..4) {
        0 => rng.gen_range(-5..50).to_string(),
        1 => format!("{:.2}", rng.gen_range(-10.0..10.0)),
        2 => "x".repeat(rng.gen_range(0..5)),
        _ => "hello".to_string(),
    }
}
