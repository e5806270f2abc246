//! Differential tests of the list commands against redis-server, plus blocking pops across
//! two connections.

mod common;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

#[test]
fn pushes_and_pops_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        LPUSH l a b c
        RPUSH l d e
        LRANGE l 0 -1
        LPUSHX missing a
        RPUSHX missing a
        LPUSHX l x
        RPUSHX l y z
        LPOP l
        RPOP l
        LPOP l 2
        RPOP l 0
        LPOP l 100
        EXISTS l
        LPOP l
        LPOP l 0
        LPOP l 3
        RPOP missing 1
        LPOP l -1
        LPOP l abc
        LPOP l 1 2
        RPOP l 1 2
        LPUSH
        LPUSH l
        RPUSHX l
        SET s v
        LPUSH s a
        RPUSH s a
        LPUSHX s a
        RPUSHX s a
        LPOP s
        RPOP s 0
        LPOP s abc
        LLEN s
        LLEN missing
        RPUSH l 1 2 3
        LLEN l
        "#,
    );
}

#[test]
fn resp3_nulls_match_redis() {
    let mut d = Diff::start();
    d.check_shape(&["HELLO", "3"]);
    d.script(
        r#"
        LPOP missing
        LPOP missing 2
        RPOP missing 0
        LINDEX missing 0
        LMOVE missing dst LEFT RIGHT
        LMPOP 1 missing LEFT
        LPOS missing a
        LPOS missing a COUNT 1
        BLPOP missing 0.01
        BRPOP missing other 0.01
        BLMOVE missing dst LEFT LEFT 0.01
        BRPOPLPUSH missing dst 0.01
        BLMPOP 0.01 1 missing LEFT
        RPUSH l a
        LPOP l 0
        LINDEX l 5
        "#,
    );
}

#[test]
fn index_and_range_commands_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        RPUSH l a b c d e f
        LINDEX l 0
        LINDEX l -1
        LINDEX l -6
        LINDEX l -7
        LINDEX l 6
        LINDEX l x
        LINDEX missing x
        LINDEX l 9223372036854775807
        LINDEX l -9223372036854775808
        LRANGE l 0 -1
        LRANGE l 1 3
        LRANGE l -3 -1
        LRANGE l -100 100
        LRANGE l 4 2
        LRANGE l 6 10
        LRANGE l -9223372036854775808 9223372036854775807
        LRANGE l a 1
        LRANGE l 0 b
        LRANGE missing 0 -1
        LRANGE missing x 1
        LSET l 0 A
        LSET l -1 F
        LSET l 6 x
        LSET l -7 x
        LSET l x y
        LSET missing 0 x
        LSET missing x y
        LRANGE l 0 -1
        SET s v
        LINDEX s 0
        LINDEX s x
        LRANGE s 0 1
        LSET s 0 x
        LSET s x x
        LTRIM s 0 1
        LTRIM l 1 -2
        LRANGE l 0 -1
        LTRIM l -100 100
        LRANGE l 0 -1
        LTRIM l 1 x
        LTRIM missing 0 1
        LTRIM l 3 1
        EXISTS l
        RPUSH l a b c
        LTRIM l 5 10
        EXISTS l
        RPUSH l a b c
        LTRIM l -1 -1
        LRANGE l 0 -1
        "#,
    );
}

#[test]
fn lrem_and_linsert_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        RPUSH l a b a c a b a
        LREM l 2 a
        LRANGE l 0 -1
        LREM l -1 a
        LRANGE l 0 -1
        LREM l 0 b
        LRANGE l 0 -1
        LREM l 0 zz
        LREM l x a
        LREM missing 1 a
        LREM l -9223372036854775808 a
        EXISTS l
        RPUSH l a b c
        LINSERT l BEFORE b x
        LINSERT l after c y
        LINSERT l AFTER a z
        LRANGE l 0 -1
        LINSERT l BEFORE nope q
        LINSERT l MIDDLE a q
        LINSERT missing BEFORE a q
        LINSERT missing MIDDLE a q
        SET s v
        LREM s 1 a
        LREM s x a
        LINSERT s BEFORE a b
        LINSERT s MIDDLE a b
        LINSERT l BEFORE a
        "#,
    );
}

