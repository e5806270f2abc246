//! `--forward-to-leader`: a follower sends a client's write or linearizable read to the
//! leader and relays the reply, instead of answering READONLY. A command is asked in the
//! protocol its client speaks, so the reply has the shape that client expects (RESP3 has
//! one null where RESP2 tells a null array from a null string).

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
    /// Idle connections, each with the protocol it speaks (true: RESP3).
    pool: Mutex<Vec<(bool, Upstream)>>,
}

impl Forwarder {
    pub fn new(password: Option<String>, timeout: Duration) -> Self {
        Forwarder {
            password,
            timeout,
            pool: Mutex::new(Vec::new()),
        }
    }

    /// Runs `args` in `db` on the leader at `addr`, in RESP3 when `resp3`.
    pub async fn forward(&self, addr: &str, resp3: bool, db: usize, args: &[Bytes]) -> Reply {
        within(Some(self.timeout), self.run_on(addr, resp3, db, args)).await
    }

    /// Runs blocking command `args` in `db` on the leader at `addr`, which may hold it for
    /// `blocks_for` (`None`: until a key it waits on gets data). A client that leaves
    /// meanwhile drops the connection, and with it the command on the leader.
    pub async fn forward_blocking(
        &self,
        addr: &str,
        resp3: bool,
        db: usize,
        args: &[Bytes],
        blocks_for: Option<Duration>,
    ) -> Reply {
        let limit = blocks_for.map(|b| b + self.timeout);
        within(limit, self.run_on(addr, resp3, db, args)).await
    }

    async fn run_on(&self, addr: &str, resp3: bool, db: usize, args: &[Bytes]) -> Reply {
        let attempt = async {
            let mut conn = self.connection(addr, resp3).await?;
            conn.queue(&[b"SELECT".as_slice(), db.to_string().as_bytes()]);
            conn.queue(args);
            conn.flush().await?;
            let selected = conn.read_reply().await?;
            let reply = conn.read_reply().await?;
            self.give_back(resp3, conn);
            let reply = if selected.is_error() { selected } else { reply };
            reply.decode().map_err(std::io::Error::other)
        };
        attempt.await.unwrap_or_else(|e: std::io::Error| {
            Reply::error(format!(
                "ERR forwarding to the leader failed ({e}); the outcome is unknown"
            ))
        })
    }

    /// A pooled connection to `addr` speaking the protocol asked for, or a new one set
    /// up for it (and AUTH).
    async fn connection(&self, addr: &str, resp3: bool) -> std::io::Result<Upstream> {
        let pooled = {
            let mut pool = self.pool.lock();
            pool.retain(|(_, c)| c.addr == addr);
            let same_protocol = pool.iter().rposition(|(r, _)| *r == resp3);
            same_protocol.map(|i| pool.swap_remove(i).1)
        };
        if let Some(conn) = pooled {
            return Ok(conn);
        }
        let mut conn = Upstream::connect(addr, self.timeout).await?;
        let protocol = if resp3 { "3" } else { "2" };
        let hello = match &self.password {
            Some(password) => {
                conn.send(&["HELLO", protocol, "AUTH", "default", password.as_str()])
                    .await?
            }
            None => conn.send(&["HELLO", protocol]).await?,
        };
        if hello.is_error() {
            return Err(std::io::Error::other(format!(
                "the leader refused HELLO: {:?}",
                hello.error_text()
            )));
        }
        Ok(conn)
    }

    fn give_back(&self, resp3: bool, conn: Upstream) {
        let mut pool = self.pool.lock();
        if pool.len() < POOL_SIZE {
            pool.push((resp3, conn));
        }
    }
}

/// `run`'s reply, or a timeout error once `limit` (if any) has passed.
async fn within(limit: Option<Duration>, run: impl std::future::Future<Output = Reply>) -> Reply {
    match limit {
        None => run.await,
        Some(limit) => tokio::time::timeout(limit, run).await.unwrap_or_else(|_| {
            Reply::error("ERR forwarding to the leader timed out; the outcome is unknown")
        }),
    }
}
