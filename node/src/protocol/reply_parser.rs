//! Incremental parsing of replies as a client reads them (RESP2 and RESP3): finds where one
//! complete reply ends in a read buffer and hands it back as raw bytes, with its type and,
//! for errors, the error text. Used by the proxy and by anything that forwards a command
//! to another node and relays the answer unchanged.
//!
//! The parser is resumable: a large array arriving in many reads is scanned once.

use super::Reply;
use bytes::{Bytes, BytesMut};
use memchr::memchr;
use std::borrow::Cow;
use thiserror::Error;

/// Longest line (simple string, error, length header) accepted from a server.
const MAX_LINE_LEN: usize = 64 * 1024 * 1024;
/// Deepest nesting of aggregates accepted.
const MAX_DEPTH: usize = 1024;

#[derive(Debug, Error, PartialEq)]
#[error("invalid reply from server: {0}")]
pub struct ReplyError(pub String);

/// One complete reply exactly as received.
#[derive(Debug, Clone, PartialEq)]
pub struct RawReply {
    /// The reply's bytes, CRLFs included: relay them as they are.
    pub bytes: Bytes,
}

impl RawReply {
    /// The type byte: `+ - : $ * % ~ > , # _ ( = | !`.
    pub fn kind(&self) -> u8 {
        self.bytes[0]
    }

    /// An error reply (`-ERR ...` or a RESP3 blob error `!`).
    pub fn is_error(&self) -> bool {
        matches!(self.kind(), b'-' | b'!')
    }

    /// Out-of-band data (RESP3 push): not the answer to a request.
    pub fn is_push(&self) -> bool {
        self.kind() == b'>'
    }

    /// The error text (`ERR unknown command ...`), for error replies.
    pub fn error_text(&self) -> Option<Cow<'_, str>> {
        match self.kind() {
            b'-' => Some(String::from_utf8_lossy(line_body(&self.bytes))),
            b'!' => {
                let (len, start) = blob_bounds(&self.bytes)?;
                Some(String::from_utf8_lossy(&self.bytes[start..start + len]))
            }
            _ => None,
        }
    }

    /// The error code (first word of an error's text: `READONLY`, `ERR`, `MOVED`...).
    pub fn error_code(&self) -> Option<String> {
        let text = self.error_text()?;
        Some(text.split(' ').next().unwrap_or("").to_string())
    }

    /// Decodes the reply into a `Reply` value (to re-encode for a client speaking another
    /// protocol version, or to inspect it).
    pub fn decode(&self) -> Result<Reply, ReplyError> {
        let mut pos = 0;
        let reply = decode_at(&self.bytes, &mut pos)?;
        Ok(reply)
    }
}

/// Body of the first line: after the type byte, before CRLF.
fn line_body(bytes: &[u8]) -> &[u8] {
    let end = memchr(b'\r', bytes).unwrap_or(bytes.len());
    &bytes[1..end]
}

/// `(len, start)` of a blob's payload.
fn blob_bounds(bytes: &[u8]) -> Option<(usize, usize)> {
    let end = memchr(b'\r', bytes)?;
    let len: i64 = std::str::from_utf8(&bytes[1..end]).ok()?.parse().ok()?;
    Some((usize::try_from(len).ok()?, end + 2))
}

/// Where the parse of the reply at the front of the buffer stands.
#[derive(Debug, Default)]
pub struct ReplyParser {
    /// Bytes of the current reply already scanned.
    pos: usize,
    /// Items still expected by each open aggregate, innermost last.
    stack: Vec<usize>,
}

impl ReplyParser {
    pub fn new() -> ReplyParser {
        ReplyParser::default()
    }

