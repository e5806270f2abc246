//! Test support: real `tinyredis` and `redis-server` processes on loopback, a raw RESP
//! client that keeps replies byte-exact, and a differential runner that sends the same
//! commands to both servers and fails on the first reply that differs.
#![allow(dead_code)]

pub mod cluster;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port for a test server. Taken below the kernel's ephemeral range
/// (32768+), so a node restarted on its port never finds it held by some client
/// connection's local end, and never handed out twice in one test process.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Test binaries run one after another; a per-process start keeps them apart anyway.
    let start = 20000 + (std::process::id() % 300) as u16 * 40;
    let _ = NEXT.compare_exchange(0, start, Ordering::SeqCst, Ordering::SeqCst);
    loop {
        let port = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = if port >= 32000 {
            20000 + port % 12000
        } else {
            port
        };
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A server process killed when dropped.
pub struct Proc {
    pub child: Child,
    pub port: u16,
    pub dir: Option<PathBuf>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub fn tinyredis_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tinyredis")
}

/// `tinyredis node --standalone` on `port`, logging warnings only, ready to spawn.
pub fn standalone_command(port: u16) -> Command {
    let mut command = Command::new(tinyredis_bin());
    command.args([
        "node",
        "--standalone",
        "--port",
        &port.to_string(),
        "--loglevel",
        "warn",
    ]);
    command
}

/// Starts `tinyredis node --standalone` with extra flags.
pub fn start_tinyredis(extra: &[&str]) -> Proc {
    let port = free_port();
    let child = standalone_command(port)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start tinyredis");
    wait_for_port(port);
    Proc {
        child,
        port,
        dir: None,
    }
}

/// Starts Debian's `redis-server` with no persistence, as the oracle.
pub fn start_redis() -> Proc {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("redis-oracle-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--bind", "127.0.0.1", "--dir", dir.to_str().unwrap()])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (apt-get install redis-server)");
    wait_for_port(port);
    Proc {
        child,
        port,
        dir: Some(dir),
    }
}

pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            if s.write_all(b"PING\r\n").is_ok() {
                let mut buf = [0u8; 64];
                if matches!(s.read(&mut buf), Ok(n) if n > 0) {
                    return;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("server on port {port} did not come up");
}

/// One RESP value as received, kept with its exact type and bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resp {
    /// `+`, `-`, `:`, `,`, `#`, `(`, `_` lines: the type byte and the line.
    Line(u8, Vec<u8>),
    /// `$` or `=` or `!`: the type byte and the payload; `None` is `$-1`.
    Blob(u8, Option<Vec<u8>>),
    /// `*`, `~`, `%`, `>`: the type byte and the items; `None` is `*-1`.
    Agg(u8, Option<Vec<Resp>>),
}

impl Resp {
    pub fn is_error(&self) -> bool {
        matches!(self, Resp::Line(b'-', _))
    }

    /// The same value with aggregates sorted at every level: for unordered replies.
    pub fn sorted(&self) -> Resp {
        match self {
            Resp::Agg(t, Some(items)) => {
                let mut items: Vec<Resp> = items.iter().map(Resp::sorted).collect();
                items.sort();
                Resp::Agg(*t, Some(items))
            }
            other => other.clone(),
        }
    }

    /// A readable one-line rendering for failure messages.
    pub fn show(&self) -> String {
        match self {
            Resp::Line(t, l) => format!("{}{}", *t as char, String::from_utf8_lossy(l)),
            Resp::Blob(_, None) => "(nil)".into(),
            Resp::Blob(_, Some(b)) => format!("{:?}", String::from_utf8_lossy(b)),
            Resp::Agg(_, None) => "(nil array)".into(),
            Resp::Agg(t, Some(items)) => format!(
                "{}[{}]",
                *t as char,
                items.iter().map(Resp::show).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Resp::Line(b':', l) => std::str::from_utf8(l).ok()?.parse().ok(),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Resp::Blob(_, Some(b)) => Some(b),
            Resp::Line(b'+', l) => Some(l),
            _ => None,
        }
    }
}

/// A blocking RESP client that sends commands as multibulk and reads raw replies.
pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    pub fn connect(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write");
    }

    pub fn send(&mut self, args: &[&[u8]]) {
        self.send_raw(&encode(args));
    }

    pub fn cmd(&mut self, args: &[&str]) -> Resp {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send(&args);
        self.read()
    }

    pub fn read(&mut self) -> Resp {
        read_resp(&mut self.reader).expect("read reply")
    }

    /// Reads a reply, or `None` when the server closed the connection.
    pub fn try_read(&mut self) -> Option<Resp> {
        read_resp(&mut self.reader).ok()
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.writer.set_read_timeout(Some(timeout)).unwrap();
    }
}

pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn read_line(r: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed",
        ));
    }
    line.truncate(line.len().saturating_sub(2));
    Ok(line)
}

