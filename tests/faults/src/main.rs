//! `tinyredis-faults soak`: one fault-injection run of any length against a tinyredis
//! binary (`TINYREDIS_BIN`, default: the `tinyredis` next to this binary).

use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tinyredis_faults::checker::{self, FinalState};
use tinyredis_faults::history::Op;
use tinyredis_faults::nemesis::FaultSet;
use tinyredis_faults::RunConfig;

#[derive(Parser)]
#[command(about = "Jepsen-style fault injection against a tinyredis cluster")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Args)]
struct Soak {
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, value_enum, default_value_t = FaultSet::All)]
    fault: FaultSet,
    /// Cluster size (3 or 5); default 5 for partitions, else 3.
    #[arg(long)]
    nodes: Option<usize>,
    /// Start the nodes with --forward-to-leader (followers relay to the leader).
    #[arg(long)]
    forward_to_leader: bool,
    /// Run on loopback with Raft relays even where namespaces can be made.
    #[arg(long)]
    loopback: bool,
    /// Clients talking to the nodes directly.
    #[arg(long, default_value_t = 4)]
    direct_clients: usize,
    /// Clients going through the proxy.
    #[arg(long, default_value_t = 2)]
    proxy_clients: usize,
    /// Mean time between faults and mean time a fault is held.
    #[arg(long, default_value = "2s", value_parser = humantime_secs)]
    quiet: Duration,
    #[arg(long, default_value = "3s", value_parser = humantime_secs)]
    hold: Duration,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run clients and the nemesis for as long as asked, then check the history.
    Soak(Soak),
    /// Check a kept run again (its history.jsonl and final.json), e.g. after changing a
    /// checker.
    Check { dir: PathBuf },
}

/// Seconds with an `s` or milliseconds with `ms` ("2s", "500ms").
fn humantime_secs(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.strip_suffix("ms") {
        Some(ms) => (ms, 0.001),
        None => (text.trim_end_matches('s'), 1.0),
    };
    let parsed = number
        .parse::<f64>()
        .map(|n| Duration::from_secs_f64(n * unit));
    parsed.map_err(|e| format!("{text}: {e}"))
}

fn node_binary() -> PathBuf {
    std::env::var_os("TINYREDIS_BIN").map_or_else(
        || {
            let exe = std::env::current_exe().expect("own path");
            exe.with_file_name("tinyredis")
        },
        PathBuf::from,
    )
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Check { dir } => recheck(&dir),
        Cmd::Soak(soak) => run_soak(soak),
    }
}

fn recheck(dir: &Path) -> anyhow::Result<()> {
    let history = std::fs::read_to_string(dir.join("history.jsonl"))?;
    let ops: Vec<Op> = history
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let end: FinalState = serde_json::from_str(&std::fs::read_to_string(dir.join("final.json"))?)?;
    let findings = checker::check(&ops, &end);
    println!(
        "{} ops, {} registers ({} inconclusive), {} anomalies",
        ops.len(),
        findings.registers_checked,
        findings.inconclusive,
        findings.anomalies.len()
    );
    for a in &findings.anomalies {
        println!("  ANOMALY {}: {}", a.kind, a.detail);
    }
    if !findings.anomalies.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

fn run_soak(soak: Soak) -> anyhow::Result<()> {
    let Soak {
        minutes,
        seed,
        fault,
        nodes,
        forward_to_leader,
        loopback,
        direct_clients,
        proxy_clients,
        quiet,
        hold,
    } = soak;
    let bin = node_binary();
    anyhow::ensure!(
        bin.exists(),
        "{} not found: build it (cargo build --release -p tinyredis) or set TINYREDIS_BIN",
        bin.display()
    );
    let duration = Duration::from_secs_f64(minutes * 60.0);
    let mut config = RunConfig::new("soak", bin, fault, duration, seed);
    if let Some(n) = nodes {
        config.nodes = n;
    }
    config.loopback = loopback;
    config.direct_clients = direct_clients;
    config.proxy_clients = proxy_clients;
    config.quiet = quiet;
    config.hold = hold;
    if forward_to_leader {
        config.node_flags.push("--forward-to-leader".into());
    }
    let report = tinyredis_faults::run(&config)?;
    println!("{}", report.summary());
    if !report.anomalies.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
