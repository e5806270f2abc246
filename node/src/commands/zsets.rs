//! Sorted set commands, Redis 7.0-exact in replies and error texts.
//!
//! Scores are replied as doubles (`%.17g` bulk strings in RESP2). Commands that pick at
//! random use the request's seeded rng on the member dict's slots, so replicas agree.

use super::flags::*;
use super::generic::{parse_scan_cursor, ScanOptions};
use super::sets::{count_read, empty_scan, parse_positive, scan_reply};
use super::{
    is, keys, parse_f64, parse_i64, parse_timeout, spec, stored_arg, strtod, CommandError,
    CommandSpec, Exec, Keys, Run, KEY1,
};
use crate::keyspace::zset::{LexBound, LexRange, ScoreRange};
use crate::keyspace::{Db, Dict, Set, Value, ZSet};
use crate::protocol::{format_double, Reply};
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

const GROUP: &str = "sorted-set";
/// `numkeys key [key ...]` with the count at argument 1.
const NUMKEYS_AT_1: Keys = Keys::NumKeys {
    count_at: 1,
    extra_first: false,
};
/// `destination numkeys key [key ...]`.
const STORE_NUMKEYS: Keys = Keys::NumKeys {
    count_at: 2,
    extra_first: true,
};

pub static COMMANDS: &[CommandSpec] = &[
    spec("zadd", -4, WRITE | DENYOOM | FAST, KEY1, Run::Exec(zadd), GROUP, "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist."),
    spec("zincrby", 4, WRITE | DENYOOM | FAST, KEY1, Run::Exec(zincrby), GROUP, "Increments the score of a member in a sorted set."),
    spec("zrem", -3, WRITE | FAST, KEY1, Run::Exec(zrem), GROUP, "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed."),
    spec("zcard", 2, READONLY | FAST, KEY1, Run::Exec(zcard), GROUP, "Returns the number of members in a sorted set."),
    spec("zscore", 3, READONLY | FAST, KEY1, Run::Exec(zscore), GROUP, "Returns the score of a member in a sorted set."),
    spec("zmscore", -3, READONLY | FAST, KEY1, Run::Exec(zmscore), GROUP, "Returns the score of one or more members in a sorted set."),
    spec("zcount", 4, READONLY | FAST, KEY1, Run::Exec(zcount), GROUP, "Returns the count of members in a sorted set that have scores within a range."),
    spec("zlexcount", 4, READONLY | FAST, KEY1, Run::Exec(zlexcount), GROUP, "Returns the number of members in a sorted set within a lexicographical range."),
    spec("zrank", 3, READONLY | FAST, KEY1, Run::Exec(zrank), GROUP, "Returns the index of a member in a sorted set ordered by ascending scores."),
    spec("zrevrank", 3, READONLY | FAST, KEY1, Run::Exec(zrevrank), GROUP, "Returns the index of a member in a sorted set ordered by descending scores."),
    spec("zrange", -4, READONLY, KEY1, Run::Exec(zrange), GROUP, "Returns members in a sorted set within a range of indexes."),
    spec("zrevrange", -4, READONLY, KEY1, Run::Exec(zrevrange), GROUP, "Returns members in a sorted set within a range of indexes in reverse order."),
    spec("zrangebyscore", -4, READONLY, KEY1, Run::Exec(zrangebyscore), GROUP, "Returns members in a sorted set within a range of scores."),
    spec("zrevrangebyscore", -4, READONLY, KEY1, Run::Exec(zrevrangebyscore), GROUP, "Returns members in a sorted set within a range of scores in reverse order."),
    spec("zrangebylex", -4, READONLY, KEY1, Run::Exec(zrangebylex), GROUP, "Returns members in a sorted set within a lexicographical range."),
    spec("zrevrangebylex", -4, READONLY, KEY1, Run::Exec(zrevrangebylex), GROUP, "Returns members in a sorted set within a lexicographical range in reverse order."),
    spec("zrangestore", -5, WRITE | DENYOOM, keys(1, 2, 1), Run::Exec(zrangestore), GROUP, "Stores a range of members from sorted set in a key."),
    spec("zremrangebyrank", 4, WRITE, KEY1, Run::Exec(zremrangebyrank), GROUP, "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed."),
    spec("zremrangebyscore", 4, WRITE, KEY1, Run::Exec(zremrangebyscore), GROUP, "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed."),
    spec("zremrangebylex", 4, WRITE, KEY1, Run::Exec(zremrangebylex), GROUP, "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed."),
    spec("zpopmin", -2, WRITE | FAST, KEY1, Run::Exec(zpopmin), GROUP, "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    spec("zpopmax", -2, WRITE | FAST, KEY1, Run::Exec(zpopmax), GROUP, "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    spec("bzpopmin", -3, WRITE | NOSCRIPT | BLOCKING | FAST, keys(1, -2, 1), Run::Exec(bzpopmin), GROUP, "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped."),
    spec("bzpopmax", -3, WRITE | NOSCRIPT | BLOCKING | FAST, keys(1, -2, 1), Run::Exec(bzpopmax), GROUP, "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped."),
    spec("zmpop", -4, WRITE, NUMKEYS_AT_1, Run::Exec(zmpop), GROUP, "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped."),
    spec("bzmpop", -5, WRITE | BLOCKING, Keys::NumKeys { count_at: 2, extra_first: false }, Run::Exec(bzmpop), GROUP, "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped."),
    spec("zunionstore", -4, WRITE | DENYOOM, STORE_NUMKEYS, Run::Exec(zunionstore), GROUP, "Stores the union of multiple sorted sets in a key."),
    spec("zinterstore", -4, WRITE | DENYOOM, STORE_NUMKEYS, Run::Exec(zinterstore), GROUP, "Stores the intersect of multiple sorted sets in a key."),
    spec("zdiffstore", -4, WRITE | DENYOOM, STORE_NUMKEYS, Run::Exec(zdiffstore), GROUP, "Stores the difference of multiple sorted sets in a key."),
    spec("zunion", -3, READONLY, NUMKEYS_AT_1, Run::Exec(zunion), GROUP, "Returns the union of multiple sorted sets."),
    spec("zinter", -3, READONLY, NUMKEYS_AT_1, Run::Exec(zinter), GROUP, "Returns the intersect of multiple sorted sets."),
    spec("zdiff", -3, READONLY, NUMKEYS_AT_1, Run::Exec(zdiff), GROUP, "Returns the difference between multiple sorted sets."),
    spec("zintercard", -3, READONLY, NUMKEYS_AT_1, Run::Exec(zintercard), GROUP, "Returns the number of members of the intersect of multiple sorted sets."),
    spec("zrandmember", -2, READONLY, KEY1, Run::Exec(zrandmember), GROUP, "Returns one or more random members from a sorted set."),
    spec("zscan", -3, READONLY, KEY1, Run::Exec(zscan), GROUP, "Iterates over members and scores of a sorted set."),
];

// ---------------------------------------------------------------------------------------
// Parsing

/// Redis's `getDoubleFromObject` (strtod): a whole-argument float where overflow and
/// underflow (ERANGE) are errors, unlike Rust's parse which rounds to inf or 0.
fn parse_score(arg: &[u8]) -> Option<f64> {
    parse_plain_score(arg).or_else(|| parse_any_score(arg))
}

/// `parse_score` for any spelling: inf, exponents, any case.
fn parse_any_score(arg: &[u8]) -> Option<f64> {
    let value = parse_f64(arg).ok()?;
    let text = arg.to_ascii_lowercase();
    let overflowed = value.is_infinite() && !text.windows(3).any(|w| w == b"inf");
    let hex = text.windows(2).any(|w| w == b"0x");
    let exponent_marker = if hex { b'p' } else { b'e' };
    let mantissa = text
        .split(|&c| c == exponent_marker)
        .next()
        .unwrap_or_default();
    let nonzero_digit = |&c: &u8| c != b'0' && (c.is_ascii_digit() || hex && c.is_ascii_hexdigit());
    let underflowed = value == 0.0 && mantissa.iter().any(nonzero_digit);
    (!overflowed && !underflowed).then_some(value)
}

/// A score written as a plain decimal, as clients almost always send it, read without
/// the lower-cased copies `parse_any_score` makes to judge inf/nan/exponents; `None`
/// sends anything else (and out-of-range values, to get their error) there.
fn parse_plain_score(arg: &[u8]) -> Option<f64> {
    if !arg
        .iter()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'+'))
    {
        return None;
    }
    let value: f64 = std::str::from_utf8(arg).ok()?.parse().ok()?;
    let underflowed = value == 0.0 && arg.iter().any(|c| (b'1'..=b'9').contains(c));
    (value.is_finite() && !underflowed).then_some(value)
}

