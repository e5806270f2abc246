//! String commands, following Redis 7.0's `t_string.c` step by step: the order of the
//! checks decides which error a bad call gets, so it is kept.

use super::flags::*;
use super::long_double::incr_by_float;
use super::{is, keys, parse_i64, spec, CommandError, CommandSpec, Exec, Run, KEY1};
use crate::keyspace::{Db, Entry, Str, Value};
use crate::protocol::{Reply, MAX_BULK_LEN};
use bytes::{Bytes, BytesMut};

const GROUP: &str = "string";

pub static COMMANDS: &[CommandSpec] = &[
    spec("get", 2, READONLY | FAST, KEY1, Run::Exec(get), GROUP, "Returns the string value of a key."),
    spec("set", -3, WRITE | DENYOOM, KEY1, Run::Exec(set), GROUP, "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist."),
    spec("setnx", 3, WRITE | DENYOOM | FAST, KEY1, Run::Exec(setnx), GROUP, "Set the string value of a key only when the key doesn't exist."),
    spec("setex", 4, WRITE | DENYOOM, KEY1, Run::Exec(setex), GROUP, "Sets the string value and expiration time of a key. Creates the key if it doesn't exist."),
    spec("psetex", 4, WRITE | DENYOOM, KEY1, Run::Exec(psetex), GROUP, "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist."),
    spec("getset", 3, WRITE | DENYOOM | FAST, KEY1, Run::Exec(getset), GROUP, "Returns the previous string value of a key after setting it to a new value."),
    spec("getdel", 2, WRITE | FAST, KEY1, Run::Exec(getdel), GROUP, "Returns the string value of a key after deleting the key."),
    spec("getex", -2, WRITE | FAST, KEY1, Run::Exec(getex), GROUP, "Returns the string value of a key after setting its expiration time."),
    spec("mget", -2, READONLY | FAST, keys(1, -1, 1), Run::Exec(mget), GROUP, "Atomically returns the string values of one or more keys."),
    spec("mset", -3, WRITE | DENYOOM, keys(1, -1, 2), Run::Exec(mset), GROUP, "Atomically creates or modifies the string values of one or more keys."),
    spec("msetnx", -3, WRITE | DENYOOM, keys(1, -1, 2), Run::Exec(msetnx), GROUP, "Atomically modifies the string values of one or more keys only when all keys don't exist."),
    spec("append", 3, WRITE | DENYOOM | FAST, KEY1, Run::Exec(append), GROUP, "Appends a string to the value of a key. Creates the key if it doesn't exist."),
    spec("strlen", 2, READONLY | FAST, KEY1, Run::Exec(strlen), GROUP, "Returns the length of a string value."),
    spec("setrange", 4, WRITE | DENYOOM, KEY1, Run::Exec(setrange), GROUP, "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist."),
    spec("getrange", 4, READONLY, KEY1, Run::Exec(getrange), GROUP, "Returns a substring of the string stored at a key."),
    spec("substr", 4, READONLY, KEY1, Run::Exec(getrange), GROUP, "Returns a substring from a string value."),
    spec("incr", 2, WRITE | DENYOOM | FAST, KEY1, Run::Exec(incr), GROUP, "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."),
    spec("decr", 2, WRITE | DENYOOM | FAST, KEY1, Run::Exec(decr), GROUP, "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."),
    spec("incrby", 3, WRITE | DENYOOM | FAST, KEY1, Run::Exec(incrby), GROUP, "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist."),
    spec("decrby", 3, WRITE | DENYOOM | FAST, KEY1, Run::Exec(decrby), GROUP, "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist."),
    spec("incrbyfloat", 3, WRITE | DENYOOM | FAST, KEY1, Run::Exec(incrbyfloat), GROUP, "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist."),
];

/// The string at `key` for a read command, counted as a keyspace hit or miss.
fn lookup_read(exec: &mut Exec, key: &[u8]) -> Result<Option<Bytes>, CommandError> {
    read_str(exec, key, Str::to_bytes)
}

