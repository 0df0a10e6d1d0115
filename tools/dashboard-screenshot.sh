#!/usr/bin/env bash
# Regenerates docs/dashboard.png and docs/dashboard-phone.png: `riskgate demo` on the
# shipped config and bundled data, some traffic of every kind through it, and the
# dashboard rendered by headless Chromium at a laptop's and a phone's size.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --quiet --bin riskgate
T="$(mktemp -d)"
"$TARGET_DIR/release/riskgate" demo -c gateway.yaml >"$T/demo.out" 2>"$T/demo.err" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$T"' EXIT
for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:9901/healthz && break; sleep 0.1; done
post() { curl -s -o /dev/null -X POST "http://127.0.0.1:8080$1" -H "X-Forwarded-For: $2" \
           -H 'Content-Type: application/json' -d "{\"code\":\"$3\"}"; }
# customers (Sweden, a mobile carrier, iCloud Private Relay), VPN users, a datacenter
# farm on one /24, Tor, a deny-listed network, a regional coupon from the wrong country,
# and one customer retrying until limited; signups in shadow mode
for i in $(seq 1 40); do post /api/apply-coupon "89.160.20.$((100 + i % 20))" WELCOME10; done
for i in $(seq 1 12); do post /api/apply-coupon "172.32.1.$i" WELCOME10; post /api/apply-coupon "104.28.28.$i" WELCOME10; done
for i in $(seq 1 9); do post /api/apply-coupon "1.2.0.$i" WELCOME10; done
for i in $(seq 1 24); do post /api/apply-coupon "1.92.3.$i" WELCOME10; done
for i in $(seq 1 6); do post /api/apply-coupon 185.241.208.232 WELCOME10; post /api/apply-coupon "203.0.113.$i" WELCOME10; done
for i in $(seq 1 4); do post /api/apply-coupon 89.160.20.112 PPP-IN-65; done
for i in $(seq 1 8); do post /signup "1.92.4.$i" x; post /signup "89.160.20.$i" x; done
shot() {
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$T/profile-$1" --hide-scrollbars --virtual-time-budget=5000 \
    --window-size="$2" --screenshot="$PWD/docs/$1.png" http://127.0.0.1:9901/dashboard 2>/dev/null
}
shot dashboard 1280,1560
shot dashboard-phone 390,1700
echo "wrote docs/dashboard.png and docs/dashboard-phone.png"
