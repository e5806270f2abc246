//! The dispatcher check behind the `dispatcher` fuzz target, shared with
//! `node/tests/fuzz_regressions.rs` so saved inputs keep running under a stable `cargo test`.
//! A violated invariant panics: that is what libFuzzer reports as a crash.

use bytes::{Bytes, BytesMut};
use tinyredis::commands::{self, Run};
use tinyredis::keyspace::Store;
use tinyredis::protocol::Reply;
use tinyredis::raft::{apply_request, Request, Response};

/// `data` decodes to a sequence of log entries (commands from the real command table with
/// fuzzed arguments, transactions, expiries, clock jumps), applied as the state machine
/// applies them. Nothing may panic; applying is deterministic; and a replica restored from
/// a snapshot taken halfway answers the second half exactly like the one that ran it all.
pub fn check_dispatcher(data: &[u8]) {
    let requests = Decoder::new(data).requests();
    let mid = requests.len() / 2;
    let mut full = Store::default();
    let answers = apply_all(&mut full, &requests);

    let mut first_half = Store::default();
    let early = apply_all(&mut first_half, &requests[..mid]);
    assert_eq!(
        early,
        answers[..mid],
        "the same entries answered differently"
    );
    let mut restored = Store::default();
    restored
        .restore_image(&first_half.to_image())
        .expect("a snapshot image restores");
    let late = apply_all(&mut restored, &requests[mid..]);
    assert_eq!(
        late,
        answers[mid..],
        "a restored replica answered differently"
    );
    assert!(
        full.to_image() == restored.to_image(),
        "a restored replica ended with a different keyspace"
    );
}

/// Applies each request after a trip through the log's encoding; returns each answer
/// rendered in RESP2 and RESP3, so encoding is exercised too.
fn apply_all(store: &mut Store, requests: &[Request]) -> Vec<Vec<u8>> {
    requests
        .iter()
        .map(|request| {
            let logged: Request = bincode::deserialize(&bincode::serialize(request).unwrap())
                .expect("a logged request decodes");
            render(&apply_request(store, &logged))
        })
        .collect()
}

fn render(response: &Response) -> Vec<u8> {
    let mut out = BytesMut::new();
    let mut encode = |reply: &Reply| {
        reply.encode(false, &mut out);
        reply.encode(true, &mut out);
    };
    match response {
        Response::Reply(reply) => encode(reply),
        Response::Transaction(Some((replies, db))) => {
            replies.iter().flatten().for_each(&mut encode);
            out.extend_from_slice(format!("db {db}").as_bytes());
        }
        other => out.extend_from_slice(format!("{other:?}").as_bytes()),
    }
    out.to_vec()
}

/// Arguments that steer commands into their interesting branches.
const WORDS: &[&str] = &[
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "NX",
    "XX",
    "GT",
    "LT",
    "CH",
    "INCR",
    "KEEPTTL",
    "GET",
    "WITHSCORES",
    "LIMIT",
    "BYSCORE",
    "BYLEX",
    "REV",
    "COUNT",
    "MATCH",
    "TYPE",
    "LEFT",
    "RIGHT",
    "BEFORE",
    "AFTER",
    "RANK",
    "MAXLEN",
    "WEIGHTS",
    "AGGREGATE",
    "SUM",
    "MIN",
    "MAX",
    "STORE",
    "ALPHA",
    "BY",
    "ASC",
    "DESC",
    "REPLACE",
    "DB",
    "ABSTTL",
    "IDLETIME",
    "FREQ",
    "LEN",
    "IDX",
    "MINMATCHLEN",
    "WITHMATCHLEN",
    "ENCODING",
    "ASYNC",
    "SYNC",
    "DIGEST",
    "+inf",
    "-inf",
    "inf",
    "nan",
    "(1",
    "[a",
    "(a",
    "-",
    "+",
    "*",
    "a*",
    "?",
    "[a-z]",
    "1.5",
    "-0",
    "0x10",
    "1e3",
    " 1",
    "",
    "k0",
    "k1",
];

/// Integers near the edges where overflow and off-by-one bugs live.
const EDGES: &[i64] = &[
    i64::MIN,
    i64::MIN + 1,
    i64::MAX,
    i64::MAX - 1,
    -4_294_967_296,
    4_294_967_296,
    9_007_199_254_740_993,
    2_147_483_648,
    -2_147_483_649,
];

