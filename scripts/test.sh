#!/usr/bin/env bash
# The whole test suite: installs the test dependencies, then runs every test in the
# workspace (unit, differential against redis-server, end-to-end with real processes).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
cargo test --workspace --locked
