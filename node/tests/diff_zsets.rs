//! Differential tests of the sorted set commands against redis-server.

mod common;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

#[test]
fn zadd_options_and_errors_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        ZADD z 1 a 2 b 3 c
        ZADD z 1 a
        ZADD z CH 5 a 2 b 9 d
        ZRANGE z 0 -1 WITHSCORES
        ZADD z NX 100 a 7 e
        ZADD z XX 100 a 7 f
        ZADD z XX CH 100 a 7 f
        ZADD z GT 50 a
        ZADD z GT CH 500 a
        ZADD z LT CH 500 a 1 b
        ZADD z XX GT CH 1000 a 0 b
        ZADD z LT 0 newmember
        ZRANGE z 0 -1 WITHSCORES
        ZADD rep CH 1 m 2 m 3 n 3 n
        ZADD rep NX 9 new 8 new 7 m
        ZADD rep GT CH 5 m 4 m 6 m
        ZRANGE rep 0 -1 WITHSCORES
        ZADD z INCR 5 a
        ZADD z INCR 5 brandnew
        ZADD z NX INCR 5 a
        ZADD z XX INCR 5 nosuch
        ZADD z GT INCR -1 a
        ZADD z LT INCR -1 a
        ZADD missing XX 1 a
        ZADD missing XX INCR 1 a
        EXISTS missing
        ZADD z NX XX 1 a
        ZADD z GT LT 1 a
        ZADD z NX GT 1 a
        ZADD z NX LT 1 a
        ZADD z INCR 1 a 2 b
        ZADD z 1
        ZADD z 1 a 2
        ZADD z nx
        ZADD z x a
        ZADD z 1 a x b
        ZADD z 1e400 a
        ZADD z 1e-400 a
        ZADD z 0x10 hex 0x.8p1 hexfrac -0X1.8P1 hexneg 0x1e hexe 0x1p-1074 hexsub 0xAbC.dP-4 hexcase
        ZADD z 0x1p-1080 a
        ZADD z 0x0.0000ep-2000 a
        ZADD z 0x1p1024 a
        ZADD z 0x1.fffffffffffff8p1023 a
        ZADD z 0x a
        ZADD z 0x1p a
        ZADD z 0xg a
        ZADD z 0x1p+ a
        ZADD z "0x1 " a
        ZINCRBY z 0x1p3 hex
        ZRANGE z 0 -1 WITHSCORES
        ZADD z nan a
        ZADD z "" a
        ZADD z " 1" a
        ZADD z "1 " a
        ZADD z 1 a 2 b bad c
        ZRANGE z 0 -1 WITHSCORES
        ZADD z inf a -inf b +inf c
        ZINCRBY z -inf a
        ZADD z INCR -inf a
        ZSCORE z a
        ZADD z
        ZADD z 1
        "#,
    );
}

#[test]
fn writes_that_change_nothing_do_not_abort_watch() {
    let mut d = Diff::start();
    d.script(
        r#"
        ZADD z 1 a 2 b
        WATCH z
        ZADD z 1 a
        ZADD z NX 5 a
        ZADD z XX 1 nosuch
        ZADD z GT 0 a
        ZADD z LT CH 9 b
        ZINCRBY z 0 a
        ZREM z nosuch
        ZREMRANGEBYSCORE z 10 20
        ZREMRANGEBYRANK z 5 6
        ZREMRANGEBYLEX z (zz +
        ZPOPMIN z 0
        MULTI
        PING
        EXEC
        WATCH z
        ZADD z 1 a 3 c
        MULTI
        PING
        EXEC
        WATCH z
        ZADD z GT 5 a
        MULTI
        PING
        EXEC
        WATCH z
        ZREMRANGEBYRANK z 0 0
        MULTI
        PING
        EXEC
        "#,
    );
}

#[test]
fn zincrby_zrem_zcard_zscore_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        ZINCRBY z 1 a
        ZINCRBY z 2.5 a
        ZINCRBY z -0.5 b
        ZINCRBY z x a
        ZINCRBY z nx a
        ZINCRBY z 1e400 a
        ZINCRBY z
        ZSCORE z a
        ZSCORE z missing
        ZSCORE missing a
        ZMSCORE z a b c
        ZMSCORE missing a b
        ZMSCORE z
        ZCARD z
        ZCARD missing
        ZREM z a c
        ZREM missing a
        ZREM z b
        EXISTS z
        ZCARD z
        ZREM z
        "#,
    );
}

