#![no_main]
//! Sequences of commands from the real command table, applied like the state machine does.

#[path = "../harness/dispatcher.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::check_dispatcher(data));
