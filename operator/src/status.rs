//! The status of a cluster, computed in one place from what the reconcile
//! saw and did.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::admin::MemberKind;
use crate::crd::{MemberRole, MemberStatus, Phase, TinyRedisCluster, TinyRedisClusterStatus};
use crate::orchestrate::{Observed, Plan, Step, WaitReason};

pub const READY: &str = "Ready";
pub const BOOTSTRAPPED: &str = "Bootstrapped";
pub const PROGRESSING: &str = "Progressing";
pub const DEGRADED: &str = "Degraded";

/// What a reconcile ended with.
pub enum Outcome<'a> {
    /// The spec failed validation; nothing was applied.
    InvalidSpec(String),
    /// `spec.paused`: nothing was looked at or changed.
    Paused,
    /// The auth Secret or one of its keys is missing.
    SecretMissing(String),
    Reconciled {
        observed: &'a Observed,
        plan: &'a Plan,
        /// Cluster id a bootstrap in this reconcile produced.
        bootstrapped_id: Option<String>,
        /// Why the planned step failed, if it did.
        step_error: Option<String>,
    },
}

/// One condition before timestamps are attached.
struct Cond {
    type_: &'static str,
    status: bool,
    reason: &'static str,
    message: String,
}

fn cond(
    type_: &'static str,
    status: bool,
    reason: &'static str,
    message: impl Into<String>,
) -> Cond {
    Cond {
        type_,
        status,
        reason,
        message: message.into(),
    }
}

/// The new status. Fields a reconcile did not look at (members, leader,
/// cluster id when invalid or paused) keep their previous values.
pub fn compute(cluster: &TinyRedisCluster, outcome: &Outcome, now: Time) -> TinyRedisClusterStatus {
    let previous = cluster.status.clone().unwrap_or_default();
    let mut status = TinyRedisClusterStatus {
        observed_generation: cluster.metadata.generation,
        ..previous.clone()
    };
    let (phase, conditions) = match outcome {
        Outcome::InvalidSpec(message) => (
            Phase::Invalid,
            vec![
                cond(READY, false, "InvalidSpec", message.clone()),
                cond(
                    PROGRESSING,
                    false,
                    "InvalidSpec",
                    "spec must be fixed first",
                ),
                cond(DEGRADED, true, "InvalidSpec", message.clone()),
            ],
        ),
        Outcome::Paused => (
            Phase::Paused,
            vec![cond(PROGRESSING, false, "Paused", "spec.paused is true")],
        ),
        Outcome::SecretMissing(message) => (
            Phase::Degraded,
            vec![
                cond(READY, false, "SecretNotFound", message.clone()),
                cond(DEGRADED, true, "SecretNotFound", message.clone()),
            ],
        ),
        Outcome::Reconciled {
            observed,
            plan,
            bootstrapped_id,
            step_error,
        } => {
            status.cluster_id = bootstrapped_id
                .clone()
                .or_else(|| plan.view.cluster_id.clone())
                .or(previous.cluster_id);
            status.leader = plan.view.leader.clone();
            status.members = members(observed, plan);
            status.ready_replicas = observed
                .pods
                .iter()
                .filter(|p| p.ready && p.ordinal < observed.desired_replicas)
                .count() as i32;
            reconciled_conditions(cluster, &status, plan, step_error.as_deref())
        }
    };
    status.phase = Some(phase);
    status.conditions = merge_conditions(
        &previous.conditions,
        conditions,
        cluster.metadata.generation,
        now,
    );
    status
}

fn members(observed: &Observed, plan: &Plan) -> Vec<MemberStatus> {
    plan.view
        .members
        .iter()
        .map(|m| MemberStatus {
            id: m.id.clone(),
            address: m.resp_addr.clone(),
            role: match m.role {
                MemberKind::Voter => MemberRole::Voter,
                MemberKind::Learner => MemberRole::Learner,
            },
            ready: observed
                .ordinal_of(&m.id)
                .and_then(|o| observed.pods.iter().find(|p| p.ordinal == o))
                .is_some_and(|p| p.ready),
            lag: m.lag,
        })
        .collect()
}

