use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{child_meta, pdb_name, selector_labels, Component};
use crate::crd::TinyRedisCluster;

/// At most one data node voluntarily evicted at a time: losing two of three
/// voters at once would lose quorum.
pub fn pod_disruption_budget(cluster: &TinyRedisCluster) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: child_meta(cluster, pdb_name(cluster), Component::Node),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(cluster, Component::Node)),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::fixtures::cluster;

    #[test]
    fn allows_one_node_down_and_selects_only_nodes() {
        let spec = pod_disruption_budget(&cluster("")).spec.unwrap();
        assert_eq!(spec.max_unavailable, Some(IntOrString::Int(1)));
        let labels = spec.selector.unwrap().match_labels.unwrap();
        assert_eq!(labels["app.kubernetes.io/component"], "node");
        assert_eq!(labels["app.kubernetes.io/instance"], "demo");
    }
}
