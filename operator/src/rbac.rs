//! Every Kubernetes API call the operator makes, as data. Packaging
//! renders least-privilege RBAC from it and compares the chart with it;
//! the in-memory API tests check that each request the reconciler sends is
//! listed here.

/// Access to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiAccess {
    /// API group; "" is the core group.
    pub group: &'static str,
    /// Plural resource, with `/subresource` when it is one.
    pub resource: &'static str,
    pub verbs: &'static [&'static str],
}

/// Verbs of server-side-applied children: `create` and `patch` because an
/// apply that creates the object needs both, list/watch for the controller's
/// watches and orphan search, `delete` for orphans.
const CHILD_VERBS: &[&str] = &["create", "delete", "get", "list", "patch", "watch"];

pub const API_ACCESS: &[ApiAccess] = &[
    ApiAccess {
        group: "tinyredis.io",
        resource: "tinyredisclusters",
        // patch: the finalizer is added and removed with JSON patches.
        verbs: &["get", "list", "patch", "watch"],
    },
    ApiAccess {
        group: "tinyredis.io",
        resource: "tinyredisclusters/status",
        verbs: &["patch"],
    },
    ApiAccess {
        group: "apps",
        resource: "statefulsets",
        verbs: CHILD_VERBS,
    },
    ApiAccess {
        group: "apps",
        resource: "deployments",
        verbs: CHILD_VERBS,
    },
    ApiAccess {
        group: "",
        resource: "services",
        verbs: CHILD_VERBS,
    },
    ApiAccess {
        group: "",
        resource: "configmaps",
        verbs: CHILD_VERBS,
    },
    ApiAccess {
        group: "",
        resource: "serviceaccounts",
        verbs: CHILD_VERBS,
    },
    ApiAccess {
        group: "policy",
        resource: "poddisruptionbudgets",
        verbs: CHILD_VERBS,
    },
    ApiAccess {
        group: "",
        resource: "pods",
        // delete: rolling updates and resets of stale members.
        verbs: &["delete", "list", "watch"],
    },
    ApiAccess {
        group: "",
        resource: "persistentvolumeclaims",
        // delete: claims of removed members and of deleted clusters.
        verbs: &["delete", "list"],
    },
    ApiAccess {
        group: "",
        resource: "secrets",
        // get: the cluster secret guarding the nodes' admin API.
        verbs: &["get"],
    },
    ApiAccess {
        group: "events.k8s.io",
        resource: "events",
        verbs: &["create", "patch"],
    },
    ApiAccess {
        group: "coordination.k8s.io",
        resource: "leases",
        // Leader election between operator replicas.
        verbs: &["create", "get", "update"],
    },
];

/// Whether the table allows `verb` on `group`/`resource`.
pub fn allows(group: &str, resource: &str, verb: &str) -> bool {
    API_ACCESS
        .iter()
        .any(|a| a.group == group && a.resource == resource && a.verbs.contains(&verb))
}

/// The table as JSON (`tinyredis-operator rbac`), one object per resource,
/// for the packaging checks that compare the chart's RBAC rules with it.
pub fn api_access_json() -> String {
    let rows: Vec<_> = API_ACCESS
        .iter()
        .map(|a| serde_json::json!({"group": a.group, "resource": a.resource, "verbs": a.verbs}))
        .collect();
    serde_json::to_string_pretty(&rows).expect("JSON of static strings")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lists_every_row() {
        let rows: Vec<serde_json::Value> = serde_json::from_str(&api_access_json()).unwrap();
        assert_eq!(rows.len(), API_ACCESS.len());
        assert_eq!(rows[0]["resource"], API_ACCESS[0].resource);
        assert_eq!(rows[0]["verbs"][0], API_ACCESS[0].verbs[0]);
    }

    #[test]
    fn each_resource_is_listed_once_with_sorted_verbs() {
        for (i, access) in API_ACCESS.iter().enumerate() {
            let again = API_ACCESS[i + 1..]
                .iter()
                .any(|a| a.group == access.group && a.resource == access.resource);
            assert!(!again, "{} listed twice", access.resource);
            assert!(
                access.verbs.is_sorted(),
                "{} verbs unsorted",
                access.resource
            );
        }
    }

    #[test]
    fn secrets_are_read_only() {
        assert!(allows("", "secrets", "get"));
        assert!(!allows("", "secrets", "list"));
    }
}
