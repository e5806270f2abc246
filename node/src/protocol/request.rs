//! Incremental request parsing: RESP multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline
//! commands (`GET k\r\n`, as typed into telnet), with Redis's limits and error texts.
//!
//! The parser is resumable: a command split across many reads is not re-scanned from the
//! start each time, so a 1M-element multibulk arriving in small chunks stays linear.

use bytes::{Buf, Bytes, BytesMut};
use memchr::memchr;
use thiserror::Error;

/// Redis's `proto-max-bulk-len` default.
pub const MAX_BULK_LEN: i64 = 512 * 1024 * 1024;
/// Largest multibulk count accepted, as in Redis before 7 and as our memory budget wants.
pub const MAX_MULTIBULK_LEN: i64 = 1024 * 1024;
/// An inline command or a length line longer than this is a protocol error (`PROTO_INLINE_MAX_SIZE`).
const MAX_INLINE_LEN: usize = 64 * 1024;
/// What a client that has not authenticated yet may send (Redis's answer to CVE-2021-32675):
/// enough for AUTH and HELLO, too little to make the node reserve memory for it.
const UNAUTHENTICATED_MAX_MULTIBULK_LEN: i64 = 10;
const UNAUTHENTICATED_MAX_BULK_LEN: i64 = 16 * 1024;
/// The largest argument vector [`RequestParser::recycle`] keeps.
const RECYCLED_ARGS_MAX: usize = 64;
/// Bulk arguments at least this long are split off the read buffer instead of copied.
const ZERO_COPY_MIN: usize = 32 * 1024;

/// A malformed request: the client gets `-ERR Protocol error: ...` and is disconnected.
#[derive(Debug, Error, PartialEq)]
#[error("Protocol error: {0}")]
pub struct ProtocolError(pub String);

/// Parser state kept between reads for a multibulk request that is not complete yet.
#[derive(Debug, Default)]
pub struct RequestParser {
    remaining: usize,
    /// The request being parsed; between requests, a spent one's vector kept for the next.
    args: Vec<Bytes>,
    /// The client must authenticate first: only small requests are accepted.
    unauthenticated: bool,
}

impl RequestParser {
    pub fn set_authenticated(&mut self, authenticated: bool) {
        self.unauthenticated = !authenticated;
    }

    /// Takes back a request's vector once it has run, so the next request does not
    /// allocate one. A vector grown for a huge request is dropped rather than kept per client.
    pub fn recycle(&mut self, mut args: Vec<Bytes>) {
        if args.capacity() <= RECYCLED_ARGS_MAX && self.args.capacity() == 0 {
            args.clear();
            self.args = args;
        }
    }
}

/// Parses one request from the front of `buf`, consuming it.
/// `Ok(None)` means more bytes are needed; an empty `Vec` is a request to skip (a bare newline).
pub fn parse_request(
    parser: &mut RequestParser,
    buf: &mut BytesMut,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    if parser.remaining == 0 {
        match buf.first() {
            None => return Ok(None),
            Some(b'*') => {}
            Some(_) => return parse_inline(buf),
        }
        let Some(count) = take_count_line(buf)? else {
            return Ok(None);
        };
        let count = count
            .filter(|&n| n <= MAX_MULTIBULK_LEN)
            .ok_or_else(|| ProtocolError("invalid multibulk length".into()))?;
        if count > UNAUTHENTICATED_MAX_MULTIBULK_LEN && parser.unauthenticated {
            return Err(ProtocolError("unauthenticated multibulk length".into()));
        }
        if count <= 0 {
            return Ok(Some(Vec::new()));
        }
        parser.remaining = count as usize;
        parser.args.reserve(parser.remaining.min(1024));
    }
    // Consumed bytes are counted here and cut from `buf` once, not argument by argument.
    let mut at = 0;
    while parser.remaining > 0 {
        let (header, len) = match bulk_at(&buf[at..], parser.unauthenticated)? {
            Bulk::Ready { header, len } => (header, len),
            Bulk::Incomplete { wanted } => {
                buf.advance(at);
                buf.reserve(wanted.saturating_sub(buf.len()));
                return Ok(None);
            }
        };
        let arg = if len >= ZERO_COPY_MIN {
            buf.advance(at + header);
            at = 0;
            buf.split_to(len).freeze()
        } else {
            at += header + len;
            Bytes::copy_from_slice(&buf[at - len..at])
        };
        // Redis skips the two bytes after the payload without checking they are CRLF; so do we.
        at += 2;
        parser.args.push(arg);
        parser.remaining -= 1;
    }
    buf.advance(at);
    Ok(Some(std::mem::take(&mut parser.args)))
}

