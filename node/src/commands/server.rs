//! Connection and server commands: their specs (most run in the session) and the few that
//! are plain data commands (ECHO, TIME, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB).

use super::flags::*;
use super::{parse_db_index, spec, CommandError, CommandSpec, Exec, Keys, Run, SessionCmd};
use crate::protocol::Reply;
use bytes::Bytes;

use Run::Session as S;
use SessionCmd as C;

const CONN: &str = "connection";
const SERVER: &str = "server";
const TX: &str = "transactions";
const PUBSUB_GROUP: &str = "pubsub";

pub static COMMANDS: &[CommandSpec] = &[
    spec(
        "ping",
        -1,
        FAST,
        Keys::None,
        S(C::Ping),
        CONN,
        "Returns the server's liveliness response.",
    ),
    spec(
        "echo",
        2,
        FAST | LOADING | STALE,
        Keys::None,
        Run::Exec(echo),
        CONN,
        "Returns the given string.",
    ),
    spec(
        "select",
        2,
        LOADING | STALE | FAST,
        Keys::None,
        S(C::Select),
        CONN,
        "Changes the selected database.",
    ),
    spec(
        "hello",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        Keys::None,
        S(C::Hello),
        CONN,
        "Handshakes with the Redis server.",
    ),
    spec(
        "auth",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        Keys::None,
        S(C::Auth),
        CONN,
        "Authenticates the connection.",
    ),
    spec(
        "quit",
        -1,
        ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH,
        Keys::None,
        S(C::Quit),
        CONN,
        "Closes the connection.",
    ),
    spec(
        "reset",
        1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        Keys::None,
        S(C::Reset),
        CONN,
        "Resets the connection.",
    ),
    spec(
        "readonly",
        1,
        FAST | LOADING | STALE,
        Keys::None,
        S(C::Readonly),
        CONN,
        "Enables read-only queries on a replica for this connection.",
    ),
    spec(
        "readwrite",
        1,
        FAST | LOADING | STALE,
        Keys::None,
        S(C::Readwrite),
        CONN,
        "Disables read-only queries on a replica for this connection.",
    ),
    spec(
        "multi",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        Keys::None,
        S(C::Multi),
        TX,
        "Starts a transaction.",
    ),
    spec(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE,
        Keys::None,
        S(C::Exec),
        TX,
        "Executes all commands in a transaction.",
    ),
    spec(
        "discard",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        Keys::None,
        S(C::Discard),
        TX,
        "Discards a transaction.",
    ),
    spec(
        "watch",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | NO_MULTI,
        super::keys(1, -1, 1),
        S(C::Watch),
        TX,
        "Monitors changes to keys to determine the execution of a transaction.",
    ),
    spec(
        "unwatch",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        Keys::None,
        S(C::Unwatch),
        TX,
        "Forgets about watched keys of a transaction.",
    ),
    spec(
        "subscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        Keys::None,
        S(C::Subscribe),
        PUBSUB_GROUP,
        "Listens for messages published to channels.",
    ),
    spec(
        "unsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        Keys::None,
        S(C::Unsubscribe),
        PUBSUB_GROUP,
        "Stops listening to messages posted to channels.",
    ),
    spec(
        "psubscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        Keys::None,
        S(C::PSubscribe),
        PUBSUB_GROUP,
        "Listens for messages published to channels that match one or more patterns.",
    ),
    spec(
        "punsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        Keys::None,
        S(C::PUnsubscribe),
        PUBSUB_GROUP,
        "Stops listening to messages published to channels that match one or more patterns.",
    ),
    spec(
        "publish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
        Keys::None,
        S(C::Publish),
        PUBSUB_GROUP,
        "Posts a message to a channel.",
    ),
    spec(
        "pubsub",
        -2,
        0,
        Keys::None,
        Run::Container(PUBSUB_SUBCOMMANDS),
        PUBSUB_GROUP,
        "A container for Pub/Sub commands.",
    ),
    spec(
        "dbsize",
        1,
        READONLY | FAST,
        Keys::None,
        Run::Exec(dbsize),
        SERVER,
        "Returns the number of keys in the database.",
    ),
    spec(
        "flushdb",
        -1,
        WRITE,
        Keys::None,
        Run::Exec(flushdb),
        SERVER,
        "Removes all keys from the current database.",
    ),
    spec(
        "flushall",
        -1,
        WRITE,
        Keys::None,
        Run::Exec(flushall),
        SERVER,
        "Removes all keys from all databases.",
    ),
    spec(
        "swapdb",
        3,
        WRITE | FAST,
        Keys::None,
        Run::Exec(swapdb),
        SERVER,
        "Swaps two Redis databases.",
    ),
    spec(
        "debug",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        Keys::None,
        Run::Exec(debug),
        SERVER,
        "A container for debugging commands.",
    ),
    spec(
        "time",
        1,
        LOADING | STALE | FAST,
        Keys::None,
        Run::Exec(time),
        SERVER,
        "Returns the server time.",
    ),
    spec(
        "info",
        -1,
        LOADING | STALE,
        Keys::None,
        S(C::Info),
        SERVER,
        "Returns information and statistics about the server.",
    ),
    spec(
        "config",
        -2,
        0,
        Keys::None,
        Run::Container(CONFIG_SUBCOMMANDS),
        SERVER,
        "A container for server configuration commands.",
    ),
    spec(
        "client",
        -2,
        0,
        Keys::None,
        Run::Container(CLIENT_SUBCOMMANDS),
        CONN,
        "A container for client connection commands.",
    ),
    spec(
        "command",
        -1,
        LOADING | STALE,
        Keys::None,
        S(C::CommandList),
        SERVER,
        "Returns detailed information about all commands.",
    ),
];

static PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "pubsub|channels",
        -2,
        PUBSUB | LOADING | STALE,
        Keys::None,
        S(C::PubsubChannels),
        PUBSUB_GROUP,
        "Returns the active channels.",
    ),
    spec(
        "pubsub|numsub",
        -2,
        PUBSUB | LOADING | STALE,
        Keys::None,
        S(C::PubsubNumsub),
        PUBSUB_GROUP,
        "Returns a count of subscribers to channels.",
    ),
    spec(
        "pubsub|numpat",
        2,
        PUBSUB | LOADING | STALE,
        Keys::None,
        S(C::PubsubNumpat),
        PUBSUB_GROUP,
        "Returns a count of unique pattern subscriptions.",
    ),
];

static CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "config|get",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        Keys::None,
        S(C::ConfigGet),
        SERVER,
        "Returns the effective values of configuration parameters.",
    ),
    spec(
        "config|set",
        -4,
        ADMIN | NOSCRIPT | LOADING | STALE,
        Keys::None,
        S(C::ConfigSet),
        SERVER,
        "Sets configuration parameters in-flight.",
    ),
    spec(
        "config|resetstat",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        Keys::None,
        S(C::ConfigResetstat),
        SERVER,
        "Resets the server's statistics.",
    ),
];

static CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "client|id",
        2,
        NOSCRIPT | LOADING | STALE,
        Keys::None,
        S(C::ClientId),
        CONN,
        "Returns the unique client ID of the connection.",
    ),
    spec(
        "client|setname",
        3,
        NOSCRIPT | LOADING | STALE,
        Keys::None,
        S(C::ClientSetname),
        CONN,
        "Sets the connection name.",
    ),
    spec(
        "client|getname",
        2,
        NOSCRIPT | LOADING | STALE,
        Keys::None,
        S(C::ClientGetname),
        CONN,
        "Returns the name of the connection.",
    ),
    spec(
        "client|list",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        Keys::None,
        S(C::ClientList),
        CONN,
        "Lists open connections.",
    ),
    spec(
        "client|info",
        2,
        NOSCRIPT | LOADING | STALE,
        Keys::None,
        S(C::ClientInfo),
        CONN,
        "Returns information about the connection.",
    ),
    spec(
        "client|kill",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        Keys::None,
        S(C::ClientKill),
        CONN,
        "Terminates open connections.",
    ),
    spec(
        "client|no-evict",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        Keys::None,
        S(C::ClientNoEvict),
        CONN,
        "Sets the client eviction mode of the connection.",
    ),
];

fn echo(_: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    Ok(Reply::Bulk(args[1].clone()))
}

fn dbsize(exec: &mut Exec, _: &[Bytes]) -> Result<Reply, CommandError> {
    Ok(Reply::Int(exec.db().len() as i64))
}

/// FLUSHDB/FLUSHALL take ASYNC or SYNC; both free memory at once here.
fn flush_mode(args: &[Bytes]) -> Result<(), CommandError> {
    match args.get(1) {
        None => Ok(()),
        Some(mode) if args.len() == 2 && (super::is(mode, "ASYNC") || super::is(mode, "SYNC")) => {
            Ok(())
        }
        Some(_) => Err(CommandError::Syntax),
    }
}

fn flushdb(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    flush_mode(args)?;
    exec.db().clear();
    Ok(Reply::OK)
}

fn flushall(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    flush_mode(args)?;
    exec.store.dbs.iter_mut().for_each(|db| db.clear());
    Ok(Reply::OK)
}

fn swapdb(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let a = parse_db_index(&args[1]).map_err(|_| CommandError::err("invalid first DB index"))?;
    let b = parse_db_index(&args[2]).map_err(|_| CommandError::err("invalid second DB index"))?;
    exec.store.swap_dbs(a, b);
    Ok(Reply::OK)
}

/// DEBUG DIGEST: a fingerprint of the whole replicated keyspace, equal on replicas that
/// applied the same log (Redis answers a SHA1 of its dataset; ours hashes the snapshot image).
fn debug(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    if !super::is(&args[1], "DIGEST") || args.len() != 2 {
        return Err(CommandError::err("DEBUG supports only DIGEST here"));
    }
    let image = exec.store.to_image();
    let hash = image.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    Ok(Reply::Status(format!("{hash:040x}").into()))
}

/// TIME answers the request's own timestamp, so it is the same on every replica.
fn time(exec: &mut Exec, _: &[Bytes]) -> Result<Reply, CommandError> {
    let secs = exec.now_ms / 1000;
    let micros = (exec.now_ms % 1000) * 1000;
    Ok(Reply::Array(vec![
        Reply::bulk(secs.to_string()),
        Reply::bulk(micros.to_string()),
    ]))
}
