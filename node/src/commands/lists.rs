//! List commands, including the blocking pops.
//!
//! Write commands look the key up read-only first and take it for writing only when they
//! will change it: taking a key for writing marks it modified (WATCH, blocked clients),
//! and Redis does not signal a change for a no-op (LREM that finds nothing, LINSERT
//! without its pivot, a WRONGTYPE error…).
//!
//! Blocking commands (BLPOP, BLMOVE, BLMPOP…) are their non-blocking attempt: when every
//! key is empty they answer the null Redis gives on timeout, which tells the session to
//! wait for a key to change and retry (inside MULTI the null is the answer).

use super::flags::*;
use super::{
    is, keys, parse_i64, parse_timeout, spec, stored_arg, CommandError, CommandSpec, Exec, Keys,
    Run, KEY1,
};
use crate::keyspace::{Db, List};
use crate::protocol::Reply;
use bytes::Bytes;

const GROUP: &str = "list";

/// Source and destination at positions 1 and 2 (LMOVE, RPOPLPUSH and blocking forms).
const SRC_DST: Keys = keys(1, 2, 1);

pub static COMMANDS: &[CommandSpec] = &[
    spec(
        "lpush",
        -3,
        WRITE | DENYOOM | FAST,
        KEY1,
        Run::Exec(lpush),
        GROUP,
        "Prepends one or more elements to a list. Creates the key if it doesn't exist.",
    ),
    spec(
        "rpush",
        -3,
        WRITE | DENYOOM | FAST,
        KEY1,
        Run::Exec(rpush),
        GROUP,
        "Appends one or more elements to a list. Creates the key if it doesn't exist.",
    ),
    spec(
        "lpushx",
        -3,
        WRITE | DENYOOM | FAST,
        KEY1,
        Run::Exec(lpushx),
        GROUP,
        "Prepends one or more elements to a list only when the list exists.",
    ),
    spec(
        "rpushx",
        -3,
        WRITE | DENYOOM | FAST,
        KEY1,
        Run::Exec(rpushx),
        GROUP,
        "Appends an element to a list only when the list exists.",
    ),
    spec(
        "lpop",
        -2,
        WRITE | FAST,
        KEY1,
        Run::Exec(lpop),
        GROUP,
        "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.",
    ),
    spec(
        "rpop",
        -2,
        WRITE | FAST,
        KEY1,
        Run::Exec(rpop),
        GROUP,
        "Returns and removes the last elements of a list. Deletes the list if the last element was popped.",
    ),
    spec(
        "llen",
        2,
        READONLY | FAST,
        KEY1,
        Run::Exec(llen),
        GROUP,
        "Returns the length of a list.",
    ),
    spec(
        "lindex",
        3,
        READONLY,
        KEY1,
        Run::Exec(lindex),
        GROUP,
        "Returns an element from a list by its index.",
    ),
    spec(
        "lset",
        4,
        WRITE | DENYOOM,
        KEY1,
        Run::Exec(lset),
        GROUP,
        "Sets the value of an element in a list by its index.",
    ),
    spec(
        "lrange",
        4,
        READONLY,
        KEY1,
        Run::Exec(lrange),
        GROUP,
        "Returns a range of elements from a list.",
    ),
    spec(
        "ltrim",
        4,
        WRITE,
        KEY1,
        Run::Exec(ltrim),
        GROUP,
        "Removes elements from both ends a list. Deletes the list if all elements were trimmed.",
    ),
    spec(
        "lrem",
        4,
        WRITE,
        KEY1,
        Run::Exec(lrem),
        GROUP,
        "Removes elements from a list. Deletes the list if the last element was removed.",
    ),
    spec(
        "linsert",
        5,
        WRITE | DENYOOM,
        KEY1,
        Run::Exec(linsert),
        GROUP,
        "Inserts an element before or after another element in a list.",
    ),
    spec(
        "lpos",
        -3,
        READONLY,
        KEY1,
        Run::Exec(lpos),
        GROUP,
        "Returns the index of matching elements in a list.",
    ),
    spec(
        "lmove",
        5,
        WRITE | DENYOOM,
        SRC_DST,
        Run::Exec(lmove),
        GROUP,
        "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.",
    ),
    spec(
        "rpoplpush",
        3,
        WRITE | DENYOOM,
        SRC_DST,
        Run::Exec(rpoplpush),
        GROUP,
        "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.",
    ),
    spec(
        "lmpop",
        -4,
        WRITE,
        Keys::NumKeys {
            count_at: 1,
            extra_first: false,
        },
        Run::Exec(lmpop),
        GROUP,
        "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.",
    ),
    spec(
        "blpop",
        -3,
        WRITE | NOSCRIPT | BLOCKING,
        keys(1, -2, 1),
        Run::Exec(blpop),
        GROUP,
        "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
    ),
    spec(
        "brpop",
        -3,
        WRITE | NOSCRIPT | BLOCKING,
        keys(1, -2, 1),
        Run::Exec(brpop),
        GROUP,
        "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
    ),
    spec(
        "blmove",
        6,
        WRITE | DENYOOM | NOSCRIPT | BLOCKING,
        SRC_DST,
        Run::Exec(blmove),
        GROUP,
        "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.",
    ),
    spec(
        "brpoplpush",
        4,
        WRITE | DENYOOM | NOSCRIPT | BLOCKING,
        SRC_DST,
        Run::Exec(brpoplpush),
        GROUP,
        "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.",
    ),
    spec(
        "blmpop",
        -5,
        WRITE | BLOCKING,
        Keys::NumKeys {
            count_at: 2,
            extra_first: false,
        },
        Run::Exec(blmpop),
        GROUP,
        "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
    ),
];

