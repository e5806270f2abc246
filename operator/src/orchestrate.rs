//! Raft membership decisions as a pure function of what was observed.
//!
//! Each reconcile observes the pods and their admin `/status`, calls
//! [`plan`], and carries out at most one [`Step`]. One membership change per
//! reconcile keeps every change small enough to be safe on its own: the next
//! reconcile observes its effect before deciding anything else.

use crate::admin::{MemberKind, NodeRole, NodeStatus};

/// A learner this close to the leader's log is promoted to voter.
pub const PROMOTE_MAX_LAG: u64 = 10;

/// Everything the decision needs, gathered by the reconciler.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// Name of the StatefulSet; pods are `<name>-<ordinal>`.
    pub name: String,
    /// `spec.replicas`.
    pub desired_replicas: i32,
    /// Current `spec.replicas` of the StatefulSet (0 before it exists).
    pub statefulset_replicas: i32,
    /// Revision new pods are created at (StatefulSet `status.updateRevision`).
    pub update_revision: Option<String>,
    /// `status.clusterId` recorded at bootstrap.
    pub recorded_cluster_id: Option<String>,
    /// Pods that exist, in any order.
    pub pods: Vec<PodView>,
    /// Ordinals that have a PVC.
    pub claims: Vec<i32>,
}

/// One pod as Kubernetes and its node see it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PodView {
    pub ordinal: i32,
    /// Kubernetes readiness (the node's `/readyz`).
    pub ready: bool,
    /// StatefulSet revision the pod was created at.
    pub revision: Option<String>,
    /// `GET /status`, or None when the admin API did not answer.
    pub node: Option<NodeStatus>,
}

/// What to do in this reconcile, besides applying the children.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Replicas to give the StatefulSet: never fewer than the pods that are
    /// still Raft members, so a member is removed before its pod goes.
    pub statefulset_replicas: i32,
    pub step: Step,
    /// The cluster as understood while planning, for the status.
    pub view: ClusterView,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClusterView {
    pub cluster_id: Option<String>,
    pub leader: Option<String>,
    /// Membership as the leader reports it; empty when no leader is known.
    pub members: Vec<crate::admin::Member>,
}

