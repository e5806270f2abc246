//! The value types a key can hold, and typed access to them.

use super::inline::Inline;
use super::{Dict, ZSet};
use crate::commands::CommandError;
use bytes::Bytes;
use std::collections::VecDeque;

pub type List = VecDeque<Bytes>;
pub type Hash = Dict<Bytes>;
pub type Set = Dict<()>;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(Str),
    // Boxed so that a key holding a string (the common case) does not pay for the
    // largest collection's inline size in every slot.
    List(Box<List>),
    Hash(Box<Hash>),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
}

// The collections' boxes share the bytes after `Str`'s tag, so a value takes no more
// than a short string needs.
const _: () = assert!(std::mem::size_of::<Value>() == 24);

/// A string value: short ones inline (no allocation for the typical small value), longer
/// ones as shared `Bytes`, so GET answers with them without copying.
#[derive(Clone)]
pub enum Str {
    Inline(Inline),
    Shared(Box<Bytes>),
}

impl Str {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Str::Inline(inline) => inline.as_bytes(),
            Str::Shared(shared) => shared,
        }
    }

    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value for a reply.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Str::Inline(inline) => Bytes::copy_from_slice(inline.as_bytes()),
            Str::Shared(shared) => (**shared).clone(),
        }
    }

    /// The value as `Bytes`, without copying a shared one (APPEND grows it in place).
    pub fn into_bytes(self) -> Bytes {
        match self {
            Str::Inline(inline) => Bytes::copy_from_slice(inline.as_bytes()),
            Str::Shared(shared) => *shared,
        }
    }
}

impl Default for Str {
    fn default() -> Self {
        Str::from(&b""[..])
    }
}

impl From<&[u8]> for Str {
    fn from(bytes: &[u8]) -> Str {
        Inline::new(bytes).map_or_else(
            || Str::Shared(Box::new(Bytes::copy_from_slice(bytes))),
            Str::Inline,
        )
    }
}

impl From<Bytes> for Str {
    fn from(bytes: Bytes) -> Str {
        Inline::new(&bytes).map_or_else(|| Str::Shared(Box::new(bytes)), Str::Inline)
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

/// An argument as a value: a long one is shared, not copied.
impl From<&Bytes> for Str {
    fn from(bytes: &Bytes) -> Str {
        Inline::new(bytes).map_or_else(|| Str::Shared(Box::new(bytes.clone())), Str::Inline)
    }
}

impl std::fmt::Debug for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.to_bytes(), f)
    }
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

typed!(Str, Str, std::convert::identity);
typed!(List, List, Box::new);
typed!(Hash, Hash, Box::new);
typed!(Set, Set, Box::new);
typed!(ZSet, ZSet, Box::new);
