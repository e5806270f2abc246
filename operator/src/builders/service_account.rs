use k8s_openapi::api::core::v1::ServiceAccount;

use super::{child_meta, service_account_name, Component};
use crate::crd::TinyRedisCluster;

/// The data nodes' own identity. They never call the Kubernetes API, so no
/// token is mounted into them.
pub fn service_account(cluster: &TinyRedisCluster) -> ServiceAccount {
    ServiceAccount {
        metadata: child_meta(cluster, service_account_name(cluster), Component::Node),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::fixtures::cluster;

    #[test]
    fn token_is_not_mounted() {
        let account = service_account(&cluster(""));
        assert_eq!(account.metadata.name.as_deref(), Some("demo"));
        assert_eq!(account.automount_service_account_token, Some(false));
    }
}
