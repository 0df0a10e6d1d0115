#!/usr/bin/env bash
# Slow-client benchmark (`make bench-slow-clients`): the release gateway on the shipped
# config's data with the default client limits (keepalive_timeout 60s, header_timeout
# 30s, max_connections_per_ip 256), in front of its echo origin, against thousands of
# slow clients from loopback source addresses (examples/slow_clients.rs): its memory
# while they are held, how many it admits, and when it has closed them. Writes
# benches/results/slow-clients.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
N="${N:-5000}"
HEAD="${HEAD:-16384}"
OUT="${OUT:-$ROOT/benches/results/slow-clients.md}"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cargo build --release --quiet --bin riskgate --example slow_clients
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
RG="$TARGET_DIR/release/riskgate"
T="$(mktemp -d)"
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; [ -n "${ORIGIN:-}" ] && kill "$ORIGIN" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
# an origin (Python's http.server on a port the kernel picks)
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$T" > "$T/origin" 2>&1 &
ORIGIN=$!
for _ in $(seq 1 100); do grep -q 'port' "$T/origin" && break; sleep 0.1; done
OPORT=$(sed -nE 's/.* port ([0-9]+).*/\1/p' "$T/origin" | head -1)
# the shipped gateway.yaml's routes and data, on port 0, in front of that origin
sed -e 's|^listen:.*|listen: ["127.0.0.1:0"]|' -e 's|^admin:.*|admin: "127.0.0.1:0"|' \
    -e "s|^upstream:.*|upstream: \"127.0.0.1:$OPORT\"|" -e 's|^log:.*|log: { level: error }|' \
    -e "s|: data/|: $ROOT/data/|g" -e "s|- data/|- $ROOT/data/|g" gateway.yaml > "$T/gateway.yaml"
printf 'upgrade_sock: %s/upgrade.sock\n' "$T" >> "$T/gateway.yaml"
"$RG" run -c "$T/gateway.yaml" > "$T/out" 2> "$T/err" &
PID=$!
for _ in $(seq 1 300); do grep -q '^listening ' "$T/out" && break; sleep 0.1; done
read -r _ PROXY _ ADMIN < <(grep '^listening ' "$T/out")
TABLE=$("$TARGET_DIR/release/examples/slow_clients" "$PID" "$PROXY" "$ADMIN" "$N" "$HEAD")
{
  echo "# Slow clients — $(date -u '+%Y-%m-%d %H:%M') UTC"
  echo
  echo "\`make bench-slow-clients\` on $(uname -m), $(nproc) cores: the release gateway (shipped config and data, default"
  echo "client limits: \`keepalive_timeout\` 60s, \`header_timeout\` 30s, \`max_connections_per_ip\` 256), clients from"
  echo "loopback source addresses that send an unfinished request head and wait. RSS of the gateway process."
  echo
  echo "$TABLE"
} > "$OUT"
cat "$OUT"
