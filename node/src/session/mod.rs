//! One client connection: reads requests, runs them, writes replies.
//!
//! Data commands go to the engine; commands about the connection itself (SELECT, MULTI,
//! WATCH, SUBSCRIBE, HELLO, AUTH, CLIENT…) are handled here.

mod admin;
mod blocking;
mod coalesce;
pub(crate) mod output;
mod pubsub;
mod transaction;

use crate::commands::{
    self, flags, is, parse_db_index, parse_i64, CommandError, CommandSpec, Run, SessionCmd,
};
use crate::engine::Serving;
use crate::protocol::request::RequestParser;
use crate::protocol::{parse_request, Reply};
use crate::pubsub::Subscriber;
use crate::server::{ClientHandle, Shared};
use bytes::{Bytes, BytesMut};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

pub use transaction::Transaction;

/// Replies are flushed once this much is buffered, so a client pipelining without reading
/// applies backpressure instead of growing our memory.
const FLUSH_AT: usize = 64 * 1024;
const READ_CHUNK: usize = 16 * 1024;
/// Most pipelined commands run together on a replicated node.
const MAX_PIPELINE: usize = 1024;

pub struct Session {
    socket: TcpStream,
    shared: Arc<Shared>,
    handle: Arc<ClientHandle>,
    id: u64,
    rbuf: BytesMut,
    wbuf: BytesMut,
    parser: RequestParser,
    db: usize,
    resp3: bool,
    authenticated: bool,
    tx: Transaction,
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
    subscriber: Subscriber,
    pushes: mpsc::UnboundedReceiver<Reply>,
    closing: bool,
    /// READONLY was sent: reads on a replica are served locally, possibly stale.
    stale_reads: bool,
    coalescer: coalesce::Coalescer,
    /// Replies now buffered include plain reads run on a replicated node without READONLY,
    /// which waited for a linearizable-read round (see `serve`).
    after_read_round: bool,
}

/// Answers a connection we will not serve with one error, then closes it.
pub async fn refuse(mut socket: TcpStream, error: &'static str) {
    let mut out = BytesMut::new();
    Reply::error(error).encode(false, &mut out);
    let _ = socket.write_all(&out).await;
}

impl Session {
    pub fn new(socket: TcpStream, shared: Arc<Shared>, handle: Arc<ClientHandle>) -> Self {
        let id = handle.meta.lock().id;
        let (tx, pushes) = mpsc::unbounded_channel();
        let authenticated = shared.config.read().requirepass.is_none();
        Session {
            socket,
            shared,
            handle,
            id,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            wbuf: BytesMut::with_capacity(READ_CHUNK),
            parser: RequestParser::default(),
            db: 0,
            resp3: false,
            authenticated,
            tx: Transaction::default(),
            channels: BTreeSet::new(),
            patterns: BTreeSet::new(),
            subscriber: Subscriber {
                tx,
                pending: Arc::default(),
            },
            pushes,
            closing: false,
            stale_reads: false,
            coalescer: coalesce::Coalescer::default(),
            after_read_round: false,
        }
    }

    pub async fn run(mut self) -> anyhow::Result<()> {
        self.serve().await
    }

    async fn serve(&mut self) -> anyhow::Result<()> {
        loop {
            self.process_buffered().await?;
            // Replies to a run of plain reads that waited for a linearizable-read round leave
            // at once: the next round starts with the first request that follows them, so
            // holding them back delays it (Raft GET -c 50, five interleaved fresh clusters:
            // 62k/s with the hold, 66k without). Reads inside MULTI/EXEC are not told apart.
            let after_read_round = std::mem::take(&mut self.after_read_round);
            if !self.wbuf.is_empty() && !after_read_round {
                self.coalescer.before_write().await;
            }
            self.flush().await?;
            if self.closing {
                return Ok(());
            }
            let handle = self.handle.clone();
            tokio::select! {
                read = self.socket.read_buf(&mut self.rbuf) => {
                    let n = read?;
                    if n == 0 {
                        return Ok(());
                    }
                    self.shared.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    // Per read, as Redis's `lastinteraction`: a pipeline reads the clock once.
                    self.handle.meta.lock().last_active = Instant::now();
                    self.rbuf.reserve(READ_CHUNK);
                }
                // Polling the queue costs as much as a small command; only a client with
                // subscriptions, or messages still queued from them, can get pushes.
                Some(push) = self.pushes.recv(), if self.may_get_pushes() => self.write_push(push),
                _ = handle.kill.notified() => return Ok(()),
            }
        }
    }