#[test]
fn score_formatting_matches_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        ZADD z 0.1 a 1e20 b -0 c 123456789012345678 d 3.0 e 1.5e-5 f -2.5 g 0.30000000000000004 h
        ZADD z 1e15 i 1e16 j 9007199254740993 k 1e-300 l 5e-324 m 1.7976931348623157e308 n
        ZRANGE z 0 -1 WITHSCORES
        ZSCORE z c
        ZSCORE z m
        ZINCRBY z 0.2 a
        ZINCRBY z 1 c
        ZMSCORE z a b c d
        ZADD z +inf p -inf q
        ZRANGE z 0 -1 WITHSCORES
        ~ZSCAN z 0 COUNT 100
        "#,
    );
}

#[test]
fn rank_range_queries_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        ZADD z 1 a 2 b 3 c 4 d 5 e
        ZRANGE z 0 -1
        ZRANGE z 1 3 WITHSCORES
        ZRANGE z -2 -1
        ZRANGE z -100 100
        ZRANGE z 3 1
        ZRANGE z 5 10
        ZRANGE z 0 -1 REV
        ZRANGE z 0 1 REV WITHSCORES
        ZREVRANGE z 0 1
        ZREVRANGE z 0 -1 WITHSCORES
        ZREVRANGE z 0 1 REV
        ZREVRANGE z 0 1 BYSCORE
        ZRANGE z 0 1 LIMIT 0 1
        ZRANGE z 0 1 LIMIT 0 -1
        ZRANGE z x 1
        ZRANGE z 0 1 FOO
        ZRANGE z 0 1 REV REV
        ZRANGE missing 0 -1
        ZRANGE missing 0 -1 WITHSCORES
        ZRANK z a
        ZRANK z e
        ZRANK z nope
        ZRANK missing a
        ZREVRANK z a
        ZREVRANK z e
        ZRANGE z 0
        ZRANK z
        "#,
    );
}

