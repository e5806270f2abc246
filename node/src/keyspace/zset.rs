//! Sorted sets: members ordered by (score, member), with O(1) score lookup and rank
//! queries (ZRANK, ZRANGE by index) in O(log n + n / CHUNK) rather than O(n).

use super::Dict;
use bytes::Bytes;
use std::cmp::Ordering;

#[derive(Debug, Clone, Default)]
pub struct ZSet {
    scores: Dict<f64>,
    order: Order,
}

impl ZSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Sets `member`'s score; returns true when the member is new. A score of -0 is kept
    /// as 0, as Redis's compact encoding (what small sorted sets use) does.
    pub fn insert(&mut self, member: Bytes, score: f64) -> bool {
        let score = score + 0.0;
        let (slot, old) = self.scores.insert_in_slot(member, score);
        match old {
            None => self.order.insert(&self.scores, Entry::new(score, slot)),
            Some(old) => self.reorder(slot, old, score),
        }
        old.is_none()
    }

    /// Changes the score of a member already in the set; false when it is not.
    pub fn set_score(&mut self, member: &[u8], score: f64) -> bool {
        let score = score + 0.0;
        let Some(slot) = self.scores.slot_index(member) else {
            return false;
        };
        let current = self
            .scores
            .value_at_mut(slot)
            .expect("found slot is in use");
        let old = std::mem::replace(current, score);
        self.reorder(slot, old, score);
        true
    }

    /// Moves the member in `slot`, whose dict score is already `score`, from `old`.
    fn reorder(&mut self, slot: usize, old: f64, score: f64) {
        if old != score {
            self.order
                .rescore(&self.scores, Entry::new(old, slot), score);
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (slot, (member, score)) = self.scores.remove_from_slot(member)?;
        // The member has left the dict, so the probe names it by its old slot (which
        // nothing reuses before the order lets go of it).
        let probe = Probe {
            score,
            member: &member,
            slot: slot as u32,
        };
        self.order.remove(&self.scores, &probe);
        Some(score)
    }

    /// Members in ascending (score, member) order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> {
        self.by_rank(0, self.len())
    }

    /// Members with ranks in `lo..hi` (0-based, ascending order; reversible).
    pub fn by_rank(&self, lo: usize, hi: usize) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> {
        self.order
            .slice(lo, hi)
            .map(|e| (self.scores.key_at(e.slot as usize), e.score))
    }

    /// The 0-based rank of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let slot = self.scores.slot_index(member)?;
        let entry = Entry::new(*self.scores.at_slot(slot)?.1, slot);
        Some(
            self.order
                .count_below(&self.scores, &entry.probe(&self.scores), false),
        )
    }

    /// Rebuilds the order from member scores (snapshot restore).
    pub fn from_scores(scores: Dict<f64>) -> Self {
        let mut entries: Vec<Entry> = scores
            .slots()
            .iter()
            .enumerate()
            .filter_map(|(slot, e)| e.as_ref().map(|(_, score)| Entry::new(*score, slot)))
            .collect();
        entries.sort_by(|a, b| compare(&scores, *a, &b.probe(&scores)));
        let order = Order::from_sorted(entries);
        ZSet { scores, order }
    }

    /// Members whose score is in `range`, in ascending order (reversible).
    pub fn range_by_score(
        &self,
        range: &ScoreRange,
    ) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> {
        // (score, empty member) sorts first among a score's members, so a score bound is
        // a count of the entries below (score, "").
        let below = |score: f64| {
            self.order
                .count_below(&self.scores, &Probe::outside(score, b""), false)
        };
        let (lo, hi) = if range.is_empty() {
            (0, 0)
        } else {
            let lo = if range.min_ex {
                below(range.min.next_up())
            } else {
                below(range.min)
            };
            let hi = match (range.max_ex, range.max) {
                (false, f64::INFINITY) => self.len(),
                (false, max) => below(max.next_up()),
                (true, max) => below(max),
            };
            (lo, hi.max(lo))
        };
        self.by_rank(lo, hi)
    }

    /// Members in `range`, ascending or (`rev`) descending. Like Redis, this assumes all
    /// scores are equal: it skips members below the range, then takes members while they
    /// stay in it. When the scores really are all equal the ends are found by bisection.
    pub fn range_by_lex<'a>(
        &'a self,
        range: &'a LexRange,
        rev: bool,
    ) -> Box<dyn Iterator<Item = (&'a Bytes, f64)> + 'a> {
        if range.is_empty() {
            return Box::new(std::iter::empty());
        }
        if let Some((lo, hi)) = self.lex_ranks(range) {
            return if rev {
                Box::new(self.by_rank(lo, hi).rev())
            } else {
                Box::new(self.by_rank(lo, hi))
            };
        }
        if rev {
            Box::new(
                self.iter()
                    .rev()
                    .skip_while(|(m, _)| !range.below_max(m))
                    .take_while(|(m, _)| range.above_min(m)),
            )
        } else {
            Box::new(
                self.iter()
                    .skip_while(|(m, _)| !range.above_min(m))
                    .take_while(|(m, _)| range.below_max(m)),
            )
        }
    }

    /// The rank interval of a (non-empty) lex range when all members share one score.
    fn lex_ranks(&self, range: &LexRange) -> Option<(usize, usize)> {
        let (_, first) = self.iter().next()?;
        let (_, last) = self.iter().next_back()?;
        if first != last {
            return None;
        }
        let at = |member: &Bytes, inclusive: bool| {
            self.order
                .count_below(&self.scores, &Probe::outside(first, member), inclusive)
        };
        let lo = match &range.min {
            LexBound::Min => 0,
            LexBound::Max => self.len(),
            LexBound::Inclusive(v) => at(v, false),
            LexBound::Exclusive(v) => at(v, true),
        };
        let hi = match &range.max {
            LexBound::Min => 0,
            LexBound::Max => self.len(),
            LexBound::Inclusive(v) => at(v, true),
            LexBound::Exclusive(v) => at(v, false),
        };
        Some((lo, hi.max(lo)))
    }

    /// The member/score dict, for scans and random picks.
    pub fn members(&self) -> &Dict<f64> {
        &self.scores
    }
}

