#!/usr/bin/env bash
# Load benchmark, side by side on loopback (`make bench`):
#   direct      wrk → nginx origin (1 worker, tiny body)
#   nginx-geo   wrk → nginx proxy (1 worker): realip from X-Forwarded-For, the four MaxMind
#               test DBs via the geoip2 module, three limit_req zones → origin
#   bare        wrk → a bare Pingora proxy built from riskgate's code, every feature off
#   rg-miss     wrk → riskgate, unmatched path (forwarded untouched, no lookups)
#   rg-match    wrk → riskgate, matched route: geo + ASN + anonymous-IP + connection-type
#               MMDBs, the Tor set, a 51k-line CIDR list, three limits, all headers
#   rg-body-plain  wrk POST, a 1 KiB JSON body → riskgate, a matched route like rg-match
#               whose policy reads no field (the body streams through unread)
#   rg-body-checks the same request → a route whose policy reads the body and headers:
#               fields from the JSON body, a header and a cookie; the language, time-zone,
#               declared-country and hopping checks; a coupon and a device×/24 limit
#   rg-signed   wrk → a third riskgate, rg-match's config with `signing`: the same route
#               plus X-Risk-Signature (one HMAC-SHA256 a request)
#   rg-cluster  wrk → a second riskgate, rg-match's route with its three limits shared
#               through a redis-server on loopback (`cluster`)
#   nginx-plain nginx (1 worker) as a plain proxy → origin
#   nginx-authz wrk → the same nginx with deploy/ingress/nginx.conf's auth_request: it asks
#               riskgate's authz door (served by the rg-match process) about each request,
#               rg-match's route, then proxies to the origin with riskgate's headers
#   rg-body-decisions  rg-body-checks' request → a fourth riskgate, rg-body-checks' config
#               with a million decisions loaded (70 % devices, 20 % addresses, 10 % /24s;
#               examples/decisions_scale.rs); the request matches none of them
#   flood       after the rounds: one exhausted key hammered on rg-cluster (all 429),
#               with the scripts Redis ran for it
# Every request carries X-Forwarded-For: 89.160.20.112. Proxies get CPU 0, wrk and the
# origin CPU 1 (when taskset exists); rounds alternate the targets. Prints requests/s and
# p50/p99 (medians over rounds) and the ratios, and writes them to benches/results/load.md.
#
# MODE=instructions: the same proxies and configs under valgrind's callgrind, counting
# the CPU instructions each spends per request while wrk (-c8) runs against it. Unlike
# wall-clock numbers on a shared VM these repeat to a fraction of a percent. Writes
# benches/results/instructions.md; rg-authz there is riskgate's own count for nginx-authz's
# requests (the asks of its authz door, rg-match's route), next to rg-match's.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
MODE="${MODE:-wallclock}"
ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-8s}"
CONNS="${CONNS:-32}"
if [ "$MODE" = instructions ]; then
  OUT="${OUT:-$ROOT/benches/results/instructions.md}"
else
  OUT="${OUT:-$ROOT/benches/results/load.md}"
fi

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk || ! need nginx || [ ! -e /usr/lib/nginx/modules/ngx_http_geoip2_module.so ] || ! need cmake; then
  echo "installing wrk, nginx-light, libnginx-mod-http-geoip2, cmake (Debian packages)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk nginx-light libnginx-mod-http-geoip2 cmake >/dev/null
  # the package starts a system nginx on :80; the benchmark runs its own
  $SUDO systemctl stop nginx 2>/dev/null || $SUDO service nginx stop 2>/dev/null || true
fi
if ! need redis-server || ! need redis-cli; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
  $SUDO service redis-server stop >/dev/null 2>&1 || true
fi
if [ "$MODE" = instructions ] && ! need callgrind_control; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq valgrind >/dev/null
fi

cargo build --release --quiet --bin riskgate --example bare_proxy --example decisions_scale
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
RG="$TARGET_DIR/release/riskgate"
BARE="$TARGET_DIR/release/examples/bare_proxy"

T="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
PIN0=""; PIN1=""
if need taskset && [ "$(nproc)" -ge 2 ]; then PIN0="taskset -c 0"; PIN1="taskset -c 1"; fi
# how a proxy is started: as is, or under callgrind with collection off until wrk runs
wrap() {
  if [ "$MODE" = instructions ]; then
    exec $PIN0 valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$T/cg.$1" "${@:2}"
  else
    exec $PIN0 "${@:2}"
  fi
}

