//! Operations as the clients saw them: what was asked, when it was invoked and completed
//! (nanoseconds since the run started), and whether it surely happened, surely did not,
//! or may have (a timeout or a lost connection: Jepsen's "info").

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Fail,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case")]
pub enum Call {
    /// GET of a register; `value` is what was read (`None`: nil).
    Get { key: String, value: Option<i64> },
    /// SET of a register to a value no other write uses.
    Set { key: String, value: i64 },
    /// WATCH, GET (`expected`), MULTI, SET to `value`, EXEC: a compare-and-set that
    /// succeeds only if nothing changed the register since the GET.
    Cas {
        key: String,
        expected: Option<i64>,
        value: i64,
    },
    /// INCR of a register; `value` is the reply.
    Incr { key: String, value: Option<i64> },
    /// INCR of the shared counter; `value` is the reply.
    Count { value: Option<i64> },
    /// MULTI, RPUSH of `element` to each of `keys`, LRANGE of each, EXEC; `reads` are the
    /// lists the transaction saw.
    Append {
        keys: Vec<String>,
        element: String,
        reads: Option<Vec<Vec<String>>>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Op {
    pub process: usize,
    /// The address the client sent the operation to (a node or the proxy).
    pub via: String,
    pub invoke: u64,
    /// `None` when the outcome is unknown: the operation may take effect at any later time.
    pub complete: Option<u64>,
    pub status: Status,
    pub call: Call,
    /// The error reply or I/O error behind a fail or unknown, for the record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The run's clock: every process stamps its operations against the same start.
#[derive(Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    pub fn start() -> Clock {
        Clock(Instant::now())
    }

    pub fn now(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

pub fn write_jsonl<T: Serialize>(path: &Path, items: &[T]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for item in items {
        serde_json::to_writer(&mut out, item)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
