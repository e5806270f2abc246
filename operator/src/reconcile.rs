//! The reconcile pipeline: validate → observe → plan → build → apply →
//! delete orphans → one membership step → status.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ObjectReference, PersistentVolumeClaim, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{finalizer, Event as FinalizerEvent};
use kube::{Api, Client, Resource, ResourceExt};

use crate::admin::{AdminApi, AdminTarget, JoinRequest};
use crate::apply::{apply_children, delete_ignoring_absent, delete_orphans};
use crate::builders::{
    self, children_selector, namespace, pod_dns_name, pvc_name, FIELD_MANAGER, HTTP_PORT,
    RAFT_PORT, REDIS_PORT,
};
use crate::crd::{TinyRedisCluster, TinyRedisClusterStatus};
use crate::metrics::Metrics;
use crate::orchestrate::{self, Observed, Plan, PodView, RemoveReason, Step};
use crate::status::{self, Outcome};

/// Finalizer that lets the operator delete the cluster's PVCs before the
/// cluster goes.
pub const FINALIZER: &str = "tinyredis.io/cleanup";

/// Requeue delays: soon after a change to observe its effect, a little
/// later while waiting, and a periodic resync when all is well.
const AFTER_STEP: Duration = Duration::from_secs(2);
const WHILE_WAITING: Duration = Duration::from_secs(10);
const RESYNC: Duration = Duration::from_secs(60);

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub admin: Arc<dyn AdminApi>,
    pub metrics: Arc<Metrics>,
    recorder: Recorder,
    /// Consecutive failures per cluster, for the error backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// Per cluster: the leader the last leadership transfers were asked of,
    /// and how many were asked in a row without it losing leadership.
    transfers: Mutex<HashMap<String, (String, u32, Instant)>>,
}

impl Context {
    pub fn new(
        client: Client,
        admin: Arc<dyn AdminApi>,
        metrics: Arc<Metrics>,
        instance: Option<String>,
    ) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.into(),
            instance,
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            admin,
            metrics,
            failures: Mutex::default(),
            transfers: Mutex::default(),
        }
    }

    async fn publish(
        &self,
        cluster: &TinyRedisCluster,
        type_: EventType,
        reason: &str,
        note: String,
    ) {
        self.publish_about(cluster, type_, reason, note, None).await;
    }

    /// Publishes an event about the cluster that concerns one pod. The pod
    /// is the event's `related` object, which also keeps events of the same
    /// reason about different pods apart: the recorder folds repeats of a
    /// (reason, action, regarding, related) key into one series that keeps
    /// the first note, so "demo-1 removed" would otherwise be reported as a
    /// repeat of an earlier "demo-4 removed".
    async fn publish_about(
        &self,
        cluster: &TinyRedisCluster,
        type_: EventType,
        reason: &str,
        note: String,
        pod: Option<&str>,
    ) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: reason.into(),
            secondary: pod.map(|name| ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(name.into()),
                namespace: Some(namespace(cluster)),
                ..ObjectReference::default()
            }),
        };
        // An event that cannot be written must not fail the reconcile.
        if let Err(error) = self
            .recorder
            .publish(&event, &cluster.object_ref(&()))
            .await
        {
            tracing::warn!(%error, reason, "could not publish event");
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Finalizer(Box<kube::runtime::finalizer::Error<Error>>),
}

