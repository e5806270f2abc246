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

/// States one register's search may visit before it is called inconclusive.
const SEARCH_BUDGET: usize = 2_000_000;

pub fn check(ops: &[Op], end: &FinalState) -> Findings {
    let mut findings = Findings::default();
    for (key, reg_ops) in registers(ops) {
        findings.registers_checked += 1;
        match wgl::check(&reg_ops, SEARCH_BUDGET) {
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
