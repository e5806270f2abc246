//! Set commands. A set is a `Dict<()>`: SSCAN cursors are its stable slots, and random
//! picks (SPOP, SRANDMEMBER) probe slots with the request's seeded rng, so every replica
//! applying the same log pops the same members.

use super::flags::*;
use super::generic::{parse_scan_cursor, ScanOptions};
use super::{is, keys, parse_i64, spec, CommandError, CommandSpec, Exec, Keys, Run, KEY1};
use crate::keyspace::{Db, Dict, Set, Value};
use crate::protocol::Reply;
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

const GROUP: &str = "set";
const ALL_KEYS: Keys = keys(1, -1, 1);

pub static COMMANDS: &[CommandSpec] = &[
    spec("sadd", -3, WRITE | DENYOOM | FAST, KEY1, Run::Exec(sadd), GROUP, "Adds one or more members to a set. Creates the key if it doesn't exist."),
    spec("srem", -3, WRITE | FAST, KEY1, Run::Exec(srem), GROUP, "Removes one or more members from a set. Deletes the set if the last member was removed."),
    spec("scard", 2, READONLY | FAST, KEY1, Run::Exec(scard), GROUP, "Returns the number of members in a set."),
    spec("sismember", 3, READONLY | FAST, KEY1, Run::Exec(sismember), GROUP, "Determines whether a member belongs to a set."),
    spec("smismember", -3, READONLY | FAST, KEY1, Run::Exec(smismember), GROUP, "Determines whether multiple members belong to a set."),
    spec("smembers", 2, READONLY, KEY1, Run::Exec(smembers), GROUP, "Returns all members of a set."),
    spec("spop", -2, WRITE | FAST, KEY1, Run::Exec(spop), GROUP, "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped."),
    spec("srandmember", -2, READONLY, KEY1, Run::Exec(srandmember), GROUP, "Get one or multiple random members from a set"),
    spec("smove", 4, WRITE | FAST, keys(1, 2, 1), Run::Exec(smove), GROUP, "Moves a member from one set to another."),
    spec("sinter", -2, READONLY, ALL_KEYS, Run::Exec(sinter), GROUP, "Returns the intersect of multiple sets."),
    spec("sintercard", -3, READONLY, Keys::NumKeys { count_at: 1, extra_first: false }, Run::Exec(sintercard), GROUP, "Returns the number of members of the intersect of multiple sets."),
    spec("sinterstore", -3, WRITE | DENYOOM, ALL_KEYS, Run::Exec(sinterstore), GROUP, "Stores the intersect of multiple sets in a key."),
    spec("sunion", -2, READONLY, ALL_KEYS, Run::Exec(sunion), GROUP, "Returns the union of multiple sets."),
    spec("sunionstore", -3, WRITE | DENYOOM, ALL_KEYS, Run::Exec(sunionstore), GROUP, "Stores the union of multiple sets in a key."),
    spec("sdiff", -2, READONLY, ALL_KEYS, Run::Exec(sdiff), GROUP, "Returns the difference of multiple sets."),
    spec("sdiffstore", -3, WRITE | DENYOOM, ALL_KEYS, Run::Exec(sdiffstore), GROUP, "Stores the difference of multiple sets in a key."),
    spec("sscan", -3, READONLY, KEY1, Run::Exec(sscan), GROUP, "Iterates over members of a set."),
];

/// The set at `key` for a read command, counted as a keyspace hit or miss.
fn read_set<'a>(exec: &'a mut Exec, key: &[u8]) -> Result<Option<&'a Set>, CommandError> {
    count_read(exec, key);
    let now = exec.now_ms;
    exec.db().read::<Set>(key, now)
}

/// Counts a read lookup of `key` as a keyspace hit or miss (whatever its type).
pub(super) fn count_read(exec: &mut Exec, key: &[u8]) {
    let now = exec.now_ms;
    let hit = exec.db().contains(key, now);
    exec.count_lookup(hit);
}

/// The sets at `keys`, missing ones as `None`. Every key is type-checked first, as Redis
/// does before it takes any shortcut on a missing key. `count` says whether the lookups
/// are reads for INFO's hit/miss counters (the *STORE forms look up for writing).
fn read_sets<'a>(
    exec: &'a mut Exec,
    keys: &[Bytes],
    count: bool,
) -> Result<Vec<Option<&'a Set>>, CommandError> {
    let now = exec.now_ms;
    for key in keys {
        if count {
            count_read(exec, key);
        }
        exec.db().read::<Set>(key, now)?;
    }
    let db: &'a Db = exec.db();
    keys.iter().map(|k| db.read::<Set>(k, now)).collect()
}

