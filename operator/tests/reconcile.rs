//! The reconciler against an in-memory Kubernetes API and a simulated Raft
//! cluster: what it creates, updates, deletes and reports.

mod support;

use std::sync::Arc;

use serde_json::{json, Value};
use support::fake_admin::FakeAdmin;
use support::fake_api::{path, FakeApi};
use tinyredis_operator::admin::MemberKind;
use tinyredis_operator::crd::TinyRedisCluster;
use tinyredis_operator::metrics::Metrics;
use tinyredis_operator::rbac;
use tinyredis_operator::reconcile::{reconcile, Context};

const NS: &str = "prod";

struct Harness {
    api: FakeApi,
    admin: FakeAdmin,
    ctx: Arc<Context>,
}

fn cluster_path() -> String {
    path("tinyredis.io/v1alpha1", "tinyredisclusters", NS, "demo")
}

impl Harness {
    fn new(spec: Value) -> Self {
        let api = FakeApi::default();
        let admin = FakeAdmin::default();
        api.insert(
            &cluster_path(),
            json!({
                "apiVersion": "tinyredis.io/v1alpha1",
                "kind": "TinyRedisCluster",
                "metadata": {"name": "demo", "namespace": NS},
                "spec": spec,
            }),
        );
        let ctx = Arc::new(Context::new(
            api.client(),
            Arc::new(admin.clone()),
            Arc::new(Metrics::new()),
            None,
        ));
        Harness { api, admin, ctx }
    }

    fn cluster(&self) -> Value {
        self.api.get(&cluster_path()).expect("cluster exists")
    }

    async fn reconcile(&self) {
        let cluster: TinyRedisCluster = serde_json::from_value(self.cluster()).unwrap();
        reconcile(Arc::new(cluster), self.ctx.clone())
            .await
            .expect("reconcile succeeds");
    }

    /// Plays the StatefulSet controller and kubelet: pods 0..n exist, are
    /// ready, and their admin API answers.
    fn run_pods(&self, n: i32) {
        for ordinal in 0..n {
            let name = format!("demo-{ordinal}");
            self.api.insert(
                &path("v1", "pods", NS, &name),
                json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "namespace": NS, "labels": {
                        "app.kubernetes.io/instance": "demo",
                        "app.kubernetes.io/managed-by": "tinyredis-operator",
                        "controller-revision-hash": "r1"}},
                    "status": {"conditions": [{"type": "Ready", "status": "True"}]},
                }),
            );
            self.admin.start(&name);
        }
    }

    fn child(&self, api_version: &str, resource: &str, name: &str) -> Option<Value> {
        self.api.get(&path(api_version, resource, NS, name))
    }

    fn condition(&self, type_: &str) -> (String, String) {
        let cluster = self.cluster();
        let condition = cluster["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == type_)
            .unwrap()
            .clone();
        (
            condition["status"].as_str().unwrap().into(),
            condition["reason"].as_str().unwrap().into(),
        )
    }

    fn event_reasons(&self) -> Vec<String> {
        self.api
            .list("/apis/events.k8s.io/v1/namespaces/prod/events/")
            .iter()
            .map(|e| e["reason"].as_str().unwrap().to_string())
            .collect()
    }
}

#[tokio::test]
async fn first_reconcile_adds_the_finalizer_and_the_next_creates_every_child() {
    let harness = Harness::new(json!({}));
    harness.reconcile().await;
    assert_eq!(
        harness.cluster()["metadata"]["finalizers"],
        json!(["tinyredis.io/cleanup"])
    );
    assert!(
        harness.child("apps/v1", "statefulsets", "demo").is_none(),
        "nothing before the finalizer"
    );

    harness.reconcile().await;
    let statefulset = harness
        .child("apps/v1", "statefulsets", "demo")
        .expect("statefulset");
    assert_eq!(statefulset["spec"]["replicas"], 3);
    for (version, resource, name) in [
        ("v1", "services", "demo-headless"),
        ("v1", "services", "demo"),
        ("v1", "services", "demo-proxy"),
        ("apps/v1", "deployments", "demo-proxy"),
        ("policy/v1", "poddisruptionbudgets", "demo"),
        ("v1", "configmaps", "demo-config"),
        ("v1", "serviceaccounts", "demo"),
    ] {
        assert!(
            harness.child(version, resource, name).is_some(),
            "{resource}/{name} missing"
        );
    }
    assert_eq!(harness.cluster()["status"]["phase"], "Bootstrapping");
    assert_eq!(
        harness.condition("Bootstrapped"),
        ("False".into(), "WaitingForBootstrap".into())
    );
}

