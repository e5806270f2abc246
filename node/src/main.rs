use tinyredis::config::{self, Command};

fn main() -> anyhow::Result<()> {
    let cli = config::parse()?;
    match cli.command {
        Command::Node(args) => {
            tinyredis::logging::init_node(&args)?;
            tokio::runtime::Runtime::new()?.block_on(tinyredis::node::run(args))
        }
        Command::Proxy(args) => {
            tinyredis::logging::init(&args.loglevel, None)?;
            tokio::runtime::Runtime::new()?.block_on(tinyredis::proxy::run(args))
        }
    }
}
