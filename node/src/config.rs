//! Command-line flags of `tinyredis node`, kept from the original where they make sense,
//! and the `-c/--config` file of `key value` lines (same names as the long flags).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "tinyredis",
    version,
    about = "A Redis-compatible, Raft-replicated in-memory data store"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once at start-up: the size difference of the variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run a data node.
    #[command(args_override_self = true)]
    Node(NodeArgs),
    /// Run a leader-following RESP proxy in front of a cluster.
    Proxy(crate::proxy::ProxyArgs),
}

#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// Config file of `key value` lines (keys are the long flag names); flags win over it.
    #[arg(short = 'c', long)]
    pub config: Option<PathBuf>,
    /// Serve without Raft: writes apply directly to the local keyspace.
    #[arg(long)]
    pub standalone: bool,
    /// Address the RESP server listens on.
    #[arg(short = 'H', long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(short = 'p', long, default_value_t = 6379)]
    pub port: u16,
    /// Clients must AUTH with this password (Redis's `requirepass`).
    #[arg(long, env = "TINYREDIS_REQUIREPASS", hide_env_values = true)]
    pub requirepass: Option<String>,
    /// Most clients served at once; more are refused with Redis's error.
    #[arg(long, default_value_t = 10000)]
    pub maxclients: usize,
    /// Directory for a JSON `redis.log` next to stdout logging.
    #[arg(short = 'd', long)]
    pub logdir: Option<PathBuf>,
    /// debug, info, warn or error.
    #[arg(short = 'l', long, default_value = "info")]
    pub loglevel: String,
    /// Sample logs: per interval, of each message only the first `--log-sampling-initial`
    /// events and then every `--log-sampling-thereafter`-th are written (`false`/`off` to
    /// write all).
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true",
          action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub log_sampling: bool,
    /// The sampling interval.
    #[arg(long, default_value = "1s")]
    pub log_sampling_interval: humantime::Duration,
    /// Events of one message written per interval before sampling starts.
    #[arg(long, default_value_t = 100)]
    pub log_sampling_initial: u64,
    /// After the initial ones, every this many-th event of a message is written (0: none).
    #[arg(long, default_value_t = 100)]
    pub log_sampling_thereafter: u64,

    /// This node's unique name in the cluster (a pod name in Kubernetes).
    #[arg(long, default_value = "node-1")]
    pub node_id: String,
    /// Directory for the Raft log, vote and snapshots.
    #[arg(long, default_value = "./raft")]
    pub raft_dir: PathBuf,
    /// Address the Raft transport listens on.
    #[arg(long, default_value = "127.0.0.1:7000")]
    pub raft_bind: String,
    /// Address the admin HTTP API (join, status, health, metrics) listens on.
    #[arg(long, default_value = "127.0.0.1:17000")]
    pub raft_http: String,
    /// Admin addresses (host:port, comma separated) of members to ask to add this node.
    #[arg(long, value_delimiter = ',')]
    pub raft_join: Vec<String>,
    /// Start a new single-voter cluster when this node has no Raft state.
    #[arg(long)]
    pub raft_bootstrap: bool,
    /// How long a write or a linearizable read may wait for Raft before answering an error.
    #[arg(long, default_value = "10s")]
    pub raft_timeout: humantime::Duration,
    /// A follower that hears nothing from the leader for between this and twice this
    /// (after the old leader's lease of twice this ran out) starts an election. Failover
    /// after a leader dies takes three to four times this.
    #[arg(long, default_value = "300ms", value_parser = parse_election_timeout)]
    pub raft_election_timeout: humantime::Duration,
    /// Take a snapshot (and purge the log behind it) every this many entries.
    #[arg(long, default_value_t = 10000, value_parser = clap::value_parser!(u64).range(1..))]
    pub raft_snap_threshold: u64,
    /// Raft address peers use to reach this node (when --raft-bind is a wildcard).
    #[arg(long)]
    pub raft_advertise: Option<String>,
    /// RESP address clients are redirected to when this node leads.
    #[arg(long)]
    pub resp_advertise: Option<String>,
    /// Admin HTTP address peers and the operator use for this node.
    #[arg(long)]
    pub http_advertise: Option<String>,
    /// On a follower, run writes and linearizable reads on the leader and relay the
    /// reply, instead of answering READONLY with the leader's address.
    #[arg(long)]
    pub forward_to_leader: bool,
    /// Shared secret guarding joins, membership changes and Raft connections.
    #[arg(long, env = "TINYREDIS_CLUSTER_SECRET", hide_env_values = true)]
    pub cluster_secret: Option<String>,
}