/// One end of a score range (`zslParseRangeItem`): `(` makes it exclusive; the number is
/// read with plain strtod, so overflow gives ±inf and an empty string is 0.
fn parse_score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let (text, exclusive) = match arg.strip_prefix(b"(") {
        Some(rest) => (rest, true),
        None => (arg, false),
    };
    if text.is_empty() {
        return Some((0.0, exclusive));
    }
    // strtod skips leading spaces; ours does not (and refuses an empty rest).
    let value = strtod(text.trim_ascii_start())?;
    (!value.is_nan()).then_some((value, exclusive))
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CommandError> {
    let bad = || CommandError::err("min or max is not a float");
    let (min, min_ex) = parse_score_bound(min).ok_or_else(bad)?;
    let (max, max_ex) = parse_score_bound(max).ok_or_else(bad)?;
    Ok(ScoreRange {
        min,
        max,
        min_ex,
        max_ex,
    })
}

fn parse_lex_bound(arg: &Bytes) -> Option<LexBound> {
    match arg.first()? {
        b'-' if arg.len() == 1 => Some(LexBound::Min),
        b'+' if arg.len() == 1 => Some(LexBound::Max),
        b'[' => Some(LexBound::Inclusive(arg.slice(1..))),
        b'(' => Some(LexBound::Exclusive(arg.slice(1..))),
        _ => None,
    }
}

fn parse_lex_range(min: &Bytes, max: &Bytes) -> Result<LexRange, CommandError> {
    let bad = || CommandError::err("min or max not valid string range item");
    Ok(LexRange {
        min: parse_lex_bound(min).ok_or_else(bad)?,
        max: parse_lex_bound(max).ok_or_else(bad)?,
    })
}

// ---------------------------------------------------------------------------------------
// Lookups and replies

/// The sorted set at `key` for a read command, counted as a keyspace hit or miss.
fn read_zset<'a>(exec: &'a mut Exec, key: &[u8]) -> Result<Option<&'a ZSet>, CommandError> {
    count_read(exec, key);
    let now = exec.now_ms;
    exec.db().read::<ZSet>(key, now)
}

/// The db and the seeded rng together, for commands that pick at random.
fn db_and_rng<'a>(exec: &'a mut Exec) -> (&'a mut Db, &'a mut StdRng) {
    (&mut exec.store.dbs[exec.db], exec.rng.get())
}

/// Member/score pairs as Redis 7.0 sends them: flat in RESP2, nested in RESP3.
fn scored(pairs: Vec<(Bytes, f64)>) -> Reply {
    Reply::Pairs(
        pairs
            .into_iter()
            .map(|(m, s)| (Reply::Bulk(m), Reply::Double(s)))
            .collect(),
    )
}

/// Member/score pairs as one flat array in every protocol.
fn flat(pairs: Vec<(Bytes, f64)>) -> Reply {
    Reply::Array(
        pairs
            .into_iter()
            .flat_map(|(m, s)| [Reply::Bulk(m), Reply::Double(s)])
            .collect(),
    )
}

