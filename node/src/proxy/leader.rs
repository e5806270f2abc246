//! Following the leader: every node's admin `GET /status` is probed on an interval, and at
//! once when a connection reports a redirect or a lost node. The node that says it leads,
//! with the highest term, is the leader; connections watch for changes.

use super::metrics::Metrics;
use super::upstream::Upstream;
use parking_lot::Mutex;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};
use tracing::{debug, info, warn};

/// The node the proxy forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    pub id: String,
    pub resp_addr: String,
    pub term: u64,
}

/// What connections see: the leader after the latest probe round, and when that round
/// started (so a connection can wait for a round newer than what it knows).
#[derive(Debug, Clone)]
pub struct View {
    pub leader: Option<Leader>,
    pub round_started: Instant,
}

/// How often to probe while no leader is known.
const FAST_PROBE: Duration = Duration::from_millis(100);

pub struct Tracker {
    view: watch::Sender<View>,
    kick: Notify,
    /// RESP addresses from --nodes, or resolved by --discover.
    nodes: Mutex<Vec<String>>,
    /// Admin addresses learned from members lists and INFO replication.
    learned: Mutex<BTreeSet<String>>,
    admin_port: u16,
    dial_timeout: Duration,
    retry_interval: Duration,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
}

#[derive(Debug, Deserialize)]
struct Status {
    id: String,
    role: String,
    #[serde(default)]
    term: u64,
    leader: Option<MemberRef>,
    #[serde(default)]
    members: Vec<MemberRef>,
}

#[derive(Debug, Deserialize)]
struct MemberRef {
    #[serde(default)]
    resp_addr: String,
    #[serde(default)]
    http_addr: String,
}

impl Tracker {
    pub fn new(
        nodes: Vec<String>,
        admin_port: u16,
        dial_timeout: Duration,
        retry_interval: Duration,
        metrics: Arc<Metrics>,
    ) -> Arc<Tracker> {
        let (view, _) = watch::channel(View {
            leader: None,
            round_started: Instant::now(),
        });
        let http = reqwest::Client::builder()
            .connect_timeout(dial_timeout)
            .timeout(dial_timeout)
            .no_proxy()
            .build()
            .expect("http client");
        Arc::new(Tracker {
            view,
            kick: Notify::new(),
            nodes: Mutex::new(nodes),
            learned: Mutex::new(BTreeSet::new()),
            admin_port,
            dial_timeout,
            retry_interval,
            http,
            metrics,
        })
    }

    pub fn subscribe(&self) -> watch::Receiver<View> {
        self.view.subscribe()
    }

    pub fn leader(&self) -> Option<Leader> {
        self.view.borrow().leader.clone()
    }

    /// Asks for a probe round now (a redirect or a lost node was seen).
    pub fn kick(&self) {
        self.kick.notify_one();
    }

    pub fn set_nodes(&self, nodes: Vec<String>) {
        let mut current = self.nodes.lock();
        if *current != nodes {
            info!(?nodes, "node addresses changed");
            *current = nodes;
            drop(current);
            self.kick();
        }
    }

