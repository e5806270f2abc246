//! Prometheus metrics of the operator, served on `/metrics`.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::admin::MemberKind;
use crate::orchestrate::ClusterView;

pub struct Metrics {
    registry: Registry,
    reconciles: IntCounterVec,
    failures: IntCounterVec,
    duration: HistogramVec,
    members: IntGaugeVec,
    has_leader: IntGaugeVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let reconciles = IntCounterVec::new(
            Opts::new("tinyredis_operator_reconciles_total", "Reconciles run"),
            &["namespace", "cluster"],
        )
        .expect("valid metric");
        let failures = IntCounterVec::new(
            Opts::new(
                "tinyredis_operator_reconcile_errors_total",
                "Reconciles that failed",
            ),
            &["namespace", "cluster"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "tinyredis_operator_reconcile_duration_seconds",
                "Time one reconcile took",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["namespace", "cluster"],
        )
        .expect("valid metric");
        let members = IntGaugeVec::new(
            Opts::new("tinyredis_operator_cluster_members", "Raft members by role"),
            &["namespace", "cluster", "role"],
        )
        .expect("valid metric");
        let has_leader = IntGaugeVec::new(
            Opts::new(
                "tinyredis_operator_cluster_has_leader",
                "1 when a Raft leader is known",
            ),
            &["namespace", "cluster"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(reconciles.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(failures.clone()),
            Box::new(duration.clone()),
            Box::new(members.clone()),
            Box::new(has_leader.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric registered once");
        }
        Self {
            registry,
            reconciles,
            failures,
            duration,
            members,
            has_leader,
        }
    }

    pub fn reconciled(&self, namespace: &str, cluster: &str, took: Duration, ok: bool) {
        let labels = [namespace, cluster];
        self.reconciles.with_label_values(&labels).inc();
        self.duration
            .with_label_values(&labels)
            .observe(took.as_secs_f64());
        if !ok {
            self.failures.with_label_values(&labels).inc();
        }
    }

    pub fn cluster_observed(&self, namespace: &str, cluster: &str, view: &ClusterView) {
        for (role, kind) in [
            ("voter", MemberKind::Voter),
            ("learner", MemberKind::Learner),
        ] {
            let count = view.members.iter().filter(|m| m.role == kind).count();
            self.members
                .with_label_values(&[namespace, cluster, role])
                .set(count as i64);
        }
        self.has_leader
            .with_label_values(&[namespace, cluster])
            .set(i64::from(view.leader.is_some()));
    }

    /// Drops the per-cluster series of a deleted cluster.
    pub fn forget(&self, namespace: &str, cluster: &str) {
        for role in ["voter", "learner"] {
            let _ = self
                .members
                .remove_label_values(&[namespace, cluster, role]);
        }
        let _ = self.has_leader.remove_label_values(&[namespace, cluster]);
        let _ = self.reconciles.remove_label_values(&[namespace, cluster]);
        let _ = self.failures.remove_label_values(&[namespace, cluster]);
        let _ = self.duration.remove_label_values(&[namespace, cluster]);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding cannot fail");
        String::from_utf8(buffer).expect("prometheus text is utf-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconciles_and_membership_are_exported_and_forgotten() {
        let metrics = Metrics::new();
        metrics.reconciled("prod", "demo", Duration::from_millis(20), false);
        let view = ClusterView {
            leader: Some("demo-0".into()),
            ..ClusterView::default()
        };
        metrics.cluster_observed("prod", "demo", &view);
        let text = metrics.render();
        assert!(text.contains(
            r#"tinyredis_operator_reconcile_errors_total{cluster="demo",namespace="prod"} 1"#
        ));
        assert!(text.contains(
            r#"tinyredis_operator_cluster_has_leader{cluster="demo",namespace="prod"} 1"#
        ));
        metrics.forget("prod", "demo");
        assert!(!metrics.render().contains("cluster=\"demo\""));
    }
}