/// The db and the seeded rng together, for commands that pick at random.
fn db_and_rng<'a>(exec: &'a mut Exec) -> (&'a mut Db, &'a mut StdRng) {
    (&mut exec.store.dbs[exec.db], exec.rng.get())
}

// Writes look first and leave the key alone when nothing would change: a write marks the
// key modified, and WATCH must not see a change where Redis signals none.

fn sadd(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    let added = exec.db().update::<Set, _>(&args[1], now, |set, _| {
        let added = args[2..]
            .iter()
            .filter(|m| set.upsert(m, ()).is_none())
            .count();
        Ok((added, added > 0))
    })?;
    Ok(Reply::Int(added as i64))
}

fn srem(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    let db = exec.db();
    let current = db.read::<Set>(&args[1], now)?;
    if !current.is_some_and(|set| args[2..].iter().any(|m| set.contains_key(m))) {
        return Ok(Reply::Int(0));
    }
    let set = db.write::<Set>(&args[1], now)?.expect("just read");
    let removed = args[2..].iter().filter(|m| set.remove(m).is_some()).count();
    db.remove_if_empty(&args[1]);
    Ok(Reply::Int(removed as i64))
}

fn scard(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let len = read_set(exec, &args[1])?.map_or(0, Dict::len);
    Ok(Reply::Int(len as i64))
}

fn sismember(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let set = read_set(exec, &args[1])?;
    Ok(Reply::Int(is_member(set, &args[2]) as i64))
}

fn smismember(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let set = read_set(exec, &args[1])?;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|m| Reply::Int(is_member(set, m) as i64))
            .collect(),
    ))
}

fn is_member(set: Option<&Set>, member: &[u8]) -> bool {
    set.is_some_and(|s| s.contains_key(member))
}

fn smembers(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let set = read_set(exec, &args[1])?;
    Ok(members_reply(set.into_iter().flat_map(Dict::keys).cloned()))
}

/// An unordered reply (`~` in RESP3), as Redis gives for whole sets.
fn members_reply(members: impl IntoIterator<Item = Bytes>) -> Reply {
    Reply::Set(members.into_iter().map(Reply::Bulk).collect())
}

fn spop(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    match args.len() {
        2 => spop_one(exec, &args[1]),
        3 => spop_count(exec, &args[1], &args[2]),
        _ => Err(CommandError::Syntax),
    }
}

fn spop_one(exec: &mut Exec, key: &Bytes) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    let (db, rng) = db_and_rng(exec);
    let Some(set) = db.write::<Set>(key, now)? else {
        return Ok(Reply::Nil);
    };
    let member = set.random(rng).expect("live sets are not empty").0.clone();
    set.remove(&member);
    db.remove_if_empty(key);
    Ok(Reply::Bulk(member))
}

fn spop_count(exec: &mut Exec, key: &Bytes, count: &[u8]) -> Result<Reply, CommandError> {
    let count = parse_positive(count)?;
    let now = exec.now_ms;
    let (db, rng) = db_and_rng(exec);
    let Some(len) = db.read::<Set>(key, now)?.map(Dict::len) else {
        return Ok(members_reply([]));
    };
    if count == 0 {
        return Ok(members_reply([]));
    }
    if count >= len {
        let whole = db.remove(key).map(|e| e.value);
        let Some(Value::Set(set)) = whole else {
            unreachable!("type checked above")
        };
        return Ok(members_reply(set.keys().cloned()));
    }
    let set = db.write::<Set>(key, now)?.expect("just read");
    let popped = pick_distinct(set, count, rng);
    for member in &popped {
        set.remove(member);
    }
    Ok(members_reply(popped))
}

/// Redis's `getPositiveLongFromObjectOrReply`, which gives the same text for a negative
/// number and for no number at all.
pub(super) fn parse_positive(arg: &[u8]) -> Result<usize, CommandError> {
    parse_i64(arg)
        .ok()
        .filter(|&n| n >= 0)
        .map(|n| n as usize)
        .ok_or_else(|| CommandError::err("value is out of range, must be positive"))
}