#[test]
fn score_range_queries_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        ZADD z -inf ninf 1 a 2 b 2 bb 3 c 4 d 5 e +inf pinf
        ZRANGEBYSCORE z -inf +inf WITHSCORES
        ZRANGEBYSCORE z 2 4
        ZRANGEBYSCORE z (2 4
        ZRANGEBYSCORE z 2 (4
        ZRANGEBYSCORE z (2 (4
        ZRANGEBYSCORE z (2 (2
        ZRANGEBYSCORE z 2 2
        ZRANGEBYSCORE z 4 2
        ZRANGEBYSCORE z (-inf (+inf
        ZRANGEBYSCORE z (inf +inf
        ZRANGEBYSCORE z -inf (-inf
        ZRANGEBYSCORE z inf inf
        ZRANGEBYSCORE z 1e400 inf
        ZRANGEBYSCORE z 0x1 0x4 WITHSCORES
        ZRANGEBYSCORE z (0x1 " 0x1p2"
        ZRANGEBYSCORE z -0x1p2000 0x1p2000
        ZCOUNT z 0X2 0x
        ZCOUNT z 0x1p 4
        ZRANGEBYSCORE z -inf +inf LIMIT 1 3
        ZRANGEBYSCORE z -inf +inf LIMIT 1 -1
        ZRANGEBYSCORE z -inf +inf LIMIT -1 3
        ZRANGEBYSCORE z -inf +inf LIMIT 100 3
        ZRANGEBYSCORE z -inf +inf LIMIT 2 0
        ZRANGEBYSCORE z -inf +inf WITHSCORES LIMIT 1 2
        ZRANGEBYSCORE z -inf +inf LIMIT 1
        ZRANGEBYSCORE z -inf +inf LIMIT x 1
        ZRANGEBYSCORE z x 1
        ZRANGEBYSCORE z ( 1
        ZRANGEBYSCORE z "" 3
        ZRANGEBYSCORE z " 2" 3
        ZRANGEBYSCORE z 1 nan
        ZRANGEBYSCORE z 1 3 REV
        ZRANGEBYSCORE z 1 3 BYLEX
        ZREVRANGEBYSCORE z 4 2
        ZREVRANGEBYSCORE z (4 (2 WITHSCORES
        ZREVRANGEBYSCORE z +inf -inf LIMIT 1 2
        ZREVRANGEBYSCORE z 2 4
        ZRANGE z 2 4 BYSCORE
        ZRANGE z 4 2 BYSCORE REV
        ZRANGE z (4 2 BYSCORE REV LIMIT 0 1 WITHSCORES
        ZRANGE z 2 4 byscore limit 1 1
        ZCOUNT z -inf +inf
        ZCOUNT z (2 4
        ZCOUNT z 4 2
        ZCOUNT z x 2
        ZCOUNT missing 0 1
        ZRANGEBYSCORE missing 0 1
        "#,
    );
}

#[test]
fn lex_range_queries_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        ZADD z 0 a 0 b 0 c 0 d 0 e 0 f 0 ga 0 gb
        ZRANGEBYLEX z - +
        ZRANGEBYLEX z [b [d
        ZRANGEBYLEX z (b [d
        ZRANGEBYLEX z [b (d
        ZRANGEBYLEX z (b (b
        ZRANGEBYLEX z [b [b
        ZRANGEBYLEX z [d [b
        ZRANGEBYLEX z - [c
        ZRANGEBYLEX z (c +
        ZRANGEBYLEX z [g +
        ZRANGEBYLEX z + -
        ZRANGEBYLEX z - -
        ZRANGEBYLEX z + +
        ZRANGEBYLEX z - + LIMIT 2 3
        ZRANGEBYLEX z - + LIMIT -1 3
        ZRANGEBYLEX z - + WITHSCORES
        ZRANGEBYLEX z a c
        ZRANGEBYLEX z +a c
        ZRANGEBYLEX z "" +
        ZREVRANGEBYLEX z + -
        ZREVRANGEBYLEX z [d [b
        ZREVRANGEBYLEX z (d - LIMIT 1 2
        ZRANGE z [b [d BYLEX
        ZRANGE z [d [b BYLEX REV
        ZRANGE z - + BYLEX LIMIT 1 1
        ZRANGE z - + BYLEX WITHSCORES
        ZLEXCOUNT z - +
        ZLEXCOUNT z [b (e
        ZLEXCOUNT z [e [b
        ZLEXCOUNT z b e
        ZLEXCOUNT missing - +
        ZRANGEBYLEX missing - +
        "#,
    );
}

#[test]
fn zrangestore_and_zremrange_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        ZADD z 1 a 2 b 3 c 4 d 5 e
        ZRANGESTORE d z 1 3
        ZRANGE d 0 -1 WITHSCORES
        ZRANGESTORE d z 4 2 BYSCORE REV LIMIT 0 2
        ZRANGE d 0 -1 WITHSCORES
        ZRANGESTORE d z [a [c BYLEX
        ZRANGE d 0 -1 WITHSCORES
        ZRANGESTORE d z 10 20
        EXISTS d
        SET str x
        ZRANGESTORE str z 0 0
        TYPE str
        ZRANGESTORE d2 missing 0 -1
        ZRANGESTORE d z 0 -1 WITHSCORES
        ZRANGESTORE d str 0 -1
        ZRANGESTORE d z 0
        ZREMRANGEBYRANK z 0 0
        ZREMRANGEBYRANK z -1 -1
        ZREMRANGEBYRANK z 5 10
        ZREMRANGEBYRANK z x 1
        ZRANGE z 0 -1
        ZREMRANGEBYSCORE z (2 3
        ZREMRANGEBYSCORE z x 3
        ZRANGE z 0 -1
        ZADD l 0 a 0 b 0 c 0 d
        ZREMRANGEBYLEX l [b (d
        ZREMRANGEBYLEX l x y
        ZRANGE l 0 -1
        ZREMRANGEBYLEX l - +
        EXISTS l
        ZREMRANGEBYRANK z 0 -1
        EXISTS z
        ZREMRANGEBYRANK missing 0 -1
        ZREMRANGEBYSCORE str 0 1
        "#,
    );
}

#[test]
fn pops_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        ZADD z 1 a 2 b 3 c 4 d 5 e
        ZPOPMIN z
        ZPOPMAX z
        ZPOPMIN z 2
        ZPOPMAX z 0
        ZPOPMIN z -1
        ZPOPMIN z x
        ZPOPMIN z 1 2
        ZPOPMAX z 10
        EXISTS z
        ZPOPMIN missing
        ZPOPMIN missing 3
        SET str x
        ZPOPMIN str
        ZPOPMIN str 0
        ZADD z 1 a 2 b 3 c
        BZPOPMIN missing z 0
        BZPOPMAX z 0
        BZPOPMIN missing 0.01
        BZPOPMIN str 0
        BZPOPMIN z -1
        BZPOPMIN z x
        ZMPOP 2 missing z MIN
        ZADD z 1 a 2 b 3 c
        ZMPOP 1 z MAX COUNT 2
        ZMPOP 1 z MAX COUNT 5
        ZMPOP 1 z MIN
        ZMPOP 0 z MIN
        ZMPOP x z MIN
        ZMPOP 1 z FOO
        ZMPOP 2 z MIN
        ZMPOP 1 z MIN COUNT 0
        ZMPOP 1 z MIN COUNT x
        ZMPOP 1 z MIN COUNT 1 COUNT 1
        ZMPOP 1 z MIN FOO
        ZMPOP 1 str MIN
        BZMPOP 0.01 1 missing MIN
        ZADD z 1 a 2 b
        BZMPOP 0 2 missing z MAX COUNT 10
        BZMPOP -1 1 z MIN
        MULTI
        BZPOPMIN missing 0
        BZMPOP 0 1 missing MIN
        EXEC
        "#,
    );
}

#[test]
fn union_inter_diff_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        ZADD a 1 x 2 y 3 z
        ZADD b 10 y 20 z 30 w
        SADD s x w q
        ZUNION 2 a b
        ZUNION 2 a b WITHSCORES
        ZUNION 2 a b WEIGHTS 2 0.5 WITHSCORES
        ZUNION 2 a b AGGREGATE MIN WITHSCORES
        ZUNION 2 a b AGGREGATE max WITHSCORES
        ZUNION 3 a b s WITHSCORES
        ZUNION 3 a missing s WITHSCORES
        ZINTER 2 a b WITHSCORES
        ZINTER 2 a b WEIGHTS 1 -1 AGGREGATE SUM WITHSCORES
        ZINTER 2 a s WITHSCORES
        ZINTER 2 a missing
        ZDIFF 2 a b WITHSCORES
        ZDIFF 2 b s WITHSCORES
        ZDIFF 1 missing
        ZUNIONSTORE d 2 a b WEIGHTS 1 2
        ZRANGE d 0 -1 WITHSCORES
        ZINTERSTORE d 2 a b AGGREGATE MAX
        ZRANGE d 0 -1 WITHSCORES
        ZDIFFSTORE d 2 a b
        ZRANGE d 0 -1 WITHSCORES
        ZINTERSTORE d 2 a missing
        EXISTS d
        SET str v
        ZUNIONSTORE str 1 a
        TYPE str
        ZUNION 1 str
        ZUNION 0 a
        ZUNIONSTORE d 0 a
        ZINTER -1 a
        ZUNION x a
        ZUNION 2 a
        ZUNION 1 a WEIGHTS
        ZUNION 1 a WEIGHTS x
        ZUNION 2 a b WEIGHTS 1
        ZUNION 1 a AGGREGATE
        ZUNION 1 a AGGREGATE avg
        ZUNION 1 a FOO
        ZDIFF 2 a b WEIGHTS 1 1
        ZDIFF 2 a b AGGREGATE MIN
        ZUNIONSTORE d 1 a WITHSCORES
        ZADD inf1 +inf m
        ZADD inf2 -inf m
        ZUNION 2 inf1 inf2 WITHSCORES
        ZUNION 2 inf1 inf2 WEIGHTS 0 1 WITHSCORES
        ZINTER 2 inf1 inf2 WITHSCORES
        ZINTERCARD 2 a b
        ZINTERCARD 2 a b LIMIT 1
        ZINTERCARD 2 a b LIMIT 0
        ZINTERCARD 2 a s
        ZINTERCARD 0 a
        ZINTERCARD x a
        ZINTERCARD 2 a
        ZINTERCARD 1 a LIMIT -1
        ZINTERCARD 1 a WEIGHTS 1
        ZINTERCARD 1 a WITHSCORES
        ZINTERCARD 1 str
        "#,
    );
}

#[test]
fn zrandmember_matches_redis_in_shape() {
    let mut d = Diff::start();
    d.script(
        r#"
        ZADD z 1 a 2 b 3 c 4 d 5 e 6 f 7 g 8 h 9 i 10 j
        ?ZRANDMEMBER z
        ?ZRANDMEMBER z 3
        ?ZRANDMEMBER z 3 WITHSCORES
        ?ZRANDMEMBER z -15
        ?ZRANDMEMBER z -15 WITHSCORES
        ZRANDMEMBER z 100 WITHSCORES
        ZRANDMEMBER z 0
        ZRANDMEMBER z x
        ZRANDMEMBER z 1 FOO
        ZRANDMEMBER z 1 WITHSCORES x
        ZRANDMEMBER z -9223372036854775808
        ZRANDMEMBER z 9223372036854775807 WITHSCORES
        ZRANDMEMBER missing
        ZRANDMEMBER missing 3
        ZRANDMEMBER missing 3 WITHSCORES
        SET str x
        ZRANDMEMBER str
        "#,
    );
}

#[test]
fn zscan_matches_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        ZADD z 1 apple 2.5 banana 3 avocado
        ~ZSCAN z 0
        ~ZSCAN z 0 MATCH a* COUNT 100
        ZSCAN missing 0
        ZSCAN z x
        ZSCAN z 0 COUNT 0
        ZSCAN z 0 FOO
        SET str x
        ZSCAN str 0
        "#,
    );
}

#[test]
fn wrong_types_and_arity_match_redis() {
    let mut d = Diff::start();
    d.script(
        r#"
        SET str x
        ZADD str 1 a
        ZINCRBY str 1 a
        ZREM str a
        ZCARD str
        ZSCORE str a
        ZMSCORE str a
        ZCOUNT str 0 1
        ZLEXCOUNT str - +
        ZRANK str a
        ZRANGE str 0 -1
        ZRANGEBYSCORE str 0 1
        ZRANGEBYLEX str - +
        ZREMRANGEBYLEX str - +
        ZPOPMAX str
        ZINTER 1 str
        ZDIFFSTORE d 1 str
        ZADD
        ZCARD
        ZSCORE z
        ZCOUNT z 1
        ZRANGESTORE d z 0
        ZPOPMIN
        BZPOPMIN z
        ZUNIONSTORE d 1
        ZMPOP 1 z
        ZRANDMEMBER
        ZSCAN z
        "#,
    );
}

#[test]
fn resp3_replies_match_redis() {
    let mut d = Diff::start();
    d.check_shape(&["HELLO", "3"]);
    d.script(
        r#"
        ZADD z 1 a 2.5 b 3 c
        ZSCORE z b
        ZSCORE z missing
        ZMSCORE z a missing
        ZINCRBY z 1 a
        ZADD z INCR 0.5 a
        ZADD z XX INCR 1 nosuch
        ZRANGE z 0 -1
        ZRANGE z 0 -1 WITHSCORES
        ZRANGE z 0 -1 REV WITHSCORES
        ZRANGE missing 0 -1 WITHSCORES
        ZRANGEBYSCORE z -inf +inf WITHSCORES
        ZRANGEBYSCORE z 100 200 WITHSCORES
        ZREVRANGEBYSCORE z +inf -inf WITHSCORES LIMIT 0 2
        ZUNION 1 z WITHSCORES
        ZINTER 1 z WITHSCORES
        ZDIFF 1 z WITHSCORES
        ZUNION 1 missing WITHSCORES
        ZRANDMEMBER z 10 WITHSCORES
        ?ZRANDMEMBER z -2 WITHSCORES
        ?ZRANDMEMBER z 1 WITHSCORES
        ZPOPMIN z 0
        ZPOPMAX z 1
        ZPOPMIN missing 2
        ZPOPMIN z
        ZPOPMIN missing
        ZMPOP 1 z MAX COUNT 1
        ZMPOP 1 missing MIN
        ZADD z 4 d 5 e
        BZPOPMIN z 0
        BZPOPMIN missing 0.01
        ZSCAN z 0
        ZRANDMEMBER missing
        ZRANK z c
        ZRANK z missing
        "#,
    );
}

#[test]
fn bzpopmin_is_woken_by_zadd_from_another_client() {
    let ours = start_tinyredis(&[]);
    let mut waiter = Conn::connect(ours.port);
    let mut writer = Conn::connect(ours.port);
    waiter.send(&[b"BZPOPMIN", b"q1", b"q2", b"5"]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(writer.cmd(&["ZADD", "q2", "7", "m"]).as_int(), Some(1));
    let reply = waiter.read();
    let bulk = |s: &str| Resp::Blob(b'$', Some(s.as_bytes().to_vec()));
    assert_eq!(
        reply,
        Resp::Agg(b'*', Some(vec![bulk("q2"), bulk("m"), bulk("7")]))
    );
    assert_eq!(writer.cmd(&["EXISTS", "q2"]).as_int(), Some(0));
}

#[test]
fn two_blocked_clients_each_get_one_member() {
    let ours = start_tinyredis(&[]);
    let mut first = Conn::connect(ours.port);
    let mut second = Conn::connect(ours.port);
    let mut writer = Conn::connect(ours.port);
    first.send(&[b"BZPOPMAX", b"q", b"5"]);
    second.send(&[b"BZPOPMAX", b"q", b"5"]);
    std::thread::sleep(Duration::from_millis(200));
    writer.cmd(&["ZADD", "q", "1", "a", "2", "b"]);
    let (a, b) = (first.read(), second.read());
    let member = |r: &Resp| match r {
        Resp::Agg(_, Some(items)) => items[1].as_bytes().unwrap().to_vec(),
        other => panic!("unexpected {}", other.show()),
    };
    let mut got = vec![member(&a), member(&b)];
    got.sort();
    assert_eq!(got, vec![b"a".to_vec(), b"b".to_vec()]);
}

#[test]
fn bzpopmin_times_out_with_a_null_array() {
    let ours = start_tinyredis(&[]);
    let mut c = Conn::connect(ours.port);
    assert_eq!(c.cmd(&["BZPOPMIN", "none", "0.1"]), Resp::Agg(b'*', None));
}

/// Random sequences over a few keys; every reply is compared (by shape for random picks).
/// Members of key `lex` always share score 0, so lex ranges are well defined there.
#[test]
fn random_zset_sequences_match_redis() {
    let mut d = Diff::start();
    let mut rng = StdRng::seed_from_u64(0x25e7);
    let keys = ["z1", "z2", "z3", "lex", "str"];
    d.check(&["SET", "str", "x"]);
    let scores = [
        "0", "1", "-1", "2.5", "0.1", "1e20", "-inf", "+inf", "3", "7",
    ];
    let bounds = ["-inf", "+inf", "0", "(1", "2.5", "(3", "7", "(-inf", "1e20"];
    let lex = ["-", "+", "[m1", "(m3", "[m5", "(m7", "[m9"];
    for _ in 0..3000 {
        let key = keys[rng.gen_range(0..4)];
        let other = keys[rng.gen_range(0..keys.len())];
        let member = format!("m{}", rng.gen_range(0..10));
        let score = if key == "lex" {
            "0"
        } else {
            scores[rng.gen_range(0..scores.len())]
        };
        let n = |rng: &mut StdRng| rng.gen_range(-6..7).to_string();
        let args: Vec<String> = match rng.gen_range(0..25) {
            0..=2 => {
                let opts = ["", "NX", "XX", "GT", "LT", "CH", "XX CH", "GT CH"];
                let mut a = vec!["ZADD".to_string(), key.into()];
                a.extend(
                    opts[rng.gen_range(0..opts.len())]
                        .split_whitespace()
                        .map(String::from),
                );
                a.extend([
                    score.to_string(),
                    member,
                    score.into(),
                    format!("m{}", rng.gen_range(0..10)),
                ]);
                a
            }
            3 if key != "lex" => vec!["ZINCRBY".into(), key.into(), score.into(), member],
            4 => vec!["ZREM".into(), key.into(), member],
            5 => vec![
                "ZRANGE".into(),
                other.into(),
                n(&mut rng),
                n(&mut rng),
                "WITHSCORES".into(),
            ],
            6 => vec!["ZREVRANGE".into(), other.into(), n(&mut rng), n(&mut rng)],
            7 => {
                let (lo, hi) = (
                    bounds[rng.gen_range(0..bounds.len())],
                    bounds[rng.gen_range(0..bounds.len())],
                );
                let mut a = vec![
                    "ZRANGEBYSCORE".into(),
                    other.into(),
                    lo.into(),
                    hi.into(),
                    "WITHSCORES".into(),
                ];
                if rng.gen_bool(0.5) {
                    a.extend(["LIMIT".into(), n(&mut rng), n(&mut rng)]);
                }
                a
            }
            8 => {
                let (hi, lo) = (
                    bounds[rng.gen_range(0..bounds.len())],
                    bounds[rng.gen_range(0..bounds.len())],
                );
                vec![
                    "ZREVRANGEBYSCORE".into(),
                    other.into(),
                    hi.into(),
                    lo.into(),
                ]
            }
            9 => {
                let (lo, hi) = (
                    lex[rng.gen_range(0..lex.len())],
                    lex[rng.gen_range(0..lex.len())],
                );
                let cmd = ["ZRANGEBYLEX", "ZLEXCOUNT", "ZREVRANGEBYLEX"][rng.gen_range(0..3)];
                vec![cmd.into(), "lex".into(), lo.into(), hi.into()]
            }
            10 => vec!["ZRANK".into(), other.into(), member],
            11 => vec!["ZREVRANK".into(), other.into(), member],
            12 => vec!["ZMSCORE".into(), other.into(), member, "m1".into()],
            13 => {
                let (lo, hi) = (
                    bounds[rng.gen_range(0..bounds.len())],
                    bounds[rng.gen_range(0..bounds.len())],
                );
                vec!["ZCOUNT".into(), other.into(), lo.into(), hi.into()]
            }
            14 => vec![
                "ZPOPMIN".into(),
                key.into(),
                rng.gen_range(0..3).to_string(),
            ],
            15 => vec!["ZPOPMAX".into(), key.into()],
            16 => {
                let op = ["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"][rng.gen_range(0..3)];
                // Never store into `lex`: its members must keep equal scores.
                let dst = if key == "lex" { "z1" } else { key };
                let mut a = vec![
                    op.into(),
                    dst.into(),
                    "2".into(),
                    other.into(),
                    keys[rng.gen_range(0..4)].into(),
                ];
                if op != "ZDIFFSTORE" && rng.gen_bool(0.5) {
                    let agg = ["SUM", "MIN", "MAX"][rng.gen_range(0..3)];
                    a.extend([
                        "WEIGHTS".into(),
                        "2".into(),
                        "0.5".into(),
                        "AGGREGATE".into(),
                        agg.into(),
                    ]);
                }
                a
            }
            17 => {
                let op = ["ZUNION", "ZINTER", "ZDIFF"][rng.gen_range(0..3)];
                vec![
                    op.into(),
                    "2".into(),
                    key.into(),
                    other.into(),
                    "WITHSCORES".into(),
                ]
            }
            18 => {
                let (lo, hi) = (
                    bounds[rng.gen_range(0..bounds.len())],
                    bounds[rng.gen_range(0..bounds.len())],
                );
                let cmd = ["ZREMRANGEBYSCORE", "ZREMRANGEBYRANK"][rng.gen_range(0..2)];
                if cmd == "ZREMRANGEBYRANK" {
                    vec![cmd.into(), key.into(), n(&mut rng), n(&mut rng)]
                } else {
                    vec![cmd.into(), key.into(), lo.into(), hi.into()]
                }
            }
            19 => {
                // The generic ZRANGE with any mix of options, errors included.
                let by = ["", "BYSCORE", "BYLEX"][rng.gen_range(0..3)];
                let (lo, hi) = match by {
                    "BYSCORE" => (
                        bounds[rng.gen_range(0..bounds.len())].to_string(),
                        bounds[rng.gen_range(0..bounds.len())].to_string(),
                    ),
                    "BYLEX" => (
                        lex[rng.gen_range(0..lex.len())].to_string(),
                        lex[rng.gen_range(0..lex.len())].to_string(),
                    ),
                    _ => (n(&mut rng), n(&mut rng)),
                };
                let target = if by == "BYLEX" { "lex" } else { other };
                let mut a = vec!["ZRANGE".to_string(), target.into(), lo, hi];
                a.extend(by.split_whitespace().map(String::from));
                if rng.gen_bool(0.5) {
                    a.push("REV".into());
                }
                if rng.gen_bool(0.3) {
                    a.extend(["LIMIT".into(), n(&mut rng), n(&mut rng)]);
                }
                if rng.gen_bool(0.3) {
                    a.push("WITHSCORES".into());
                }
                a
            }
            20 if key != "lex" => vec![
                "ZADD".into(),
                key.into(),
                "INCR".into(),
                score.into(),
                member,
            ],
            21 => {
                let dir = ["MIN", "MAX"][rng.gen_range(0..2)];
                let count = rng.gen_range(1..4).to_string();
                vec![
                    "ZMPOP".into(),
                    "2".into(),
                    key.into(),
                    other.into(),
                    dir.into(),
                    "COUNT".into(),
                    count,
                ]
            }
            22 => {
                let dst = if key == "lex" { "z2" } else { key };
                vec![
                    "ZRANGESTORE".into(),
                    dst.into(),
                    other.into(),
                    n(&mut rng),
                    n(&mut rng),
                ]
            }
            23 => vec![
                "ZINTERCARD".into(),
                "2".into(),
                key.into(),
                other.into(),
                "LIMIT".into(),
                "2".into(),
            ],
            _ => vec!["ZCARD".into(), other.into()],
        };
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        d.check_with(&refs, Cmp::Exact);
    }
}

/// Sets large enough to span many chunks of our order (and Redis's skiplist encoding):
/// ranks, rank ranges, score ranges with LIMIT and lex ranges after churn.
#[test]
fn big_sorted_sets_match_redis() {
    let mut d = Diff::start();
    let mut rng = StdRng::seed_from_u64(0xb16);
    for round in 0..6 {
        let mut zadd = vec!["ZADD".to_string(), "big".into()];
        let mut lex = vec!["ZADD".to_string(), "words".into()];
        for _ in 0..1000 {
            let member = format!("m{}", rng.gen_range(0..4000));
            zadd.extend([rng.gen_range(0..300).to_string(), member.clone()]);
            lex.extend(["0".into(), member]);
        }
        for args in [&zadd, &lex] {
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            d.check_with(&refs, Cmp::Exact);
        }
        let lo = rng.gen_range(0..300).to_string();
        let hi = rng.gen_range(0..300).to_string();
        let start = rng.gen_range(-3000..3000).to_string();
        let stop = rng.gen_range(-3000..3000).to_string();
        let member = format!("m{}", rng.gen_range(0..4000));
        let from = format!("[m{}", rng.gen_range(0..4000));
        let to = format!("(m{}", rng.gen_range(0..4000));
        let queries: Vec<Vec<&str>> = vec![
            vec!["ZCARD", "big"],
            vec!["ZRANK", "big", &member],
            vec!["ZREVRANK", "big", &member],
            vec!["ZRANGE", "big", &start, &stop, "WITHSCORES"],
            vec!["ZRANGE", "big", &start, &stop, "REV"],
            vec!["ZRANGE", "big", "0", "-1"],
            vec!["ZRANGEBYSCORE", "big", &lo, &hi, "LIMIT", "17", "300"],
            vec![
                "ZREVRANGEBYSCORE",
                "big",
                &hi,
                &lo,
                "WITHSCORES",
                "LIMIT",
                "5",
                "200",
            ],
            vec!["ZCOUNT", "big", &lo, &hi],
            vec!["ZRANGEBYLEX", "words", &from, &to, "LIMIT", "3", "50"],
            vec!["ZREVRANGEBYLEX", "words", &to, &from],
            vec!["ZLEXCOUNT", "words", &from, &to],
            vec!["ZLEXCOUNT", "words", "-", "+"],
        ];
        for q in queries {
            d.check(&q);
        }
        if round % 2 == 1 {
            d.check(&["ZREMRANGEBYRANK", "big", "100", "400"]);
            d.check(&["ZREMRANGEBYSCORE", "big", "(50", "60"]);
            d.check(&["ZREMRANGEBYLEX", "words", &from, &to]);
            d.check(&["ZPOPMIN", "big", "30"]);
            d.check(&["ZPOPMAX", "words", "30"]);
        }
    }
    d.check(&["ZUNIONSTORE", "u", "2", "big", "words", "WEIGHTS", "1", "3"]);
    d.check(&["ZRANGE", "u", "0", "-1", "WITHSCORES"]);
    d.check(&["ZINTERSTORE", "i", "2", "big", "words", "AGGREGATE", "MAX"]);
    d.check(&["ZRANGE", "i", "0", "-1", "WITHSCORES"]);
    d.check(&["ZRANGESTORE", "r", "big", "10", "1000"]);
    d.check(&["ZRANGE", "r", "-50", "-1", "WITHSCORES"]);
}

#[test]
fn bzmpop_is_woken_by_zadd_and_ignores_other_types_meanwhile() {
    let ours = start_tinyredis(&[]);
    let mut waiter = Conn::connect(ours.port);
    let mut writer = Conn::connect(ours.port);
    waiter.send(&[b"BZMPOP", b"5", b"2", b"a", b"b", b"MAX", b"COUNT", b"2"]);
    std::thread::sleep(Duration::from_millis(150));
    writer.cmd(&["SET", "b", "not a zset"]);
    std::thread::sleep(Duration::from_millis(150));
    writer.cmd(&["ZADD", "a", "1", "x", "2", "y", "3", "z"]);
    let bulk = |s: &str| Resp::Blob(b'$', Some(s.as_bytes().to_vec()));
    let pair = |m: &str, s: &str| Resp::Agg(b'*', Some(vec![bulk(m), bulk(s)]));
    assert_eq!(
        waiter.read(),
        Resp::Agg(
            b'*',
            Some(vec![
                bulk("a"),
                Resp::Agg(b'*', Some(vec![pair("z", "3"), pair("y", "2")]))
            ])
        )
    );
    assert_eq!(writer.cmd(&["ZCARD", "a"]).as_int(), Some(1));
}
