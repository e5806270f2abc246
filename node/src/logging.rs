//! Logging setup: text to stdout, plus JSON `redis.log` under `--logdir` when given, with
//! the original's sampling (zap's sampler): per interval, of each message the first
//! `initial` events are logged, then every `thereafter`-th, and the rest dropped.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::Hash;
use std::path::Path;
use std::time::{Duration, Instant};
use tracing::callsite::Identifier;
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// `--log-sampling-*`: how many events of one message are kept per interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampling {
    pub interval: Duration,
    pub initial: u64,
    pub thereafter: u64,
}

impl Default for Sampling {
    /// The original's defaults (zap's production sampling).
    fn default() -> Self {
        Sampling {
            interval: Duration::from_secs(1),
            initial: 100,
            thereafter: 100,
        }
    }
}

/// Counts events per key in windows of `interval` that start at the key's first event.
struct Counts<K> {
    sampling: Sampling,
    counts: Mutex<HashMap<K, (Instant, u64)>>,
}

impl<K: Hash + Eq> Counts<K> {
    fn new(sampling: Sampling) -> Self {
        Counts {
            sampling,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the event of `key` seen at `now` is kept.
    fn keep(&self, key: K, now: Instant) -> bool {
        let Sampling {
            interval,
            initial,
            thereafter,
        } = self.sampling;
        let n = {
            let mut counts = self.counts.lock();
            let (window_start, n) = counts.entry(key).or_insert((now, 0));
            if now.saturating_duration_since(*window_start) >= interval {
                *window_start = now;
                *n = 0;
            }
            *n += 1;
            *n
        };
        n <= initial || (thereafter > 0 && (n - initial) % thereafter == 0)
    }
}

/// A layer that drops sampled-out events for every output. Events are keyed by call site,
/// which fixes the level and the message text, as zap keys by (level, message).
pub struct SamplingLayer {
    counts: Counts<Identifier>,
}

impl SamplingLayer {
    pub fn new(sampling: Sampling) -> Self {
        SamplingLayer {
            counts: Counts::new(sampling),
        }
    }
}

impl<S: Subscriber> Layer<S> for SamplingLayer {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        self.counts
            .keep(event.metadata().callsite(), Instant::now())
    }
}

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

/// `--loglevel`: debug, info, warn or error.
pub fn parse_level(level: &str) -> anyhow::Result<LevelFilter> {
    Ok(match level.to_ascii_lowercase().as_str() {
        "debug" => LevelFilter::DEBUG,
        "info" => LevelFilter::INFO,
        "warn" | "warning" => LevelFilter::WARN,
        "error" => LevelFilter::ERROR,
        other => anyhow::bail!("invalid --loglevel '{other}': use debug, info, warn or error"),
    })
}

/// Installs the global subscriber with the default sampling.
pub fn init(level: &str, logdir: Option<&Path>) -> anyhow::Result<()> {
    init_with(level, logdir, Some(Sampling::default()))
}

/// Installs the global subscriber; `sampling: None` logs every event.
pub fn init_with(
    level: &str,
    logdir: Option<&Path>,
    sampling: Option<Sampling>,
) -> anyhow::Result<()> {
    let level = parse_level(level)?;
    let stdout = fmt::layer()
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_filter(filter(level));
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
                    .with_filter(filter(level)),
            )
        }
        None => None,
    };
    // Filtered like the writers: an unfiltered layer makes every callsite interesting, and
    // openraft's debug spans were then built for each call (3% of a node's CPU under load).
    let sampling = sampling.map(|s| SamplingLayer::new(s).with_filter(filter(level)));
    tracing_subscriber::registry()
        .with(sampling)
        .with(stdout)
        .with(file)
        .try_init()?;
    Ok(())
}

/// The node's logging flags.
pub fn init_node(args: &crate::config::NodeArgs) -> anyhow::Result<()> {
    let sampling = args.log_sampling.then(|| Sampling {
        interval: args.log_sampling_interval.into(),
        initial: args.log_sampling_initial,
        thereafter: args.log_sampling_thereafter,
    });
    init_with(&args.loglevel, args.logdir.as_deref(), sampling)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn first_initial_then_every_thereafter_per_interval() {
        let counts = Counts::new(Sampling {
            interval: Duration::from_secs(1),
            initial: 3,
            thereafter: 5,
        });
        let t0 = Instant::now();
        let kept: Vec<u64> = (1..=20)
            .filter(|_| counts.keep("a", t0))
            .collect::<Vec<_>>();
        assert_eq!(kept.len(), 3 + 3, "1,2,3 then 8,13,18");
        // Another key has its own count.
        assert!(counts.keep("b", t0));
        // A new interval starts over.
        let later = t0 + Duration::from_millis(1500);
        assert!((0..3).all(|_| counts.keep("a", later)));
        assert!(!counts.keep("a", later));
    }

    #[test]
    fn thereafter_zero_drops_everything_after_initial() {
        let counts = Counts::new(Sampling {
            interval: Duration::from_secs(60),
            initial: 2,
            thereafter: 0,
        });
        let now = Instant::now();
        let kept = (0..100).filter(|_| counts.keep(1, now)).count();
        assert_eq!(kept, 2);
    }

    /// Counts the events that reach the outputs.
    struct Count(Arc<AtomicUsize>);

    impl<S: Subscriber> Layer<S> for Count {
        fn on_event(&self, _event: &Event<'_>, _ctx: Context<'_, S>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn the_layer_samples_each_call_site_separately() {
        let seen = Arc::new(AtomicUsize::new(0));
        let subscriber = tracing_subscriber::registry()
            .with(SamplingLayer::new(Sampling {
                interval: Duration::from_secs(3600),
                initial: 10,
                thereafter: 100,
            }))
            .with(Count(seen.clone()));
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..250 {
                tracing::info!(i, "same message");
            }
            for i in 0..5 {
                tracing::warn!(i, "another message");
            }
        });
        // 10 first, then the 110th and 210th; the other call site keeps all 5.
        assert_eq!(seen.load(Ordering::Relaxed), 12 + 5);
    }
}
