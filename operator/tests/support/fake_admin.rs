//! A Raft cluster simulated in memory behind the `AdminApi` trait: enough
//! to see the reconciler drive bootstrap, joins and promotions.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tinyredis_operator::admin::{
    AdminApi, AdminError, AdminTarget, JoinRequest, Member, MemberKind, NodeRole, NodeStatus,
};

#[derive(Default)]
struct Raft {
    cluster_id: Option<String>,
    leader: Option<String>,
    members: Vec<Member>,
    /// Node ids whose admin API answers.
    up: BTreeSet<String>,
    calls: Vec<String>,
}

#[derive(Clone, Default)]
pub struct FakeAdmin {
    raft: Arc<Mutex<Raft>>,
}

/// Node id from an advertised address `<pod>.<svc>.<ns>.svc:17000`.
fn node_id(target: &AdminTarget) -> String {
    target.http_addr.split('.').next().unwrap().to_string()
}

impl FakeAdmin {
    pub fn start(&self, id: &str) {
        self.raft.lock().unwrap().up.insert(id.to_string());
    }

    pub fn calls(&self) -> Vec<String> {
        self.raft.lock().unwrap().calls.clone()
    }

    pub fn members(&self) -> Vec<(String, MemberKind)> {
        let raft = self.raft.lock().unwrap();
        raft.members
            .iter()
            .map(|m| (m.id.clone(), m.role))
            .collect()
    }

    fn status_of(raft: &Raft, id: &str) -> NodeStatus {
        let member = raft.members.iter().find(|m| m.id == id);
        let role = match member {
            None => NodeRole::Uninitialized,
            Some(_) if raft.leader.as_deref() == Some(id) => NodeRole::Leader,
            Some(m) if m.role == MemberKind::Learner => NodeRole::Learner,
            Some(_) => NodeRole::Follower,
        };
        NodeStatus {
            id: id.to_string(),
            cluster_id: member.and(raft.cluster_id.clone()),
            role,
            term: 1,
            leader_id: raft.leader.clone(),
            commit_index: 1,
            applied_index: 1,
            members: raft.members.clone(),
        }
    }

    fn call(
        &self,
        target: &AdminTarget,
        what: String,
    ) -> Result<std::sync::MutexGuard<'_, Raft>, AdminError> {
        let mut raft = self.raft.lock().unwrap();
        let id = node_id(target);
        if !raft.up.contains(&id) {
            return Err(AdminError::Unreachable(
                target.http_addr.clone(),
                "down".into(),
            ));
        }
        raft.calls.push(what);
        Ok(raft)
    }
}

fn member(id: &str, role: MemberKind) -> Member {
    Member {
        id: id.into(),
        raft_addr: format!("{id}:7000"),
        resp_addr: format!("{id}:6379"),
        http_addr: format!("{id}:17000"),
        role,
        matched_index: Some(1),
        lag: Some(0),
    }
}

#[async_trait]
impl AdminApi for FakeAdmin {
    async fn status(&self, node: &AdminTarget) -> Result<NodeStatus, AdminError> {
        let raft = self.call(node, format!("status {}", node_id(node)))?;
        Ok(Self::status_of(&raft, &node_id(node)))
    }

    async fn init(&self, node: &AdminTarget, _: Option<&str>) -> Result<NodeStatus, AdminError> {
        let id = node_id(node);
        let mut raft = self.call(node, format!("init {id}"))?;
        raft.cluster_id = Some("cluster-1".into());
        raft.leader = Some(id.clone());
        raft.members = vec![member(&id, MemberKind::Voter)];
        Ok(Self::status_of(&raft, &id))
    }

    async fn join(
        &self,
        leader: &AdminTarget,
        request: &JoinRequest,
    ) -> Result<NodeStatus, AdminError> {
        let mut raft = self.call(leader, format!("join {}", request.id))?;
        raft.members.push(member(&request.id, MemberKind::Learner));
        Ok(Self::status_of(&raft, &node_id(leader)))
    }

    async fn promote(&self, leader: &AdminTarget, id: &str) -> Result<NodeStatus, AdminError> {
        let mut raft = self.call(leader, format!("promote {id}"))?;
        raft.members
            .iter_mut()
            .filter(|m| m.id == id)
            .for_each(|m| m.role = MemberKind::Voter);
        Ok(Self::status_of(&raft, &node_id(leader)))
    }

    async fn remove(&self, leader: &AdminTarget, id: &str) -> Result<NodeStatus, AdminError> {
        let mut raft = self.call(leader, format!("remove {id}"))?;
        raft.members.retain(|m| m.id != id);
        Ok(Self::status_of(&raft, &node_id(leader)))
    }

    async fn transfer_leadership(
        &self,
        leader: &AdminTarget,
        to: Option<&str>,
    ) -> Result<(), AdminError> {
        let mut raft = self.call(leader, format!("transfer {}", to.unwrap_or("any")))?;
        raft.leader = to.map(String::from);
        Ok(())
    }
}
