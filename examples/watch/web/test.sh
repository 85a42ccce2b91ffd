#!/usr/bin/env bash
# The browser test of the watch page: installs Debian's Chromium if it is missing, installs the page's npm
# packages (npm ci), generates the TypeScript code and bundles the page (npm run build), builds
# watch-server, then drives the page in headless Chromium with node's test runner (test/page.test.mjs).
# Needs Node.js 20+, npm and Rust; apt-get (as root, or through sudo) when Chromium is missing.
set -euo pipefail
cd "$(dirname "$0")"

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "== installing chromium (apt-get)"
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

echo "== npm ci (the page, and the WebSocket transport it imports)"
npm ci --no-audit --no-fund --loglevel=error
(cd ../../../web/websocket-transport && npm ci --no-audit --no-fund --loglevel=error)

echo "== npm run build (buf generate, tsc, esbuild)"
npm run --silent build

echo "== cargo build watch-server"
cargo build --quiet -p trident-watch --bin watch-server
target_dir="$(cargo metadata --format-version 1 --no-deps |
  node -e 'let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => console.log(JSON.parse(s).target_directory))')"

echo "== node --test (headless Chromium)"
CHROMIUM="$chromium" WATCH_SERVER="$target_dir/debug/watch-server" node --test test/
