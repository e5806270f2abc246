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
        if self.others_busy(ARRIVALS.fetch_add(1, Ordering::Relaxed) + 1) {
            tokio::task::yield_now().await;
        }
    }

    /// Whether another session arrived between this one's previous arrival and this one,
    /// number `arrived`.
    fn others_busy(&mut self, arrived: u64) -> bool {
        let others = arrived - self.last > 1;
        self.last = arrived;
        others
    }
}

#[cfg(test)]
mod tests {
    use super::Coalescer;

    #[test]
    fn a_lone_session_never_yields() {
        let mut lone = Coalescer::default();
        assert!((1..=5).all(|arrival| !lone.others_busy(arrival)));
    }

    #[test]
    fn sessions_taking_turns_yield_once_each_has_seen_another() {
        let (mut a, mut b) = (Coalescer::default(), Coalescer::default());
        assert!(!a.others_busy(1));
        assert!(b.others_busy(2), "a arrived before b's first arrival");
        assert!(a.others_busy(3));
        assert!(b.others_busy(4));
        assert!(!b.others_busy(5), "nobody arrived between b's last two");
    }
}
