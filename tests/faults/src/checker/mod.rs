//! Checks a run's history and the state read after healing. Every finding is an
//! [`Anomaly`]; an empty list means the history is consistent with what tinyredis claims.

pub mod counter;
pub mod lists;
pub mod wgl;

use crate::history::{Call, Op, Status};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use wgl::{RegCall, RegOp, Verdict};

#[derive(Debug, Clone, Serialize)]
pub struct Anomaly {
    pub kind: &'static str,
    pub detail: String,
}

impl Anomaly {
    pub fn new(kind: &'static str, detail: impl Into<String>) -> Anomaly {
        Anomaly {
            kind,
            detail: detail.into(),
        }
    }
}

/// The cluster's state read through the leader after every fault was healed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FinalState {
    pub counter: Option<i64>,
    pub lists: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Default)]
pub struct Findings {
    pub anomalies: Vec<Anomaly>,
    pub registers_checked: usize,
    /// Registers whose search ran out of budget: neither passed nor failed.
    pub inconclusive: usize,
}

/// Memo words (64 ops each per visited state) one register's search may hold before it
/// is called inconclusive: about 100 MB.
const SEARCH_WORDS: usize = 12_000_000;

pub fn check(ops: &[Op], end: &FinalState) -> Findings {
    let mut findings = Findings::default();
    for (key, reg_ops) in registers(ops) {
        findings.registers_checked += 1;
        let budget = SEARCH_WORDS / reg_ops.len().div_ceil(64).max(1);
        match wgl::check(&reg_ops, budget) {
            Verdict::Linearizable => {}
            Verdict::Inconclusive { states } => {
                findings.inconclusive += 1;
                eprintln!("register {key}: linearizability search gave up after {states} states");
            }
            Verdict::NotLinearizable {
                stuck_at,
                value,
                blocking,
            } => findings.anomalies.push(Anomaly::new(
                "not-linearizable",
                format!(
                    "register {key} ({} ops): no order past {stuck_at} ops (value {value:?}); \
                     cannot place {blocking:?}",
                    reg_ops.len()
                ),
            )),
        }
    }
    findings.anomalies.extend(counter::check(ops, end.counter));
    findings.anomalies.extend(lists::check(ops, &end.lists));
    findings
}

/// Each register's operations for the search: failed ones never happened and an unknown
/// read says nothing, so both are left out; so is an unknown SET whose value (or an
/// increment of it) was never seen, since "it never happened" explains it.
fn registers(ops: &[Op]) -> BTreeMap<String, Vec<RegOp>> {
    let seen: Vec<i64> = ops
        .iter()
        .filter(|op| op.status == Status::Ok)
        .filter_map(|op| match op.call {
            Call::Get { value, .. } | Call::Incr { value, .. } => value,
            Call::Cas { expected, .. } => expected,
            _ => None,
        })
        .collect();
    let observed = |v: i64| {
        seen.iter()
            .any(|&s| s >= v && s < v + crate::workload::INCR_ROOM)
    };
    let mut by_key: BTreeMap<String, Vec<RegOp>> = BTreeMap::new();
    for op in ops.iter().filter(|op| op.status != Status::Fail) {
        let known = op.status == Status::Ok;
        let (key, call) = match &op.call {
            Call::Get { key, value } if known => (key, RegCall::Read(*value)),
            Call::Set { key, value } if known || observed(*value) => (key, RegCall::Write(*value)),
            Call::Cas {
                key,
                expected,
                value,
            } if known || observed(*value) => (key, RegCall::Cas(*expected, *value)),
            Call::Incr { key, value } => (key, RegCall::Incr(*value)),
            _ => continue,
        };
        by_key.entry(key.clone()).or_default().push(RegOp {
            invoke: op.invoke,
            complete: op.complete,
            call,
        });
    }
    by_key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(invoke: u64, complete: Option<u64>, status: Status, call: Call) -> Op {
        Op {
            process: 0,
            via: String::new(),
            invoke,
            complete,
            status,
            call,
            error: None,
        }
    }

    fn kinds(ops: &[Op]) -> Vec<&'static str> {
        check(ops, &FinalState::default())
            .anomalies
            .iter()
            .map(|a| a.kind)
            .collect()
    }

    #[test]
    fn an_unknown_write_seen_only_by_a_compare_and_set_is_kept() {
        let key = || "r".to_string();
        let ops = [
            op(
                0,
                None,
                Status::Unknown,
                Call::Set {
                    key: key(),
                    value: 7,
                },
            ),
            op(
                1,
                Some(2),
                Status::Ok,
                Call::Cas {
                    key: key(),
                    expected: Some(7),
                    value: 9,
                },
            ),
            op(
                3,
                Some(4),
                Status::Ok,
                Call::Get {
                    key: key(),
                    value: Some(9),
                },
            ),
        ];
        assert!(kinds(&ops).is_empty(), "{:?}", kinds(&ops));
    }

    #[test]
    fn a_failed_write_that_shows_up_is_an_anomaly() {
        let key = || "r".to_string();
        let ops = [
            op(
                0,
                Some(1),
                Status::Fail,
                Call::Set {
                    key: key(),
                    value: 7,
                },
            ),
            op(
                2,
                Some(3),
                Status::Ok,
                Call::Get {
                    key: key(),
                    value: Some(7),
                },
            ),
        ];
        assert_eq!(kinds(&ops), ["not-linearizable"]);
    }
}
