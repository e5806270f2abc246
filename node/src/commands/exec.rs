//! The context a data command runs in: the store, the selected db, and the time and random
//! seed stamped on the request (on the leader, into the Raft entry), never read locally.

use crate::keyspace::{Db, Store};
use rand::rngs::StdRng;
use rand::SeedableRng;

pub struct Exec<'a> {
    pub store: &'a mut Store,
    pub db: usize,
    /// Unix milliseconds of the request.
    pub now_ms: u64,
    /// Randomness for SPOP/SRANDMEMBER/RANDOMKEY, seeded from the request.
    pub rng: RequestRng,
}

/// The request's random generator, built on first draw: few commands draw, and seeding
/// the generator costs more than a whole GET. The draws are the same as if it were built
/// up front, so replicas given the same seed still pick alike.
pub struct RequestRng {
    /// `None` when the request carries no seed (standalone): one is drawn on first use.
    seed: Option<u64>,
    rng: Option<StdRng>,
}

impl RequestRng {
    pub fn get(&mut self) -> &mut StdRng {
        let seed = self.seed;
        self.rng
            .get_or_insert_with(|| StdRng::seed_from_u64(seed.unwrap_or_else(rand::random)))
    }
}

impl<'a> Exec<'a> {
    /// A context for a logged request: every replica gets the same `seed`.
    pub fn new(store: &'a mut Store, db: usize, now_ms: u64, seed: u64) -> Self {
        Self::with_seed(store, db, now_ms, Some(seed))
    }

    /// A context for a request run only here (standalone), seeded on first draw.
    pub fn local(store: &'a mut Store, db: usize, now_ms: u64) -> Self {
        Self::with_seed(store, db, now_ms, None)
    }

    fn with_seed(store: &'a mut Store, db: usize, now_ms: u64, seed: Option<u64>) -> Self {
        Exec {
            store,
            db,
            now_ms,
            rng: RequestRng { seed, rng: None },
        }
    }

    pub fn db(&mut self) -> &mut Db {
        &mut self.store.dbs[self.db]
    }

    /// Counts a read lookup for INFO's keyspace_hits/misses.
    pub fn count_lookup(&mut self, hit: bool) {
        let stats = &mut self.store.stats;
        if hit {
            stats.keyspace_hits += 1;
        } else {
            stats.keyspace_misses += 1;
        }
    }
}
