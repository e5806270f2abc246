use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;

use super::{child_meta, config_map_name, Component};
use crate::crd::{ReadMode, TinyRedisCluster};

/// File name of the node configuration inside the ConfigMap and the pod.
pub const CONFIG_FILE: &str = "tinyredis.conf";

/// The node settings of `spec.config` as a `tinyredis.conf` with
/// `key value` lines, the format `tinyredis node --config` reads.
pub fn config_map(cluster: &TinyRedisCluster) -> ConfigMap {
    ConfigMap {
        metadata: child_meta(cluster, config_map_name(cluster), Component::Node),
        data: Some(BTreeMap::from([(
            CONFIG_FILE.to_string(),
            config_file(cluster),
        )])),
        ..ConfigMap::default()
    }
}

fn config_file(cluster: &TinyRedisCluster) -> String {
    let config = &cluster.spec.config;
    let mut file = format!(
        "loglevel {}\nraft-snap-threshold {}\n",
        config.loglevel.as_str(),
        config.snapshot_threshold,
    );
    // Only when asked for: a node without `--forward-to-leader` refuses to
    // start on a config file naming it, and redirecting is its default.
    if config.read_mode == ReadMode::Forward {
        file.push_str("forward-to-leader yes\n");
    }
    file
}

/// Stable digest of the configuration, put on the pod template so that a
/// config change is a new StatefulSet revision and rolls the pods. FNV-1a
/// rather than std's hasher, whose output may change between Rust releases
/// and would restart every cluster on an operator upgrade.
pub fn config_checksum(cluster: &TinyRedisCluster) -> String {
    let digest = config_file(cluster)
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("{digest:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::fixtures::cluster;

    #[test]
    fn spec_config_lands_in_the_file() {
        let map = config_map(&cluster(
            "{config: {loglevel: debug, snapshotThreshold: 500, readMode: forward}}",
        ));
        assert_eq!(map.metadata.name.as_deref(), Some("demo-config"));
        assert_eq!(
            map.data.unwrap()[CONFIG_FILE],
            "loglevel debug\nraft-snap-threshold 500\nforward-to-leader yes\n"
        );
    }

    #[test]
    fn the_default_read_mode_names_no_forwarding() {
        let map = config_map(&cluster("{}"));
        assert_eq!(
            map.data.unwrap()[CONFIG_FILE],
            "loglevel info\nraft-snap-threshold 10000\n"
        );
    }

    #[test]
    fn checksum_changes_with_the_config_only() {
        let base = config_checksum(&cluster(""));
        assert_eq!(base, config_checksum(&cluster("{replicas: 5}")));
        assert_ne!(
            base,
            config_checksum(&cluster("{config: {loglevel: warn}}"))
        );
    }
}