/// Which end of a list an operation works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Left,
    Right,
}

impl End {
    /// `LEFT` or `RIGHT`, any case; anything else is a syntax error.
    fn parse(arg: &[u8]) -> Result<End, CommandError> {
        if is(arg, "left") {
            Ok(End::Left)
        } else if is(arg, "right") {
            Ok(End::Right)
        } else {
            Err(CommandError::Syntax)
        }
    }

    fn pop(self, list: &mut List) -> Option<Bytes> {
        match self {
            End::Left => list.pop_front(),
            End::Right => list.pop_back(),
        }
    }

    fn push(self, list: &mut List, value: Bytes) {
        match self {
            End::Left => list.push_front(value),
            End::Right => list.push_back(value),
        }
    }
}

/// Reads `key` as a list for a read-only command, counting the lookup for INFO as Redis
/// does (a key of another type counts as a hit).
fn read_counted<'e>(exec: &'e mut Exec, key: &[u8]) -> Result<Option<&'e List>, CommandError> {
    let now = exec.now_ms;
    let hit = exec.db().contains(key, now);
    exec.count_lookup(hit);
    exec.db().read::<List>(key, now)
}

/// The list at `key`, which the caller has just seen with `Db::read`.
fn checked_list<'d>(db: &'d mut Db, key: &[u8], now: u64) -> &'d mut List {
    db.write::<List>(key, now)
        .ok()
        .flatten()
        .expect("the caller checked the key holds a list")
}

/// Pops up to `count` elements from the list at `key` (known to exist), deleting the key
/// when it empties.
fn pop_existing(db: &mut Db, key: &[u8], now: u64, end: End, count: usize) -> Vec<Bytes> {
    let list = checked_list(db, key, now);
    let popped = (0..count.min(list.len()))
        .filter_map(|_| end.pop(list))
        .collect();
    db.remove_if_empty(key);
    popped
}

/// A list index (negative from the end) as a position, when it is inside the list.
fn position(index: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let index = if index < 0 { len + index } else { index };
    (0..len).contains(&index).then_some(index as usize)
}

/// LRANGE/LTRIM's clamping: the inclusive range `start..=end` inside the list, if any.
fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

fn lpush(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    push(exec, args, End::Left, false)
}

fn rpush(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    push(exec, args, End::Right, false)
}

fn lpushx(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    push(exec, args, End::Left, true)
}

fn rpushx(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    push(exec, args, End::Right, true)
}

/// The push family; the `*X` forms push only onto a list that exists.
fn push(
    exec: &mut Exec,
    args: &[Bytes],
    end: End,
    only_existing: bool,
) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    let db = exec.db();
    let key = &args[1];
    if only_existing && db.read::<List>(key, now)?.is_none() {
        return Ok(Reply::Int(0));
    }
    let list = db.write_or_create::<List>(key, now)?;
    for value in &args[2..] {
        end.push(list, stored_arg(value));
    }
    Ok(Reply::Int(list.len() as i64))
}

fn lpop(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    pop(exec, args, End::Left)
}