#[test]
fn lpos_matches_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        RPUSH l a b c a b c a
        LPOS l a
        LPOS l c
        LPOS l zz
        LPOS l a RANK 2
        LPOS l a RANK -1
        LPOS l a RANK -2
        LPOS l a RANK 9
        LPOS l a RANK 0
        LPOS l a RANK x
        LPOS l a RANK -9223372036854775808
        LPOS l a COUNT 0
        LPOS l a COUNT 2
        LPOS l a COUNT 2 RANK 2
        LPOS l a COUNT 0 RANK -1
        LPOS l a COUNT 10 RANK -9223372036854775808
        LPOS l a COUNT -1
        LPOS l a COUNT x
        LPOS l a MAXLEN 3
        LPOS l a MAXLEN 3 COUNT 0
        LPOS l a MAXLEN 3 RANK -1 COUNT 0
        LPOS l c MAXLEN 2
        LPOS l a MAXLEN -1
        LPOS l a MAXLEN x
        LPOS l a RANK
        LPOS l a FOO 1
        LPOS l a rank 1 count 1 maxlen 0
        LPOS missing a
        LPOS missing a COUNT 3
        LPOS missing a RANK 0
        SET s v
        LPOS s a
        LPOS s a COUNT -1
        LPOS l
        "#,
    );
}

#[test]
fn lmove_and_lmpop_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        RPUSH src a b c
        LMOVE src dst LEFT RIGHT
        LMOVE src dst RIGHT LEFT
        LRANGE src 0 -1
        LRANGE dst 0 -1
        LMOVE src src LEFT RIGHT
        LRANGE src 0 -1
        LMOVE src dst left left
        EXISTS src
        LMOVE src dst LEFT LEFT
        LMOVE dst dst UP LEFT
        LMOVE dst dst LEFT DOWN
        RPOPLPUSH dst other
        RPOPLPUSH missing other
        LRANGE other 0 -1
        RPUSH one x
        EXPIRE one 100
        LMOVE one one LEFT LEFT
        LRANGE one 0 -1
        TTL one
        SET s v
        LMOVE s dst LEFT LEFT
        LMOVE dst s LEFT LEFT
        LMOVE missing s LEFT LEFT
        RPOPLPUSH dst s
        LRANGE dst 0 -1
        RPUSH a 1 2 3
        RPUSH b 4 5
        LMPOP 2 missing a LEFT
        LMPOP 2 a b RIGHT COUNT 10
        LMPOP 2 a b RIGHT COUNT 1
        LMPOP 1 missing LEFT
        LMPOP 2 s b LEFT
        LMPOP 2 b s LEFT
        LMPOP 0 a LEFT
        LMPOP -1 a LEFT
        LMPOP x a LEFT
        LMPOP 2 a LEFT
        LMPOP 1 a MIDDLE
        LMPOP 1 a LEFT COUNT 0
        LMPOP 1 a LEFT COUNT -1
        LMPOP 1 a LEFT COUNT x
        LMPOP 1 a LEFT COUNT 1 COUNT 1
        LMPOP 1 a LEFT COUNT
        LMPOP 1 a LEFT FOO
        LMPOP 9223372036854775807 a LEFT
        LMPOP 1 a
        EXISTS b
        "#,
    );
}

#[test]
fn blocking_forms_answer_at_once_when_data_is_there() {
    let mut d = Diff::start();
    d.script(
        r#"
        RPUSH a 1 2 3 4 5 6 7 8
        RPUSH b 4
        BLPOP missing a b 0
        BRPOP missing b a 0
        BRPOP b a 0
        BLMOVE a c LEFT RIGHT 0
        BRPOPLPUSH c d 0
        BLMPOP 0 2 missing d LEFT COUNT 5
        BLMPOP 0.5 2 missing a RIGHT
        BLMPOP 0 2 a missing LEFT COUNT 2
        LRANGE a 0 -1
        BLPOP a x
        BLPOP a -1
        BLMPOP x 1 a LEFT
        BLMPOP -1 1 a LEFT
        BLMPOP 0 0 a LEFT
        BLMPOP 0 1 a MIDDLE
        BLMOVE a c UP LEFT 0
        BLMOVE a c LEFT LEFT x
        BRPOPLPUSH a c -1
        SET s v
        BLPOP s 0
        BLPOP missing s 0
        BLMOVE s c LEFT LEFT 0
        BLMOVE a s LEFT LEFT 0
        BLMPOP 0 1 s LEFT
        BLPOP a
        BLMPOP 0 1 a
        "#,
    );
}

#[test]
fn blocking_inside_multi_returns_the_null_at_once() {
    let mut d = Diff::start();
    d.script(
        r#"
        MULTI
        BLPOP missing 0
        BRPOP missing 0
        BLMOVE missing dst LEFT LEFT 0
        BRPOPLPUSH missing dst 0
        BLMPOP 0 1 missing LEFT
        BLPOP missing x
        RPUSH l a
        BLPOP l 0
        EXEC
        "#,
    );
    d.check_shape(&["HELLO", "3"]);
    d.script(
        r#"
        MULTI
        BLPOP missing 0
        BLMOVE missing dst LEFT LEFT 0
        BLMPOP 0 1 missing LEFT
        EXEC
        "#,
    );
}

