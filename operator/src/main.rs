use clap::{Parser, Subcommand};

/// Kubernetes operator for tinyredis clusters.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the TinyRedisCluster CustomResourceDefinition as YAML.
    Crd,
}

fn main() {
    match Cli::parse().command {
        Command::Crd => print!("{}", tinyredis_operator::crd::crd_yaml()),
    }
}
