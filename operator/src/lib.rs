//! tinyredis-operator: runs `TinyRedisCluster` resources on Kubernetes.
//!
//! The reconciler is a pipeline (see [`reconcile`]): validate the spec,
//! build every child object with pure functions ([`builders`]), apply them
//! with server-side apply, delete orphans, make at most one Raft membership
//! change through the nodes' admin API ([`orchestrate`], [`admin`]), then
//! compute the status in one place ([`status`]).

pub mod admin;
pub mod apply;
pub mod builders;
pub mod crd;
pub mod leader;
pub mod metrics;
pub mod orchestrate;
pub mod rbac;
pub mod reconcile;
pub mod status;
