//! Writes the built children with server-side apply and deletes the ones a
//! previous spec built that the current one does not.

use std::fmt::Debug;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::builders::{children_selector, namespace, Children, FIELD_MANAGER};
use crate::crd::TinyRedisCluster;

/// Applies every child. `force` takes over fields another manager set
/// (e.g. `kubectl edit`), because the spec is the only source of truth.
pub async fn apply_children(client: &Client, children: &Children) -> Result<(), kube::Error> {
    apply(client, &children.service_account).await?;
    apply(client, &children.config_map).await?;
    apply(client, &children.headless_service).await?;
    apply(client, &children.client_service).await?;
    apply(client, &children.statefulset).await?;
    if let Some(pdb) = &children.pod_disruption_budget {
        apply(client, pdb).await?;
    }
    if let Some(deployment) = &children.proxy_deployment {
        apply(client, deployment).await?;
    }
    if let Some(service) = &children.proxy_service {
        apply(client, service).await?;
    }
    Ok(())
}

async fn apply<K>(client: &Client, object: &K) -> Result<K, kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned,
{
    let namespace = object.namespace().unwrap_or_default();
    let api = Api::<K>::namespaced(client.clone(), &namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&object.name_any(), &params, &Patch::Apply(object))
        .await
}

/// Deletes labelled children of the cluster that `children` no longer has.
pub async fn delete_orphans(
    client: &Client,
    cluster: &TinyRedisCluster,
    children: &Children,
) -> Result<(), kube::Error> {
    let ns = namespace(cluster);
    let selector = children_selector(cluster);
    let services: Vec<String> = [
        Some(&children.headless_service),
        Some(&children.client_service),
        children.proxy_service.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(ResourceExt::name_any)
    .collect();
    let deployments: Vec<String> = children
        .proxy_deployment
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    let pdbs: Vec<String> = children
        .pod_disruption_budget
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    delete_unlisted::<Service>(client, &ns, &selector, &services).await?;
    delete_unlisted::<Deployment>(client, &ns, &selector, &deployments).await?;
    delete_unlisted::<PodDisruptionBudget>(client, &ns, &selector, &pdbs).await?;
    delete_unlisted::<ConfigMap>(client, &ns, &selector, &[children.config_map.name_any()]).await?;
    delete_unlisted::<ServiceAccount>(
        client,
        &ns,
        &selector,
        &[children.service_account.name_any()],
    )
    .await?;
    delete_unlisted::<StatefulSet>(client, &ns, &selector, &[children.statefulset.name_any()])
        .await?;
    Ok(())
}

async fn delete_unlisted<K>(
    client: &Client,
    namespace: &str,
    selector: &str,
    keep: &[String],
) -> Result<(), kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + DeserializeOwned,
{
    let api = Api::<K>::namespaced(client.clone(), namespace);
    let existing = api
        .list_metadata(&ListParams::default().labels(selector))
        .await?;
    for object in existing {
        let name = object.name_any();
        if !keep.contains(&name) {
            tracing::info!(kind = K::kind(&()).as_ref(), %name, "deleting orphaned child");
            delete_ignoring_absent(&api, &name).await?;
        }
    }
    Ok(())
}

/// Deletes an object; one already gone is what we wanted.
pub async fn delete_ignoring_absent<K>(api: &Api<K>, name: &str) -> Result<(), kube::Error>
where
    K: Resource + Clone + Debug + DeserializeOwned,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error),
    }
}