/// Two sets are equal when they hold the same members in the same order with the same
/// scores, whatever their dict slots and chunking (replicas may differ in both).
impl PartialEq for ZSet {
    fn eq(&self, other: &ZSet) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// One position in the order: the score and the dict slot of the member. Naming the
/// member by slot keeps entries at 16 bytes (a chunk shift moves less) and spares the
/// hot path `Bytes` clones and their refcount traffic.
#[derive(Debug, Clone, Copy)]
struct Entry {
    score: f64,
    slot: u32,
}

impl Entry {
    fn new(score: f64, slot: usize) -> Entry {
        Entry {
            score,
            slot: slot as u32,
        }
    }

    fn probe<'a>(&self, members: &'a Dict<f64>) -> Probe<'a> {
        Probe {
            score: self.score,
            member: members.key_at(self.slot as usize),
            slot: self.slot,
        }
    }
}

/// A (score, member) the order is searched for. `slot` is the member's own slot, so
/// the comparison with its own entry needs no bytes (and works after the dict let go of
/// them); `NO_SLOT` when the probe is not a member.
#[derive(Clone, Copy)]
struct Probe<'a> {
    score: f64,
    member: &'a [u8],
    slot: u32,
}

const NO_SLOT: u32 = u32::MAX;

impl<'a> Probe<'a> {
    fn outside(score: f64, member: &'a [u8]) -> Probe<'a> {
        Probe {
            score,
            member,
            slot: NO_SLOT,
        }
    }
}

/// How `entry` sorts against `probe`: by score, then member bytes. Scores are never NaN.
fn compare(members: &Dict<f64>, entry: Entry, probe: &Probe) -> Ordering {
    if entry.slot == probe.slot {
        Ordering::Equal
    } else if entry.score < probe.score {
        Ordering::Less
    } else if entry.score > probe.score {
        Ordering::Greater
    } else {
        members
            .key_at(entry.slot as usize)
            .as_ref()
            .cmp(probe.member)
    }
}

/// Entries per chunk of the order: a chunk splits in two past twice this.
const CHUNK: usize = 256;

/// The (score, member) order as a list of sorted chunks (a "sorted list"): inserts and
/// removes shift at most one chunk, and a rank is the sizes of the chunks before plus a
/// bisection inside one, so ranks cost O(log n + n / CHUNK) without per-node counts.
#[derive(Debug, Clone, Default)]
struct Order {
    chunks: Vec<Vec<Entry>>,
    len: usize,
}

impl Order {
    fn from_sorted(entries: Vec<Entry>) -> Order {
        let len = entries.len();
        let chunks = entries.chunks(CHUNK).map(<[_]>::to_vec).collect();
        Order { chunks, len }
    }