    /// Runs every complete request in the read buffer.
    async fn process_buffered(&mut self) -> anyhow::Result<()> {
        while let Some(args) = self.next_request() {
            let mut next = self.run_batch_locally(args).map(Ok);
            while let Some(request) = next.take() {
                match request {
                    Err(refused) => self.reply(refused),
                    Ok((spec, args)) if self.runs_locally(spec) => {
                        next = self.run_pipeline(spec, args).await?;
                    }
                    Ok((spec, args)) => {
                        let reply = self.dispatch_admitted(spec, args).await;
                        self.reply(reply);
                    }
                }
            }
            if self.wbuf.len() >= FLUSH_AT {
                self.flush().await?;
            }
        }
        Ok(())
    }

    /// The next complete request in the read buffer. A malformed one is answered and
    /// closes the connection.
    fn next_request(&mut self) -> Option<Vec<Bytes>> {
        while !self.closing {
            self.parser.set_authenticated(self.authenticated);
            match parse_request(&mut self.parser, &mut self.rbuf) {
                Ok(Some(args)) if args.is_empty() => {}
                Ok(Some(args)) => return Some(args),
                Ok(None) => return None,
                Err(e) => {
                    self.reply(Reply::error(format!("ERR {e}")));
                    self.closing = true;
                }
            }
        }
        None
    }

    /// Runs `args` and the pipelined requests after it under one lock of the store while
    /// they are data commands a standalone node runs right here, so a pipeline pays for
    /// the lock once, not per command. Returns the first request that needs the async
    /// path; `None` when the read buffer ran dry or replies are due for a flush.
    fn run_batch_locally(
        &mut self,
        mut args: Vec<Bytes>,
    ) -> Option<(&'static CommandSpec, Vec<Bytes>)> {
        let shared = self.shared.clone();
        let mut store = None;
        // The run's wall-clock time and where the next command's timer starts, read when
        // its first command runs here.
        let mut clock = None;
        loop {
            match self.admit(&args) {
                Err(refused) => self.reply(refused),
                Ok(spec) if !self.runs_locally(spec) => return Some((spec, args)),
                Ok(spec) => {
                    let Some(store) = store.get_or_insert_with(|| shared.engine.local_store())
                    else {
                        return Some((spec, args));
                    };
                    let (now_ms, mark) =
                        clock.get_or_insert_with(|| (crate::engine::now_ms(), Instant::now()));
                    let timer = crate::metrics::CommandTimer::start_at(spec, *mark);
                    let reply = crate::engine::run_local(store, self.db, spec, &args, *now_ms);
                    *mark = timer.finish(&reply);
                    self.reply(reply);
                }
            }
            self.parser.recycle(args);
            if self.wbuf.len() >= FLUSH_AT {
                return None;
            }
            args = self.next_request()?;
        }
    }

    /// On a replicated node: runs `spec`/`args` and the plain data commands pipelined
    /// after it together (see `Engine::execute_pipeline`), so a client's pipelined writes
    /// share a log entry instead of waiting for each other's commit. Returns the request
    /// that ended the run, admitted or refused, to be answered after the run's replies.
    async fn run_pipeline(
        &mut self,
        spec: &'static CommandSpec,
        args: Vec<Bytes>,
    ) -> anyhow::Result<Option<Result<(&'static CommandSpec, Vec<Bytes>), Reply>>> {
        let mut calls = vec![crate::engine::Call { spec, args }];
        let mut next = None;
        while calls.len() < MAX_PIPELINE {
            let Some(args) = self.next_request() else {
                break;
            };
            match self.admit(&args) {
                Ok(spec) if self.runs_locally(spec) => {
                    calls.push(crate::engine::Call { spec, args })
                }
                admitted => {
                    next = Some(admitted.map(|spec| (spec, args)));
                    break;
                }
            }
        }
        self.after_read_round |= !self.stale_reads && calls.iter().any(|c| !c.spec.is_write());
        let timers: Vec<_> = calls
            .iter()
            .map(|c| crate::metrics::CommandTimer::start(c.spec))
            .collect();
        let engine = &self.shared.engine;
        let replies = engine
            .execute_pipeline(self.db, calls, self.serving())
            .await;
        // Written out as they are encoded: a run of reads of big values must not
        // gather all its replies in the write buffer.
        for (timer, reply) in timers.into_iter().zip(replies) {
            timer.finish(&reply);
            self.reply(reply);
            if self.wbuf.len() >= FLUSH_AT {
                self.flush().await?;
            }
        }
        Ok(next)
    }

    fn serving(&self) -> Serving {
        Serving {
            stale_ok: self.stale_reads,
            resp3: self.resp3,
        }
    }

