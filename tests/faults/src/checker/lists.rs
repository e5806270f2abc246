//! List-append transactions (MULTI, RPUSH to two lists, LRANGE both, EXEC) against the
//! lists read after healing: no element twice, no element nobody appended or whose
//! append failed, acknowledged elements present, every transaction's element in all of
//! its lists or none (atomicity), every read a prefix of the final list ending in the
//! reader's own element, and appends that finished before another began ordered first.

use super::Anomaly;
use crate::history::{Call, Op, Status};
use std::collections::{BTreeMap, HashMap, HashSet};

struct Append<'a> {
    op: &'a Op,
    keys: &'a [String],
    reads: Option<&'a Vec<Vec<String>>>,
}

pub fn check(ops: &[Op], finals: &BTreeMap<String, Vec<String>>) -> Vec<Anomaly> {
    let appends: HashMap<&str, Append> = ops
        .iter()
        .filter_map(|op| match &op.call {
            Call::Append {
                keys,
                element,
                reads,
            } => Some((
                element.as_str(),
                Append {
                    op,
                    keys,
                    reads: reads.as_ref(),
                },
            )),
            _ => None,
        })
        .collect();
    let empty = Vec::new();
    let list = |key: &str| finals.get(key).unwrap_or(&empty);
    let mut anomalies = Vec::new();
    for (key, elements) in finals {
        anomalies.extend(duplicates(key, elements));
        anomalies.extend(order(key, elements, &appends));
    }
    for (element, append) in &appends {
        let present: Vec<bool> = append
            .keys
            .iter()
            .map(|k| list(k).iter().any(|e| e == element))
            .collect();
        anomalies.extend(presence(element, append, &present));
        for (key, read) in append.keys.iter().zip(append.reads.into_iter().flatten()) {
            anomalies.extend(read_prefix(key, element, read, list(key)));
        }
    }
    for (key, elements) in finals {
        if let Some(e) = elements.iter().find(|e| !appends.contains_key(e.as_str())) {
            anomalies.push(Anomaly::new(
                "list-phantom-element",
                format!("{key} holds {e}, which nobody appended"),
            ));
        }
    }
    anomalies
}

fn duplicates(key: &str, elements: &[String]) -> Option<Anomaly> {
    let mut seen = HashSet::new();
    let dup = elements.iter().find(|e| !seen.insert(*e))?;
    Some(Anomaly::new(
        "list-duplicate-element",
        format!("{key} holds {dup} twice"),
    ))
}

fn presence(element: &str, append: &Append, present: &[bool]) -> Option<Anomaly> {
    let (all, any) = (present.iter().all(|p| *p), present.iter().any(|p| *p));
    let (kind, what) = match append.op.status {
        Status::Ok if !all => ("list-lost-append", "acknowledged but missing from"),
        Status::Fail if any => ("list-failed-append-applied", "failed but present in"),
        Status::Unknown if any && !all => ("list-partial-transaction", "only partly in"),
        _ => return None,
    };
    Some(Anomaly::new(
        kind,
        format!("{element} {what} {:?} (present: {present:?})", append.keys),
    ))
}

fn read_prefix(key: &str, element: &str, read: &[String], list: &[String]) -> Option<Anomaly> {
    if read.last().map(String::as_str) != Some(element) {
        return Some(Anomaly::new(
            "list-read-misses-own-append",
            format!("the transaction appending {element} read {key} as {read:?}"),
        ));
    }
    (!list.starts_with(read)).then(|| {
        Anomaly::new(
            "list-read-not-prefix",
            format!(
                "the transaction appending {element} read {key} as {read:?}, not a prefix of the \
                 final {} elements",
                list.len()
            ),
        )
    })
}

/// An element placed after one whose append began only after it had been acknowledged
/// breaks real-time order. Scanning from the end keeps the earliest acknowledgement seen.
fn order(key: &str, elements: &[String], appends: &HashMap<&str, Append>) -> Option<Anomaly> {
    let mut earliest_later: Option<(u64, &str)> = None;
    for e in elements.iter().rev() {
        let Some(append) = appends.get(e.as_str()) else {
            continue;
        };
        if let Some((done, later)) = earliest_later {
            if done < append.op.invoke {
                return Some(Anomaly::new(
                    "list-order",
                    format!("{key}: {later} was acknowledged before {e} began, but comes after it"),
                ));
            }
        }
        let completed = append
            .op
            .complete
            .filter(|_| append.op.status == Status::Ok);
        if let Some(c) = completed {
            if earliest_later.is_none_or(|(d, _)| c < d) {
                earliest_later = Some((c, e));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(element: &str, status: Status, span: (u64, u64), reads: &[&[&str]]) -> Op {
        Op {
            process: 0,
            via: String::new(),
            invoke: span.0,
            complete: Some(span.1),
            status,
            call: Call::Append {
                keys: vec!["a".into(), "b".into()],
                element: element.into(),
                reads: (status == Status::Ok).then(|| {
                    reads
                        .iter()
                        .map(|r| r.iter().map(|s| s.to_string()).collect())
                        .collect()
                }),
            },
            error: None,
        }
    }

    fn finals(a: &[&str], b: &[&str]) -> BTreeMap<String, Vec<String>> {
        let owned = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        BTreeMap::from([("a".into(), owned(a)), ("b".into(), owned(b))])
    }

    fn kinds(ops: &[Op], end: &BTreeMap<String, Vec<String>>) -> Vec<&'static str> {
        check(ops, end).iter().map(|a| a.kind).collect()
    }

    #[test]
    fn consistent_appends_pass() {
        let ops = [
            append("x", Status::Ok, (0, 1), &[&["x"], &["x"]]),
            append("y", Status::Ok, (2, 3), &[&["x", "y"], &["x", "y"]]),
            append("z", Status::Unknown, (4, 5), &[]),
        ];
        assert!(kinds(&ops, &finals(&["x", "y", "z"], &["x", "y", "z"])).is_empty());
    }

    #[test]
    fn lost_duplicated_partial_and_reordered_appends_are_reported() {
        let ops = [
            append("x", Status::Ok, (0, 1), &[&["x"], &["x"]]),
            append("y", Status::Ok, (2, 3), &[&["x", "y"], &["x", "y"]]),
            append("z", Status::Unknown, (4, 5), &[]),
            append("f", Status::Fail, (6, 7), &[]),
        ];
        assert_eq!(
            kinds(&ops, &finals(&["x"], &["x", "y"])),
            ["list-lost-append", "list-read-not-prefix"]
        );
        assert_eq!(
            kinds(&ops, &finals(&["x", "y", "y"], &["x", "y"])),
            ["list-duplicate-element"]
        );
        assert_eq!(
            kinds(&ops, &finals(&["x", "y", "z"], &["x", "y"])),
            ["list-partial-transaction"]
        );
        assert_eq!(
            kinds(&ops, &finals(&["x", "y", "f"], &["x", "y", "f"])),
            ["list-failed-append-applied"]
        );
        let reordered = kinds(&ops, &finals(&["y", "x"], &["x", "y"]));
        assert!(reordered.contains(&"list-order"), "{reordered:?}");
        assert!(reordered.contains(&"list-read-not-prefix"), "{reordered:?}");
    }

    #[test]
    fn an_element_nobody_appended_is_reported() {
        let ops = [append("x", Status::Ok, (0, 1), &[&["x"], &["x"]])];
        assert_eq!(
            kinds(&ops, &finals(&["x", "ghost"], &["x"])),
            ["list-phantom-element"]
        );
    }
}
