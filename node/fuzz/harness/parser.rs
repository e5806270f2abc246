//! The parser check behind the `resp_parser` fuzz target, shared with
//! `node/tests/fuzz_regressions.rs` so saved inputs keep running under a stable `cargo test`.
//! A violated invariant panics: that is what libFuzzer reports as a crash.

use bytes::{Bytes, BytesMut};
use tinyredis::protocol::request::RequestParser;
use tinyredis::protocol::{parse_request, ProtocolError, Reply, MAX_MULTIBULK_LEN};

/// Everything a parse produced: the requests in order, and the error that stopped it.
type Parsed = (Vec<Vec<Bytes>>, Option<ProtocolError>);

/// `data` is a chunking header (its first byte says how many following bytes are chunk
/// sizes, and with its top bit set that the client has not authenticated) and the bytes
/// a client sends. Fed in those chunks, the parser must produce exactly what it produces
/// from the whole input at once, never panic, and respect the multibulk limit; every
/// request must survive re-encoding as a multibulk.
pub fn check_parser(data: &[u8]) {
    let authenticated = data.first().is_none_or(|&b| b & 0x80 == 0);
    let (chunks, input) = chunking(data);
    let whole = parse_in_chunks(input, &[], authenticated);
    let chunked = parse_in_chunks(input, &chunks, authenticated);
    assert_eq!(whole, chunked, "chunking {chunks:?} changed the parse");
    for request in &whole.0 {
        assert!(request.len() as i64 <= MAX_MULTIBULK_LEN);
        if !request.is_empty() {
            assert_eq!(
                reparse(request),
                *request,
                "re-encoded request parses differently"
            );
        }
    }
}

fn chunking(data: &[u8]) -> (Vec<usize>, &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return (Vec::new(), data);
    };
    let n = (n as usize & 0x0f).min(rest.len());
    let sizes = rest[..n].iter().map(|&s| s as usize + 1).collect();
    (sizes, &rest[n..])
}

/// Feeds `input` in pieces of the given sizes (cycled; all at once when empty), parsing
/// everything complete after each piece like a session does after each read.
fn parse_in_chunks(input: &[u8], sizes: &[usize], authenticated: bool) -> Parsed {
    let mut parser = RequestParser::default();
    parser.set_authenticated(authenticated);
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    let mut rest = input;
    let mut size = sizes.iter().copied().cycle();
    while !rest.is_empty() {
        let take = size.next().unwrap_or(rest.len()).min(rest.len());
        buf.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
        loop {
            match parse_request(&mut parser, &mut buf) {
                Ok(Some(request)) => requests.push(request),
                Ok(None) => break,
                Err(e) => return (requests, Some(e)),
            }
        }
    }
    (requests, None)
}

fn reparse(request: &[Bytes]) -> Vec<Bytes> {
    let mut buf = BytesMut::new();
    Reply::Array(request.iter().cloned().map(Reply::Bulk).collect()).encode(false, &mut buf);
    let mut parser = RequestParser::default();
    parse_request(&mut parser, &mut buf)
        .expect("a re-encoded request is valid")
        .expect("a re-encoded request is complete")
}
