//! The keyspace: 16 databases of typed values with millisecond expiry.
//!
//! Everything here is a pure function of the operations applied and the times passed in:
//! no clock and no randomness is read, so replicas applying the same log agree.

mod db;
mod dict;
mod image;
mod inline;
mod slot_index;
mod value;
mod watch;
pub mod zset;

pub use db::{Db, Entry, Stats, Store, NUM_DBS};
pub use dict::{Dict, DictKey};
pub use inline::{Inline, Key};
pub use value::{Hash, List, Set, Str, Typed, Value};
pub use watch::Watch;
pub use zset::ZSet;
