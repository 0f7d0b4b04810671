#!/usr/bin/env bash
# The whole test suite: formatting, clippy, unit, property, fixture and namespace-lab tests. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test (unit, property, fixture, namespace lab)"
cargo test --workspace --release -- --test-threads="${VIPD_TEST_THREADS:-4}"
