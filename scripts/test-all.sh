#!/usr/bin/env bash
# Ferry's one test command: installs the pinned JavaScript-distributed tools (solc-js, anvil, forge) and runs every
# test: the contract artifact freshness check, the forge tests and the whole cargo test suite.
#
# Deeper property-test runs: FERRY_PROPTEST_CASES=2000 scripts/test-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "installing pinned npm packages (solc 0.8.37, anvil 1.7.1, forge 1.7.1)"
if [ ! -x node_modules/.bin/anvil ] || [ ! -x node_modules/.bin/forge ] || [ ! -d node_modules/solc ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

step "contract artifacts are fresh (compiled with npm solc, compared with contracts/artifacts)"
node contracts/scripts/compile.js --check

step "forge tests (unit, fuzz, invariant)"
(cd contracts && ../node_modules/.bin/forge test)

step "the protocol cores stay sans-IO (no tokio, quinn or revm in ferry-ledger's and ferry-virtual's trees)"
for core in ferry-ledger ferry-virtual; do
  if cargo tree -p "$core" -e normal --prefix none --locked | grep -E '^(tokio|quinn|revm) ' >/dev/null; then
    echo "$core depends on an I/O crate: the protocol cores must stay free of I/O" >&2
    exit 1
  fi
done

step "cargo tests (all crates)"
cargo test --workspace --locked

step "the custom-app example runs (an app builder's own app through the harness)"
# `cargo test` built it with the workspace's features; running that binary builds nothing again.
"${CARGO_TARGET_DIR:-target}/debug/examples/custom_app"
