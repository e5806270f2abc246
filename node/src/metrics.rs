//! Prometheus metrics: the node's `/metrics` on the admin HTTP port, in both modes.
//!
//! Names follow redis_exporter where a metric has one (`redis_*`); Raft adds
//! `tinyredis_raft_*`. Almost everything is read at scrape time from the numbers INFO
//! reports (server stats, the keyspace, `RaftNode::status()`), mirrored into a `Registry`
//! under a lock so concurrent scrapes stay consistent. The only thing recorded as it
//! happens is per-command calls and time, with two relaxed atomics per call on a slot
//! resolved once per command (see [`CommandTimer`]).
//!
//! [`render`] and [`text_response`] turn any `Registry` into the text exposition; the proxy
//! uses them too.

use crate::commands::{self, flags, CommandSpec, Run};
use crate::keyspace::NUM_DBS;
use crate::protocol::Reply;
use crate::server::Shared;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use parking_lot::Mutex;
use prometheus::core::Collector;
use prometheus::{
    Counter, CounterVec, Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::{Duration, Instant};

/// The content type of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders every metric of `registry` in the text exposition format.
pub fn render(registry: &Registry) -> String {
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .expect("text encoding cannot fail");
    String::from_utf8(out).expect("prometheus text is utf-8")
}

/// An HTTP answer carrying rendered metrics with the right content type.
pub fn text_response(text: String) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

/// Registers `collector` in `registry`; names are fixed here, so failure is a bug.
pub fn register<C: Collector + Clone + 'static>(registry: &Registry, collector: &C) -> C {
    registry
        .register(Box::new(collector.clone()))
        .expect("metric registered once with a valid name");
    collector.clone()
}

// ---- per-command calls and time, recorded by the session's dispatch ----

struct CommandSlot {
    name: &'static str,
    calls: AtomicU64,
    failed: AtomicU64,
    nanos: AtomicU64,
    /// A write that goes through the log when replicated (not a blocking one: its time
    /// includes waiting for data).
    logged_write: bool,
}

struct CommandSlots {
    slots: Vec<CommandSlot>,
    /// Spec address → slot: specs are statics, and `commands::resolve` hands out the same
    /// references, so no name is hashed or allocated per call.
    by_spec: hashbrown::HashMap<usize, usize>,
}

fn spec_key(spec: &CommandSpec) -> usize {
    spec as *const CommandSpec as usize
}

fn command_slots() -> &'static CommandSlots {
    static SLOTS: OnceLock<CommandSlots> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let mut specs: Vec<&'static CommandSpec> = Vec::new();
        for spec in commands::table().values() {
            specs.push(spec);
            if let Run::Container(subs) = spec.run {
                specs.extend(subs.iter());
            }
        }
        specs.sort_by_key(|s| s.name);
        let slots: Vec<CommandSlot> = specs
            .iter()
            .map(|s| CommandSlot {
                name: s.name,
                calls: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                nanos: AtomicU64::new(0),
                logged_write: s.is_write() && !s.has(flags::BLOCKING),
            })
            .collect();
        let by_spec = specs
            .iter()
            .enumerate()
            .map(|(i, s)| (spec_key(s), i))
            .collect();
        CommandSlots { slots, by_spec }
    })
}

/// Set when the node is replicated: successful writes then feed the apply latency.
static REPLICATED: AtomicBool = AtomicBool::new(false);

static APPLY_LATENCY: LazyLock<Histogram> = LazyLock::new(|| {
    Histogram::with_opts(
        HistogramOpts::new(
            "tinyredis_raft_apply_latency_seconds",
            "Time from a write command's arrival to its reply on the node that proposed it: proposal, commit on a majority, apply (successful writes only)",
        )
        .buckets(vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]),
    )
    .expect("valid histogram")
});

/// Times one command from just before it runs; `finish` records it like Redis's
/// commandstats (`calls`, `usec`, `failed_calls`). Commands queued inside MULTI are not
/// timed (EXEC is), nor those refused before running.
pub struct CommandTimer {
    slot: Option<&'static CommandSlot>,
    started: Instant,
}

impl CommandTimer {
    pub fn start(spec: &'static CommandSpec) -> Self {
        Self::start_at(spec, Instant::now())
    }

    /// A timer that started at `started`: a pipeline starts each command's timer where the
    /// previous one finished, which reads the clock once per command instead of twice (a
    /// clock read cost as much as a tenth of a pipelined INCR).
    pub fn start_at(spec: &'static CommandSpec, started: Instant) -> Self {
        let slots = command_slots();
        CommandTimer {
            slot: slots.by_spec.get(&spec_key(spec)).map(|&i| &slots.slots[i]),
            started,
        }
    }

