//! The Redis wire protocol: requests in (RESP multibulk or inline), replies out (RESP2 or RESP3).

mod reply;
pub mod reply_parser;
pub mod request;

pub use reply::{format_double, Reply};
pub use request::{parse_request, ProtocolError, MAX_BULK_LEN, MAX_MULTIBULK_LEN};
