//! Sorted sets: members ordered by (score, member), with O(1) score lookup.

use super::Dict;
use bytes::Bytes;
use ordered_float::OrderedFloat;
use std::collections::BTreeSet;

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

    /// Sets `member`'s score; returns true when the member is new.
    pub fn insert(&mut self, member: Bytes, score: f64) -> bool {
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

    /// The member/score dict, for scans and random picks.
    pub fn members(&self) -> &Dict<f64> {
        &self.scores
    }
}
