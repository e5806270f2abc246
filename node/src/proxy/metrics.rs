//! The proxy's Prometheus metrics and the `/metrics` endpoint serving them.

use prometheus::{
    Encoder, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::Arc;
use tokio::net::TcpListener;

pub struct Metrics {
    registry: Registry,
    /// Client connections open now.
    pub connections: IntGauge,
    /// Client connections accepted since start.
    pub connections_total: IntCounter,
    /// 1 for the node the proxy currently sends to, labelled with its id and address.
    pub leader: IntGaugeVec,
    pub leader_changes: IntCounter,
    /// Requests sent upstream, retries included.
    pub forwarded: IntCounter,
    /// Requests sent again to a new leader after a non-leader rejected them.
    pub retried: IntCounter,
    /// Client connections moved to a new node at a command boundary.
    pub moves: IntCounter,
    /// Errors by kind: upstream_lost, no_leader, connect, probe, redirect, pinned_close,
    /// protocol, restore.
    pub errors: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let registry = Registry::new();
        let connections = IntGauge::new(
            "tinyredis_proxy_connections",
            "Client connections open now.",
        )
        .unwrap();
        let connections_total = IntCounter::new(
            "tinyredis_proxy_connections_total",
            "Client connections accepted.",
        )
        .unwrap();
        let leader = IntGaugeVec::new(
            Opts::new(
                "tinyredis_proxy_leader",
                "1 for the current leader the proxy forwards to.",
            ),
            &["id", "addr"],
        )
        .unwrap();
        let leader_changes = IntCounter::new(
            "tinyredis_proxy_leader_changes_total",
            "Times the proxy saw a new leader.",
        )
        .unwrap();
        let forwarded = IntCounter::new(
            "tinyredis_proxy_forwarded_commands_total",
            "Commands forwarded to a node.",
        )
        .unwrap();
        let retried = IntCounter::new(
            "tinyredis_proxy_retried_commands_total",
            "Commands retried on a new leader after a non-leader rejected them.",
        )
        .unwrap();
        let moves = IntCounter::new(
            "tinyredis_proxy_connection_moves_total",
            "Client connections moved to a new node (the leader changed or its node went away).",
        )
        .unwrap();
        let errors = IntCounterVec::new(
            Opts::new("tinyredis_proxy_errors_total", "Errors, by kind."),
            &["kind"],
        )
        .unwrap();
        for c in [
            Box::new(connections.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(connections_total.clone()),
            Box::new(leader.clone()),
            Box::new(leader_changes.clone()),
            Box::new(forwarded.clone()),
            Box::new(retried.clone()),
            Box::new(moves.clone()),
            Box::new(errors.clone()),
        ] {
            registry.register(c).unwrap();
        }
        for kind in [
            "upstream_lost",
            "no_leader",
            "connect",
            "probe",
            "redirect",
            "pinned_close",
        ] {
            errors.with_label_values(&[kind]);
        }
        Arc::new(Metrics {
            registry,
            connections,
            connections_total,
            leader,
            leader_changes,
            forwarded,
            retried,
            moves,
            errors,
        })
    }

    pub fn error(&self, kind: &str) {
        self.errors.with_label_values(&[kind]).inc();
    }

    /// The metrics in Prometheus's text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding");
        String::from_utf8(out).expect("utf-8")
    }
}

/// Serves `GET /metrics` (and `/healthz`) until the process ends.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        metrics.render(),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "metrics endpoint stopped");
    }
}
