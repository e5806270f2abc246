//! Keyspace commands that work on keys of any type, following Redis 7.0's `db.c` and
//! `expire.c`: the order of the checks decides which error a bad call gets, so it is kept.

use super::flags::*;
use super::{
    glob_match, is, keys, parse_i64, spec, CommandError, CommandSpec, Exec, Keys, Run, KEY1,
};
use crate::keyspace::{Entry, Key, Value, NUM_DBS};
use crate::protocol::Reply;
use bytes::Bytes;

const GROUP: &str = "generic";

pub static COMMANDS: &[CommandSpec] = &[
    spec("del", -2, WRITE, keys(1, -1, 1), Run::Exec(del), GROUP, "Deletes one or more keys."),
    spec("unlink", -2, WRITE | FAST, keys(1, -1, 1), Run::Exec(del), GROUP, "Asynchronously deletes one or more keys."),
    spec("exists", -2, READONLY | FAST, keys(1, -1, 1), Run::Exec(exists), GROUP, "Determines whether one or more keys exist."),
    spec("type", 2, READONLY | FAST, KEY1, Run::Exec(type_of), GROUP, "Determines the type of value stored at a key."),
    spec("touch", -2, READONLY | FAST, keys(1, -1, 1), Run::Exec(exists), GROUP, "Returns the number of existing keys out of those specified after updating the time they were last accessed."),
    spec("keys", 2, READONLY, Keys::None, Run::Exec(keys_matching), GROUP, "Returns all key names that match a pattern."),
    spec("scan", -2, READONLY, Keys::None, Run::Exec(scan), GROUP, "Iterates over the key names in the database."),
    spec("randomkey", 1, READONLY, Keys::None, Run::Exec(randomkey), GROUP, "Returns a random key name from the database."),
    spec("rename", 3, WRITE, keys(1, 2, 1), Run::Exec(rename), GROUP, "Renames a key and overwrites the destination."),
    spec("renamenx", 3, WRITE | FAST, keys(1, 2, 1), Run::Exec(renamenx), GROUP, "Renames a key only when the target key name doesn't exist."),
    spec("copy", -3, WRITE | DENYOOM, keys(1, 2, 1), Run::Exec(copy), GROUP, "Copies the value of a key to a new key."),
    spec("move", 3, WRITE | FAST, KEY1, Run::Exec(move_key), GROUP, "Moves a key to another database."),
    spec("expire", -3, WRITE | FAST, KEY1, Run::Exec(expire), GROUP, "Sets the expiration time of a key in seconds."),
    spec("pexpire", -3, WRITE | FAST, KEY1, Run::Exec(pexpire), GROUP, "Sets the expiration time of a key in milliseconds."),
    spec("expireat", -3, WRITE | FAST, KEY1, Run::Exec(expireat), GROUP, "Sets the expiration time of a key to a Unix timestamp."),
    spec("pexpireat", -3, WRITE | FAST, KEY1, Run::Exec(pexpireat), GROUP, "Sets the expiration time of a key to a Unix milliseconds timestamp."),
    spec("ttl", 2, READONLY | FAST, KEY1, Run::Exec(ttl), GROUP, "Returns the expiration time in seconds of a key."),
    spec("pttl", 2, READONLY | FAST, KEY1, Run::Exec(pttl), GROUP, "Returns the expiration time in milliseconds of a key."),
    spec("expiretime", 2, READONLY | FAST, KEY1, Run::Exec(expiretime), GROUP, "Returns the expiration time of a key as a Unix timestamp."),
    spec("pexpiretime", 2, READONLY | FAST, KEY1, Run::Exec(pexpiretime), GROUP, "Returns the expiration time of a key as a Unix milliseconds timestamp."),
    spec("persist", 2, WRITE | FAST, KEY1, Run::Exec(persist), GROUP, "Removes the expiration time of a key."),
    spec("object", -2, 0, Keys::None, Run::Container(OBJECT_SUBCOMMANDS), GROUP, "A container for object introspection commands."),
];

/// OBJECT's key is its third argument.
const OBJECT_KEY: Keys = Keys::Range {
    first: 2,
    last: 2,
    step: 1,
};

static OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "object|encoding",
        3,
        READONLY,
        OBJECT_KEY,
        Run::Exec(object_encoding),
        GROUP,
        "Returns the internal encoding of a Redis object.",
    ),
    spec(
        "object|freq",
        3,
        READONLY,
        OBJECT_KEY,
        Run::Exec(object_freq),
        GROUP,
        "Returns the logarithmic access frequency counter of a Redis object.",
    ),
    spec(
        "object|idletime",
        3,
        READONLY,
        OBJECT_KEY,
        Run::Exec(object_idletime),
        GROUP,
        "Returns the time since the last access to a Redis object.",
    ),
    spec(
        "object|refcount",
        3,
        READONLY,
        OBJECT_KEY,
        Run::Exec(object_refcount),
        GROUP,
        "Returns the reference count of a value of a key.",
    ),
    spec(
        "object|help",
        2,
        LOADING | STALE,
        Keys::None,
        Run::Exec(object_help),
        GROUP,
        "Returns helpful text about the different subcommands.",
    ),
];

/// DEL and UNLINK (memory is freed at once either way).
fn del(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    let db = exec.db();
    Ok(Reply::Int(
        args[1..].iter().filter(|k| db.delete(k, now)).count() as i64,
    ))
}

/// The live entry at `key` for a read command, counted as a keyspace hit or miss.
fn lookup_read<'a>(exec: &'a mut Exec, key: &[u8]) -> Option<&'a Entry> {
    let now = exec.now_ms;
    let hit = exec.db().contains(key, now);
    exec.count_lookup(hit);
    exec.store.dbs[exec.db].get(key, now)
}

/// EXISTS and TOUCH: how many of the keys exist (repeats count again).
fn exists(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let found = args[1..]
        .iter()
        .filter(|k| lookup_read(exec, k).is_some())
        .count();
    Ok(Reply::Int(found as i64))
}

fn type_of(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let name = lookup_read(exec, &args[1]).map_or("none", |e| e.value.type_name());
    Ok(Reply::Status(name.into()))
}

fn keys_matching(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    let pattern = &args[1];
    let all = &pattern[..] == b"*";
    let found = exec
        .db()
        .entries()
        .iter()
        .filter(|(k, e)| !e.is_expired(now) && (all || glob_match(pattern, k.as_bytes())))
        .map(|(k, _)| k.to_bytes());
    Ok(Reply::bulks(found.collect::<Vec<_>>()))
}

/// Redis's `parseScanCursorOrReply` (strtoul): optional sign, decimal digits, nothing
/// else; a negative cursor wraps like C's unsigned conversion, an empty one is 0.
pub fn parse_scan_cursor(arg: &[u8]) -> Result<u64, CommandError> {
    let invalid = || CommandError::err("invalid cursor");
    let (negative, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if arg.is_empty() {
        return Ok(0);
    }
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let magnitude: u64 = std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or_else(invalid)?;
    Ok(if negative {
        magnitude.wrapping_neg()
    } else {
        magnitude
    })
}

/// SCAN's options (the *SCAN commands share MATCH and COUNT; TYPE is SCAN's own).
pub struct ScanOptions<'a> {
    pub pattern: Option<&'a Bytes>,
    pub count: usize,
    pub type_name: Option<&'a Bytes>,
}

impl<'a> ScanOptions<'a> {
    /// Parses the options after the cursor; `allow_type` only for SCAN itself.
    pub fn parse(options: &'a [Bytes], allow_type: bool) -> Result<Self, CommandError> {
        let mut parsed = ScanOptions {
            pattern: None,
            count: 10,
            type_name: None,
        };
        let mut i = 0;
        while i < options.len() {
            let (opt, value) = (&options[i], options.get(i + 1));
            match value {
                Some(value) if is(opt, "COUNT") => {
                    let count = parse_i64(value)?;
                    if count < 1 {
                        return Err(CommandError::Syntax);
                    }
                    parsed.count = count as usize;
                }
                Some(value) if is(opt, "MATCH") => {
                    // "*" matches everything: skip the matcher.
                    parsed.pattern = Some(value).filter(|p| &p[..] != b"*");
                }
                Some(value) if is(opt, "TYPE") && allow_type => parsed.type_name = Some(value),
                _ => return Err(CommandError::Syntax),
            }
            i += 2;
        }
        Ok(parsed)
    }

    pub fn matches(&self, key: &[u8]) -> bool {
        self.pattern.is_none_or(|p| glob_match(p, key))
    }
}