fn reconciled_conditions(
    cluster: &TinyRedisCluster,
    status: &TinyRedisClusterStatus,
    plan: &Plan,
    step_error: Option<&str>,
) -> (Phase, Vec<Cond>) {
    let desired = cluster.spec.replicas;
    let bootstrapped = status.cluster_id.is_some();
    let all_ready = status.ready_replicas == desired
        && status.members.len() == desired as usize
        && status
            .members
            .iter()
            .all(|m| m.ready && m.role == MemberRole::Voter);
    let ready = status.leader.is_some() && all_ready;
    let (progress_reason, progress_message) = progress(&plan.step);
    let degraded = step_error
        .map(|e| ("MembershipChangeFailed", e.to_string()))
        .or_else(|| degraded_wait(&plan.step));
    let phase = if degraded.is_some() {
        Phase::Degraded
    } else if !bootstrapped {
        Phase::Bootstrapping
    } else if matches!(plan.step, Step::RestartPod { .. })
        || (matches!(plan.step, Step::TransferLeadership { .. })
            && status.members.len() == desired as usize)
    {
        Phase::Updating
    } else if plan.step != Step::Steady {
        Phase::Scaling
    } else if ready {
        Phase::Running
    } else {
        Phase::Pending
    };
    let conditions = vec![
        if ready {
            cond(
                READY,
                true,
                "AllMembersReady",
                format!("{desired} of {desired} members ready"),
            )
        } else if status.leader.is_none() {
            cond(READY, false, "NoLeader", "no Raft leader is known")
        } else {
            cond(
                READY,
                false,
                "MembersNotReady",
                format!("{} of {desired} members ready", status.ready_replicas),
            )
        },
        if bootstrapped {
            cond(
                BOOTSTRAPPED,
                true,
                "ClusterInitialized",
                "the Raft cluster exists",
            )
        } else {
            cond(
                BOOTSTRAPPED,
                false,
                "WaitingForBootstrap",
                "pod 0 has not been initialised yet",
            )
        },
        cond(
            PROGRESSING,
            plan.step != Step::Steady,
            progress_reason,
            progress_message,
        ),
        match degraded {
            Some((reason, message)) => cond(DEGRADED, true, reason, message),
            None => cond(DEGRADED, false, "AsExpected", "no fault observed"),
        },
    ];
    (phase, conditions)
}

/// Reason and message of the Progressing condition for a step.
fn progress(step: &Step) -> (&'static str, String) {
    match step {
        Step::Bootstrap { pod } => ("Bootstrapping", format!("initialising {pod}")),
        Step::Join { pod, .. } => ("JoiningMember", format!("adding {pod} as a learner")),
        Step::Promote { member, .. } => ("PromotingMember", format!("promoting {member} to voter")),
        Step::TransferLeadership { leader, to } => (
            "TransferringLeadership",
            format!(
                "moving leadership off {leader} to {}",
                to.as_deref().unwrap_or("any voter")
            ),
        ),
        Step::RemoveMember { member, .. } => ("RemovingMember", format!("removing {member}")),
        Step::ResetPod { ordinal } => (
            "ResettingPod",
            format!("clearing stale state of pod {ordinal}"),
        ),
        Step::RestartPod { ordinal } => ("RollingUpdate", format!("restarting pod {ordinal}")),
        Step::DeleteClaim { ordinal } => (
            "DeletingClaim",
            format!("deleting the PVC of pod {ordinal}"),
        ),
        Step::Wait(reason) => ("Waiting", format!("{reason:?}")),
        Step::Steady => ("Converged", "membership and pods match the spec".into()),
    }
}

/// Waits that need attention rather than patience.
fn degraded_wait(step: &Step) -> Option<(&'static str, String)> {
    match step {
        Step::Wait(WaitReason::NoLeader) => {
            Some(("NoLeader", "no node reports being the Raft leader".into()))
        }
        Step::Wait(WaitReason::QuorumAtRisk) => Some((
            "QuorumAtRisk",
            "too few ready voters to change the membership safely".into(),
        )),
        Step::Wait(WaitReason::ClusterStateLost) => Some((
            "ClusterStateLost",
            "every node lost its Raft state; bootstrap a new cluster by clearing status.clusterId"
                .into(),
        )),
        Step::Wait(WaitReason::ForeignClusterState { ordinal }) => Some((
            "ForeignClusterState",
            format!("pod {ordinal} holds state of another Raft cluster"),
        )),
        _ => None,
    }
}

