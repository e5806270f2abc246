//! `tinyredis node`: wires the server together and runs it until SIGINT/SIGTERM.

use crate::config::NodeArgs;
use crate::engine::Engine;
use crate::keyspace::Store;
use crate::raft::{admin, RaftNode};
use crate::server::{serve, Shared};
use parking_lot::Mutex;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

pub async fn run(args: NodeArgs) -> anyhow::Result<()> {
    let addr = format!("{}:{}", args.host, args.port);
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let store = Arc::new(Mutex::new(Store::default()));
    let raft = if args.standalone {
        None
    } else {
        Some(start_raft(&args, store.clone()).await?)
    };
    let shared = Arc::new(Shared::new(&args, Engine::new(store, raft.clone())));
    let (stop_tx, stop_rx) = watch::channel(false);
    // Replicated, expirations must be deleted through the log; standalone, locally.
    if raft.is_none() {
        tokio::spawn(crate::expiry::run(shared.clone(), stop_rx.clone()));
    }
    let server = tokio::spawn(serve(listener, shared, stop_rx));
    shutdown_signal().await;
    info!("shutting down");
    let _ = stop_tx.send(true);
    server.await??;
    if let Some(raft) = raft {
        raft.raft
            .shutdown()
            .await
            .map_err(|e| anyhow::anyhow!("raft shutdown: {e}"))?;
    }
    Ok(())
}

/// Starts the Raft member and its admin HTTP API.
async fn start_raft(args: &NodeArgs, store: Arc<Mutex<Store>>) -> anyhow::Result<Arc<RaftNode>> {
    let http = TcpListener::bind(&args.raft_http).await.map_err(|e| {
        anyhow::anyhow!("cannot listen for the admin API on {}: {e}", args.raft_http)
    })?;
    let node = RaftNode::start(args, store).await?;
    info!(node = %node.me, http = %args.raft_http, "raft member started");
    let router = admin::router(node.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(http, router).await {
            tracing::error!(error = %e, "admin API stopped");
        }
    });
    Ok(node)
}

/// Resolves on SIGINT or SIGTERM (what Kubernetes sends).
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