/// `count` distinct random members of `set` (`count < set.len()`). Few picks from a big
/// set probe random slots; otherwise a partial shuffle of all members avoids the many
/// rejected probes. Both depend only on the dict's layout and `rng`.
fn pick_distinct(set: &Set, count: usize, rng: &mut StdRng) -> Vec<Bytes> {
    if count * 4 < set.len() {
        let mut picked = Set::new();
        while picked.len() < count {
            let (member, _) = set.random(rng).expect("set is not empty");
            picked.insert(member.clone(), ());
        }
        return picked.keys().cloned().collect();
    }
    let mut all: Vec<Bytes> = set.keys().cloned().collect();
    let (chosen, _) = all.partial_shuffle(rng, count);
    chosen.to_vec()
}

fn srandmember(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    match args.len() {
        2 => srandmember_one(exec, &args[1]),
        3 => srandmember_count(exec, &args[1], &args[2]),
        _ => Err(CommandError::Syntax),
    }
}

fn srandmember_one(exec: &mut Exec, key: &[u8]) -> Result<Reply, CommandError> {
    count_read(exec, key);
    let now = exec.now_ms;
    let (db, rng) = db_and_rng(exec);
    let set = db.read::<Set>(key, now)?;
    Ok(Reply::bulk_opt(
        set.and_then(|s| s.random(rng)).map(|(m, _)| m.clone()),
    ))
}