#[tokio::test]
async fn pods_are_bootstrapped_joined_and_promoted_until_ready() {
    let harness = Harness::new(json!({"replicas": 3}));
    harness.run_pods(3);
    for _ in 0..8 {
        harness.reconcile().await;
    }
    assert_eq!(
        harness.admin.members(),
        [
            ("demo-0".into(), MemberKind::Voter),
            ("demo-1".into(), MemberKind::Voter),
            ("demo-2".into(), MemberKind::Voter)
        ]
    );
    let calls: Vec<String> = harness
        .admin
        .calls()
        .into_iter()
        .filter(|c| !c.starts_with("status"))
        .collect();
    assert_eq!(
        calls,
        [
            "init demo-0",
            "join demo-1",
            "promote demo-1",
            "join demo-2",
            "promote demo-2"
        ]
    );
    let status = &harness.cluster()["status"];
    assert_eq!(status["clusterId"], "cluster-1");
    assert_eq!(status["leader"], "demo-0");
    assert_eq!(status["readyReplicas"], 3);
    assert_eq!(status["phase"], "Running");
    assert_eq!(
        harness.condition("Ready"),
        ("True".into(), "AllMembersReady".into())
    );
    let reasons = harness.event_reasons();
    for reason in ["Bootstrapped", "MemberJoined", "MemberPromoted"] {
        assert!(
            reasons.iter().any(|r| r == reason),
            "no {reason} event in {reasons:?}"
        );
    }
}

#[tokio::test]
async fn spec_changes_update_children_and_orphans_are_deleted() {
    let harness = Harness::new(json!({}));
    harness.reconcile().await;
    harness.reconcile().await;
    assert!(harness
        .child("apps/v1", "deployments", "demo-proxy")
        .is_some());

    let mut cluster = harness.cluster();
    cluster["spec"] = json!({"image": "reg/tinyredis:2", "proxy": {"enabled": false}});
    harness.api.insert(&cluster_path(), cluster);
    harness.reconcile().await;

    assert!(harness
        .child("apps/v1", "deployments", "demo-proxy")
        .is_none());
    assert!(harness.child("v1", "services", "demo-proxy").is_none());
    assert!(
        harness.child("v1", "services", "demo-headless").is_some(),
        "kept children stay"
    );
    let statefulset = harness.child("apps/v1", "statefulsets", "demo").unwrap();
    assert_eq!(
        statefulset["spec"]["template"]["spec"]["containers"][0]["image"],
        "reg/tinyredis:2"
    );
}

#[tokio::test]
async fn an_invalid_spec_is_reported_and_nothing_is_applied() {
    let harness = Harness::new(json!({"replicas": 0}));
    harness.reconcile().await;
    harness.reconcile().await;
    assert!(harness.child("apps/v1", "statefulsets", "demo").is_none());
    assert_eq!(harness.cluster()["status"]["phase"], "Invalid");
    assert_eq!(
        harness.condition("Degraded"),
        ("True".into(), "InvalidSpec".into())
    );
    assert!(harness.event_reasons().contains(&"InvalidSpec".to_string()));
}

#[tokio::test]
async fn a_paused_cluster_gets_no_children() {
    let harness = Harness::new(json!({"paused": true}));
    harness.reconcile().await;
    harness.reconcile().await;
    assert!(harness.child("apps/v1", "statefulsets", "demo").is_none());
    assert_eq!(harness.cluster()["status"]["phase"], "Paused");
}

#[tokio::test]
async fn a_missing_auth_secret_is_a_degraded_condition() {
    let harness = Harness::new(json!({"auth": {"secretRef": {"name": "creds"}}}));
    harness.reconcile().await;
    harness.reconcile().await;
    assert_eq!(
        harness.condition("Degraded"),
        ("True".into(), "SecretNotFound".into())
    );
}

#[tokio::test]
async fn deletion_removes_claims_then_releases_the_finalizer() {
    let harness = Harness::new(json!({}));
    harness.reconcile().await;
    harness.api.insert(
        &path("v1", "persistentvolumeclaims", NS, "data-demo-0"),
        json!({"metadata": {"name": "data-demo-0", "namespace": NS, "labels": {
            "app.kubernetes.io/instance": "demo",
            "app.kubernetes.io/managed-by": "tinyredis-operator"}}}),
    );
    let mut cluster = harness.cluster();
    cluster["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
    harness.api.insert(&cluster_path(), cluster);

    harness.reconcile().await;
    assert!(harness
        .child("v1", "persistentvolumeclaims", "data-demo-0")
        .is_none());
    assert!(
        harness.api.get(&cluster_path()).is_none(),
        "finalizer released, object gone"
    );
}

#[tokio::test]
async fn every_api_call_is_in_the_rbac_table() {
    let harness = Harness::new(json!({"replicas": 3}));
    harness.run_pods(3);
    for _ in 0..8 {
        harness.reconcile().await;
    }
    for request in harness.api.requests() {
        let verb = match (request.method.as_str(), request.collection, request.watch) {
            ("GET", _, true) => "watch",
            ("GET", true, false) => "list",
            ("GET", false, false) => "get",
            ("POST", _, _) => "create",
            ("PATCH", _, _) => "patch",
            ("PUT", _, _) => "update",
            ("DELETE", _, _) => "delete",
            (other, _, _) => panic!("unexpected method {other}"),
        };
        assert!(
            rbac::allows(&request.group, &request.resource, verb),
            "{verb} {}/{} is not in rbac::API_ACCESS",
            request.group,
            request.resource
        );
    }
}
