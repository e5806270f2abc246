use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::proxy::METRICS_PORT;
use super::statefulset::{HTTP_PORT, RAFT_PORT, REDIS_PORT};
use super::{
    child_meta, client_service_name, headless_service_name, proxy_name, selector_labels, Component,
};
use crate::crd::TinyRedisCluster;

fn port(name: &str, port: i32, target: &str) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        port,
        target_port: Some(IntOrString::String(target.into())),
        protocol: Some("TCP".into()),
        ..ServicePort::default()
    }
}

/// Gives every data pod a stable DNS name (`<pod>.<name>-headless.<ns>.svc`)
/// that it advertises to its peers. Not-ready pods are published because a
/// node only becomes ready after it has joined, and joining needs its name.
pub fn headless_service(cluster: &TinyRedisCluster) -> Service {
    Service {
        metadata: child_meta(cluster, headless_service_name(cluster), Component::Node),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            publish_not_ready_addresses: Some(true),
            selector: Some(selector_labels(cluster, Component::Node)),
            ports: Some(vec![
                port("redis", REDIS_PORT, "redis"),
                port("raft", RAFT_PORT, "raft"),
                port("http", HTTP_PORT, "http"),
            ]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// Direct RESP access to the ready data nodes (followers answer with a
/// redirect to the leader, which cluster-aware clients follow).
pub fn client_service(cluster: &TinyRedisCluster) -> Service {
    Service {
        metadata: child_meta(cluster, client_service_name(cluster), Component::Node),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector_labels(cluster, Component::Node)),
            ports: Some(vec![port("redis", REDIS_PORT, "redis")]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The endpoint most clients should use: the proxy always reaches the leader.
pub fn proxy_service(cluster: &TinyRedisCluster) -> Service {
    let spec = &cluster.spec.proxy.service;
    Service {
        metadata: child_meta(cluster, proxy_name(cluster), Component::Proxy),
        spec: Some(ServiceSpec {
            type_: Some(spec.type_.as_str().into()),
            selector: Some(selector_labels(cluster, Component::Proxy)),
            ports: Some(vec![
                port("redis", spec.port, "redis"),
                port("metrics", METRICS_PORT, "metrics"),
            ]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::fixtures::cluster;

    fn port_numbers(service: &Service) -> Vec<(String, i32)> {
        let ports = service.spec.as_ref().unwrap().ports.as_ref().unwrap();
        ports
            .iter()
            .map(|p| (p.name.clone().unwrap(), p.port))
            .collect()
    }

    #[test]
    fn headless_service_publishes_not_ready_pods_on_every_port() {
        let service = headless_service(&cluster(""));
        let spec = service.spec.as_ref().unwrap();
        assert_eq!(service.metadata.name.as_deref(), Some("demo-headless"));
        assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
        assert_eq!(spec.publish_not_ready_addresses, Some(true));
        assert_eq!(
            spec.selector.as_ref().unwrap()["app.kubernetes.io/component"],
            "node"
        );
        assert_eq!(
            port_numbers(&service),
            [
                ("redis".into(), 6379),
                ("raft".into(), 7000),
                ("http".into(), 17000)
            ]
        );
    }

    #[test]
    fn client_service_selects_nodes_on_the_redis_port() {
        let service = client_service(&cluster(""));
        assert_eq!(service.metadata.name.as_deref(), Some("demo"));
        assert_eq!(port_numbers(&service), [("redis".into(), 6379)]);
    }

    #[test]
    fn proxy_service_takes_type_and_port_from_the_spec() {
        let service = proxy_service(&cluster(
            "{proxy: {service: {type: LoadBalancer, port: 6400}}}",
        ));
        let spec = service.spec.as_ref().unwrap();
        assert_eq!(service.metadata.name.as_deref(), Some("demo-proxy"));
        assert_eq!(spec.type_.as_deref(), Some("LoadBalancer"));
        assert_eq!(
            spec.selector.as_ref().unwrap()["app.kubernetes.io/component"],
            "proxy"
        );
        assert_eq!(
            port_numbers(&service),
            [("redis".into(), 6400), ("metrics".into(), 9121)]
        );
    }
}
