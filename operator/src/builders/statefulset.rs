use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
    StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, HTTPGetAction, ObjectFieldSelector, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    SecretKeySelector, SecurityContext, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::config_map::{config_checksum, CONFIG_FILE};
use super::{
    child_meta, config_map_name, headless_service_name, labels, namespace, selector_labels,
    service_account_name, statefulset_name, Component,
};
use crate::crd::TinyRedisCluster;

pub const REDIS_PORT: i32 = 6379;
pub const RAFT_PORT: i32 = 7000;
pub const HTTP_PORT: i32 = 17000;

/// Name of the volume claim template; PVCs are `data-<pod>`.
pub const DATA_VOLUME: &str = "data";
const DATA_DIR: &str = "/data";
const CONFIG_DIR: &str = "/etc/tinyredis";

/// Pod annotation carrying the config digest, so config changes roll pods.
pub const CONFIG_CHECKSUM_ANNOTATION: &str = "tinyredis.io/config-checksum";

/// Time a node gets after SIGTERM to hand off leadership and flush its log.
const TERMINATION_GRACE_SECONDS: i64 = 60;

/// Numeric user the data node image runs as; group-owns the data volume.
const NODE_GROUP_ID: i64 = 10001;

/// The data nodes. Pod names are the Raft node ids.
///
/// - `Parallel` pod management: a new pod is not ready until the operator
///   has joined it, so `OrderedReady` would never create the next one; the
///   operator itself serialises membership changes.
/// - `OnDelete` updates: the operator restarts pods itself, followers first
///   and the leader last after a leadership transfer.
/// - PVCs are retained: the operator deletes them only once the member is
///   out of the Raft configuration.
pub fn statefulset(cluster: &TinyRedisCluster, replicas: i32) -> StatefulSet {
    StatefulSet {
        metadata: child_meta(cluster, statefulset_name(cluster), Component::Node),
        spec: StatefulSetSpec {
            replicas: Some(replicas),
            service_name: Some(headless_service_name(cluster)),
            pod_management_policy: Some("Parallel".into()),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("OnDelete".into()),
                ..StatefulSetUpdateStrategy::default()
            }),
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_deleted: Some("Retain".into()),
                    when_scaled: Some("Retain".into()),
                },
            ),
            selector: LabelSelector {
                match_labels: Some(selector_labels(cluster, Component::Node)),
                ..LabelSelector::default()
            },
            template: pod_template(cluster),
            volume_claim_templates: Some(vec![data_claim(cluster)]),
            ..StatefulSetSpec::default()
        },
        ..StatefulSet::default()
    }
}

fn pod_template(cluster: &TinyRedisCluster) -> PodTemplateSpec {
    let spec = &cluster.spec;
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels(cluster, Component::Node)),
            annotations: Some(BTreeMap::from([(
                CONFIG_CHECKSUM_ANNOTATION.to_string(),
                config_checksum(cluster),
            )])),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            service_account_name: Some(service_account_name(cluster)),
            automount_service_account_token: Some(false),
            termination_grace_period_seconds: Some(TERMINATION_GRACE_SECONDS),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                fs_group: Some(NODE_GROUP_ID),
                ..PodSecurityContext::default()
            }),
            node_selector: spec.node_selector.clone(),
            affinity: spec.affinity.clone(),
            tolerations: spec.tolerations.clone(),
            topology_spread_constraints: spec.topology_spread_constraints.clone(),
            priority_class_name: spec.priority_class_name.clone(),
            containers: vec![node_container(cluster)],
            volumes: Some(vec![
                Volume {
                    name: "config".into(),
                    config_map: Some(ConfigMapVolumeSource {
                        name: config_map_name(cluster),
                        ..ConfigMapVolumeSource::default()
                    }),
                    ..Volume::default()
                },
                Volume {
                    name: "tmp".into(),
                    empty_dir: Some(EmptyDirVolumeSource::default()),
                    ..Volume::default()
                },
            ]),
            ..PodSpec::default()
        }),
    }
}

