//! Logging setup: text to stdout, plus JSON `redis.log` under `--logdir` when given.

use std::path::Path;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt;
use tracing_subscriber::prelude::*;

/// Our events at `level`; openraft's chatty internals only from warn, unless debugging.
fn filter(level: LevelFilter) -> Targets {
    let raft_level = if level >= LevelFilter::DEBUG {
        level
    } else {
        LevelFilter::WARN
    };
    Targets::new()
        .with_default(level)
        .with_target("openraft", raft_level)
        .with_target("sled", LevelFilter::WARN)
}

/// Installs the global subscriber; `level` is debug, info, warn or error.
pub fn init(level: &str, logdir: Option<&Path>) -> anyhow::Result<()> {
    let level: LevelFilter = match level.to_ascii_lowercase().as_str() {
        "debug" => LevelFilter::DEBUG,
        "info" => LevelFilter::INFO,
        "warn" | "warning" => LevelFilter::WARN,
        "error" => LevelFilter::ERROR,
        other => anyhow::bail!("invalid --loglevel '{other}': use debug, info, warn or error"),
    };
    let stdout = fmt::layer().with_target(false).with_filter(filter(level));
    let file = match logdir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("redis.log"))?;
            Some(
                fmt::layer()
                    .json()
                    .with_writer(std::sync::Mutex::new(file))
                    .with_filter(level),
            )
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(stdout)
        .with(file)
        .try_init()?;
    Ok(())
}
