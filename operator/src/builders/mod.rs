//! Pure functions from a `TinyRedisCluster` to the Kubernetes objects that
//! run it. Nothing here talks to the API server, so every field can be
//! checked by unit tests with no cluster at all.

mod config_map;
mod pdb;
mod proxy;
mod service_account;
mod services;
mod statefulset;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};

use crate::crd::TinyRedisCluster;

pub use config_map::CONFIG_FILE;
pub use statefulset::{DATA_VOLUME, HTTP_PORT, RAFT_PORT, REDIS_PORT};

/// The one field manager every write of this operator uses, so server-side
/// apply tracks (and prunes) exactly the fields we own.
pub const FIELD_MANAGER: &str = "tinyredis-operator";

pub const LABEL_NAME: &str = "app.kubernetes.io/name";
pub const LABEL_INSTANCE: &str = "app.kubernetes.io/instance";
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_PART_OF: &str = "app.kubernetes.io/part-of";

/// Which part of a cluster an object belongs to; becomes the component label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// The Raft data nodes and everything only they use.
    Node,
    Proxy,
}

impl Component {
    fn as_str(self) -> &'static str {
        match self {
            Self::Node => "node",
            Self::Proxy => "proxy",
        }
    }
}

/// Every child object of one cluster, as it should be now.
#[derive(Debug, Clone)]
pub struct Children {
    pub service_account: ServiceAccount,
    pub config_map: ConfigMap,
    pub headless_service: Service,
    pub client_service: Service,
    pub statefulset: StatefulSet,
    pub pod_disruption_budget: Option<PodDisruptionBudget>,
    pub proxy_deployment: Option<Deployment>,
    pub proxy_service: Option<Service>,
}

/// Builds every child. `statefulset_replicas` comes from the orchestrator,
/// not the spec: during a scale-down the StatefulSet keeps its pods until
/// their Raft membership is gone.
pub fn build(cluster: &TinyRedisCluster, statefulset_replicas: i32) -> Children {
    let proxy = cluster.spec.proxy.enabled;
    Children {
        service_account: service_account::service_account(cluster),
        config_map: config_map::config_map(cluster),
        headless_service: services::headless_service(cluster),
        client_service: services::client_service(cluster),
        statefulset: statefulset::statefulset(cluster, statefulset_replicas),
        pod_disruption_budget: cluster
            .spec
            .pod_disruption_budget
            .enabled
            .then(|| pdb::pod_disruption_budget(cluster)),
        proxy_deployment: proxy.then(|| proxy::deployment(cluster)),
        proxy_service: proxy.then(|| services::proxy_service(cluster)),
    }
}

/// Name of the StatefulSet, and the prefix of every pod (= Raft node id).
pub fn statefulset_name(cluster: &TinyRedisCluster) -> String {
    cluster.name_any()
}

/// Name of the headless Service that gives each pod a stable DNS name.
pub fn headless_service_name(cluster: &TinyRedisCluster) -> String {
    format!("{}-headless", cluster.name_any())
}

/// Name of the Service clients use to reach ready data nodes directly.
pub fn client_service_name(cluster: &TinyRedisCluster) -> String {
    cluster.name_any()
}

pub fn proxy_name(cluster: &TinyRedisCluster) -> String {
    format!("{}-proxy", cluster.name_any())
}

pub fn config_map_name(cluster: &TinyRedisCluster) -> String {
    format!("{}-config", cluster.name_any())
}

pub fn service_account_name(cluster: &TinyRedisCluster) -> String {
    cluster.name_any()
}

pub fn pdb_name(cluster: &TinyRedisCluster) -> String {
    cluster.name_any()
}

/// Pod (and Raft node id) of one ordinal.
pub fn pod_name(cluster: &TinyRedisCluster, ordinal: i32) -> String {
    format!("{}-{ordinal}", statefulset_name(cluster))
}

/// PVC the StatefulSet creates for one ordinal from its claim template.
pub fn pvc_name(cluster: &TinyRedisCluster, ordinal: i32) -> String {
    format!("{DATA_VOLUME}-{}", pod_name(cluster, ordinal))
}

/// Namespace of the cluster; every child lives in it.
pub fn namespace(cluster: &TinyRedisCluster) -> String {
    cluster.namespace().unwrap_or_else(|| "default".into())
}

