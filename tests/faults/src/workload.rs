//! The clients: each a thread that runs register, counter and list-append operations
//! against one node (following the leader's redirects) or the proxy until the run ends,
//! recording every operation with its outcome.

use crate::history::{Call, Clock, Op, Status};
use crate::resp::{Client, Value};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::io;
use std::time::Duration;

/// SET values are multiples of this, so no chain of INCRs on one reaches another and a
/// read tells which write it descends from.
pub const INCR_ROOM: i64 = 1_000_000;

pub const COUNTER_KEY: &str = "counter";

#[derive(Clone, Debug)]
pub struct Workload {
    /// Registers in use at once; each is replaced by a fresh key every `key_lifetime`, so
    /// no register's history grows past what the linearizability search can handle.
    pub registers: usize,
    pub key_lifetime: Duration,
    pub lists: usize,
    pub list_lifetime: Duration,
    pub op_timeout: Duration,
    /// Direct clients stay on their node and only read its replica state (READONLY): not
    /// linearizable, so the checker must object. Only for testing the harness itself.
    pub stale_reads: bool,
}

/// Where a client sends its operations.
#[derive(Clone, Debug)]
pub enum Target {
    /// Nodes' RESP addresses; the client starts at `first` and follows redirects.
    Direct {
        nodes: Vec<String>,
        first: usize,
    },
    Proxy(String),
}

pub struct Process {
    pub id: usize,
    pub target: Target,
    pub seed: u64,
    pub until: u64,
}

struct Session<'a> {
    workload: &'a Workload,
    clock: Clock,
    target: Target,
    addr: String,
    conn: Option<Client>,
    next_node: usize,
    rng: SmallRng,
    process: usize,
    seq: i64,
}

