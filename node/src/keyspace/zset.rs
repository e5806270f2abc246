//! Sorted sets: members ordered by (score, member), with O(1) score lookup.

use super::Dict;
use bytes::Bytes;
use ordered_float::OrderedFloat;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::ops::Bound;

pub type Score = OrderedFloat<f64>;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZSet {
    scores: Dict<f64>,
    order: BTreeSet<(Score, Bytes)>,
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
        match self.scores.insert(member.clone(), score) {
            Some(old) => {
                self.order.remove(&(OrderedFloat(old), member.clone()));
                self.order.insert((OrderedFloat(score), member));
                false
            }
            None => {
                self.order.insert((OrderedFloat(score), member));
                true
            }
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (member, score) = self.scores.remove_entry(member)?;
        self.order.remove(&(OrderedFloat(score), member));
        Some(score)
    }

    /// Members in ascending (score, member) order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> {
        self.order.iter().map(|(s, m)| (m, s.0))
    }

    /// The 0-based rank of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(
            self.order
                .range(..(OrderedFloat(score), Bytes::copy_from_slice(member)))
                .count(),
        )
    }

    /// Rebuilds the order from member scores (snapshot restore).
    pub fn from_scores(scores: Dict<f64>) -> Self {
        let order = scores
            .iter()
            .map(|(m, s)| (OrderedFloat(*s), m.clone()))
            .collect();
        ZSet { scores, order }
    }

    /// Members whose score is in `range`, in ascending order (reversible).
    pub fn range_by_score(
        &self,
        range: &ScoreRange,
    ) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> {
        // (score, empty member) sorts first among a score's members, so a score bound
        // becomes a tuple bound. An empty range maps to bounds below everything: reversed
        // bounds would make BTreeSet::range panic.
        let at = |score: f64| (OrderedFloat(score), Bytes::new());
        let bounds = if range.is_empty() {
            (Bound::Unbounded, Bound::Excluded(at(f64::NEG_INFINITY)))
        } else {
            let lower = if range.min_ex {
                range.min.next_up()
            } else {
                range.min
            };
            let upper = match (range.max_ex, range.max) {
                (false, f64::INFINITY) => Bound::Unbounded,
                (false, max) => Bound::Excluded(at(max.next_up())),
                (true, max) => Bound::Excluded(at(max)),
            };
            (Bound::Included(at(lower)), upper)
        };
        self.order.range(bounds).map(|(s, m)| (m, s.0))
    }

    /// Members in `range`, ascending or (`rev`) descending. Like Redis, this assumes all
    /// scores are equal: it skips members below the range, then takes members while they
    /// stay in it.
    pub fn range_by_lex<'a>(
        &'a self,
        range: &'a LexRange,
        rev: bool,
    ) -> Box<dyn Iterator<Item = (&'a Bytes, f64)> + 'a> {
        if range.is_empty() {
            return Box::new(std::iter::empty());
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

    /// The member/score dict, for scans and random picks.
    pub fn members(&self) -> &Dict<f64> {
        &self.scores
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
