//! The command table: every command described once, as data (name, arity, flags, key
//! positions, handler), like Redis's `commands/*.json`. The dispatcher, the write path
//! (what must be replicated), WATCH/blocking bookkeeping and `COMMAND` all read it.
//!
//! One module per data type holds its commands and their specs.

mod args;
mod error;
mod exec;
pub mod generic;
pub mod hashes;
pub mod lists;
pub mod long_double;
pub mod server;
pub mod sets;
pub mod strings;
pub mod zsets;

pub use args::*;
pub use error::CommandError;
pub use exec::Exec;

use crate::protocol::Reply;
use bytes::Bytes;
use hashbrown::HashMap;
use std::sync::OnceLock;

/// Command flags, with Redis's names (see `COMMAND INFO`).
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const FAST: u32 = 1 << 9;
    pub const NO_AUTH: u32 = 1 << 10;
    /// Not allowed inside MULTI (WATCH, blocking waits are turned non-blocking instead).
    pub const NO_MULTI: u32 = 1 << 11;
    pub const ALLOW_BUSY: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;

    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
        (MAY_REPLICATE, "may_replicate"),
    ];
}

/// Where a command's key arguments are.
#[derive(Debug, Clone, Copy)]
pub enum Keys {
    None,
    /// Keys at `first`, `first + step`, … up to `last` (negative counts from the end).
    Range {
        first: usize,
        last: i32,
        step: usize,
    },
    /// A count at `count_at`, then that many keys starting at `count_at + 1`, plus
    /// `extra` keys before the count (e.g. ZUNIONSTORE's destination).
    NumKeys {
        count_at: usize,
        extra_first: bool,
    },
}

/// What runs a command.
#[derive(Clone, Copy)]
pub enum Run {
    /// A pure function of the keyspace, the arguments and the entry's time and seed:
    /// what the Raft state machine applies.
    Exec(fn(&mut Exec, &[Bytes]) -> Result<Reply, CommandError>),
    /// Needs the client connection (SELECT, MULTI, SUBSCRIBE, AUTH…); handled by the session.
    Session(SessionCmd),
    /// A container whose first argument names a subcommand (CONFIG GET, CLIENT LIST).
    Container(&'static [CommandSpec]),
}

/// Commands the session layer implements itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCmd {
    Select,
    Multi,
    Exec,
    Discard,
    Watch,
    Unwatch,
    Subscribe,
    Unsubscribe,
    PSubscribe,
    PUnsubscribe,
    Publish,
    PubsubChannels,
    PubsubNumsub,
    PubsubNumpat,
    Hello,
    Auth,
    Quit,
    Reset,
    Ping,
    Info,
    ConfigGet,
    ConfigSet,
    ConfigResetstat,
    ClientId,
    ClientSetname,
    ClientGetname,
    ClientList,
    ClientInfo,
    ClientKill,
    ClientNoEvict,
    CommandList,
    CommandCount,
    CommandInfo,
    CommandDocs,
    Readonly,
    Readwrite,
}

pub struct CommandSpec {
    /// Lower case; `parent|child` for subcommands, as Redis names them.
    pub name: &'static str,
    /// Redis's convention: `n` exactly n arguments (command name included), `-n` at least n.
    pub arity: i32,
    pub flags: u32,
    pub keys: Keys,
    pub run: Run,
    /// The group `COMMAND DOCS` reports (string, list, hash, …).
    pub group: &'static str,
    pub summary: &'static str,
}

impl CommandSpec {
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    pub fn is_write(&self) -> bool {
        self.has(flags::WRITE)
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let arity = self.arity;
        if arity >= 0 {
            argc == arity as usize
        } else {
            argc >= arity.unsigned_abs() as usize
        }
    }

