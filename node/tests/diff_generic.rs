//! Differential tests of the keyspace commands against redis-server, plus SCAN's
//! guarantee under churn and active expiry (checked on tinyredis alone).

mod common;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

#[test]
fn del_exists_type_touch_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        MSET a 1 b 2 c 3
        RPUSH l x
        EXISTS a b missing a
        TOUCH a b missing a
        TYPE a
        TYPE l
        TYPE missing
        DEL a missing a
        UNLINK b c l missing
        EXISTS a b c l
        DBSIZE
        DEL
        EXISTS
        TOUCH
        UNLINK
        TYPE
        TYPE a b
        "#,
    );
}

#[test]
fn keys_patterns_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        MSET hello 1 hallo 2 hxllo 3 hllo 4 heeeello 5 "h*llo" 6 "a[b" 7 x 8 "" 9
        ~KEYS *
        ~KEYS h?llo
        ~KEYS h*llo
        ~KEYS h[ae]llo
        ~KEYS h[^e]llo
        ~KEYS h[a-b]llo
        ~KEYS h\*llo
        ~KEYS a[b
        ~KEYS a\[b
        ~KEYS nomatch*
        ~KEYS ""
        ~KEYS ?
        ~KEYS [
        ~KEYS [^]
        KEYS
        KEYS a b
        "#,
    );
}

/// Every key of a full SCAN iteration on one server.
fn scan_all(conn: &mut Conn, options: &[&str]) -> BTreeSet<Vec<u8>> {
    let mut keys = BTreeSet::new();
    let mut cursor = "0".to_string();
    loop {
        let mut args = vec!["SCAN", &cursor];
        args.extend_from_slice(options);
        let Resp::Agg(_, Some(reply)) = conn.cmd(&args) else {
            panic!("SCAN reply is not an array");
        };
        let Resp::Agg(_, Some(batch)) = &reply[1] else {
            panic!("SCAN batch is not an array");
        };
        keys.extend(batch.iter().map(|k| k.as_bytes().unwrap().to_vec()));
        cursor = String::from_utf8(reply[0].as_bytes().unwrap().to_vec()).unwrap();
        if cursor == "0" {
            return keys;
        }
    }
}

#[test]
fn scan_returns_the_same_keys_as_redis() {
    let mut d = Diff::start();
    for i in 0..300 {
        d.check(&["SET", &format!("key:{i}"), "v"]);
    }
    for i in 0..20 {
        d.check(&["RPUSH", &format!("list:{i}"), "v"]);
    }
    d.check(&["SET", "gone", "v", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(20));
    for options in [
        &[][..],
        &["COUNT", "1"],
        &["COUNT", "1000"],
        &["MATCH", "key:1*"],
        &["MATCH", "*", "COUNT", "7"],
        &["TYPE", "list"],
        &["TYPE", "LIST", "MATCH", "*:1?"],
        &["TYPE", "string", "COUNT", "50"],
        &["TYPE", "nosuchtype"],
        &["MATCH", "nomatch"],
    ] {
        assert_eq!(
            scan_all(&mut d.ours, options),
            scan_all(&mut d.redis, options),
            "SCAN {options:?}"
        );
    }
    d.script(
        r#"
        SCAN x
        SCAN -x
        SCAN " 0"
        SCAN "0 "
        SCAN 18446744073709551616
        SCAN 0 COUNT 0
        SCAN 0 COUNT -1
        SCAN 0 COUNT x
        SCAN 0 MATCH
        SCAN 0 COUNT
        SCAN 0 TYPE
        SCAN 0 FOO bar
        ?SCAN 18446744073709551615
        ?SCAN -1
        SCAN
        "#,
    );
}

#[test]
fn scan_never_misses_a_key_present_throughout_despite_churn() {
    let server = start_tinyredis(&[]);
    let mut conn = Conn::connect(server.port);
    for i in 0..2000 {
        conn.cmd(&["SET", &format!("stable:{i}"), "v"]);
        conn.cmd(&["SET", &format!("churn:{i}"), "v"]);
    }
    let mut seen = BTreeSet::new();
    let mut cursor = "0".to_string();
    let mut round = 0;
    loop {
        let Resp::Agg(_, Some(reply)) = conn.cmd(&["SCAN", &cursor, "COUNT", "25"]) else {
            panic!("bad SCAN reply");
        };
        let Resp::Agg(_, Some(batch)) = &reply[1] else {
            panic!("bad SCAN batch");
        };
        seen.extend(batch.iter().map(|k| k.as_bytes().unwrap().to_vec()));
        cursor = String::from_utf8(reply[0].as_bytes().unwrap().to_vec()).unwrap();
        // Churn between calls: delete some keys, add new ones (which reuse freed slots).
        for j in 0..10 {
            conn.cmd(&["DEL", &format!("churn:{}", (round * 10 + j) % 2000)]);
            conn.cmd(&["SET", &format!("new:{round}:{j}"), "v"]);
        }
        round += 1;
        if cursor == "0" {
            break;
        }
    }
    for i in 0..2000 {
        let key = format!("stable:{i}");
        assert!(seen.contains(key.as_bytes()), "SCAN missed {key}");
    }
}

#[test]
fn randomkey_matches_redis_in_shape() {
    let mut d = Diff::start();
    d.script(
        r#"
        ?RANDOMKEY
        SET a 1
        RANDOMKEY
        MSET b 2 c 3
        ?RANDOMKEY
        ?RANDOMKEY
        RANDOMKEY x
        "#,
    );
}

#[test]
fn rename_renamenx_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        RENAME missing x
        RENAMENX missing x
        SET a 1
        RENAME a a
        RENAMENX a a
        RENAME a b
        GET a
        GET b
        SET c 3
        RENAMENX b c
        RENAME b c
        GET c
        EXISTS b
        SETEX t 100 v
        RENAME t t2
        TTL t2
        SET t3 x
        RENAMENX t2 t3
        RENAMENX t2 t4
        TTL t4
        RPUSH l a
        RENAME l c
        TYPE c
        SETEX withttl 100 v
        SET plain v
        RENAME plain withttl
        TTL withttl
        RENAME a
        RENAMENX a b c
        "#,
    );
}

