//! Linearizability of one register (GET/SET/INCR) by Wing–Gong search with Lowe's
//! memoisation: a depth-first search over "which operations are linearized so far" and
//! the register's value, never visiting the same pair twice.
//!
//! An operation may be linearized next when it was invoked before every pending
//! operation's completion. Unknown operations never complete: they may take effect at
//! any point after their invocation, or never, so the search succeeds once every
//! operation that completed ok is linearized.

use std::collections::HashSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegCall {
    Read(Option<i64>),
    Write(i64),
    /// Set to the second value if the register holds the first.
    Cas(Option<i64>, i64),
    /// INCR with its reply, `None` when the reply never came.
    Incr(Option<i64>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegOp {
    pub invoke: u64,
    /// `None`: outcome unknown.
    pub complete: Option<u64>,
    pub call: RegCall,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// No order exists. `stuck_at` is the deepest prefix found and `value` the register
    /// there; `blocking` is the earliest-completing op that could not be placed.
    NotLinearizable {
        stuck_at: usize,
        value: Option<i64>,
        blocking: RegOp,
    },
    /// The search gave up after `budget` states (too many concurrent unknowns).
    Inconclusive {
        states: usize,
    },
}

/// The register's value after `call` from `value`, or `None` when `call` cannot happen
/// there (a read of another value, an INCR with another reply or of a non-number).
fn step(value: Option<i64>, call: RegCall) -> Option<Option<i64>> {
    match call {
        RegCall::Read(seen) => (seen == value).then_some(value),
        RegCall::Write(v) => Some(Some(v)),
        RegCall::Cas(expected, v) => (value == expected).then_some(Some(v)),
        RegCall::Incr(reply) => {
            let next = value.unwrap_or(0).checked_add(1)?;
            match reply {
                Some(r) if r != next => None,
                _ => Some(Some(next)),
            }
        }
    }
}

struct Search<'a> {
    ops: &'a [RegOp],
    done: Vec<u64>,
    ok_left: usize,
    seen: HashSet<(Vec<u64>, Option<i64>)>,
    budget: usize,
    deepest: (usize, Option<i64>, Option<RegOp>),
}

impl Search<'_> {
    fn is_done(&self, i: usize) -> bool {
        self.done[i / 64] & (1 << (i % 64)) != 0
    }

    fn flip(&mut self, i: usize) {
        self.done[i / 64] ^= 1 << (i % 64);
    }

    /// The earliest completion among pending ops: nothing invoked after it can go next.
    fn horizon(&self) -> (u64, Option<RegOp>) {
        (0..self.ops.len())
            .filter(|&i| !self.is_done(i))
            .filter_map(|i| self.ops[i].complete.map(|c| (c, self.ops[i])))
            .min_by_key(|(c, _)| *c)
            .map_or((u64::MAX, None), |(c, op)| (c, Some(op)))
    }

    /// Marks op `i` linearized (or, again, not).
    fn toggle(&mut self, i: usize) {
        self.flip(i);
        if self.ops[i].complete.is_some() {
            if self.is_done(i) {
                self.ok_left -= 1;
            } else {
                self.ok_left += 1;
            }
        }
    }

    /// The next op at or after `from` that can be linearized from `frame`, and the value
    /// after it.
    fn next_move(&self, frame: &Frame, from: usize) -> Option<(usize, Option<i64>)> {
        (from..self.ops.len())
            .take_while(|&i| self.ops[i].invoke <= frame.horizon)
            .filter(|&i| !self.is_done(i))
            .find_map(|i| step(frame.value, self.ops[i].call).map(|next| (i, next)))
    }

    /// Depth-first search with an explicit stack (histories run to thousands of ops):
    /// `Some(found)`, or `None` when the state budget ran out.
    fn run(&mut self) -> Option<bool> {
        let mut stack: Vec<Frame> = Vec::new();
        let mut value = None;
        loop {
            if self.ok_left == 0 {
                return Some(true);
            }
            let fresh = self.seen.insert((self.done.clone(), value));
            if self.seen.len() > self.budget {
                return None;
            }
            let (horizon, blocking) = self.horizon();
            if fresh && stack.len() >= self.deepest.0 {
                self.deepest = (stack.len(), value, blocking);
            }
            stack.push(Frame {
                value,
                horizon,
                // A state seen before has no new moves: start past the end.
                next: if fresh { 0 } else { self.ops.len() },
                taken: None,
            });
            loop {
                let frame = stack.last_mut().expect("a frame");
                if let Some(i) = frame.taken.take() {
                    self.toggle(i);
                }
                let frame = stack.last().expect("a frame");
                match self.next_move(frame, frame.next) {
                    Some((i, next)) => {
                        let frame = stack.last_mut().expect("a frame");
                        frame.taken = Some(i);
                        frame.next = i + 1;
                        self.toggle(i);
                        value = next;
                        break;
                    }
                    None => {
                        stack.pop();
                        if stack.is_empty() {
                            return Some(false);
                        }
                    }
                }
            }
        }
    }
}

/// One state on the search path: the register's value there, which ops may go next
/// (invoked by `horizon`), where to look for the next one, and the one tried now.
struct Frame {
    value: Option<i64>,
    horizon: u64,
    next: usize,
    taken: Option<usize>,
}

