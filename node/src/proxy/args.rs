//! Flags of `tinyredis proxy`.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct ProxyArgs {
    /// Address clients connect to.
    #[arg(long, default_value = "127.0.0.1:7390")]
    pub listen: String,
    /// RESP addresses (host:port, comma separated) of the cluster's nodes.
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<String>,
    /// Resolve NAME to every node address every few seconds (a Kubernetes headless
    /// Service), connecting to RESP port PORT on each address.
    #[arg(long, value_name = "NAME:PORT")]
    pub discover: Option<String>,
    /// The admin HTTP port (GET /status) on each node's host.
    #[arg(long, default_value_t = 17000)]
    pub admin_port: u16,
    /// How long connecting to a node, or a status probe, may take.
    #[arg(long, default_value = "2s")]
    pub dial_timeout: humantime::Duration,
    /// How often every node's status is probed to follow the leader.
    #[arg(long, default_value = "1s")]
    pub retry_interval: humantime::Duration,
    /// How long a request may wait for a leader to be known before it is answered an error.
    #[arg(long, default_value = "10s")]
    pub leader_wait: humantime::Duration,
    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish.
    #[arg(long, default_value = "10s")]
    pub drain_timeout: humantime::Duration,
    /// Serve Prometheus metrics on http://ADDR/metrics.
    #[arg(long)]
    pub metrics_addr: Option<String>,
    /// debug, info, warn or error.
    #[arg(short = 'l', long, default_value = "info")]
    pub loglevel: String,
}
