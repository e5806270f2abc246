//! Hash commands. A hash is a `Dict<Bytes>`: HSCAN cursors are its stable slots, and
//! HRANDFIELD's picks are seeded probes of them, so replicas choose alike.
//!
//! Write commands look the key up read-only first and take it for writing only when they
//! will change it: taking a key marks it modified (WATCH), and Redis signals no change
//! for a no-op (HDEL of absent fields, HSETNX of an existing field, errors).

use super::flags::*;
use super::generic::{parse_scan_cursor, ScanOptions};
use super::long_double::LongDouble;
use super::{is, parse_i64, spec, stored_arg, CommandError, CommandSpec, Exec, Run, KEY1};
use crate::keyspace::{Db, Hash};
use crate::protocol::Reply;
use bytes::Bytes;
use rand::Rng;
use std::collections::HashSet;

const GROUP: &str = "hash";

pub static COMMANDS: &[CommandSpec] = &[
    spec(
        "hset",
        -4,
        WRITE | DENYOOM | FAST,
        KEY1,
        Run::Exec(hset),
        GROUP,
        "Creates or modifies the value of a field in a hash.",
    ),
    spec(
        "hsetnx",
        4,
        WRITE | DENYOOM | FAST,
        KEY1,
        Run::Exec(hsetnx),
        GROUP,
        "Sets the value of a field in a hash only when the field doesn't exist.",
    ),
    spec(
        "hmset",
        -4,
        WRITE | DENYOOM | FAST,
        KEY1,
        Run::Exec(hmset),
        GROUP,
        "Sets the values of multiple fields.",
    ),
    spec(
        "hget",
        3,
        READONLY | FAST,
        KEY1,
        Run::Exec(hget),
        GROUP,
        "Returns the value of a field in a hash.",
    ),
    spec(
        "hmget",
        -3,
        READONLY | FAST,
        KEY1,
        Run::Exec(hmget),
        GROUP,
        "Returns the values of all fields in a hash.",
    ),
    spec(
        "hdel",
        -3,
        WRITE | FAST,
        KEY1,
        Run::Exec(hdel),
        GROUP,
        "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.",
    ),
    spec(
        "hlen",
        2,
        READONLY | FAST,
        KEY1,
        Run::Exec(hlen),
        GROUP,
        "Returns the number of fields in a hash.",
    ),
    spec(
        "hstrlen",
        3,
        READONLY | FAST,
        KEY1,
        Run::Exec(hstrlen),
        GROUP,
        "Returns the length of the value of a field.",
    ),
    spec(
        "hexists",
        3,
        READONLY | FAST,
        KEY1,
        Run::Exec(hexists),
        GROUP,
        "Determines whether a field exists in a hash.",
    ),
    spec(
        "hkeys",
        2,
        READONLY,
        KEY1,
        Run::Exec(hkeys),
        GROUP,
        "Returns all fields in a hash.",
    ),
    spec(
        "hvals",
        2,
        READONLY,
        KEY1,
        Run::Exec(hvals),
        GROUP,
        "Returns all values in a hash.",
    ),
    spec(
        "hgetall",
        2,
        READONLY,
        KEY1,
        Run::Exec(hgetall),
        GROUP,
        "Returns all fields and values in a hash.",
    ),
    spec(
        "hincrby",
        4,
        WRITE | DENYOOM | FAST,
        KEY1,
        Run::Exec(hincrby),
        GROUP,
        "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.",
    ),
    spec(
        "hincrbyfloat",
        4,
        WRITE | DENYOOM | FAST,
        KEY1,
        Run::Exec(hincrbyfloat),
        GROUP,
        "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.",
    ),
    spec(
        "hrandfield",
        -2,
        READONLY,
        KEY1,
        Run::Exec(hrandfield),
        GROUP,
        "Returns one or more random fields from a hash.",
    ),
    spec(
        "hscan",
        -3,
        READONLY,
        KEY1,
        Run::Exec(hscan),
        GROUP,
        "Iterates over fields and values of a hash.",
    ),
];

/// Counts a read lookup of `key` for INFO as Redis does (a key of another type is a hit).
fn count_read(exec: &mut Exec, key: &[u8]) {
    let now = exec.now_ms;
    let hit = exec.db().contains(key, now);
    exec.count_lookup(hit);
}

/// Reads `key` as a hash for a read-only command, counting the lookup.
fn read_counted<'e>(exec: &'e mut Exec, key: &[u8]) -> Result<Option<&'e Hash>, CommandError> {
    count_read(exec, key);
    let now = exec.now_ms;
    exec.db().read::<Hash>(key, now)
}

/// The hash at `key`, which the caller has just seen with `Db::read`.
fn checked_hash<'d>(db: &'d mut Db, key: &[u8], now: u64) -> &'d mut Hash {
    db.write::<Hash>(key, now)
        .ok()
        .flatten()
        .expect("the caller checked the key holds a hash")
}

