//! Replies as values, encoded for the protocol version the client negotiated with HELLO.
//!
//! Commands build a `Reply` without knowing the protocol; the encoder flattens RESP3-only
//! types (maps, sets, doubles, booleans, pushes) the way Redis does for RESP2 clients.

use crate::keyspace::Inline;
use bytes::{BufMut, Bytes, BytesMut};
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Reply {
    /// `+OK`: a status line.
    Status(Cow<'static, str>),
    /// `-ERR ...`: the text includes the error code (e.g. `ERR`, `WRONGTYPE`).
    Error(Cow<'static, str>),
    Int(i64),
    Bulk(Bytes),
    /// A bulk string carried in the reply itself: a short value read from the store
    /// (GET) is answered without allocating a `Bytes` for it.
    ShortBulk(Inline),
    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    Nil,
    /// A missing aggregate: `*-1` in RESP2, `_` in RESP3.
    NilArray,
    Array(Vec<Reply>),
    /// Field/value pairs: a flat array in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// An unordered collection: an array in RESP2.
    Set(Vec<Reply>),
    /// A float: a bulk string in RESP2.
    Double(f64),
    /// A boolean: an integer 1/0 in RESP2.
    Bool(bool),
    /// Text with a format hint (INFO, CLIENT INFO): a bulk string in RESP2.
    Verbatim(Bytes),
    /// Out-of-band data (pub/sub messages): an array in RESP2.
    Push(Vec<Reply>),
    /// Member/score or field/value pairs: a flat array in RESP2, an array of two-element
    /// arrays in RESP3 (ZRANGE WITHSCORES, HRANDFIELD WITHVALUES).
    Pairs(Vec<(Reply, Reply)>),
    /// An array of bulk strings already in wire form (the same bytes in RESP2 and RESP3),
    /// from [`Reply::encoded_bulks`].
    EncodedBulks(Bytes),
}

impl Reply {
    pub const OK: Reply = Reply::Status(Cow::Borrowed("OK"));

    pub fn error(text: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Error(text.into())
    }

    pub fn bulk(data: impl Into<Bytes>) -> Reply {
        Reply::Bulk(data.into())
    }

    pub fn bulk_opt(data: Option<Bytes>) -> Reply {
        data.map_or(Reply::Nil, Reply::Bulk)
    }

    pub fn bulks<I: IntoIterator<Item = Bytes>>(items: I) -> Reply {
        Reply::Array(items.into_iter().map(Reply::Bulk).collect())
    }

    /// An array of bulk strings written out at once: a long range (LRANGE) then costs one
    /// buffer instead of a `Reply` and a shared reference per element.
    pub fn encoded_bulks<'a>(items: impl ExactSizeIterator<Item = &'a [u8]>) -> Reply {
        let mut out = BytesMut::new();
        int_line(&mut out, b'*', items.len() as i64);
        items.for_each(|item| bulk(&mut out, item));
        Reply::EncodedBulks(out.freeze())
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Writes the reply in RESP2 (`resp3 == false`) or RESP3.
    pub fn encode(&self, resp3: bool, out: &mut BytesMut) {
        match self {
            Reply::Status(s) => line(out, b'+', s.as_bytes()),
            Reply::Error(e) => line(out, b'-', e.as_bytes()),
            Reply::Int(n) => int_line(out, b':', *n),
            Reply::Bulk(b) => bulk(out, b),
            Reply::ShortBulk(b) => bulk(out, b.as_bytes()),
            Reply::Nil if resp3 => out.put_slice(b"_\r\n"),
            Reply::Nil => out.put_slice(b"$-1\r\n"),
            Reply::NilArray if resp3 => out.put_slice(b"_\r\n"),
            Reply::NilArray => out.put_slice(b"*-1\r\n"),
            Reply::Array(items) => aggregate(out, b'*', items, resp3),
            Reply::Set(items) => aggregate(out, if resp3 { b'~' } else { b'*' }, items, resp3),
            Reply::Push(items) => aggregate(out, if resp3 { b'>' } else { b'*' }, items, resp3),
            Reply::Map(pairs) => {
                if resp3 {
                    int_line(out, b'%', pairs.len() as i64);
                } else {
                    int_line(out, b'*', 2 * pairs.len() as i64);
                }
                for (k, v) in pairs {
                    k.encode(resp3, out);
                    v.encode(resp3, out);
                }
            }
            Reply::Pairs(pairs) if resp3 => {
                int_line(out, b'*', pairs.len() as i64);
                for (a, b) in pairs {
                    int_line(out, b'*', 2);
                    a.encode(resp3, out);
                    b.encode(resp3, out);
                }
            }
            Reply::Pairs(pairs) => {
                int_line(out, b'*', 2 * pairs.len() as i64);
                for (a, b) in pairs {
                    a.encode(resp3, out);
                    b.encode(resp3, out);
                }
            }
            Reply::Double(d) if resp3 => line(out, b',', format_double(*d).as_bytes()),
            Reply::Double(d) => bulk(out, format_double(*d).as_bytes()),
            Reply::Bool(b) if resp3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Reply::Bool(b) => int_line(out, b':', *b as i64),
            Reply::Verbatim(text) if resp3 => {
                int_line(out, b'=', text.len() as i64 + 4);
                out.put_slice(b"txt:");
                out.put_slice(text);
                out.put_slice(b"\r\n");
            }
            Reply::Verbatim(text) => bulk(out, text),
            Reply::EncodedBulks(wire) => out.put_slice(wire),
        }
    }
}

fn line(out: &mut BytesMut, prefix: u8, body: &[u8]) {
    out.reserve(body.len() + 3);
    out.put_u8(prefix);
    out.put_slice(body);
    out.put_slice(b"\r\n");
}

fn int_line(out: &mut BytesMut, prefix: u8, n: i64) {
    let mut buf = itoa::Buffer::new();
    line(out, prefix, buf.format(n).as_bytes());
}

fn bulk(out: &mut BytesMut, data: &[u8]) {
    int_line(out, b'$', data.len() as i64);
    out.reserve(data.len() + 2);
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

fn aggregate(out: &mut BytesMut, prefix: u8, items: &[Reply], resp3: bool) {
    int_line(out, prefix, items.len() as i64);
    for item in items {
        item.encode(resp3, out);
    }
}

/// Formats a double the way Redis 7.0 does in replies: C's `%.17g`, with `inf`/`-inf`.
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    const PRECISION: i32 = 17;
    let sci = format!("{:.*e}", (PRECISION - 1) as usize, d);
    let (mantissa, exp) = sci.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    if (-4..PRECISION).contains(&exp) {
        let fixed = format!("{:.*}", (PRECISION - 1 - exp) as usize, d);
        trim_fraction(&fixed).to_string()
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{}{:02}", trim_fraction(mantissa), sign, exp.abs())
    }
}

/// Drops trailing zeros of a fraction, and the point itself when nothing is left after it.
fn trim_fraction(s: &str) -> &str {
    if !s.contains('.') {
        return s;
    }
    s.trim_end_matches('0').trim_end_matches('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_format_like_printf_g17() {
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(1e6), "1000000");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(1.5e-5), "1.5e-05");
        assert_eq!(format_double(-3.0), "-3");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn encoded_bulks_match_an_array_of_bulks() {
        let items = [&b"a"[..], b"", b"xyz"];
        for resp3 in [false, true] {
            let (mut wire, mut tree) = (BytesMut::new(), BytesMut::new());
            Reply::encoded_bulks(items.into_iter()).encode(resp3, &mut wire);
            Reply::bulks(items.map(Bytes::copy_from_slice)).encode(resp3, &mut tree);
            assert_eq!(wire, tree);
        }
    }

    #[test]
    fn resp2_flattens_resp3_types() {
        let mut out = BytesMut::new();
        Reply::Map(vec![(Reply::bulk("a"), Reply::Int(1))]).encode(false, &mut out);
        assert_eq!(&out[..], b"*2\r\n$1\r\na\r\n:1\r\n");
        out.clear();
        Reply::Map(vec![(Reply::bulk("a"), Reply::Int(1))]).encode(true, &mut out);
        assert_eq!(&out[..], b"%1\r\n$1\r\na\r\n:1\r\n");
    }
}
