use tinyredis::config::{self, Command};
use tokio::runtime::{Builder, Runtime};

fn main() -> anyhow::Result<()> {
    let cli = config::parse()?;
    match cli.command {
        Command::Node(args) => {
            tinyredis::logging::init_node(&args)?;
            node_runtime()?.block_on(tinyredis::node::run(args))
        }
        Command::Proxy(args) => {
            tinyredis::logging::init(&args.loglevel, None)?;
            Runtime::new()?.block_on(tinyredis::proxy::run(args))
        }
    }
}

/// One worker, like Redis's one thread, unless TOKIO_WORKER_THREADS asks for more. Every
/// data command runs under the store's one lock, so a second worker mostly contends for
/// it, for the allocator and for cores with the clients. That holds for a Raft member too:
/// its log flushes run on blocking threads, not on workers. On the 2-core VM, five
/// interleaved SET -P16 runs on three nodes gave a median of 199k/s with one worker per
/// core and 227k/s with one, the leader using 0.64 instead of 0.72 of a core; a one-node
/// cluster did 420-505k vs 505-575k SET/s, and GET the same.
fn node_runtime() -> std::io::Result<Runtime> {
    let mut builder = Builder::new_multi_thread();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(1);
    }
    builder.enable_all().build()
}
