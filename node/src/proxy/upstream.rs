//! A client connection to one node: send a command, read exactly one reply, as raw bytes.
//!
//! Reusable outside the proxy (forwarding a command from a follower to the leader):
//! `Upstream::connect(addr, timeout)`, then `send(&args)` for one reply at a time, or
//! `queue` several requests, `flush`, and `read_reply` once per request to pipeline.

use crate::protocol::reply_parser::{RawReply, ReplyParser};
use bytes::{BufMut, BytesMut};
use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

pub struct Upstream {
    /// The address dialled (host:port).
    pub addr: String,
    pub(crate) reader: OwnedReadHalf,
    pub(crate) writer: OwnedWriteHalf,
    /// Bytes read and not yet parsed into replies.
    pub(crate) rbuf: BytesMut,
    /// Requests encoded and not yet written.
    pub(crate) wbuf: BytesMut,
    parser: ReplyParser,
}

impl Upstream {
    /// Dials `addr`, giving up after `timeout`.
    pub async fn connect(addr: &str, timeout: Duration) -> io::Result<Upstream> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connect to {addr} timed out"),
                )
            })??;
        stream.set_nodelay(true)?;
        let (reader, writer) = stream.into_split();
        Ok(Upstream {
            addr: addr.to_string(),
            reader,
            writer,
            rbuf: BytesMut::with_capacity(16 * 1024),
            wbuf: BytesMut::with_capacity(16 * 1024),
            parser: ReplyParser::new(),
        })
    }

    /// Sends one command and reads its reply (skipping nothing: the caller must not have
    /// other requests outstanding).
    pub async fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<RawReply> {
        self.queue(args);
        self.flush().await?;
        self.read_reply().await
    }

    /// Encodes a command as a RESP multibulk into the write buffer.
    pub fn queue<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        encode_request(args, &mut self.wbuf);
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.wbuf.is_empty() {
            self.writer.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// Reads the next complete reply (RESP3 pushes included).
    pub async fn read_reply(&mut self) -> io::Result<RawReply> {
        loop {
            if let Some(reply) = self.try_reply()? {
                return Ok(reply);
            }
            if self.reader.read_buf(&mut self.rbuf).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{} closed the connection", self.addr),
                ));
            }
        }
    }

    /// A complete reply already buffered, if there is one.
    pub fn try_reply(&mut self) -> io::Result<Option<RawReply>> {
        self.parser
            .parse(&mut self.rbuf)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

/// Appends `args` as a RESP multibulk request.
pub fn encode_request<A: AsRef<[u8]>>(args: &[A], out: &mut BytesMut) {
    let mut num = itoa::Buffer::new();
    out.put_u8(b'*');
    out.put_slice(num.format(args.len()).as_bytes());
    out.put_slice(b"\r\n");
    for arg in args {
        let arg = arg.as_ref();
        out.reserve(arg.len() + 16);
        out.put_u8(b'$');
        out.put_slice(num.format(arg.len()).as_bytes());
        out.put_slice(b"\r\n");
        out.put_slice(arg);
        out.put_slice(b"\r\n");
    }
}