/// Members, with their scores when asked for.
fn members_reply(pairs: Vec<(Bytes, f64)>, withscores: bool) -> Reply {
    if withscores {
        scored(pairs)
    } else {
        Reply::bulks(pairs.into_iter().map(|(m, _)| m))
    }
}

fn owned<'a>(iter: impl Iterator<Item = (&'a Bytes, f64)>) -> Vec<(Bytes, f64)> {
    iter.map(|(m, s)| (m.clone(), s)).collect()
}

/// Stores `pairs` at `dst` as a new sorted set (no TTL), or deletes `dst` when there are
/// none; replies with the new cardinality.
fn store(exec: &mut Exec, dst: &Bytes, pairs: Vec<(Bytes, f64)>) -> Reply {
    let now = exec.now_ms;
    let db = exec.db();
    if pairs.is_empty() {
        db.delete(dst, now);
        return Reply::Int(0);
    }
    let mut zset = ZSet::new();
    for (member, score) in pairs {
        zset.insert(member, score);
    }
    let len = zset.len();
    db.set(dst.clone(), Value::ZSet(Box::new(zset)));
    Reply::Int(len as i64)
}

// ---------------------------------------------------------------------------------------
// ZADD, ZINCRBY, ZREM

#[derive(Default)]
struct ZaddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What ZADD did to one member.
#[derive(PartialEq)]
enum Outcome {
    Added,
    Updated,
    /// Processed with the same score (still counts for INCR's reply).
    Same,
    /// Skipped by NX/XX/GT/LT.
    Skipped,
}

impl Outcome {
    fn changes(&self) -> bool {
        matches!(self, Outcome::Added | Outcome::Updated)
    }
}

fn zadd(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    zadd_generic(exec, args, false)
}

/// ZINCRBY is ZADD INCR underneath, down to how its arguments are parsed.
fn zincrby(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    zadd_generic(exec, args, true)
}

fn zadd_generic(exec: &mut Exec, args: &[Bytes], incr: bool) -> Result<Reply, CommandError> {
    let (flags, pairs) = parse_zadd(args, incr)?;
    if let [score, member] = pairs {
        return zadd_one(exec, &args[1], &flags, score, member);
    }
    // All scores are parsed before anything changes: ZADD applies fully or not at all.
    let scores = pairs
        .chunks(2)
        .map(|p| parse_score(&p[0]).ok_or(CommandError::NotFloat))
        .collect::<Result<Vec<f64>, _>>()?;
    let now = exec.now_ms;
    let db = exec.db();
    let current = db.read::<ZSet>(&args[1], now)?;
    if current.is_none() && flags.xx {
        return Ok(reply_zadd(&flags, []));
    }
    // A dry run first: when no member would change, the key is not written at all, so
    // WATCH sees no change (Redis signals none either). Without changes, evaluating the
    // pairs one after another is the same as evaluating each against the current state.
    let mut outcomes = Vec::with_capacity(scores.len());
    for (pair, &score) in pairs.chunks(2).zip(&scores) {
        outcomes.push(decide(
            current.and_then(|z| z.score(&pair[1])),
            score,
            &flags,
        )?);
    }
    if !outcomes.iter().any(|(outcome, _)| outcome.changes()) {
        return Ok(reply_zadd(&flags, outcomes));
    }
    let zset = db.write_or_create::<ZSet>(&args[1], now)?;
    // Each pair is decided again: an earlier pair may have written its member.
    for ((pair, score), decided) in pairs.chunks(2).zip(scores).zip(&mut outcomes) {
        *decided = decide(zset.score(&pair[1]), score, &flags)?;
        apply(zset, &pair[1], decided);
    }
    Ok(reply_zadd(&flags, outcomes))
}

/// ZADD of one pair, the usual case, without the general path's per-pair vectors: their
/// allocations and frees were 7% of a pipelined ZADD's instructions.
fn zadd_one(
    exec: &mut Exec,
    key: &[u8],
    flags: &ZaddFlags,
    score: &[u8],
    member: &Bytes,
) -> Result<Reply, CommandError> {
    let score = parse_score(score).ok_or(CommandError::NotFloat)?;
    let now = exec.now_ms;
    // As in the general path, nothing is written (WATCH sees no change) unless the
    // member changes.
    exec.db().update::<ZSet, _>(key, now, |zset, existed| {
        if !existed && flags.xx {
            return Ok((reply_zadd(flags, []), false));
        }
        let decided = decide(zset.score(member), score, flags)?;
        let changes = decided.0.changes();
        if changes {
            apply(zset, member, &decided);
        }
        Ok((reply_zadd(flags, [decided]), changes))
    })
}

/// Carries out one pair's decision.
fn apply(zset: &mut ZSet, member: &Bytes, (outcome, score): &(Outcome, f64)) {
    match outcome {
        Outcome::Added => {
            zset.insert(stored_arg(member), *score);
        }
        // An update keeps the stored member: no copy of the argument is made.
        Outcome::Updated => {
            zset.set_score(member, *score);
        }
        Outcome::Same | Outcome::Skipped => {}
    }
}

/// ZADD's reply: the number added (or, with CH, changed); with INCR the last member's new
/// score, or nil when it was skipped.
fn reply_zadd(flags: &ZaddFlags, outcomes: impl IntoIterator<Item = (Outcome, f64)>) -> Reply {
    let (mut added, mut updated, mut last) = (0, 0, None);
    for (outcome, score) in outcomes {
        match outcome {
            Outcome::Added => added += 1,
            Outcome::Updated => updated += 1,
            Outcome::Same | Outcome::Skipped => {}
        }
        last = (outcome != Outcome::Skipped).then_some(score);
    }
    if flags.incr {
        return last.map_or(Reply::Nil, Reply::Double);
    }
    Reply::Int(if flags.ch { added + updated } else { added })
}

