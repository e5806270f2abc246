//! The shared counter: every acknowledged INCR counted exactly once. The final value lies
//! between the acknowledged increments and those plus the unknown ones, no two
//! acknowledged INCRs got the same reply, and none replied more than the final value.

use super::Anomaly;
use crate::history::{Call, Op, Status};
use std::collections::HashSet;

pub fn check(ops: &[Op], final_value: Option<i64>) -> Vec<Anomaly> {
    let count = |status| {
        ops.iter()
            .filter(|op| op.status == status && matches!(op.call, Call::Count { .. }))
            .count() as i64
    };
    let (acked, unknown) = (count(Status::Ok), count(Status::Unknown));
    let replies: Vec<i64> = ops
        .iter()
        .filter(|op| op.status == Status::Ok)
        .filter_map(|op| match op.call {
            Call::Count { value } => value,
            _ => None,
        })
        .collect();
    let final_value = final_value.unwrap_or(0);
    let mut anomalies = Vec::new();
    if final_value < acked || final_value > acked + unknown {
        anomalies.push(Anomaly::new(
            "counter-out-of-bounds",
            format!("final {final_value}, acknowledged {acked}, unknown {unknown}"),
        ));
    }
    let mut distinct = HashSet::new();
    if let Some(dup) = replies.iter().find(|r| !distinct.insert(**r)) {
        anomalies.push(Anomaly::new(
            "counter-duplicate-reply",
            format!("two acknowledged INCRs both replied {dup}"),
        ));
    }
    if let Some(max) = replies.iter().max().filter(|&&m| m > final_value) {
        anomalies.push(Anomaly::new(
            "counter-lost-increment",
            format!("an INCR replied {max} but the final value is {final_value}"),
        ));
    }
    anomalies
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(status: Status, value: Option<i64>) -> Op {
        Op {
            process: 0,
            via: String::new(),
            invoke: 0,
            complete: Some(1),
            status,
            call: Call::Count { value },
            error: None,
        }
    }

    #[test]
    fn unknown_increments_may_or_may_not_count() {
        let ops = [
            incr(Status::Ok, Some(1)),
            incr(Status::Unknown, None),
            incr(Status::Ok, Some(3)),
            incr(Status::Fail, None),
        ];
        assert!(check(&ops, Some(3)).is_empty());
        assert_eq!(check(&ops, Some(1))[0].kind, "counter-out-of-bounds");
        assert_eq!(check(&ops, Some(4))[0].kind, "counter-out-of-bounds");
    }

    #[test]
    fn duplicate_replies_and_lost_increments_are_reported() {
        let ops = [incr(Status::Ok, Some(2)), incr(Status::Ok, Some(2))];
        let kinds: Vec<_> = check(&ops, Some(2)).iter().map(|a| a.kind).collect();
        assert_eq!(kinds, ["counter-duplicate-reply"]);
        let ops = [incr(Status::Ok, Some(5)), incr(Status::Unknown, None)];
        let kinds: Vec<_> = check(&ops, Some(2)).iter().map(|a| a.kind).collect();
        assert_eq!(kinds, ["counter-lost-increment"]);
    }
}
