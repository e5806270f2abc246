use super::*;
use crate::admin::Member;

const CLUSTER: &str = "cid";

fn id(ordinal: i32) -> String {
    format!("demo-{ordinal}")
}

fn member(ordinal: i32, role: MemberKind, lag: u64) -> Member {
    let host = format!("{}.demo-headless.prod.svc", id(ordinal));
    Member {
        id: id(ordinal),
        raft_addr: format!("{host}:7000"),
        resp_addr: format!("{host}:6379"),
        http_addr: format!("{host}:17000"),
        role,
        matched_index: Some(10 - lag.min(10)),
        lag: Some(lag),
    }
}

fn node(ordinal: i32, role: NodeRole, members: Vec<Member>) -> NodeStatus {
    NodeStatus {
        id: id(ordinal),
        cluster_id: (role != NodeRole::Uninitialized).then(|| CLUSTER.to_string()),
        role,
        term: 1,
        leader_id: None,
        commit_index: 10,
        applied_index: 10,
        members,
    }
}

fn fresh_pod(ordinal: i32) -> PodView {
    PodView {
        ordinal,
        ready: false,
        revision: Some("r1".into()),
        node: Some(node(ordinal, NodeRole::Uninitialized, vec![])),
    }
}

/// `size` ready voters at revision r1, demo-0 leading, spec.replicas = size.
fn healthy(size: i32) -> Observed {
    let members: Vec<Member> = (0..size).map(|o| member(o, MemberKind::Voter, 0)).collect();
    let pods = (0..size)
        .map(|o| {
            let role = if o == 0 {
                NodeRole::Leader
            } else {
                NodeRole::Follower
            };
            PodView {
                ordinal: o,
                ready: true,
                revision: Some("r1".into()),
                node: Some(node(o, role, members.clone())),
            }
        })
        .collect();
    Observed {
        name: "demo".into(),
        desired_replicas: size,
        statefulset_replicas: size,
        update_revision: Some("r1".into()),
        recorded_cluster_id: Some(CLUSTER.into()),
        pods,
        claims: (0..size).collect(),
    }
}

fn leader_members(observed: &mut Observed) -> &mut Vec<Member> {
    let leader = observed
        .pods
        .iter_mut()
        .filter_map(|p| p.node.as_mut())
        .find(|n| n.role == NodeRole::Leader)
        .unwrap();
    &mut leader.members
}

fn set_leader(observed: &mut Observed, ordinal: i32) {
    let members = leader_members(observed).clone();
    for pod in &mut observed.pods {
        let node = pod.node.as_mut().unwrap();
        node.role = if pod.ordinal == ordinal {
            NodeRole::Leader
        } else {
            NodeRole::Follower
        };
        node.members = members.clone();
    }
}

#[test]
fn a_steady_cluster_needs_nothing() {
    let plan = plan(&healthy(3));
    assert_eq!(plan.step, Step::Steady);
    assert_eq!(plan.statefulset_replicas, 3);
    assert_eq!(plan.view.leader.as_deref(), Some("demo-0"));
}

#[test]
fn a_new_cluster_bootstraps_pod_zero_once_it_answers() {
    let mut observed = Observed {
        name: "demo".into(),
        desired_replicas: 3,
        ..Observed::default()
    };
    let waiting = plan(&observed);
    assert_eq!(
        waiting.step,
        Step::Wait(WaitReason::PodNotReachable { ordinal: 0 })
    );
    assert_eq!(
        waiting.statefulset_replicas, 3,
        "pods are created before bootstrap"
    );

    observed.pods = (0..3).map(fresh_pod).collect();
    assert_eq!(
        plan(&observed).step,
        Step::Bootstrap {
            pod: "demo-0".into()
        }
    );
}

#[test]
fn a_cluster_id_reported_but_not_recorded_is_adopted_not_rebootstrapped() {
    let mut observed = healthy(1);
    observed.recorded_cluster_id = None;
    let plan = plan(&observed);
    assert_eq!(plan.view.cluster_id.as_deref(), Some(CLUSTER));
    assert_eq!(plan.step, Step::Steady);
}

#[test]
fn all_nodes_empty_after_bootstrap_is_not_rebootstrapped() {
    let mut observed = healthy(3);
    observed.pods = (0..3).map(fresh_pod).collect();
    assert_eq!(
        plan(&observed).step,
        Step::Wait(WaitReason::ClusterStateLost)
    );
}

#[test]
fn nodes_of_another_cluster_are_never_adopted() {
    let mut observed = healthy(3);
    observed.recorded_cluster_id = Some("other".into());
    assert_eq!(
        plan(&observed).step,
        Step::Wait(WaitReason::ForeignClusterState { ordinal: 0 })
    );
}

