use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, PodSpec, PodTemplateSpec, Probe, SecurityContext, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::statefulset::REDIS_PORT;
use super::{
    child_meta, headless_service_name, labels, namespace, proxy_name, selector_labels,
    service_account_name, Component,
};
use crate::crd::TinyRedisCluster;

/// Port the proxy serves Prometheus metrics on.
pub const METRICS_PORT: i32 = 9121;

/// The leader-following proxy. It finds the nodes through the headless
/// Service's DNS records, so scaling the cluster needs no proxy restart.
pub fn deployment(cluster: &TinyRedisCluster) -> Deployment {
    let spec = &cluster.spec;
    let discover = format!(
        "{}.{}.svc:{REDIS_PORT}",
        headless_service_name(cluster),
        namespace(cluster)
    );
    let container = Container {
        name: "proxy".into(),
        image: Some(cluster.image().into()),
        image_pull_policy: spec.image_pull_policy.map(|p| p.as_str().into()),
        command: Some(vec!["tinyredis".into()]),
        args: Some(
            [
                "proxy",
                "--listen",
                &format!("0.0.0.0:{REDIS_PORT}"),
                "--discover",
                &discover,
                "--metrics-addr",
                &format!("0.0.0.0:{METRICS_PORT}"),
            ]
            .map(String::from)
            .to_vec(),
        ),
        ports: Some(vec![
            ContainerPort {
                name: Some("redis".into()),
                container_port: REDIS_PORT,
                ..ContainerPort::default()
            },
            ContainerPort {
                name: Some("metrics".into()),
                container_port: METRICS_PORT,
                ..ContainerPort::default()
            },
        ]),
        readiness_probe: Some(tcp_probe(5)),
        liveness_probe: Some(tcp_probe(10)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            ..SecurityContext::default()
        }),
        ..Container::default()
    };
    Deployment {
        metadata: child_meta(cluster, proxy_name(cluster), Component::Proxy),
        spec: DeploymentSpec {
            replicas: Some(spec.proxy.replicas),
            selector: LabelSelector {
                match_labels: Some(selector_labels(cluster, Component::Proxy)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(cluster, Component::Proxy)),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(service_account_name(cluster)),
                    automount_service_account_token: Some(false),
                    node_selector: spec.node_selector.clone(),
                    tolerations: spec.tolerations.clone(),
                    priority_class_name: spec.priority_class_name.clone(),
                    containers: vec![container],
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        },
        ..Deployment::default()
    }
}

fn tcp_probe(period_seconds: i32) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::String("redis".into()),
            ..TCPSocketAction::default()
        }),
        period_seconds: Some(period_seconds),
        ..Probe::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::fixtures::cluster;

    #[test]
    fn proxy_discovers_nodes_through_the_headless_service() {
        let deployment = deployment(&cluster("{image: 'reg/t:1', proxy: {replicas: 4}}"));
        assert_eq!(deployment.metadata.name.as_deref(), Some("demo-proxy"));
        let spec = deployment.spec;
        assert_eq!(spec.replicas, Some(4));
        let container = &spec.template.spec.unwrap().containers[0];
        assert_eq!(container.image.as_deref(), Some("reg/t:1"));
        assert_eq!(
            container.args.as_ref().unwrap().join(" "),
            "proxy --listen 0.0.0.0:6379 --discover demo-headless.prod.svc:6379 \
             --metrics-addr 0.0.0.0:9121"
        );
        assert_eq!(
            spec.selector.match_labels.unwrap()["app.kubernetes.io/component"],
            "proxy"
        );
    }
}