/// DNS name of one pod through the headless Service, as the nodes advertise it.
pub fn pod_dns_name(cluster: &TinyRedisCluster, pod: &str) -> String {
    format!(
        "{pod}.{}.{}.svc",
        headless_service_name(cluster),
        namespace(cluster)
    )
}

/// Labels that select one component's pods. Kept minimal because selectors
/// of StatefulSets and Deployments can never change.
pub fn selector_labels(
    cluster: &TinyRedisCluster,
    component: Component,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_NAME.to_string(), "tinyredis".to_string()),
        (LABEL_INSTANCE.to_string(), cluster.name_any()),
        (LABEL_COMPONENT.to_string(), component.as_str().to_string()),
    ])
}

/// Labels on every child: the selector labels plus who manages it. The
/// operator finds its children (and their orphans) by these.
pub fn labels(cluster: &TinyRedisCluster, component: Component) -> BTreeMap<String, String> {
    let mut labels = selector_labels(cluster, component);
    labels.insert(LABEL_MANAGED_BY.into(), FIELD_MANAGER.into());
    labels.insert(LABEL_PART_OF.into(), "tinyredis".into());
    labels
}

/// Label selector (API syntax) matching every child of one cluster.
pub fn children_selector(cluster: &TinyRedisCluster) -> String {
    format!(
        "{LABEL_INSTANCE}={},{LABEL_MANAGED_BY}={FIELD_MANAGER}",
        cluster.name_any()
    )
}

/// Metadata of a child: name, namespace, labels, and an ownerReference so
/// Kubernetes garbage-collects it with the cluster.
fn child_meta(cluster: &TinyRedisCluster, name: String, component: Component) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(namespace(cluster)),
        labels: Some(labels(cluster, component)),
        owner_references: cluster.controller_owner_ref(&()).map(|owner| vec![owner]),
        ..ObjectMeta::default()
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use crate::crd::TinyRedisCluster;

    /// A cluster as the API server returns it: named, namespaced, with a
    /// uid (ownerReferences need one) and the given spec in YAML.
    pub fn cluster(spec_yaml: &str) -> TinyRedisCluster {
        let spec: serde_json::Value = serde_yaml::from_str(spec_yaml).expect("spec YAML");
        let spec = if spec.is_null() {
            serde_json::json!({})
        } else {
            spec
        };
        serde_json::from_value(serde_json::json!({
            "apiVersion": "tinyredis.io/v1alpha1",
            "kind": "TinyRedisCluster",
            "metadata": {"name": "demo", "namespace": "prod", "uid": "uid-1", "generation": 1},
            "spec": spec,
        }))
        .expect("cluster")
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::cluster;
    use super::*;

    #[test]
    fn every_child_is_owned_by_the_cluster_and_labelled() {
        let children = build(&cluster(""), 3);
        let metas = [
            &children.service_account.metadata,
            &children.config_map.metadata,
            &children.headless_service.metadata,
            &children.client_service.metadata,
            &children.statefulset.metadata,
            &children.pod_disruption_budget.as_ref().unwrap().metadata,
            &children.proxy_deployment.as_ref().unwrap().metadata,
            &children.proxy_service.as_ref().unwrap().metadata,
        ];
        for meta in metas {
            let owner = &meta.owner_references.as_ref().unwrap()[0];
            assert_eq!(
                (owner.kind.as_str(), owner.uid.as_str()),
                ("TinyRedisCluster", "uid-1")
            );
            assert_eq!(owner.controller, Some(true));
            let labels = meta.labels.as_ref().unwrap();
            assert_eq!(labels[LABEL_INSTANCE], "demo");
            assert_eq!(labels[LABEL_MANAGED_BY], FIELD_MANAGER);
            assert_eq!(meta.namespace.as_deref(), Some("prod"));
        }
    }

    #[test]
    fn disabled_proxy_and_pdb_are_not_built() {
        let children = build(
            &cluster("{proxy: {enabled: false}, podDisruptionBudget: {enabled: false}}"),
            3,
        );
        assert!(children.proxy_deployment.is_none());
        assert!(children.proxy_service.is_none());
        assert!(children.pod_disruption_budget.is_none());
    }

    #[test]
    fn pod_and_pvc_names_follow_the_statefulset() {
        let cluster = cluster("");
        assert_eq!(pod_name(&cluster, 2), "demo-2");
        assert_eq!(pvc_name(&cluster, 2), "data-demo-2");
        assert_eq!(
            pod_dns_name(&cluster, "demo-2"),
            "demo-2.demo-headless.prod.svc"
        );
    }
}
