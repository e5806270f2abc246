//! The `TinyRedisCluster` custom resource: what users write (spec) and what
//! the operator reports back (status).
//!
//! Everything that can be checked without looking at the cluster is in the
//! schema (OpenAPI bounds and CEL rules), so `kubectl apply` refuses it. The
//! rest is checked by [`TinyRedisClusterSpec::validate`], whose errors the
//! reconciler turns into a `Degraded` condition and a Warning event.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, ResourceRequirements, Toleration, TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of every resource this operator defines.
pub const GROUP: &str = "tinyredis.io";

/// Image used when `spec.image` is empty: the data node built from this
/// workspace, tagged with the crate version so operator and node move together.
pub const DEFAULT_IMAGE: &str = concat!("tinyredis:", env!("CARGO_PKG_VERSION"));

/// Longest cluster name: the StatefulSet adds `-<ordinal>` to pod names and
/// Kubernetes adds an 11-character revision hash to the StatefulSet's name
/// in a 63-character label.
pub const MAX_NAME_LEN: usize = 52;

/// Most Raft voters we allow; more only slows every commit down.
pub const MAX_REPLICAS: i32 = 9;

/// A Raft-replicated tinyredis cluster.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "tinyredis.io",
    version = "v1alpha1",
    kind = "TinyRedisCluster",
    plural = "tinyredisclusters",
    shortname = "trc",
    namespaced,
    status = "TinyRedisClusterStatus",
    derive = "PartialEq",
    doc = "A Raft-replicated tinyredis cluster managed by tinyredis-operator",
    printcolumn(name = "Replicas", type_ = "integer", json_path = ".spec.replicas"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(name = "Leader", type_ = "string", json_path = ".status.leader"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("size(self.metadata.name) <= 52").message("metadata.name must be at most 52 characters (pod names and revision labels are derived from it)"),
)]
#[serde(rename_all = "camelCase")]
pub struct TinyRedisClusterSpec {
    /// Number of Raft members. Odd numbers tolerate the same failures as the
    /// next even number with one member less; 1 is a valid dev cluster.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 1, max = 9))]
    pub replicas: i32,

    /// Data node image; defaults to the image released with this operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[^\\\\s]+$')").message("image must not be empty or contain whitespace"))]
    pub image: Option<String>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<ImagePullPolicy>,

    /// Resources of each data node container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    #[serde(default)]
    pub storage: StorageSpec,

    #[serde(default)]
    pub proxy: ProxySpec,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSpec>,

    #[serde(default)]
    pub config: NodeConfig,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_spread_constraints: Option<Vec<TopologySpreadConstraint>>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,

    #[serde(default)]
    pub pod_disruption_budget: PodDisruptionBudgetSpec,

    /// When true the operator leaves the cluster alone: no child is applied
    /// and no membership change is made, until it is set back to false.
    #[serde(default)]
    pub paused: bool,
}

fn default_replicas() -> i32 {
    3
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ImagePullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl ImagePullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
}

/// The persistent volume each member keeps its Raft log and snapshots on.
/// A StatefulSet cannot change its volume claim templates, hence the rule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self == oldSelf").message("storage cannot be changed after creation"))]
pub struct StorageSpec {
    #[serde(default = "default_storage_size")]
    pub size: Quantity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

impl Default for StorageSpec {
    fn default() -> Self {
        Self {
            size: default_storage_size(),
            storage_class_name: None,
        }
    }
}

fn default_storage_size() -> Quantity {
    Quantity("1Gi".into())
}

/// The leader-following proxy that gives clients one stable endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxySpec {
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "default_proxy_replicas")]
    #[schemars(range(min = 1, max = 20))]
    pub replicas: i32,
    #[serde(default)]
    pub service: ProxyServiceSpec,
}

