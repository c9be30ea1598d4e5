#!/usr/bin/env bash
# Install what the tests need, then run every check and test as root:
# formatting, clippy, unit tests and the integration tests that start real
# containers on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
[ "$(id -u)" = 0 ] || { echo "test.sh: run as root: the tests create namespaces, cgroups and mounts" >&2; exit 1; }
./scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --quiet --no-fail-fast -- --test-threads=2
