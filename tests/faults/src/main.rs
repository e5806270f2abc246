//! `tinyredis-faults soak`: one fault-injection run of any length against a tinyredis
//! binary (`TINYREDIS_BIN`, default: the `tinyredis` next to this binary).

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;
use tinyredis_faults::nemesis::FaultSet;
use tinyredis_faults::RunConfig;

#[derive(Parser)]
#[command(about = "Jepsen-style fault injection against a tinyredis cluster")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run clients and the nemesis for as long as asked, then check the history.
    Soak {
        #[arg(long, default_value_t = 10.0)]
        minutes: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, value_enum, default_value_t = FaultSet::All)]
        fault: FaultSet,
        /// Cluster size (3 or 5); default 5 for partitions, else 3.
        #[arg(long)]
        nodes: Option<usize>,
    },
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
    let Cmd::Soak {
        minutes,
        seed,
        fault,
        nodes,
    } = Cli::parse().command;
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
    let report = tinyredis_faults::run(&config)?;
    println!("{}", report.summary());
    if !report.anomalies.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