fn rpop(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    pop(exec, args, End::Right)
}

/// LPOP/RPOP: one element as a bulk, or with a count an array (a null array when the key
/// is missing, an empty one for a count of 0).
fn pop(exec: &mut Exec, args: &[Bytes], end: End) -> Result<Reply, CommandError> {
    let name = if end == End::Left { "lpop" } else { "rpop" };
    if args.len() > 3 {
        return Err(CommandError::WrongArity(name));
    }
    let count = match args.get(2) {
        Some(arg) => Some(
            parse_i64(arg)
                .ok()
                .filter(|&n| n >= 0)
                .ok_or_else(|| CommandError::err("value is out of range, must be positive"))?
                as usize,
        ),
        None => None,
    };
    let now = exec.now_ms;
    let db = exec.db();
    let key = &args[1];
    if db.read::<List>(key, now)?.is_none() {
        return Ok(if count.is_some() {
            Reply::NilArray
        } else {
            Reply::Nil
        });
    }
    match count {
        Some(0) => Ok(Reply::Array(Vec::new())),
        Some(n) => Ok(Reply::bulks(pop_existing(db, key, now, end, n))),
        None => Ok(Reply::bulk_opt(
            pop_existing(db, key, now, end, 1).into_iter().next(),
        )),
    }
}

fn llen(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let len = read_counted(exec, &args[1])?.map_or(0, List::len);
    Ok(Reply::Int(len as i64))
}

fn lindex(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let Some(list) = read_counted(exec, &args[1])? else {
        return Ok(Reply::Nil);
    };
    let index = parse_i64(&args[2])?;
    Ok(Reply::bulk_opt(
        position(index, list.len()).map(|i| list[i].clone()),
    ))
}

fn lset(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    let db = exec.db();
    let key = &args[1];
    let len = db
        .read::<List>(key, now)?
        .ok_or(CommandError::NoSuchKey)?
        .len();
    let index = parse_i64(&args[2])?;
    let at = position(index, len).ok_or(CommandError::IndexOutOfRange)?;
    checked_list(db, key, now)[at] = args[3].clone();
    Ok(Reply::OK)
}

fn lrange(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let (start, end) = (parse_i64(&args[2])?, parse_i64(&args[3])?);
    let Some(list) = read_counted(exec, &args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(match clamp_range(start, end, list.len()) {
        Some((from, to)) => Reply::encoded_bulks(list.range(from..=to).map(|b| &b[..])),
        None => Reply::Array(Vec::new()),
    })
}

fn ltrim(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let (start, end) = (parse_i64(&args[2])?, parse_i64(&args[3])?);
    let now = exec.now_ms;
    let db = exec.db();
    let key = &args[1];
    if db.read::<List>(key, now)?.is_none() {
        return Ok(Reply::OK);
    }
    // Redis signals a change even when nothing is trimmed, so taking the key is right.
    let list = checked_list(db, key, now);
    match clamp_range(start, end, list.len()) {
        Some((from, to)) => {
            list.truncate(to + 1);
            list.drain(..from);
        }
        None => list.clear(),
    }
    db.remove_if_empty(key);
    Ok(Reply::OK)
}

fn lrem(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let count = parse_i64(&args[2])?;
    let now = exec.now_ms;
    let db = exec.db();
    let key = &args[1];
    let Some(list) = db.read::<List>(key, now)? else {
        return Ok(Reply::Int(0));
    };
    let doomed = matching_positions(list, &args[3], count);
    if doomed.is_empty() {
        return Ok(Reply::Int(0));
    }
    let list = checked_list(db, key, now);
    let mut index = 0;
    list.retain(|_| {
        let keep = doomed.binary_search(&index).is_err();
        index += 1;
        keep
    });
    db.remove_if_empty(key);
    Ok(Reply::Int(doomed.len() as i64))
}

/// LREM's victims in ascending order: the first `count` matches from the head, from the
/// tail when negative, all when 0.
fn matching_positions(list: &List, element: &[u8], count: i64) -> Vec<usize> {
    let limit = match count.unsigned_abs() {
        0 => usize::MAX,
        n => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let matches = |(_, v): &(usize, &Bytes)| v.as_ref() == element;
    let mut found: Vec<usize> = if count < 0 {
        let tail_first = list.iter().enumerate().rev().filter(matches);
        tail_first.take(limit).map(|(i, _)| i).collect()
    } else {
        let head_first = list.iter().enumerate().filter(matches);
        head_first.take(limit).map(|(i, _)| i).collect()
    };
    found.sort_unstable();
    found
}

fn linsert(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let after = if is(&args[2], "after") {
        true
    } else if is(&args[2], "before") {
        false
    } else {
        return Err(CommandError::Syntax);
    };
    let now = exec.now_ms;
    let db = exec.db();
    let key = &args[1];
    let Some(list) = db.read::<List>(key, now)? else {
        return Ok(Reply::Int(0));
    };
    let Some(pivot) = list.iter().position(|v| v == &args[3]) else {
        return Ok(Reply::Int(-1));
    };
    let list = checked_list(db, key, now);
    list.insert(pivot + after as usize, args[4].clone());
    Ok(Reply::Int(list.len() as i64))
}

/// LPOS's options; `count` is `None` when COUNT was not given (a single reply).
struct LposOptions {
    rank: i64,
    count: Option<i64>,
    maxlen: i64,
}

fn parse_lpos_options(args: &[Bytes]) -> Result<LposOptions, CommandError> {
    let mut options = LposOptions {
        rank: 1,
        count: None,
        maxlen: 0,
    };
    let non_negative = |arg: &[u8], message: &'static str| {
        parse_i64(arg)
            .ok()
            .filter(|&n| n >= 0)
            .ok_or_else(|| CommandError::err(message))
    };
    let mut i = 3;
    while i < args.len() {
        let (option, value) = match args.get(i + 1) {
            Some(value) => (&args[i], value),
            None => return Err(CommandError::Syntax),
        };
        if is(option, "rank") {
            options.rank = parse_i64(value)?;
            if options.rank == 0 {
                return Err(CommandError::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                ));
            }
        } else if is(option, "count") {
            options.count = Some(non_negative(value, "COUNT can't be negative")?);
        } else if is(option, "maxlen") {
            options.maxlen = non_negative(value, "MAXLEN can't be negative")?;
        } else {
            return Err(CommandError::Syntax);
        }
        i += 2;
    }
    Ok(options)
}

