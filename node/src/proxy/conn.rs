//! One client connection: requests are parsed, forwarded to the leader (pipelined), and
//! each is answered exactly once, in order. At a command boundary the connection follows
//! a new leader, re-sending the client's settings there. A request a non-leader rejected
//! (READONLY/CLUSTERDOWN: never applied) is retried on the new leader; a request whose
//! node vanished gets an "outcome unknown" error unless it was a read.

use super::leader::{Tracker, View};
use super::metrics::Metrics;
use super::state::{self, Class, SessionState};
use super::upstream::{encode_request, Upstream};
use crate::protocol::reply_parser::RawReply;
use crate::protocol::request::{parse_request, RequestParser};
use bytes::{Buf, Bytes, BytesMut};
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::debug;

/// Settings every connection shares.
pub struct Shared {
    pub tracker: Arc<Tracker>,
    pub metrics: Arc<Metrics>,
    pub dial_timeout: Duration,
    pub leader_wait: Duration,
}

pub const LOST: &str = "-ERR proxy: upstream connection lost; outcome unknown\r\n";
const NO_LEADER: &str = "-CLUSTERDOWN proxy: no leader available; retry shortly\r\n";
const PINNED: &str =
    "-ERR proxy: the leader changed during MULTI/WATCH; the transaction was dropped, reconnect and retry\r\n";
/// How many times one request is sent after non-leaders rejected it.
const MAX_ATTEMPTS: u32 = 5;
/// How long requests sent to a deposed leader may take to be answered before they are
/// given up as lost.
const STALL: Duration = Duration::from_secs(5);
/// Backpressure: requests parsed but not answered, and buffered bytes.
const MAX_PENDING: usize = 4096;
const MAX_BUFFERED: usize = 4 << 20;

struct Pending {
    args: Vec<Bytes>,
    class: Class,
    /// Decided already: an error made by the proxy, or a reply kept from a former node.
    answer: Option<Bytes>,
    /// The connection closes once this is answered (QUIT, protocol error, lost transaction).
    closes: bool,
    /// May be sent again when a non-leader rejects it.
    retryable: bool,
    attempts: u32,
    /// Reply from a node that rejected an earlier request, kept while draining it.
    held: Option<RawReply>,
}

impl Pending {
    fn new(args: Vec<Bytes>) -> Pending {
        let class = state::classify(&args);
        Pending {
            args,
            class,
            answer: None,
            closes: false,
            retryable: false,
            attempts: 0,
            held: None,
        }
    }

    fn canned(answer: impl Into<Bytes>, closes: bool) -> Pending {
        Pending {
            args: Vec::new(),
            class: Class::Plain,
            answer: Some(answer.into()),
            closes,
            retryable: false,
            attempts: 0,
            held: None,
        }
    }
}

#[derive(PartialEq)]
enum Mode {
    Requests,
    /// Subscribed or MONITOR: bytes relayed as they come.
    Pipe,
}

enum Event {
    ClientRead(io::Result<usize>),
    ClientWrote(io::Result<usize>),
    UpRead(io::Result<usize>),
    UpWrote(io::Result<usize>),
    Leader,
    Shutdown,
    Stalled,
}

pub struct Conn {
    shared: Arc<Shared>,
    client_r: OwnedReadHalf,
    client_w: OwnedWriteHalf,
    cbuf: BytesMut,
    parser: RequestParser,
    out: BytesMut,
    up: Option<Upstream>,
    /// Parsed, not sent yet.
    queued: VecDeque<Pending>,
    /// Sent (or decided) and not answered yet, in order.
    inflight: VecDeque<Pending>,
    /// A non-leader rejected a request: send it nothing more, keep its replies here.
    draining: bool,
    held: Vec<Pending>,
    /// A probe round newer than this must name the leader before reconnecting.
    fresh_since: Option<Instant>,
    state: SessionState,
    /// Whether requests sent so far leave the connection inside MULTI (replies pending).
    sent_in_multi: bool,
    /// Whether this client had a node before (a new one is a move).
    connected_before: bool,
    mode: Mode,
    client_eof: bool,
    stop_reading: bool,
    close_after_flush: bool,
    stall: Option<Instant>,
    leader_rx: watch::Receiver<View>,
    shutdown: watch::Receiver<bool>,
}