fn hset(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let created = set_fields(exec, args, "hset")?;
    Ok(Reply::Int(created as i64))
}

fn hmset(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    set_fields(exec, args, "hmset")?;
    Ok(Reply::OK)
}

/// HSET/HMSET: sets every field/value pair; returns how many fields are new.
fn set_fields(exec: &mut Exec, args: &[Bytes], name: &'static str) -> Result<usize, CommandError> {
    if !args.len().is_multiple_of(2) {
        return Err(CommandError::WrongArity(name));
    }
    let now = exec.now_ms;
    let hash = exec.db().write_or_create::<Hash>(&args[1], now)?;
    let created = args[2..]
        .chunks_exact(2)
        .filter(|pair| hash.upsert(&pair[0], stored_arg(&pair[1])).is_none())
        .count();
    Ok(created)
}

fn hsetnx(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    let db = exec.db();
    let (key, field) = (&args[1], &args[2]);
    if db
        .read::<Hash>(key, now)?
        .is_some_and(|h| h.contains_key(field))
    {
        return Ok(Reply::Int(0));
    }
    let hash = db.write_or_create::<Hash>(key, now)?;
    hash.upsert(field, stored_arg(&args[3]));
    Ok(Reply::Int(1))
}

fn hget(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let value = read_counted(exec, &args[1])?.and_then(|h| h.get(&args[2]).cloned());
    Ok(Reply::bulk_opt(value))
}

fn hmget(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let hash = read_counted(exec, &args[1])?;
    let values = args[2..]
        .iter()
        .map(|field| Reply::bulk_opt(hash.and_then(|h| h.get(field).cloned())))
        .collect();
    Ok(Reply::Array(values))
}

fn hdel(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    let db = exec.db();
    let key = &args[1];
    let Some(hash) = db.read::<Hash>(key, now)? else {
        return Ok(Reply::Int(0));
    };
    if !args[2..].iter().any(|f| hash.contains_key(f)) {
        return Ok(Reply::Int(0));
    }
    let hash = checked_hash(db, key, now);
    let removed = args[2..]
        .iter()
        .filter(|f| hash.remove(f).is_some())
        .count();
    db.remove_if_empty(key);
    Ok(Reply::Int(removed as i64))
}

fn hlen(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let len = read_counted(exec, &args[1])?.map_or(0, Hash::len);
    Ok(Reply::Int(len as i64))
}

fn hstrlen(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let hash = read_counted(exec, &args[1])?;
    let len = hash.and_then(|h| h.get(&args[2])).map_or(0, Bytes::len);
    Ok(Reply::Int(len as i64))
}

fn hexists(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let hash = read_counted(exec, &args[1])?;
    let exists = hash.is_some_and(|h| h.contains_key(&args[2]));
    Ok(Reply::Int(exists as i64))
}

fn hkeys(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let hash = read_counted(exec, &args[1])?;
    Ok(Reply::bulks(
        hash.into_iter().flat_map(|h| h.keys().cloned()),
    ))
}

fn hvals(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let hash = read_counted(exec, &args[1])?;
    let values = hash
        .into_iter()
        .flat_map(|h| h.iter().map(|(_, v)| v.clone()));
    Ok(Reply::bulks(values))
}

/// HGETALL: a map in RESP3 (an empty one for a missing key), flat pairs in RESP2.
fn hgetall(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let hash = read_counted(exec, &args[1])?;
    let pairs = hash.into_iter().flat_map(|h| {
        h.iter()
            .map(|(f, v)| (Reply::Bulk(f.clone()), Reply::Bulk(v.clone())))
    });
    Ok(Reply::Map(pairs.collect()))
}

fn hincrby(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let incr = parse_i64(&args[3])?;
    let now = exec.now_ms;
    let db = exec.db();
    let (key, field) = (&args[1], &args[2]);
    let current = match db.read::<Hash>(key, now)?.and_then(|h| h.get(field)) {
        Some(value) => {
            parse_i64(value).map_err(|_| CommandError::err("hash value is not an integer"))?
        }
        None => 0,
    };
    let sum = current.checked_add(incr).ok_or(CommandError::Overflow)?;
    let text = Bytes::copy_from_slice(itoa::Buffer::new().format(sum).as_bytes());
    db.write_or_create::<Hash>(key, now)?
        .insert(field.clone(), text);
    Ok(Reply::Int(sum))
}

/// HINCRBYFLOAT: `long double` arithmetic and formatting like Redis 7.0 (see
/// `long_double`), with HINCRBYFLOAT's own error texts.
fn hincrbyfloat(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let incr = LongDouble::parse(&args[3]).ok_or(CommandError::NotFloat)?;
    if !incr.is_finite() {
        return Err(CommandError::err("value is NaN or Infinity"));
    }
    let now = exec.now_ms;
    let db = exec.db();
    let (key, field) = (&args[1], &args[2]);
    let current = match db.read::<Hash>(key, now)?.and_then(|h| h.get(field)) {
        Some(value) => LongDouble::parse(value)
            .ok_or_else(|| CommandError::err("hash value is not a float"))?,
        None => LongDouble::ZERO,
    };
    let text = current.checked_add(incr)?.to_bytes();
    db.write_or_create::<Hash>(key, now)?
        .insert(field.clone(), text.clone());
    Ok(Reply::Bulk(text))
}

