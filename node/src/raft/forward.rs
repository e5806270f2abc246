//! `--forward-to-leader`: a follower sends a client's write or linearizable read to the
//! leader and relays the reply, instead of answering READONLY. Connections to the leader
//! speak RESP3, so replies keep their types whatever protocol the client speaks.

use crate::protocol::Reply;
use crate::proxy::upstream::Upstream;
use bytes::Bytes;
use parking_lot::Mutex;
use std::time::Duration;

/// Idle connections kept per node for forwarding.
const POOL_SIZE: usize = 16;

pub struct Forwarder {
    password: Option<String>,
    timeout: Duration,
    pool: Mutex<Vec<Upstream>>,
}

impl Forwarder {
    pub fn new(password: Option<String>, timeout: Duration) -> Self {
        Forwarder {
            password,
            timeout,
            pool: Mutex::new(Vec::new()),
        }
    }

    /// Runs `args` in `db` on the leader at `addr`.
    pub async fn forward(&self, addr: &str, db: usize, args: &[Bytes]) -> Reply {
        self.forward_within(addr, db, args, Some(self.timeout))
            .await
    }

    /// Runs blocking command `args` in `db` on the leader at `addr`, which may hold it for
    /// `blocks_for` (`None`: until a key it waits on gets data). A client that leaves
    /// meanwhile drops the connection, and with it the command on the leader.
    pub async fn forward_blocking(
        &self,
        addr: &str,
        db: usize,
        args: &[Bytes],
        blocks_for: Option<Duration>,
    ) -> Reply {
        let limit = blocks_for.map(|b| b + self.timeout);
        self.forward_within(addr, db, args, limit).await
    }

    async fn forward_within(
        &self,
        addr: &str,
        db: usize,
        args: &[Bytes],
        limit: Option<Duration>,
    ) -> Reply {
        let run = self.run_on(addr, db, args);
        match limit {
            None => run.await,
            Some(limit) => tokio::time::timeout(limit, run).await.unwrap_or_else(|_| {
                Reply::error("ERR forwarding to the leader timed out; the outcome is unknown")
            }),
        }
    }

    async fn run_on(&self, addr: &str, db: usize, args: &[Bytes]) -> Reply {
        let attempt = async {
            let mut conn = self.connection(addr).await?;
            conn.queue(&[b"SELECT".as_slice(), db.to_string().as_bytes()]);
            conn.queue(args);
            conn.flush().await?;
            let selected = conn.read_reply().await?;
            let reply = conn.read_reply().await?;
            self.give_back(conn);
            let reply = if selected.is_error() { selected } else { reply };
            reply.decode().map_err(std::io::Error::other)
        };
        attempt.await.unwrap_or_else(|e: std::io::Error| {
            Reply::error(format!(
                "ERR forwarding to the leader failed ({e}); the outcome is unknown"
            ))
        })
    }

    /// A pooled connection to `addr`, or a new one set up for RESP3 (and AUTH).
    async fn connection(&self, addr: &str) -> std::io::Result<Upstream> {
        let pooled = {
            let mut pool = self.pool.lock();
            pool.retain(|c| c.addr == addr);
            pool.pop()
        };
        if let Some(conn) = pooled {
            return Ok(conn);
        }
        let mut conn = Upstream::connect(addr, self.timeout).await?;
        let hello = match &self.password {
            Some(password) => {
                conn.send(&["HELLO", "3", "AUTH", "default", password.as_str()])
                    .await?
            }
            None => conn.send(&["HELLO", "3"]).await?,
        };
        if hello.is_error() {
            return Err(std::io::Error::other(format!(
                "the leader refused HELLO: {:?}",
                hello.error_text()
            )));
        }
        Ok(conn)
    }

    fn give_back(&self, conn: Upstream) {
        let mut pool = self.pool.lock();
        if pool.len() < POOL_SIZE {
            pool.push(conn);
        }
    }
}