    /// Takes one complete reply off the front of `buf`; `Ok(None)` when more bytes are needed.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Option<RawReply>, ReplyError> {
        loop {
            // One value starting at `pos`.
            let Some(nl) = memchr(b'\n', &buf[self.pos..]) else {
                if buf.len() - self.pos > MAX_LINE_LEN {
                    return Err(ReplyError("line too long".into()));
                }
                return Ok(None);
            };
            let line_end = self.pos + nl + 1;
            if nl == 0 || buf[line_end - 2] != b'\r' {
                return Err(ReplyError("line not terminated by CRLF".into()));
            }
            let kind = buf[self.pos];
            let body = &buf[self.pos + 1..line_end - 2];
            let mut next = line_end;
            let mut children = 0usize;
            match kind {
                b'+' | b'-' | b':' | b',' | b'#' | b'_' | b'(' => {}
                b'$' | b'=' | b'!' => {
                    let len = parse_len(body)?;
                    if len >= 0 {
                        let need = line_end + len as usize + 2;
                        if buf.len() < need {
                            buf.reserve(need - buf.len());
                            return Ok(None);
                        }
                        if &buf[need - 2..need] != b"\r\n" {
                            return Err(ReplyError("bulk not terminated by CRLF".into()));
                        }
                        next = need;
                    }
                }
                b'*' | b'~' | b'>' | b'%' | b'|' => {
                    let len = parse_len(body)?;
                    if len > 0 {
                        let len = len as usize;
                        children = if matches!(kind, b'%' | b'|') {
                            len * 2
                        } else {
                            len
                        };
                    }
                }
                other => {
                    return Err(ReplyError(format!(
                        "unexpected type byte {:?}",
                        other as char
                    )))
                }
            }
            self.pos = next;
            if kind == b'|' {
                // An attribute precedes the value it describes: count that value too.
                children += 1;
            }
            if children > 0 {
                if self.stack.len() >= MAX_DEPTH {
                    return Err(ReplyError("nesting too deep".into()));
                }
                self.stack.push(children);
                continue;
            }
            // A leaf completed: close every aggregate it completes.
            loop {
                match self.stack.last_mut() {
                    None => {
                        let bytes = buf.split_to(self.pos).freeze();
                        self.pos = 0;
                        return Ok(Some(RawReply { bytes }));
                    }
                    Some(left) => {
                        *left -= 1;
                        if *left > 0 {
                            break;
                        }
                        self.stack.pop();
                    }
                }
            }
        }
    }
}

fn parse_len(body: &[u8]) -> Result<i64, ReplyError> {
    std::str::from_utf8(body)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|&n| n >= -1)
        .ok_or_else(|| ReplyError("invalid length".into()))
}