fn node_container(cluster: &TinyRedisCluster) -> Container {
    let spec = &cluster.spec;
    Container {
        name: "tinyredis".into(),
        image: Some(cluster.image().into()),
        image_pull_policy: spec.image_pull_policy.map(|p| p.as_str().into()),
        command: Some(vec!["tinyredis".into()]),
        args: Some(node_args(cluster)),
        env: Some(node_env(cluster)),
        ports: Some(vec![
            container_port("redis", REDIS_PORT),
            container_port("raft", RAFT_PORT),
            container_port("http", HTTP_PORT),
        ]),
        resources: spec.resources.clone(),
        readiness_probe: Some(http_probe("/readyz", 5, 3)),
        liveness_probe: Some(Probe {
            initial_delay_seconds: Some(10),
            ..http_probe("/healthz", 10, 6)
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![
            mount(DATA_VOLUME, DATA_DIR, false),
            mount("config", CONFIG_DIR, true),
            mount("tmp", "/tmp", false),
        ]),
        ..Container::default()
    }
}

/// `tinyredis node` arguments. The pod's own name is its node id; the
/// advertised addresses are its headless-Service DNS name, which survives
/// rescheduling while pod IPs do not.
fn node_args(cluster: &TinyRedisCluster) -> Vec<String> {
    let dns = format!(
        "$(POD_NAME).{}.{}.svc",
        headless_service_name(cluster),
        namespace(cluster)
    );
    [
        "node",
        "--node-id",
        "$(POD_NAME)",
        "--host",
        "0.0.0.0",
        "--port",
        &REDIS_PORT.to_string(),
        "--raft-bind",
        &format!("0.0.0.0:{RAFT_PORT}"),
        "--raft-http",
        &format!("0.0.0.0:{HTTP_PORT}"),
        "--raft-advertise",
        &format!("{dns}:{RAFT_PORT}"),
        "--resp-advertise",
        &format!("{dns}:{REDIS_PORT}"),
        "--http-advertise",
        &format!("{dns}:{HTTP_PORT}"),
        "--raft-dir",
        DATA_DIR,
        "--config",
        &format!("{CONFIG_DIR}/{CONFIG_FILE}"),
    ]
    .map(String::from)
    .to_vec()
}

fn node_env(cluster: &TinyRedisCluster) -> Vec<EnvVar> {
    let mut env = vec![EnvVar {
        name: "POD_NAME".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "metadata.name".into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }];
    if let Some(auth) = &cluster.spec.auth {
        let secret = &auth.secret_ref;
        env.push(secret_env(
            "TINYREDIS_CLUSTER_SECRET",
            &secret.name,
            &secret.cluster_secret_key,
        ));
        env.push(secret_env(
            "TINYREDIS_REQUIREPASS",
            &secret.name,
            &secret.password_key,
        ));
    }
    env
}

fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn container_port(name: &str, port: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: port,
        protocol: Some("TCP".into()),
        ..ContainerPort::default()
    }
}

fn http_probe(path: &str, period_seconds: i32, failure_threshold: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period_seconds),
        failure_threshold: Some(failure_threshold),
        timeout_seconds: Some(2),
        ..Probe::default()
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