/// The string at `key` for a read command, as `read` makes of it, counted as a keyspace
/// hit or miss.
fn read_str<R>(
    exec: &mut Exec,
    key: &[u8],
    read: impl FnOnce(&Str) -> R,
) -> Result<Option<R>, CommandError> {
    let now = exec.now_ms;
    let found = match exec.db().get(key, now).map(|e| &e.value) {
        None => None,
        Some(Value::Str(s)) => Some(Ok(read(s))),
        Some(_) => Some(Err(CommandError::WrongType)),
    };
    exec.count_lookup(found.is_some());
    found.transpose()
}

/// Stores a string with the given TTL (none: the key loses any TTL it had).
fn store(db: &mut Db, key: &[u8], value: &Bytes, expire_at: Option<u64>) {
    db.insert(key, Entry::with_expiry(Value::Str(value.into()), expire_at));
}

/// Replaces a string's value keeping its TTL, as Redis's `dbOverwrite` does; creates the
/// key when missing.
fn overwrite(db: &mut Db, key: &[u8], value: Str, now: u64) {
    match db.get_mut(key, now) {
        Some(entry) => entry.value = Value::Str(value),
        None => db.set(key, Value::Str(value)),
    }
}

/// Redis's `checkStringLength`: a result longer than proto-max-bulk-len is refused.
fn check_string_length(size: i64, append: i64) -> Result<(), CommandError> {
    match size.checked_add(append) {
        Some(total) if total <= MAX_BULK_LEN => Ok(()),
        _ => Err(CommandError::err(
            "string exceeds maximum allowed size (proto-max-bulk-len)",
        )),
    }
}

/// A string's bytes for in-place growth: reuses the buffer when nothing else holds it.
fn into_mut(value: Bytes) -> BytesMut {
    value
        .try_into_mut()
        .unwrap_or_else(|shared| BytesMut::from(&shared[..]))
}

fn get(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    Ok(read_str(exec, &args[1], bulk_reply)?.unwrap_or(Reply::Nil))
}

/// A string as a bulk reply; a short one is copied into the reply instead of a new `Bytes`.
fn bulk_reply(value: &Str) -> Reply {
    match value {
        Str::Inline(inline) => Reply::ShortBulk(*inline),
        Str::Shared(shared) => Reply::Bulk((**shared).clone()),
    }
}

/// How an expiry option gives its time.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpireKind {
    /// EX: seconds from now.
    Ex,
    /// PX: milliseconds from now.
    Px,
    /// EXAT: Unix seconds.
    ExAt,
    /// PXAT: Unix milliseconds.
    PxAt,
}

impl ExpireKind {
    fn keyword(self) -> &'static str {
        match self {
            ExpireKind::Ex => "EX",
            ExpireKind::Px => "PX",
            ExpireKind::ExAt => "EXAT",
            ExpireKind::PxAt => "PXAT",
        }
    }

    fn in_seconds(self) -> bool {
        matches!(self, ExpireKind::Ex | ExpireKind::ExAt)
    }

    fn is_relative(self) -> bool {
        matches!(self, ExpireKind::Ex | ExpireKind::Px)
    }

    /// Redis's `getExpireMillisecondsOrReply`: the absolute deadline in Unix ms. Zero,
    /// negative and overflowing times are refused with the command's name in the error.
    fn deadline(self, arg: &[u8], now: u64, command: &str) -> Result<u64, CommandError> {
        let invalid = || CommandError::err(format!("invalid expire time in '{command}' command"));
        let mut ms = parse_i64(arg)?;
        if ms <= 0 || (self.in_seconds() && ms > i64::MAX / 1000) {
            return Err(invalid());
        }
        if self.in_seconds() {
            ms *= 1000;
        }
        if self.is_relative() {
            ms = ms.checked_add(now as i64).ok_or_else(invalid)?;
        }
        Ok(ms as u64)
    }
}

