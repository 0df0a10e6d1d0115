#!/usr/bin/env bash
# Replay benchmark (`make bench-replay`): a generated log of N records (default 1 M, JSON
# lines: coupon redemptions with a JSON body, signups with a referral code, unmatched
# page views; random addresses, one a second over 11.5 days) replayed through the
# shipped gateway.yaml and bundled data. Reports records per second (one core: replay
# is single-threaded) and peak memory, and writes benches/results/replay.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
N="${N:-1000000}"
OUT="${OUT:-$ROOT/benches/results/replay.md}"
cargo build --release --quiet --bin riskgate
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
RG="$TARGET_DIR/release/riskgate"
T="$(mktemp -d)"; trap 'rm -rf "$T"' EXIT

python3 - "$N" "$T/week.jsonl" <<'PY'
import json, random, sys, datetime
n, path = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(7)
t0 = datetime.datetime(2026, 11, 16, tzinfo=datetime.timezone.utc)
with open(path, "w") as f:
    for i in range(n):
        t = (t0 + datetime.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        ip = ".".join(str(rnd.randrange(1, 255)) for _ in range(4))
        k = rnd.random()
        if k < 0.5:
            rec = {"time": t, "ip": ip, "method": "POST", "path": "/api/apply-coupon",
                   "headers": {"Content-Type": "application/json", "Accept-Language": "en-US,en;q=0.9",
                               "X-Client-Timezone": "America/New_York"},
                   "body": json.dumps({"code": rnd.choice(["SAVE20", "PPP-IN-65", "WELCOME10"]), "cart": [1, 2, 3]})}
        elif k < 0.8:
            rec = {"time": t, "ip": ip, "method": "POST", "path": f"/signup?ref=FRIEND-{rnd.randrange(500)}",
                   "headers": {"Accept-Language": "de-DE"}}
        else:
            rec = {"time": t, "ip": ip, "method": "GET", "path": "/products/42"}
        f.write(json.dumps(rec) + "\n")
PY
SIZE=$(du -m "$T/week.jsonl" | cut -f1)
python3 - "$RG" "$T/week.jsonl" "$N" "$SIZE" "$OUT" <<'PY'
import json, os, platform, resource, subprocess, sys, time, datetime
rg, log, n, size, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
t = time.monotonic()
p = subprocess.run([rg, "replay", "-c", "gateway.yaml", log, "--json"], capture_output=True, text=True, check=True)
secs = time.monotonic() - t
peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
s = json.loads(p.stdout)
assert s["requests"] == n and s["unparsed"] == 0, s
text = "\n".join([
    f"# Replay benchmark — {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC",
    "",
    f"`make bench-replay` on {platform.machine()}: `riskgate replay -c gateway.yaml` (shipped config, bundled data) over a generated",
    f"log of {n:,} JSON-lines records ({size} MB: half coupon redemptions with a JSON body, 30 % signups with a referral",
    "code, 20 % unmatched page views; random addresses, one a second). Replay runs on one thread.",
    "",
    "| records | wall time | records / s | peak RSS |",
    "|---:|---:|---:|---:|",
    f"| {n:,} | {secs:.1f} s | {n / secs:,.0f} | {peak_mib:.0f} MiB |",
    "",
    f"Actions: {json.dumps(s['actions'])}; unmatched {s['unmatched']:,}.",
    "",
])
os.makedirs(os.path.dirname(out), exist_ok=True)
open(out, "w").write(text)
print(text)
PY