pub fn run(process: Process, workload: &Workload, clock: Clock) -> Vec<Op> {
    let addr = match &process.target {
        Target::Direct { nodes, first } => nodes[*first].clone(),
        Target::Proxy(addr) => addr.clone(),
    };
    let mut session = Session {
        workload,
        clock,
        target: process.target,
        addr,
        conn: None,
        next_node: 0,
        rng: SmallRng::seed_from_u64(process.seed),
        process: process.id,
        seq: 0,
    };
    let mut ops = Vec::new();
    while clock.now() < process.until {
        if !session.connected() {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let call = session.next_call();
        ops.push(session.invoke(call));
        if session.stays_on_replica() {
            // Replica reads skip Raft: unthrottled they would flood the history.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    ops
}

impl Session<'_> {
    fn connected(&mut self) -> bool {
        if self.conn.is_none() {
            match self.open() {
                Ok(c) => self.conn = Some(c),
                Err(_) => self.try_another_node(),
            }
        }
        self.conn.is_some()
    }

    fn open(&self) -> io::Result<Client> {
        let mut conn = Client::connect(&self.addr, self.workload.op_timeout)?;
        if self.stays_on_replica() {
            conn.call(&["READONLY"])?;
        }
        Ok(conn)
    }

    fn stays_on_replica(&self) -> bool {
        self.workload.stale_reads && matches!(self.target, Target::Direct { .. })
    }

    fn try_another_node(&mut self) {
        if self.stays_on_replica() {
            return;
        }
        if let Target::Direct { nodes, .. } = &self.target {
            self.next_node = (self.next_node + 1) % nodes.len();
            self.addr = nodes[self.next_node].clone();
        }
    }

    fn generation(&self, lifetime: Duration) -> u64 {
        self.clock.now() / lifetime.as_nanos() as u64
    }

    fn next_call(&mut self) -> Call {
        let register = format!(
            "r{}-{}",
            self.generation(self.workload.key_lifetime),
            self.rng.gen_range(0..self.workload.registers)
        );
        self.seq += 1;
        // A replica refuses writes: its clients only read, the proxy's clients write.
        let pick = if self.stays_on_replica() {
            0
        } else {
            self.rng.gen_range(0..100)
        };
        match pick {
            0..=34 => Call::Get {
                key: register,
                value: None,
            },
            35..=46 => Call::Set {
                key: register,
                value: self.unique_value(),
            },
            47..=54 => Call::Cas {
                key: register,
                expected: None,
                value: self.unique_value(),
            },
            55..=69 => Call::Incr {
                key: register,
                value: None,
            },
            70..=84 => Call::Count { value: None },
            _ => self.append_call(),
        }
    }

    /// A value no other SET uses: the process number and this process's sequence.
    fn unique_value(&self) -> i64 {
        (((self.process as i64) << 32) + self.seq) * INCR_ROOM
    }

    fn append_call(&mut self) -> Call {
        let generation = self.generation(self.workload.list_lifetime);
        let first = self.rng.gen_range(0..self.workload.lists);
        let second = (first + self.rng.gen_range(1..self.workload.lists)) % self.workload.lists;
        Call::Append {
            keys: vec![
                format!("l{generation}-{first}"),
                format!("l{generation}-{second}"),
            ],
            element: format!("e{}-{}", self.process, self.seq),
            reads: None,
        }
    }

    fn invoke(&mut self, mut call: Call) -> Op {
        let via = self.addr.clone();
        let invoke = self.clock.now();
        let conn = self.conn.as_mut().expect("connected");
        let outcome = execute(conn, &mut call);
        let complete = self.clock.now();
        let (status, error) = match outcome {
            Ok(()) => (Status::Ok, None),
            Err(Outcome::Refused(e)) => {
                self.follow_redirect(&e);
                (Status::Fail, Some(e))
            }
            Err(Outcome::NotSent(e)) => {
                self.conn = None;
                (Status::Fail, Some(e))
            }
            Err(Outcome::Indefinite(e)) => {
                // Replies still in flight on this connection belong to the lost
                // operation: start afresh, on another node if this one stopped answering.
                self.conn = None;
                self.try_another_node();
                (Status::Unknown, Some(e))
            }
        };
        Op {
            process: self.process,
            via,
            invoke,
            complete: (status != Status::Unknown).then_some(complete),
            status,
            call,
            error,
        }
    }

    fn follow_redirect(&mut self, error: &str) {
        if self.stays_on_replica() {
            return;
        }
        if let (Target::Direct { .. }, Some(leader)) = (&self.target, error.split("leader=").nth(1))
        {
            if leader != self.addr {
                self.addr = leader.to_string();
                self.conn = None;
            }
        } else if error.starts_with("CLUSTERDOWN") {
            std::thread::sleep(Duration::from_millis(100));
            self.conn = None;
            self.try_another_node();
        }
    }
}

enum Outcome {
    /// The server said the operation did not happen.
    Refused(String),
    /// It may or may not have happened.
    Indefinite(String),
    /// The part of the operation that could change anything was never sent, but the
    /// connection is in an unknown state.
    NotSent(String),
}

/// Errors that say the command was never applied: a follower's redirect, no leader to
/// take it, a transaction discarded. Any other error (timeouts, lost leadership after
/// proposing, a proxy that lost its upstream) leaves the outcome open.
fn classify(error: &str) -> Outcome {
    let definite = ["READONLY", "CLUSTERDOWN", "EXECABORT"];
    if definite.iter().any(|code| error.starts_with(code)) {
        Outcome::Refused(error.to_string())
    } else {
        Outcome::Indefinite(error.to_string())
    }
}

fn execute(conn: &mut Client, call: &mut Call) -> Result<(), Outcome> {
    let io_error = |e: io::Error| Outcome::Indefinite(e.to_string());
    match call {
        Call::Get { key, value } => {
            let reply = conn.call(&["GET", key]).map_err(io_error)?;
            *value = expect_int_or_nil(reply)?;
        }
        Call::Set { key, value } => {
            let reply = conn
                .call(&["SET", key, &value.to_string()])
                .map_err(io_error)?;
            expect_ok(reply)?;
        }
        Call::Cas {
            key,
            expected,
            value,
        } => compare_and_set(conn, key, expected, *value)?,
        Call::Incr { key, value } => {
            *value = Some(expect_int(conn.call(&["INCR", key]).map_err(io_error)?)?);
        }
        Call::Count { value } => {
            *value = Some(expect_int(
                conn.call(&["INCR", COUNTER_KEY]).map_err(io_error)?,
            )?);
        }
        Call::Append {
            keys,
            element,
            reads,
        } => *reads = Some(append(conn, keys, element)?),
    }
    Ok(())
}

/// WATCH and GET the register, then set it in a transaction that runs only if nothing
/// changed it meanwhile. `expected` gets what the GET saw, also when the outcome of the
/// transaction is unknown: the checker needs it either way.
fn compare_and_set(
    conn: &mut Client,
    key: &str,
    expected: &mut Option<i64>,
    value: i64,
) -> Result<(), Outcome> {
    let not_sent = |o: Outcome| match o {
        Outcome::Refused(e) | Outcome::Indefinite(e) | Outcome::NotSent(e) => Outcome::NotSent(e),
    };
    let replies = conn
        .pipeline(&[&["WATCH", key], &["GET", key]])
        .map_err(|e| Outcome::NotSent(e.to_string()))?;
    expect_ok(replies[0].clone()).map_err(not_sent)?;
    *expected = expect_int_or_nil(replies[1].clone()).map_err(not_sent)?;
    let replies = conn
        .pipeline(&[&["MULTI"], &["SET", key, &value.to_string()], &["EXEC"]])
        .map_err(|e| Outcome::Indefinite(e.to_string()))?;
    match &replies[2] {
        Value::Array(Some(_)) => Ok(()),
        Value::Array(None) => Err(Outcome::Refused(
            "EXEC aborted: the register changed".into(),
        )),
        Value::Error(e) => Err(classify(e)),
        other => Err(Outcome::Indefinite(format!("EXEC answered {other:?}"))),
    }
}

/// One MULTI/EXEC that appends `element` to every key and reads every list back.
fn append(conn: &mut Client, keys: &[String], element: &str) -> Result<Vec<Vec<String>>, Outcome> {
    let mut commands: Vec<Vec<&str>> = vec![vec!["MULTI"]];
    commands.extend(keys.iter().map(|k| vec!["RPUSH", k, element]));
    commands.extend(keys.iter().map(|k| vec!["LRANGE", k, "0", "-1"]));
    commands.push(vec!["EXEC"]);
    let refs: Vec<&[&str]> = commands.iter().map(Vec::as_slice).collect();
    let replies = conn
        .pipeline(&refs)
        .map_err(|e| Outcome::Indefinite(e.to_string()))?;
    if replies[0] != Value::Simple("OK".into()) {
        // Without MULTI the RPUSHes ran on their own: the outcome is anyone's guess.
        return Err(Outcome::Indefinite(format!(
            "MULTI answered {:?}",
            replies[0]
        )));
    }
    match replies.last().unwrap() {
        Value::Array(Some(results)) => results[keys.len()..]
            .iter()
            .map(|r| r.as_strings())
            .collect::<Option<_>>()
            .ok_or_else(|| Outcome::Indefinite(format!("EXEC answered {results:?}"))),
        Value::Error(e) => Err(classify(e)),
        other => Err(Outcome::Indefinite(format!("EXEC answered {other:?}"))),
    }
}

fn expect_ok(reply: Value) -> Result<(), Outcome> {
    match reply {
        Value::Simple(s) if s == "OK" => Ok(()),
        Value::Error(e) => Err(classify(&e)),
        other => Err(Outcome::Indefinite(format!("unexpected reply {other:?}"))),
    }
}

fn expect_int(reply: Value) -> Result<i64, Outcome> {
    match reply {
        Value::Int(i) => Ok(i),
        Value::Error(e) => Err(classify(&e)),
        other => Err(Outcome::Indefinite(format!("unexpected reply {other:?}"))),
    }
}

fn expect_int_or_nil(reply: Value) -> Result<Option<i64>, Outcome> {
    match reply {
        Value::Bulk(None) => Ok(None),
        Value::Error(e) => Err(classify(&e)),
        other => other
            .as_int()
            .map(Some)
            .ok_or_else(|| Outcome::Indefinite(format!("unexpected reply {other:?}"))),
    }
}
