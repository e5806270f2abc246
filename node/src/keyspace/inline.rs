//! Short byte strings stored inside a slot instead of behind a pointer.
//!
//! Most keys and most string values are short: keeping them in the slot saves the
//! allocation (at least 32 bytes with malloc's overhead) and the pointer to it. [`Key`]
//! holds a keyspace key, `Str` (in `value.rs`) a string value.

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::fmt;

/// The longest string kept inline: what fits next to a length and an enum tag in 24 bytes.
pub const INLINE_MAX: usize = 22;

/// Up to [`INLINE_MAX`] bytes, stored in place.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Inline {
    len: u8,
    data: [u8; INLINE_MAX],
}

impl Inline {
    /// `None` when `bytes` is too long to be inline.
    pub fn new(bytes: &[u8]) -> Option<Inline> {
        let mut data = [0; INLINE_MAX];
        data.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(Inline {
            len: bytes.len() as u8,
            data,
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.data[..self.len as usize]
    }
}

impl fmt::Debug for Inline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&Bytes::copy_from_slice(self.as_bytes()), f)
    }
}

impl Serialize for Inline {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.as_bytes())
    }
}

impl<'de> Deserialize<'de> for Inline {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = Bytes::deserialize(d)?;
        Inline::new(&bytes).ok_or_else(|| serde::de::Error::custom("inline string too long"))
    }
}

/// A key of the keyspace: inline when short, else one exact-size allocation.
#[derive(Clone, PartialEq, Eq)]
pub enum Key {
    Inline(Inline),
    Heap(Box<[u8]>),
}

// A keyspace slot is a key and an entry; this is what keeps it small.
const _: () = assert!(std::mem::size_of::<Key>() == 24);

impl Key {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline(inline) => inline.as_bytes(),
            Key::Heap(heap) => heap,
        }
    }

    /// The key as an argument or reply.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.as_bytes())
    }
}

impl From<&[u8]> for Key {
    fn from(bytes: &[u8]) -> Key {
        Inline::new(bytes).map_or_else(|| Key::Heap(bytes.into()), Key::Inline)
    }
}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq<[u8]> for Key {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&Bytes::copy_from_slice(self.as_bytes()), f)
    }
}

/// Serialised exactly like `Bytes`, so snapshots keep their format.
impl Serialize for Key {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.as_bytes())
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Key::from(&Bytes::deserialize(d)?[..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_inline_up_to_the_limit_and_serialise_like_bytes() {
        let short = Key::from(&[7u8; INLINE_MAX][..]);
        let long = Key::from(&[7u8; INLINE_MAX + 1][..]);
        assert!(matches!(short, Key::Inline(_)));
        assert!(matches!(long, Key::Heap(_)));
        assert_eq!(long.as_bytes(), &[7u8; INLINE_MAX + 1][..]);
        let as_bytes = bincode::serialize(&Bytes::from_static(b"key:1")).unwrap();
        assert_eq!(
            bincode::serialize(&Key::from(&b"key:1"[..])).unwrap(),
            as_bytes
        );
        let back: Key = bincode::deserialize(&as_bytes).unwrap();
        assert_eq!(back.as_bytes(), b"key:1");
    }
}
