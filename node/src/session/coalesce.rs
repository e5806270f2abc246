//! Replies leave together, as Redis sends them: its event loop runs every client whose
//! request arrived in one poll, then writes all their replies before it sleeps. A session
//! that wrote the moment its reply was ready woke its client once per reply; yielding
//! first lets the other sessions the same poll woke run, so their replies go out in one
//! burst that redis-benchmark's clients take in with one wakeup.
//!
//! A yield with nobody else to run costs a poll of the I/O driver, 5-8% of a lone
//! client's requests per second, so a session yields only when another session has had
//! replies to write since its own last ones.

use std::sync::atomic::{AtomicU64, Ordering};

/// Sessions' arrivals at [`Coalescer::before_write`], across the process.
static ARRIVALS: AtomicU64 = AtomicU64::new(0);

#[derive(Default)]
pub struct Coalescer {
    /// The arrival count at this session's previous arrival.
    last: u64,
}

impl Coalescer {
    /// Returns once the other sessions ready beside this one have run too, when there are
    /// other sessions at work.
    pub async fn before_write(&mut self) {
        let arrived = ARRIVALS.fetch_add(1, Ordering::Relaxed) + 1;
        let others_busy = arrived - self.last > 1;
        self.last = arrived;
        if others_busy {
            tokio::task::yield_now().await;
        }
    }
}