async fn read_opt(r: Option<(&mut OwnedReadHalf, &mut BytesMut)>) -> io::Result<usize> {
    match r {
        Some((r, buf)) => r.read_buf(buf).await,
        None => std::future::pending().await,
    }
}

async fn write_opt(w: Option<(&mut OwnedWriteHalf, &[u8])>) -> io::Result<usize> {
    match w {
        Some((w, buf)) => w.write(buf).await,
        None => std::future::pending().await,
    }
}

async fn sleep_opt(until: Option<Instant>) {
    match until {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

impl Conn {
    pub fn new(stream: TcpStream, shared: Arc<Shared>, shutdown: watch::Receiver<bool>) -> Conn {
        let _ = stream.set_nodelay(true);
        let (client_r, client_w) = stream.into_split();
        let leader_rx = shared.tracker.subscribe();
        Conn {
            shared,
            client_r,
            client_w,
            cbuf: BytesMut::with_capacity(16 * 1024),
            parser: RequestParser::default(),
            out: BytesMut::with_capacity(16 * 1024),
            up: None,
            queued: VecDeque::new(),
            inflight: VecDeque::new(),
            draining: false,
            held: Vec::new(),
            fresh_since: None,
            state: SessionState::default(),
            sent_in_multi: false,
            connected_before: false,
            mode: Mode::Requests,
            client_eof: false,
            stop_reading: false,
            close_after_flush: false,
            stall: None,
            leader_rx,
            shutdown,
        }
    }

    /// Serves the client until it leaves or the connection must close.
    pub async fn run(mut self) {
        loop {
            if self.mode == Mode::Requests {
                self.dispatch().await;
            }
            if self.close_after_flush && self.out.is_empty() {
                break;
            }
            let idle = self.queued.is_empty() && self.inflight.is_empty() && self.out.is_empty();
            if idle && (self.client_eof || (self.stop_reading && *self.shutdown.borrow())) {
                break;
            }
            self.arm_stall();
            let event = self.next_event().await;
            if !self.handle(event) {
                break;
            }
            if self.mode == Mode::Requests {
                self.dispatch().await;
            }
            if !self.flush_eagerly() {
                break;
            }
        }
        let _ = self.client_w.shutdown().await;
    }

    /// Writes what is buffered both ways without waiting (saves a trip through `select!`
    /// per request); what does not fit now is written when the socket is ready.
    /// `false` when the client is gone.
    fn flush_eagerly(&mut self) -> bool {
        if let Some(up) = self.up.as_mut() {
            if !up.wbuf.is_empty() {
                match up.writer.try_write(&up.wbuf) {
                    Ok(n) => up.wbuf.advance(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        if self.mode == Mode::Pipe {
                            self.close_after_flush = true;
                        } else {
                            self.upstream_lost();
                        }
                    }
                }
            }
        }
        if !self.out.is_empty() {
            match self.client_w.try_write(&self.out) {
                Ok(n) => self.out.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return false,
            }
        }
        true
    }

    async fn next_event(&mut self) -> Event {
        let pending = self.queued.len() + self.inflight.len();
        let up_buffered = self.up.as_ref().map_or(0, |u| u.wbuf.len());
        let read_client = !self.client_eof
            && !self.stop_reading
            && !self.close_after_flush
            && pending < MAX_PENDING
            && self.out.len() < MAX_BUFFERED
            && up_buffered < MAX_BUFFERED;
        let read_up = self.out.len() < MAX_BUFFERED;
        let shutting = *self.shutdown.borrow();
        let (up_r, up_w) = match self.up.as_mut() {
            Some(u) => (
                read_up.then_some((&mut u.reader, &mut u.rbuf)),
                (!u.wbuf.is_empty()).then_some((&mut u.writer, &u.wbuf[..])),
            ),
            None => (None, None),
        };
        let client_r = read_client.then_some((&mut self.client_r, &mut self.cbuf));
        let client_w = (!self.out.is_empty()).then_some((&mut self.client_w, &self.out[..]));
        tokio::select! {
            r = write_opt(client_w) => Event::ClientWrote(r),
            r = write_opt(up_w) => Event::UpWrote(r),
            r = read_opt(up_r) => Event::UpRead(r),
            r = read_opt(client_r) => Event::ClientRead(r),
            _ = self.leader_rx.changed() => Event::Leader,
            _ = self.shutdown.changed(), if !shutting => Event::Shutdown,
            _ = sleep_opt(self.stall) => Event::Stalled,
        }
    }

    /// Handles one event; `false` ends the connection now.
    fn handle(&mut self, event: Event) -> bool {
        match event {
            Event::ClientWrote(Ok(n)) if n > 0 => self.out.advance(n),
            Event::ClientWrote(_) => return false,
            Event::ClientRead(Ok(0)) | Event::ClientRead(Err(_)) => {
                self.client_eof = true;
                if self.mode == Mode::Pipe {
                    return false;
                }
            }
            Event::ClientRead(Ok(_)) => self.parse_requests(),
            Event::UpWrote(Ok(n)) if n > 0 => {
                if let Some(up) = self.up.as_mut() {
                    up.wbuf.advance(n);
                }
            }
            Event::UpWrote(_) | Event::UpRead(Ok(0)) | Event::UpRead(Err(_)) => {
                if self.mode == Mode::Pipe {
                    self.close_after_flush = true;
                    return true;
                }
                self.upstream_lost();
            }
            Event::UpRead(Ok(_)) => {
                if self.mode == Mode::Pipe {
                    if let Some(up) = self.up.as_mut() {
                        let data = up.rbuf.split();
                        self.out.extend_from_slice(&data);
                    }
                } else {
                    self.read_replies();
                }
            }
            Event::Leader => return self.leader_changed(),
            Event::Shutdown => self.stop_reading = true,
            Event::Stalled => {
                debug!("requests to a deposed leader stalled; giving them up");
                self.upstream_lost();
            }
        }
        true
    }

    fn parse_requests(&mut self) {
        while !self.stop_reading {
            match parse_request(&mut self.parser, &mut self.cbuf) {
                Ok(None) => break,
                Ok(Some(args)) if args.is_empty() => {}
                Ok(Some(args)) => {
                    if self.mode == Mode::Pipe {
                        if let Some(up) = self.up.as_mut() {
                            encode_request(&args, &mut up.wbuf);
                        }
                    } else {
                        self.queued.push_back(Pending::new(args));
                    }
                }
                Err(e) => {
                    self.shared.metrics.error("protocol");
                    let text = format!("-ERR {e}\r\n");
                    if self.mode == Mode::Pipe {
                        self.out.extend_from_slice(text.as_bytes());
                        self.close_after_flush = true;
                    } else {
                        self.queued.push_back(Pending::canned(text, true));
                    }
                    self.stop_reading = true;
                }
            }
        }
    }

    /// The current leader's address, when it differs from the node this connection uses.
    fn leader_moved(&self) -> bool {
        let view = self.leader_rx.borrow();
        match (&self.up, &view.leader) {
            (Some(up), Some(l)) => l.resp_addr != up.addr,
            _ => false,
        }
    }

    fn arm_stall(&mut self) {
        let waiting = self.up.is_some() && !self.inflight.is_empty() && self.leader_moved();
        if !waiting {
            self.stall = None;
        } else if self.stall.is_none() {
            self.stall = Some(Instant::now() + STALL);
        }
    }

    /// The leader changed: connections that cannot move close now; others move at their
    /// next command boundary.
    fn leader_changed(&mut self) -> bool {
        if !self.leader_moved() {
            return true;
        }
        let blocked = self
            .inflight
            .iter()
            .any(|p| p.answer.is_none() && p.class == Class::Blocking);
        if self.mode == Mode::Pipe || blocked {
            debug!("leader changed under a subscribed or blocked connection: closing it");
            self.shared.metrics.error("pinned_close");
            self.close_after_flush = true;
            return !self.out.is_empty();
        }
        if self.inflight.is_empty() && self.state.pinned() {
            self.fail_queued(PINNED, true);
            self.close_after_flush = self.queued.is_empty() && self.inflight.is_empty();
            self.shared.metrics.error("pinned_close");
        }
        true
    }

    /// Answers every queued request with `error` (closing afterwards when `close`).
    fn fail_queued(&mut self, error: &str, close: bool) {
        let n = self.queued.len();
        for (i, p) in self.queued.iter_mut().enumerate() {
            if p.answer.is_none() {
                p.answer = Some(Bytes::copy_from_slice(error.as_bytes()));
            }
            if close && i + 1 == n {
                p.closes = true;
            }
        }
        if close && n == 0 {
            self.close_after_flush = true;
        }
        self.stop_reading |= close;
    }

    /// Sends queued requests to the leader, moving to a new leader first when it changed.
    async fn dispatch(&mut self) {
        loop {
            self.deliver_answered();
            if self.close_after_flush {
                return;
            }
            let Some(front) = self.queued.front() else {
                return;
            };
            if front.answer.is_some() {
                let p = self.queued.pop_front().unwrap();
                self.inflight.push_back(p);
                continue;
            }
            if self.draining {
                return;
            }
            let moved = self.leader_moved();
            if moved || self.up.is_none() {
                if !self.inflight.is_empty() {
                    return;
                }
                if self.state.pinned() {
                    self.shared.metrics.error("pinned_close");
                    self.fail_queued(PINNED, true);
                    continue;
                }
                if moved {
                    debug!("moving the connection to the new leader");
                    self.up = None;
                }
                match self.connect().await {
                    Ok(up) => self.up = Some(up),
                    Err((error, close)) => {
                        self.fail_queued(&error, close);
                        continue;
                    }
                }
            }
            let class = self.queued.front().unwrap().class;
            match class {
                Class::Pipe => {
                    if !self.inflight.is_empty() {
                        return;
                    }
                    let up = self.up.as_mut().unwrap();
                    for p in self.queued.drain(..) {
                        match p.answer {
                            Some(answer) => self.out.extend_from_slice(&answer),
                            None => encode_request(&p.args, &mut up.wbuf),
                        }
                    }
                    self.mode = Mode::Pipe;
                    return;
                }
                Class::Quit => {
                    let mut p = self.queued.pop_front().unwrap();
                    p.answer = Some(Bytes::from_static(b"+OK\r\n"));
                    p.closes = true;
                    self.stop_reading = true;
                    self.queued.clear();
                    self.inflight.push_back(p);
                }
                _ => {
                    let mut p = self.queued.pop_front().unwrap();
                    let up = self.up.as_mut().unwrap();
                    p.retryable = !self.state.pinned()
                        && !self.sent_in_multi
                        && !matches!(p.class, Class::EndMulti | Class::Multi);
                    match p.class {
                        Class::Multi => self.sent_in_multi = true,
                        Class::EndMulti | Class::Reset => self.sent_in_multi = false,
                        _ => {}
                    }
                    p.attempts += 1;
                    encode_request(&p.args, &mut up.wbuf);
                    self.shared.metrics.forwarded.inc();
                    self.inflight.push_back(p);
                }
            }
        }
    }

    /// Connects to the leader and restores the client's settings there.
    /// `Err((error reply, close))` when it cannot.
    async fn connect(&mut self) -> Result<Upstream, (String, bool)> {
        let shared = self.shared.clone();
        let deadline = Instant::now() + shared.leader_wait;
        loop {
            let leader = match self.fresh_since {
                Some(since) => shared.tracker.fresh_leader(since, deadline).await,
                None => shared.tracker.current_leader(deadline).await,
            };
            let Some(leader) = leader else {
                shared.metrics.error("no_leader");
                return Err((NO_LEADER.into(), false));
            };
            match Upstream::connect(&leader.resp_addr, shared.dial_timeout).await {
                Ok(mut up) => {
                    self.fresh_since = None;
                    self.sent_in_multi = false;
                    for (_, args) in &self.state.replay {
                        let reply = tokio::time::timeout(shared.dial_timeout, up.send(args)).await;
                        match reply {
                            Ok(Ok(r)) if !r.is_error() => {}
                            Ok(Ok(r)) if state::is_redirect(&r) => {
                                // Not the leader any more: look again.
                                self.fresh_since = Some(Instant::now());
                                break;
                            }
                            other => {
                                shared.metrics.error("restore");
                                let why = match other {
                                    Ok(Ok(r)) => r.error_text().unwrap_or_default().into_owned(),
                                    Ok(Err(e)) => e.to_string(),
                                    Err(_) => "timed out".into(),
                                };
                                return Err((
                                    format!("-ERR proxy: could not restore the connection's settings on the new leader: {why}\r\n"),
                                    true,
                                ));
                            }
                        }
                    }
                    if self.fresh_since.is_none() {
                        debug!(leader = %leader.resp_addr, "connected upstream");
                        if self.connected_before {
                            shared.metrics.moves.inc();
                        }
                        self.connected_before = true;
                        return Ok(up);
                    }
                }
                Err(e) => {
                    debug!(leader = %leader.resp_addr, error = %e, "cannot reach the leader");
                    shared.metrics.error("connect");
                    self.fresh_since = Some(Instant::now());
                }
            }
            if Instant::now() >= deadline {
                shared.metrics.error("no_leader");
                return Err((NO_LEADER.into(), false));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Writes out answers at the front of the in-flight queue that are already decided.
    fn deliver_answered(&mut self) {
        while let Some(p) = self.inflight.front() {
            let Some(answer) = &p.answer else {
                return;
            };
            self.out.extend_from_slice(answer);
            let closes = p.closes;
            self.inflight.pop_front();
            if closes {
                self.close_after_flush = true;
                self.queued.clear();
                self.inflight.clear();
                return;
            }
        }
    }

    fn read_replies(&mut self) {
        loop {
            let Some(up) = self.up.as_mut() else {
                return;
            };
            match up.try_reply() {
                Ok(Some(reply)) => self.on_reply(reply),
                Ok(None) => break,
                Err(e) => {
                    debug!(error = %e, "bad reply from upstream");
                    self.upstream_lost();
                    return;
                }
            }
        }
        if self.draining && self.inflight.is_empty() {
            self.resolve_held();
        }
    }

    fn on_reply(&mut self, reply: RawReply) {
        if reply.is_push() && !self.state.resp3 {
            self.out.extend_from_slice(&reply.bytes);
            return;
        }
        if reply.is_push() {
            // Out of band (client tracking): not the answer to a request.
            self.out.extend_from_slice(&reply.bytes);
            return;
        }
        let Some(mut p) = self.inflight.pop_front() else {
            debug!("unexpected reply from upstream");
            return;
        };
        debug_assert!(p.answer.is_none());
        self.state.on_reply(&p.args, p.class, &reply);
        let redirect = state::is_redirect(&reply);
        if redirect {
            self.shared.metrics.error("redirect");
            self.shared.tracker.kick();
            if self.fresh_since.is_none() {
                self.fresh_since = Some(Instant::now());
            }
        }
        if self.draining || (redirect && p.retryable && p.attempts < MAX_ATTEMPTS) {
            self.draining = true;
            p.held = Some(reply);
            self.held.push(p);
            while self.inflight.front().is_some_and(|p| p.answer.is_some()) {
                let p = self.inflight.pop_front().unwrap();
                self.held.push(p);
            }
        } else {
            self.out.extend_from_slice(&reply.bytes);
            self.deliver_answered();
        }
    }

    /// Every request sent to the node that rejected one has its reply: those after the
    /// last one it accepted are retried on the new leader; the rest are answered as it did.
    fn resolve_held(&mut self) {
        let held = std::mem::take(&mut self.held);
        let last_kept = held.iter().rposition(|p| match &p.held {
            Some(r) => !(state::is_redirect(r) && p.retryable && p.attempts < MAX_ATTEMPTS),
            None => true,
        });
        let mut resolved = Vec::with_capacity(held.len());
        for (i, mut p) in held.into_iter().enumerate() {
            if let Some(reply) = p.held.take() {
                if last_kept.is_some_and(|k| i <= k) {
                    p.answer = Some(reply.bytes);
                } else {
                    self.shared.metrics.retried.inc();
                }
            }
            resolved.push(p);
        }
        for p in resolved.into_iter().rev() {
            self.queued.push_front(p);
        }
        self.draining = false;
        self.up = None;
    }

    /// The node went away: requests in flight are answered "outcome unknown", except reads,
    /// which are sent again.
    fn upstream_lost(&mut self) {
        if self.up.is_none() {
            return;
        }
        self.shared.tracker.kick();
        self.fresh_since = Some(Instant::now());
        self.stall = None;
        let unanswered = self.inflight.iter().filter(|p| p.answer.is_none()).count();
        if unanswered > 0 {
            self.shared.metrics.error("upstream_lost");
        }
        debug!(unanswered, "upstream connection lost");
        let inflight = std::mem::take(&mut self.inflight);
        for mut p in inflight {
            if p.answer.is_none() {
                p.retryable = p.retryable && state::is_idempotent(&p.args, p.class);
                if !p.retryable || p.attempts >= MAX_ATTEMPTS {
                    p.answer = Some(Bytes::from_static(LOST.as_bytes()));
                } else {
                    self.shared.metrics.retried.inc();
                }
            }
            self.held.push(p);
        }
        // Held replies from a draining node keep their order before the lost ones.
        let held = std::mem::take(&mut self.held);
        self.draining = true;
        self.held = held;
        self.resolve_held();
        self.sent_in_multi = false;
    }
}

#[cfg(test)]
mod tests {
    use super::super::leader::Leader;
    use super::*;
    use tokio::net::TcpListener;

    /// A fake node answering every request with `reply(n)` (n counts requests from 1).
    async fn fake_node(reply: fn(usize) -> String) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let mut n = 0;
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = BytesMut::new();
                let mut parser = RequestParser::default();
                while s.read_buf(&mut buf).await.unwrap_or(0) > 0 {
                    let mut out = Vec::new();
                    while let Ok(Some(_)) = parse_request(&mut parser, &mut buf) {
                        n += 1;
                        out.extend(reply(n).into_bytes());
                    }
                    s.write_all(&out).await.unwrap();
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn rejected_requests_are_retried_on_the_new_leader_in_order() {
        let old = fake_node(|_| {
            "-READONLY You can't write against a read only replica. leader=x\r\n".into()
        })
        .await;
        let new = fake_node(|n| format!(":{n}\r\n")).await;
        let metrics = Metrics::new();
        let tracker = Tracker::new(
            vec![],
            1,
            Duration::from_secs(1),
            Duration::from_secs(60),
            metrics.clone(),
        );
        let leader = |addr: &str| Leader {
            id: addr.into(),
            resp_addr: addr.into(),
            term: 1,
        };
        tracker.publish(Some(leader(&old)), Instant::now());
        let shared = Arc::new(Shared {
            tracker: tracker.clone(),
            metrics: metrics.clone(),
            dial_timeout: Duration::from_secs(1),
            leader_wait: Duration::from_secs(5),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = listener.local_addr().unwrap();
        let (_stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            Conn::new(s, shared, stop_rx).run().await;
        });
        let mut client = TcpStream::connect(proxy).await.unwrap();
        let mut req = BytesMut::new();
        for _ in 0..3 {
            encode_request(&["INCR", "k"], &mut req);
        }
        client.write_all(&req).await.unwrap();
        // The proxy waits for a probe round newer than the rejection; then names `new`.
        tokio::time::sleep(Duration::from_millis(200)).await;
        tracker.publish(Some(leader(&new)), Instant::now());
        let mut got = BytesMut::new();
        while got.len() < 12 {
            let n = tokio::time::timeout(Duration::from_secs(5), client.read_buf(&mut got))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0);
        }
        assert_eq!(&got[..], b":1\r\n:2\r\n:3\r\n");
        assert_eq!(metrics.retried.get(), 3);
    }
}