    /// The chunk where `probe` belongs: the first whose last entry is not below it (or
    /// the last chunk).
    fn chunk_for(&self, members: &Dict<f64>, probe: &Probe) -> usize {
        let i = self.chunks.partition_point(|c| {
            let last = *c.last().expect("chunks are never empty");
            compare(members, last, probe) == Ordering::Less
        });
        i.min(self.chunks.len().saturating_sub(1))
    }

    /// The (chunk, index) of the entry equal to `probe`.
    fn find(&self, members: &Dict<f64>, probe: &Probe) -> Option<(usize, usize)> {
        if self.chunks.is_empty() {
            return None;
        }
        let i = self.chunk_for(members, probe);
        let chunk = &self.chunks[i];
        let at = chunk.partition_point(|e| compare(members, *e, probe) == Ordering::Less);
        chunk
            .get(at)
            .is_some_and(|e| compare(members, *e, probe) == Ordering::Equal)
            .then_some((i, at))
    }

    fn insert(&mut self, members: &Dict<f64>, entry: Entry) {
        self.len += 1;
        if self.chunks.is_empty() {
            self.chunks.push(vec![entry]);
            return;
        }
        let probe = entry.probe(members);
        let i = self.chunk_for(members, &probe);
        let chunk = &mut self.chunks[i];
        let at = chunk.partition_point(|e| compare(members, *e, &probe) == Ordering::Less);
        chunk.insert(at, entry);
        if chunk.len() > 2 * CHUNK {
            let tail = chunk.split_off(CHUNK);
            self.chunks.insert(i + 1, tail);
        }
    }

    fn remove(&mut self, members: &Dict<f64>, probe: &Probe) {
        if let Some((i, at)) = self.find(members, probe) {
            self.remove_at(i, at);
        }
    }

    fn remove_at(&mut self, i: usize, at: usize) {
        let chunk = &mut self.chunks[i];
        chunk.remove(at);
        self.len -= 1;
        if chunk.is_empty() {
            self.chunks.remove(i);
        } else if chunk.len() < CHUNK / 4 {
            self.merge_around(i);
        }
    }

    /// Gives the member of `old` a new score: in place when it keeps its position (as
    /// small ZINCRBY steps often do), else by a remove and an insert.
    fn rescore(&mut self, members: &Dict<f64>, old: Entry, score: f64) {
        let (i, at) = self
            .find(members, &old.probe(members))
            .expect("a member's entry is in the order");
        let moved = Entry { score, ..old };
        if self.fits_at(members, i, at, &moved.probe(members)) {
            self.chunks[i][at].score = score;
        } else {
            self.remove_at(i, at);
            self.insert(members, moved);
        }
    }