fn lpos(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let options = parse_lpos_options(args)?;
    let Some(list) = read_counted(exec, &args[1])? else {
        return Ok(match options.count {
            Some(_) => Reply::Array(Vec::new()),
            None => Reply::Nil,
        });
    };
    let found = find_positions(list, &args[2], &options);
    Ok(match options.count {
        Some(_) => Reply::Array(found.into_iter().map(Reply::Int).collect()),
        None => found.first().map_or(Reply::Nil, |&i| Reply::Int(i)),
    })
}

/// Redis's LPOS scan, with its arithmetic: a negative rank walks from the tail, and
/// i64::MIN stays negative when negated (wrapping, as in C), so every match qualifies.
fn find_positions(list: &List, element: &[u8], options: &LposOptions) -> Vec<i64> {
    let from_tail = options.rank < 0;
    let rank = if from_tail {
        options.rank.wrapping_neg()
    } else {
        options.rank
    };
    let len = list.len() as i64;
    let scanned = match options.maxlen {
        0 => list.len(),
        n => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let order: Box<dyn Iterator<Item = (usize, &Bytes)>> = if from_tail {
        Box::new(list.iter().rev().enumerate())
    } else {
        Box::new(list.iter().enumerate())
    };
    let mut matches: i64 = 0;
    let mut found = Vec::new();
    for (walked, value) in order.take(scanned) {
        if value.as_ref() != element {
            continue;
        }
        matches += 1;
        if matches < rank {
            continue;
        }
        let walked = walked as i64;
        found.push(if from_tail { len - walked - 1 } else { walked });
        let Some(wanted) = options.count else {
            break;
        };
        let enough = matches.wrapping_sub(rank).wrapping_add(1) >= wanted;
        if wanted != 0 && enough {
            break;
        }
    }
    found
}

fn lmove(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let (from, to) = (End::parse(&args[3])?, End::parse(&args[4])?);
    move_element(exec, &args[1], &args[2], from, to)
}

fn rpoplpush(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    move_element(exec, &args[1], &args[2], End::Right, End::Left)
}

/// LMOVE: pops from `src` and pushes onto `dst` (the same list rotates), returning the
/// element, or a null when `src` is missing.
fn move_element(
    exec: &mut Exec,
    src: &Bytes,
    dst: &Bytes,
    from: End,
    to: End,
) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    let db = exec.db();
    if db.read::<List>(src, now)?.is_none() {
        return Ok(Reply::Nil);
    }
    db.read::<List>(dst, now)?;
    let value = from
        .pop(checked_list(db, src, now))
        .expect("lists are never empty");
    to.push(db.write_or_create::<List>(dst, now)?, value.clone());
    // Only after the push: a one-element list rotated onto itself must survive, TTL and all.
    db.remove_if_empty(src);
    Ok(Reply::Bulk(value))
}