#[test]
fn without_a_leader_nothing_changes_and_the_statefulset_keeps_its_size() {
    let mut observed = healthy(5);
    observed.desired_replicas = 3;
    for pod in &mut observed.pods {
        pod.node.as_mut().unwrap().role = NodeRole::Candidate;
    }
    let plan = plan(&observed);
    assert_eq!(plan.step, Step::Wait(WaitReason::NoLeader));
    assert_eq!(plan.statefulset_replicas, 5);
}

#[test]
fn scale_up_joins_the_lowest_missing_pod_as_learner() {
    let mut observed = healthy(3);
    observed.desired_replicas = 5;
    let waiting = plan(&observed);
    assert_eq!(waiting.statefulset_replicas, 5);
    assert_eq!(
        waiting.step,
        Step::Wait(WaitReason::PodNotReachable { ordinal: 3 })
    );

    observed.pods.extend([fresh_pod(3), fresh_pod(4)]);
    assert_eq!(
        plan(&observed).step,
        Step::Join {
            pod: "demo-3".into(),
            leader: "demo-0".into()
        }
    );
}

#[test]
fn a_learner_is_promoted_only_once_caught_up_and_before_the_next_join() {
    let mut observed = healthy(3);
    observed.desired_replicas = 5;
    observed.pods.extend([fresh_pod(3), fresh_pod(4)]);
    leader_members(&mut observed).push(member(3, MemberKind::Learner, 500));
    assert_eq!(
        plan(&observed).step,
        Step::Wait(WaitReason::LearnerCatchingUp {
            member: "demo-3".into()
        })
    );

    leader_members(&mut observed)[3].lag = Some(PROMOTE_MAX_LAG);
    assert_eq!(
        plan(&observed).step,
        Step::Promote {
            member: "demo-3".into(),
            leader: "demo-0".into()
        }
    );
}

#[test]
fn scale_down_removes_the_highest_member_before_shrinking_the_statefulset() {
    let mut observed = healthy(5);
    observed.desired_replicas = 3;
    let plan = plan(&observed);
    assert_eq!(plan.statefulset_replicas, 5, "pods stay until removed");
    assert_eq!(
        plan.step,
        Step::RemoveMember {
            member: "demo-4".into(),
            leader: "demo-0".into(),
            reason: RemoveReason::ScaleDown
        }
    );
}

#[test]
fn scale_down_shrinks_the_statefulset_as_members_leave() {
    let mut observed = healthy(5);
    observed.desired_replicas = 3;
    leader_members(&mut observed).truncate(4);
    let plan = plan(&observed);
    assert_eq!(plan.statefulset_replicas, 4);
    assert!(matches!(plan.step, Step::RemoveMember { ref member, .. } if member == "demo-3"));
}

#[test]
fn scale_down_moves_leadership_off_a_leaving_leader_first() {
    let mut observed = healthy(5);
    observed.desired_replicas = 3;
    set_leader(&mut observed, 4);
    assert_eq!(
        plan(&observed).step,
        Step::TransferLeadership {
            leader: "demo-4".into(),
            to: Some("demo-0".into())
        }
    );
}

#[test]
fn scale_down_removes_learners_before_voters() {
    let mut observed = healthy(3);
    observed.desired_replicas = 1;
    leader_members(&mut observed)[1].role = MemberKind::Learner;
    assert!(matches!(
        plan(&observed).step,
        Step::RemoveMember { ref member, .. } if member == "demo-1"
    ));
}

#[test]
fn scale_down_waits_when_removal_would_lose_quorum() {
    let mut observed = healthy(5);
    observed.desired_replicas = 3;
    for ordinal in [1, 2] {
        observed.pods[ordinal].ready = false;
    }
    assert_eq!(plan(&observed).step, Step::Wait(WaitReason::QuorumAtRisk));
}

#[test]
fn claims_of_removed_ordinals_are_deleted_after_their_pods_are_gone() {
    let mut observed = healthy(3);
    observed.claims = vec![0, 1, 2, 3, 4];
    assert_eq!(plan(&observed).step, Step::DeleteClaim { ordinal: 4 });

    observed.statefulset_replicas = 5;
    assert_eq!(
        plan(&observed).step,
        Step::Steady,
        "pods 3 and 4 may still run"
    );
}

#[test]
fn a_wiped_voter_is_removed_to_be_re_added() {
    let mut observed = healthy(3);
    observed.pods[2] = fresh_pod(2);
    assert_eq!(
        plan(&observed).step,
        Step::RemoveMember {
            member: "demo-2".into(),
            leader: "demo-0".into(),
            reason: RemoveReason::Rejoin
        }
    );

    leader_members(&mut observed).truncate(2);
    assert_eq!(
        plan(&observed).step,
        Step::Join {
            pod: "demo-2".into(),
            leader: "demo-0".into()
        }
    );
}