    /// Whether `probe` sorts between the neighbours of the entry at (`i`, `at`).
    fn fits_at(&self, members: &Dict<f64>, i: usize, at: usize, probe: &Probe) -> bool {
        let chunk = &self.chunks[i];
        let prev = match at {
            0 => i.checked_sub(1).and_then(|p| self.chunks[p].last()),
            _ => chunk.get(at - 1),
        };
        let next = chunk
            .get(at + 1)
            .or_else(|| self.chunks.get(i + 1).and_then(|c| c.first()));
        prev.is_none_or(|e| compare(members, *e, probe) == Ordering::Less)
            && next.is_none_or(|e| compare(members, *e, probe) == Ordering::Greater)
    }

    /// Joins a shrunken chunk with a neighbour when they fit in one, so deletions cannot
    /// leave a long list of tiny chunks (which would make ranks walk many of them).
    fn merge_around(&mut self, i: usize) {
        let first = if i + 1 < self.chunks.len() {
            i
        } else if i > 0 {
            i - 1
        } else {
            return;
        };
        if self.chunks[first].len() + self.chunks[first + 1].len() <= 2 * CHUNK {
            let next = self.chunks.remove(first + 1);
            self.chunks[first].extend(next);
        }
    }

    /// How many entries sort below `probe` (or, when `inclusive`, not above it).
    fn count_below(&self, members: &Dict<f64>, probe: &Probe, inclusive: bool) -> usize {
        let below = |e: &Entry| match compare(members, *e, probe) {
            Ordering::Less => true,
            Ordering::Equal => inclusive,
            Ordering::Greater => false,
        };
        let i = self
            .chunks
            .partition_point(|c| below(c.last().expect("chunks are never empty")));
        self.entries_before(i) + self.chunks.get(i).map_or(0, |c| c.partition_point(below))
    }

    /// How many entries the chunks before chunk `i` hold, summed from the nearer end of the
    /// list.
    fn entries_before(&self, i: usize) -> usize {
        if i <= self.chunks.len() / 2 {
            self.chunks[..i].iter().map(Vec::len).sum()
        } else {
            self.len - self.chunks[i..].iter().map(Vec::len).sum::<usize>()
        }
    }

    /// The chunk holding rank `rank` (below the length) and the rank's offset in it.
    fn locate(&self, rank: usize) -> (usize, usize) {
        self.locate_from(rank, 0, 0)
    }

    /// `locate`, walking forward from chunk `i` (whose first rank is `start`, not above
    /// `rank`) or back from the end, whichever is nearer: the ends of the order and ranks
    /// just past a known one are O(1) away.
    fn locate_from(&self, rank: usize, mut i: usize, mut start: usize) -> (usize, usize) {
        if rank - start < self.len - rank {
            while rank >= start + self.chunks[i].len() {
                start += self.chunks[i].len();
                i += 1;
            }
        } else {
            i = self.chunks.len() - 1;
            start = self.len - self.chunks[i].len();
            while rank < start {
                i -= 1;
                start -= self.chunks[i].len();
            }
        }
        (i, rank - start)
    }

    /// Entries with ranks in `lo..hi`, as a reversible iterator over chunk slices.
    fn slice(&self, lo: usize, hi: usize) -> impl DoubleEndedIterator<Item = &Entry> {
        let hi = hi.min(self.len);
        let (chunks, from, to) = if lo < hi {
            let (first, from) = self.locate(lo);
            let (last, at) = self.locate_from(hi - 1, first, lo - from);
            (&self.chunks[first..=last], from, at + 1)
        } else {
            (&self.chunks[..0], 0, 0)
        };
        let count = chunks.len();
        chunks.iter().enumerate().flat_map(move |(k, chunk)| {
            let start = if k == 0 { from } else { 0 };
            let end = if k + 1 == count { to } else { chunk.len() };
            &chunk[start..end]
        })
    }
}

/// A score interval, `(` bounds exclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub min_ex: bool,
    pub max_ex: bool,
}

impl ScoreRange {
    /// Redis's test for ranges that can hold nothing (min above max, or equal but open).
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.min_ex || self.max_ex))
    }
}

