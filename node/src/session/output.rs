//! Output buffer limits, as Redis's `client-output-buffer-limit`: a client whose pending
//! output (replies not yet written plus pub/sub messages queued for it) passes its class's
//! hard limit, or stays above the soft limit for longer than the soft seconds, is
//! disconnected, so one client that never reads cannot make the node hold unbounded memory.
//!
//! Pending output is counted in bytes. The pub/sub hub adds what it queues for a subscriber
//! ([`Pending::admit`]) and flags a subscriber over its limit at once, without waiting for
//! its session, which may be stuck writing to a client that does not read.

use crate::protocol::Reply;
use crate::server::{ClientHandle, Shared};
use bytes::{Buf, BytesMut};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tracing::warn;

/// One class's limits: bytes, bytes, seconds; zero turns that part off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

/// `client-output-buffer-limit` for each client class, with Redis's defaults. The replica
/// class is kept for compatibility: replicas here follow over Raft, not RESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    pub normal: OutputLimit,
    pub replica: OutputLimit,
    pub pubsub: OutputLimit,
}

impl Default for OutputLimits {
    fn default() -> Self {
        OutputLimits {
            normal: OutputLimit {
                hard: 0,
                soft: 0,
                soft_seconds: 0,
            },
            replica: OutputLimit {
                hard: 256 << 20,
                soft: 64 << 20,
                soft_seconds: 60,
            },
            pubsub: OutputLimit {
                hard: 32 << 20,
                soft: 8 << 20,
                soft_seconds: 60,
            },
        }
    }
}

impl OutputLimits {
    /// CONFIG GET's rendering, byte for byte as Redis 7.0 prints it.
    pub fn render(&self) -> String {
        [
            ("normal", self.normal),
            ("slave", self.replica),
            ("pubsub", self.pubsub),
        ]
        .iter()
        .map(|(class, l)| format!("{class} {} {} {}", l.hard, l.soft, l.soft_seconds))
        .collect::<Vec<_>>()
        .join(" ")
    }

    /// Applies CONFIG SET's value (`<class> <hard> <soft> <soft seconds>`, repeated); all
    /// or nothing. The error is Redis's text for the same mistake.
    pub fn set(&mut self, value: &str) -> Result<(), &'static str> {
        let words: Vec<&str> = value.split_whitespace().collect();
        if !words.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.");
        }
        let mut updated = *self;
        for group in words.chunks(4) {
            let class = match group[0].to_ascii_lowercase().as_str() {
                "normal" => &mut updated.normal,
                "slave" | "replica" => &mut updated.replica,
                "pubsub" => &mut updated.pubsub,
                _ => return Err("Invalid client class specified in buffer limit configuration."),
            };
            let bad = "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
            *class = OutputLimit {
                hard: parse_memory(group[1]).ok_or(bad)?,
                soft: parse_memory(group[2]).ok_or(bad)?,
                soft_seconds: group[3].parse().map_err(|_| bad)?,
            };
        }
        *self = updated;
        Ok(())
    }

    /// The limit for a client: subscribed clients are the pubsub class, as in Redis.
    pub fn for_client(&self, subscribed: bool) -> OutputLimit {
        if subscribed {
            self.pubsub
        } else {
            self.normal
        }
    }
}

/// Redis's `memtoull`: digits with an optional unit, `k`/`m`/`g` decimal and `kb`/`mb`/`gb`
/// binary, in any case.
fn parse_memory(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(multiplier)
}

/// What a client has waiting to be written, shared by its session and the pub/sub hub.
#[derive(Default)]
pub struct Pending {
    /// Bytes of pub/sub messages queued for the session, not yet in its write buffer.
    queued: AtomicUsize,
    /// Bytes in the session's write buffer not yet written to the socket.
    unwritten: AtomicUsize,
    /// Since when the pending output has been above the soft limit.
    soft_since: Mutex<Option<Instant>>,
    overrun: AtomicBool,
    /// Wakes the session when the hub found the client over its limit.
    wake: Notify,
}

impl Pending {
    /// The hub queues a message of `cost` bytes. Returns false when the message must be
    /// dropped: the client is over its limit and its session has been told to disconnect.
    /// The message that breaks the limit is still queued, so an idle session wakes for it.
    pub fn admit(&self, cost: usize, limit: OutputLimit) -> bool {
        if self.is_overrun() {
            return false;
        }
        let queued = self.queued.fetch_add(cost, Ordering::Relaxed) + cost;
        let total = queued + self.unwritten.load(Ordering::Relaxed);
        if self.breaks(limit, total, Instant::now) {
            self.overrun.store(true, Ordering::Relaxed);
            self.wake.notify_one();
        }
        true
    }

    /// The session moved a queued message of `cost` bytes into its write buffer.
    pub fn taken(&self, cost: usize) {
        self.queued.fetch_sub(cost, Ordering::Relaxed);
    }

    /// Whether messages are queued that the session has not taken yet.
    pub fn has_queued(&self) -> bool {
        self.queued.load(Ordering::Relaxed) > 0
    }

