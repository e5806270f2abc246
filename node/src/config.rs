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
pub enum Command {
    /// Run a data node.
    #[command(args_override_self = true)]
    Node(NodeArgs),
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
}

/// Parses the process arguments, merging in the config file when one is named.
pub fn parse() -> anyhow::Result<Cli> {
    let argv: Vec<String> = std::env::args().collect();
    let cli = Cli::parse_from(&argv);
    let Command::Node(node) = &cli.command;
    let Some(path) = &node.config else {
        return Ok(cli);
    };
    let file_args = config_file_args(&std::fs::read_to_string(path)?)?;
    // The subcommand name stays first; file settings go before the command line's flags
    // so that flags given on the command line win.
    let mut merged = argv[..2].to_vec();
    merged.extend(file_args);
    merged.extend(argv[2..].iter().cloned());
    Ok(Cli::try_parse_from(merged)?)
}

/// Turns `key value` lines into `--key value` arguments; `#` starts a comment.
pub fn config_file_args(text: &str) -> anyhow::Result<Vec<String>> {
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
        match value {
            "no" | "false" => continue,
            "" | "yes" | "true" => args.push(format!("--{key}")),
            _ => args.extend([format!("--{key}"), value.to_string()]),
        }
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lines_become_flags_and_flags_win() {
        let args =
            config_file_args("# comment\nport 6390\nstandalone yes\nhost \"0.0.0.0\"\n").unwrap();
        assert_eq!(
            args,
            ["--port", "6390", "--standalone", "--host", "0.0.0.0"]
        );
        let mut argv = vec!["tinyredis".to_string(), "node".to_string()];
        argv.extend(args);
        argv.extend(["--port".to_string(), "7000".to_string()]);
        let Command::Node(node) = Cli::try_parse_from(argv).unwrap().command;
        assert_eq!(node.port, 7000);
        assert!(node.standalone);
    }
}
