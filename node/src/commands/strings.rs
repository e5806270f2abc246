//! String commands.

use super::flags::*;
use super::{spec, CommandError, CommandSpec, Exec, Run, KEY1};
use crate::keyspace::Value;
use crate::protocol::Reply;
use bytes::Bytes;

const GROUP: &str = "string";

pub static COMMANDS: &[CommandSpec] = &[
    spec(
        "get",
        2,
        READONLY | FAST,
        KEY1,
        Run::Exec(get),
        GROUP,
        "Returns the string value of a key.",
    ),
    spec(
        "set",
        -3,
        WRITE | DENYOOM,
        KEY1,
        Run::Exec(set),
        GROUP,
        "Sets the string value of a key, ignoring its type.",
    ),
];

fn get(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    let now = exec.now_ms;
    let value = exec.db().read::<Bytes>(&args[1], now)?.cloned();
    exec.count_lookup(value.is_some());
    Ok(Reply::bulk_opt(value))
}

fn set(exec: &mut Exec, args: &[Bytes]) -> Result<Reply, CommandError> {
    if args.len() != 3 {
        return Err(CommandError::Syntax);
    }
    exec.db().set(args[1].clone(), Value::Str(args[2].clone()));
    Ok(Reply::OK)
}
