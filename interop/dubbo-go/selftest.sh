#!/usr/bin/env bash
# Proves both halves of dubbo-interop against each other: builds it, starts `serve --mode raw` and
# `serve --mode hl`, and runs `call` in every mode and codec against both. Every scenario must pass,
# except `error` with `--mode triple` against the hl server: dubbo-go's stub server drops error
# details (proxy/proxy_factory/default.go, infoProxyInvoker.Invoke), which that mode requires.
#
#   ./selftest.sh [path/to/binary]    (default: builds into a temporary directory)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tmp="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

bin="${1:-}"
if [[ -z "$bin" ]]; then
  bin="$tmp/dubbo-interop"
  (cd "$here" && go build -mod=readonly -o "$bin" .)
fi

start() { # mode -> sets port
  local mode="$1" out="$tmp/serve-$1.out"
  "$bin" serve --mode "$mode" >"$out" 2>"$tmp/serve-$mode.err" &
  pids+=("$!")
  for _ in $(seq 1 150); do
    if [[ -s "$out" ]] && read -r word p <"$out" && [[ "$word" == LISTENING ]]; then
      port="$p"
      return
    fi
    sleep 0.1
  done
  echo "serve --mode $mode did not print LISTENING" >&2
  cat "$tmp/serve-$mode.err" >&2
  exit 1
}

failed=0
for server in raw hl; do
  start "$server"
  for mode in hl triple; do
    for codec in proto json; do
      lines="$("$bin" call --addr "127.0.0.1:$port" --mode "$mode" --codec "$codec" --scenario all,business 2>/dev/null || true)"
      while IFS= read -r line; do
        scenario="$(sed -E 's/^\{"scenario":"([^"]*)".*/\1/' <<<"$line")"
        expected=true
        [[ "$server/$mode/$scenario" == hl/triple/error ]] && expected=false
        if [[ "$line" == *'"ok":'"$expected"* ]]; then
          verdict=ok
        else
          verdict=UNEXPECTED
          failed=1
        fi
        printf '%-10s server=%-3s call=%-6s codec=%-5s %s\n' "$verdict" "$server" "$mode" "$codec" "$line"
      done <<<"$lines"
    done
  done
done
exit "$failed"
