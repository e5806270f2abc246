//! `Dict`: a hash map from byte strings to values whose entries keep a stable slot for
//! their whole life.
//!
//! Stable slots give two Redis guarantees cheaply: a SCAN cursor (a slot number) never
//! misses an entry present for the whole scan, and a random pick is an O(1) probe of a
//! slot. Slot reuse is deterministic (lowest free slot first), so every replica that
//! applies the same operations ends with the same layout, and seeded random picks
//! (SPOP, RANDOMKEY) choose the same entries everywhere.

use super::slot_index::{prefetch, SlotIndex};
use bytes::Bytes;
use rand::Rng;
use std::borrow::Borrow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::{BuildHasher, Hasher};

/// Hash seed shared by all dicts; fixed per process (lookups only, never ordering).
fn hasher() -> &'static std::collections::hash_map::RandomState {
    static STATE: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    STATE.get_or_init(Default::default)
}

/// SipHash of the key's bytes, as Redis hashes keys (resisting collision flooding). Fed
/// to the hasher directly: a lone slice needs no length prefix, which would cost another
/// round per lookup.
fn hash(key: &[u8]) -> u64 {
    let mut state = hasher().build_hasher();
    state.write(key);
    state.finish()
}

/// What a dict is keyed by: byte strings, owned as `Bytes` (members of hashes, sets and
/// sorted sets) or as compact [`Key`](super::Key)s (the keyspace).
pub trait DictKey: Borrow<[u8]> {
    fn from_slice(bytes: &[u8]) -> Self;
}

impl DictKey for Bytes {
    fn from_slice(bytes: &[u8]) -> Self {
        Bytes::copy_from_slice(bytes)
    }
}

impl DictKey for super::Key {
    fn from_slice(bytes: &[u8]) -> Self {
        super::Key::from(bytes)
    }
}

#[derive(Debug, Clone)]
pub struct Dict<V, K = Bytes> {
    index: SlotIndex,
    slots: Vec<Option<(K, V)>>,
    free: BinaryHeap<Reverse<u32>>,
}

impl<V, K> Default for Dict<V, K> {
    fn default() -> Self {
        Dict {
            index: SlotIndex::default(),
            slots: Vec::new(),
            free: BinaryHeap::new(),
        }
    }
}

fn holds<K: DictKey, V>(slots: &[Option<(K, V)>], slot: u32, key: &[u8]) -> bool {
    slots[slot as usize]
        .as_ref()
        .is_some_and(|(k, _)| k.borrow() == key)
}