/// SCAN: the cursor is a slot of the db's dict, so a key present for the whole scan is
/// always returned, whatever is added or deleted meanwhile.
fn scan(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let cursor = parse_scan_cursor(&args[1])?;
    let options = ScanOptions::parse(&args[2..], true)?;
    let now = exec.now_ms;
    let mut found = Vec::new();
    let next = exec
        .db()
        .entries()
        .scan(cursor, options.count, |key, entry| {
            let type_ok = options
                .type_name
                .is_none_or(|t| t.eq_ignore_ascii_case(entry.value.type_name().as_bytes()));
            if !entry.is_expired(now) && type_ok && options.matches(key.as_bytes()) {
                found.push(key.to_bytes());
            }
        });
    Ok(Reply::Array(vec![
        Reply::bulk(next.to_string()),
        Reply::bulks(found),
    ]))
}

/// RANDOMKEY: random slots until a live key turns up; when the picks keep hitting
/// expired keys (reads never delete), one of the live keys is picked instead.
fn randomkey(exec: &mut Exec, _: &[Bytes]) -> Result<Reply, CommandError> {
    const PROBES: usize = 100;
    let now = exec.now_ms;
    let dict = exec.store.dbs[exec.db].entries();
    for _ in 0..PROBES {
        match dict.random(exec.rng.get()) {
            None => return Ok(Reply::Nil),
            Some((key, entry)) if !entry.is_expired(now) => return Ok(Reply::Bulk(key.to_bytes())),
            Some(_) => {}
        }
    }
    let live: Vec<&Key> = dict
        .iter()
        .filter(|(_, e)| !e.is_expired(now))
        .map(|(k, _)| k)
        .collect();
    if live.is_empty() {
        return Ok(Reply::Nil);
    }
    let pick = rand::Rng::gen_range(exec.rng.get(), 0..live.len());
    Ok(Reply::Bulk(live[pick].to_bytes()))
}

fn rename(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let renamed = rename_generic(exec, args, false)?;
    debug_assert!(renamed);
    Ok(Reply::OK)
}

fn renamenx(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    Ok(Reply::Int(rename_generic(exec, args, true)? as i64))
}

/// Moves the entry, TTL included; with `nx` an existing destination stops it. Renaming
/// a key to itself does nothing, but the key must exist.
fn rename_generic(exec: &mut Exec, args: &[Bytes], nx: bool) -> Result<bool, CommandError> {
    let (src, dst) = (&args[1], &args[2]);
    let now = exec.now_ms;
    let db = exec.db();
    if !db.contains(src, now) {
        return Err(CommandError::NoSuchKey);
    }
    if src == dst {
        return Ok(!nx);
    }
    if nx && db.contains(dst, now) {
        return Ok(false);
    }
    let entry = db.remove(src).expect("checked live");
    db.insert(dst.clone(), entry);
    Ok(true)
}

/// A db number as MOVE and COPY read it: a C int first, then a valid index.
fn parse_target_db(arg: &[u8]) -> Result<usize, CommandError> {
    let n = parse_i64(arg)?;
    if i32::try_from(n).is_err() {
        return Err(CommandError::err(format!(
            "value is out of range, value must between {} and {}",
            i32::MIN,
            i32::MAX
        )));
    }
    usize::try_from(n)
        .ok()
        .filter(|&db| db < NUM_DBS)
        .ok_or_else(|| CommandError::err("DB index is out of range"))
}

fn same_object_error() -> CommandError {
    CommandError::err("source and destination objects are the same")
}

/// COPY src dst [DB n] [REPLACE]: a deep copy with the TTL; 0 when the source is
/// missing or the destination exists without REPLACE.
fn copy(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let (src, dst) = (&args[1], &args[2]);
    let mut replace = false;
    let mut target = exec.db;
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "REPLACE") {
            replace = true;
        } else if is(&args[i], "DB") && i + 1 < args.len() {
            target = parse_target_db(&args[i + 1])?;
            i += 1;
        } else {
            return Err(CommandError::Syntax);
        }
        i += 1;
    }
    if target == exec.db && src == dst {
        return Err(same_object_error());
    }
    let now = exec.now_ms;
    let Some(entry) = lookup_read(exec, src).cloned() else {
        return Ok(Reply::Int(0));
    };
    let target_db = &mut exec.store.dbs[target];
    if target_db.contains(dst, now) && !replace {
        return Ok(Reply::Int(0));
    }
    target_db.insert(dst.clone(), entry);
    Ok(Reply::Int(1))
}