#[test]
fn copy_and_move_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        SET a 1
        COPY a b
        GET b
        COPY a b
        COPY a b REPLACE
        COPY missing b
        COPY a a
        COPY a a DB 0
        COPY a a DB 1
        COPY a x DB 16
        COPY a x DB -1
        COPY a x DB 2147483648
        COPY a x DB abc
        COPY a x DB
        COPY a x FOO
        COPY a x REPLACE REPLACE
        SETEX t 100 v
        COPY t t2
        TTL t2
        RPUSH l x y
        COPY l l2
        LRANGE l2 0 -1
        RPUSH l2 z
        LRANGE l 0 -1
        COPY t t3 DB 3
        SELECT 3
        GET t3
        TTL t3
        SELECT 0
        MOVE a 0
        MOVE a 16
        MOVE a -1
        MOVE a x
        MOVE a 4294967296
        MOVE missing 1
        MOVE a 1
        EXISTS a
        SET a again
        MOVE a 1
        MOVE t 2
        SELECT 1
        GET a
        SELECT 2
        TTL t
        SELECT 0
        COPY a
        MOVE a
        "#,
    );
}

#[test]
fn expire_family_matches_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        EXPIRE missing 100
        SET a 1
        EXPIRE a 100
        TTL a
        EXPIRE a 100 NX
        EXPIRE a 200 XX
        TTL a
        EXPIRE a 50 GT
        EXPIRE a 300 GT
        TTL a
        EXPIRE a 400 LT
        EXPIRE a 100 LT
        TTL a
        EXPIRE a 10 NX XX
        EXPIRE a 10 NX GT
        EXPIRE a 10 GT LT
        EXPIRE a 10 FOO
        EXPIRE a 10 xx gt
        TTL a
        PERSIST a
        PERSIST a
        TTL a
        EXPIRE a 10 XX
        EXPIRE a 10 GT
        EXPIRE a 10 LT
        TTL a
        PERSIST missing
        EXPIRE a abc
        EXPIRE a 1.5
        EXPIRE a 9223372036854775807
        EXPIRE a -9223372036854775808
        EXPIRE a 9223372036854775
        PEXPIRE a 9223372036854775807
        EXPIREAT a 9223372036854775807
        PEXPIREAT a 9223372036854775807
        PEXPIRETIME a
        EXPIRETIME a
        TTL a
        EXPIREAT a 99999999999
        EXPIRETIME a
        PEXPIRETIME a
        PEXPIREAT a 99999999999123
        PEXPIRETIME a
        EXPIRETIME a
        EXPIRETIME missing
        PEXPIRETIME missing
        SET p v
        EXPIRETIME p
        PTTL p
        TTL missing
        PTTL missing
        EXPIRE p -1
        EXISTS p
        SET p v
        EXPIRE p 0
        EXISTS p
        SET p v
        EXPIREAT p 1
        EXISTS p
        SET p v
        PEXPIREAT p 1000
        EXISTS p
        SET p v
        EXPIRE p -5 LT
        EXISTS p
        SET p v
        EXPIRE p 100
        EXPIRE p -5 GT
        EXPIRE p -5 LT
        EXISTS p
        SET q v
        PEXPIRE q 100000
        PEXPIRE q 200000 gt
        EXPIRE
        EXPIRE a
        TTL
        TTL a b
        PERSIST
        EXPIRETIME a b
        "#,
    );
}