/// One end of a lexicographic range: `-`, `+`, `[member` or `(member`.
#[derive(Debug, Clone, PartialEq)]
pub enum LexBound {
    Min,
    Max,
    Inclusive(Bytes),
    Exclusive(Bytes),
}

impl LexBound {
    /// Orders bounds as Redis does: `-` below every string, `+` above.
    fn cmp_value(&self, other: &LexBound) -> Ordering {
        let rank = |b: &LexBound| match b {
            LexBound::Min => (0, Bytes::new()),
            LexBound::Inclusive(v) | LexBound::Exclusive(v) => (1, v.clone()),
            LexBound::Max => (2, Bytes::new()),
        };
        rank(self).cmp(&rank(other))
    }

    /// `-` and `+` count as exclusive, as in Redis.
    fn is_exclusive(&self) -> bool {
        !matches!(self, LexBound::Inclusive(_))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn is_empty(&self) -> bool {
        match self.min.cmp_value(&self.max) {
            Ordering::Greater => true,
            Ordering::Equal => self.min.is_exclusive() || self.max.is_exclusive(),
            Ordering::Less => false,
        }
    }

    pub fn above_min(&self, member: &[u8]) -> bool {
        match &self.min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Inclusive(v) => member >= &v[..],
            LexBound::Exclusive(v) => member > &v[..],
        }
    }

