//! `tinyredis node`: wires the server together and runs it until SIGINT/SIGTERM.

use crate::config::NodeArgs;
use crate::engine::Engine;
use crate::keyspace::Store;
use crate::metrics::{self, NodeMetrics};
use crate::raft::{admin, RaftNode};
use crate::server::{serve, Shared};
use axum::routing::get;
use axum::Router;
use parking_lot::Mutex;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

pub async fn run(args: NodeArgs) -> anyhow::Result<()> {
    crate::server::raise_open_files_limit(args.maxclients);
    let addr = format!("{}:{}", args.host, args.port);
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let http = bind_admin(&args).await?;
    let store = Arc::new(Mutex::new(Store::default()));
    let raft = if args.standalone {
        None
    } else {
        let node = RaftNode::start(&args, store.clone()).await?;
        info!(node = %node.me, http = %args.raft_http, "raft member started");
        Some(node)
    };
    let shared = Arc::new(Shared::new(&args, Engine::new(store, raft.clone())));
    if let Some(http) = http {
        serve_admin(http, raft.clone(), shared.clone());
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    // Replicated, expirations must be deleted through the log; standalone, locally.
    match &raft {
        Some(node) => tokio::spawn(crate::raft::expiry::run(node.clone(), stop_rx.clone())),
        None => tokio::spawn(crate::expiry::run(shared.clone(), stop_rx.clone())),
    };
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

/// Binds the admin HTTP port (`--raft-http`). Replicated, it is required; standalone it
/// only serves `/metrics` and `/healthz`, so a busy port is a warning, not a failure.
async fn bind_admin(args: &NodeArgs) -> anyhow::Result<Option<TcpListener>> {
    match TcpListener::bind(&args.raft_http).await {
        Ok(listener) => Ok(Some(listener)),
        Err(e) if args.standalone => {
            warn!(addr = %args.raft_http, error = %e, "cannot listen for /metrics; serving without it");
            Ok(None)
        }
        Err(e) => Err(anyhow::anyhow!(
            "cannot listen for the admin API on {}: {e}",
            args.raft_http
        )),
    }
}

/// Serves the admin HTTP API: Raft's routes when replicated, plus `/metrics` in both modes.
fn serve_admin(http: TcpListener, raft: Option<Arc<RaftNode>>, shared: Arc<Shared>) {
    let routes = match raft {
        Some(node) => admin::router(node),
        None => Router::new().route("/healthz", get(|| async { "ok" })),
    };
    let router = routes.merge(metrics::router(Arc::new(NodeMetrics::new(shared))));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(http, router).await {
            tracing::error!(error = %e, "admin API stopped");
        }
    });
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
