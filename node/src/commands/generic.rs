//! Keyspace commands that work on keys of any type.

use super::flags::*;
use super::{keys, spec, CommandError, CommandSpec, Exec, Run, KEY1};
use crate::protocol::Reply;
use bytes::Bytes;

const GROUP: &str = "generic";

pub static COMMANDS: &[CommandSpec] = &[
    spec(
        "del",
        -2,
        WRITE,
        keys(1, -1, 1),
        Run::Exec(del),
        GROUP,
        "Deletes one or more keys.",
    ),
    spec(
        "exists",
        -2,
        READONLY | FAST,
        keys(1, -1, 1),
        Run::Exec(exists),
        GROUP,
        "Determines whether one or more keys exist.",
    ),
    spec(
        "type",
        2,
        READONLY | FAST,
        KEY1,
        Run::Exec(type_of),
        GROUP,
        "Determines the type of value stored at a key.",
    ),
];

fn del(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    let db = exec.db();
    Ok(Reply::Int(
        args[1..].iter().filter(|k| db.delete(k, now)).count() as i64,
    ))
}

fn exists(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    let db = exec.db();
    Ok(Reply::Int(
        args[1..].iter().filter(|k| db.contains(k, now)).count() as i64,
    ))
}

fn type_of(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    let name = exec
        .db()
        .get(&args[1], now)
        .map_or("none", |e| e.value.type_name());
    Ok(Reply::Status(name.into()))
}