/// A bulk at the front of the unconsumed input.
enum Bulk {
    /// `$<len>\r\n` is `header` bytes long; the payload and its CRLF have all arrived.
    Ready { header: usize, len: usize },
    /// More bytes are needed: `wanted` in all once the length is known, else zero.
    Incomplete { wanted: usize },
}

/// Where `$<len>\r\n<data>\r\n` at the front of `buf` lies, once it has all arrived.
fn bulk_at(buf: &[u8], unauthenticated: bool) -> Result<Bulk, ProtocolError> {
    let Some(newline) = line_end(buf, b'\r', "too big bulk count string")? else {
        return Ok(Bulk::Incomplete { wanted: 0 });
    };
    if buf.len() < newline + 2 {
        return Ok(Bulk::Incomplete { wanted: 0 });
    }
    if buf[0] != b'$' {
        return Err(ProtocolError(format!(
            "expected '$', got '{}'",
            buf[0] as char
        )));
    }
    let len = parse_int(&buf[1..newline])
        .filter(|&n| (0..=MAX_BULK_LEN).contains(&n))
        .ok_or_else(|| ProtocolError("invalid bulk length".into()))?;
    if len > UNAUTHENTICATED_MAX_BULK_LEN && unauthenticated {
        return Err(ProtocolError("unauthenticated bulk length".into()));
    }
    let (header, len) = (newline + 2, len as usize);
    if buf.len() < header + len + 2 {
        return Ok(Bulk::Incomplete {
            wanted: header + len + 2,
        });
    }
    Ok(Bulk::Ready { header, len })
}

/// Takes a `*<n>\r\n` line, returning its number (`None` inside when it is not one).
fn take_count_line(buf: &mut BytesMut) -> Result<Option<Option<i64>>, ProtocolError> {
    let Some(newline) = line_end(buf, b'\r', "too big mbulk count string")? else {
        return Ok(None);
    };
    if buf.len() < newline + 2 {
        return Ok(None);
    }
    let count = parse_int(&buf[1..newline]);
    buf.advance(newline + 2);
    Ok(Some(count))
}

fn parse_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(newline) = line_end(buf, b'\n', "too big inline request")? else {
        return Ok(None);
    };
    let line = buf.split_to(newline + 1);
    let mut line = &line[..newline];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    split_args(line)
        .map(Some)
        .ok_or_else(|| ProtocolError("unbalanced quotes in request".into()))
}

/// Where the line at the front of `buf` ends (the index of `end`). A line longer than
/// `MAX_INLINE_LEN` is an error whether or not its end has arrived yet, so how the bytes
/// were split into reads never changes the outcome, and a long buffer is not rescanned.
fn line_end(buf: &[u8], end: u8, too_big: &str) -> Result<Option<usize>, ProtocolError> {
    let window = &buf[..buf.len().min(MAX_INLINE_LEN + 1)];
    match memchr(end, window) {
        Some(at) => Ok(Some(at)),
        None if window.len() > MAX_INLINE_LEN => Err(ProtocolError(too_big.into())),
        None => Ok(None),
    }
}

/// Redis's `string2ll`: an optional minus sign and digits, no spaces, no leading zeros.
/// Runs twice per argument, so it folds the digits itself instead of going through `str`.
fn parse_int(digits: &[u8]) -> Option<i64> {
    let (negative, unsigned) = match digits.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, digits),
    };
    if unsigned.is_empty() || (unsigned.len() > 1 && unsigned[0] == b'0') {
        return None;
    }
    let magnitude = unsigned.iter().try_fold(0i64, |n, &b| {
        let digit = (b as char).to_digit(10)? as i64;
        // Accumulated negatively so that i64::MIN, whose magnitude has no i64, parses.
        n.checked_mul(10)?.checked_sub(digit)
    })?;
    if negative {
        Some(magnitude)
    } else {
        magnitude.checked_neg()
    }
}

/// Splits an inline command line like Redis's `sdssplitargs`: whitespace separated,
/// with "double quotes" (backslash escapes, `\xHH`) and 'single quotes'.
/// `None` on unbalanced quotes or a closing quote not followed by a space.
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            return Some(args);
        }
        let mut current = Vec::new();
        match line[i] {
            b'"' => i = split_double_quoted(line, i + 1, &mut current)?,
            b'\'' => i = split_single_quoted(line, i + 1, &mut current)?,
            _ => {
                while i < line.len() && !line[i].is_ascii_whitespace() {
                    current.push(line[i]);
                    i += 1;
                }
            }
        }
        args.push(Bytes::from(current));
    }
}