    /// Waits until a probe round that started at or after `since` has found a leader,
    /// or until `deadline`.
    pub async fn fresh_leader(&self, since: Instant, deadline: Instant) -> Option<Leader> {
        let mut rx = self.subscribe();
        self.kick();
        loop {
            {
                let view = rx.borrow_and_update();
                if view.round_started >= since && view.leader.is_some() {
                    return view.leader.clone();
                }
            }
            match tokio::time::timeout_at(deadline.into(), rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }

    /// The current leader, waiting up to `deadline` for one to be known.
    pub async fn current_leader(&self, deadline: Instant) -> Option<Leader> {
        if let Some(l) = self.leader() {
            return Some(l);
        }
        self.fresh_leader(Instant::now() - Duration::from_secs(3600), deadline)
            .await
    }

    /// Probes forever.
    pub async fn run(self: Arc<Self>) {
        loop {
            let started = Instant::now();
            let leader = self.probe_round().await;
            self.publish(leader, started);
            let wait = if self.leader().is_some() {
                self.retry_interval
            } else {
                FAST_PROBE.min(self.retry_interval)
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.kick.notified() => {
                    // Let a burst of kicks from many connections collapse into one round.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    }

    pub(crate) fn publish(&self, leader: Option<Leader>, started: Instant) {
        let old = self.leader();
        let changed = old.as_ref().map(|l| (&l.id, &l.resp_addr))
            != leader.as_ref().map(|l| (&l.id, &l.resp_addr));
        if changed {
            self.metrics.leader.reset();
            match &leader {
                Some(l) => {
                    info!(id = %l.id, addr = %l.resp_addr, term = l.term, "following a new leader");
                    self.metrics
                        .leader
                        .with_label_values(&[&l.id, &l.resp_addr])
                        .set(1);
                    self.metrics.leader_changes.inc();
                }
                None => warn!("no leader known"),
            }
        }
        self.view.send_replace(View {
            leader,
            round_started: started,
        });
    }

    /// Admin addresses to probe: each node host at --admin-port, plus the members' own.
    fn targets(&self) -> Vec<String> {
        let mut targets: BTreeSet<String> = self
            .nodes
            .lock()
            .iter()
            .filter_map(|n| admin_addr(n, self.admin_port))
            .collect();
        targets.extend(self.learned.lock().iter().cloned());
        targets.into_iter().collect()
    }

    /// One round: every target's status, concurrently; the self-declared leader with the
    /// highest term wins.
    async fn probe_round(&self) -> Option<Leader> {
        let targets = self.targets();
        let probes = targets.iter().map(|t| self.status(t));
        let statuses: Vec<Status> = futures_join_all(probes)
            .await
            .into_iter()
            .flatten()
            .collect();
        if statuses.is_empty() {
            self.metrics.error("probe");
            self.learn_from_resp().await;
            return None;
        }
        let mut learned = BTreeSet::new();
        for s in &statuses {
            for m in &s.members {
                if !m.http_addr.is_empty() {
                    learned.insert(m.http_addr.clone());
                }
            }
        }
        if !learned.is_empty() {
            *self.learned.lock() = learned;
        }
        statuses
            .iter()
            .filter(|s| s.role == "leader")
            .filter_map(|s| {
                let addr = s.leader.as_ref()?.resp_addr.clone();
                (!addr.is_empty()).then(|| Leader {
                    id: s.id.clone(),
                    resp_addr: addr,
                    term: s.term,
                })
            })
            .max_by_key(|l| l.term)
    }

    async fn status(&self, target: &str) -> Option<Status> {
        let result = async {
            self.http
                .get(format!("http://{target}/status"))
                .send()
                .await?
                .error_for_status()?
                .json::<Status>()
                .await
        }
        .await;
        match result {
            Ok(s) => Some(s),
            Err(e) => {
                debug!(target, error = %e, "status probe failed");
                None
            }
        }
    }

    /// When no admin address answers (a node whose admin port is not --admin-port), ask
    /// the nodes over RESP for the leader's admin address (INFO replication).
    async fn learn_from_resp(&self) {
        let nodes = self.nodes.lock().clone();
        for node in nodes {
            let Ok(Ok(mut up)) = tokio::time::timeout(
                self.dial_timeout,
                Upstream::connect(&node, self.dial_timeout),
            )
            .await
            else {
                continue;
            };
            let Ok(Ok(reply)) =
                tokio::time::timeout(self.dial_timeout, up.send(&["INFO", "replication"])).await
            else {
                continue;
            };
            let text = String::from_utf8_lossy(&reply.bytes).into_owned();
            if let Some(addr) = text
                .lines()
                .find_map(|l| l.strip_prefix("leader_http_addr:"))
                .map(str::trim)
                .filter(|a| !a.is_empty())
            {
                debug!(node, admin = addr, "learned an admin address over RESP");
                self.learned.lock().insert(addr.to_string());
                return;
            }
        }
    }
}

/// `host:admin_port` for a node's `host:port` RESP address.
fn admin_addr(resp: &str, admin_port: u16) -> Option<String> {
    let (host, _) = resp.rsplit_once(':')?;
    Some(format!("{host}:{admin_port}"))
}

/// Runs futures concurrently and collects their outputs in order.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|v| v.expect("completed")).collect()
}

/// Resolves `NAME:PORT` to every address every few seconds and hands the list to the tracker.
pub async fn discover(tracker: Arc<Tracker>, target: String, every: Duration) {
    loop {
        match tokio::net::lookup_host(&target).await {
            Ok(addrs) => {
                let mut nodes: Vec<String> = addrs.map(|a| a.to_string()).collect();
                nodes.sort();
                nodes.dedup();
                if !nodes.is_empty() {
                    tracker.set_nodes(nodes);
                }
            }
            Err(e) => warn!(target, error = %e, "cannot resolve --discover name"),
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_address_keeps_the_host() {
        assert_eq!(
            admin_addr("10.0.0.1:6379", 17000).unwrap(),
            "10.0.0.1:17000"
        );
        assert_eq!(admin_addr("[::1]:6379", 17000).unwrap(), "[::1]:17000");
        assert_eq!(admin_addr("pod-0.svc:6379", 9).unwrap(), "pod-0.svc:9");
    }
}