fn decode_at(bytes: &[u8], pos: &mut usize) -> Result<Reply, ReplyError> {
    let bad = || ReplyError("truncated reply".into());
    let nl = memchr(b'\n', &bytes[*pos..]).ok_or_else(bad)?;
    let kind = bytes[*pos];
    let body = &bytes[*pos + 1..*pos + nl - 1];
    *pos += nl + 1;
    let text = || String::from_utf8_lossy(body).into_owned();
    let blob = |pos: &mut usize, len: i64| -> Result<Bytes, ReplyError> {
        let len = len as usize;
        let data = bytes.get(*pos..*pos + len).ok_or_else(bad)?;
        *pos += len + 2;
        Ok(Bytes::copy_from_slice(data))
    };
    Ok(match kind {
        b'+' => Reply::Status(Cow::Owned(text())),
        b'-' => Reply::Error(Cow::Owned(text())),
        b':' => Reply::Int(
            text()
                .parse()
                .map_err(|_| ReplyError("bad integer".into()))?,
        ),
        b'(' => Reply::Bulk(Bytes::copy_from_slice(body)),
        b',' => Reply::Double(match text().as_str() {
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            t => t.parse().map_err(|_| ReplyError("bad double".into()))?,
        }),
        b'#' => Reply::Bool(body == b"t"),
        b'_' => Reply::Nil,
        b'$' | b'=' | b'!' => {
            let len = parse_len(body)?;
            if len < 0 {
                return Ok(Reply::Nil);
            }
            let data = blob(pos, len)?;
            match kind {
                b'$' => Reply::Bulk(data),
                b'=' => Reply::Verbatim(data.slice(4.min(data.len())..)),
                _ => Reply::Error(Cow::Owned(String::from_utf8_lossy(&data).into_owned())),
            }
        }
        b'*' | b'~' | b'>' => {
            let len = parse_len(body)?;
            if len < 0 {
                return Ok(Reply::NilArray);
            }
            let items = (0..len)
                .map(|_| decode_at(bytes, pos))
                .collect::<Result<Vec<_>, _>>()?;
            match kind {
                b'*' => Reply::Array(items),
                b'~' => Reply::Set(items),
                _ => Reply::Push(items),
            }
        }
        b'%' => {
            let len = parse_len(body)?.max(0);
            let mut pairs = Vec::with_capacity(len as usize);
            for _ in 0..len {
                let k = decode_at(bytes, pos)?;
                let v = decode_at(bytes, pos)?;
                pairs.push((k, v));
            }
            Reply::Map(pairs)
        }
        b'|' => {
            // Attributes are metadata: skip them and decode the value they annotate.
            let len = parse_len(body)?.max(0);
            for _ in 0..len * 2 {
                decode_at(bytes, pos)?;
            }
            decode_at(bytes, pos)?
        }
        other => {
            return Err(ReplyError(format!(
                "unexpected type byte {:?}",
                other as char
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> Vec<RawReply> {
        let mut p = ReplyParser::new();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(r) = p.parse(&mut buf).unwrap() {
            out.push(r);
        }
        assert!(buf.is_empty(), "left over: {buf:?}");
        out
    }

    #[test]
    fn splits_replies_of_every_type() {
        let input: &[u8] = b"+OK\r\n-ERR no\r\n:5\r\n$3\r\nfoo\r\n$-1\r\n*-1\r\n*0\r\n\
*2\r\n$1\r\na\r\n*1\r\n:1\r\n%1\r\n+k\r\n~2\r\n#t\r\n_\r\n,1.5\r\n(12\r\n\
=7\r\ntxt:abc\r\n!5\r\nERR x\r\n>2\r\n+p\r\n:1\r\n|1\r\n+a\r\n:1\r\n+v\r\n";
        let replies = all(input);
        let kinds: Vec<u8> = replies.iter().map(|r| r.kind()).collect();
        assert_eq!(kinds, b"+-:$$***%,(=!>|".to_vec());
        assert_eq!(replies.len(), 15);
        assert_eq!(&replies[7].bytes[..], b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n");
        assert_eq!(replies[1].error_text().unwrap(), "ERR no");
        assert_eq!(replies[12].error_text().unwrap(), "ERR x");
        assert!(replies[13].is_push());
        assert_eq!(replies[14].decode().unwrap(), Reply::Status("v".into()));
        let concat: Vec<u8> = replies.iter().flat_map(|r| r.bytes.to_vec()).collect();
        assert_eq!(concat, input);
    }

    #[test]
    fn resumes_at_every_split_point() {
        let input: &[u8] = b"*3\r\n$5\r\nhello\r\n%1\r\n+a\r\n*2\r\n:1\r\n:2\r\n$-1\r\n+OK\r\n";
        for cut in 0..input.len() {
            let mut p = ReplyParser::new();
            let mut buf = BytesMut::from(&input[..cut]);
            let mut got = Vec::new();
            while let Some(r) = p.parse(&mut buf).unwrap() {
                got.push(r);
            }
            buf.extend_from_slice(&input[cut..]);
            while let Some(r) = p.parse(&mut buf).unwrap() {
                got.push(r);
            }
            assert_eq!(got.len(), 2, "cut at {cut}");
            assert_eq!(&got[1].bytes[..], b"+OK\r\n");
        }
    }

    #[test]
    fn decodes_values() {
        let r = all(b"*3\r\n:1\r\n$2\r\nab\r\n%1\r\n+k\r\n,-inf\r\n");
        assert_eq!(
            r[0].decode().unwrap(),
            Reply::Array(vec![
                Reply::Int(1),
                Reply::bulk("ab"),
                Reply::Map(vec![(
                    Reply::Status("k".into()),
                    Reply::Double(f64::NEG_INFINITY)
                )]),
            ])
        );
        let e = all(b"-READONLY You can't write. leader=h:1\r\n");
        assert_eq!(e[0].error_code().unwrap(), "READONLY");
    }

    #[test]
    fn garbage_is_an_error() {
        let mut p = ReplyParser::new();
        assert!(p.parse(&mut BytesMut::from(&b"?x\r\n"[..])).is_err());
        assert!(p.parse(&mut BytesMut::from(&b"$x\r\n"[..])).is_err());
    }
}