/// Entry point for the controller: runs the finalizer-wrapped pipeline and
/// records metrics.
pub async fn reconcile(cluster: Arc<TinyRedisCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let (ns, name) = (namespace(&cluster), cluster.name_any());
    let api = Api::<TinyRedisCluster>::namespaced(ctx.client.clone(), &ns);
    let result = finalizer(&api, FINALIZER, cluster, |event| async {
        match event {
            FinalizerEvent::Apply(cluster) => reconcile_cluster(&cluster, &ctx).await,
            FinalizerEvent::Cleanup(cluster) => cleanup(&cluster, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    ctx.metrics
        .reconciled(&ns, &name, started.elapsed(), result.is_ok());
    if result.is_ok() {
        ctx.failures
            .lock()
            .expect("failures lock")
            .remove(&format!("{ns}/{name}"));
    }
    result
}

/// Exponential backoff per cluster: 5s, 10s, 20s … capped at 5 minutes.
pub fn error_policy(cluster: Arc<TinyRedisCluster>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!("{}/{}", namespace(&cluster), cluster.name_any());
    let mut failures = ctx.failures.lock().expect("failures lock");
    let count = failures.entry(key).or_insert(0);
    *count = count.saturating_add(1);
    let delay = backoff(*count);
    tracing::warn!(%error, cluster = %cluster.name_any(), retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

fn backoff(failures: u32) -> Duration {
    let seconds = 5u64.saturating_mul(1 << failures.saturating_sub(1).min(6));
    Duration::from_secs(seconds.min(300))
}

async fn reconcile_cluster(cluster: &TinyRedisCluster, ctx: &Context) -> Result<Action, Error> {
    if let Err(errors) = cluster.spec.validate(&cluster.name_any()) {
        let message = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        ctx.publish(cluster, EventType::Warning, "InvalidSpec", message.clone())
            .await;
        write_status(ctx, cluster, &Outcome::InvalidSpec(message)).await?;
        return Ok(Action::await_change());
    }
    if cluster.spec.paused {
        write_status(ctx, cluster, &Outcome::Paused).await?;
        return Ok(Action::await_change());
    }
    let secret = match cluster_secret(ctx, cluster).await? {
        Ok(secret) => secret,
        Err(missing) => {
            ctx.publish(
                cluster,
                EventType::Warning,
                "SecretNotFound",
                missing.clone(),
            )
            .await;
            write_status(ctx, cluster, &Outcome::SecretMissing(missing)).await?;
            return Ok(Action::requeue(WHILE_WAITING));
        }
    };
    let observed = observe(ctx, cluster, &secret).await?;
    let mut plan = orchestrate::plan(&observed);
    restart_leader_after_failed_transfers(ctx, cluster, &observed, &mut plan);
    let children = builders::build(cluster, plan.statefulset_replicas);
    apply_children(&ctx.client, &children).await?;
    delete_orphans(&ctx.client, cluster, &children).await?;
    let (bootstrapped_id, step_error) =
        match execute(ctx, cluster, &observed, &plan, &secret).await? {
            Ok(bootstrapped_id) => (bootstrapped_id, None),
            Err(error) => {
                ctx.publish(
                    cluster,
                    EventType::Warning,
                    "MembershipChangeFailed",
                    error.clone(),
                )
                .await;
                (None, Some(error))
            }
        };
    ctx.metrics
        .cluster_observed(&namespace(cluster), &cluster.name_any(), &plan.view);
    let outcome = Outcome::Reconciled {
        observed: &observed,
        plan: &plan,
        bootstrapped_id,
        step_error,
    };
    write_status(ctx, cluster, &outcome).await?;
    Ok(Action::requeue(match plan.step {
        Step::Steady => RESYNC,
        Step::Wait(_) => WHILE_WAITING,
        _ => AFTER_STEP,
    }))
}

/// Leadership transfers asked of the same leader, and for how long, before
/// a rolling update restarts it anyway.
const MAX_TRANSFER_ATTEMPTS: u32 = 3;
const MAX_TRANSFER_TIME: Duration = Duration::from_secs(5);

/// A rolling update moves leadership off the last outdated pod before
/// restarting it. When the node does not hand leadership over (its
/// transfer is best effort: the chosen voter may lose its campaign), the
/// update must not stall forever: after a few attempts over a few seconds
/// the leader's pod is restarted like a follower's, and the others elect a
/// new leader. Only for a leader that stays a member: one that is leaving
/// (scale-down) keeps being asked, as the plan never removes a leader.
fn restart_leader_after_failed_transfers(
    ctx: &Context,
    cluster: &TinyRedisCluster,
    observed: &Observed,
    plan: &mut Plan,
) {
    let key = format!("{}/{}", namespace(cluster), cluster.name_any());
    let mut transfers = ctx.transfers.lock().expect("transfers lock");
    let leader = match &plan.step {
        Step::TransferLeadership { leader, .. } => leader.clone(),
        // The election a failed transfer causes shows as waits: they do not
        // count as progress.
        Step::Wait(_) => return,
        _ => {
            transfers.remove(&key);
            return;
        }
    };
    let now = Instant::now();
    let entry = transfers
        .entry(key)
        .or_insert_with(|| (leader.clone(), 0, now));
    if entry.0 != leader {
        *entry = (leader.clone(), 0, now);
    }
    entry.1 += 1;
    let ordinal = observed
        .ordinal_of(&leader)
        .filter(|o| *o < observed.desired_replicas);
    if let Some(ordinal) = ordinal {
        if entry.1 > MAX_TRANSFER_ATTEMPTS && now - entry.2 >= MAX_TRANSFER_TIME {
            tracing::warn!(%leader, attempts = entry.1 - 1, "leadership was not handed over; restarting the leader's pod");
            *entry = (leader, 0, now);
            plan.step = Step::RestartPod { ordinal };
        }
    }
}

/// The cluster secret for admin calls: Ok(None) without auth, Err(text)
/// when the Secret or its key is missing.
async fn cluster_secret(
    ctx: &Context,
    cluster: &TinyRedisCluster,
) -> Result<Result<Option<String>, String>, kube::Error> {
    let Some(auth) = &cluster.spec.auth else {
        return Ok(Ok(None));
    };
    let reference = &auth.secret_ref;
    let api = Api::<Secret>::namespaced(ctx.client.clone(), &namespace(cluster));
    let Some(secret) = api.get_opt(&reference.name).await? else {
        return Ok(Err(format!("Secret {} not found", reference.name)));
    };
    let data = secret.data.unwrap_or_default();
    for key in [&reference.cluster_secret_key, &reference.password_key] {
        if !data.contains_key(key) {
            return Ok(Err(format!("Secret {} has no key {key}", reference.name)));
        }
    }
    let value = String::from_utf8_lossy(&data[&reference.cluster_secret_key].0).into_owned();
    Ok(Ok(Some(value)))
}

fn admin_target(cluster: &TinyRedisCluster, pod: &str, secret: &Option<String>) -> AdminTarget {
    AdminTarget {
        http_addr: format!("{}:{HTTP_PORT}", pod_dns_name(cluster, pod)),
        secret: secret.clone(),
    }
}

/// Gathers the StatefulSet, pods, PVCs and every pod's admin `/status`.
async fn observe(
    ctx: &Context,
    cluster: &TinyRedisCluster,
    secret: &Option<String>,
) -> Result<Observed, kube::Error> {
    let ns = namespace(cluster);
    let name = cluster.name_any();
    let selector = children_selector(cluster);
    let statefulset = Api::<StatefulSet>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&name)
        .await?;
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), &ns)
        .list(&ListParams::default().labels(&selector))
        .await?;
    let claims = Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), &ns)
        .list_metadata(&ListParams::default().labels(&selector))
        .await?;
    let mut observed = Observed {
        name: name.clone(),
        desired_replicas: cluster.spec.replicas,
        statefulset_replicas: statefulset
            .as_ref()
            .and_then(|s| s.spec.replicas)
            .unwrap_or(0),
        update_revision: statefulset.and_then(|s| s.status?.update_revision),
        recorded_cluster_id: cluster.status.as_ref().and_then(|s| s.cluster_id.clone()),
        pods: Vec::new(),
        claims: Vec::new(),
    };
    observed.claims = claims
        .iter()
        .filter_map(|c| {
            c.name_any()
                .strip_prefix("data-")
                .and_then(|pod| observed.ordinal_of(pod))
        })
        .collect();
    let statuses = futures::future::join_all(pods.iter().map(|pod| {
        let target = admin_target(cluster, &pod.name_any(), secret);
        let admin = ctx.admin.clone();
        async move { admin.status(&target).await.ok() }
    }))
    .await;
    observed.pods = pods
        .iter()
        .zip(statuses)
        .filter_map(|(pod, node)| {
            Some(PodView {
                ordinal: observed.ordinal_of(&pod.name_any())?,
                ready: is_ready(pod),
                revision: pod.labels().get("controller-revision-hash").cloned(),
                node,
            })
        })
        .collect();
    Ok(observed)
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Carries out the planned step. Kubernetes errors fail the reconcile
/// (and back off); admin API errors are expected while pods come and go,
/// so they come back as Ok(Err(text)) for the status and an event.
/// On success, returns the cluster id a bootstrap produced.
async fn execute(
    ctx: &Context,
    cluster: &TinyRedisCluster,
    observed: &Observed,
    plan: &Plan,
    secret: &Option<String>,
) -> Result<Result<Option<String>, String>, kube::Error> {
    let target = |pod: &str| admin_target(cluster, pod, secret);
    let admin = &ctx.admin;
    // The pod the step is about, for the event.
    let pod = match &plan.step {
        Step::Bootstrap { pod } | Step::Join { pod, .. } => pod.clone(),
        Step::Promote { member, .. } | Step::RemoveMember { member, .. } => member.clone(),
        Step::TransferLeadership { leader, .. } => leader.clone(),
        Step::ResetPod { ordinal }
        | Step::RestartPod { ordinal }
        | Step::DeleteClaim { ordinal } => observed.pod_name(*ordinal),
        Step::Wait(_) | Step::Steady => return Ok(Ok(None)),
    };
    let (reason, note, result) = match &plan.step {
        Step::Bootstrap { pod } => {
            // The cluster's uid names the Raft cluster; a node that does
            // not keep the id it was given is recorded under it anyway.
            let proposed = cluster.uid();
            let result = admin.init(&target(pod), proposed.as_deref()).await;
            let id = result
                .as_ref()
                .ok()
                .and_then(|s| s.cluster_id.clone())
                .or(proposed);
            let note = format!("initialised {pod} as a one-member cluster");
            let event = ("Bootstrapped", pod.as_str());
            return Ok(finish(ctx, cluster, event, note, result.map(|_| id)).await);
        }
        Step::Join { pod, leader } => {
            let dns = pod_dns_name(cluster, pod);
            let request = JoinRequest {
                id: pod.clone(),
                raft_addr: format!("{dns}:{RAFT_PORT}"),
                resp_addr: format!("{dns}:{REDIS_PORT}"),
                http_addr: format!("{dns}:{HTTP_PORT}"),
                voter: false,
            };
            let result = admin.join(&target(leader), &request).await.map(drop);
            ("MemberJoined", format!("{pod} joined as a learner"), result)
        }
        Step::Promote { member, leader } => {
            let result = admin.promote(&target(leader), member).await.map(drop);
            (
                "MemberPromoted",
                format!("{member} promoted to voter"),
                result,
            )
        }
        Step::TransferLeadership { leader, to } => {
            let result = admin
                .transfer_leadership(&target(leader), to.as_deref())
                .await;
            let note = format!(
                "leadership moved off {leader} to {}",
                to.as_deref().unwrap_or("any voter")
            );
            ("LeadershipTransferred", note, result)
        }
        Step::RemoveMember {
            member,
            leader,
            reason,
        } => {
            let result = admin.remove(&target(leader), member).await.map(drop);
            let why = match reason {
                RemoveReason::ScaleDown => "scale-down",
                RemoveReason::Rejoin => "its data was lost; it will be re-added",
            };
            ("MemberRemoved", format!("{member} removed ({why})"), result)
        }
        Step::ResetPod { ordinal } => {
            delete_claim(ctx, cluster, *ordinal).await?;
            delete_pod(ctx, cluster, observed, *ordinal).await?;
            (
                "PodReset",
                format!("pod {ordinal} had stale Raft state; PVC and pod deleted"),
                Ok(()),
            )
        }
        Step::RestartPod { ordinal } => {
            delete_pod(ctx, cluster, observed, *ordinal).await?;
            (
                "PodRestarted",
                format!("pod {ordinal} restarted at the new revision"),
                Ok(()),
            )
        }
        Step::DeleteClaim { ordinal } => {
            delete_claim(ctx, cluster, *ordinal).await?;
            (
                "ClaimDeleted",
                format!("PVC of removed pod {ordinal} deleted"),
                Ok(()),
            )
        }
        Step::Wait(_) | Step::Steady => return Ok(Ok(None)),
    };
    Ok(finish(ctx, cluster, (reason, &pod), note, result.map(|()| None)).await)
}

/// Publishes the Normal event of a successful step and turns an admin
/// error into its text.
async fn finish<T>(
    ctx: &Context,
    cluster: &TinyRedisCluster,
    (reason, pod): (&str, &str),
    note: String,
    result: Result<T, crate::admin::AdminError>,
) -> Result<T, String> {
    match result {
        Ok(value) => {
            ctx.publish_about(cluster, EventType::Normal, reason, note, Some(pod))
                .await;
            Ok(value)
        }
        Err(error) => Err(error.to_string()),
    }
}

async fn delete_pod(
    ctx: &Context,
    cluster: &TinyRedisCluster,
    observed: &Observed,
    ordinal: i32,
) -> Result<(), kube::Error> {
    let api = Api::<Pod>::namespaced(ctx.client.clone(), &namespace(cluster));
    delete_ignoring_absent(&api, &observed.pod_name(ordinal)).await
}

async fn delete_claim(
    ctx: &Context,
    cluster: &TinyRedisCluster,
    ordinal: i32,
) -> Result<(), kube::Error> {
    let api = Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), &namespace(cluster));
    delete_ignoring_absent(&api, &pvc_name(cluster, ordinal)).await
}