/// MOVE key db: 0 when the key is missing here or exists there.
fn move_key(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let key = &args[1];
    let target = parse_target_db(&args[2])?;
    if target == exec.db {
        return Err(same_object_error());
    }
    let now = exec.now_ms;
    if !exec.db().contains(key, now) || exec.store.dbs[target].contains(key, now) {
        return Ok(Reply::Int(0));
    }
    let entry = exec.db().remove(key).expect("checked live");
    exec.store.dbs[target].insert(key.clone(), entry);
    Ok(Reply::Int(1))
}

/// EXPIRE's NX/XX/GT/LT conditions.
#[derive(Default)]
struct ExpireCondition {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl ExpireCondition {
    fn parse(options: &[Bytes]) -> Result<Self, CommandError> {
        let mut c = ExpireCondition::default();
        for opt in options {
            let flag = if is(opt, "NX") {
                &mut c.nx
            } else if is(opt, "XX") {
                &mut c.xx
            } else if is(opt, "GT") {
                &mut c.gt
            } else if is(opt, "LT") {
                &mut c.lt
            } else {
                return Err(CommandError::err(format!(
                    "Unsupported option {}",
                    String::from_utf8_lossy(opt)
                )));
            };
            *flag = true;
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(CommandError::err(
                "NX and XX, GT or LT options at the same time are not compatible",
            ));
        }
        if c.gt && c.lt {
            return Err(CommandError::err(
                "GT and LT options at the same time are not compatible",
            ));
        }
        Ok(c)
    }

    /// Whether a key whose deadline is `current` (None: no TTL, i.e. infinite) may get
    /// `when`.
    fn allows(&self, current: Option<u64>, when: i64) -> bool {
        let current = current.map(|c| c as i64);
        !((self.nx && current.is_some())
            || (self.xx && current.is_none())
            || (self.gt && current.is_none_or(|c| when <= c))
            || (self.lt && current.is_some_and(|c| when >= c)))
    }
}

fn expire(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    expire_generic(exec, args, "expire", 1000, false)
}

fn pexpire(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    expire_generic(exec, args, "pexpire", 1, false)
}

fn expireat(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    expire_generic(exec, args, "expireat", 1000, true)
}

fn pexpireat(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    expire_generic(exec, args, "pexpireat", 1, true)
}

/// Redis's `expireGenericCommand`: `unit` ms per argument unit; relative times are added
/// to the request time. A deadline already past deletes the key (and still answers 1).
fn expire_generic(
    exec: &mut Exec,
    args: &[Bytes],
    command: &str,
    unit: i64,
    absolute: bool,
) -> Result<Reply, CommandError> {
    let invalid = || CommandError::err(format!("invalid expire time in '{command}' command"));
    let condition = ExpireCondition::parse(&args[3..])?;
    let now = exec.now_ms;
    let base = if absolute { 0 } else { now as i64 };
    let when = parse_i64(&args[2])?
        .checked_mul(unit)
        .and_then(|ms| ms.checked_add(base))
        .ok_or_else(invalid)?;
    let key = &args[1];
    let db = exec.db();
    let Some(entry) = db.get(key, now) else {
        return Ok(Reply::Int(0));
    };
    if !condition.allows(entry.expire_at(), when) {
        return Ok(Reply::Int(0));
    }
    if when <= now as i64 {
        db.remove(key);
    } else {
        db.set_expiry(key, Some(when as u64), now);
    }
    Ok(Reply::Int(1))
}

fn ttl(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    ttl_generic(exec, &args[1], false, false)
}

fn pttl(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    ttl_generic(exec, &args[1], true, false)
}

fn expiretime(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    ttl_generic(exec, &args[1], false, true)
}

fn pexpiretime(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    ttl_generic(exec, &args[1], true, true)
}

/// -2 for a missing key, -1 without TTL; seconds are rounded to the nearest like Redis.
fn ttl_generic(
    exec: &mut Exec,
    key: &[u8],
    in_ms: bool,
    absolute: bool,
) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    let Some(entry) = lookup_read(exec, key) else {
        return Ok(Reply::Int(-2));
    };
    let Some(at) = entry.expire_at() else {
        return Ok(Reply::Int(-1));
    };
    let ms = if absolute { at } else { at.saturating_sub(now) };
    // Rounded to the nearest second; unsigned, so deadlines near i64::MAX do not overflow.
    let reply = if in_ms { ms } else { (ms + 500) / 1000 };
    Ok(Reply::Int(reply as i64))
}

