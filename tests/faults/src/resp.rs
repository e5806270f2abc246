//! A minimal blocking RESP2 client with a deadline on every call: the harness must see a
//! hung node as a timeout, never hang with it.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Value>>),
}

impl Value {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bulk(Some(b)) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }

    pub fn as_string(&self) -> Option<String> {
        match self {
            Value::Simple(s) => Some(s.clone()),
            Value::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    /// The items of an array reply as strings (LRANGE).
    pub fn as_strings(&self) -> Option<Vec<String>> {
        match self {
            Value::Array(Some(items)) => items.iter().map(Value::as_string).collect(),
            _ => None,
        }
    }
}

pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    pub fn connect(addr: &str, timeout: Duration) -> io::Result<Client> {
        let addr: SocketAddr = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))?;
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    pub fn call(&mut self, args: &[&str]) -> io::Result<Value> {
        Ok(self.pipeline(&[args])?.remove(0))
    }

    /// Sends all commands in one write and reads one reply for each.
    pub fn pipeline(&mut self, commands: &[&[&str]]) -> io::Result<Vec<Value>> {
        let mut out = Vec::new();
        for args in commands {
            encode(&mut out, args);
        }
        self.writer.write_all(&out)?;
        commands
            .iter()
            .map(|_| read_value(&mut self.reader))
            .collect()
    }
}

fn encode(out: &mut Vec<u8>, args: &[&str]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
}

fn read_line(r: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\r\n") {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn bad(line: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("bad reply line {line:?}"),
    )
}

fn read_value(r: &mut impl BufRead) -> io::Result<Value> {
    let line = read_line(r)?;
    let (kind, rest) = line.split_at(1.min(line.len()));
    let len = || rest.parse::<i64>().map_err(|_| bad(&line));
    Ok(match kind {
        "+" => Value::Simple(rest.to_string()),
        "-" => Value::Error(rest.to_string()),
        ":" => Value::Int(len()?),
        "$" if len()? < 0 => Value::Bulk(None),
        "$" => {
            let mut buf = vec![0; len()? as usize + 2];
            r.read_exact(&mut buf)?;
            buf.truncate(buf.len() - 2);
            Value::Bulk(Some(buf))
        }
        "*" if len()? < 0 => Value::Array(None),
        "*" => Value::Array(Some(
            (0..len()?)
                .map(|_| read_value(r))
                .collect::<io::Result<_>>()?,
        )),
        _ => return Err(bad(&line)),
    })
}
