//! The fuzz targets' saved inputs (`node/fuzz/regressions/<target>/`): crashes that were
//! fixed and a minimised set of interesting cases, run through the same checks as the
//! fuzzers (`node/fuzz/harness/`) on the stable toolchain.

#[path = "../fuzz/harness/dispatcher.rs"]
mod dispatcher;
#[path = "../fuzz/harness/parser.rs"]
mod parser;

use std::path::PathBuf;

/// The saved inputs of one target, by file name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut inputs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no saved inputs in {}", dir.display());
    inputs
}

/// Runs `check` on every input, naming the one that fails.
fn run_all(target: &str, check: fn(&[u8])) {
    for (name, data) in inputs(target) {
        if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
            eprintln!("{target}/{name} failed");
            std::panic::resume_unwind(panic);
        }
    }
}

#[test]
fn resp_parser_regressions() {
    run_all("resp_parser", parser::check_parser);
}

#[test]
fn dispatcher_regressions() {
    run_all("dispatcher", dispatcher::check_dispatcher);
}