/// HRANDFIELD's count argument, with Redis's range and option errors, in its order.
fn parse_randfield_count(args: &[Bytes]) -> Result<(i64, bool), CommandError> {
    let count = parse_i64(&args[2])?;
    if count == i64::MIN {
        return Err(CommandError::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let with_values = match args.get(3) {
        None => false,
        Some(arg) if args.len() == 4 && is(arg, "withvalues") => true,
        Some(_) => return Err(CommandError::Syntax),
    };
    // Redis doubles the reply length for the values; it refuses counts that would overflow.
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(CommandError::err("value is out of range"));
    }
    Ok((count, with_values))
}

/// HRANDFIELD reads the hash and draws from `exec.rng` at once, so it borrows the two
/// fields of `Exec` separately.
fn hrandfield(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    if args.len() == 2 {
        count_read(exec, &args[1]);
        let hash = exec.store.dbs[exec.db].read::<Hash>(&args[1], now)?;
        let field = hash
            .and_then(|h| h.random(exec.rng.get()))
            .map(|(f, _)| f.clone());
        return Ok(Reply::bulk_opt(field));
    }
    let (count, with_values) = parse_randfield_count(args)?;
    count_read(exec, &args[1]);
    let Some(hash) = exec.store.dbs[exec.db].read::<Hash>(&args[1], now)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let picks = if count < 0 {
        // A negative count may repeat fields: independent picks.
        (0..count.unsigned_abs())
            .filter_map(|_| hash.random(exec.rng.get()))
            .collect()
    } else {
        distinct_picks(hash, count as usize, exec.rng.get())
    };
    let mut reply = Vec::new();
    for (field, value) in picks {
        reply.push(Reply::Bulk(field.clone()));
        if with_values {
            reply.push(Reply::Bulk(value.clone()));
        }
    }
    Ok(Reply::Array(reply))
}

/// `count` distinct entries: the whole hash when it has no more, otherwise Redis's two
/// strategies, both driven by the seeded rng so every replica picks the same.
fn distinct_picks<'h>(
    hash: &'h Hash,
    count: usize,
    rng: &mut impl Rng,
) -> Vec<(&'h Bytes, &'h Bytes)> {
    if count >= hash.len() {
        return hash.iter().collect();
    }
    if count.saturating_mul(3) > hash.len() {
        // Most of the hash is wanted: drop random entries until `count` remain.
        let mut all: Vec<_> = hash.iter().collect();
        while all.len() > count {
            all.swap_remove(rng.gen_range(0..all.len()));
        }
        return all;
    }
    // A small part is wanted: pick at random until enough distinct fields turn up.
    let mut seen = HashSet::new();
    let mut picked = Vec::with_capacity(count);
    while picked.len() < count {
        let (field, value) = hash.random(rng).expect("the hash is not empty");
        if seen.insert(field) {
            picked.push((field, value));
        }
    }
    picked
}

/// Redis 7.0 keeps a hash of at most this many entries, none longer than
/// `HASH_MAX_SMALL_LEN`, as a listpack, which HSCAN returns whole in one call.
const HASH_MAX_SMALL_ENTRIES: usize = 128;
const HASH_MAX_SMALL_LEN: usize = 64;

/// Whether Redis would hold this hash as a listpack (its default thresholds).
fn is_small(hash: &Hash) -> bool {
    hash.len() <= HASH_MAX_SMALL_ENTRIES
        && hash
            .iter()
            .all(|(f, v)| f.len() <= HASH_MAX_SMALL_LEN && v.len() <= HASH_MAX_SMALL_LEN)
}

/// HSCAN: a small hash is answered whole with cursor 0, like Redis's listpack; a larger
/// one by slot cursors, so a field present for the whole scan is always returned.
fn hscan(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let cursor = parse_scan_cursor(&args[2])?;
    let Some(hash) = read_counted(exec, &args[1])? else {
        return Ok(Reply::Array(vec![
            Reply::bulk("0"),
            Reply::Array(Vec::new()),
        ]));
    };
    let options = ScanOptions::parse(&args[3..], false)?;
    let mut found = Vec::new();
    let mut emit = |field: &Bytes, value: &Bytes| {
        if options.matches(field) {
            found.push(Reply::Bulk(field.clone()));
            found.push(Reply::Bulk(value.clone()));
        }
    };
    let next = if is_small(hash) {
        hash.iter().for_each(|(f, v)| emit(f, v));
        0
    } else {
        hash.scan(cursor, options.count, |f, v| emit(f, v))
    };
    Ok(Reply::Array(vec![
        Reply::bulk(next.to_string()),
        Reply::Array(found),
    ]))
}
