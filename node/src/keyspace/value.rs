//! The value types a key can hold, and typed access to them.

use super::{Dict, ZSet};
use crate::commands::CommandError;
use bytes::Bytes;
use std::collections::VecDeque;

pub type List = VecDeque<Bytes>;
pub type Hash = Dict<Bytes>;
pub type Set = Dict<()>;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(Bytes),
    List(List),
    // Boxed so that a key holding a string (the common case) does not pay for the
    // largest collection's inline size in every slot.
    Hash(Box<Hash>),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
}

impl Value {
    /// The name TYPE reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// Aggregates that became empty are deleted, as in Redis.
    pub fn is_empty_aggregate(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::List(l) => l.is_empty(),
            Value::Hash(h) => h.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::ZSet(z) => z.is_empty(),
        }
    }
}

/// A Rust type stored as one `Value` variant; reads of the wrong variant are WRONGTYPE.
pub trait Typed: Sized + Default {
    fn of(value: &Value) -> Result<&Self, CommandError>;
    fn of_mut(value: &mut Value) -> Result<&mut Self, CommandError>;
    fn into_value(self) -> Value;
}

macro_rules! typed {
    ($ty:ty, $variant:ident, $wrap:expr) => {
        impl Typed for $ty {
            fn of(value: &Value) -> Result<&Self, CommandError> {
                match value {
                    Value::$variant(v) => Ok(v),
                    _ => Err(CommandError::WrongType),
                }
            }
            fn of_mut(value: &mut Value) -> Result<&mut Self, CommandError> {
                match value {
                    Value::$variant(v) => Ok(v),
                    _ => Err(CommandError::WrongType),
                }
            }
            fn into_value(self) -> Value {
                Value::$variant($wrap(self))
            }
        }
    };
}

typed!(Bytes, Str, std::convert::identity);
typed!(List, List, std::convert::identity);
typed!(Hash, Hash, Box::new);
typed!(Set, Set, Box::new);
typed!(ZSet, ZSet, Box::new);