    /// A plain data command outside MULTI: on a standalone node it needs nothing async.
    fn runs_locally(&self, spec: &CommandSpec) -> bool {
        matches!(spec.run, Run::Exec(_)) && !spec.has(flags::BLOCKING) && !self.tx.is_open()
    }

    fn reply(&mut self, reply: Reply) {
        reply.encode(self.resp3, &mut self.wbuf);
    }

    fn may_get_pushes(&self) -> bool {
        !self.channels.is_empty()
            || !self.patterns.is_empty()
            || self.subscriber.pending.has_queued()
    }

    /// Moves queued pub/sub messages into the write buffer; a client over its output
    /// buffer limit is disconnected by the flush that follows.
    fn write_push(&mut self, push: Reply) {
        let mut next = Some(push);
        while let Some(push) = next {
            self.subscriber.pending.taken(output::push_cost(&push));
            self.reply(push);
            if self.wbuf.len() >= FLUSH_AT {
                break;
            }
            next = self.pushes.try_recv().ok();
        }
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        if self.wbuf.is_empty() && !self.subscriber.pending.is_overrun() {
            return Ok(());
        }
        let subscribed = !self.channels.is_empty() || !self.patterns.is_empty();
        let limits = self.shared.config.read().output_limits;
        let n = output::write_all(
            &mut self.socket,
            &mut self.wbuf,
            &self.subscriber.pending,
            limits.for_client(subscribed),
            &self.handle,
            &self.shared,
        )
        .await?;
        self.shared
            .stats
            .net_output_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Counts and resolves a request and checks that it may run now; the error answers
    /// it otherwise.
    fn admit(&mut self, args: &[Bytes]) -> Result<&'static CommandSpec, Reply> {
        self.shared
            .stats
            .commands_processed
            .fetch_add(1, Ordering::Relaxed);
        let spec = commands::resolve(args).map_err(|e| {
            self.tx.flag_error();
            Reply::from(e)
        })?;
        self.note_command(spec);
        self.check_allowed(spec).map_err(|e| {
            self.tx.flag_error();
            Reply::from(e)
        })?;
        Ok(spec)
    }

    /// Runs an admitted request, or queues it inside MULTI.
    async fn dispatch_admitted(&mut self, spec: &'static CommandSpec, args: Vec<Bytes>) -> Reply {
        if self.tx.is_open() && !transaction::runs_immediately(spec) {
            return self.tx.queue(spec, args);
        }
        let timer = crate::metrics::CommandTimer::start(spec);
        let reply = match spec.run {
            Run::Exec(_) if spec.has(flags::BLOCKING) => self.run_blocking(spec, args).await,
            Run::Exec(_) => {
                self.shared
                    .engine
                    .execute(self.db, spec, &args, self.serving())
                    .await
            }
            Run::Session(cmd) => self.run_session(cmd, spec, args).await,
            Run::Container(_) => unreachable!("resolve returns subcommands"),
        };
        timer.finish(&reply);
        reply
    }

    fn note_command(&self, spec: &CommandSpec) {
        self.handle.meta.lock().last_command = spec.name;
    }

    /// Rules that hold before any command runs: authentication and subscribed mode.
    fn check_allowed(&self, spec: &CommandSpec) -> Result<(), CommandError> {
        if !self.authenticated && !spec.has(flags::NO_AUTH) {
            return Err(CommandError::Other(
                "NOAUTH Authentication required.".into(),
            ));
        }
        let subscribed = !self.channels.is_empty() || !self.patterns.is_empty();
        if subscribed && !self.resp3 && !pubsub::allowed_when_subscribed(spec) {
            return Err(CommandError::err(format!(
                "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                spec.name
            )));
        }
        Ok(())
    }

    async fn run_session(
        &mut self,
        cmd: SessionCmd,
        spec: &CommandSpec,
        args: Vec<Bytes>,
    ) -> Reply {
        use SessionCmd::*;
        match cmd {
            Select => self.select(&args[1]),
            Multi | Exec | Discard | Watch | Unwatch => self.transaction(cmd, &args).await,
            Subscribe | Unsubscribe | PSubscribe | PUnsubscribe | Publish | PubsubChannels
            | PubsubNumsub | PubsubNumpat => self.pubsub(cmd, &args),
            Hello => self.hello(&args),
            Auth => self.auth(&args),
            Quit => {
                self.closing = true;
                Reply::OK
            }
            Reset => self.reset(),
            Ping => self.ping(&args),
            Readonly | Readwrite => {
                self.stale_reads = cmd == Readonly;
                Reply::OK
            }
            _ => admin::run(self, cmd, spec, &args),
        }
    }

