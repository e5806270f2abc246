//! SUBSCRIBE/PSUBSCRIBE/UNSUBSCRIBE/PUNSUBSCRIBE/PUBLISH/PUBSUB for one client.

use super::Session;
use crate::commands::{CommandSpec, Run, SessionCmd};
use crate::protocol::Reply;
use bytes::Bytes;

/// What a RESP2 client in subscribed mode may still run.
pub fn allowed_when_subscribed(spec: &CommandSpec) -> bool {
    use SessionCmd::*;
    matches!(
        spec.run,
        Run::Session(Subscribe | Unsubscribe | PSubscribe | PUnsubscribe | Ping | Quit | Reset)
    )
}

impl Session {
    /// Runs a pub/sub command. Commands that confirm several channels write all but the
    /// last confirmation directly and return the last, as Redis sends one reply each.
    pub(super) fn pubsub(&mut self, cmd: SessionCmd, args: &[Bytes]) -> Reply {
        use SessionCmd::*;
        match cmd {
            Subscribe => self.subscribe_each(&args[1..], false),
            PSubscribe => self.subscribe_each(&args[1..], true),
            Unsubscribe => self.unsubscribe_each(&args[1..], false),
            PUnsubscribe => self.unsubscribe_each(&args[1..], true),
            Publish => {
                let limit = self.shared.config.read().output_limits.pubsub;
                Reply::Int(self.shared.pubsub.publish(&args[1], &args[2], limit) as i64)
            }
            PubsubChannels => {
                Reply::bulks(self.shared.pubsub.channels(args.get(2).map(|p| &p[..])))
            }
            PubsubNumsub => Reply::Map(
                args[2..]
                    .iter()
                    .map(|c| {
                        (
                            Reply::Bulk(c.clone()),
                            Reply::Int(self.shared.pubsub.numsub(c) as i64),
                        )
                    })
                    .collect(),
            ),
            PubsubNumpat => Reply::Int(self.shared.pubsub.numpat() as i64),
            _ => unreachable!("not a pub/sub command"),
        }
    }

    fn subscription_count(&self) -> i64 {
        (self.channels.len() + self.patterns.len()) as i64
    }

    fn confirmation(&self, kind: &'static str, name: Option<Bytes>) -> Reply {
        Reply::Push(vec![
            Reply::bulk(kind),
            name.map_or(Reply::Nil, Reply::Bulk),
            Reply::Int(self.subscription_count()),
        ])
    }

    fn subscribe_each(&mut self, names: &[Bytes], pattern: bool) -> Reply {
        let mut last = Reply::Nil;
        for (i, name) in names.iter().enumerate() {
            self.shared
                .pubsub
                .subscribe(self.id, name.clone(), pattern, &self.subscriber);
            let set = if pattern {
                &mut self.patterns
            } else {
                &mut self.channels
            };
            set.insert(name.clone());
            let kind = if pattern { "psubscribe" } else { "subscribe" };
            last = self.confirmation(kind, Some(name.clone()));
            if i + 1 < names.len() {
                self.reply(std::mem::replace(&mut last, Reply::Nil));
            }
        }
        self.update_subscription_meta();
        last
    }

    fn unsubscribe_each(&mut self, names: &[Bytes], pattern: bool) -> Reply {
        let kind = if pattern {
            "punsubscribe"
        } else {
            "unsubscribe"
        };
        let names: Vec<Bytes> = if names.is_empty() {
            let set = if pattern {
                &self.patterns
            } else {
                &self.channels
            };
            set.iter().cloned().collect()
        } else {
            names.to_vec()
        };
        if names.is_empty() {
            return self.confirmation(kind, None);
        }
        let mut last = Reply::Nil;
        for (i, name) in names.iter().enumerate() {
            self.shared.pubsub.unsubscribe(self.id, name, pattern);
            let set = if pattern {
                &mut self.patterns
            } else {
                &mut self.channels
            };
            set.remove(name);
            last = self.confirmation(kind, Some(name.clone()));
            if i + 1 < names.len() {
                self.reply(std::mem::replace(&mut last, Reply::Nil));
            }
        }
        self.update_subscription_meta();
        last
    }

    fn update_subscription_meta(&self) {
        let mut meta = self.handle.meta.lock();
        meta.subscriptions = self.channels.len();
        meta.psubscriptions = self.patterns.len();
    }

    pub(super) fn unsubscribe_all(&mut self) {
        for channel in std::mem::take(&mut self.channels) {
            self.shared.pubsub.unsubscribe(self.id, &channel, false);
        }
        for pattern in std::mem::take(&mut self.patterns) {
            self.shared.pubsub.unsubscribe(self.id, &pattern, true);
        }
        self.update_subscription_meta();
    }
}
