//! `crds/` is what packaging installs; it must be exactly what the binary
//! prints, or users would install a schema the operator does not speak.

use std::process::Command;

const CRD_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crds/tinyredis.io_tinyredisclusters.yaml"
);

#[test]
fn crds_directory_matches_the_crd_command() {
    let output = Command::new(env!("CARGO_BIN_EXE_tinyredis-operator"))
        .arg("crd")
        .output()
        .expect("run tinyredis-operator crd");
    assert!(output.status.success(), "crd command failed: {output:?}");
    let printed = String::from_utf8(output.stdout).expect("utf-8 YAML");
    let stored = std::fs::read_to_string(CRD_FILE).expect("read crds/ file");
    assert!(
        printed == stored,
        "{CRD_FILE} is stale; regenerate it with \
         `cargo run -p tinyredis-operator -- crd > crds/tinyredis.io_tinyredisclusters.yaml`"
    );
}
