//! Sorted sets: members ordered by (score, member), with O(1) score lookup and rank
//! queries (ZRANK, ZRANGE by index) in O(log n + n / CHUNK) rather than O(n).

use super::Dict;
use bytes::Bytes;
use ordered_float::OrderedFloat;
use std::cmp::Ordering;

pub type Score = OrderedFloat<f64>;

#[derive(Debug, Clone, Default, PartialEq)]
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
        let old = self.scores.insert(member.clone(), score);
        if let Some(old) = old {
            self.order.remove(&(OrderedFloat(old), member.clone()));
        }
        self.order.insert((OrderedFloat(score), member));
        old.is_none()
    }

    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (member, score) = self.scores.remove_entry(member)?;
        self.order.remove(&(OrderedFloat(score), member));
        Some(score)
    }

    /// Members in ascending (score, member) order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> {
        self.by_rank(0, self.len())
    }

    /// Members with ranks in `lo..hi` (0-based, ascending order; reversible).
    pub fn by_rank(&self, lo: usize, hi: usize) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> {
        self.order.slice(lo, hi).map(|(s, m)| (m, s.0))
    }

    /// The 0-based rank of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(self.order.count_below(
            &(OrderedFloat(score), Bytes::copy_from_slice(member)),
            false,
        ))
    }

    /// Rebuilds the order from member scores (snapshot restore).
    pub fn from_scores(scores: Dict<f64>) -> Self {
        let mut entries: Vec<(Score, Bytes)> = scores
            .iter()
            .map(|(m, s)| (OrderedFloat(*s), m.clone()))
            .collect();
        entries.sort();
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
                .count_below(&(OrderedFloat(score), Bytes::new()), false)
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
                .count_below(&(OrderedFloat(first), member.clone()), inclusive)
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

/// Entries per chunk of the order: a chunk splits in two past twice this.
const CHUNK: usize = 256;

/// The (score, member) order as a list of sorted chunks (a "sorted list"): inserts and
/// removes shift at most one chunk, and a rank is the sizes of the chunks before plus a
/// bisection inside one, so ranks cost O(log n + n / CHUNK) without per-node counts.
#[derive(Debug, Clone, Default)]
struct Order {
    chunks: Vec<Vec<(Score, Bytes)>>,
    len: usize,
}

impl Order {
    fn from_sorted(entries: Vec<(Score, Bytes)>) -> Order {
        let len = entries.len();
        let chunks = entries.chunks(CHUNK).map(<[_]>::to_vec).collect();
        Order { chunks, len }
    }

    /// The chunk where `key` belongs: the first whose last entry is not below it (or the
    /// last chunk).
    fn chunk_for(&self, key: &(Score, Bytes)) -> usize {
        let i = self
            .chunks
            .partition_point(|c| c.last().expect("chunks are never empty") < key);
        i.min(self.chunks.len().saturating_sub(1))
    }

    fn insert(&mut self, entry: (Score, Bytes)) {
        self.len += 1;
        if self.chunks.is_empty() {
            self.chunks.push(vec![entry]);
            return;
        }
        let i = self.chunk_for(&entry);
        let chunk = &mut self.chunks[i];
        let at = chunk.partition_point(|e| e < &entry);
        chunk.insert(at, entry);
        if chunk.len() > 2 * CHUNK {
            let tail = chunk.split_off(CHUNK);
            self.chunks.insert(i + 1, tail);
        }
    }

    fn remove(&mut self, entry: &(Score, Bytes)) {
        if self.chunks.is_empty() {
            return;
        }
        let i = self.chunk_for(entry);
        let chunk = &mut self.chunks[i];
        if let Ok(at) = chunk.binary_search(entry) {
            chunk.remove(at);
            self.len -= 1;
            if chunk.is_empty() {
                self.chunks.remove(i);
            } else if chunk.len() < CHUNK / 4 {
                self.merge_around(i);
            }
        }
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

    /// How many entries sort below `key` (or, when `inclusive`, not above it).
    fn count_below(&self, key: &(Score, Bytes), inclusive: bool) -> usize {
        let below = |e: &(Score, Bytes)| if inclusive { e <= key } else { e < key };
        let i = self
            .chunks
            .partition_point(|c| below(c.last().expect("chunks are never empty")));
        let before: usize = self.chunks[..i].iter().map(Vec::len).sum();
        before + self.chunks.get(i).map_or(0, |c| c.partition_point(below))
    }

    /// Entries with ranks in `lo..hi`, as a reversible iterator over chunk slices.
    fn slice(&self, lo: usize, hi: usize) -> impl DoubleEndedIterator<Item = &(Score, Bytes)> {
        let mut parts = Vec::new();
        let mut start = 0;
        for chunk in &self.chunks {
            let end = start + chunk.len();
            if start >= hi {
                break;
            }
            if end > lo {
                parts.push(&chunk[lo.saturating_sub(start)..hi.min(end) - start]);
            }
            start = end;
        }
        parts.into_iter().flatten()
    }
}

/// Two orders are equal when they hold the same entries, however they are chunked.
impl PartialEq for Order {
    fn eq(&self, other: &Order) -> bool {
        self.len == other.len && self.slice(0, self.len).eq(other.slice(0, other.len))
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
        let mut expected: Vec<(f64, Bytes)> = model.iter().map(|(m, s)| (*s, m.clone())).collect();
        expected.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
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
        assert!(
            zset.order.chunks.len() <= 8,
            "{} chunks",
            zset.order.chunks.len()
        );
        assert_eq!(zset.rank(b"m19950"), Some(399));
    }
}