/// Which command's options are parsed: SET takes NX/XX/GET/KEEPTTL, GETEX takes PERSIST.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OptionsFor {
    Set,
    GetEx,
}

/// SET's and GETEX's options, as Redis's `parseExtendedStringArgumentsOrReply` reads them.
#[derive(Default)]
struct StringOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    expire: Option<(ExpireKind, &'a Bytes)>,
}

impl<'a> StringOptions<'a> {
    /// Options may repeat; only contradicting ones (or a missing time) are a syntax error.
    fn parse(options: &'a [Bytes], command: OptionsFor) -> Result<Self, CommandError> {
        let mut o = StringOptions::default();
        let set = command == OptionsFor::Set;
        let mut i = 0;
        while i < options.len() {
            let opt = &options[i];
            let next = options.get(i + 1);
            let expire_kind = [
                ExpireKind::Ex,
                ExpireKind::Px,
                ExpireKind::ExAt,
                ExpireKind::PxAt,
            ]
            .into_iter()
            .find(|k| is(opt, k.keyword()));
            if is(opt, "NX") && !o.xx && set {
                o.nx = true;
            } else if is(opt, "XX") && !o.nx && set {
                o.xx = true;
            } else if is(opt, "GET") && set {
                o.get = true;
            } else if is(opt, "KEEPTTL") && !o.persist && o.expire.is_none() && set {
                o.keep_ttl = true;
            } else if is(opt, "PERSIST") && !set && o.expire.is_none() && !o.keep_ttl {
                o.persist = true;
            } else if let (Some(kind), Some(time)) = (expire_kind, next) {
                let other_expire = o.expire.is_some_and(|(k, _)| k != kind);
                if o.keep_ttl || o.persist || other_expire {
                    return Err(CommandError::Syntax);
                }
                o.expire = Some((kind, time));
                i += 1;
            } else {
                return Err(CommandError::Syntax);
            }
            i += 1;
        }
        Ok(o)
    }

    /// The absolute deadline the expiry option asks for, validated.
    fn deadline(&self, now: u64, command: &str) -> Result<Option<u64>, CommandError> {
        self.expire
            .map(|(kind, time)| kind.deadline(time, now, command))
            .transpose()
    }
}

/// One call of Redis's `setGenericCommand`.
struct SetCall<'a> {
    key: &'a Bytes,
    value: &'a Bytes,
    nx: bool,
    xx: bool,
    /// Look the old value up first (SET … GET): WRONGTYPE aborts the whole command.
    get: bool,
    keep_ttl: bool,
    expire_at: Option<u64>,
}

/// What a SET did: whether it stored, and the old value when it was asked for.
struct SetOutcome {
    stored: bool,
    old: Option<Bytes>,
}

fn set_generic(exec: &mut Exec, call: SetCall) -> Result<SetOutcome, CommandError> {
    let old = if call.get {
        lookup_read(exec, call.key)?
    } else {
        None
    };
    let now = exec.now_ms;
    let db = exec.db();
    if !(call.nx || call.xx || call.keep_ttl) {
        // A plain SET replaces whatever is there: no need to look first.
        store(db, call.key, call.value, call.expire_at);
        return Ok(SetOutcome { stored: true, old });
    }
    let current = db.get(call.key, now);
    let found = current.is_some();
    if (call.nx && found) || (call.xx && !found) {
        return Ok(SetOutcome { stored: false, old });
    }
    let kept_ttl = current
        .and_then(|e| e.expire_at())
        .filter(|_| call.keep_ttl);
    store(db, call.key, call.value, call.expire_at.or(kept_ttl));
    Ok(SetOutcome { stored: true, old })
}

fn set(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let options = StringOptions::parse(&args[3..], OptionsFor::Set)?;
    let expire_at = options.deadline(exec.now_ms, "set")?;
    let outcome = set_generic(
        exec,
        SetCall {
            key: &args[1],
            value: &args[2],
            nx: options.nx,
            xx: options.xx,
            get: options.get,
            keep_ttl: options.keep_ttl,
            expire_at,
        },
    )?;
    Ok(if options.get {
        Reply::bulk_opt(outcome.old)
    } else if outcome.stored {
        Reply::OK
    } else {
        Reply::Nil
    })
}