#[test]
fn a_fresh_learner_is_left_to_catch_up_not_treated_as_wiped() {
    let mut observed = healthy(3);
    observed.desired_replicas = 4;
    observed.pods.push(fresh_pod(3));
    leader_members(&mut observed).push(member(3, MemberKind::Learner, 100));
    assert!(matches!(
        plan(&observed).step,
        Step::Wait(WaitReason::LearnerCatchingUp { .. })
    ));
}

#[test]
fn a_restarted_pod_with_its_data_needs_no_action() {
    let mut observed = healthy(3);
    observed.pods[2].ready = false;
    assert_eq!(plan(&observed).step, Step::Steady);
}

#[test]
fn a_pod_with_stale_state_of_this_cluster_is_reset_before_joining() {
    let mut observed = healthy(2);
    observed.desired_replicas = 3;
    observed.pods.push(PodView {
        ordinal: 2,
        ready: false,
        revision: Some("r1".into()),
        node: Some(node(2, NodeRole::Removed, vec![])),
    });
    assert_eq!(plan(&observed).step, Step::ResetPod { ordinal: 2 });
}

#[test]
fn rolling_update_restarts_followers_highest_first_then_moves_the_leader() {
    let mut observed = healthy(3);
    observed.update_revision = Some("r2".into());
    assert_eq!(plan(&observed).step, Step::RestartPod { ordinal: 2 });

    observed.pods[2].revision = Some("r2".into());
    assert_eq!(plan(&observed).step, Step::RestartPod { ordinal: 1 });

    observed.pods[1].revision = Some("r2".into());
    assert_eq!(
        plan(&observed).step,
        Step::TransferLeadership {
            leader: "demo-0".into(),
            to: Some("demo-1".into())
        }
    );

    set_leader(&mut observed, 1);
    assert_eq!(plan(&observed).step, Step::RestartPod { ordinal: 0 });
}

#[test]
fn rolling_update_waits_for_a_healthy_cluster_between_steps() {
    let mut observed = healthy(3);
    observed.update_revision = Some("r2".into());
    observed.pods[2].revision = Some("r2".into());
    observed.pods[2].ready = false;
    assert_eq!(
        plan(&observed).step,
        Step::Wait(WaitReason::ClusterNotHealthy)
    );
}

#[test]
fn a_single_member_cluster_updates_by_restarting_its_pod() {
    let mut observed = healthy(1);
    observed.update_revision = Some("r2".into());
    assert_eq!(plan(&observed).step, Step::RestartPod { ordinal: 0 });
}

#[test]
fn the_highest_term_leader_wins_over_a_deposed_one() {
    let mut observed = healthy(3);
    set_leader(&mut observed, 2);
    let old = observed.pods[0].node.as_mut().unwrap();
    old.role = NodeRole::Leader;
    old.term = 0;
    assert_eq!(plan(&observed).view.leader.as_deref(), Some("demo-2"));
}

/// `tinyredis node` reports no cluster id: a node with Raft state counts as
/// a member of the recorded cluster, an empty one as empty.
fn without_cluster_ids(observed: &mut Observed) {
    for pod in &mut observed.pods {
        if let Some(node) = pod.node.as_mut() {
            node.cluster_id = None;
        }
    }
}

#[test]
fn nodes_that_report_no_cluster_id_are_taken_as_the_recorded_cluster() {
    let mut observed = healthy(3);
    without_cluster_ids(&mut observed);
    let plan = plan(&observed);
    assert_eq!(plan.view.cluster_id.as_deref(), Some(CLUSTER));
    assert_eq!(plan.step, Step::Steady);
}

#[test]
fn without_cluster_ids_an_unrecorded_cluster_is_adopted_not_rebootstrapped() {
    let mut observed = healthy(1);
    observed.recorded_cluster_id = None;
    without_cluster_ids(&mut observed);
    let plan = plan(&observed);
    assert_eq!(plan.view.cluster_id.as_deref(), Some(UNREPORTED_CLUSTER_ID));
    assert_eq!(plan.step, Step::Steady);
}

#[test]
fn without_cluster_ids_stale_state_is_still_reset_and_empty_pods_join() {
    let mut observed = healthy(2);
    observed.desired_replicas = 4;
    observed.pods.push(PodView {
        ordinal: 2,
        ready: false,
        revision: Some("r1".into()),
        node: Some(node(2, NodeRole::Removed, vec![])),
    });
    observed.pods.push(fresh_pod(3));
    without_cluster_ids(&mut observed);
    assert_eq!(plan(&observed).step, Step::ResetPod { ordinal: 2 });
    observed.pods.retain(|p| p.ordinal != 2);
    observed.desired_replicas = 4;
    observed.pods.push(fresh_pod(2));
    assert_eq!(
        plan(&observed).step,
        Step::Join {
            pod: "demo-2".into(),
            leader: "demo-0".into()
        }
    );
}
