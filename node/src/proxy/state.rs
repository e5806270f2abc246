//! What a client's commands do to its connection's state, as far as the proxy must know:
//! which settings to re-send on a new leader (SELECT, HELLO, AUTH, CLIENT SETNAME), and
//! which states pin a connection to its node (MULTI, WATCH, subscribed, blocked).

use crate::commands::{self, flags};
use crate::protocol::reply_parser::RawReply;
use bytes::Bytes;

/// How the proxy treats a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Plain,
    /// Connection settings replayed on a new leader.
    Setting(Setting),
    Multi,
    /// EXEC or DISCARD: ends a transaction (and the watches).
    EndMulti,
    Watch,
    Unwatch,
    Reset,
    /// May block the connection for a long time (BLPOP, …).
    Blocking,
    /// From here on replies no longer pair with requests one to one (SUBSCRIBE, MONITOR,
    /// CLIENT REPLY OFF|SKIP): the connection is piped through as bytes.
    Pipe,
    /// Answered by the proxy, which then closes the connection.
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Setting {
    Auth,
    Hello,
    Select,
    SetName,
}

fn is(arg: &[u8], name: &str) -> bool {
    arg.eq_ignore_ascii_case(name.as_bytes())
}

pub fn classify(args: &[Bytes]) -> Class {
    let name = &args[0];
    let sub = args.get(1).map(|a| &a[..]).unwrap_or(b"");
    match () {
        _ if is(name, "select") => Class::Setting(Setting::Select),
        _ if is(name, "hello") => Class::Setting(Setting::Hello),
        _ if is(name, "auth") => Class::Setting(Setting::Auth),
        _ if is(name, "client") && is(sub, "setname") => Class::Setting(Setting::SetName),
        _ if is(name, "client") && is(sub, "reply") => {
            if args.get(2).is_some_and(|m| is(m, "on")) {
                Class::Plain
            } else {
                Class::Pipe
            }
        }
        _ if is(name, "multi") => Class::Multi,
        _ if is(name, "exec") || is(name, "discard") => Class::EndMulti,
        _ if is(name, "watch") => Class::Watch,
        _ if is(name, "unwatch") => Class::Unwatch,
        _ if is(name, "reset") => Class::Reset,
        _ if is(name, "quit") => Class::Quit,
        _ if is(name, "subscribe")
            || is(name, "psubscribe")
            || is(name, "ssubscribe")
            || is(name, "monitor")
            || is(name, "sync")
            || is(name, "psync") =>
        {
            Class::Pipe
        }
        _ if is_blocking(name, args) => Class::Blocking,
        _ => Class::Plain,
    }
}

fn is_blocking(name: &[u8], args: &[Bytes]) -> bool {
    // Every blocking command starts with B, W or X: skip the table for the rest.
    if !matches!(name.first(), Some(b'b' | b'B' | b'w' | b'W' | b'x' | b'X')) {
        return false;
    }
    if let Some(spec) = commands::lookup(name) {
        if spec.flags & flags::BLOCKING != 0 {
            return true;
        }
    }
    const NAMES: [&str; 10] = [
        "blpop",
        "brpop",
        "brpoplpush",
        "blmove",
        "blmpop",
        "bzpopmin",
        "bzpopmax",
        "bzmpop",
        "wait",
        "waitaof",
    ];
    if NAMES.iter().any(|n| is(name, n)) {
        return true;
    }
    (is(name, "xread") || is(name, "xreadgroup")) && args.iter().any(|a| is(a, "block"))
}

/// Whether a command that may or may not have run can safely be sent again: it changes
/// nothing in the data (a read) or only this connection's settings.
pub fn is_idempotent(args: &[Bytes], class: Class) -> bool {
    match class {
        Class::Setting(_) => return true,
        Class::Plain => {}
        _ => return false,
    }
    match commands::lookup(&args[0]) {
        Some(spec) => spec.flags & flags::READONLY != 0 && spec.flags & flags::WRITE == 0,
        None => false,
    }
}

/// A reply saying the node is not the leader: the request was rejected before it was
/// proposed, so it never ran.
pub fn is_redirect(reply: &RawReply) -> bool {
    reply.is_error()
        && reply
            .error_code()
            .is_some_and(|c| c == "READONLY" || c == "CLUSTERDOWN")
}

/// The connection state the proxy keeps for one client.
#[derive(Debug, Default)]
pub struct SessionState {
    /// Settings to re-send on a new node, in the order first set.
    pub replay: Vec<(Setting, Vec<Bytes>)>,
    pub in_multi: bool,
    pub watching: bool,
    pub resp3: bool,
}

impl SessionState {
    /// Whether the connection holds state on its node that cannot be moved.
    pub fn pinned(&self) -> bool {
        self.in_multi || self.watching
    }

    /// Updates the state from the reply a node gave to `args`.
    pub fn on_reply(&mut self, args: &[Bytes], class: Class, reply: &RawReply) {
        let ok = !reply.is_error();
        let queued = reply.kind() == b'+' && &reply.bytes[..] == b"+QUEUED\r\n";
        if queued {
            return;
        }
        match class {
            Class::Setting(setting) if ok => {
                if setting == Setting::Hello {
                    if let Some(v) = args.get(1) {
                        self.resp3 = &v[..] == b"3";
                    }
                }
                match self.replay.iter_mut().find(|(s, _)| *s == setting) {
                    Some(entry) => entry.1 = args.to_vec(),
                    None => self.replay.push((setting, args.to_vec())),
                }
            }
            Class::Multi if ok => self.in_multi = true,
            Class::EndMulti => {
                self.in_multi = false;
                self.watching = false;
            }
            Class::Watch if ok => self.watching = true,
            Class::Unwatch => self.watching = false,
            Class::Reset if ok => *self = SessionState::default(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|s| Bytes::from(s.to_string()))
            .collect()
    }

    #[test]
    fn classes() {
        assert_eq!(classify(&args("SELECT 1")), Class::Setting(Setting::Select));
        assert_eq!(
            classify(&args("client SETNAME x")),
            Class::Setting(Setting::SetName)
        );
        assert_eq!(classify(&args("BLPOP k 0")), Class::Blocking);
        assert_eq!(classify(&args("subscribe c")), Class::Pipe);
        assert_eq!(classify(&args("CLIENT REPLY OFF")), Class::Pipe);
        assert_eq!(classify(&args("GET k")), Class::Plain);
        assert!(is_idempotent(&args("GET k"), Class::Plain));
        assert!(!is_idempotent(&args("SET k v"), Class::Plain));
        assert!(!is_idempotent(&args("INCR k"), Class::Plain));
    }

    #[test]
    fn settings_replace_in_place() {
        let ok = RawReply {
            bytes: Bytes::from_static(b"+OK\r\n"),
        };
        let mut s = SessionState::default();
        s.on_reply(&args("AUTH pw"), Class::Setting(Setting::Auth), &ok);
        s.on_reply(&args("SELECT 1"), Class::Setting(Setting::Select), &ok);
        s.on_reply(&args("SELECT 2"), Class::Setting(Setting::Select), &ok);
        assert_eq!(s.replay.len(), 2);
        assert_eq!(s.replay[1].1, args("SELECT 2"));
        s.on_reply(&args("MULTI"), Class::Multi, &ok);
        assert!(s.pinned());
        s.on_reply(&args("EXEC"), Class::EndMulti, &ok);
        assert!(!s.pinned());
    }
}