fn data_claim(cluster: &TinyRedisCluster) -> PersistentVolumeClaim {
    let storage = &cluster.spec.storage;
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(DATA_VOLUME.into()),
            labels: Some(labels(cluster, Component::Node)),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: storage.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    storage.size.clone(),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::fixtures::cluster;
    use crate::crd::DEFAULT_IMAGE;

    fn sts(spec_yaml: &str) -> StatefulSetSpec {
        statefulset(&cluster(spec_yaml), 3).spec
    }

    fn pod(spec: &StatefulSetSpec) -> &PodSpec {
        spec.template.spec.as_ref().unwrap()
    }

    fn env_value<'a>(container: &'a Container, name: &str) -> Option<&'a EnvVar> {
        container
            .env
            .as_ref()
            .unwrap()
            .iter()
            .find(|e| e.name == name)
    }

    #[test]
    fn replicas_come_from_the_orchestrator_not_the_spec() {
        let set = statefulset(&cluster("{replicas: 3}"), 5);
        assert_eq!(set.spec.replicas, Some(5));
    }

    #[test]
    fn pods_are_managed_in_parallel_updated_on_delete_and_keep_their_claims() {
        let spec = sts("");
        assert_eq!(spec.service_name.as_deref(), Some("demo-headless"));
        assert_eq!(spec.pod_management_policy.as_deref(), Some("Parallel"));
        assert_eq!(
            spec.update_strategy.unwrap().type_.as_deref(),
            Some("OnDelete")
        );
        let retention = spec.persistent_volume_claim_retention_policy.unwrap();
        assert_eq!(retention.when_scaled.as_deref(), Some("Retain"));
    }

    #[test]
    fn container_runs_the_node_with_advertised_dns_names() {
        let spec = sts("");
        let container = &pod(&spec).containers[0];
        assert_eq!(container.image.as_deref(), Some(DEFAULT_IMAGE));
        assert_eq!(
            container.command.as_deref(),
            Some(&["tinyredis".to_string()][..])
        );
        let args = container.args.as_ref().unwrap().join(" ");
        assert_eq!(
            args,
            "node --node-id $(POD_NAME) --host 0.0.0.0 --port 6379 \
             --raft-bind 0.0.0.0:7000 --raft-http 0.0.0.0:17000 \
             --raft-advertise $(POD_NAME).demo-headless.prod.svc:7000 \
             --resp-advertise $(POD_NAME).demo-headless.prod.svc:6379 \
             --http-advertise $(POD_NAME).demo-headless.prod.svc:17000 \
             --raft-dir /data --config /etc/tinyredis/tinyredis.conf"
        );
        let pod_name = env_value(container, "POD_NAME").unwrap();
        let field = pod_name
            .value_from
            .as_ref()
            .unwrap()
            .field_ref
            .as_ref()
            .unwrap();
        assert_eq!(field.field_path, "metadata.name");
    }

    #[test]
    fn probes_use_readyz_and_healthz_and_termination_is_graceful() {
        let spec = sts("");
        let container = &pod(&spec).containers[0];
        let path = |probe: &Option<Probe>| {
            probe
                .as_ref()
                .unwrap()
                .http_get
                .as_ref()
                .unwrap()
                .path
                .clone()
        };
        assert_eq!(path(&container.readiness_probe).as_deref(), Some("/readyz"));
        assert_eq!(path(&container.liveness_probe).as_deref(), Some("/healthz"));
        assert_eq!(pod(&spec).termination_grace_period_seconds, Some(60));
    }

    #[test]
    fn image_pull_policy_and_resources_land_on_the_container() {
        let spec = sts("{image: 'reg/tinyredis:9', imagePullPolicy: Always, \
              resources: {limits: {memory: 1Gi}, requests: {cpu: 250m}}}");
        let container = &pod(&spec).containers[0];
        assert_eq!(container.image.as_deref(), Some("reg/tinyredis:9"));
        assert_eq!(container.image_pull_policy.as_deref(), Some("Always"));
        let resources = container.resources.as_ref().unwrap();
        assert_eq!(resources.limits.as_ref().unwrap()["memory"].0, "1Gi");
        assert_eq!(resources.requests.as_ref().unwrap()["cpu"].0, "250m");
    }

    #[test]
    fn auth_secret_feeds_both_secrets_through_env() {
        let spec = sts("{auth: {secretRef: {name: creds, passwordKey: pw}}}");
        let container = &pod(&spec).containers[0];
        let secret_key = |name: &str| {
            let source = env_value(container, name)
                .unwrap()
                .value_from
                .as_ref()
                .unwrap();
            let selector = source.secret_key_ref.as_ref().unwrap();
            (selector.name.clone(), selector.key.clone())
        };
        assert_eq!(
            secret_key("TINYREDIS_REQUIREPASS"),
            ("creds".into(), "pw".into())
        );
        assert_eq!(
            secret_key("TINYREDIS_CLUSTER_SECRET"),
            ("creds".into(), "cluster-secret".into())
        );
    }

    #[test]
    fn no_auth_means_no_secret_env() {
        let spec = sts("");
        let container = &pod(&spec).containers[0];
        assert!(env_value(container, "TINYREDIS_REQUIREPASS").is_none());
        assert!(env_value(container, "TINYREDIS_CLUSTER_SECRET").is_none());
    }

    #[test]
    fn storage_lands_in_the_claim_template() {
        let spec = sts("{storage: {size: 20Gi, storageClassName: fast}}");
        let claim = &spec.volume_claim_templates.as_ref().unwrap()[0];
        assert_eq!(claim.metadata.name.as_deref(), Some("data"));
        let claim_spec = claim.spec.as_ref().unwrap();
        assert_eq!(claim_spec.storage_class_name.as_deref(), Some("fast"));
        let requests = claim_spec
            .resources
            .as_ref()
            .unwrap()
            .requests
            .as_ref()
            .unwrap();
        assert_eq!(requests["storage"].0, "20Gi");
        let mounts = pod(&spec).containers[0].volume_mounts.clone().unwrap();
        assert!(mounts
            .iter()
            .any(|m| m.name == "data" && m.mount_path == "/data"));
    }

    #[test]
    fn scheduling_fields_land_on_the_pod() {
        let spec = sts(
            "{nodeSelector: {disk: ssd}, priorityClassName: critical, \
              tolerations: [{key: dedicated, operator: Exists}], \
              topologySpreadConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}], \
              affinity: {podAntiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: \
                [{weight: 100, podAffinityTerm: {topologyKey: kubernetes.io/hostname}}]}}}",
        );
        let pod = pod(&spec);
        assert_eq!(pod.node_selector.as_ref().unwrap()["disk"], "ssd");
        assert_eq!(pod.priority_class_name.as_deref(), Some("critical"));
        assert_eq!(
            pod.tolerations.as_ref().unwrap()[0].key.as_deref(),
            Some("dedicated")
        );
        assert_eq!(
            pod.topology_spread_constraints.as_ref().unwrap()[0].topology_key,
            "zone"
        );
        assert!(pod.affinity.as_ref().unwrap().pod_anti_affinity.is_some());
        assert_eq!(pod.service_account_name.as_deref(), Some("demo"));
    }

    #[test]
    fn config_is_mounted_and_its_checksum_annotated() {
        let spec = sts("");
        let annotations = spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .clone()
            .unwrap();
        assert_eq!(
            annotations[CONFIG_CHECKSUM_ANNOTATION],
            config_checksum(&cluster(""))
        );
        let volumes = pod(&spec).volumes.clone().unwrap();
        let config = volumes.iter().find(|v| v.name == "config").unwrap();
        assert_eq!(config.config_map.as_ref().unwrap().name, "demo-config");
    }
}