    fn select(&mut self, arg: &[u8]) -> Reply {
        match parse_db_index(arg) {
            Ok(db) => {
                self.db = db;
                self.handle.meta.lock().db = db;
                Reply::OK
            }
            Err(e) => e.into(),
        }
    }

    fn ping(&self, args: &[Bytes]) -> Reply {
        if args.len() > 2 {
            return CommandError::WrongArity("ping").into();
        }
        let subscribed = !self.channels.is_empty() || !self.patterns.is_empty();
        match (subscribed && !self.resp3, args.get(1)) {
            (true, message) => Reply::Array(vec![
                Reply::bulk("pong"),
                Reply::Bulk(message.cloned().unwrap_or_default()),
            ]),
            (false, Some(message)) => Reply::Bulk(message.clone()),
            (false, None) => Reply::Status("PONG".into()),
        }
    }

    /// `HELLO [protover [AUTH user pass] [SETNAME name]]`.
    fn hello(&mut self, args: &[Bytes]) -> Reply {
        let mut resp3 = self.resp3;
        if let Some(version) = args.get(1) {
            match parse_i64(version) {
                Ok(2) => resp3 = false,
                Ok(3) => resp3 = true,
                Ok(_) => return Reply::error("NOPROTO unsupported protocol version"),
                Err(_) => {
                    return Reply::error("ERR Protocol version is not an integer or out of range")
                }
            }
        }
        let mut i = 2;
        let mut name = None;
        while i < args.len() {
            let remaining = args.len() - i - 1;
            if is(&args[i], "AUTH") && remaining >= 2 {
                if let Err(e) = self.check_password(Some(&args[i + 1]), &args[i + 2]) {
                    return e.into();
                }
                i += 3;
            } else if is(&args[i], "SETNAME") && remaining >= 1 {
                name = Some(args[i + 1].clone());
                i += 2;
            } else {
                return CommandError::err(format!(
                    "Syntax error in HELLO option '{}'",
                    String::from_utf8_lossy(&args[i])
                ))
                .into();
            }
        }
        if !self.authenticated {
            return Reply::error(
                "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
            );
        }
        if let Some(name) = name {
            if let Err(e) = admin::set_client_name(self, &name) {
                return e.into();
            }
        }
        self.resp3 = resp3;
        self.handle.meta.lock().resp = if resp3 { 3 } else { 2 };
        Reply::Map(vec![
            (Reply::bulk("server"), Reply::bulk("redis")),
            (Reply::bulk("version"), Reply::bulk(crate::REDIS_VERSION)),
            (Reply::bulk("proto"), Reply::Int(if resp3 { 3 } else { 2 })),
            (Reply::bulk("id"), Reply::Int(self.id as i64)),
            (Reply::bulk("mode"), Reply::bulk("standalone")),
            (Reply::bulk("role"), Reply::bulk("master")),
            (Reply::bulk("modules"), Reply::Array(vec![])),
        ])
    }

    /// `AUTH [username] password`.
    fn auth(&mut self, args: &[Bytes]) -> Reply {
        let result = match args.len() {
            2 => self.check_password(None, &args[1]),
            3 => self.check_password(Some(&args[1]), &args[2]),
            _ => return Reply::from(CommandError::Syntax),
        };
        match result {
            Ok(()) => Reply::OK,
            Err(e) => e.into(),
        }
    }

    fn check_password(
        &mut self,
        user: Option<&Bytes>,
        password: &[u8],
    ) -> Result<(), CommandError> {
        let required = self.shared.config.read().requirepass.clone();
        let Some(required) = required else {
            if user.is_some() {
                // Redis's default user has no password ("nopass"): any password works.
                self.authenticated = true;
                return Ok(());
            }
            return Err(CommandError::err(
                "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            ));
        };
        let user_ok = user.is_none_or(|u| u.as_ref() == b"default");
        if user_ok && constant_time_eq(required.as_bytes(), password) {
            self.authenticated = true;
            Ok(())
        } else {
            Err(CommandError::Other(
                "WRONGPASS invalid username-password pair or user is disabled.".into(),
            ))
        }
    }

    /// RESET: back to a fresh connection's state (keeps authentication only without a password).
    fn reset(&mut self) -> Reply {
        self.tx.discard();
        self.release_watches();
        self.unsubscribe_all();
        self.db = 0;
        self.resp3 = false;
        self.stale_reads = false;
        self.authenticated = self.shared.config.read().requirepass.is_none();
        {
            let mut meta = self.handle.meta.lock();
            meta.db = 0;
            meta.resp = 2;
            meta.name = None;
        }
        Reply::Status("RESET".into())
    }
}

/// Compares secrets without leaking their common prefix length through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