/// The parsed arguments of LMPOP/BLMPOP after the numkeys position.
struct MpopArgs<'a> {
    keys: &'a [Bytes],
    end: End,
    count: usize,
}

/// Parses `numkeys key… LEFT|RIGHT [COUNT n]` starting at `numkeys_at`, with Redis's errors.
fn parse_mpop(args: &[Bytes], numkeys_at: usize) -> Result<MpopArgs<'_>, CommandError> {
    let numkeys = parse_i64(&args[numkeys_at])
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| CommandError::err("numkeys should be greater than 0"))?;
    let end_at = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(numkeys_at + 1))
        .filter(|&at| at < args.len())
        .ok_or(CommandError::Syntax)?;
    let end = End::parse(&args[end_at])?;
    let mut count = None;
    let mut i = end_at + 1;
    while i < args.len() {
        match args.get(i + 1) {
            Some(value) if count.is_none() && is(&args[i], "count") => {
                count = Some(
                    parse_i64(value)
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| CommandError::err("count should be greater than 0"))?,
                );
                i += 2;
            }
            _ => return Err(CommandError::Syntax),
        }
    }
    Ok(MpopArgs {
        keys: &args[numkeys_at + 1..end_at],
        end,
        count: count.map_or(1, |n| usize::try_from(n).unwrap_or(usize::MAX)),
    })
}

/// Pops from the first key holding a list; WRONGTYPE if a key of another type comes
/// before it. `None` when every key is missing.
fn pop_first_list(
    exec: &mut Exec,
    keys: &[Bytes],
    end: End,
    count: usize,
) -> Result<Option<(Bytes, Vec<Bytes>)>, CommandError> {
    let now = exec.now_ms;
    let db = exec.db();
    for key in keys {
        if db.read::<List>(key, now)?.is_some() {
            let popped = pop_existing(db, key, now, end, count);
            return Ok(Some((key.clone(), popped)));
        }
    }
    Ok(None)
}

fn lmpop(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let mpop = parse_mpop(args, 1)?;
    mpop_reply(exec, &mpop)
}

fn blmpop(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let mpop = parse_mpop(args, 2)?;
    // The session has parsed the timeout already, but inside MULTI it does not.
    parse_timeout(&args[1])?;
    mpop_reply(exec, &mpop)
}

/// `[key, [elements…]]`, or a null array when every key is empty.
fn mpop_reply(exec: &mut Exec, mpop: &MpopArgs) -> Result<Reply, CommandError> {
    Ok(
        match pop_first_list(exec, mpop.keys, mpop.end, mpop.count)? {
            Some((key, popped)) => Reply::Array(vec![Reply::Bulk(key), Reply::bulks(popped)]),
            None => Reply::NilArray,
        },
    )
}

fn blpop(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    blocking_pop(exec, args, End::Left)
}

fn brpop(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    blocking_pop(exec, args, End::Right)
}

/// BLPOP/BRPOP: `[key, element]` from the first non-empty list, or a null array.
fn blocking_pop(exec: &mut Exec, args: &[Bytes], end: End) -> Result<Reply, CommandError> {
    let (keys, timeout) = args[1..].split_at(args.len() - 2);
    parse_timeout(&timeout[0])?;
    Ok(match pop_first_list(exec, keys, end, 1)? {
        Some((key, popped)) => Reply::bulks(std::iter::once(key).chain(popped)),
        None => Reply::NilArray,
    })
}

fn blmove(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let (from, to) = (End::parse(&args[3])?, End::parse(&args[4])?);
    parse_timeout(&args[5])?;
    move_element(exec, &args[1], &args[2], from, to)
}

fn brpoplpush(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    parse_timeout(&args[3])?;
    move_element(exec, &args[1], &args[2], End::Right, End::Left)
}