pub fn read_resp(r: &mut impl BufRead) -> std::io::Result<Resp> {
    let line = read_line(r)?;
    let (t, rest) = (line[0], line[1..].to_vec());
    let len = || std::str::from_utf8(&rest).unwrap().parse::<i64>().unwrap();
    Ok(match t {
        b'$' | b'=' | b'!' => {
            let n = len();
            if n < 0 {
                Resp::Blob(t, None)
            } else {
                let mut buf = vec![0; n as usize + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(n as usize);
                Resp::Blob(t, Some(buf))
            }
        }
        b'*' | b'~' | b'>' | b'%' => {
            let n = len();
            if n < 0 {
                Resp::Agg(t, None)
            } else {
                let count = if t == b'%' { 2 * n } else { n };
                let items = (0..count).map(|_| read_resp(r)).collect::<Result<_, _>>()?;
                Resp::Agg(t, Some(items))
            }
        }
        _ => Resp::Line(t, rest),
    })
}

/// How two replies are compared.
#[derive(Clone, Copy, PartialEq)]
pub enum Cmp {
    /// Byte-identical.
    Exact,
    /// Same elements in any order (SMEMBERS, KEYS, HGETALL…).
    Unordered,
    /// Same type and length only (SPOP, RANDOMKEY…: random by design).
    Shape,
    /// Integers at most [`CLOSE_MS`] apart: a remaining TTL read by two servers at two
    /// instants (a loaded machine can hold one of them back for milliseconds).
    Close,
}

const CLOSE_MS: i64 = 100;

/// Sends the same commands to tinyredis and redis-server and compares every reply.
pub struct Diff {
    pub ours: Conn,
    pub redis: Conn,
    history: Vec<String>,
    _servers: (Proc, Proc),
}

impl Diff {
    pub fn start() -> Diff {
        Diff::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Diff {
        let ours = start_tinyredis(extra);
        let redis = start_redis();
        Diff {
            ours: Conn::connect(ours.port),
            redis: Conn::connect(redis.port),
            history: Vec::new(),
            _servers: (ours, redis),
        }
    }

    /// Sends `args` to both; panics with the history when the replies differ.
    pub fn check_with(&mut self, args: &[&[u8]], cmp: Cmp) -> Resp {
        self.history.push(
            args.iter()
                .map(|a| format!("{:?}", String::from_utf8_lossy(a)))
                .collect::<Vec<_>>()
                .join(" "),
        );
        self.ours.send(args);
        self.redis.send(args);
        let (ours, redis) = (self.ours.read(), self.redis.read());
        let same = match cmp {
            Cmp::Exact => ours == redis,
            Cmp::Unordered => ours.sorted() == redis.sorted(),
            Cmp::Shape => same_shape(&ours, &redis),
            Cmp::Close => close_integers(&ours, &redis),
        };
        if !same {
            let tail: Vec<&String> = self.history.iter().rev().take(30).rev().collect();
            panic!(
                "replies differ\n  command:   {}\n  tinyredis: {}\n  redis:     {}\n  last commands:\n    {}",
                self.history.last().unwrap(),
                ours.show(),
                redis.show(),
                tail.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n    ")
            );
        }
        ours
    }

    pub fn check(&mut self, args: &[&str]) -> Resp {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.check_with(&args, Cmp::Exact)
    }

    pub fn check_unordered(&mut self, args: &[&str]) -> Resp {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.check_with(&args, Cmp::Unordered)
    }

    pub fn check_shape(&mut self, args: &[&str]) -> Resp {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.check_with(&args, Cmp::Shape)
    }

    /// Runs a script of commands, one per line, split like redis-cli (quotes allowed).
    /// A line starting with `~` is compared unordered, `?` by shape only, `@` as integers
    /// within [`CLOSE_MS`].
    pub fn script(&mut self, script: &str) {
        for line in script
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (cmp, line) = match line.as_bytes()[0] {
                b'~' => (Cmp::Unordered, &line[1..]),
                b'?' => (Cmp::Shape, &line[1..]),
                b'@' => (Cmp::Close, &line[1..]),
                _ => (Cmp::Exact, line),
            };
            let args = split(line);
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
            self.check_with(&refs, cmp);
        }
    }
}

fn close_integers(a: &Resp, b: &Resp) -> bool {
    let int = |r: &Resp| match r {
        Resp::Line(b':', n) => std::str::from_utf8(n).ok()?.parse::<i64>().ok(),
        _ => None,
    };
    matches!((int(a), int(b)), (Some(x), Some(y)) if (x - y).abs() <= CLOSE_MS)
}

fn same_shape(a: &Resp, b: &Resp) -> bool {
    match (a, b) {
        (Resp::Line(x, _), Resp::Line(y, _)) => x == y,
        (Resp::Blob(x, p), Resp::Blob(y, q)) => x == y && p.is_some() == q.is_some(),
        (Resp::Agg(x, Some(p)), Resp::Agg(y, Some(q))) => x == y && p.len() == q.len(),
        (Resp::Agg(x, None), Resp::Agg(y, None)) => x == y,
        _ => false,
    }
}

/// Splits a line into arguments: whitespace separated, "double quotes" with \n \r \t \\ \" \xHH.
pub fn split(line: &str) -> Vec<Vec<u8>> {
    let mut args = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut arg = Vec::new();
        if c == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('n') => arg.push(b'\n'),
                        Some('r') => arg.push(b'\r'),
                        Some('t') => arg.push(b'\t'),
                        Some('x') => {
                            let hex: String = chars.by_ref().take(2).collect();
                            arg.push(u8::from_str_radix(&hex, 16).unwrap());
                        }
                        Some(other) => arg.extend(other.to_string().bytes()),
                        None => break,
                    },
                    other => arg.extend(other.to_string().bytes()),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                arg.extend(c.to_string().bytes());
                chars.next();
            }
        }
        args.push(arg);
    }
    args
}