/// Conditions with `lastTransitionTime` kept when their status did not change.
fn merge_conditions(
    previous: &[Condition],
    new: Vec<Cond>,
    generation: Option<i64>,
    now: Time,
) -> Vec<Condition> {
    new.into_iter()
        .map(|c| {
            let status = if c.status { "True" } else { "False" };
            let last_transition_time = previous
                .iter()
                .find(|p| p.type_ == c.type_ && p.status == status)
                .map_or_else(|| now.clone(), |p| p.last_transition_time.clone());
            Condition {
                type_: c.type_.into(),
                status: status.into(),
                reason: c.reason.into(),
                message: c.message,
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::fixtures::cluster;
    use crate::orchestrate::ClusterView;

    fn time(seconds: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(seconds).unwrap())
    }

    fn condition<'a>(status: &'a TinyRedisClusterStatus, type_: &str) -> &'a Condition {
        status.conditions.iter().find(|c| c.type_ == type_).unwrap()
    }

    #[test]
    fn invalid_spec_is_degraded_with_the_message() {
        let status = compute(
            &cluster(""),
            &Outcome::InvalidSpec("spec.replicas: bad".into()),
            time(1),
        );
        assert_eq!(status.phase, Some(Phase::Invalid));
        let degraded = condition(&status, DEGRADED);
        assert_eq!(
            (degraded.status.as_str(), degraded.reason.as_str()),
            ("True", "InvalidSpec")
        );
        assert_eq!(degraded.message, "spec.replicas: bad");
    }

    #[test]
    fn before_bootstrap_the_cluster_is_not_bootstrapped_nor_ready() {
        let observed = Observed {
            name: "demo".into(),
            desired_replicas: 3,
            ..Observed::default()
        };
        let plan = Plan {
            statefulset_replicas: 3,
            step: Step::Bootstrap {
                pod: "demo-0".into(),
            },
            view: ClusterView::default(),
        };
        let outcome = Outcome::Reconciled {
            observed: &observed,
            plan: &plan,
            bootstrapped_id: None,
            step_error: None,
        };
        let status = compute(&cluster(""), &outcome, time(1));
        assert_eq!(status.phase, Some(Phase::Bootstrapping));
        assert_eq!(condition(&status, BOOTSTRAPPED).status, "False");
        assert_eq!(condition(&status, PROGRESSING).reason, "Bootstrapping");
        assert_eq!(condition(&status, READY).reason, "NoLeader");
    }

    #[test]
    fn a_failed_step_makes_the_cluster_degraded() {
        let observed = Observed {
            name: "demo".into(),
            desired_replicas: 3,
            ..Observed::default()
        };
        let plan = Plan {
            statefulset_replicas: 3,
            step: Step::Bootstrap {
                pod: "demo-0".into(),
            },
            view: ClusterView::default(),
        };
        let outcome = Outcome::Reconciled {
            observed: &observed,
            plan: &plan,
            bootstrapped_id: None,
            step_error: Some("node unreachable".into()),
        };
        let status = compute(&cluster(""), &outcome, time(1));
        assert_eq!(status.phase, Some(Phase::Degraded));
        assert_eq!(
            condition(&status, DEGRADED).reason,
            "MembershipChangeFailed"
        );
    }

    #[test]
    fn transition_time_moves_only_when_the_status_flips() {
        let mut cluster = cluster("");
        cluster.status = Some(compute(&cluster, &Outcome::Paused, time(1)));
        let same = compute(&cluster, &Outcome::Paused, time(2));
        assert_eq!(condition(&same, PROGRESSING).last_transition_time, time(1));
        let flipped = compute(&cluster, &Outcome::InvalidSpec("x".into()), time(3));
        assert_eq!(condition(&flipped, DEGRADED).last_transition_time, time(3));
    }
}
