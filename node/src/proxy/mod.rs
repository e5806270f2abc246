//! `tinyredis proxy`: one stable RESP endpoint in front of a cluster that follows the
//! Raft leader. Stateless: several can run side by side.
//!
//! - `leader`: probes every node's admin `/status` to know the leader (and `--discover`).
//! - `upstream`: a RESP client connection to one node (reusable elsewhere).
//! - `conn`: one client connection: parse, forward, relay, follow the leader, retry safely.
//! - `state`: what commands do to a connection (settings to replay, pinned states).
//! - `metrics`: Prometheus metrics and `/metrics`.

mod args;
pub mod conn;
pub mod leader;
pub mod metrics;
pub mod state;
pub mod upstream;

pub use args::ProxyArgs;
pub use upstream::Upstream;

use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

/// How often `--discover` resolves its name.
const DISCOVER_EVERY: Duration = Duration::from_secs(5);

pub async fn run(args: ProxyArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.nodes.is_empty() || args.discover.is_some(),
        "give the nodes with --nodes a,b,c or --discover NAME:PORT"
    );
    let metrics = metrics::Metrics::new();
    let tracker = leader::Tracker::new(
        args.nodes.clone(),
        args.admin_port,
        args.dial_timeout.into(),
        args.retry_interval.into(),
        metrics.clone(),
    );
    if let Some(target) = &args.discover {
        anyhow::ensure!(
            target
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok()),
            "--discover wants NAME:PORT, got {target}"
        );
        tokio::spawn(leader::discover(
            tracker.clone(),
            target.clone(),
            DISCOVER_EVERY,
        ));
    }
    tokio::spawn(tracker.clone().run());
    if let Some(addr) = &args.metrics_addr {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {addr}: {e}"))?;
        info!(addr = %addr, "serving /metrics");
        tokio::spawn(metrics::serve(listener, metrics.clone()));
    }
    let listener = TcpListener::bind(&args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    info!(listen = %args.listen, nodes = ?args.nodes, "proxy started");
    let shared = Arc::new(conn::Shared {
        tracker,
        metrics: metrics.clone(),
        dial_timeout: args.dial_timeout.into(),
        leader_wait: args.leader_wait.into(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let signal = crate::node::shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::debug!(%peer, "client connected");
                    metrics.connections.inc();
                    metrics.connections_total.inc();
                    let conn = conn::Conn::new(stream, shared.clone(), stop_rx.clone());
                    let metrics = metrics.clone();
                    tasks.spawn(async move {
                        conn.run().await;
                        metrics.connections.dec();
                        tracing::debug!(%peer, "client disconnected");
                    });
                }
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = &mut signal => break,
        }
    }
    drop(listener);
    info!(
        connections = tasks.len(),
        "shutting down: draining connections"
    );
    let _ = stop_tx.send(true);
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(args.drain_timeout.into(), drain)
        .await
        .is_err()
    {
        warn!(
            left = tasks.len(),
            "drain timeout: closing the remaining connections"
        );
        tasks.abort_all();
    }
    Ok(())
}