    /// The short name a subcommand is typed with (`get` for `config|get`).
    pub fn short_name(&self) -> &'static str {
        self.name.rsplit('|').next().unwrap_or(self.name)
    }

    /// The key arguments of a call of this command.
    pub fn key_args<'a>(&self, args: &'a [Bytes]) -> Vec<&'a Bytes> {
        match self.keys {
            Keys::None => Vec::new(),
            Keys::Range { first, last, step } => {
                let last = if last < 0 {
                    args.len() as i64 + last as i64
                } else {
                    last as i64
                };
                let mut keys = Vec::new();
                let mut i = first as i64;
                while i <= last && (i as usize) < args.len() {
                    keys.push(&args[i as usize]);
                    i += step as i64;
                }
                keys
            }
            Keys::NumKeys {
                count_at,
                extra_first,
            } => {
                let count = args
                    .get(count_at)
                    .and_then(|c| parse_i64(c).ok())
                    .unwrap_or(0)
                    .max(0) as usize;
                let start = count_at + 1;
                let end = (start + count).min(args.len());
                let mut keys: Vec<&Bytes> = Vec::new();
                if extra_first {
                    keys.extend(args.get(1));
                }
                keys.extend(&args[start.min(end)..end]);
                keys
            }
        }
    }
}

/// Every module's specs, in one list.
fn all_specs() -> impl Iterator<Item = &'static CommandSpec> {
    [
        generic::COMMANDS,
        strings::COMMANDS,
        lists::COMMANDS,
        hashes::COMMANDS,
        sets::COMMANDS,
        zsets::COMMANDS,
        server::COMMANDS,
    ]
    .into_iter()
    .flatten()
}

/// The longest command name looked up; longer names are unknown without a lookup.
const MAX_NAME_LEN: usize = 32;

/// The table, by lower-case name, as bytes so a lookup needs no UTF-8 check. Hashed with
/// hashbrown's fast default hasher: the keys are our fixed names, so a client cannot grow
/// collision chains in it.
pub fn table() -> &'static HashMap<&'static [u8], &'static CommandSpec> {
    static TABLE: OnceLock<HashMap<&'static [u8], &'static CommandSpec>> = OnceLock::new();
    TABLE.get_or_init(|| {
        all_specs()
            .map(|spec| (spec.name.as_bytes(), spec))
            .collect()
    })
}

/// Looks a command up by the name the client typed (any case), lower-casing it on the
/// stack since this runs for every request.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut lower = [0u8; MAX_NAME_LEN];
    let lower = lower.get_mut(..name.len())?;
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    table().get(&*lower).copied()
}

/// A resolved call: the spec to run (a subcommand's, for containers) or the error to answer.
pub fn resolve(args: &[Bytes]) -> Result<&'static CommandSpec, CommandError> {
    let spec = lookup(&args[0]).ok_or_else(|| CommandError::unknown_command(args))?;
    let spec = match spec.run {
        Run::Container(subs) => resolve_subcommand(spec, subs, args)?,
        _ => spec,
    };
    if !spec.arity_ok(args.len()) {
        return Err(CommandError::WrongArity(spec.name));
    }
    Ok(spec)
}

fn resolve_subcommand(
    parent: &'static CommandSpec,
    subs: &'static [CommandSpec],
    args: &[Bytes],
) -> Result<&'static CommandSpec, CommandError> {
    let Some(sub) = args.get(1) else {
        return Err(CommandError::WrongArity(parent.name));
    };
    subs.iter()
        .find(|s| s.short_name().as_bytes().eq_ignore_ascii_case(sub))
        .ok_or_else(|| CommandError::unknown_subcommand(parent.name, sub))
}

/// Runs an `Exec` command against the store. The caller has resolved it and checked arity.
pub fn execute(spec: &CommandSpec, exec: &mut Exec, args: &[Bytes]) -> Reply {
    let Run::Exec(run) = spec.run else {
        unreachable!("session commands are run by the session");
    };
    let reply = run(exec, args).unwrap_or_else(Reply::from);
    if spec.is_write() && !reply.is_error() {
        exec.store.stats.dirty += 1;
    }
    reply
}

impl From<CommandError> for Reply {
    fn from(e: CommandError) -> Reply {
        Reply::Error(e.to_string().into())
    }
}

/// Builds a spec; keeps each module's table to one line per command.
pub const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: Keys,
    run: Run,
    group: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        keys,
        run,
        group,
        summary,
    }
}

/// Keys at positions `first..=last` (negative from the end) every `step`.
pub const fn keys(first: usize, last: i32, step: usize) -> Keys {
    Keys::Range { first, last, step }
}

/// The single key at position 1, the common case.
pub const KEY1: Keys = Keys::Range {
    first: 1,
    last: 1,
    step: 1,
};