#[test]
fn object_matches_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        SET int 12345
        SET neg -5
        SET embstr hello
        SET raw "this string is longer than forty-four bytes, so it is raw"
        SET fortyfour "12345678901234567890123456789012345678901234"
        SET fortyfive "123456789012345678901234567890123456789012345"
        SET bigint 12345678901234567890
        SET float 1.5
        OBJECT ENCODING int
        OBJECT ENCODING neg
        OBJECT ENCODING embstr
        OBJECT ENCODING raw
        OBJECT ENCODING fortyfour
        OBJECT ENCODING fortyfive
        OBJECT ENCODING bigint
        OBJECT ENCODING float
        INCR counter
        OBJECT ENCODING counter
        RPUSH list a b c
        OBJECT ENCODING list
        OBJECT ENCODING missing
        HSET h f v
        OBJECT ENCODING h
        HSET hbig f "this value is longer than sixty-four bytes, so the hash is a hashtable"
        OBJECT ENCODING hbig
        SADD ints 1 2 -3
        OBJECT ENCODING ints
        SADD words a 1
        OBJECT ENCODING words
        ZADD z 1 a 2 b
        OBJECT ENCODING z
        ZADD zbig 1 "this member is longer than sixty-four bytes, so the zset is a skiplist"
        OBJECT ENCODING zbig
        OBJECT REFCOUNT int
        OBJECT REFCOUNT neg
        OBJECT REFCOUNT counter
        OBJECT REFCOUNT embstr
        OBJECT REFCOUNT list
        OBJECT REFCOUNT missing
        OBJECT FREQ int
        OBJECT FREQ missing
        OBJECT IDLETIME missing
        OBJECT HELP
        OBJECT help
        OBJECT FOO
        OBJECT
        OBJECT ENCODING
        OBJECT ENCODING a b
        OBJECT HELP x
        "#,
    );
}

/// The compact encodings end at Redis 7.0's default size limits.
#[test]
fn object_encoding_follows_size_limits() {
    let mut d = Diff::start();
    for i in 0..513 {
        let n = i.to_string();
        d.check(&["HSET", "h", &n, "v"]);
        if i < 129 {
            d.check(&["ZADD", "z", "1", &n]);
        }
        if i == 127 || i == 128 || i == 511 || i == 512 {
            d.check(&["OBJECT", "ENCODING", "h"]);
            d.check(&["OBJECT", "ENCODING", "z"]);
        }
    }
    for i in 0..513 {
        d.check(&["SADD", "s", &i.to_string()]);
        if i == 511 {
            d.check(&["OBJECT", "ENCODING", "s"]);
        }
    }
    d.check(&["OBJECT", "ENCODING", "s"]);
}

