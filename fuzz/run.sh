#!/usr/bin/env bash
# Run every fuzz target for a bounded time: `bash fuzz/run.sh SECONDS [TARGET...]`.
# The corpora start from the project's own real fixtures (seeded below, into
# fuzz/corpus/, which is not committed) plus what earlier runs found. A crash stops the
# run with its input under fuzz/artifacts/TARGET/; the summary line of each target gives
# its executions and their rate.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
shift || true
all=(config forwarded_for paths lists mmdb json_fields accept_language replay_lines decisions_input authz_original)
if [ "$#" -eq 0 ]; then targets=("${all[@]}"); else targets=("$@"); fi
root=..

seed() { # seed TARGET FILE... : copy real fixtures into the target's corpus
  local t="$1"; shift
  mkdir -p "corpus/$t"
  for f in "$@"; do
    [ -f "$f" ] || continue
    # a large file seeds with its first 8 KiB (libFuzzer's inputs stay small)
    head -c 8192 "$f" > "corpus/$t/seed-$(basename "$f")"
  done
}
line_seeds() { # line_seeds TARGET LINE... : one seed a line
  local t="$1"; shift
  mkdir -p "corpus/$t"
  local i=0
  for l in "$@"; do printf '%s' "$l" > "corpus/$t/seed-line-$i"; i=$((i + 1)); done
}

seed config "$root/gateway.yaml" "$root"/tests/bad-configs/*.yaml "$root/deploy/kubernetes.yaml"
seed lists "$root"/tests/fixtures/feeds/* "$root/tests/fixtures/torbulkexitlist.txt" \
  "$root/data/tor-exit-addresses.txt" "$root/data/mobile-asns.txt" "$root/data/vpn.txt" \
  "$root/data/datacenter.txt"
seed mmdb "$root"/data/*.mmdb "$root"/tests/fixtures/bad-mmdb/*.mmdb "$root"/tests/fixtures/maxmind/*.mmdb
line_seeds forwarded_for "185.241.208.232" $'\xff, 185.241.208.232' "6.6.6.6, 1.2.3.4, 10.0.0.2" \
  "[2001:db8::1]:443, 127.0.0.1" $'1.2.3.4\n10.0.0.1' "unknown, ::ffff:81.2.69.160" '"1.2.3.4:5678"'
line_seeds paths "/api/apply-coupon" "//api/./apply-coupon/" "/API/Apply%2DCoupon;jsessionid=1" \
  "/api/redeem/%2e%2e/%2e%2e/api/apply-coupon" '/api%252Fapply-coupon' '/api\apply-coupon' "/../../etc"
line_seeds json_fields '{"code":"PPP-IN-65"}' '{"code":["PPP-IN-65"]}' '{"a":{"b":7},"code":" x "}' \
  '{"code":"A","code":{"x":1}}' '[1,{"k":"v"}]' '"plain"' '{"x/y":true,"0":null}' \
  '{"a":{"b":7},"co+de":" f\udfffffffffff@`f"}'
line_seeds accept_language "en-US,en;q=0.9" "ru;q=0, de-DE;q=0.8, *;q=0.1" "zh_Hant_TW, fil, x-klingon" "q=0.5;en"
seed replay_lines "$root"/tests/fixtures/replay/* 2>/dev/null || true
line_seeds replay_lines \
  '{"timestamp":"2026-11-22T09:21:52.002109Z","message":"decision","client_ip":"89.160.20.112","method":"POST","path":"/hop","accept_language":"sv","timezone":"","declared_country":"","unreadable_body":"","ids":"device=d14e914b270531db","request_id":"rg-1"}' \
  '203.0.113.7 - - [22/Nov/2026:09:21:52 +0000] "POST /api/apply-coupon HTTP/1.1" 200 12 "-" "curl/8.0" "89.160.20.112"' \
  '{"time":"2026-11-22T09:21:52Z","ip":"2001:db8::1","method":"POST","path":"/signup?ref=A","headers":{"accept-language":"de"},"body":{"code":"X"}}'

line_seeds decisions_input \
  '{"scope":"ip","value":"::ffff:192.0.2.1","action":"block"}' \
  '[{"scope":"range","value":"10.0.0.0/8","action":"verify","force":true},{"scope":"field:device","value":" d1 ","action":"allow","duration":"365d"}]' \
  '{"scope":"asn","value":"AS64500","action":"shadow","duration":"999999999999999999d"}' \
  $'scope,value,action,duration,reason\nrange,2001:db8::/32,block,2h,"a, b"\ncountry,in,verify,,'
line_seeds authz_original \
  $'/authz\nX-Original-Method: POST\nX-Original-URI: /api/apply-coupon?src=mail' \
  $'/authz\nX-Original-Method: post\nX-Original-URL: https://shop.example/api/redeem' \
  $'/authz\nX-Forwarded-Method: POST\nX-Forwarded-Uri: /redeem\nX-Original-URI: /static/logo.png' \
  $'/authz/envoy/api/apply-coupon?x=1\nX-Forwarded-Uri: /x\nX-Forwarded-Uri: /y'

if [ "$#" -eq 0 ]; then
  cargo fuzz build --sanitizer none
else
  for t in "${targets[@]}"; do cargo fuzz build --sanitizer none "$t"; done
fi
failed=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="artifacts/$t/last-run.log"
  if cargo fuzz run --sanitizer none "$t" "corpus/$t" -- \
      -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="artifacts/$t/" >"$log" 2>&1; then
    stat=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1 | sed -E 's/^#([0-9]+).*exec\/s: ([0-9]+).*/\1 executions, \2\/s/')
    echo "fuzz $t: ${secs}s, ${stat:-no stats}, no crash"
  else
    echo "fuzz $t: FAILED (input under fuzz/artifacts/$t/):"
    tail -30 "$log"
    failed=1
  fi
done
exit "$failed"