/// Runs a two-client scenario on a server and returns the replies it collected.
type Scenario = fn(&mut Conn, &mut Conn) -> Vec<Resp>;

/// Runs `scenario` against tinyredis and redis-server and requires the same replies.
fn same_on_both(scenario: Scenario) -> Vec<Resp> {
    let ours = start_tinyredis(&[]);
    let redis = start_redis();
    let run = |port: u16| scenario(&mut Conn::connect(port), &mut Conn::connect(port));
    let (a, b) = (run(ours.port), run(redis.port));
    assert_eq!(a, b, "tinyredis vs redis-server");
    a
}

/// Lets a sent blocking command reach the server and block before the other client acts.
fn settle() {
    std::thread::sleep(Duration::from_millis(150));
}

#[test]
fn blpop_is_woken_by_a_push_from_another_client() {
    let replies = same_on_both(|a, b| {
        a.send(&[b"BLPOP", b"q1", b"q2", b"0"]);
        settle();
        let pushed = b.cmd(&["RPUSH", "q2", "x", "y"]);
        vec![pushed, a.read(), b.cmd(&["LRANGE", "q2", "0", "-1"])]
    });
    assert_eq!(replies[1].show(), r#"*["q2", "x"]"#);
}

#[test]
fn blpop_times_out_with_the_null_array() {
    let replies = same_on_both(|a, _| {
        let resp2 = vec![
            a.cmd(&["BLPOP", "q", "0.1"]),
            a.cmd(&["BRPOP", "q", "r", "0.1"]),
            a.cmd(&["BLMPOP", "0.1", "1", "q", "LEFT"]),
        ];
        a.cmd(&["HELLO", "3"]);
        let resp3 = [
            a.cmd(&["BLPOP", "q", "0.1"]),
            a.cmd(&["BLMOVE", "q", "d", "LEFT", "LEFT", "0.1"]),
            a.cmd(&["BLMPOP", "0.1", "1", "q", "LEFT"]),
        ];
        resp2.into_iter().chain(resp3).collect()
    });
    assert_eq!(replies[0], Resp::Agg(b'*', None));
    assert_eq!(replies[3], Resp::Line(b'_', Vec::new()));
}

/// Redis answers every list blocking command that times out with a null array
/// (`replyToBlockedClientTimedOut`), though BLMOVE/BRPOPLPUSH answer a null bulk inside
/// MULTI. The handler cannot tell the two apart; the session's timeout path must.
#[test]
fn blmove_times_out_with_the_null_array_in_resp2() {
    same_on_both(|a, _| {
        vec![
            a.cmd(&["BLMOVE", "q", "d", "LEFT", "LEFT", "0.1"]),
            a.cmd(&["BRPOPLPUSH", "q", "d", "0.1"]),
        ]
    });
}

#[test]
fn blmove_and_blmpop_are_woken_by_pushes() {
    same_on_both(|a, b| {
        a.send(&[b"BLMOVE", b"src", b"dst", b"RIGHT", b"LEFT", b"0"]);
        settle();
        let pushed = b.cmd(&["RPUSH", "src", "1", "2"]);
        let moved = a.read();
        a.send(&[b"BLMPOP", b"0", b"2", b"x", b"y", b"RIGHT", b"COUNT", b"3"]);
        settle();
        let pushed_y = b.cmd(&["LPUSH", "y", "a", "b"]);
        vec![
            pushed,
            moved,
            pushed_y,
            a.read(),
            b.cmd(&["LRANGE", "src", "0", "-1"]),
            b.cmd(&["LRANGE", "dst", "0", "-1"]),
            b.cmd(&["EXISTS", "y"]),
        ]
    });
}

/// Redis 7.0 serves a blocked client only from a key that became a non-empty list; a key
/// turned into another type keeps it waiting. Our session re-runs the whole command on a
/// wake-up, which answers WRONGTYPE instead.
#[test]
fn blocked_pop_ignores_other_keys_and_wrong_types_until_its_key_has_data() {
    same_on_both(|a, b| {
        a.send(&[b"BRPOP", b"q", b"5"]);
        settle();
        let other = b.cmd(&["RPUSH", "other", "1"]);
        let set = b.cmd(&["SET", "q", "str"]);
        let del = b.cmd(&["DEL", "q"]);
        let pushed = b.cmd(&["RPUSH", "q", "v"]);
        vec![other, set, del, pushed, a.read()]
    });
}

/// Commands of a random sequence: small keys and values so that lists grow, shrink,
/// collide with each other and with a string key.
fn random_command(rng: &mut StdRng) -> Vec<String> {
    const KEYS: &[&str] = &["l1", "l2", "l3", "str"];
    const VALUES: &[&str] = &["a", "b", "c", "d", "1", ""];
    let key = |rng: &mut StdRng| KEYS[rng.gen_range(0..KEYS.len())].to_string();
    let value = |rng: &mut StdRng| VALUES[rng.gen_range(0..VALUES.len())].to_string();
    let index = |rng: &mut StdRng| rng.gen_range(-8i64..8).to_string();
    let end = |rng: &mut StdRng| ["LEFT", "RIGHT"][rng.gen_range(0..2)].to_string();
    let s = |x: &str| x.to_string();
    match rng.gen_range(0..20) {
        0 | 1 => {
            let cmd = ["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"][rng.gen_range(0..4)];
            let mut c = vec![s(cmd), key(rng)];
            c.extend((0..rng.gen_range(1..5)).map(|_| value(rng)));
            c
        }
        2 => vec![s("LPOP"), key(rng)],
        3 => vec![s("RPOP"), key(rng), rng.gen_range(0..4).to_string()],
        4 => vec![s("LLEN"), key(rng)],
        5 => vec![s("LINDEX"), key(rng), index(rng)],
        6 => vec![s("LSET"), key(rng), index(rng), value(rng)],
        7 | 8 => vec![s("LRANGE"), key(rng), index(rng), index(rng)],
        9 => vec![s("LTRIM"), key(rng), index(rng), index(rng)],
        10 => vec![
            s("LREM"),
            key(rng),
            rng.gen_range(-3..4).to_string(),
            value(rng),
        ],
        11 => {
            let place = ["BEFORE", "AFTER"][rng.gen_range(0..2)];
            vec![s("LINSERT"), key(rng), s(place), value(rng), value(rng)]
        }
        12 => {
            let mut c = vec![s("LPOS"), key(rng), value(rng)];
            if rng.gen_bool(0.5) {
                c.extend([s("RANK"), [-2, -1, 1, 2][rng.gen_range(0..4)].to_string()]);
            }
            if rng.gen_bool(0.5) {
                c.extend([s("COUNT"), rng.gen_range(0..3).to_string()]);
            }
            if rng.gen_bool(0.3) {
                c.extend([s("MAXLEN"), rng.gen_range(0..4).to_string()]);
            }
            c
        }
        13 => vec![s("LMOVE"), key(rng), key(rng), end(rng), end(rng)],
        14 => vec![s("RPOPLPUSH"), key(rng), key(rng)],
        15 => {
            let mut c = vec![s("LMPOP"), s("2"), key(rng), key(rng), end(rng)];
            if rng.gen_bool(0.5) {
                c.extend([s("COUNT"), rng.gen_range(1..4).to_string()]);
            }
            c
        }
        16 => vec![s("SET"), s("str"), value(rng)],
        17 => vec![s("DEL"), key(rng)],
        // BLMOVE runs inside MULTI (see the test): its timeout null is the session's.
        18 => vec![s("BLPOP"), key(rng), key(rng), s("0.01")],
        _ => vec![
            s("BLMOVE"),
            key(rng),
            key(rng),
            end(rng),
            end(rng),
            s("0.01"),
        ],
    }
}

#[test]
fn random_list_sequences_match_redis() {
    let mut d = Diff::start();
    let mut rng = StdRng::seed_from_u64(0x11575);
    for _ in 0..3000 {
        let cmd = random_command(&mut rng);
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let in_multi = args[0] == "BLMOVE";
        if in_multi {
            d.check(&["MULTI"]);
        }
        d.check(&args);
        if in_multi {
            d.check(&["EXEC"]);
        }
    }
    for key in ["l1", "l2", "l3"] {
        d.check(&["LRANGE", key, "0", "-1"]);
    }
}

#[test]
fn no_op_writes_do_not_abort_a_watching_transaction() {
    same_on_both(|a, b| {
        let setup = [b.cmd(&["RPUSH", "l", "a", "b"]), b.cmd(&["SET", "s", "v"])];
        a.cmd(&["WATCH", "l", "s", "missing"]);
        let no_ops = [
            b.cmd(&["LREM", "l", "0", "zz"]),
            b.cmd(&["LINSERT", "l", "BEFORE", "zz", "x"]),
            b.cmd(&["LSET", "l", "5", "x"]),
            b.cmd(&["LPOP", "l", "0"]),
            b.cmd(&["LPUSHX", "missing", "x"]),
            b.cmd(&["LMOVE", "missing", "l", "LEFT", "LEFT"]),
            b.cmd(&["LPUSH", "s", "x"]),
            b.cmd(&["LMOVE", "l", "s", "LEFT", "LEFT"]),
        ];
        a.cmd(&["MULTI"]);
        a.cmd(&["LRANGE", "l", "0", "-1"]);
        let exec = a.cmd(&["EXEC"]);
        setup.into_iter().chain(no_ops).chain([exec]).collect()
    });
}