/// Reads the options, then checks the score/member pairs and option conflicts in Redis's
/// order; returns the options and the pairs.
fn parse_zadd(args: &[Bytes], incr: bool) -> Result<(ZaddFlags, &[Bytes]), CommandError> {
    let mut flags = ZaddFlags {
        incr,
        ..ZaddFlags::default()
    };
    let mut at = 2;
    // Compared in place rather than lower-cased: the first score is looked at here too,
    // and a copy per ZADD showed up in profiles.
    while let Some(arg) = args.get(at) {
        let flag = match arg.len() {
            2 if is(arg, "nx") => &mut flags.nx,
            2 if is(arg, "xx") => &mut flags.xx,
            2 if is(arg, "gt") => &mut flags.gt,
            2 if is(arg, "lt") => &mut flags.lt,
            2 if is(arg, "ch") => &mut flags.ch,
            4 if is(arg, "incr") => &mut flags.incr,
            _ => break,
        };
        *flag = true;
        at += 1;
    }
    let pairs = &args[at..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Err(CommandError::Syntax);
    }
    if flags.nx && flags.xx {
        return Err(CommandError::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if (flags.gt || flags.lt) && flags.nx || flags.gt && flags.lt {
        return Err(CommandError::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if flags.incr && pairs.len() > 2 {
        return Err(CommandError::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    Ok((flags, pairs))
}

/// Redis's `zsetAdd` decision for one member whose score is `current` (`None` when it
/// is not in the set): what happens and the member's score after.
fn decide(
    current: Option<f64>,
    score: f64,
    flags: &ZaddFlags,
) -> Result<(Outcome, f64), CommandError> {
    let Some(current) = current else {
        if flags.xx {
            return Ok((Outcome::Skipped, score));
        }
        return Ok((Outcome::Added, score));
    };
    if flags.nx {
        return Ok((Outcome::Skipped, current));
    }
    let score = if flags.incr { current + score } else { score };
    if score.is_nan() {
        return Err(CommandError::err("resulting score is not a number (NaN)"));
    }
    if (flags.lt && score >= current) || (flags.gt && score <= current) {
        return Ok((Outcome::Skipped, current));
    }
    if score == current {
        return Ok((Outcome::Same, score));
    }
    Ok((Outcome::Updated, score))
}

fn zrem(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    let db = exec.db();
    let current = db.read::<ZSet>(&args[1], now)?;
    // Nothing to remove: leave the key untouched, so WATCH sees no change.
    if !current.is_some_and(|z| args[2..].iter().any(|m| z.score(m).is_some())) {
        return Ok(Reply::Int(0));
    }
    let zset = db.write::<ZSet>(&args[1], now)?.expect("just read");
    let removed = args[2..]
        .iter()
        .filter(|m| zset.remove(m).is_some())
        .count();
    db.remove_if_empty(&args[1]);
    Ok(Reply::Int(removed as i64))
}

// ---------------------------------------------------------------------------------------
// Point reads

fn zcard(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let len = read_zset(exec, &args[1])?.map_or(0, ZSet::len);
    Ok(Reply::Int(len as i64))
}

fn score_reply(score: Option<f64>) -> Reply {
    score.map_or(Reply::Nil, Reply::Double)
}

fn zscore(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let zset = read_zset(exec, &args[1])?;
    Ok(score_reply(zset.and_then(|z| z.score(&args[2]))))
}

fn zmscore(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let zset = read_zset(exec, &args[1])?;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|m| score_reply(zset.and_then(|z| z.score(m))))
            .collect(),
    ))
}

fn zrank(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    rank_reply(exec, args, false)
}

fn zrevrank(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    rank_reply(exec, args, true)
}

fn rank_reply(exec: &mut Exec, args: &[Bytes], rev: bool) -> Result<Reply, CommandError> {
    let Some(zset) = read_zset(exec, &args[1])? else {
        return Ok(Reply::Nil);
    };
    Ok(zset.rank(&args[2]).map_or(Reply::Nil, |rank| {
        Reply::Int(if rev { zset.len() - 1 - rank } else { rank } as i64)
    }))
}

fn zcount(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let range = parse_score_range(&args[2], &args[3])?;
    let zset = read_zset(exec, &args[1])?;
    let count = zset.map_or(0, |z| z.range_by_score(&range).count());
    Ok(Reply::Int(count as i64))
}

fn zlexcount(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let range = parse_lex_range(&args[2], &args[3])?;
    let zset = read_zset(exec, &args[1])?;
    let count = zset.map_or(0, |z| z.range_by_lex(&range, false).count());
    Ok(Reply::Int(count as i64))
}

// ---------------------------------------------------------------------------------------
// Range queries: ZRANGE and its older spellings, ZRANGESTORE, ZREMRANGEBY*

#[derive(Clone, Copy, PartialEq)]
enum By {
    Rank,
    Score,
    Lex,
}

enum Range {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// A parsed range request. `limit` is Redis's (offset, count); count -1 means no limit.
struct RangeQuery {
    range: Range,
    rev: bool,
    limit: (i64, i64),
    withscores: bool,
}

/// Parses `<min> <max> [options]` starting at `args[at]` the way Redis's
/// `zrangeGenericCommand` does; `by`/`rev` are preset by the older command spellings,
/// which then refuse those options.
fn parse_range_query(
    args: &[Bytes],
    at: usize,
    mut by: Option<By>,
    mut rev: Option<bool>,
    store: bool,
) -> Result<RangeQuery, CommandError> {
    let (mut withscores, mut limit) = (false, (0, -1));
    let mut i = at + 2;
    while let Some(arg) = args.get(i) {
        let left = args.len() - i - 1;
        if is(arg, "withscores") && !store {
            withscores = true;
        } else if is(arg, "limit") && left >= 2 {
            limit = (parse_i64(&args[i + 1])?, parse_i64(&args[i + 2])?);
            i += 2;
        } else if rev.is_none() && is(arg, "rev") {
            rev = Some(true);
        } else if by.is_none() && is(arg, "bylex") {
            by = Some(By::Lex);
        } else if by.is_none() && is(arg, "byscore") {
            by = Some(By::Score);
        } else {
            return Err(CommandError::Syntax);
        }
        i += 1;
    }
    let (by, rev) = (by.unwrap_or(By::Rank), rev.unwrap_or(false));
    if limit.1 != -1 && by == By::Rank {
        return Err(CommandError::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && by == By::Lex {
        return Err(CommandError::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    // Reversed score and lex ranges are written max first.
    let (mut min, mut max) = (&args[at], &args[at + 1]);
    if rev && by != By::Rank {
        std::mem::swap(&mut min, &mut max);
    }
    let range = match by {
        By::Rank => Range::Rank(parse_i64(min)?, parse_i64(max)?),
        By::Score => Range::Score(parse_score_range(min, max)?),
        By::Lex => Range::Lex(parse_lex_range(min, max)?),
    };
    Ok(RangeQuery {
        range,
        rev,
        limit,
        withscores,
    })
}

/// The members a range query selects, in reply order.
fn select(zset: &ZSet, query: &RangeQuery) -> Vec<(Bytes, f64)> {
    match &query.range {
        Range::Rank(start, stop) => rank_range(zset, *start, *stop, query.rev),
        Range::Score(range) if query.rev => limited(zset.range_by_score(range).rev(), query.limit),
        Range::Score(range) => limited(zset.range_by_score(range), query.limit),
        Range::Lex(range) => limited(zset.range_by_lex(range, query.rev), query.limit),
    }
}

/// Applies LIMIT like Redis: a negative offset selects nothing, a negative count means all.
fn limited<'a>(
    iter: impl Iterator<Item = (&'a Bytes, f64)>,
    (offset, count): (i64, i64),
) -> Vec<(Bytes, f64)> {
    if offset < 0 {
        return Vec::new();
    }
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    owned(iter.skip(offset as usize).take(count))
}

/// Members by rank, negative indexes counting from the end, clamped as Redis does.
fn rank_range(zset: &ZSet, start: i64, stop: i64, rev: bool) -> Vec<(Bytes, f64)> {
    let len = zset.len() as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let stop = if stop < 0 { len + stop } else { stop };
    if start > stop || start >= len {
        return Vec::new();
    }
    let (lo, hi) = (start as usize, stop.min(len - 1) as usize + 1);
    if rev {
        // Rank r from the top is rank len - 1 - r from the bottom.
        let len = len as usize;
        owned(zset.by_rank(len - hi, len - lo).rev())
    } else {
        owned(zset.by_rank(lo, hi))
    }
}

fn range_command(
    exec: &mut Exec,
    args: &[Bytes],
    by: Option<By>,
    rev: Option<bool>,
) -> Result<Reply, CommandError> {
    let query = parse_range_query(args, 2, by, rev, false)?;
    let Some(zset) = read_zset(exec, &args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(members_reply(select(zset, &query), query.withscores))
}

fn zrange(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    range_command(exec, args, None, None)
}

fn zrevrange(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    range_command(exec, args, Some(By::Rank), Some(true))
}

fn zrangebyscore(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    range_command(exec, args, Some(By::Score), Some(false))
}

fn zrevrangebyscore(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    range_command(exec, args, Some(By::Score), Some(true))
}

fn zrangebylex(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    range_command(exec, args, Some(By::Lex), Some(false))
}

fn zrevrangebylex(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    range_command(exec, args, Some(By::Lex), Some(true))
}

/// `ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]`.
fn zrangestore(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let query = parse_range_query(args, 3, None, None, true)?;
    let now = exec.now_ms;
    let selected = exec
        .db()
        .read::<ZSet>(&args[2], now)?
        .map(|zset| select(zset, &query))
        .unwrap_or_default();
    Ok(store(exec, &args[1], selected))
}

/// Removes the members `select` picks from the sorted set at `args[1]`.
fn remove_range(exec: &mut Exec, args: &[Bytes], query: RangeQuery) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    let db = exec.db();
    let doomed = db
        .read::<ZSet>(&args[1], now)?
        .map(|zset| select(zset, &query))
        .unwrap_or_default();
    // Nothing in range: leave the key untouched, so WATCH sees no change.
    if doomed.is_empty() {
        return Ok(Reply::Int(0));
    }
    let zset = db.write::<ZSet>(&args[1], now)?.expect("just read");
    for (member, _) in &doomed {
        zset.remove(member);
    }
    db.remove_if_empty(&args[1]);
    Ok(Reply::Int(doomed.len() as i64))
}

fn zremrangebyrank(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let range = Range::Rank(parse_i64(&args[2])?, parse_i64(&args[3])?);
    remove_range(exec, args, plain_query(range))
}

fn zremrangebyscore(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let range = Range::Score(parse_score_range(&args[2], &args[3])?);
    remove_range(exec, args, plain_query(range))
}

fn zremrangebylex(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let range = Range::Lex(parse_lex_range(&args[2], &args[3])?);
    remove_range(exec, args, plain_query(range))
}

/// A forward range with no LIMIT, as the ZREMRANGEBY* commands take.
fn plain_query(range: Range) -> RangeQuery {
    RangeQuery {
        range,
        rev: false,
        limit: (0, -1),
        withscores: false,
    }
}

// ---------------------------------------------------------------------------------------
// Pops

/// Removes up to `count` members from the low (`max == false`) or high end.
fn pop(zset: &mut ZSet, max: bool, count: usize) -> Vec<(Bytes, f64)> {
    let popped = if max {
        owned(zset.iter().rev().take(count))
    } else {
        owned(zset.iter().take(count))
    };
    for (member, _) in &popped {
        zset.remove(member);
    }
    popped
}

/// A key and the member/score pairs popped from it.
type Popped = (Bytes, Vec<(Bytes, f64)>);

/// Pops from the first of `keys` holding a sorted set; `None` when all are missing.
/// A key of another type met first is WRONGTYPE, as in Redis.
fn pop_first_of(
    exec: &mut Exec,
    keys: &[Bytes],
    max: bool,
    count: usize,
) -> Result<Option<Popped>, CommandError> {
    let now = exec.now_ms;
    let db = exec.db();
    for key in keys {
        // Look before writing: a write marks the key changed and would wake the other
        // clients blocked on it, which would then wake this one, and so on.
        if db.read::<ZSet>(key, now)?.is_none() {
            continue;
        }
        if count == 0 {
            return Ok(Some((key.clone(), Vec::new())));
        }
        let zset = db.write::<ZSet>(key, now)?.expect("just read");
        let popped = pop(zset, max, count);
        db.remove_if_empty(key);
        return Ok(Some((key.clone(), popped)));
    }
    Ok(None)
}

fn zpopmin(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    zpop(exec, args, false)
}

fn zpopmax(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    zpop(exec, args, true)
}

/// `ZPOPMIN key [count]`: without a count one flat [member, score] pair.
fn zpop(exec: &mut Exec, args: &[Bytes], max: bool) -> Result<Reply, CommandError> {
    if args.len() > 3 {
        return Err(CommandError::Syntax);
    }
    let count = args.get(2).map(|c| parse_positive(c)).transpose()?;
    let popped = pop_first_of(exec, &args[1..2], max, count.unwrap_or(1))?;
    let pairs = popped.map(|(_, pairs)| pairs).unwrap_or_default();
    Ok(match count {
        Some(_) => scored(pairs),
        None => flat(pairs),
    })
}

fn bzpopmin(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    bzpop(exec, args, false)
}

fn bzpopmax(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    bzpop(exec, args, true)
}

/// `BZPOPMIN key [key ...] timeout`: [key, member, score], or a null array so the session
/// blocks (inside MULTI the null array is the answer).
fn bzpop(exec: &mut Exec, args: &[Bytes], max: bool) -> Result<Reply, CommandError> {
    parse_timeout(&args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    Ok(match pop_first_of(exec, keys, max, 1)? {
        Some((key, mut pairs)) => {
            let (member, score) = pairs.remove(0);
            Reply::Array(vec![
                Reply::Bulk(key),
                Reply::Bulk(member),
                Reply::Double(score),
            ])
        }
        None => Reply::NilArray,
    })
}

fn zmpop(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    mpop(exec, args, 1)
}

fn bzmpop(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    parse_timeout(&args[1])?;
    mpop(exec, args, 2)
}

/// `[B]ZMPOP … numkeys key [key ...] MIN|MAX [COUNT count]` with the count at
/// `args[numkeys_at]`: [key, [[member, score] ...]] or a null array.
fn mpop(exec: &mut Exec, args: &[Bytes], numkeys_at: usize) -> Result<Reply, CommandError> {
    let (keys, max, count) = parse_mpop(args, numkeys_at)?;
    let Some((key, pairs)) = pop_first_of(exec, keys, max, count)? else {
        return Ok(Reply::NilArray);
    };
    let pairs = pairs
        .into_iter()
        .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
        .collect();
    Ok(Reply::Array(vec![Reply::Bulk(key), Reply::Array(pairs)]))
}

fn parse_mpop(args: &[Bytes], numkeys_at: usize) -> Result<(&[Bytes], bool, usize), CommandError> {
    let numkeys = parse_i64(&args[numkeys_at])
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| CommandError::err("numkeys should be greater than 0"))?;
    let where_at = (numkeys as u64).saturating_add(numkeys_at as u64 + 1);
    let Some(direction) = args.get(where_at as usize) else {
        return Err(CommandError::Syntax);
    };
    let max = match direction.to_ascii_lowercase().as_slice() {
        b"min" => false,
        b"max" => true,
        _ => return Err(CommandError::Syntax),
    };
    let options = &args[where_at as usize + 1..];
    let count = match options {
        [] => 1,
        [name, value] if is(name, "count") => parse_i64(value)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| CommandError::err("count should be greater than 0"))?
            as usize,
        _ => return Err(CommandError::Syntax),
    };
    Ok((&args[numkeys_at + 1..where_at as usize], max, count))
}

// ---------------------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF and their STORE forms, ZINTERCARD

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Combines two weighted scores; inf + -inf is 0 by Redis's convention, not NaN.
    fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            Aggregate::Sum => nan_to_zero(a + b),
            Aggregate::Min => a.min(b),
            Aggregate::Max => a.max(b),
        }
    }
}

fn nan_to_zero(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x
    }
}

/// An input of ZUNION & co: a sorted set, or a plain set whose members all score 1.
#[derive(Clone, Copy)]
enum Source<'a> {
    Missing,
    Sorted(&'a ZSet),
    Plain(&'a Set),
}

impl<'a> Source<'a> {
    fn len(&self) -> usize {
        match self {
            Source::Missing => 0,
            Source::Sorted(z) => z.len(),
            Source::Plain(s) => s.len(),
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Source::Missing => None,
            Source::Sorted(z) => z.score(member),
            Source::Plain(s) => s.contains_key(member).then_some(1.0),
        }
    }

    fn entries(&self) -> Box<dyn Iterator<Item = (&'a Bytes, f64)> + 'a> {
        match *self {
            Source::Missing => Box::new(std::iter::empty()),
            Source::Sorted(z) => Box::new(z.members().iter().map(|(m, s)| (m, *s))),
            Source::Plain(s) => Box::new(s.keys().map(|m| (m, 1.0))),
        }
    }
}

/// A parsed `numkeys key [key ...] [WEIGHTS …] [AGGREGATE …] [WITHSCORES] [LIMIT …]`.
struct SetOpArgs {
    weights: Vec<f64>,
    aggregate: Aggregate,
    withscores: bool,
    limit: usize,
}

/// Reads the sources (type errors come before option errors, as in Redis) and the options.
/// `name` is the command for the numkeys error; `store` and `card` select which options
/// are allowed.
fn read_set_op<'a>(
    exec: &'a mut Exec,
    args: &'a [Bytes],
    numkeys_at: usize,
    op: SetOp,
    name: &str,
    store: bool,
    card: bool,
) -> Result<(Vec<Source<'a>>, SetOpArgs), CommandError> {
    let numkeys = parse_i64(&args[numkeys_at])?;
    if numkeys < 1 {
        return Err(CommandError::err(format!(
            "at least 1 input key is needed for '{name}' command"
        )));
    }
    if numkeys as u64 > (args.len() - numkeys_at - 1) as u64 {
        return Err(CommandError::Syntax);
    }
    let keys = &args[numkeys_at + 1..numkeys_at + 1 + numkeys as usize];
    if !store {
        keys.iter().for_each(|k| count_read(exec, k));
    }
    let now = exec.now_ms;
    let db: &'a Db = exec.db();
    let sources = keys
        .iter()
        .map(|k| source(db, k, now))
        .collect::<Result<Vec<_>, _>>()?;
    let options =
        parse_set_op_options(keys, &args[numkeys_at + 1 + keys.len()..], op, store, card)?;
    Ok((sources, options))
}

fn source<'a>(db: &'a Db, key: &[u8], now: u64) -> Result<Source<'a>, CommandError> {
    let Some(entry) = db.get(key, now) else {
        return Ok(Source::Missing);
    };
    match &entry.value {
        Value::ZSet(z) => Ok(Source::Sorted(z)),
        Value::Set(s) => Ok(Source::Plain(s)),
        _ => Err(CommandError::WrongType),
    }
}

fn parse_set_op_options<'a>(
    keys: &'a [Bytes],
    mut rest: &'a [Bytes],
    op: SetOp,
    store: bool,
    card: bool,
) -> Result<SetOpArgs, CommandError> {
    let mut parsed = SetOpArgs {
        weights: vec![1.0; keys.len()],
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let weighable = op != SetOp::Diff && !card;
    while let Some(option) = rest.first() {
        if weighable && rest.len() > keys.len() && is(option, "weights") {
            for (weight, arg) in parsed.weights.iter_mut().zip(&rest[1..]) {
                *weight = parse_score(arg)
                    .ok_or_else(|| CommandError::err("weight value is not a float"))?;
            }
            rest = &rest[1 + keys.len()..];
        } else if weighable && rest.len() >= 2 && is(option, "aggregate") {
            parsed.aggregate = match rest[1].to_ascii_lowercase().as_slice() {
                b"sum" => Aggregate::Sum,
                b"min" => Aggregate::Min,
                b"max" => Aggregate::Max,
                _ => return Err(CommandError::Syntax),
            };
            rest = &rest[2..];
        } else if !store && !card && is(option, "withscores") {
            parsed.withscores = true;
            rest = &rest[1..];
        } else if card && rest.len() >= 2 && is(option, "limit") {
            parsed.limit = parse_positive(&rest[1])
                .map_err(|_| CommandError::err("LIMIT can't be negative"))?;
            rest = &rest[2..];
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Ok(parsed)
}

/// Computes a union, intersection or difference, in ascending (score, member) order.
fn combine(sources: &[Source], options: &SetOpArgs, op: SetOp) -> Vec<(Bytes, f64)> {
    let result = match op {
        SetOp::Union => union(sources, options),
        SetOp::Inter => intersection(sources, options),
        SetOp::Diff => difference(sources),
    };
    let mut pairs: Vec<(Bytes, f64)> = result.into_iter().collect();
    pairs.sort_by(|(ma, sa), (mb, sb)| sa.total_cmp(sb).then_with(|| ma.cmp(mb)));
    pairs
}

/// Sources paired with their weights, smallest first: Redis aggregates in that order, so
/// sums round the same way.
fn by_size<'a>(sources: &[Source<'a>], weights: &[f64]) -> Vec<(Source<'a>, f64)> {
    let mut sized: Vec<(Source, f64)> = sources
        .iter()
        .copied()
        .zip(weights.iter().copied())
        .collect();
    sized.sort_by_key(|(s, _)| s.len());
    sized
}

fn union(sources: &[Source], options: &SetOpArgs) -> Vec<(Bytes, f64)> {
    let mut scores: Dict<f64> = Dict::new();
    for (source, weight) in by_size(sources, &options.weights) {
        for (member, score) in source.entries() {
            let weighted = nan_to_zero(score * weight);
            match scores.get_mut(member) {
                Some(total) => *total = options.aggregate.apply(*total, weighted),
                None => {
                    scores.insert(member.clone(), weighted);
                }
            }
        }
    }
    scores.iter().map(|(m, s)| (m.clone(), *s)).collect()
}

fn intersection(sources: &[Source], options: &SetOpArgs) -> Vec<(Bytes, f64)> {
    let sized = by_size(sources, &options.weights);
    let Some(((smallest, weight), others)) = sized.split_first() else {
        return Vec::new();
    };
    let mut result = Vec::new();
    'members: for (member, score) in smallest.entries() {
        let mut total = nan_to_zero(score * weight);
        for (other, other_weight) in others {
            let Some(score) = other.score(member) else {
                continue 'members;
            };
            total = options
                .aggregate
                .apply(total, nan_to_zero(score * other_weight));
        }
        result.push((member.clone(), total));
    }
    result
}

/// Members of the first source in none of the others, with their first-source scores.
fn difference(sources: &[Source]) -> Vec<(Bytes, f64)> {
    let Some((first, others)) = sources.split_first() else {
        return Vec::new();
    };
    first
        .entries()
        .filter(|(m, _)| others.iter().all(|o| o.score(m).is_none()))
        .map(|(m, s)| (m.clone(), s))
        .collect()
}

fn set_op_reply(
    exec: &mut Exec,
    args: &[Bytes],
    op: SetOp,
    name: &str,
) -> Result<Reply, CommandError> {
    let (sources, options) = read_set_op(exec, args, 1, op, name, false, false)?;
    let pairs = combine(&sources, &options, op);
    Ok(members_reply(pairs, options.withscores))
}

fn set_op_store(
    exec: &mut Exec,
    args: &[Bytes],
    op: SetOp,
    name: &str,
) -> Result<Reply, CommandError> {
    let (sources, options) = read_set_op(exec, args, 2, op, name, true, false)?;
    let pairs = combine(&sources, &options, op);
    Ok(store(exec, &args[1], pairs))
}

fn zunion(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    set_op_reply(exec, args, SetOp::Union, "zunion")
}

fn zinter(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    set_op_reply(exec, args, SetOp::Inter, "zinter")
}

fn zdiff(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    set_op_reply(exec, args, SetOp::Diff, "zdiff")
}

fn zunionstore(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    set_op_store(exec, args, SetOp::Union, "zunionstore")
}

fn zinterstore(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    set_op_store(exec, args, SetOp::Inter, "zinterstore")
}

fn zdiffstore(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    set_op_store(exec, args, SetOp::Diff, "zdiffstore")
}

/// `ZINTERCARD numkeys key [key ...] [LIMIT limit]`; LIMIT 0 means no limit.
fn zintercard(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let (sources, options) = read_set_op(exec, args, 1, SetOp::Inter, "zintercard", false, true)?;
    let mut count = intersection(&sources, &options).len();
    if options.limit > 0 {
        count = count.min(options.limit);
    }
    Ok(Reply::Int(count as i64))
}

// ---------------------------------------------------------------------------------------
// ZRANDMEMBER, ZSCAN

/// `ZRANDMEMBER key [count [WITHSCORES]]`: a positive count asks for distinct members,
/// a negative one for `-count` picks that may repeat.
fn zrandmember(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let Some(count) = args.get(2) else {
        count_read(exec, &args[1]);
        let now = exec.now_ms;
        let (db, rng) = db_and_rng(exec);
        let zset = db.read::<ZSet>(&args[1], now)?;
        let pick = zset.and_then(|z| z.members().random(rng));
        return Ok(Reply::bulk_opt(pick.map(|(m, _)| m.clone())));
    };
    let count = parse_i64(count)?;
    if count == i64::MIN {
        return Err(CommandError::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let withscores = match &args[3..] {
        [] => false,
        [option] if is(option, "withscores") => true,
        _ => return Err(CommandError::Syntax),
    };
    if withscores && !(-i64::MAX / 2..=i64::MAX / 2).contains(&count) {
        return Err(CommandError::err("value is out of range"));
    }
    count_read(exec, &args[1]);
    let now = exec.now_ms;
    let (db, rng) = db_and_rng(exec);
    let Some(zset) = db.read::<ZSet>(&args[1], now)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(members_reply(random_members(zset, count, rng), withscores))
}

fn random_members(zset: &ZSet, count: i64, rng: &mut StdRng) -> Vec<(Bytes, f64)> {
    let members = zset.members();
    let wanted = count.unsigned_abs() as usize;
    if count < 0 {
        return (0..wanted)
            .map(|_| members.random(rng).expect("live sorted sets are not empty"))
            .map(|(m, s)| (m.clone(), *s))
            .collect();
    }
    // The whole set comes in descending order, as Redis 7.0 replies it.
    if wanted >= members.len() {
        return owned(zset.iter().rev());
    }
    // Few picks from a big set probe random slots; otherwise shuffle all members.
    if wanted * 4 < members.len() {
        let mut picked = Dict::new();
        while picked.len() < wanted {
            let (member, score) = members.random(rng).expect("not empty");
            picked.insert(member.clone(), *score);
        }
        return picked.iter().map(|(m, s)| (m.clone(), *s)).collect();
    }
    let mut all = owned(members.iter().map(|(m, s)| (m, *s)));
    let (chosen, _) = all.partial_shuffle(rng, wanted);
    chosen.to_vec()
}

fn zscan(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let cursor = parse_scan_cursor(&args[2])?;
    let Some(zset) = read_zset(exec, &args[1])? else {
        return Ok(empty_scan());
    };
    let options = ScanOptions::parse(&args[3..], false)?;
    Ok(scan_reply(
        zset.members(),
        cursor,
        &options,
        |member, score, out| {
            out.push(Reply::Bulk(member.clone()));
            out.push(Reply::bulk(score_text(*score)));
        },
    ))
}

/// A score as Redis stores it in text form (`d2string`, what ZSCAN returns): integers
/// within ±2^62 are printed as integers, anything else like `%.17g`.
fn score_text(score: f64) -> String {
    const LIMIT: f64 = (i64::MAX / 2) as f64;
    if (-LIMIT..=LIMIT).contains(&score) && score == (score as i64) as f64 {
        (score as i64).to_string()
    } else {
        format_double(score)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scores_parse_like_the_general_path() {
        let huge = format!("1{}", "0".repeat(400));
        let tiny = format!("0.{}1", "0".repeat(400));
        let texts = [
            "1", "-2.5", "+3", ".5", "5.", "0", "-0", "1.2.3", "--1", "+-1", "", "-",
        ];
        for text in texts.iter().copied().chain([huge.as_str(), tiny.as_str()]) {
            let general = parse_any_score(text.as_bytes());
            assert_eq!(parse_score(text.as_bytes()), general, "{text}");
        }
    }
}
