//! A dict's index: from a key's hash to the slot holding the key.
//!
//! An open-addressing table with linear probing whose entries carry 32 bits of the hash
//! beside the slot number, so a lookup usually reads one cache line of the index (eight
//! entries; the table is at most three quarters full) and then the slot itself.
//! hashbrown's table kept its control bytes and its slot numbers in two places, a third
//! cache miss per key; under replicated writes on 100k keys that lookup was the largest
//! item on every node's profile. Knowing where a key's entry lives also lets a batch
//! prefetch it ([`SlotIndex::prefetch`]).

/// An empty entry; a full one is `tag << 32 | (slot + 1)`.
const EMPTY: u64 = 0;
/// The table grows past this fraction full (linear probing slows sharply beyond it).
const LOAD_NUM: usize = 3;
const LOAD_DEN: usize = 4;
const MIN_CAPACITY: usize = 4;

#[derive(Debug, Clone, Default)]
pub struct SlotIndex {
    /// A power of two long, or empty.
    entries: Box<[u64]>,
    len: usize,
}

/// The part of a hash an entry keeps: it picks the entry's home position too, so the
/// table can grow without hashing its keys again.
fn tag(h: u64) -> u32 {
    (h >> 32) as u32
}

fn entry(tag: u32, slot: u32) -> u64 {
    debug_assert!(slot < u32::MAX, "slot numbers fit in 32 bits");
    (tag as u64) << 32 | (slot as u64 + 1)
}

fn entry_tag(entry: u64) -> u32 {
    (entry >> 32) as u32
}

fn entry_slot(entry: u64) -> u32 {
    (entry as u32) - 1
}

impl SlotIndex {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn mask(&self) -> usize {
        self.entries.len() - 1
    }

    fn home(&self, tag: u32) -> usize {
        tag as usize & self.mask()
    }

    /// The position of the entry for hash `h` whose slot `is_match` accepts.
    fn position(&self, h: u64, mut is_match: impl FnMut(u32) -> bool) -> Option<usize> {
        if self.entries.is_empty() {
            return None;
        }
        let tag = tag(h);
        let mut pos = self.home(tag);
        loop {
            let e = self.entries[pos];
            if e == EMPTY {
                return None;
            }
            if entry_tag(e) == tag && is_match(entry_slot(e)) {
                return Some(pos);
            }
            pos = (pos + 1) & self.mask();
        }
    }

    /// The slot of the entry for hash `h` that `is_match` accepts.
    pub fn find(&self, h: u64, is_match: impl FnMut(u32) -> bool) -> Option<u32> {
        self.position(h, is_match)
            .map(|pos| entry_slot(self.entries[pos]))
    }

    /// Adds `slot` under hash `h`; the caller knows no entry for its key is present.
    pub fn insert_unique(&mut self, h: u64, slot: u32) {
        if (self.len + 1) * LOAD_DEN > self.entries.len() * LOAD_NUM {
            self.grow();
        }
        self.place(entry(tag(h), slot));
        self.len += 1;
    }

    fn place(&mut self, e: u64) {
        let mut pos = self.home(entry_tag(e));
        while self.entries[pos] != EMPTY {
            pos = (pos + 1) & self.mask();
        }
        self.entries[pos] = e;
    }

    fn grow(&mut self) {
        let capacity = (self.entries.len() * 2).max(MIN_CAPACITY);
        let old = std::mem::replace(&mut self.entries, vec![EMPTY; capacity].into());
        for e in old.iter().copied().filter(|&e| e != EMPTY) {
            self.place(e);
        }
    }

    /// Removes the entry for hash `h` that `is_match` accepts; returns its slot.
    pub fn remove(&mut self, h: u64, is_match: impl FnMut(u32) -> bool) -> Option<u32> {
        let pos = self.position(h, is_match)?;
        let slot = entry_slot(self.entries[pos]);
        self.remove_at(pos);
        self.len -= 1;
        Some(slot)
    }

    /// Empties `hole` and moves back the entries after it that probed past it, so every
    /// entry stays reachable from its home without tombstones.
    fn remove_at(&mut self, mut hole: usize) {
        let mask = self.mask();
        let mut next = (hole + 1) & mask;
        while self.entries[next] != EMPTY {
            let home = self.home(entry_tag(self.entries[next]));
            // The entry may fill the hole when the hole lies on its probe path.
            if (next.wrapping_sub(home) & mask) >= (next.wrapping_sub(hole) & mask) {
                self.entries[hole] = self.entries[next];
                hole = next;
            }
            next = (next + 1) & mask;
        }
        self.entries[hole] = EMPTY;
    }

    pub fn clear(&mut self) {
        *self = SlotIndex::default();
    }

    /// Starts loading the index's line for hash `h` into the cache, so a lookup of it a
    /// little later does not wait for memory.
    pub fn prefetch(&self, h: u64) {
        if !self.entries.is_empty() {
            prefetch_line((&self.entries[self.home(tag(h))] as *const u64).cast());
        }
    }
}

/// Asks the CPU to load the cache lines `value` spans (a dict's slot is a cache line
/// long but not aligned to one); changes nothing observable.
pub fn prefetch<T>(value: &T) {
    let first = (value as *const T).cast::<u8>();
    prefetch_line(first);
    prefetch_line(first.wrapping_add(std::mem::size_of::<T>().saturating_sub(1)));
}

fn prefetch_line(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: SSE is part of x86_64, and a prefetch neither reads nor writes memory
        // as far as the program can tell, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(address.cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Hashes whose tags collide in the low bits, so entries share homes and probe runs
    /// wrap around the end of the table.
    fn crowded_hash(i: u32) -> u64 {
        let tag = (i % 7) | (i << 16);
        (tag as u64) << 32
    }

    #[test]
    fn matches_a_map_through_inserts_and_removals() {
        let mut index = SlotIndex::default();
        let mut model = HashSet::new();
        let find = |index: &SlotIndex, slot: u32| index.find(crowded_hash(slot), |s| s == slot);
        for round in 0..2000u32 {
            let slot = (round * 7919) % 500;
            if model.remove(&slot) {
                assert_eq!(index.remove(crowded_hash(slot), |s| s == slot), Some(slot));
            } else {
                index.insert_unique(crowded_hash(slot), slot);
                model.insert(slot);
            }
            assert_eq!(index.len(), model.len());
            if round % 97 == 0 {
                for slot in 0..500 {
                    let expected = model.contains(&slot).then_some(slot);
                    assert_eq!(find(&index, slot), expected, "slot {slot} in round {round}");
                }
            }
        }
    }

    #[test]
    fn stays_at_most_three_quarters_full() {
        let mut index = SlotIndex::default();
        for slot in 0..1000 {
            index.insert_unique(crowded_hash(slot), slot);
            assert!(index.len() * LOAD_DEN <= index.entries.len() * LOAD_NUM);
        }
    }
}