    pub fn below_max(&self, member: &[u8]) -> bool {
        match &self.max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Inclusive(v) => member <= &v[..],
            LexBound::Exclusive(v) => member < &v[..],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// Random inserts, updates and removes checked against a plain sorted vector.
    #[test]
    fn ranks_and_slices_match_a_sorted_vector() {
        let mut rng = StdRng::seed_from_u64(11);
        let mut zset = ZSet::new();
        let mut model: std::collections::BTreeMap<Bytes, f64> = Default::default();
        for _ in 0..20_000 {
            let member = Bytes::from(format!("m{}", rng.gen_range(0..3000)));
            if rng.gen_bool(0.3) {
                assert_eq!(zset.remove(&member), model.remove(&member));
            } else {
                let score = rng.gen_range(0..50) as f64;
                zset.insert(member.clone(), score);
                model.insert(member, score);
            }
        }
        let expected = sorted(&model);
        let got: Vec<(f64, Bytes)> = zset.iter().map(|(m, s)| (s, m.clone())).collect();
        assert_eq!(got, expected);
        for (rank, (_, member)) in expected.iter().enumerate().step_by(37) {
            assert_eq!(zset.rank(member), Some(rank));
        }
        let window: Vec<_> = zset
            .by_rank(100, 700)
            .rev()
            .map(|(m, _)| m.clone())
            .collect();
        let model_window: Vec<_> = expected[100..700]
            .iter()
            .rev()
            .map(|(_, m)| m.clone())
            .collect();
        assert_eq!(window, model_window);
        for _ in 0..200 {
            let lo = rng.gen_range(0..expected.len() + 10);
            let hi = rng.gen_range(0..expected.len() + 10);
            let got: Vec<_> = zset.by_rank(lo, hi).map(|(m, _)| m.clone()).collect();
            let want: Vec<_> = expected[lo.min(hi).min(expected.len())..hi.min(expected.len())]
                .iter()
                .map(|(_, m)| m.clone())
                .collect();
            assert_eq!(got, want, "ranks {lo}..{hi}");
            let back: Vec<_> = zset.by_rank(lo, hi).rev().map(|(m, _)| m.clone()).collect();
            assert!(
                back.iter().eq(want.iter().rev()),
                "ranks {lo}..{hi} reversed"
            );
        }
        let range = ScoreRange {
            min: 10.0,
            max: 20.0,
            min_ex: true,
            max_ex: false,
        };
        let in_range = zset.range_by_score(&range).count();
        assert_eq!(
            in_range,
            expected
                .iter()
                .filter(|(s, _)| *s > 10.0 && *s <= 20.0)
                .count()
        );
        assert_eq!(ZSet::from_scores(zset.members().clone()), zset);
    }

    /// The model's (score, member) order and each member's rank in it.
    fn sorted(model: &std::collections::BTreeMap<Bytes, f64>) -> Vec<(f64, Bytes)> {
        let mut expected: Vec<(f64, Bytes)> = model.iter().map(|(m, s)| (*s, m.clone())).collect();
        expected.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        expected
    }

    /// ZINCRBY-like small steps (mostly in place, some crossing neighbours or chunks),
    /// set_score, removes and re-adds, checked against a model after every operation on a
    /// set spanning several chunks.
    #[test]
    fn score_changes_keep_the_order_and_ranks() {
        let mut rng = StdRng::seed_from_u64(5);
        let mut zset = ZSet::new();
        let mut model: std::collections::BTreeMap<Bytes, f64> = Default::default();
        for i in 0..600 {
            let member = Bytes::from(format!("m{i}"));
            let score = rng.gen_range(0..200) as f64 * 0.5;
            zset.insert(member.clone(), score);
            model.insert(member, score);
        }
        for step in 0..6000 {
            let member = Bytes::from(format!("m{}", rng.gen_range(0..700)));
            match rng.gen_range(0..10) {
                0 => assert_eq!(zset.remove(&member), model.remove(&member)),
                1 => {
                    let score = rng.gen_range(0..200) as f64 * 0.5;
                    let present = model.contains_key(&member);
                    assert_eq!(zset.set_score(&member, score), present);
                    if present {
                        model.insert(member, score);
                    }
                }
                _ => {
                    let score = model.get(&member).copied().unwrap_or(0.0)
                        + rng.gen_range(-3..=3) as f64 * 0.25;
                    assert_eq!(
                        zset.insert(member.clone(), score),
                        !model.contains_key(&member)
                    );
                    model.insert(member, score);
                }
            }
            let expected = sorted(&model);
            if step % 500 == 0 {
                let got: Vec<(f64, Bytes)> = zset.iter().map(|(m, s)| (s, m.clone())).collect();
                assert_eq!(got, expected);
            }
            let (_, probe) = &expected[rng.gen_range(0..expected.len())];
            let rank = expected.iter().position(|(_, m)| m == probe);
            assert_eq!(zset.rank(probe), rank);
        }
        assert_eq!(ZSet::from_scores(zset.members().clone()), zset);
    }

    /// Equality looks at members and scores, not at dict slots or chunking.
    #[test]
    fn equal_sets_built_differently_compare_equal() {
        let mut forward = ZSet::new();
        let mut backward = ZSet::new();
        for i in 0..1000 {
            forward.insert(Bytes::from(format!("m{i}")), (i % 7) as f64);
            let j = 999 - i;
            backward.insert(Bytes::from(format!("m{j}")), (j % 7) as f64);
        }
        backward.insert(Bytes::from("extra"), 1.0);
        assert_ne!(forward, backward);
        backward.remove(b"extra");
        assert_eq!(forward, backward);
        backward.insert(Bytes::from("m3"), 2.5);
        assert_ne!(forward, backward);
    }

    #[test]
    fn deletions_do_not_leave_many_tiny_chunks() {
        let mut zset = ZSet::new();
        for i in 0..20_000 {
            zset.insert(Bytes::from(format!("m{i:05}")), i as f64);
        }
        for i in (0..20_000).filter(|i| i % 50 != 0) {
            zset.remove(format!("m{i:05}").as_bytes());
        }
        assert_eq!(zset.len(), 400);
        // On average at least an eighth of a chunk's capacity per chunk.
        assert!(
            zset.order.chunks.len() <= 400 / (CHUNK / 8),
            "{} chunks",
            zset.order.chunks.len()
        );
        assert_eq!(zset.rank(b"m19950"), Some(399));
    }
}
