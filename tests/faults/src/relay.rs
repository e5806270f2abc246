//! The fallback when network namespaces cannot be made: each node's Raft address, as its
//! peers know it, is a relay in this process that forwards to the node's real Raft port
//! and drops what a partition cuts. Only Raft traffic is relayed (clients and the admin
//! API are never cut, as with namespaces, where node-to-node HTTP is cut too).
//!
//! A Raft connection does not say who opened it until its first RPC, whose first field
//! is the sender's vote (the leader's or candidate's id): the relay reads that. This
//! leans on the node's wire format (`node/src/raft/network.rs`: a length-prefixed
//! bincode `Hello`, then length-prefixed bincode `RpcRequest`s whose every variant starts
//! with `Vote { leader_id: { term: u64, node_id: u64 }, .. }`).

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Raft's numeric id for a node name (`node/src/raft/types.rs`: 64-bit FNV-1a).
fn node_id(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

struct Live {
    id: u64,
    from: usize,
    to: usize,
    streams: [TcpStream; 2],
}

#[derive(Clone)]
pub struct Relays {
    ids: Arc<HashMap<u64, usize>>,
    /// (from, to) pairs whose traffic is dropped.
    cuts: Arc<Mutex<HashSet<(usize, usize)>>>,
    live: Arc<Mutex<Vec<Live>>>,
    next_id: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Relays {
    pub fn new(names: &[String]) -> Relays {
        Relays {
            ids: Arc::new(
                names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (node_id(n), i))
                    .collect(),
            ),
            cuts: Arc::default(),
            live: Arc::default(),
            next_id: Arc::default(),
            stop: Arc::default(),
        }
    }

    /// Relays connections to `listener` on to node `to` at `target`.
    pub fn serve(&self, to: usize, listener: TcpListener, target: String) {
        let relays = self.clone();
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        std::thread::spawn(move || {
            while !relays.stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (relays, target) = (relays.clone(), target.clone());
                        std::thread::spawn(move || relays.relay(stream, to, &target));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
    }

    fn relay(&self, mut inbound: TcpStream, to: usize, target: &str) -> io::Result<()> {
        inbound.set_nonblocking(false)?;
        let mut head = read_frame(&mut inbound)?;
        let first_rpc = read_frame(&mut inbound)?;
        let sender = first_rpc
            .get(16..24)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
            .and_then(|id| self.ids.get(&id).copied());
        let Some(from) = sender else {
            return Ok(());
        };
        if self.cuts.lock().unwrap().contains(&(from, to)) {
            return Ok(());
        }
        let mut outbound = TcpStream::connect(target)?;
        head.extend_from_slice(&first_rpc);
        outbound.write_all(&head)?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let streams = [inbound.try_clone()?, outbound.try_clone()?];
        self.live.lock().unwrap().push(Live {
            id,
            from,
            to,
            streams,
        });
        let (mut back_in, mut back_out) = (outbound.try_clone()?, inbound.try_clone()?);
        std::thread::spawn(move || io::copy(&mut back_in, &mut back_out));
        let result = io::copy(&mut inbound, &mut outbound);
        // Either side closing ends both directions.
        let _ = outbound.shutdown(Shutdown::Both);
        let _ = inbound.shutdown(Shutdown::Both);
        self.live.lock().unwrap().retain(|l| l.id != id);
        result.map(drop)
    }

    /// Makes node `to` stop hearing the nodes in `from` (replacing its earlier cuts) and
    /// breaks the connections that are now cut.
    pub fn cut(&self, to: usize, from: &[usize]) {
        let mut cuts = self.cuts.lock().unwrap();
        cuts.retain(|&(_, t)| t != to);
        cuts.extend(from.iter().map(|&f| (f, to)));
        self.live.lock().unwrap().retain(|live| {
            let cut = cuts.contains(&(live.from, live.to));
            if cut {
                live.streams.iter().for_each(|s| {
                    let _ = s.shutdown(Shutdown::Both);
                });
            }
            !cut
        });
    }

    pub fn heal(&self) {
        self.cuts.lock().unwrap().clear();
    }

    /// Stops accepting and breaks every relayed connection.
    pub fn close(&self) {
        self.stop.store(true, Ordering::Relaxed);
        for live in self.live.lock().unwrap().drain(..) {
            live.streams.iter().for_each(|s| {
                let _ = s.shutdown(Shutdown::Both);
            });
        }
    }
}

/// One length-prefixed frame, prefix included.
fn read_frame(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0; 4];
    stream.read_exact(&mut len)?;
    let n = u32::from_be_bytes(len) as usize;
    let mut frame = len.to_vec();
    frame.resize(4 + n, 0);
    stream.read_exact(&mut frame[4..])?;
    Ok(frame)
}
