//! The keyspace as snapshot bytes, and back.
//!
//! A snapshot keeps every dict's slot layout (holes included), the WATCH sequence numbers
//! and tombstones: a replica restored from it continues exactly like one that applied the
//! whole log, down to which member a seeded SPOP picks.

use super::db::{Db, Entry};
use super::{Dict, DictKey, Key, Store, Value, ZSet};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

impl<V: Serialize, K: DictKey + Serialize> Serialize for Dict<V, K> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.slots())
    }
}

impl<'de, V: DeserializeOwned, K: DictKey + DeserializeOwned> Deserialize<'de> for Dict<V, K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let slots: Vec<Option<(K, V)>> = Vec::deserialize(d)?;
        Ok(Dict::from_slots(slots))
    }
}

impl Serialize for ZSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.members().serialize(s)
    }
}

impl<'de> Deserialize<'de> for ZSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ZSet::from_scores(Dict::<f64>::deserialize(d)?))
    }
}

#[derive(Serialize, Deserialize)]
enum ValueImage {
    Str(Bytes),
    List(Vec<Bytes>),
    Hash(Dict<Bytes>),
    Set(Dict<()>),
    ZSet(ZSet),
}

impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let value = match &self.value {
            Value::Str(b) => ValueImage::Str(b.to_bytes()),
            Value::List(l) => ValueImage::List(l.iter().cloned().collect()),
            Value::Hash(h) => ValueImage::Hash((**h).clone()),
            Value::Set(x) => ValueImage::Set((**x).clone()),
            Value::ZSet(z) => ValueImage::ZSet((**z).clone()),
        };
        (value, self.expire_at(), self.version).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (value, expire_at, version): (ValueImage, Option<u64>, u64) =
            Deserialize::deserialize(d)?;
        let value = match value {
            ValueImage::Str(b) => Value::Str(b.into()),
            ValueImage::List(l) => Value::List(Box::new(l.into())),
            ValueImage::Hash(h) => Value::Hash(Box::new(h)),
            ValueImage::Set(x) => Value::Set(Box::new(x)),
            ValueImage::ZSet(z) => Value::ZSet(Box::new(z)),
        };
        let mut entry = Entry::with_expiry(value, expire_at);
        entry.version = version;
        Ok(entry)
    }
}

/// One db's replicated state (blocked clients are local and not part of it).
#[derive(Serialize, Deserialize)]
struct DbImage {
    entries: Dict<Entry, Key>,
    seq: u64,
    horizon: u64,
    tombstones: Vec<(Bytes, u64)>,
}

impl Store {
    /// Serialises every db's replicated state.
    pub fn to_image(&self) -> Vec<u8> {
        let dbs: Vec<DbImage> = self.dbs.iter().map(Db::image).collect();
        bincode::serialize(&dbs).expect("keyspace serialises")
    }

    /// Replaces the keyspace with a snapshot's; blocked clients are woken to look again.
    pub fn restore_image(&mut self, image: &[u8]) -> anyhow::Result<()> {
        let dbs: Vec<DbImage> = bincode::deserialize(image)?;
        anyhow::ensure!(
            dbs.len() == self.dbs.len(),
            "snapshot has {} dbs",
            dbs.len()
        );
        for (db, image) in self.dbs.iter_mut().zip(dbs) {
            db.restore(image.entries, image.seq, image.horizon, image.tombstones);
        }
        Ok(())
    }
}

impl Db {
    fn image(&self) -> DbImage {
        let (seq, horizon, tombstones) = self.watch_state();
        DbImage {
            entries: self.entries().clone(),
            seq,
            horizon,
            tombstones,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::Str;

    #[test]
    fn image_round_trip_keeps_layout_and_versions() {
        let mut store = Store::default();
        let db = &mut store.dbs[3];
        for i in 0..50 {
            db.set(format!("k{i}"), Value::Str(Str::from(&b"v"[..])));
        }
        for i in (0..50).step_by(7) {
            db.remove(format!("k{i}").as_bytes());
        }
        let mut set = Dict::new();
        set.insert(Bytes::from("m"), ());
        db.set("s", Value::Set(Box::new(set)));
        let mut restored = Store::default();
        restored.restore_image(&store.to_image()).unwrap();
        assert_eq!(restored.to_image(), store.to_image());
        assert_eq!(restored.dbs[3].len(), store.dbs[3].len());
        assert!(!restored.dbs[3].changed_since(b"k1", store.dbs[3].seq()));
    }
}
