//! A group-commit batch as it travels in the Raft log: the writes of several clients in
//! one buffer, encoded once by the leader. The leader's log store, both replication
//! streams and each follower's log store copy the buffer as it is; replicas decode it only
//! to apply it. A batch of `Request`s was serialised at every one of those steps, and a
//! follower rebuilt each write from four allocations, then serialised it again.
//!
//! Layout, little-endian: `now_ms: u64, seed: u64`, then each write as either a command,
//! `0u8, db: u32, argc: u32` and `len: u32, bytes` per argument, or any other request,
//! `1u8, len: u32, bincode`. Commands run at the batch's time (the latest their sessions
//! stamped) with the batch's seed plus their position, so a batch carries one stamp, not
//! sixteen bytes of time and seed per write.

use super::types::Request;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const COMMAND: u8 = 0;
const OTHER: u8 = 1;

#[derive(Debug, Clone)]
pub struct WriteBatch(Bytes);

/// A buffer that does not hold a well-formed batch.
#[derive(Debug, thiserror::Error)]
#[error("malformed write batch: {0}")]
pub struct Malformed(String);

impl From<bytes::TryGetError> for Malformed {
    fn from(e: bytes::TryGetError) -> Self {
        Malformed(e.to_string())
    }
}

impl WriteBatch {
    /// Encodes `requests`, in order; their commands take the batch's stamps. `capacity`
    /// is what to reserve: group commit passes the requests' `encoded_bytes`, which it has
    /// already summed to bound the batch.
    pub fn encode(requests: &[Request], capacity: usize) -> Self {
        let (now_ms, seed) = stamps(requests);
        let mut buf = BytesMut::with_capacity(16 + capacity);
        buf.put_u64_le(now_ms);
        buf.put_u64_le(seed);
        for request in requests {
            match request {
                Request::Command { db, args, .. } => {
                    buf.put_u8(COMMAND);
                    put_len(&mut buf, *db);
                    put_len(&mut buf, args.len());
                    for arg in args {
                        put_len(&mut buf, arg.len());
                        buf.put_slice(arg);
                    }
                }
                other => {
                    let encoded = bincode::serialize(other).expect("a request serialises");
                    buf.put_u8(OTHER);
                    put_len(&mut buf, encoded.len());
                    buf.put_slice(&encoded);
                }
            }
        }
        WriteBatch(buf.freeze())
    }

    /// The writes, in order; arguments are slices of the batch, not copies.
    pub fn requests(&self) -> Result<Vec<Request>, Malformed> {
        let (now_ms, seed, mut buf) = self.header()?;
        let mut requests = Vec::new();
        while buf.has_remaining() {
            let position = requests.len() as u64;
            requests.push(match read_write(&mut buf, true)? {
                Write::Command { db, args } => Request::Command {
                    db,
                    args,
                    now_ms,
                    seed: seed.wrapping_add(position),
                },
                Write::Other(request) => request,
            });
        }
        Ok(requests)
    }

    /// Walks the batch without keeping its arguments.
    fn check(&self) -> Result<(), Malformed> {
        let (_, _, mut buf) = self.header()?;
        while buf.has_remaining() {
            read_write(&mut buf, false)?;
        }
        Ok(())
    }

    /// The batch's time and seed, and the writes after them.
    fn header(&self) -> Result<(u64, u64, Bytes), Malformed> {
        let mut buf = self.0.clone();
        Ok((buf.try_get_u64_le()?, buf.try_get_u64_le()?, buf))
    }

    /// Its size encoded, which bounds batches and replication messages.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// The time and seed of a batch: the latest time its commands were stamped with and the
/// first command's seed (each drawn at random by the leader).
fn stamps(requests: &[Request]) -> (u64, u64) {
    let commands = || {
        requests.iter().filter_map(|r| match r {
            Request::Command { now_ms, seed, .. } => Some((*now_ms, *seed)),
            _ => None,
        })
    };
    let now_ms = commands().map(|(now_ms, _)| now_ms).max().unwrap_or(0);
    let seed = commands().next().map_or(0, |(_, seed)| seed);
    (now_ms, seed)
}

fn put_len(buf: &mut BytesMut, len: usize) {
    buf.put_u32_le(u32::try_from(len).expect("a write's parts are under 4 GiB"));
}

/// One write as laid out in a batch.
enum Write {
    Command { db: usize, args: Vec<Bytes> },
    Other(Request),
}

/// Reads the write at the front of `buf`, with its arguments when `keep_args`.
fn read_write(buf: &mut Bytes, keep_args: bool) -> Result<Write, Malformed> {
    match buf.try_get_u8()? {
        COMMAND => {
            let db = get_len(buf)?;
            let argc = get_len(buf)?;
            // Each argument takes at least its length's four bytes.
            if argc > buf.remaining() / 4 {
                return Err(Malformed(format!(
                    "{argc} arguments in {} bytes",
                    buf.remaining()
                )));
            }
            let mut args = Vec::with_capacity(if keep_args { argc } else { 0 });
            for _ in 0..argc {
                let len = get_part_len(buf)?;
                if keep_args {
                    args.push(buf.split_to(len));
                } else {
                    buf.advance(len);
                }
            }
            Ok(Write::Command { db, args })
        }
        OTHER => {
            let len = get_part_len(buf)?;
            bincode::deserialize(&buf.split_to(len))
                .map(Write::Other)
                .map_err(|e| Malformed(e.to_string()))
        }
        kind => Err(Malformed(format!("unknown write kind {kind}"))),
    }
}

fn get_len(buf: &mut Bytes) -> Result<usize, Malformed> {
    Ok(buf.try_get_u32_le()? as usize)
}

/// The length of the part that follows, checked against what is left.
fn get_part_len(buf: &mut Bytes) -> Result<usize, Malformed> {
    let len = get_len(buf)?;
    if len > buf.remaining() {
        return Err(Malformed(format!(
            "{len} bytes wanted, {} left",
            buf.remaining()
        )));
    }
    Ok(len)
}

impl Serialize for WriteBatch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

/// Checks the whole batch as it arrives, so a batch in the log always decodes.
impl<'de> Deserialize<'de> for WriteBatch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let batch = WriteBatch(Bytes::deserialize(deserializer)?);
        batch.check().map_err(serde::de::Error::custom)?;
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::{Store, Watch};
    use crate::raft::state_machine::apply_request;