impl<V, K: DictKey> Dict<V, K> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn slot_of(&self, key: &[u8]) -> Option<u32> {
        self.slot_with_hash(hash(key), key)
    }

    fn slot_with_hash(&self, h: u64, key: &[u8]) -> Option<u32> {
        self.index.find(h, |s| holds(&self.slots, s, key))
    }

    /// Starts loading the index line a lookup of `key` reads first. A run of commands
    /// calls this a few keys ahead, then [`Dict::prefetch_slot`], so the cache misses of
    /// many lookups overlap instead of following one another.
    pub fn prefetch_index(&self, key: &[u8]) {
        self.index.prefetch(hash(key));
    }

    /// Starts loading the slot a lookup of `key` would read; reads the index to find it.
    pub fn prefetch_slot(&self, key: &[u8]) {
        if let Some(slot) = self.index.find(hash(key), |_| true) {
            prefetch(&self.slots[slot as usize]);
        }
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        let slot = self.slot_of(key)?;
        self.slots[slot as usize].as_ref().map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let slot = self.slot_of(key)?;
        self.slots[slot as usize].as_mut().map(|(_, v)| v)
    }

    /// The slot holding `key`: lets a caller look once, then read and write by slot.
    pub fn slot_index(&self, key: &[u8]) -> Option<usize> {
        self.slot_of(key).map(|s| s as usize)
    }

    pub fn value_at_mut(&mut self, slot: usize) -> Option<&mut V> {
        self.slots.get_mut(slot)?.as_mut().map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.slot_of(key).is_some()
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.insert_in_slot(key, value).1
    }

    /// `insert` that also says which slot holds the entry, with the one lookup.
    pub fn insert_in_slot(&mut self, key: K, value: V) -> (usize, Option<V>) {
        let h = hash(key.borrow());
        match self.replace(h, key.borrow(), value) {
            Ok((slot, old)) => (slot as usize, Some(old)),
            Err(value) => (self.insert_new(h, key, value) as usize, None),
        }
    }

    /// Like `insert`, but builds the owned key only when `key` is new.
    pub fn upsert(&mut self, key: &[u8], value: V) -> Option<V> {
        let h = hash(key);
        match self.replace(h, key, value) {
            Ok((_, old)) => Some(old),
            Err(value) => {
                self.insert_new(h, K::from_slice(key), value);
                None
            }
        }
    }

    /// Replaces the value of an existing key; hands `value` back when the key is absent.
    fn replace(&mut self, h: u64, key: &[u8], value: V) -> Result<(u32, V), V> {
        let Some(slot) = self.slot_with_hash(h, key) else {
            return Err(value);
        };
        let (_, existing) = self.slots[slot as usize]
            .as_mut()
            .expect("indexed slot is full");
        Ok((slot, std::mem::replace(existing, value)))
    }

    fn insert_new(&mut self, h: u64, key: K, value: V) -> u32 {
        let slot = self.take_free_slot();
        self.slots[slot as usize] = Some((key, value));
        self.index.insert_unique(h, slot);
        slot
    }

    /// Returns the value for `key`, inserting `make()` first when absent.
    pub fn entry_or_insert_with(&mut self, key: &[u8], make: impl FnOnce() -> V) -> &mut V {
        if !self.contains_key(key) {
            self.insert(K::from_slice(key), make());
        }
        self.get_mut(key).expect("just inserted")
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        self.remove_entry(key).map(|(_, v)| v)
    }

    pub fn remove_entry(&mut self, key: &[u8]) -> Option<(K, V)> {
        self.remove_from_slot(key).map(|(_, entry)| entry)
    }

    /// `remove_entry` that also says which slot the entry had, for structures that
    /// refer to entries by slot.
    pub fn remove_from_slot(&mut self, key: &[u8]) -> Option<(usize, (K, V))> {
        let slots = &self.slots;
        let slot = self.index.remove(hash(key), |s| holds(slots, s, key))?;
        self.free_slot(slot).map(|entry| (slot as usize, entry))
    }

    /// The lowest free slot, or a new one at the end. Slots past the end (left behind when
    /// the tail was trimmed) are skipped lazily here.
    fn take_free_slot(&mut self) -> u32 {
        while let Some(Reverse(slot)) = self.free.pop() {
            if (slot as usize) < self.slots.len() && self.slots[slot as usize].is_none() {
                return slot;
            }
        }
        self.slots.push(None);
        (self.slots.len() - 1) as u32
    }

    fn free_slot(&mut self, slot: u32) -> Option<(K, V)> {
        let taken = self.slots[slot as usize].take();
        if slot as usize == self.slots.len() - 1 {
            self.slots.pop();
            self.trim_trailing_holes();
        } else {
            self.free.push(Reverse(slot));
        }
        if self.index.is_empty() {
            self.clear();
        }
        taken
    }

    /// Keeps the slot vector from holding a tail of holes after deletions at the end.
    fn trim_trailing_holes(&mut self) {
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
    }

    pub fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
        self.free.clear();
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.slots
            .iter()
            .filter_map(|s| s.as_ref().map(|(k, v)| (k, v)))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.slots
            .iter_mut()
            .filter_map(|s| s.as_mut().map(|(k, v)| (&*k, v)))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }

    /// Every slot in order, holes included: the layout a snapshot keeps.
    pub(super) fn slots(&self) -> &[Option<(K, V)>] {
        &self.slots
    }

    /// Rebuilds a dict with exactly this slot layout.
    pub(super) fn from_slots(slots: Vec<Option<(K, V)>>) -> Self {
        let mut dict = Dict {
            index: SlotIndex::default(),
            slots,
            free: BinaryHeap::new(),
        };
        for (i, slot) in dict.slots.iter().enumerate() {
            match slot {
                Some((key, _)) => dict.index.insert_unique(hash(key.borrow()), i as u32),
                None => dict.free.push(Reverse(i as u32)),
            }
        }
        dict
    }

    /// Number of slots, used or not: the exclusive upper bound of scan cursors.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The key in `slot`, which must be in use.
    pub fn key_at(&self, slot: usize) -> &K {
        &self.slots[slot].as_ref().expect("slot is in use").0
    }

    /// The entry in `slot`, if the slot is in use.
    pub fn at_slot(&self, slot: usize) -> Option<(&K, &V)> {
        self.slots.get(slot)?.as_ref().map(|(k, v)| (k, v))
    }

    /// Visits slots from `cursor` until about `count` slots were looked at; returns the next
    /// cursor (0 when done), like Redis's SCAN.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&K, &V)) -> u64 {
        let start = cursor as usize;
        let end = start.saturating_add(count.max(1)).min(self.slots.len());
        for slot in start..end {
            if let Some((k, v)) = &self.slots[slot] {
                visit(k, v);
            }
        }
        if end >= self.slots.len() {
            0
        } else {
            end as u64
        }
    }

    /// A uniformly random entry: probes random slots, then falls back to a walk when the
    /// dict is mostly holes.
    pub fn random<R: Rng>(&self, rng: &mut R) -> Option<(&K, &V)> {
        if self.is_empty() {
            return None;
        }
        for _ in 0..16 {
            if let Some(entry) = self.at_slot(rng.gen_range(0..self.slots.len())) {
                return Some(entry);
            }
        }
        self.iter().nth(rng.gen_range(0..self.len()))
    }
}

impl<V: PartialEq, K: DictKey> PartialEq for Dict<V, K> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k.borrow()) == Some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn scan_sees_every_key_present_throughout_despite_churn() {
        let mut d = Dict::new();
        for i in 0..1000 {
            d.insert(Bytes::from(format!("k{i}")), i);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = d.scan(cursor, 10, |k, _| {
                seen.insert(k.clone());
            });
            // Churn: delete the odd keys above 500 and add new ones while the scan runs.
            round += 1;
            let victim = format!("k{}", 501 + 2 * (round % 249));
            d.remove(victim.as_bytes());
            d.insert(Bytes::from(format!("new{round}")), 0);
            if cursor == 0 {
                break;
            }
        }
        for i in (0..500).step_by(2) {
            assert!(seen.contains(format!("k{i}").as_bytes()), "missed k{i}");
        }
    }

    #[test]
    fn same_operations_give_same_random_picks() {
        let build = || {
            let mut d = Dict::new();
            for i in 0..100 {
                d.insert(Bytes::from(format!("k{i}")), ());
            }
            for i in (0..100).step_by(3) {
                d.remove(format!("k{i}").as_bytes());
            }
            d.insert(Bytes::from("late"), ());
            d
        };
        let (a, b) = (build(), build());
        let pick = |d: &Dict<()>| d.random(&mut StdRng::seed_from_u64(7)).unwrap().0.clone();
        assert_eq!(pick(&a), pick(&b));
        assert_eq!(a.len(), 67);
    }
}