/// Integer arguments above this are dropped: allocating hundreds of megabytes per
/// execution (SETRANGE, SRANDMEMBER -n) only slows the fuzzer; big values are the
/// business of the hostile-client tests.
const MAX_SIZE_ARG: i64 = 1 << 16;

/// Reads fuzz input as a little program. Running out of bytes reads zeros.
struct Decoder<'a> {
    data: &'a [u8],
    names: Vec<Vec<Bytes>>,
    now_ms: u64,
    seed: u64,
}

impl<'a> Decoder<'a> {
    fn new(data: &'a [u8]) -> Self {
        Decoder {
            data,
            names: command_names(),
            now_ms: 1_700_000_000_000,
            seed: 0,
        }
    }

    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.data.split_first() else {
            return 0;
        };
        self.data = rest;
        b
    }

    fn requests(mut self) -> Vec<Request> {
        let mut requests = Vec::new();
        while !self.data.is_empty() && requests.len() < 64 {
            requests.extend(self.request());
        }
        requests
    }

    fn request(&mut self) -> Option<Request> {
        self.seed += 1;
        let db = if self.byte() < 224 { 0 } else { 1 };
        match self.byte() % 16 {
            0 => {
                self.now_ms += self.byte() as u64 * 250;
                None
            }
            1 => Some(Request::Expire {
                keys: vec![(db, self.key())],
                now_ms: self.now_ms,
            }),
            2 => Some(Request::Transaction {
                db,
                calls: (0..1 + self.byte() % 4)
                    .map(|_| self.command())
                    .collect::<Option<_>>()?,
                watches: Vec::new(),
                now_ms: self.now_ms,
                seed: self.seed,
            }),
            _ => Some(Request::Command {
                db,
                args: self.command()?,
                now_ms: self.now_ms,
                seed: self.seed,
            }),
        }
    }

    fn command(&mut self) -> Option<Vec<Bytes>> {
        let pick = u16::from_le_bytes([self.byte(), self.byte()]) as usize;
        let mut args = self.names[pick % self.names.len()].clone();
        if pick & 0x8000 != 0 {
            args[0] = Bytes::from(args[0].to_ascii_uppercase());
        }
        for _ in 0..self.byte() % 8 {
            args.push(self.arg());
        }
        let too_big = args[1..].iter().any(|a| {
            std::str::from_utf8(a)
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .is_some_and(|n| n.abs() > MAX_SIZE_ARG as f64 && n.abs() < 1e12)
        });
        (!too_big).then_some(args)
    }

    fn key(&mut self) -> Bytes {
        Bytes::from(format!("k{}", self.byte() % 4))
    }

    fn arg(&mut self) -> Bytes {
        match self.byte() % 8 {
            0 | 1 => self.key(),
            2 => Bytes::from((self.byte() as i8).to_string()),
            3 => Bytes::from(WORDS[self.byte() as usize % WORDS.len()]),
            4 => Bytes::from(EDGES[self.byte() as usize % EDGES.len()].to_string()),
            5 => Bytes::from(vec![b'a' + self.byte() % 4]),
            _ => {
                let len = (self.byte() % 24) as usize;
                Bytes::from((0..len).map(|_| self.byte()).collect::<Vec<u8>>())
            }
        }
    }
}

/// Every command the state machine runs, as the words a client types: `GET`, or
/// `OBJECT ENCODING` for a container's subcommand.
fn command_names() -> Vec<Vec<Bytes>> {
    let mut names: Vec<Vec<Bytes>> = Vec::new();
    for spec in commands::table().values() {
        match spec.run {
            Run::Exec(_) => names.push(vec![Bytes::from(spec.name)]),
            Run::Container(subs) => names.extend(
                subs.iter()
                    .filter(|s| matches!(s.run, Run::Exec(_)))
                    .map(|s| vec![Bytes::from(spec.name), Bytes::from(s.short_name())]),
            ),
            Run::Session(_) => {}
        }
    }
    // The table is a HashMap: sort so a saved input means the same commands next run.
    names.sort();
    names
}