async fn write_status(
    ctx: &Context,
    cluster: &TinyRedisCluster,
    outcome: &Outcome<'_>,
) -> Result<(), kube::Error> {
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let status: TinyRedisClusterStatus = status::compute(cluster, outcome, now);
    let patch = serde_json::json!({
        "apiVersion": "tinyredis.io/v1alpha1",
        "kind": "TinyRedisCluster",
        "status": status,
    });
    let api = Api::<TinyRedisCluster>::namespaced(ctx.client.clone(), &namespace(cluster));
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch_status(&cluster.name_any(), &params, &Patch::Apply(&patch))
        .await?;
    Ok(())
}

/// Deletion: the children go with their ownerReferences, but PVCs from the
/// claim template are not owned by the cluster. They are deleted here,
/// because a new cluster of the same name would otherwise start on the old
/// cluster's Raft state.
async fn cleanup(cluster: &TinyRedisCluster, ctx: &Context) -> Result<Action, Error> {
    let ns = namespace(cluster);
    let api = Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), &ns);
    let claims = api
        .list_metadata(&ListParams::default().labels(&children_selector(cluster)))
        .await?;
    for claim in claims {
        delete_ignoring_absent(&api, &claim.name_any()).await?;
    }
    ctx.metrics.forget(&ns, &cluster.name_any());
    ctx.publish(
        cluster,
        EventType::Normal,
        "Deleted",
        "cluster and its volumes deleted".into(),
    )
    .await;
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        let delays: Vec<u64> = [1, 2, 3, 7, 20].map(|n| backoff(n).as_secs()).to_vec();
        assert_eq!(delays, [5, 10, 20, 300, 300]);
    }
}