/// One action. Node ids are pod names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Initialise this pod as a one-voter cluster.
    Bootstrap {
        pod: String,
    },
    /// Add the pod as a learner through the leader.
    Join {
        pod: String,
        leader: String,
    },
    Promote {
        member: String,
        leader: String,
    },
    /// Move leadership off `leader`, to `to` when given.
    TransferLeadership {
        leader: String,
        to: Option<String>,
    },
    RemoveMember {
        member: String,
        leader: String,
        reason: RemoveReason,
    },
    /// A pod holding Raft state of this cluster but no longer a member
    /// (removed earlier, PVC kept): delete its PVC and pod so it comes back
    /// empty and can join afresh.
    ResetPod {
        ordinal: i32,
    },
    /// Delete a pod running an old revision so the StatefulSet recreates it.
    RestartPod {
        ordinal: i32,
    },
    /// Delete the PVC of an ordinal no longer in the cluster.
    DeleteClaim {
        ordinal: i32,
    },
    /// Nothing can be done safely now.
    Wait(WaitReason),
    /// Membership and revisions match the spec.
    Steady,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveReason {
    ScaleDown,
    /// The member's pod lost its data; it is removed and then re-added,
    /// because a voter that forgot its votes could elect two leaders.
    Rejoin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitReason {
    /// A pod the next step needs has no answering admin API yet.
    PodNotReachable {
        ordinal: i32,
    },
    NoLeader,
    LearnerCatchingUp {
        member: String,
    },
    /// Removing another voter now could leave the rest without a quorum.
    QuorumAtRisk,
    /// A rolling update waits for every member to be ready and caught up.
    ClusterNotHealthy,
    /// Nodes report another cluster id than the one recorded at bootstrap.
    ForeignClusterState {
        ordinal: i32,
    },
    /// A cluster was bootstrapped but no node has state any more; creating
    /// a new one would silently lose everything, so a human decides.
    ClusterStateLost,
}

impl Observed {
    fn pod(&self, ordinal: i32) -> Option<&PodView> {
        self.pods.iter().find(|p| p.ordinal == ordinal)
    }

    fn node(&self, ordinal: i32) -> Option<&NodeStatus> {
        self.pod(ordinal).and_then(|p| p.node.as_ref())
    }

    pub fn pod_name(&self, ordinal: i32) -> String {
        format!("{}-{ordinal}", self.name)
    }

    /// Ordinal of a node id, or None for ids that are not our pods.
    pub fn ordinal_of(&self, id: &str) -> Option<i32> {
        id.strip_prefix(&self.name)?
            .strip_prefix('-')?
            .parse()
            .ok()
            .filter(|o: &i32| *o >= 0)
    }

    fn is_staying(&self, id: &str) -> bool {
        self.ordinal_of(id)
            .is_some_and(|o| o < self.desired_replicas)
    }
}

/// Decides the next step. Checks run in order of urgency: a cluster must
/// exist, then have a leader; broken members are repaired before the size
/// changes; the size converges before images are rolled.
pub fn plan(observed: &Observed) -> Plan {
    let cluster_id = cluster_id(observed);
    let leader = leader_status(observed);
    let view = ClusterView {
        cluster_id: cluster_id.clone(),
        leader: leader.map(|l| l.id.clone()),
        members: leader.map(|l| l.members.clone()).unwrap_or_default(),
    };
    let step = match (&cluster_id, leader) {
        (None, _) => bootstrap_step(observed),
        (Some(_), None) => Step::Wait(WaitReason::NoLeader),
        (Some(id), Some(leader)) => membership_step(observed, id, leader),
    };
    Plan {
        statefulset_replicas: statefulset_replicas(observed, &view),
        step,
        view,
    }
}

/// Stands for the cluster of nodes that hold Raft state but report no
/// cluster id, when the operator recorded none either.
pub const UNREPORTED_CLUSTER_ID: &str = "unreported";

/// The cluster a node belongs to. Nodes that do not report a `cluster_id`
/// (the field is optional in what `tinyredis node` answers) but hold Raft
/// state are taken to belong to the recorded cluster: the operator cannot
/// tell a foreign cluster's node from its own then, but it can still tell
/// an empty node from one with state, which is what bootstrap, rejoin and
/// reset decide on.
fn node_cluster_id(observed: &Observed, node: &NodeStatus) -> Option<String> {
    if let Some(id) = &node.cluster_id {
        return Some(id.clone());
    }
    (node.role != NodeRole::Uninitialized).then(|| {
        observed
            .recorded_cluster_id
            .clone()
            .unwrap_or_else(|| UNREPORTED_CLUSTER_ID.into())
    })
}

/// The cluster id the nodes agree on: the recorded one if any node has it,
/// else the one a node reports when none was recorded (the operator may have
/// stopped between `/init` and writing the status).
fn cluster_id(observed: &Observed) -> Option<String> {
    let mut reported = observed
        .pods
        .iter()
        .filter_map(|p| node_cluster_id(observed, p.node.as_ref()?));
    match &observed.recorded_cluster_id {
        Some(recorded) => reported.find(|id| id == recorded),
        None => reported.next(),
    }
}

/// The reachable node that says it leads, the highest term winning if a
/// deposed leader has not noticed yet.
fn leader_status(observed: &Observed) -> Option<&NodeStatus> {
    observed
        .pods
        .iter()
        .filter_map(|p| p.node.as_ref())
        .filter(|n| n.role == NodeRole::Leader)
        .max_by_key(|n| n.term)
}

fn statefulset_replicas(observed: &Observed, view: &ClusterView) -> i32 {
    let floor = if view.leader.is_some() {
        view.members
            .iter()
            .filter_map(|m| observed.ordinal_of(&m.id))
            .map(|o| o + 1)
            .max()
            .unwrap_or(0)
    } else {
        // Without a leader the membership is unknown: never shrink blindly.
        observed.statefulset_replicas
    };
    observed.desired_replicas.max(floor)
}

fn bootstrap_step(observed: &Observed) -> Step {
    if observed.recorded_cluster_id.is_some() {
        let foreign = observed.pods.iter().find(|p| {
            p.node
                .as_ref()
                .is_some_and(|n| node_cluster_id(observed, n).is_some())
        });
        return Step::Wait(match foreign {
            Some(pod) => WaitReason::ForeignClusterState {
                ordinal: pod.ordinal,
            },
            None => WaitReason::ClusterStateLost,
        });
    }
    match observed.node(0) {
        Some(node) if node.role == NodeRole::Uninitialized => Step::Bootstrap {
            pod: observed.pod_name(0),
        },
        _ => Step::Wait(WaitReason::PodNotReachable { ordinal: 0 }),
    }
}

fn membership_step(observed: &Observed, cluster_id: &str, leader: &NodeStatus) -> Step {
    rejoin_step(observed, leader)
        .or_else(|| scale_down_step(observed, leader))
        .or_else(|| promote_step(observed, leader))
        .or_else(|| scale_up_step(observed, cluster_id, leader))
        .or_else(|| claim_cleanup_step(observed, leader))
        .or_else(|| rolling_update_step(observed, leader))
        .unwrap_or(Step::Steady)
}

/// A voter whose pod answers as uninitialized lost its PVC.
fn rejoin_step(observed: &Observed, leader: &NodeStatus) -> Option<Step> {
    let wiped = leader.members.iter().find(|m| {
        m.role == MemberKind::Voter
            && observed
                .ordinal_of(&m.id)
                .and_then(|o| observed.node(o))
                .is_some_and(|n| n.role == NodeRole::Uninitialized)
    })?;
    Some(Step::RemoveMember {
        member: wiped.id.clone(),
        leader: leader.id.clone(),
        reason: RemoveReason::Rejoin,
    })
}

/// Members beyond `spec.replicas` leave one at a time, highest ordinal
/// first, learners before voters, never while they lead.
fn scale_down_step(observed: &Observed, leader: &NodeStatus) -> Option<Step> {
    let leaving = leader
        .members
        .iter()
        .filter(|m| !observed.is_staying(&m.id))
        .max_by_key(|m| (m.role == MemberKind::Learner, observed.ordinal_of(&m.id)))?;
    if !observed.is_staying(&leader.id) {
        let to = best_voter(observed, leader, |id| observed.is_staying(id));
        return Some(match to {
            Some(to) => Step::TransferLeadership {
                leader: leader.id.clone(),
                to: Some(to),
            },
            None => Step::Wait(WaitReason::QuorumAtRisk),
        });
    }
    if leaving.role == MemberKind::Voter && !quorum_survives_removal(observed, leader, &leaving.id)
    {
        return Some(Step::Wait(WaitReason::QuorumAtRisk));
    }
    Some(Step::RemoveMember {
        member: leaving.id.clone(),
        leader: leader.id.clone(),
        reason: RemoveReason::ScaleDown,
    })
}

/// True when, without `removed`, a majority of the remaining voters is
/// ready, so the cluster keeps committing after the change.
fn quorum_survives_removal(observed: &Observed, leader: &NodeStatus, removed: &str) -> bool {
    let remaining: Vec<_> = leader
        .members
        .iter()
        .filter(|m| m.role == MemberKind::Voter && m.id != removed)
        .collect();
    let ready = remaining
        .iter()
        .filter(|m| m.id == leader.id || is_pod_ready(observed, &m.id))
        .count();
    ready > remaining.len() / 2
}

fn is_pod_ready(observed: &Observed, id: &str) -> bool {
    observed
        .ordinal_of(id)
        .and_then(|o| observed.pod(o))
        .is_some_and(|p| p.ready)
}

/// The voter other than the leader best placed to take over: ready,
/// accepted by `eligible`, least behind.
fn best_voter(
    observed: &Observed,
    leader: &NodeStatus,
    eligible: impl Fn(&str) -> bool,
) -> Option<String> {
    leader
        .members
        .iter()
        .filter(|m| m.role == MemberKind::Voter && m.id != leader.id)
        .filter(|m| eligible(&m.id) && is_pod_ready(observed, &m.id))
        .min_by_key(|m| (m.lag.unwrap_or(u64::MAX), observed.ordinal_of(&m.id)))
        .map(|m| m.id.clone())
}

fn promote_step(observed: &Observed, leader: &NodeStatus) -> Option<Step> {
    let learner = leader
        .members
        .iter()
        .filter(|m| m.role == MemberKind::Learner && observed.is_staying(&m.id))
        .min_by_key(|m| observed.ordinal_of(&m.id))?;
    Some(match learner.lag {
        Some(lag) if lag <= PROMOTE_MAX_LAG => Step::Promote {
            member: learner.id.clone(),
            leader: leader.id.clone(),
        },
        _ => Step::Wait(WaitReason::LearnerCatchingUp {
            member: learner.id.clone(),
        }),
    })
}

/// The lowest ordinal below `spec.replicas` that is not a member joins.
fn scale_up_step(observed: &Observed, cluster_id: &str, leader: &NodeStatus) -> Option<Step> {
    let ordinal = (0..observed.desired_replicas)
        .find(|o| !leader.members.iter().any(|m| m.id == observed.pod_name(*o)))?;
    Some(match observed.node(ordinal) {
        None => Step::Wait(WaitReason::PodNotReachable { ordinal }),
        Some(node) => match node_cluster_id(observed, node).as_deref() {
            None => Step::Join {
                pod: observed.pod_name(ordinal),
                leader: leader.id.clone(),
            },
            Some(id) if id == cluster_id => Step::ResetPod { ordinal },
            Some(_) => Step::Wait(WaitReason::ForeignClusterState { ordinal }),
        },
    })
}

/// PVCs of ordinals that are gone from both the membership and the
/// StatefulSet are deleted, highest first.
fn claim_cleanup_step(observed: &Observed, leader: &NodeStatus) -> Option<Step> {
    let ordinal = observed
        .claims
        .iter()
        .copied()
        .filter(|o| *o >= observed.desired_replicas && *o >= observed.statefulset_replicas)
        .filter(|o| observed.pod(*o).is_none())
        .filter(|o| !leader.members.iter().any(|m| m.id == observed.pod_name(*o)))
        .max()?;
    Some(Step::DeleteClaim { ordinal })
}

/// Pods on an old revision are restarted one at a time while the cluster
/// is healthy: followers first (highest ordinal first), the leader last
/// after handing leadership to an up-to-date voter.
fn rolling_update_step(observed: &Observed, leader: &NodeStatus) -> Option<Step> {
    let revision = observed.update_revision.as_deref()?;
    let outdated = |o: i32| {
        observed
            .pod(o)
            .is_some_and(|p| p.revision.as_deref() != Some(revision))
    };
    let outdated_ordinals: Vec<i32> = (0..observed.desired_replicas)
        .filter(|o| outdated(*o))
        .collect();
    if outdated_ordinals.is_empty() {
        return None;
    }
    if !is_healthy(observed, leader) {
        return Some(Step::Wait(WaitReason::ClusterNotHealthy));
    }
    let leader_ordinal = observed.ordinal_of(&leader.id);
    if let Some(&follower) = outdated_ordinals
        .iter()
        .rev()
        .find(|o| Some(**o) != leader_ordinal)
    {
        return Some(Step::RestartPod { ordinal: follower });
    }
    let up_to_date = |id: &str| observed.ordinal_of(id).is_some_and(|o| !outdated(o));
    Some(match best_voter(observed, leader, up_to_date) {
        Some(to) => Step::TransferLeadership {
            leader: leader.id.clone(),
            to: Some(to),
        },
        // A one-member cluster has nobody to hand over to; restarting its
        // only pod is the update.
        None if leader.members.len() == 1 => Step::RestartPod {
            ordinal: leader_ordinal.unwrap_or(0),
        },
        None => Step::Wait(WaitReason::ClusterNotHealthy),
    })
}

/// Exactly the desired members, all voters, all ready and caught up.
fn is_healthy(observed: &Observed, leader: &NodeStatus) -> bool {
    leader.members.len() == observed.desired_replicas as usize
        && leader.members.iter().all(|m| {
            m.role == MemberKind::Voter
                && observed.is_staying(&m.id)
                && is_pod_ready(observed, &m.id)
                && m.lag.is_none_or(|lag| lag <= PROMOTE_MAX_LAG)
        })
}

#[cfg(test)]
mod tests;