ORIGIN=$(port); NGX=$(port); NGXP=$(port); BAREP=$(port); RGP=$(port); ADMIN=$(port)
REDISP=$(port); RG2P=$(port); ADMIN2=$(port); RG3P=$(port); ADMIN3=$(port)
RG4P=$(port); ADMIN4=$(port); AUTHZP=$(port); NGXA=$(port)

# --- nginx origin --------------------------------------------------------------------
mkdir -p "$T/origin" "$T/ngx"
cat > "$T/origin/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $T/origin/nginx.pid; error_log $T/origin/error.log warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$ORIGIN; location / { default_type text/plain; return 200 "ok\n"; } } }
CONF
$PIN1 nginx -c "$T/origin/nginx.conf" -p "$T/origin" & PIDS+=($!)

# --- nginx proxy with geoip2 + limit_req ----------------------------------------------
D="$ROOT/data"
cat > "$T/ngx/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_http_geoip2_module.so;
master_process off; worker_processes 1; daemon off; pid $T/ngx/nginx.pid; error_log $T/ngx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 1000000;
  set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For; real_ip_recursive on;
  geoip2 $D/GeoIP2-City-Test.mmdb { \$geo_country country iso_code; }
  geoip2 $D/GeoLite2-ASN-Test.mmdb { \$geo_asn autonomous_system_number; }
  geoip2 $D/GeoIP2-Anonymous-IP-Test.mmdb { \$geo_vpn is_anonymous_vpn; \$geo_tor is_tor_exit_node; \$geo_hosting is_hosting_provider; }
  geoip2 $D/GeoIP2-Connection-Type-Test.mmdb { \$geo_conn connection_type; }
  map \$remote_addr \$subnet24 { ~^(\d+\.\d+\.\d+)\. \$1; default \$remote_addr; }
  limit_req_zone \$binary_remote_addr zone=ip:16m rate=1000000r/s;
  limit_req_zone \$subnet24 zone=subnet:16m rate=1000000r/s;
  limit_req_zone \$geo_asn zone=asn:16m rate=1000000r/s;
  upstream origin { server 127.0.0.1:$ORIGIN; keepalive 256; }
  server { listen 127.0.0.1:$NGX;
    location / {
      limit_req zone=ip burst=1000000 nodelay; limit_req zone=subnet burst=1000000 nodelay; limit_req zone=asn burst=1000000 nodelay;
      proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header X-Risk-Country \$geo_country; proxy_set_header X-Risk-ASN \$geo_asn;
      proxy_set_header X-Risk-Flags "\$geo_vpn\$geo_tor\$geo_hosting"; proxy_set_header X-Risk-Conn \$geo_conn;
      proxy_pass http://origin; } } }
CONF
wrap nginx-geo nginx -c "$T/ngx/nginx.conf" -p "$T/ngx" & PIDS+=($!); PID_NGX=$!

# --- nginx as a plain proxy: the engine next to Pingora's ------------------------------
mkdir -p "$T/ngxp"
cat > "$T/ngxp/nginx.conf" <<CONF
master_process off; worker_processes 1; daemon off; pid $T/ngxp/nginx.pid; error_log $T/ngxp/error.log warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  upstream origin { server 127.0.0.1:$ORIGIN; keepalive 256; }
  server { listen 127.0.0.1:$NGXP; location / { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://origin; } } }
CONF
wrap nginx-plain nginx -c "$T/ngxp/nginx.conf" -p "$T/ngxp" & PIDS+=($!); PID_NGXP=$!

# --- nginx + riskgate's authz door: the shipped server block, the origin kept alive ------
mkdir -p "$T/ngxa"
{
  echo "master_process off; worker_processes 1; daemon off; pid $T/ngxa/nginx.pid; error_log $T/ngxa/error.log warn;"
  echo "events { worker_connections 4096; }"
  echo "http { access_log off; keepalive_requests 1000000;"
  # wrk's X-Forwarded-For is the client nginx asks riskgate about, as for the others
  echo "  set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For;"
  echo "  upstream origin { server 127.0.0.1:$ORIGIN; keepalive 256; }"
  sed -e "s/127.0.0.1:9000/127.0.0.1:$AUTHZP/" -e "s/keepalive 32;/keepalive 256;/" \
      -e "s|listen 80;|listen 127.0.0.1:$NGXA;|" \
      -e 's|proxy_pass http://127.0.0.1:3000;|proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://origin;|' \
      "$ROOT/deploy/ingress/nginx.conf"
  echo "}"
} > "$T/ngxa/nginx.conf"
grep -q "listen 127.0.0.1:$NGXA;" "$T/ngxa/nginx.conf" && grep -q "proxy_pass http://origin;" "$T/ngxa/nginx.conf" \
  || { echo "deploy/ingress/nginx.conf changed: the benchmark's substitutions no longer apply"; exit 1; }
# on the proxies' CPU, beside the riskgate it asks: the two share the box's cost
$PIN0 nginx -c "$T/ngxa/nginx.conf" -p "$T/ngxa" & PIDS+=($!)

# --- bare Pingora and riskgate -------------------------------------------------------
wrap bare "$BARE" "127.0.0.1:$BAREP" "127.0.0.1:$ORIGIN" 1 >/dev/null 2>&1 & PIDS+=($!); PID_BARE=$!
# what both riskgate processes share: one thread, the four MMDBs, the Tor set and the
# 51k-line list ($1: the name of its upgrade socket)
rg_common() {
  cat <<CONF
upstream: "127.0.0.1:$ORIGIN"
threads: 1
upgrade_sock: $T/$1-upgrade.sock
log: { level: warn }
client_ip: { trusted_proxies: ["127.0.0.1/32"] }
intel:
  mmdb:
    geo: $D/GeoIP2-City-Test.mmdb
    asn: $D/GeoLite2-ASN-Test.mmdb
    anonymous_ip: $D/GeoIP2-Anonymous-IP-Test.mmdb
    connection_type: $D/GeoIP2-Connection-Type-Test.mmdb
  tor: { source: $D/tor-exit-addresses.txt }
  lists: { hosting: $D/datacenter.txt }
CONF
}
{ rg_common rg; cat <<CONF; } > "$T/rg.yaml"
listen: ["127.0.0.1:$RGP"]
admin: "127.0.0.1:$ADMIN"
authz: { listen: ["127.0.0.1:$AUTHZP"] }
fields:
  coupon: { from: "json:/code", normalize: upper }
  coupon_country: { from: "json:/code", pattern: "^PPP-([A-Z]{2})-" }
  timezone: header:x-client-timezone
  device: cookie:device_id
routes:
  - { name: coupon, path: /api/apply-coupon, policy: promo }
  - { name: plain, path: /api/plain, policy: promo }
  - { name: checked, path: /api/checked, policy: checked }
policies:
  promo:
    limits:
      - { key: ip, rate: 1000000/s, burst: 1000000 }
      - { key: subnet, rate: 1000000/s, burst: 1000000 }
      - { key: asn, rate: 1000000/s, burst: 1000000 }
  checked:
    limits:
      - { key: ip, rate: 1000000/s, burst: 1000000 }
      - { key: subnet, rate: 1000000/s, burst: 1000000 }
      - { key: asn, rate: 1000000/s, burst: 1000000 }
      - { key: field:coupon, rate: 1000000/s, burst: 1000000 }
      - { key: [field:device, subnet], rate: 1000000/s, burst: 1000000, name: device_subnet }
    checks:
      language: true
      timezone: timezone
      declared_country: coupon_country
      regions: [[SE, DK, NO, FI]]
      hopping: { key: device, window: 24h, max_countries: 2 }
CONF
# the POST of the body targets: a 1 KiB JSON cart whose code, time zone and languages
# agree with the Swedish address (no signal: the full path, nothing short-circuits)
python3 - "$T/post.lua" <<'PY'
import json, sys
cart = {"code": "PPP-SE-10", "email": "jane@example.com", "items": []}
i = 0
while len(json.dumps(cart)) < 1000:
    cart["items"].append({"sku": f"SKU-{i:05d}", "qty": 1})
    i += 1
body = json.dumps(cart)
body = body[:-1] + " " * (1024 - len(body)) + "}"
assert len(body) == 1024
open(sys.argv[1], "w").write(f"""wrk.method = "POST"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Client-Timezone"] = "Europe/Stockholm"
wrk.headers["Accept-Language"] = "sv-SE,sv;q=0.9,en;q=0.8"
wrk.headers["Cookie"] = "theme=dark; device_id=d-4f1c9a2b"
""")
PY
wrap riskgate "$RG" run -c "$T/rg.yaml" 2>"$T/rg.log" & PIDS+=($!); PID_RG=$!

# --- the same riskgate with signed headers ----------------------------------------------
od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$T/hmac-k1.key"
sed -e "s/127.0.0.1:$RGP/127.0.0.1:$RG3P/" -e "s/127.0.0.1:$ADMIN\"/127.0.0.1:$ADMIN3\"/" \
    -e "s/rg-upgrade.sock/rg3-upgrade.sock/" -e "/^authz:/d" "$T/rg.yaml" > "$T/rg3.yaml"
echo "signing: { keys: [ { id: k1, file: $T/hmac-k1.key } ] }" >> "$T/rg3.yaml"
wrap riskgate-signed "$RG" run -c "$T/rg3.yaml" 2>"$T/rg3.log" & PIDS+=($!); PID_RG3=$!

# --- the same riskgate with a million decisions loaded -----------------------------------
"$TARGET_DIR/release/examples/decisions_scale" fill "$T/million.db" 1000000
sed -e "s/127.0.0.1:$RGP/127.0.0.1:$RG4P/" -e "s/127.0.0.1:$ADMIN\"/127.0.0.1:$ADMIN4\"/" \
    -e "s/rg-upgrade.sock/rg4-upgrade.sock/" -e "/^authz:/d" "$T/rg.yaml" > "$T/rg4.yaml"
echo "decisions: { store: $T/million.db }" >> "$T/rg4.yaml"
wrap riskgate-decisions "$RG" run -c "$T/rg4.yaml" 2>"$T/rg4.log" & PIDS+=($!); PID_RG4=$!

# --- riskgate with its limits in Redis ------------------------------------------------
$PIN1 redis-server --port "$REDISP" --bind 127.0.0.1 --save '' --appendonly no --dir "$T" >/dev/null 2>&1 & PIDS+=($!)
{ rg_common rg2; cat <<CONF; } > "$T/rg2.yaml"
listen: ["127.0.0.1:$RG2P"]
admin: "127.0.0.1:$ADMIN2"
cluster: { redis: "redis://127.0.0.1:$REDISP/0", prefix: "bench:", timeout: 25ms }
routes:
  - { name: coupon, path: /api/apply-coupon, policy: promo }
  - { name: flood, path: /api/flood, policy: flood }
policies:
  promo:
    limits:
      - { key: ip, rate: 1000000/s, burst: 1000000 }
      - { key: subnet, rate: 1000000/s, burst: 1000000 }
      - { key: asn, rate: 1000000/s, burst: 1000000 }
  flood:
    limits:
      - { key: ip, rate: 1/hour }
CONF
wrap riskgate-cluster "$RG" run -c "$T/rg2.yaml" 2>"$T/rg2.log" & PIDS+=($!); PID_RG2=$!

PORTS="$ORIGIN $NGX $NGXP $NGXA $AUTHZP $BAREP $RGP $REDISP $RG2P $RG3P $RG4P"
# (under callgrind, loading the million decisions takes a minute or two)
WAITS=300; [ "$MODE" = instructions ] && WAITS=3000
for p in $PORTS; do
  for _ in $(seq "$WAITS"); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.1; done
done
# sanity: every target answers 200, riskgate's matched route with its headers
for url in "http://127.0.0.1:$NGX/api/apply-coupon" "http://127.0.0.1:$NGXA/api/apply-coupon" "http://127.0.0.1:$BAREP/x" "http://127.0.0.1:$RGP/api/apply-coupon" "http://127.0.0.1:$RG3P/api/apply-coupon"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Forwarded-For: 89.160.20.112' "$url")
  [ "$code" = 200 ] || { echo "sanity check failed: $url → $code"; cat "$T/rg.log"; exit 1; }
done

declare -A URL=(
  [direct]="http://127.0.0.1:$ORIGIN/api/apply-coupon"
  [nginx-plain]="http://127.0.0.1:$NGXP/api/apply-coupon"
  [nginx-authz]="http://127.0.0.1:$NGXA/api/apply-coupon"
  [nginx-geo]="http://127.0.0.1:$NGX/api/apply-coupon"
  [bare]="http://127.0.0.1:$BAREP/api/apply-coupon"
  [rg-miss]="http://127.0.0.1:$RGP/products"
  [rg-match]="http://127.0.0.1:$RGP/api/apply-coupon"
  [rg-body-plain]="http://127.0.0.1:$RGP/api/plain"
  [rg-body-checks]="http://127.0.0.1:$RGP/api/checked"
  [rg-signed]="http://127.0.0.1:$RG3P/api/apply-coupon"
  [rg-cluster]="http://127.0.0.1:$RG2P/api/apply-coupon"
  [rg-body-decisions]="http://127.0.0.1:$RG4P/api/checked"
)
ORDER=(direct nginx-plain nginx-geo nginx-authz bare rg-miss rg-match rg-signed rg-body-plain rg-body-checks rg-body-decisions rg-cluster)
# the shared store answers before the runs start (the connection is made in the background)
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$RG2P/"   # traffic makes it connect, on the proxy's runtime
  curl -s "http://127.0.0.1:$ADMIN2/metrics" | grep -q '^riskgate_cluster_up 1' && break; sleep 0.1
done
# scripts Redis has run (EVALSHA and EVAL calls)
scripts_run() {
  redis-cli -p "$REDISP" INFO commandstats | tr -d '\r' |
    awk -F'calls=' '/^cmdstat_eval(sha)?:/ { split($2, a, ","); n += a[1] } END { print n + 0 }'
}
# wrk's extra arguments per target: the body targets POST the 1 KiB JSON
script() { case "$1" in rg-body-*) echo "-s $T/post.lua" ;; esac; }
# after a run: the checked route decided every request allow, with no signal (the
# whole path ran, nothing short-circuited)
check_checked() {
  local m; m=$(curl -s "http://127.0.0.1:$ADMIN/metrics")
  echo "$m" | grep -q 'riskgate_requests_total{action="allow",frontend="proxy",route="checked"} [1-9]' \
    || { echo "the checked route decided nothing allow"; exit 1; }
  if echo "$m" | grep 'riskgate_signals_total{route="checked"' | grep -qv ' 0$'; then
    echo "the checked route saw signals:"; echo "$m" | grep 'riskgate_signals_total{route="checked"' | grep -v ' 0$'; exit 1
  fi
}

# wrk's latency distribution → "rps p50_ms p99_ms non2xx"
run_wrk() {
  local out
  # shellcheck disable=SC2086
  out=$($PIN1 wrk -t1 -c"$CONNS" -d"$DURATION" --latency -H 'X-Forwarded-For: 89.160.20.112' $(script "$2") "$1")
  python3 - "$out" <<'PY'
import re, sys
t = sys.argv[1]
def ms(v):
    n, u = re.match(r"([\d.]+)(\w+)", v).groups(); n = float(n)
    return n / 1000 if u == "us" else n * 1000 if u == "s" else n
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p50 = ms(re.search(r"\s50%\s+(\S+)", t).group(1)); p99 = ms(re.search(r"\s99%\s+(\S+)", t).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(f"{rps:.0f} {p50:.3f} {p99:.3f} {bad.group(1) if bad else 0}")
PY
}

if [ "$MODE" = instructions ]; then
  # one proxy process each; riskgate serves both its paths. Collection is switched on
  # only while wrk runs, after a warm-up, and zeroed between targets.
  # rg-authz: riskgate's own instructions for the requests of nginx-authz (its asks)
  declare -A PID=([nginx-plain]=$PID_NGXP [nginx-geo]=$PID_NGX [bare]=$PID_BARE [rg-miss]=$PID_RG [rg-match]=$PID_RG [rg-authz]=$PID_RG [rg-body-plain]=$PID_RG [rg-body-checks]=$PID_RG [rg-signed]=$PID_RG3 [rg-cluster]=$PID_RG2 [rg-body-decisions]=$PID_RG4)
  URL[rg-authz]="${URL[nginx-authz]}"
  declare -A IR
  for name in nginx-plain nginx-geo bare rg-miss rg-match rg-authz rg-signed rg-body-plain rg-body-checks rg-body-decisions rg-cluster; do
    pid=${PID[$name]}
    for _ in $(seq 200); do curl -s -o /dev/null -H 'X-Forwarded-For: 89.160.20.112' "${URL[$name]}"; done
    callgrind_control -z "$pid" >/dev/null
    callgrind_control -i on "$pid" >/dev/null
    # shellcheck disable=SC2086
    n=$($PIN1 wrk -t1 -c8 -d"$DURATION" -H 'X-Forwarded-For: 89.160.20.112' $(script "$name") "${URL[$name]}" | awk '/requests in/{print $1}')
    callgrind_control -i off "$pid" >/dev/null
    before=$(ls "$T"/cg.* 2>/dev/null | wc -l)
    callgrind_control -d "$name" "$pid" >/dev/null
    total=""
    for _ in $(seq 300); do
      if [ "$(ls "$T"/cg.* | wc -l)" -gt "$before" ]; then
        total=$(awk '/^totals:/{print $2; exit}' "$(ls -t "$T"/cg.* | head -1)")
        [ -n "$total" ] && break
      fi
      sleep 0.1
    done
    [ -n "$total" ] || { echo "no callgrind dump for $name"; exit 1; }
    IR[$name]=$((total / n))
    echo "$name: $n requests, $total instructions, ${IR[$name]} per request"
  done
  python3 - "$OUT" "$DURATION" "${IR[nginx-plain]}" "${IR[nginx-geo]}" "${IR[bare]}" "${IR[rg-miss]}" "${IR[rg-match]}" "${IR[rg-authz]}" "${IR[rg-signed]}" "${IR[rg-body-plain]}" "${IR[rg-body-checks]}" "${IR[rg-body-decisions]}" "${IR[rg-cluster]}" <<'PY'
import sys, datetime, os, platform
out, dur = sys.argv[1:3]
names = ["nginx-plain", "nginx-geo", "bare", "rg-miss", "rg-match", "rg-authz", "rg-signed", "rg-body-plain", "rg-body-checks", "rg-body-decisions", "rg-cluster"]
ir = dict(zip(names, map(int, sys.argv[3:])))
what = {
    "nginx-plain": "nginx 1 worker, plain proxy",
    "nginx-geo": "nginx + realip + geoip2 (4 MMDBs) + 3 limit_req zones + 4 headers",
    "bare": "bare Pingora proxy (our server settings, every feature off)",
    "rg-miss": "riskgate, unmatched path",
    "rg-match": "riskgate, matched route (4 MMDBs, Tor set, 51k-line list, 3 limits, 9 headers)",
    "rg-authz": "riskgate's authz door asked by nginx's auth_request, rg-match's route (riskgate's own count)",
    "rg-signed": "riskgate, rg-match with signing (X-Risk-Signature, HMAC-SHA256)",
    "rg-body-plain": "riskgate, matched route, POST 1 KiB JSON, policy reads no field",
    "rg-body-checks": "riskgate, the same POST, body read: 4 fields, 4 checks, 5 limits",
    "rg-body-decisions": "riskgate, rg-body-checks with 1,000,000 decisions loaded (none matches)",
    "rg-cluster": "riskgate, rg-match's route with its 3 limits in Redis (cluster, loopback)",
}
lines = [
    f"# Instructions per request — {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC",
    "",
    f"`MODE=instructions bash benches/load.sh` on {platform.machine()}: each proxy under valgrind's callgrind,",
    f"collection on only while `wrk -t1 -c8 -d{dur}` runs (after 200 warm-up requests); user-space instructions",
    "of the proxy process divided by the requests wrk completed. Kernel time (the same five syscalls a request",
    "for nginx and Pingora, counted with strace) is not included.",
    "",
    "| target | instructions / request | vs bare | vs nginx-geo |",
    "|---|---:|---:|---:|",
]
for n in names:
    lines.append(f"| {what[n]} | {ir[n]:,} | {ir[n]/ir['bare']:.2f}× | {ir[n]/ir['nginx-geo']:.2f}× |")
lines += [
    "",
    f"- riskgate's intelligence on a matched route: **+{ir['rg-match']-ir['bare']:,}** instructions a request over bare Pingora "
    f"(matched / bare **{ir['bare']/ir['rg-match']:.3f}×** in requests per instruction)",
    f"- unmatched path: +{ir['rg-miss']-ir['bare']:,} ({ir['bare']/ir['rg-miss']:.3f}×)",
    f"- forward auth: an ask of the authz door costs riskgate **{ir['rg-authz']:,}** instructions, "
    f"{ir['rg-authz']-ir['rg-match']:+,} against the proxy's matched route (authz / proxy **{ir['rg-authz']/ir['rg-match']:.3f}×**): "
    f"no upstream connection, the same decision",
    f"- request evidence: reading the 1 KiB JSON body, four fields, four checks and two field limits cost "
    f"**+{ir['rg-body-checks']-ir['rg-body-plain']:,}** instructions a request (checks / no checks "
    f"**{ir['rg-body-plain']/ir['rg-body-checks']:.3f}×** in requests per instruction)",
    f"- decisions: a million loaded cost **{ir['rg-body-decisions']-ir['rg-body-checks']:+,}** instructions a request "
    f"(the address at each prefix length in use, the ASN, the country, the device and the code looked up)",
    f"- signed headers: X-Risk-Signature costs **{ir['rg-signed']-ir['rg-match']:+,}** instructions a request "
    f"(signed / unsigned **{ir['rg-match']/ir['rg-signed']:.3f}×** in requests per instruction)",
    f"- shared limits: the three limits in Redis instead of in process cost "
    f"**{ir['rg-cluster']-ir['rg-match']:+,}** instructions a request of riskgate's own (Redis's are not counted)",
    f"- the engines: bare Pingora spends **{ir['bare']/ir['nginx-plain']:.1f}×** the instructions of nginx as a plain proxy; "
    f"nginx's geoip2 + limit_req + headers add {ir['nginx-geo']-ir['nginx-plain']:,}",
]
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(); print(text)
PY
  exit 0
fi

RES="$T/results.txt"; : > "$RES"
for r in $(seq "$ROUNDS"); do
  for name in "${ORDER[@]}"; do
    read -r rps p50 p99 bad <<<"$(run_wrk "${URL[$name]}" "$name")"
    [ "$bad" = 0 ] || echo "warning: $name answered $bad non-2xx responses"
    echo "$r $name $rps $p50 $p99" >> "$RES"
    echo "round $r  $name: $rps req/s, p50 $p50 ms, p99 $p99 ms"
  done
done

check_checked
# the flood: one exhausted key (1/hour) hammered; Redis is asked once, then the key is
# known to be exhausted until its retry time
before=$(scripts_run)
read -r frps fp50 fp99 fbad <<<"$(run_wrk "http://127.0.0.1:$RG2P/api/flood" flood)"
after=$(scripts_run)
fdone=$(python3 -c "print(round($frps * ${DURATION%s}))")
echo "flood: $frps req/s, $fbad non-2xx, $((after - before)) scripts in Redis for ~$fdone requests"
echo "0 flood $frps $fp50 $fp99 $((after - before)) $fdone" > "$T/flood.txt"
mkdir -p "$(dirname "$OUT")"
python3 - "$OUT" "$ROUNDS" "$DURATION" "$CONNS" "$RES" "$T/flood.txt" "${ORDER[@]}" <<'PY'
import statistics, sys, datetime, platform, os
out, rounds, dur, conns, res, flood = sys.argv[1:7]
names = sys.argv[7:]
_, _, frps, fp50, fp99, fscripts, fdone = open(flood).read().split()
runs = {n: [] for n in names}  # name → [(round, rps, p50, p99)]
for line in open(res):
    r, n, a, b, c = line.split()
    runs[n].append((int(r), float(a), float(b), float(c)))
med = lambda n, k: statistics.median(x[k] for x in runs[n])
rps = {n: med(n, 1) for n in names}
p50 = {n: med(n, 2) for n in names}
p99 = {n: med(n, 3) for n in names}
lines = [
    f"# Load benchmark — {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC",
    "",
    f"`make bench` on {os.cpu_count()} cores ({platform.machine()}): wrk -t1 -c{conns} -d{dur}, {rounds} alternating rounds, medians;",
    "proxies pinned to CPU 0, wrk and the nginx origin to CPU 1; every request carries `X-Forwarded-For: 89.160.20.112`.",
    "`rg-body-*` POST a 1 KiB JSON body (code, time zone, languages and device agreeing with the Swedish address):",
    "`plain` to a matched route whose policy reads no field, `checks` to one that reads the body and runs every check.",
    "",
    "| target | requests/s | p50 ms | p99 ms | vs bare | vs nginx-geo |",
    "|---|---:|---:|---:|---:|---:|",
]
for n in names:
    lines.append(f"| {n} | {rps[n]:.0f} | {p50[n]:.3f} | {p99[n]:.3f} | {rps[n]/rps['bare']:.2f}× | {rps[n]/rps['nginx-geo']:.2f}× |")
# each round's ratio (targets of one round ran back to back), against the machine's drift
def rounds_of(a, b):
    r = [x[1] / y[1] for x, y in zip(sorted(runs[a]), sorted(runs[b]))]
    return f"median of rounds {statistics.median(r):.3f}× (range {min(r):.2f}–{max(r):.2f})"
lines += [
    "",
    f"- riskgate matched / bare Pingora: **{rps['rg-match']/rps['bare']:.3f}×** throughput, p99 {p99['rg-match']/p99['bare']:.2f}×; {rounds_of('rg-match', 'bare')}",
    f"- riskgate unmatched / bare Pingora: **{rps['rg-miss']/rps['bare']:.3f}×** throughput, p99 {p99['rg-miss']/p99['bare']:.2f}×; {rounds_of('rg-miss', 'bare')}",
    f"- riskgate matched / nginx-geo: **{rps['rg-match']/rps['nginx-geo']:.3f}×** throughput, p99 {p99['rg-match']/p99['nginx-geo']:.2f}×; {rounds_of('rg-match', 'nginx-geo')}",
    f"- bare Pingora / nginx-geo: {rps['bare']/rps['nginx-geo']:.3f}×; {rounds_of('bare', 'nginx-geo')}",
    f"- forward auth, the same matched route: nginx + riskgate authz / nginx alone **{rps['nginx-authz']/rps['nginx-plain']:.3f}×** throughput, "
    f"p99 {p99['nginx-authz']/p99['nginx-plain']:.2f}×; {rounds_of('nginx-authz', 'nginx-plain')}; "
    f"nginx + riskgate authz / riskgate as the proxy **{rps['nginx-authz']/rps['rg-match']:.3f}×**; {rounds_of('nginx-authz', 'rg-match')}",
    f"- signing on / off, same route: **{rps['rg-signed']/rps['rg-match']:.3f}×** throughput, "
    f"p99 {p99['rg-signed']/p99['rg-match']:.2f}×; {rounds_of('rg-signed', 'rg-match')}",
    f"- 1 KiB JSON body, every check / the same route without checks: **{rps['rg-body-checks']/rps['rg-body-plain']:.3f}×** throughput, "
    f"p99 {p99['rg-body-checks']/p99['rg-body-plain']:.2f}×; {rounds_of('rg-body-checks', 'rg-body-plain')}",
    f"- a million decisions loaded / none, the body route: **{rps['rg-body-decisions']/rps['rg-body-checks']:.3f}×** throughput, "
    f"p99 {p99['rg-body-decisions']/p99['rg-body-checks']:.2f}×; {rounds_of('rg-body-decisions', 'rg-body-checks')}",
    f"- shared limits (Redis on loopback) / local limits, same route: **{rps['rg-cluster']/rps['rg-match']:.3f}×** throughput, "
    f"p99 {p99['rg-cluster'] - p99['rg-match']:+.3f} ms; {rounds_of('rg-cluster', 'rg-match')}",
    f"- flood (one exhausted key, every answer 429): {float(frps):.0f} requests/s, p99 {float(fp99):.3f} ms; "
    f"Redis ran **{fscripts}** script(s) for about {fdone} requests",
    "",
    "Instruction counts per request, which repeat where these wall-clock figures drift: "
    "[instructions.md](instructions.md) (`MODE=instructions bash benches/load.sh`).",
]
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(); print(text)
PY
