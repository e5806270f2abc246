//! Command errors with Redis 7's exact texts.

use bytes::Bytes;
use std::borrow::Cow;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum CommandError {
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is not a valid float")]
    NotFloat,
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    #[error("ERR no such key")]
    NoSuchKey,
    #[error("ERR index out of range")]
    IndexOutOfRange,
    #[error("ERR wrong number of arguments for '{0}' command")]
    WrongArity(&'static str),
    /// Any other error; the text includes its code (`ERR …`, `NOPERM …`).
    #[error("{0}")]
    Other(Cow<'static, str>),
}

impl CommandError {
    /// An `ERR`-coded error with the given message.
    pub fn err(message: impl std::fmt::Display) -> CommandError {
        CommandError::Other(format!("ERR {message}").into())
    }

    pub fn unknown_command(args: &[Bytes]) -> CommandError {
        let mut text = format!(
            "ERR unknown command '{}', with args beginning with: ",
            truncated(&args[0])
        );
        for arg in &args[1..] {
            if text.len() >= 128 + 60 {
                break;
            }
            text.push_str(&format!("'{}' ", truncated(arg)));
        }
        CommandError::Other(text.into())
    }

    pub fn unknown_subcommand(parent: &str, sub: &[u8]) -> CommandError {
        CommandError::Other(
            format!(
                "ERR unknown subcommand '{}'. Try {} HELP.",
                truncated(sub),
                parent.to_ascii_uppercase()
            )
            .into(),
        )
    }
}

/// Redis quotes at most 128 bytes of user input in an error, with control characters
/// replaced by spaces so the reply stays one line.
fn truncated(arg: &[u8]) -> String {
    let cut = &arg[..arg.len().min(128)];
    String::from_utf8_lossy(cut)
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}