/// A plain SET with optional NX and deadline, for SETNX/SETEX/PSETEX.
fn simple_set(
    exec: &mut Exec,
    key: &Bytes,
    value: &Bytes,
    nx: bool,
    expire_at: Option<u64>,
) -> Result<bool, CommandError> {
    let call = SetCall {
        key,
        value,
        nx,
        xx: false,
        get: false,
        keep_ttl: false,
        expire_at,
    };
    Ok(set_generic(exec, call)?.stored)
}

fn setnx(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let stored = simple_set(exec, &args[1], &args[2], true, None)?;
    Ok(Reply::Int(stored as i64))
}

fn setex(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let expire_at = ExpireKind::Ex.deadline(&args[2], exec.now_ms, "setex")?;
    simple_set(exec, &args[1], &args[3], false, Some(expire_at))?;
    Ok(Reply::OK)
}

fn psetex(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let expire_at = ExpireKind::Px.deadline(&args[2], exec.now_ms, "psetex")?;
    simple_set(exec, &args[1], &args[3], false, Some(expire_at))?;
    Ok(Reply::OK)
}

fn getset(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let old = lookup_read(exec, &args[1])?;
    store(exec.db(), &args[1], &args[2], None);
    Ok(Reply::bulk_opt(old))
}

fn getdel(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let old = lookup_read(exec, &args[1])?;
    if old.is_some() {
        exec.db().remove(&args[1]);
    }
    Ok(Reply::bulk_opt(old))
}

/// GETEX: the value, then the TTL change; an absolute time already past deletes the key.
fn getex(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let options = StringOptions::parse(&args[2..], OptionsFor::GetEx)?;
    let Some(value) = lookup_read(exec, &args[1])? else {
        return Ok(Reply::Nil);
    };
    let now = exec.now_ms;
    let expire_at = options.deadline(now, "getex")?;
    let db = exec.db();
    match expire_at {
        Some(at) if at <= now => {
            db.remove(&args[1]);
        }
        Some(at) => {
            db.set_expiry(&args[1], Some(at), now);
        }
        None if options.persist
            && db
                .get(&args[1], now)
                .is_some_and(|e| e.expire_at().is_some()) =>
        {
            db.set_expiry(&args[1], None, now);
        }
        None => {}
    }
    Ok(Reply::Bulk(value))
}

/// MGET: values of other types read as nil, not WRONGTYPE.
fn mget(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let values = args[1..]
        .iter()
        .map(|key| match read_str(exec, key, bulk_reply) {
            Ok(Some(value)) => value,
            _ => Reply::Nil,
        })
        .collect();
    Ok(Reply::Array(values))
}

/// The key/value pairs of MSET/MSETNX; an odd count is an arity error.
fn pairs<'a>(
    args: &'a [Bytes],
    command: &'static str,
) -> Result<std::slice::ChunksExact<'a, Bytes>, CommandError> {
    if args.len().is_multiple_of(2) {
        return Err(CommandError::WrongArity(command));
    }
    Ok(args[1..].chunks_exact(2))
}

fn mset(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let db = exec.db();
    for pair in pairs(args, "mset")? {
        store(db, &pair[0], &pair[1], None);
    }
    Ok(Reply::OK)
}

fn msetnx(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    let pairs = pairs(args, "msetnx")?;
    let db = exec.db();
    if pairs.clone().any(|pair| db.contains(&pair[0], now)) {
        return Ok(Reply::Int(0));
    }
    for pair in pairs {
        store(db, &pair[0], &pair[1], None);
    }
    Ok(Reply::Int(1))
}

