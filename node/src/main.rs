use tinyredis::config::{self, Command};
use tokio::runtime::{Builder, Runtime};

fn main() -> anyhow::Result<()> {
    pin_mmap_threshold();
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

/// Keeps glibc's mmap threshold at its default 128 KiB. glibc raises it to the size of any
/// mapped block that is freed (up to 32 MiB), so a Raft snapshot's buffers, megabytes each,
/// move every later network frame and sled node into the heap, where they fragment it: a
/// long SET -P16 run on three nodes spent a third more CPU per write after its first
/// snapshot, most of it in malloc and free. With the threshold pinned, the SET -P16 runs
/// that follow a snapshot wrote 4% more on average (207.7k vs 199.7k/s, six interleaved
/// fresh-cluster pairs, better in five).
fn pin_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters, before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
