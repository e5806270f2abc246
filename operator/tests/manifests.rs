//! Packaging checks (Helm chart, kustomize deploy/, examples, Dockerfile,
//! RBAC against `API_ACCESS`) run by `scripts/check-manifests.sh`, so the
//! single `cargo test` / `scripts/test.sh` covers them. It needs helm,
//! kubectl and the Python packages that `scripts/install-test-deps.sh`
//! installs; without them it fails with a message saying so.

use std::process::Command;

#[test]
fn packaging_manifests_pass_their_static_checks() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let output = Command::new("bash")
        .arg(format!("{root}/scripts/check-manifests.sh"))
        .env(
            "TINYREDIS_OPERATOR_BIN",
            env!("CARGO_BIN_EXE_tinyredis-operator"),
        )
        .output()
        .expect("run scripts/check-manifests.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "scripts/check-manifests.sh failed (run scripts/install-test-deps.sh first \
         if a tool is missing):\n{stdout}\n{stderr}"
    );
}