#[test]
fn wrong_arity_matches_redis() {
    let mut d = Diff::start();
    for cmd in [
        "DEL",
        "UNLINK",
        "EXISTS",
        "TYPE",
        "TOUCH",
        "KEYS",
        "SCAN",
        "RANDOMKEY",
        "RENAME",
        "RENAMENX",
        "COPY",
        "MOVE",
        "EXPIRE",
        "PEXPIRE",
        "EXPIREAT",
        "PEXPIREAT",
        "TTL",
        "PTTL",
        "EXPIRETIME",
        "PEXPIRETIME",
        "PERSIST",
    ] {
        d.check(&[cmd]);
        d.check(&[cmd, "k", "a", "b", "c", "d"]);
    }
}

#[test]
fn ttls_run_out_for_real() {
    let mut d = Diff::start();
    d.script(
        r#"
        SET a 1
        PEXPIRE a 100
        SET b 1
        PEXPIREAT b 99999999999999
        RENAME b c
        PEXPIRE c 100
        SET d 1
        PEXPIRE d 100
        COPY d e
        MOVE d 1
        "#,
    );
    std::thread::sleep(Duration::from_millis(250));
    d.script(
        r#"
        EXISTS a c d e
        TTL a
        TYPE c
        RENAME a z
        COPY c z
        EXPIRE e 100
        PERSIST a
        ~KEYS *
        RANDOMKEY
        SELECT 1
        EXISTS d
        "#,
    );
}

/// Expired keys nobody reads are still deleted, so their memory comes back.
#[test]
fn active_expiry_reclaims_unread_keys() {
    let server = start_tinyredis(&[]);
    let mut conn = Conn::connect(server.port);
    for i in 0..5000 {
        conn.cmd(&["SET", &format!("volatile:{i}"), "v", "PX", "50"]);
    }
    conn.cmd(&["SET", "persistent", "v"]);
    conn.cmd(&["SELECT", "5"]);
    conn.cmd(&["SET", "other-db", "v", "PX", "50"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let sizes: Vec<i64> = ["5", "0"]
            .iter()
            .map(|db| {
                conn.cmd(&["SELECT", db]);
                conn.cmd(&["DBSIZE"]).as_int().unwrap()
            })
            .collect();
        if sizes == [0, 1] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "expired keys not reclaimed: {sizes:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A seeded random walk over the keyspace and string commands, every reply compared.
#[test]
fn random_keyspace_commands_match_redis() {
    let mut d = Diff::start();
    let mut rng = StdRng::seed_from_u64(7);
    let keys = ["a", "b", "c", "d", "e", "f"];
    for _ in 0..3000 {
        let key = keys[rng.gen_range(0..keys.len())];
        let other = keys[rng.gen_range(0..keys.len())];
        let secs = rng.gen_range(-5..1000).to_string();
        let at = (rng.gen_range(0..2) * 99_999_999_999i64).to_string();
        let flag = ["NX", "XX", "GT", "LT"][rng.gen_range(0..4)];
        let db = rng.gen_range(0..3).to_string();
        let cmd: Vec<&str> = match rng.gen_range(0..24) {
            0 | 1 => vec!["SET", key, "v"],
            2 => vec!["RPUSH", key, "x"],
            3 => vec!["DEL", key, other],
            4 => vec!["UNLINK", key],
            5 => vec!["EXISTS", key, other],
            6 => vec!["TYPE", key],
            7 => vec!["TOUCH", key],
            8 => vec!["RENAME", key, other],
            9 => vec!["RENAMENX", key, other],
            10 => vec!["COPY", key, other],
            11 => vec!["COPY", key, other, "REPLACE"],
            12 => vec!["MOVE", key, &db],
            13 => vec!["SELECT", &db],
            14 => vec!["EXPIRE", key, &secs],
            15 => vec!["EXPIRE", key, &secs, flag],
            16 => vec!["EXPIREAT", key, &at, flag],
            17 => vec!["TTL", key],
            18 => vec!["EXPIRETIME", key],
            19 => vec!["PERSIST", key],
            20 => vec!["DBSIZE"],
            21 => vec!["OBJECT", "ENCODING", key],
            22 => vec!["GETEX", key, "PERSIST"],
            _ => vec!["KEYS", "*"],
        };
        if cmd[0] == "KEYS" {
            d.check_unordered(&cmd);
        } else {
            d.check(&cmd);
        }
    }
}