fn split_double_quoted(line: &[u8], mut i: usize, out: &mut Vec<u8>) -> Option<usize> {
    loop {
        let c = *line.get(i)?;
        if c == b'\\' && i + 3 < line.len() && line[i + 1] == b'x' {
            if let (Some(h), Some(l)) = (hex(line[i + 2]), hex(line[i + 3])) {
                out.push(h * 16 + l);
                i += 4;
                continue;
            }
        }
        if c == b'\\' && i + 1 < line.len() {
            out.push(match line[i + 1] {
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'b' => 8,
                b'a' => 7,
                other => other,
            });
            i += 2;
        } else if c == b'"' {
            return closing_quote_ok(line, i + 1);
        } else {
            out.push(c);
            i += 1;
        }
    }
}

fn split_single_quoted(line: &[u8], mut i: usize, out: &mut Vec<u8>) -> Option<usize> {
    loop {
        let c = *line.get(i)?;
        if c == b'\\' && line.get(i + 1) == Some(&b'\'') {
            out.push(b'\'');
            i += 2;
        } else if c == b'\'' {
            return closing_quote_ok(line, i + 1);
        } else {
            out.push(c);
            i += 1;
        }
    }
}

/// A closing quote must be followed by whitespace or the end of the line.
fn closing_quote_ok(line: &[u8], next: usize) -> Option<usize> {
    match line.get(next) {
        None => Some(next),
        Some(c) if c.is_ascii_whitespace() => Some(next),
        Some(_) => None,
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut parser = RequestParser::default();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(req) = parse_request(&mut parser, &mut buf)? {
            out.push(req);
        }
        Ok(out)
    }

    #[test]
    fn multibulk_split_at_every_byte_resumes() {
        let input = b"*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n";
        let mut parser = RequestParser::default();
        let mut buf = BytesMut::new();
        let mut got = None;
        for &b in input.iter() {
            buf.extend_from_slice(&[b]);
            if let Some(req) = parse_request(&mut parser, &mut buf).unwrap() {
                got = Some(req);
            }
        }
        assert_eq!(got.unwrap(), vec![Bytes::from("GET"), Bytes::from("hello")]);
    }

    #[test]
    fn pipelined_requests_around_a_zero_copy_argument_parse_alike_however_split() {
        let mut input = b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n".to_vec();
        input.extend_from_slice(format!("*3\r\n$3\r\nSET\r\n${ZERO_COPY_MIN}\r\n").as_bytes());
        input.extend(std::iter::repeat_n(b'x', ZERO_COPY_MIN));
        input.extend_from_slice(b"\r\n$1\r\nv\r\n*1\r\n$4\r\nPING\r\n");
        let whole = parse_all(&input).unwrap();
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[1][1].len(), ZERO_COPY_MIN);
        assert_eq!(whole[1][2], Bytes::from("v"));
        assert_eq!(whole[2], vec![Bytes::from("PING")]);

        let mut parser = RequestParser::default();
        let mut buf = BytesMut::new();
        let mut bytewise = Vec::new();
        for &b in &input {
            buf.extend_from_slice(&[b]);
            while let Some(req) = parse_request(&mut parser, &mut buf).unwrap() {
                bytewise.push(req.clone());
                parser.recycle(req);
            }
        }
        assert_eq!(bytewise, whole);
    }

    #[test]
    fn inline_quotes_and_errors() {
        let reqs = parse_all(b"set k \"a\\x41\\n\" 'b c'\r\n").unwrap();
        assert_eq!(reqs[0][2], Bytes::from("aA\n"));
        assert_eq!(reqs[0][3], Bytes::from("b c"));
        assert!(parse_all(b"set \"k\r\n").is_err());
        assert_eq!(parse_all(b"\r\n").unwrap(), vec![Vec::<Bytes>::new()]);
    }

    #[test]
    fn integers_follow_string2ll() {
        assert_eq!(parse_int(b"0"), Some(0));
        assert_eq!(parse_int(b"-0"), Some(0));
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int(b"9223372036854775808"), None);
        for bad in [&b""[..], b"-", b"01", b"1 ", b"+1", b"1a"] {
            assert_eq!(parse_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn limits_are_protocol_errors() {
        assert_eq!(
            parse_all(b"*1\r\n$536870913\r\n").unwrap_err().0,
            "invalid bulk length"
        );
        assert_eq!(
            parse_all(b"*99999999\r\n").unwrap_err().0,
            "invalid multibulk length"
        );
        assert_eq!(
            parse_all(b"*1\r\n+x\r\n").unwrap_err().0,
            "expected '$', got '+'"
        );
    }
}