/// A positive count asks for distinct members, a negative one for `-count` picks that may
/// repeat.
fn srandmember_count(exec: &mut Exec, key: &[u8], count: &[u8]) -> Result<Reply, CommandError> {
    let count = parse_i64(count)?;
    if count == i64::MIN {
        return Err(CommandError::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    count_read(exec, key);
    let now = exec.now_ms;
    let (db, rng) = db_and_rng(exec);
    let Some(set) = db.read::<Set>(key, now)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let wanted = count.unsigned_abs() as usize;
    let members: Vec<Bytes> = if count < 0 {
        (0..wanted)
            .map(|_| set.random(rng).expect("set is not empty").0.clone())
            .collect()
    } else if wanted >= set.len() {
        set.keys().cloned().collect()
    } else {
        pick_distinct(set, wanted, rng)
    };
    Ok(Reply::bulks(members))
}

fn smove(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let (src, dst, member) = (&args[1], &args[2], &args[3]);
    let now = exec.now_ms;
    let db = exec.db();
    // A missing source answers 0 before the destination's type is looked at.
    let Some(source) = db.read::<Set>(src, now)? else {
        return Ok(Reply::Int(0));
    };
    db.read::<Set>(dst, now)?;
    if !source.contains_key(member) {
        return Ok(Reply::Int(0));
    }
    if src == dst {
        return Ok(Reply::Int(1));
    }
    if let Some(source) = db.write::<Set>(src, now)? {
        source.remove(member);
    }
    db.remove_if_empty(src);
    db.write_or_create::<Set>(dst, now)?
        .insert(member.clone(), ());
    Ok(Reply::Int(1))
}

/// The members common to all `sets` (empty when one is missing); walks the smallest.
fn intersect(sets: &[Option<&Set>], limit: usize) -> Set {
    let mut result = Set::new();
    let Some(mut sets) = sets.iter().copied().collect::<Option<Vec<&Set>>>() else {
        return result;
    };
    sets.sort_by_key(|s| s.len());
    let (smallest, others) = sets.split_first().expect("at least one key");
    for member in smallest.keys() {
        if limit > 0 && result.len() >= limit {
            break;
        }
        if others.iter().all(|s| s.contains_key(member)) {
            result.insert(member.clone(), ());
        }
    }
    result
}

fn union(sets: &[Option<&Set>]) -> Set {
    let mut result = Set::new();
    for member in sets.iter().flatten().flat_map(|s| s.keys()) {
        if !result.contains_key(member) {
            result.insert(member.clone(), ());
        }
    }
    result
}

/// The members of the first set that are in none of the others.
fn difference(sets: &[Option<&Set>]) -> Set {
    let mut result = Set::new();
    let Some((Some(first), others)) = sets.split_first() else {
        return result;
    };
    for member in first.keys() {
        if !others.iter().flatten().any(|s| s.contains_key(member)) {
            result.insert(member.clone(), ());
        }
    }
    result
}

/// Computes a set operation over `keys` and replies with the members.
fn set_op(
    exec: &mut Exec,
    keys: &[Bytes],
    op: fn(&[Option<&Set>]) -> Set,
) -> Result<Reply, CommandError> {
    let sets = read_sets(exec, keys, true)?;
    Ok(members_reply(op(&sets).keys().cloned()))
}

/// Computes a set operation over `args[2..]` and stores it at `args[1]` in one step:
/// an empty result deletes the destination, whatever it held.
fn set_op_store(
    exec: &mut Exec,
    args: &[Bytes],
    op: fn(&[Option<&Set>]) -> Set,
) -> Result<Reply, CommandError> {
    let result = op(&read_sets(exec, &args[2..], false)?);
    let len = result.len();
    let now = exec.now_ms;
    let db = exec.db();
    if result.is_empty() {
        db.delete(&args[1], now);
    } else {
        db.set(args[1].clone(), Value::Set(Box::new(result)));
    }
    Ok(Reply::Int(len as i64))
}

fn intersect_all(sets: &[Option<&Set>]) -> Set {
    intersect(sets, 0)
}

fn sinter(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    set_op(exec, &args[1..], intersect_all)
}

fn sinterstore(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    set_op_store(exec, args, intersect_all)
}

fn sunion(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    set_op(exec, &args[1..], union)
}

fn sunionstore(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    set_op_store(exec, args, union)
}

fn sdiff(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    set_op(exec, &args[1..], difference)
}

fn sdiffstore(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    set_op_store(exec, args, difference)
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`; LIMIT 0 means no limit.
fn sintercard(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let keys = numkeys_args(args, 1)?;
    let mut limit = 0;
    let mut options = args[2 + keys.len()..].iter();
    while let Some(option) = options.next() {
        match options.as_slice().first() {
            Some(value) if is(option, "limit") => {
                limit = parse_i64(value)
                    .ok()
                    .filter(|&n| n >= 0)
                    .ok_or_else(|| CommandError::err("LIMIT can't be negative"))?;
                options.next();
            }
            _ => return Err(CommandError::Syntax),
        }
    }
    let sets = read_sets(exec, keys, true)?;
    Ok(Reply::Int(intersect(&sets, limit as usize).len() as i64))
}

/// The keys of a `numkeys key [key ...]` command whose count is at `args[at]`, with
/// Redis 7.0's error texts.
fn numkeys_args(args: &[Bytes], at: usize) -> Result<&[Bytes], CommandError> {
    let numkeys = parse_i64(&args[at])
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| CommandError::err("numkeys should be greater than 0"))?;
    let available = args.len() - at - 1;
    if numkeys as u64 > available as u64 {
        return Err(CommandError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    Ok(&args[at + 1..at + 1 + numkeys as usize])
}

fn sscan(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let cursor = parse_scan_cursor(&args[2])?;
    let Some(set) = read_set(exec, &args[1])? else {
        return Ok(empty_scan());
    };
    let options = ScanOptions::parse(&args[3..], false)?;
    Ok(scan_reply(set, cursor, &options, |member, _, out| {
        out.push(Reply::Bulk(member.clone()))
    }))
}

/// The reply to a scan of a missing key: cursor 0, no elements.
pub(super) fn empty_scan() -> Reply {
    Reply::Array(vec![Reply::bulk("0"), Reply::Array(Vec::new())])
}

/// Scans `dict` from `cursor` (a slot number) and replies `[next cursor, elements]`;
/// `emit` turns each matching entry into reply elements. Like Redis, COUNT is how many
/// entries to look at (before MATCH filters them), with at most ten empty slots walked
/// per unit of COUNT.
pub(super) fn scan_reply<V>(
    dict: &Dict<V>,
    mut cursor: u64,
    options: &ScanOptions,
    mut emit: impl FnMut(&Bytes, &V, &mut Vec<Reply>),
) -> Reply {
    let mut elements = Vec::new();
    let mut visited = 0;
    let mut budget = options.count.saturating_mul(10);
    loop {
        cursor = dict.scan(cursor, 1, |key, value| {
            visited += 1;
            if options.matches(key) {
                emit(key, value, &mut elements);
            }
        });
        budget -= 1;
        if cursor == 0 || visited >= options.count || budget == 0 {
            break;
        }
    }
    Reply::Array(vec![
        Reply::bulk(cursor.to_string()),
        Reply::Array(elements),
    ])
}
