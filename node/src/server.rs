//! The RESP server: accept loop, connection limit, client registry and shutdown.

use crate::config::NodeArgs;
use crate::engine::Engine;
use crate::pubsub::PubSub;
use crate::session::output::OutputLimits;
use crate::session::Session;
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tracing::{debug, info, warn};

/// Settings CONFIG GET/SET read and change at run time.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub requirepass: Option<String>,
    pub maxclients: usize,
    pub bind: String,
    pub port: u16,
    pub output_limits: OutputLimits,
}

/// Server-wide counters for INFO and metrics.
#[derive(Debug, Default)]
pub struct ServerStats {
    pub connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub commands_processed: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    /// Clients disconnected for passing their output buffer limit.
    pub output_buffer_limit_disconnections: AtomicU64,
}

/// What CLIENT LIST shows of a connection, updated by its session.
#[derive(Debug, Clone)]
pub struct ClientMeta {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub name: Option<String>,
    pub db: usize,
    pub created: Instant,
    pub last_active: Instant,
    pub last_command: &'static str,
    pub resp: u8,
    pub subscriptions: usize,
    pub psubscriptions: usize,
    pub in_multi: bool,
}

/// A registered client: its metadata and the signal that kills it (CLIENT KILL).
pub struct ClientHandle {
    pub meta: Mutex<ClientMeta>,
    pub kill: Notify,
}

/// State every connection shares.
pub struct Shared {
    pub engine: Engine,
    pub pubsub: PubSub,
    pub config: RwLock<RuntimeConfig>,
    pub stats: ServerStats,
    pub clients: Mutex<BTreeMap<u64, Arc<ClientHandle>>>,
    pub started: Instant,
    next_client_id: AtomicU64,
}

impl Shared {
    pub fn new(args: &NodeArgs, engine: Engine) -> Self {
        Shared {
            engine,
            pubsub: PubSub::default(),
            config: RwLock::new(RuntimeConfig {
                requirepass: args.requirepass.clone().filter(|p| !p.is_empty()),
                maxclients: args.maxclients,
                bind: args.host.clone(),
                port: args.port,
                output_limits: OutputLimits::default(),
            }),
            stats: ServerStats::default(),
            clients: Mutex::new(BTreeMap::new()),
            started: Instant::now(),
            next_client_id: AtomicU64::new(1),
        }
    }

    fn register(&self, addr: SocketAddr, laddr: SocketAddr) -> Arc<ClientHandle> {
        let id = self.next_client_id.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let handle = Arc::new(ClientHandle {
            meta: Mutex::new(ClientMeta {
                id,
                addr,
                laddr,
                name: None,
                db: 0,
                created: now,
                last_active: now,
                last_command: "NULL",
                resp: 2,
                subscriptions: 0,
                psubscriptions: 0,
                in_multi: false,
            }),
            kill: Notify::new(),
        });
        self.clients.lock().insert(id, handle.clone());
        handle
    }

    pub fn unregister(&self, id: u64) {
        self.clients.lock().remove(&id);
        self.pubsub.remove_client(id);
    }

    pub fn connected_clients(&self) -> usize {
        self.clients.lock().len()
    }
}

/// Descriptors kept for everything but clients (listeners, Raft, sled, logs), as Redis's
/// `CONFIG_MIN_RESERVED_FDS`.
const RESERVED_FDS: u64 = 32;

/// Raises the soft open-files limit so `maxclients` connections fit, as Redis does at
/// start; the distribution default of 1024 would refuse clients long before maxclients.
/// Logs what it got; never fails, since a lower limit only means fewer clients.
pub fn raise_open_files_limit(maxclients: usize) {
    let wanted = maxclients as u64 + RESERVED_FDS;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        warn!("cannot read the open files limit");
        return;
    }
    if limit.rlim_cur >= wanted {
        return;
    }
    let raised = libc::rlimit {
        rlim_cur: wanted.min(limit.rlim_max),
        rlim_max: limit.rlim_max,
    };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        warn!(
            current = limit.rlim_cur,
            wanted, "cannot raise the open files limit"
        );
    } else if raised.rlim_cur < wanted {
        warn!(
            limit = raised.rlim_cur,
            wanted,
            "open files limit raised only to the hard limit: fewer than maxclients clients fit"
        );
    } else {
        info!(
            from = limit.rlim_cur,
            to = raised.rlim_cur,
            "raised the open files limit for maxclients"
        );
    }
}

/// Serves RESP on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    info!(addr = %listener.local_addr()?, "ready to accept connections");
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (socket, addr) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and similar: back off instead of spinning.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                accept(socket, addr, &shared);
            }
            _ = shutdown.changed() => break,
        }
    }
    info!("server stopped accepting connections");
    Ok(())
}

fn accept(socket: tokio::net::TcpStream, addr: SocketAddr, shared: &Arc<Shared>) {
    shared
        .stats
        .connections_received
        .fetch_add(1, Ordering::Relaxed);
    let _ = socket.set_nodelay(true);
    let Ok(laddr) = socket.local_addr() else {
        return;
    };
    if shared.connected_clients() >= shared.config.read().maxclients {
        shared
            .stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        tokio::spawn(crate::session::refuse(
            socket,
            "ERR max number of clients reached",
        ));
        return;
    }
    let handle = shared.register(addr, laddr);
    let shared = shared.clone();
    tokio::spawn(async move {
        let id = handle.meta.lock().id;
        debug!(client = id, %addr, "client connected");
        let outcome = Session::new(socket, shared.clone(), handle).run().await;
        shared.unregister(id);
        match outcome {
            Ok(()) => debug!(client = id, "client disconnected"),
            Err(e) => debug!(client = id, error = %e, "client connection closed"),
        }
    });
}