    /// Records the command and returns when it finished.
    pub fn finish(self, reply: &Reply) -> Instant {
        let finished = Instant::now();
        let Some(slot) = self.slot else {
            return finished;
        };
        let took = finished - self.started;
        slot.calls.fetch_add(1, Ordering::Relaxed);
        slot.nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        if matches!(reply, Reply::Error(_)) {
            slot.failed.fetch_add(1, Ordering::Relaxed);
        } else if slot.logged_write && REPLICATED.load(Ordering::Relaxed) {
            APPLY_LATENCY.observe(took.as_secs_f64());
        }
        finished
    }
}

// ---- the node's registry, refreshed at scrape time ----

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help)
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    register(
        registry,
        &IntGauge::with_opts(opts(name, help)).expect("valid gauge"),
    )
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    register(
        registry,
        &IntCounter::with_opts(opts(name, help)).expect("valid counter"),
    )
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(
        registry,
        &IntGaugeVec::new(opts(name, help), labels).expect("valid gauge"),
    )
}

/// Sets a counter mirrored from a source that counts on its own (called under the lock).
fn mirror(counter: &IntCounter, value: u64) {
    counter.reset();
    counter.inc_by(value);
}

struct RedisMetrics {
    up: IntGauge,
    info: IntGaugeVec,
    uptime: IntGauge,
    connected_clients: IntGauge,
    maxclients: IntGauge,
    memory_used: IntGauge,
    commands_processed: IntCounter,
    connections_received: IntCounter,
    rejected_connections: IntCounter,
    net_input: IntCounter,
    net_output: IntCounter,
    expired_keys: IntCounter,
    keyspace_hits: IntCounter,
    keyspace_misses: IntCounter,
    pubsub_channels: IntGauge,
    pubsub_patterns: IntGauge,
    db_keys: IntGaugeVec,
    db_keys_expiring: IntGaugeVec,
    commands_total: IntCounterVec,
    commands_failed: IntCounterVec,
    commands_duration: CounterVec,
}

impl RedisMetrics {
    fn new(r: &Registry) -> Self {
        RedisMetrics {
            up: gauge(r, "redis_up", "1 while the server answers"),
            info: gauge_vec(
                r,
                "redis_instance_info",
                "Facts about the server, as labels",
                &[
                    "redis_version",
                    "tinyredis_version",
                    "redis_mode",
                    "role",
                    "os",
                ],
            ),
            uptime: gauge(
                r,
                "redis_uptime_in_seconds",
                "Seconds since the server started",
            ),
            connected_clients: gauge(r, "redis_connected_clients", "Client connections open"),
            maxclients: gauge(r, "redis_config_maxclients", "Most clients served at once"),
            memory_used: gauge(
                r,
                "redis_memory_used_bytes",
                "Memory used (resident set size), as INFO used_memory",
            ),
            commands_processed: counter(
                r,
                "redis_commands_processed_total",
                "Commands received, as INFO total_commands_processed",
            ),
            connections_received: counter(
                r,
                "redis_connections_received_total",
                "Connections accepted",
            ),
            rejected_connections: counter(
                r,
                "redis_rejected_connections_total",
                "Connections refused because of maxclients",
            ),
            net_input: counter(r, "redis_net_input_bytes_total", "Bytes read from clients"),
            net_output: counter(
                r,
                "redis_net_output_bytes_total",
                "Bytes written to clients",
            ),
            expired_keys: counter(r, "redis_expired_keys_total", "Keys deleted on expiry"),
            keyspace_hits: counter(r, "redis_keyspace_hits_total", "Successful key lookups"),
            keyspace_misses: counter(r, "redis_keyspace_misses_total", "Failed key lookups"),
            pubsub_channels: gauge(r, "redis_pubsub_channels", "Channels with subscribers"),
            pubsub_patterns: gauge(r, "redis_pubsub_patterns", "Pattern subscriptions"),
            db_keys: gauge_vec(r, "redis_db_keys", "Keys in the database", &["db"]),
            db_keys_expiring: gauge_vec(
                r,
                "redis_db_keys_expiring",
                "Keys with a time to live in the database",
                &["db"],
            ),
            commands_total: register(
                r,
                &IntCounterVec::new(
                    opts(
                        "redis_commands_total",
                        "Calls of the command (commandstats calls)",
                    ),
                    &["cmd"],
                )
                .expect("valid counter"),
            ),
            commands_failed: register(
                r,
                &IntCounterVec::new(
                    opts(
                        "redis_commands_failed_calls_total",
                        "Calls of the command that answered an error",
                    ),
                    &["cmd"],
                )
                .expect("valid counter"),
            ),
            commands_duration: register(
                r,
                &CounterVec::new(
                    opts(
                        "redis_commands_duration_seconds_total",
                        "Time spent running the command (commandstats usec)",
                    ),
                    &["cmd"],
                )
                .expect("valid counter"),
            ),
        }
    }