/// Checks `ops` (ok and unknown ones; failed ones must be left out) of one register that
/// starts as nil. `budget` bounds the states visited.
pub fn check(ops: &[RegOp], budget: usize) -> Verdict {
    let mut ops = ops.to_vec();
    ops.sort_by_key(|op| op.invoke);
    let mut search = Search {
        done: vec![0; ops.len().div_ceil(64)],
        ok_left: ops.iter().filter(|op| op.complete.is_some()).count(),
        ops: &ops,
        seen: HashSet::new(),
        budget,
        deepest: (0, None, None),
    };
    match search.run() {
        Some(true) => Verdict::Linearizable,
        Some(false) => {
            let (stuck_at, value, blocking) = search.deepest;
            Verdict::NotLinearizable {
                stuck_at,
                value,
                blocking: blocking.expect("a failed search has a pending completed op"),
            }
        }
        None => Verdict::Inconclusive {
            states: search.seen.len(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(invoke: u64, complete: u64, call: RegCall) -> RegOp {
        RegOp {
            invoke,
            complete: Some(complete),
            call,
        }
    }

    fn unknown(invoke: u64, call: RegCall) -> RegOp {
        RegOp {
            invoke,
            complete: None,
            call,
        }
    }

    fn linearizable(ops: &[RegOp]) -> bool {
        match check(ops, 100_000) {
            Verdict::Linearizable => true,
            Verdict::NotLinearizable { .. } => false,
            Verdict::Inconclusive { .. } => panic!("inconclusive on a tiny history"),
        }
    }

    use RegCall::*;

    #[test]
    fn sequential_writes_and_reads_are_accepted() {
        assert!(linearizable(&[
            op(0, 1, Read(None)),
            op(2, 3, Write(1)),
            op(4, 5, Read(Some(1))),
            op(6, 7, Incr(Some(2))),
            op(8, 9, Read(Some(2))),
        ]));
    }

    #[test]
    fn a_stale_read_is_rejected() {
        assert!(!linearizable(&[
            op(0, 1, Write(1)),
            op(2, 3, Write(2)),
            op(4, 5, Read(Some(1))),
        ]));
    }

    #[test]
    fn a_lost_acknowledged_write_is_rejected() {
        assert!(!linearizable(&[op(0, 1, Write(1)), op(2, 3, Read(None)),]));
    }

    #[test]
    fn a_read_of_a_value_never_written_is_reported_with_the_blocking_op() {
        let ops = [op(0, 1, Write(1)), op(2, 3, Read(Some(7)))];
        let Verdict::NotLinearizable {
            stuck_at, blocking, ..
        } = check(&ops, 1000)
        else {
            panic!("accepted a read of a value nobody wrote");
        };
        assert_eq!(stuck_at, 1);
        assert_eq!(blocking.call, Read(Some(7)));
    }

    #[test]
    fn concurrent_operations_may_take_effect_in_either_order() {
        assert!(linearizable(&[
            op(0, 10, Write(1)),
            op(1, 11, Write(2)),
            op(12, 13, Read(Some(1))),
        ]));
    }

    #[test]
    fn a_read_cannot_flip_back_to_an_older_value() {
        // Both reads overlap both writes, but once 2 was read after 1, 1 cannot return.
        assert!(!linearizable(&[
            op(0, 10, Write(1)),
            op(0, 10, Write(2)),
            op(1, 5, Read(Some(2))),
            op(6, 9, Read(Some(1))),
            op(11, 12, Read(Some(2))),
        ]));
    }

    #[test]
    fn an_unknown_write_may_take_effect_late_or_never() {
        let late = [
            unknown(0, Write(5)),
            op(1, 2, Read(None)),
            op(100, 101, Read(Some(5))),
        ];
        assert!(linearizable(&late));
        let never = [unknown(0, Write(5)), op(100, 101, Read(None))];
        assert!(linearizable(&never));
    }

    #[test]
    fn a_compare_and_set_needs_the_value_it_expected() {
        assert!(linearizable(&[
            op(0, 1, Write(1)),
            op(2, 3, Cas(Some(1), 2)),
            op(4, 5, Read(Some(2))),
        ]));
        assert!(!linearizable(&[
            op(0, 1, Write(1)),
            op(2, 3, Write(3)),
            op(4, 5, Cas(Some(1), 2)),
        ]));
    }

    #[test]
    fn an_unknown_increment_counts_once_at_most() {
        assert!(linearizable(&[
            op(0, 1, Write(1)),
            unknown(2, Incr(None)),
            op(3, 4, Incr(Some(3))),
        ]));
        assert!(!linearizable(&[
            op(0, 1, Write(1)),
            unknown(2, Incr(None)),
            op(3, 4, Incr(Some(4))),
        ]));
    }

    #[test]
    fn the_budget_makes_a_search_inconclusive_instead_of_endless() {
        let mut ops: Vec<RegOp> = (0..40).map(|i| unknown(i, Incr(None))).collect();
        ops.push(op(100, 101, Read(Some(-1))));
        assert!(matches!(check(&ops, 50), Verdict::Inconclusive { .. }));
    }
}
