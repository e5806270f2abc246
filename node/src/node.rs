//! `tinyredis node`: wires the server together and runs it until SIGINT/SIGTERM.

use crate::config::NodeArgs;
use crate::server::{serve, Shared};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

pub async fn run(args: NodeArgs) -> anyhow::Result<()> {
    let addr = format!("{}:{}", args.host, args.port);
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let shared = Arc::new(Shared::new(&args));
    let (stop_tx, stop_rx) = watch::channel(false);
    let server = tokio::spawn(serve(listener, shared, stop_rx));
    shutdown_signal().await;
    info!("shutting down");
    let _ = stop_tx.send(true);
    server.await??;
    Ok(())
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
