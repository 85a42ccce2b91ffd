#!/usr/bin/env bash
# The WebSocket transport's test: installs its npm packages (npm ci), generates the demo's TypeScript
# code, type-checks and bundles the tests (npm run build), builds the demo server, then runs every
# call type through a connect-es client on the transport against it (node --test). Needs Node.js 20+,
# npm and Rust.
set -euo pipefail
cd "$(dirname "$0")"

echo "== npm ci"
npm ci --no-audit --no-fund --loglevel=error

echo "== npm run build (buf generate, tsc, esbuild)"
npm run --silent build

echo "== cargo build the demo server"
cargo build --quiet -p trident-examples --bin server
target_dir="$(cargo metadata --format-version 1 --no-deps |
  node -e 'let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => console.log(JSON.parse(s).target_directory))')"

echo "== node --test"
DEMO_SERVER="$target_dir/debug/server" npm test