    fn command(db: usize, args: &[&str], now_ms: u64, seed: u64) -> Request {
        Request::Command {
            db,
            args: args
                .iter()
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect(),
            now_ms,
            seed,
        }
    }

    /// Writes of every kind, each stamped differently, as sessions stamp them.
    fn writes() -> Vec<Request> {
        vec![
            command(0, &["SET", "k", "v", "PX", "500"], 1_000, 7),
            command(3, &["SADD", "s", "a", "b", "c", "d", "e"], 1_004, 99),
            command(3, &["SPOP", "s", "2"], 1_002, 12_345),
            command(0, &["SET", "bin", "\0\r\n\u{ff}", "KEEPTTL"], 1_001, 5),
            command(0, &["PING"], 1_003, 8),
            Request::Transaction {
                db: 1,
                calls: vec![vec![Bytes::from_static(b"INCR"), Bytes::from_static(b"n")]],
                watches: vec![Watch {
                    db: 1,
                    key: Bytes::from_static(b"n"),
                    since: 0,
                    existed: false,
                }],
                now_ms: 900,
                seed: 3,
            },
            Request::Expire {
                keys: vec![(0, Bytes::from_static(b"k"))],
                now_ms: 2_000,
            },
            command(0, &["GET", "k"], 1_000, 1),
        ]
    }

    /// `writes()` as a batch decodes them: commands at the latest time and the first
    /// command's seed plus their position, anything else as it was.
    fn stamped() -> Vec<Request> {
        writes()
            .into_iter()
            .enumerate()
            .map(|(position, request)| match request {
                Request::Command { db, args, .. } => Request::Command {
                    db,
                    args,
                    now_ms: 1_004,
                    seed: 7 + position as u64,
                },
                other => other,
            })
            .collect()
    }

    #[test]
    fn commands_take_the_batch_stamps_and_other_requests_pass_through() {
        let batch = WriteBatch::encode(&writes(), 0);
        assert_eq!(
            format!("{:?}", batch.requests().unwrap()),
            format!("{:?}", stamped())
        );
    }

    /// The batch applies as its writes, stamped, would one by one: same replies, same
    /// keyspace down to its layout.
    #[test]
    fn a_batch_applies_as_its_stamped_writes() {
        let (mut batched, mut one_by_one) = (Store::default(), Store::default());
        let batch = Request::Writes(WriteBatch::encode(&writes(), 0));
        let replies = apply_request(&mut batched, &batch);
        let expected: Vec<_> = stamped()
            .iter()
            .map(|request| apply_request(&mut one_by_one, request))
            .collect();
        assert_eq!(
            format!("{replies:?}"),
            format!("{:?}", crate::raft::types::Response::Batch(expected))
        );
        assert_eq!(batched.to_image(), one_by_one.to_image());
    }

    #[test]
    fn a_batch_survives_both_log_encodings() {
        use bincode::Options;
        let entry = Request::Writes(WriteBatch::encode(&writes(), 0));
        let fixed: Request = bincode::deserialize(&bincode::serialize(&entry).unwrap()).unwrap();
        let varint = bincode::DefaultOptions::new();
        let bytes = varint.serialize(&entry).unwrap();
        let decoded: Request = varint.deserialize(&bytes).unwrap();
        for request in [fixed, decoded] {
            let Request::Writes(batch) = request else {
                panic!("not a batch: {request:?}");
            };
            assert_eq!(
                format!("{:?}", batch.requests().unwrap()),
                format!("{:?}", stamped())
            );
        }
    }

    /// A damaged batch is refused as it is decoded, without a panic or an allocation
    /// sized by a damaged length, so none reaches the log or apply.
    #[test]
    fn a_damaged_batch_is_refused_when_decoded() {
        let good = WriteBatch::encode(&writes(), 0).0.to_vec();
        let decode = |raw: Vec<u8>| {
            bincode::deserialize::<WriteBatch>(&bincode::serialize(&Bytes::from(raw)).unwrap())
        };
        assert!(decode(good.clone()).is_ok());
        let cut_inside_an_argument = good[..good.len() - 1].to_vec();
        assert!(decode(cut_inside_an_argument).is_err());
        assert!(
            decode(good[..12].to_vec()).is_err(),
            "cut inside the stamps"
        );
        let mut unknown_kind = good.clone();
        unknown_kind[16] = 9;
        assert!(decode(unknown_kind).is_err());
        let mut huge_argc = good.clone();
        huge_argc[21..25].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(huge_argc).is_err());
        let mut long_argument = good;
        long_argument[25..29].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(long_argument).is_err());
    }
}
