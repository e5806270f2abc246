use tinyredis::config::{self, Command, NodeArgs};
use tokio::runtime::{Builder, Runtime};

fn main() -> anyhow::Result<()> {
    let cli = config::parse()?;
    match cli.command {
        Command::Node(args) => {
            tinyredis::logging::init_node(&args)?;
            node_runtime(&args)?.block_on(tinyredis::node::run(args))
        }
        Command::Proxy(args) => {
            tinyredis::logging::init(&args.loglevel, None)?;
            Runtime::new()?.block_on(tinyredis::proxy::run(args))
        }
    }
}

/// Standalone, every data command runs under the store's one lock, so a second worker
/// only contends for it (and for cores with the clients): one worker, like Redis's one
/// thread, unless TOKIO_WORKER_THREADS asks for more. A Raft member keeps one per core
/// for the log, the transport and the state machine.
fn node_runtime(args: &NodeArgs) -> std::io::Result<Runtime> {
    let mut builder = Builder::new_multi_thread();
    if args.standalone && std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(1);
    }
    builder.enable_all().build()
}