    fn refresh(&self, shared: &Shared, role: &str) {
        let stats = &shared.stats;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        self.up.set(1);
        self.info.reset();
        self.info
            .with_label_values(&[
                crate::REDIS_VERSION,
                env!("CARGO_PKG_VERSION"),
                "standalone",
                role,
                std::env::consts::OS,
            ])
            .set(1);
        self.uptime.set(shared.started.elapsed().as_secs() as i64);
        self.connected_clients
            .set(shared.connected_clients() as i64);
        self.maxclients.set(shared.config.read().maxclients as i64);
        self.memory_used
            .set(crate::metrics_support::resident_memory_bytes() as i64);
        mirror(&self.commands_processed, load(&stats.commands_processed));
        mirror(
            &self.connections_received,
            load(&stats.connections_received),
        );
        mirror(
            &self.rejected_connections,
            load(&stats.rejected_connections),
        );
        mirror(&self.net_input, load(&stats.net_input_bytes));
        mirror(&self.net_output, load(&stats.net_output_bytes));
        self.pubsub_channels
            .set(shared.pubsub.channels(None).len() as i64);
        self.pubsub_patterns.set(shared.pubsub.numpat() as i64);
        let (keyspace, dbs) = shared.engine.with_store(|store| {
            let dbs: Vec<(usize, usize)> = store
                .dbs
                .iter()
                .map(|db| (db.len(), db.volatile_len()))
                .collect();
            (store.stats.clone(), dbs)
        });
        mirror(&self.expired_keys, keyspace.expired_keys);
        mirror(&self.keyspace_hits, keyspace.keyspace_hits);
        mirror(&self.keyspace_misses, keyspace.keyspace_misses);
        for (i, (keys, expiring)) in dbs.iter().enumerate().take(NUM_DBS) {
            let db = format!("db{i}");
            self.db_keys.with_label_values(&[&db]).set(*keys as i64);
            self.db_keys_expiring
                .with_label_values(&[&db])
                .set(*expiring as i64);
        }
        // Like INFO commandstats: only commands called at least once.
        for slot in &command_slots().slots {
            let calls = slot.calls.load(Ordering::Relaxed);
            if calls == 0 {
                continue;
            }
            let cmd = [slot.name];
            mirror(&self.commands_total.with_label_values(&cmd), calls);
            mirror(
                &self.commands_failed.with_label_values(&cmd),
                slot.failed.load(Ordering::Relaxed),
            );
            let seconds = Duration::from_nanos(slot.nanos.load(Ordering::Relaxed)).as_secs_f64();
            let duration: Counter = self.commands_duration.with_label_values(&cmd);
            duration.reset();
            duration.inc_by(seconds);
        }
    }
}

struct RaftMetrics {
    term: IntGauge,
    is_leader: IntGauge,
    state: IntGaugeVec,
    commit_index: IntGauge,
    applied_index: IntGauge,
    last_log_index: IntGauge,
    snapshot_index: IntGauge,
    voters: IntGauge,
    learners: IntGauge,
    snapshots_built: IntCounter,
    replication_lag: IntGaugeVec,
    matched_index: IntGaugeVec,
}

impl RaftMetrics {
    fn new(r: &Registry) -> Self {
        register(r, &*APPLY_LATENCY);
        RaftMetrics {
            term: gauge(r, "tinyredis_raft_term", "Current Raft term"),
            is_leader: gauge(r, "tinyredis_raft_is_leader", "1 when this node is the leader"),
            state: gauge_vec(
                r,
                "tinyredis_raft_state",
                "1 for this node's Raft role (leader, follower, candidate, learner, removed, uninitialized, shutdown)",
                &["state"],
            ),
            commit_index: gauge(
                r,
                "tinyredis_raft_commit_index",
                "Highest log index known committed",
            ),
            applied_index: gauge(
                r,
                "tinyredis_raft_applied_index",
                "Highest log index applied to the keyspace",
            ),
            last_log_index: gauge(
                r,
                "tinyredis_raft_last_log_index",
                "Highest log index in this node's log",
            ),
            snapshot_index: gauge(
                r,
                "tinyredis_raft_snapshot_index",
                "Log index covered by the latest snapshot",
            ),
            voters: gauge(r, "tinyredis_raft_voters", "Voting members in the membership"),
            learners: gauge(r, "tinyredis_raft_learners", "Non-voting members in the membership"),
            snapshots_built: counter(
                r,
                "tinyredis_raft_snapshots_built_total",
                "Snapshots this node built since it started",
            ),
            replication_lag: gauge_vec(
                r,
                "tinyredis_raft_replication_lag_entries",
                "Log entries a peer is behind the leader's last log index (leader only)",
                &["peer"],
            ),
            matched_index: gauge_vec(
                r,
                "tinyredis_raft_peer_matched_index",
                "Highest log index known replicated to a peer (leader only)",
                &["peer"],
            ),
        }
    }

