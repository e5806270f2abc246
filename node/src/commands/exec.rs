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
    pub rng: StdRng,
}

impl<'a> Exec<'a> {
    pub fn new(store: &'a mut Store, db: usize, now_ms: u64, seed: u64) -> Self {
        Exec {
            store,
            db,
            now_ms,
            rng: StdRng::seed_from_u64(seed),
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