    pub fn is_overrun(&self) -> bool {
        self.overrun.load(Ordering::Relaxed)
    }

    /// Redis's `checkClientOutputBufferLimits`: the hard limit breaks at once, the soft
    /// one after being exceeded continuously for longer than its seconds. The clock is
    /// read only for the soft limit: this runs on every flush, and most clients have none.
    fn breaks(&self, limit: OutputLimit, total: usize, now: impl FnOnce() -> Instant) -> bool {
        let total = total as u64;
        if limit.hard > 0 && total >= limit.hard {
            return true;
        }
        if limit.soft == 0 {
            return false;
        }
        let mut since = self.soft_since.lock();
        if total < limit.soft {
            *since = None;
            return false;
        }
        let now = now();
        let started = *since.get_or_insert(now);
        now.duration_since(started) > Duration::from_secs(limit.soft_seconds)
    }

    /// The session's check of everything pending, when the write buffer holds `unwritten`.
    fn check(&self, limit: OutputLimit, unwritten: usize) -> bool {
        self.unwritten.store(unwritten, Ordering::Relaxed);
        let total = unwritten + self.queued.load(Ordering::Relaxed);
        if self.breaks(limit, total, Instant::now) {
            self.overrun.store(true, Ordering::Relaxed);
        }
        self.is_overrun()
    }
}

/// What a pub/sub message costs against the limit: its encoded size, near enough
/// (payloads plus RESP framing), computed alike by the hub and the session.
pub fn push_cost(push: &Reply) -> usize {
    match push {
        Reply::Push(items) => 16 + items.iter().map(push_cost).sum::<usize>(),
        Reply::Bulk(b) => 16 + b.len(),
        _ => 16,
    }
}

/// How often a session stuck writing re-checks the soft limit.
const SOFT_CHECK_EVERY: Duration = Duration::from_millis(250);

/// Writes the whole of `wbuf` to the client unless its pending output breaks `limit`
/// first, or the client is killed. Returns the bytes written. A client over its limit is
/// logged, counted, and answered with an error that ends its session.
pub async fn write_all(
    socket: &mut TcpStream,
    wbuf: &mut BytesMut,
    pending: &Pending,
    limit: OutputLimit,
    handle: &ClientHandle,
    shared: &Shared,
) -> anyhow::Result<usize> {
    let mut written = 0;
    loop {
        if pending.check(limit, wbuf.len()) {
            return Err(disconnect(handle, shared, limit, wbuf.len()));
        }
        if wbuf.is_empty() {
            return Ok(written);
        }
        // The common case writes at once, without arming a timer.
        match socket.try_write(wbuf) {
            Ok(0) => anyhow::bail!("client closed the connection"),
            Ok(n) => {
                wbuf.advance(n);
                written += n;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                wait_writable(socket, pending, handle).await?
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Waits until the socket takes more, the hub flags the client, or it is time to look at
/// the soft limit again. A client that never reads is still killable meanwhile.
async fn wait_writable(
    socket: &TcpStream,
    pending: &Pending,
    handle: &ClientHandle,
) -> anyhow::Result<()> {
    tokio::select! {
        ready = socket.writable() => ready?,
        _ = pending.wake.notified() => {}
        _ = handle.kill.notified() => anyhow::bail!("killed while writing"),
        _ = tokio::time::sleep(SOFT_CHECK_EVERY) => {}
    }
    Ok(())
}

fn disconnect(
    handle: &ClientHandle,
    shared: &Shared,
    limit: OutputLimit,
    unwritten: usize,
) -> anyhow::Error {
    shared
        .stats
        .output_buffer_limit_disconnections
        .fetch_add(1, Ordering::Relaxed);
    let meta = handle.meta.lock();
    warn!(
        client = meta.id,
        addr = %meta.addr,
        unwritten,
        hard = limit.hard,
        soft = limit.soft,
        soft_seconds = limit.soft_seconds,
        "client closed for overcoming of output buffer limits"
    );
    anyhow::anyhow!("output buffer limit reached")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units_are_redis_units() {
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1KB"), Some(1024));
        assert_eq!(parse_memory("2gb"), Some(2 << 30));
        assert_eq!(parse_memory("-1"), None);
        assert_eq!(parse_memory("1x"), None);
    }

    #[test]
    fn a_bad_group_changes_nothing() {
        let mut limits = OutputLimits::default();
        assert!(limits.set("pubsub 1 2 3 normal 1 2 x").is_err());
        assert_eq!(limits, OutputLimits::default());
    }

    #[test]
    fn soft_limit_breaks_only_after_its_seconds() {
        let pending = Pending::default();
        let limit = OutputLimit {
            hard: 0,
            soft: 10,
            soft_seconds: 1,
        };
        let start = Instant::now();
        assert!(!pending.breaks(limit, 20, || start));
        assert!(!pending.breaks(limit, 20, || start + Duration::from_millis(900)));
        assert!(pending.breaks(limit, 20, || start + Duration::from_millis(1100)));
        assert!(!pending.breaks(limit, 5, || start + Duration::from_millis(1200)));
    }
}
