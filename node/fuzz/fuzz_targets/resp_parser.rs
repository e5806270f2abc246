#![no_main]
//! Arbitrary bytes in arbitrary chunkings through the RESP request parser.

#[path = "../harness/parser.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::check_parser(data));