fn append(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let (key, suffix) = (&args[1], &args[2]);
    let now = exec.now_ms;
    let db = exec.db();
    let Some(current) = db.read::<Str>(key, now)? else {
        db.set(key, Value::Str(suffix.into()));
        return Ok(Reply::Int(suffix.len() as i64));
    };
    check_string_length(current.len() as i64, suffix.len() as i64)?;
    let value = db.write::<Str>(key, now)?.expect("checked above");
    let mut grown = into_mut(std::mem::take(value).into_bytes());
    grown.extend_from_slice(suffix);
    *value = grown.freeze().into();
    Ok(Reply::Int(value.len() as i64))
}

fn strlen(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let len = lookup_read(exec, &args[1])?.map_or(0, |s| s.len());
    Ok(Reply::Int(len as i64))
}

/// SETRANGE: writes at `offset`, zero-padding a shorter string; an empty patch only
/// reports the length and creates nothing.
fn setrange(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let (key, patch) = (&args[1], &args[3]);
    let offset = parse_i64(&args[2])?;
    if offset < 0 {
        return Err(CommandError::err("offset is out of range"));
    }
    let now = exec.now_ms;
    let db = exec.db();
    let current_len = db.read::<Str>(key, now)?.map(|s| s.len());
    if patch.is_empty() {
        return Ok(Reply::Int(current_len.unwrap_or(0) as i64));
    }
    check_string_length(offset, patch.len() as i64)?;
    let offset = offset as usize;
    let old = match current_len {
        Some(_) => std::mem::take(db.write::<Str>(key, now)?.expect("checked above")).into_bytes(),
        None => Bytes::new(),
    };
    let mut value = into_mut(old);
    let end = offset + patch.len();
    if value.len() < end {
        value.resize(end, 0);
    }
    value[offset..end].copy_from_slice(patch);
    let len = value.len();
    overwrite(db, key, value.freeze().into(), now);
    Ok(Reply::Int(len as i64))
}

/// GETRANGE/SUBSTR with Redis's index rules (negative from the end, clamped, inclusive).
fn getrange(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let start = parse_i64(&args[2])?;
    let end = parse_i64(&args[3])?;
    let value = lookup_read(exec, &args[1])?.unwrap_or_default();
    Ok(Reply::Bulk(substring(value, start, end)))
}

fn substring(value: Bytes, mut start: i64, mut end: i64) -> Bytes {
    let len = value.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Bytes::new();
    }
    if start < 0 {
        start = (len + start).max(0);
    }
    if end < 0 {
        end = (len + end).max(0);
    }
    end = end.min(len - 1);
    if start > end || len == 0 {
        return Bytes::new();
    }
    value.slice(start as usize..=end as usize)
}

fn incr(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    incr_by(exec, &args[1], 1)
}

fn decr(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    incr_by(exec, &args[1], -1)
}

fn incrby(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let delta = parse_i64(&args[2])?;
    incr_by(exec, &args[1], delta)
}

fn decrby(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let delta = parse_i64(&args[2])?;
    let negated = delta
        .checked_neg()
        .ok_or_else(|| CommandError::err("decrement would overflow"))?;
    incr_by(exec, &args[1], negated)
}

/// INCR and friends: the value must be a 64-bit integer in Redis's strict syntax; the
/// key keeps its TTL.
fn incr_by(exec: &mut Exec, key: &Bytes, delta: i64) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    let value = exec.db().update::<Str, _>(key, now, |text, existed| {
        let current = if existed {
            parse_i64(text.as_bytes())?
        } else {
            0
        };
        let value = current.checked_add(delta).ok_or(CommandError::Overflow)?;
        *text = itoa::Buffer::new().format(value).as_bytes().into();
        Ok((value, true))
    })?;
    Ok(Reply::Int(value))
}

/// INCRBYFLOAT in Redis's long double arithmetic; the key keeps its TTL.
fn incrbyfloat(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    let db = exec.db();
    let current = db.read::<Str>(&args[1], now)?;
    let value = incr_by_float(current.map_or(&b"0"[..], |c| c.as_bytes()), &args[2])?;
    overwrite(db, &args[1], (&value).into(), now);
    Ok(Reply::Bulk(value))
}