    fn refresh(&self, raft: &crate::raft::RaftNode) -> &'static str {
        let s = raft.status();
        let index = |v: Option<u64>| v.unwrap_or(0) as i64;
        self.term.set(s.term as i64);
        self.is_leader.set(i64::from(s.role == "leader"));
        self.state.reset();
        self.state.with_label_values(&[s.role]).set(1);
        self.commit_index.set(index(s.commit_index));
        self.applied_index.set(index(s.applied_index));
        self.last_log_index.set(index(s.last_log_index));
        self.snapshot_index.set(index(s.snapshot_index));
        let voters = s.members.iter().filter(|m| m.role == "voter").count();
        self.voters.set(voters as i64);
        self.learners.set((s.members.len() - voters) as i64);
        mirror(
            &self.snapshots_built,
            raft.applied.snapshots_built.load(Ordering::Relaxed),
        );
        // Peers come and go: only the current ones are exported.
        self.replication_lag.reset();
        self.matched_index.reset();
        for m in s.members.iter().filter(|m| m.id != s.id) {
            if let Some(lag) = m.lag {
                self.replication_lag
                    .with_label_values(&[&m.id])
                    .set(lag as i64);
            }
            if let Some(matched) = m.matched_index {
                self.matched_index
                    .with_label_values(&[&m.id])
                    .set(matched as i64);
            }
        }
        if s.role == "leader" {
            "master"
        } else {
            "slave"
        }
    }
}

/// The node's metrics: one registry, refreshed from the live sources on every scrape.
pub struct NodeMetrics {
    shared: Arc<Shared>,
    registry: Registry,
    redis: RedisMetrics,
    raft: Option<RaftMetrics>,
    scrape: Mutex<()>,
}

impl NodeMetrics {
    pub fn new(shared: Arc<Shared>) -> Self {
        let registry = Registry::new();
        let redis = RedisMetrics::new(&registry);
        let raft = shared.engine.raft().map(|_| RaftMetrics::new(&registry));
        REPLICATED.store(raft.is_some(), Ordering::Relaxed);
        NodeMetrics {
            shared,
            registry,
            redis,
            raft,
            scrape: Mutex::new(()),
        }
    }

    /// The text exposition of every metric, read fresh.
    pub fn render(&self) -> String {
        let _one_scrape_at_a_time = self.scrape.lock();
        let role = match (&self.raft, self.shared.engine.raft()) {
            (Some(metrics), Some(raft)) => metrics.refresh(raft),
            _ => "master",
        };
        self.redis.refresh(&self.shared, role);
        render(&self.registry)
    }
}

/// `GET /metrics`, to merge into the node's admin router.
pub fn router(metrics: Arc<NodeMetrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                match tokio::task::spawn_blocking(move || metrics.render()).await {
                    Ok(text) => text_response(text),
                    Err(e) => (
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        format!("metrics: {e}"),
                    )
                        .into_response(),
                }
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_a_slot_and_calls_are_counted() {
        let set = commands::lookup(b"set").unwrap();
        let timer = CommandTimer::start(set);
        timer.finish(&Reply::OK);
        let timer = CommandTimer::start(set);
        timer.finish(&Reply::error("ERR no"));
        let slots = command_slots();
        let slot = &slots.slots[slots.by_spec[&spec_key(set)]];
        assert_eq!(slot.name, "set");
        assert!(slot.calls.load(Ordering::Relaxed) >= 2);
        assert!(slot.failed.load(Ordering::Relaxed) >= 1);
        // Subcommands resolve to their own slot.
        let args = [
            bytes::Bytes::from("config"),
            bytes::Bytes::from("get"),
            "x".into(),
        ];
        let sub = commands::resolve(&args).unwrap();
        assert!(slots.by_spec.contains_key(&spec_key(sub)), "{}", sub.name);
    }

    #[test]
    fn render_uses_the_text_format() {
        let registry = Registry::new();
        let c = counter(&registry, "demo_events_total", "Events");
        c.inc_by(3);
        assert!(
            render(&registry).contains("# TYPE demo_events_total counter\ndemo_events_total 3\n")
        );
    }
}
