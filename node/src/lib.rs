//! tinyredis: a Redis-compatible, Raft-replicated in-memory data store.

pub mod commands;
pub mod config;
pub mod engine;
pub mod expiry;
pub mod keyspace;
pub mod logging;
pub mod metrics;
pub mod metrics_support;
pub mod node;
pub mod protocol;
pub mod proxy;
pub mod pubsub;
pub mod raft;
pub mod server;
pub mod session;

/// The Redis version we answer to HELLO and INFO: clients gate features on it.
pub const REDIS_VERSION: &str = "7.0.15";