impl Default for ProxySpec {
    fn default() -> Self {
        Self {
            enabled: true,
            replicas: default_proxy_replicas(),
            service: ProxyServiceSpec::default(),
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_proxy_replicas() -> i32 {
    2
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxyServiceSpec {
    #[serde(default, rename = "type")]
    pub type_: ServiceType,
    #[serde(default = "default_redis_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
}

impl Default for ProxyServiceSpec {
    fn default() -> Self {
        Self {
            type_: ServiceType::default(),
            port: default_redis_port(),
        }
    }
}

fn default_redis_port() -> i32 {
    6379
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum ServiceType {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClusterIP => "ClusterIP",
            Self::NodePort => "NodePort",
            Self::LoadBalancer => "LoadBalancer",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthSpec {
    pub secret_ref: SecretRef,
}

/// A Secret in the cluster's namespace holding the client password
/// (`requirepass`) and the shared secret that guards the admin API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    #[x_kube(validation = Rule::new("size(self) > 0").message("secretRef.name must not be empty"))]
    pub name: String,
    #[serde(default = "default_password_key")]
    pub password_key: String,
    #[serde(default = "default_cluster_secret_key")]
    pub cluster_secret_key: String,
}

fn default_password_key() -> String {
    "password".into()
}

fn default_cluster_secret_key() -> String {
    "cluster-secret".into()
}

/// Node settings, rendered into the `tinyredis.conf` ConfigMap.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeConfig {
    #[serde(default)]
    pub loglevel: LogLevel,
    /// Raft log entries between snapshots.
    #[serde(default = "default_snapshot_threshold")]
    #[schemars(range(min = 100))]
    pub snapshot_threshold: i64,
    #[serde(default)]
    pub read_mode: ReadMode,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            loglevel: LogLevel::default(),
            snapshot_threshold: default_snapshot_threshold(),
            read_mode: ReadMode::default(),
        }
    }
}

fn default_snapshot_threshold() -> i64 {
    10_000
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// What a follower does with a request only the leader may serve.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReadMode {
    /// Answer a Redis-style redirect error naming the leader (the proxy
    /// follows it); reads stay linearizable.
    #[default]
    Redirect,
    /// Forward the request to the leader transparently.
    Forward,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodDisruptionBudgetSpec {
    /// A PodDisruptionBudget with maxUnavailable 1, so voluntary evictions
    /// never take away two members at once.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

impl Default for PodDisruptionBudgetSpec {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// What the operator observed and did, written only by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TinyRedisClusterStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Node id of the current Raft leader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    #[serde(default)]
    pub members: Vec<MemberStatus>,
    #[serde(default)]
    pub ready_replicas: i32,
    /// Raft cluster id recorded at bootstrap; a node reporting another id
    /// belongs to another cluster and is never joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    Pending,
    Bootstrapping,
    Scaling,
    Updating,
    Running,
    Degraded,
    Paused,
    Invalid,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberStatus {
    pub id: String,
    /// RESP address clients and the proxy reach the member on.
    pub address: String,
    pub role: MemberRole,
    pub ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<u64>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum MemberRole {
    Voter,
    Learner,
}

/// One reason a spec cannot be reconciled, phrased for `kubectl describe`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    pub field: &'static str,
    pub message: String,
}

impl TinyRedisCluster {
    /// The image the data nodes run.
    pub fn image(&self) -> &str {
        self.spec.image.as_deref().unwrap_or(DEFAULT_IMAGE)
    }
}

impl TinyRedisClusterSpec {
    /// Checks what the schema cannot: syntax of names and quantities that
    /// CEL has no parser for, and bounds kept here too so an API server
    /// without CEL (or a test without one) still never sees a bad spec.
    pub fn validate(&self, name: &str) -> Result<(), Vec<SpecError>> {
        let mut errors = Vec::new();
        let mut check = |ok: bool, field: &'static str, message: String| {
            if !ok {
                errors.push(SpecError { field, message });
            }
        };
        check(
            name.len() <= MAX_NAME_LEN,
            "metadata.name",
            format!("must be at most {MAX_NAME_LEN} characters"),
        );
        check(
            (1..=MAX_REPLICAS).contains(&self.replicas),
            "spec.replicas",
            format!(
                "must be between 1 and {MAX_REPLICAS}, got {}",
                self.replicas
            ),
        );
        check(
            self.image.as_deref().is_none_or(is_image_reference),
            "spec.image",
            "must be a non-empty image reference without whitespace".into(),
        );
        check(
            is_positive_quantity(&self.storage.size.0),
            "spec.storage.size",
            format!(
                "must be a positive quantity such as 1Gi, got {:?}",
                self.storage.size.0
            ),
        );
        check(
            self.proxy.replicas >= 1,
            "spec.proxy.replicas",
            "must be at least 1".into(),
        );
        check(
            (1..=65535).contains(&self.proxy.service.port),
            "spec.proxy.service.port",
            "must be a TCP port (1-65535)".into(),
        );
        check(
            self.config.snapshot_threshold >= 100,
            "spec.config.snapshotThreshold",
            "must be at least 100 entries".into(),
        );
        if let Some(auth) = &self.auth {
            let secret = &auth.secret_ref;
            check(
                is_dns_subdomain(&secret.name),
                "spec.auth.secretRef.name",
                format!("{:?} is not a valid Secret name", secret.name),
            );
            check(
                is_secret_key(&secret.password_key) && is_secret_key(&secret.cluster_secret_key),
                "spec.auth.secretRef",
                "passwordKey and clusterSecretKey must be valid Secret keys".into(),
            );
        }
        if let Some(class) = &self.priority_class_name {
            check(
                is_dns_subdomain(class),
                "spec.priorityClassName",
                format!("{class:?} is not a valid PriorityClass name"),
            );
        }
        if let Some(class) = &self.storage.storage_class_name {
            check(
                is_dns_subdomain(class),
                "spec.storage.storageClassName",
                format!("{class:?} is not a valid StorageClass name"),
            );
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn is_image_reference(image: &str) -> bool {
    !image.is_empty() && !image.chars().any(char::is_whitespace)
}

/// RFC 1123 subdomain, as Kubernetes requires of most object names.
fn is_dns_subdomain(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !name.is_empty()
        && name.len() <= 253
        && name.starts_with(alnum)
        && name.ends_with(alnum)
        && name.chars().all(|c| alnum(c) || c == '-' || c == '.')
}

fn is_secret_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A Kubernetes quantity (`<number><suffix>`) greater than zero. Only the
/// forms used for storage sizes are accepted: decimal digits with an
/// optional fraction, then an optional binary or decimal SI suffix.
fn is_positive_quantity(quantity: &str) -> bool {
    const SUFFIXES: [&str; 13] = [
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "k", "M", "G", "T", "P", "E",
    ];
    let number_end = quantity
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(quantity.len());
    let (number, suffix) = quantity.split_at(number_end);
    SUFFIXES.contains(&suffix) && number.parse::<f64>().is_ok_and(|n| n > 0.0)
}

/// The CRD as YAML, exactly as `tinyredis-operator crd` prints it and as
/// `crds/` stores it.
pub fn crd_yaml() -> String {
    serde_yaml::to_string(&TinyRedisCluster::crd()).expect("a CRD always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TinyRedisClusterSpec {
        serde_json::from_value(serde_json::json!({})).unwrap()
    }

    #[test]
    fn empty_spec_gets_the_documented_defaults() {
        let spec = spec();
        assert_eq!(spec.replicas, 3);
        assert_eq!(spec.storage.size.0, "1Gi");
        assert!(spec.proxy.enabled);
        assert_eq!(spec.proxy.service.port, 6379);
        assert!(spec.pod_disruption_budget.enabled);
        assert!(!spec.paused);
        assert_eq!(spec.validate("demo"), Ok(()));
    }

    #[test]
    fn zero_replicas_is_rejected() {
        let spec = TinyRedisClusterSpec {
            replicas: 0,
            ..spec()
        };
        let errors = spec.validate("demo").unwrap_err();
        assert_eq!(errors[0].field, "spec.replicas");
    }

    #[test]
    fn a_long_name_is_rejected() {
        let errors = spec().validate(&"a".repeat(53)).unwrap_err();
        assert_eq!(errors[0].field, "metadata.name");
    }

    #[test]
    fn storage_size_must_be_a_positive_quantity() {
        for (size, ok) in [
            ("1Gi", true),
            ("500M", true),
            ("1.5Gi", true),
            ("0", false),
            ("ten", false),
            ("1Gb", false),
        ] {
            let mut spec = spec();
            spec.storage.size = Quantity(size.into());
            assert_eq!(spec.validate("demo").is_ok(), ok, "{size}");
        }
    }

    #[test]
    fn secret_and_class_names_must_be_dns_names() {
        let mut spec = spec();
        spec.auth = Some(AuthSpec {
            secret_ref: SecretRef {
                name: "Bad_Name".into(),
                password_key: "password".into(),
                cluster_secret_key: "cluster secret".into(),
            },
        });
        spec.priority_class_name = Some("high".into());
        let fields: Vec<_> = spec
            .validate("demo")
            .unwrap_err()
            .iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["spec.auth.secretRef.name", "spec.auth.secretRef"]);
    }

    #[test]
    fn crd_declares_names_subresources_and_columns() {
        let crd = TinyRedisCluster::crd();
        assert_eq!(crd.spec.group, GROUP);
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.names.short_names, Some(vec!["trc".to_string()]));
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(version.subresources.as_ref().unwrap().status.is_some());
        let columns: Vec<_> = version
            .additional_printer_columns
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(columns, ["Replicas", "Ready", "Leader", "Phase", "Age"]);
    }

    #[test]
    fn schema_carries_bounds_and_cel_rules() {
        let yaml = crd_yaml();
        assert!(yaml.contains("minimum: 1"), "replicas lower bound");
        assert!(yaml.contains("maximum: 9"), "replicas upper bound");
        assert!(yaml.contains("self == oldSelf"), "storage immutability");
        assert!(
            yaml.contains("size(self.metadata.name) <= 52"),
            "name length"
        );
    }
}
