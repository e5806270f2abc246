//! Pub/Sub: channel and pattern subscriptions of every client, and message fan-out.
//!
//! What is queued for a subscriber counts against its output buffer limit (Redis's
//! `client-output-buffer-limit pubsub`, see `session::output`): one that falls too far
//! behind is flagged, gets no more messages, and is disconnected by its session.

use crate::commands::glob_match;
use crate::protocol::Reply;
use crate::session::output::{push_cost, OutputLimit, Pending};
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::mpsc;

/// How the hub reaches one client.
#[derive(Clone)]
pub struct Subscriber {
    /// Unbounded: what bounds it is the byte count in `pending`.
    pub tx: mpsc::UnboundedSender<Reply>,
    pub pending: Arc<Pending>,
}

impl Subscriber {
    fn deliver(&self, message: Reply, limit: OutputLimit) {
        if self.pending.admit(push_cost(&message), limit) {
            // A closed channel is a session on its way out: nothing to deliver to.
            let _ = self.tx.send(message);
        }
    }
}

#[derive(Default)]
pub struct PubSub {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    channels: HashMap<Bytes, BTreeMap<u64, Subscriber>>,
    patterns: HashMap<Bytes, BTreeMap<u64, Subscriber>>,
}

impl PubSub {
    /// Subscribes `client` to `channel` (a pattern when `pattern`); false if it already was.
    pub fn subscribe(&self, client: u64, name: Bytes, pattern: bool, sub: &Subscriber) -> bool {
        let mut inner = self.inner.lock();
        let map = if pattern {
            &mut inner.patterns
        } else {
            &mut inner.channels
        };
        map.entry(name)
            .or_default()
            .insert(client, sub.clone())
            .is_none()
    }

    pub fn unsubscribe(&self, client: u64, name: &[u8], pattern: bool) -> bool {
        let mut inner = self.inner.lock();
        let map = if pattern {
            &mut inner.patterns
        } else {
            &mut inner.channels
        };
        let Some(subs) = map.get_mut(name) else {
            return false;
        };
        let removed = subs.remove(&client).is_some();
        if subs.is_empty() {
            map.remove(name);
        }
        removed
    }

    /// Delivers `message` to subscribers within `limit` (the pubsub class's output buffer
    /// limit); returns how many clients it was for (PUBLISH's reply).
    pub fn publish(&self, channel: &Bytes, message: &Bytes, limit: OutputLimit) -> usize {
        let inner = self.inner.lock();
        let mut receivers = 0;
        if let Some(subs) = inner.channels.get(channel) {
            for sub in subs.values() {
                sub.deliver(
                    Reply::Push(vec![
                        Reply::bulk("message"),
                        Reply::Bulk(channel.clone()),
                        Reply::Bulk(message.clone()),
                    ]),
                    limit,
                );
                receivers += 1;
            }
        }
        for (pattern, subs) in &inner.patterns {
            if !glob_match(pattern, channel) {
                continue;
            }
            for sub in subs.values() {
                sub.deliver(
                    Reply::Push(vec![
                        Reply::bulk("pmessage"),
                        Reply::Bulk(pattern.clone()),
                        Reply::Bulk(channel.clone()),
                        Reply::Bulk(message.clone()),
                    ]),
                    limit,
                );
                receivers += 1;
            }
        }
        receivers
    }

    /// Active channels (with at least one subscriber) matching `pattern`.
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let inner = self.inner.lock();
        inner
            .channels
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c)))
            .cloned()
            .collect()
    }

    pub fn numsub(&self, channel: &[u8]) -> usize {
        self.inner
            .lock()
            .channels
            .get(channel)
            .map_or(0, BTreeMap::len)
    }

    pub fn numpat(&self) -> usize {
        self.inner.lock().patterns.len()
    }

    pub fn remove_client(&self, client: u64) {
        let inner = &mut *self.inner.lock();
        for map in [&mut inner.channels, &mut inner.patterns] {
            map.retain(|_, subs| {
                subs.remove(&client);
                !subs.is_empty()
            });
        }
    }
}