fn persist(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    let db = exec.db();
    let has_ttl = db
        .get(&args[1], now)
        .is_some_and(|e| e.expire_at().is_some());
    if has_ttl {
        db.set_expiry(&args[1], None, now);
    }
    Ok(Reply::Int(has_ttl as i64))
}

/// Redis 7.0.15's size limits for the compact encodings (its config defaults, as
/// `CONFIG GET hash-max-listpack-entries` etc. report them).
const HASH_LISTPACK_MAX_ENTRIES: usize = 512;
const ZSET_LISTPACK_MAX_ENTRIES: usize = 128;
const LISTPACK_MAX_VALUE: usize = 64;
const INTSET_MAX_ENTRIES: usize = 512;
/// Strings up to this long are allocated with their object header (embstr).
const EMBSTR_MAX_LEN: usize = 44;
/// Redis shares the objects of the integers below this, so their refcount is "infinite".
const SHARED_INTEGERS: i64 = 10_000;
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

/// The integer a string would be stored as (Redis's `tryObjectEncoding`).
fn as_int_encoded(s: &[u8]) -> Option<i64> {
    (s.len() <= 20).then(|| parse_i64(s).ok()).flatten()
}

/// Whether a hash or zset is small enough for Redis's listpack encoding.
fn fits_listpack<'a>(
    len: usize,
    max_entries: usize,
    mut items: impl Iterator<Item = &'a Bytes>,
) -> bool {
    len <= max_entries && items.all(|b| b.len() <= LISTPACK_MAX_VALUE)
}

/// The encoding name Redis 7.0 would report, judged from the current contents. Redis
/// never converts back to a compact encoding when a value shrinks, and APPEND/SETRANGE
/// results are always "raw" there; neither history is tracked here.
fn encoding_name(value: &Value) -> &'static str {
    match value {
        Value::Str(s) if as_int_encoded(s.as_bytes()).is_some() => "int",
        Value::Str(s) if s.len() <= EMBSTR_MAX_LEN => "embstr",
        Value::Str(_) => "raw",
        // Redis 7.0 lists are always quicklists of listpacks.
        Value::List(_) => "quicklist",
        Value::Hash(h)
            if fits_listpack(
                h.len(),
                HASH_LISTPACK_MAX_ENTRIES,
                h.iter().flat_map(|(k, v)| [k, v]),
            ) =>
        {
            "listpack"
        }
        Value::Hash(_) => "hashtable",
        Value::Set(s)
            if s.len() <= INTSET_MAX_ENTRIES && s.keys().all(|m| parse_i64(m).is_ok()) =>
        {
            "intset"
        }
        Value::Set(_) => "hashtable",
        Value::ZSet(z)
            if fits_listpack(z.len(), ZSET_LISTPACK_MAX_ENTRIES, z.iter().map(|(m, _)| m)) =>
        {
            "listpack"
        }
        Value::ZSet(_) => "skiplist",
    }
}

fn object_encoding(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    Ok(lookup_read(exec, &args[2]).map_or(Reply::Nil, |e| Reply::bulk(encoding_name(&e.value))))
}

/// Access frequency is only tracked under an LFU maxmemory policy, which is never set.
fn object_freq(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    if lookup_read(exec, &args[2]).is_none() {
        return Ok(Reply::Nil);
    }
    Err(CommandError::err(
        "An LFU maxmemory policy is not selected, access frequency not tracked. Please note \
         that when switching between policies at runtime LRU and LFU data will take some time \
         to adjust.",
    ))
}

/// Access times are not tracked (they would make replicas' state differ): always 0.
fn object_idletime(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    Ok(lookup_read(exec, &args[2]).map_or(Reply::Nil, |_| Reply::Int(0)))
}

fn object_refcount(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    Ok(lookup_read(exec, &args[2]).map_or(Reply::Nil, |e| {
        let shared = match &e.value {
            Value::Str(s) => {
                as_int_encoded(s.as_bytes()).is_some_and(|n| (0..SHARED_INTEGERS).contains(&n))
            }
            _ => false,
        };
        Reply::Int(if shared { SHARED_REFCOUNT } else { 1 })
    }))
}

fn object_help(_: &mut Exec, _: &[Bytes]) -> Result<Reply, CommandError> {
    const HELP: &[&str] = &[
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ];
    Ok(Reply::Array(
        HELP.iter()
            .map(|line| Reply::Status((*line).into()))
            .collect(),
    ))
}