/// Parses the process arguments, merging in the config file when one is named.
pub fn parse() -> anyhow::Result<Cli> {
    let argv: Vec<String> = std::env::args().collect();
    let cli = Cli::parse_from(&argv);
    let Command::Node(node) = &cli.command else {
        return Ok(cli);
    };
    let Some(path) = &node.config else {
        return Ok(cli);
    };
    let file_args = config_file_args(&std::fs::read_to_string(path)?, is_node_switch)?;
    // The subcommand name stays first; file settings go before the command line's flags
    // so that flags given on the command line win.
    let mut merged = argv[..2].to_vec();
    merged.extend(file_args);
    merged.extend(argv[2..].iter().cloned());
    Ok(Cli::try_parse_from(merged)?)
}

/// Whether `--key` of `tinyredis node` is an on/off switch that takes no value.
fn is_node_switch(key: &str) -> bool {
    use clap::CommandFactory;
    let cli = Cli::command();
    let node = cli.find_subcommand("node").expect("node subcommand");
    let is_switch = node
        .get_arguments()
        .find(|a| a.get_long() == Some(key))
        .is_some_and(|a| !a.get_action().takes_values());
    is_switch
}

/// Turns `key value` lines into `--key value` arguments; `#` starts a comment. For a
/// switch (`is_switch`), `yes`/`true` turn it on and `no`/`false` leave it off; every
/// other key keeps its value, `false` included.
pub fn config_file_args(
    text: &str,
    is_switch: impl Fn(&str) -> bool,
) -> anyhow::Result<Vec<String>> {
    let mut args = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let key = key.trim_start_matches('-');
        anyhow::ensure!(!key.is_empty(), "config line {}: missing key", n + 1);
        let value = value.trim().trim_matches('"');
        match (is_switch(key), value) {
            (true, "no" | "false") => continue,
            (true, _) | (false, "") => args.push(format!("--{key}")),
            (false, _) => args.extend([format!("--{key}"), value.to_string()]),
        }
    }
    Ok(args)
}

/// Election timeouts below 30ms leave no room for the heartbeats (a third of it) that
/// keep a healthy leader in place.
fn parse_election_timeout(text: &str) -> Result<humantime::Duration, String> {
    let timeout: humantime::Duration = text.parse().map_err(|e| format!("{e}"))?;
    if timeout.as_millis() < 30 {
        return Err("must be at least 30ms".into());
    }
    Ok(timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_false_value_is_kept_for_flags_that_take_one() {
        let args = config_file_args("log-sampling false\nstandalone no\n", is_node_switch).unwrap();
        assert_eq!(args, ["--log-sampling", "false"]);
        let mut argv = vec!["tinyredis".to_string(), "node".to_string()];
        argv.extend(args);
        let Command::Node(node) = Cli::try_parse_from(argv).unwrap().command else {
            panic!("node subcommand");
        };
        assert!(!node.log_sampling);
        assert!(!node.standalone);
    }

    #[test]
    fn config_lines_become_flags_and_flags_win() {
        let args = config_file_args(
            "# comment\nport 6390\nstandalone yes\nhost \"0.0.0.0\"\n",
            is_node_switch,
        )
        .unwrap();
        assert_eq!(
            args,
            ["--port", "6390", "--standalone", "--host", "0.0.0.0"]
        );
        let mut argv = vec!["tinyredis".to_string(), "node".to_string()];
        argv.extend(args);
        argv.extend(["--port".to_string(), "7000".to_string()]);
        let Command::Node(node) = Cli::try_parse_from(argv).unwrap().command else {
            panic!("node command expected");
        };
        assert_eq!(node.port, 7000);
        assert!(node.standalone);
    }

    #[test]
    fn an_election_timeout_too_short_for_heartbeats_is_refused() {
        let parse = |timeout: &str| {
            Cli::try_parse_from(["tinyredis", "node", "--raft-election-timeout", timeout])
        };
        let refused = parse("10ms").map(|_| ()).unwrap_err().to_string();
        assert!(refused.contains("must be at least 30ms"), "{refused}");
        let Command::Node(node) = parse("1s").unwrap().command else {
            panic!("node command expected");
        };
        assert_eq!(node.raft_election_timeout.as_millis(), 1000);
    }
}
