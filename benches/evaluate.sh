#!/usr/bin/env bash
# `make evaluate`: a realistic week of traffic (tools/replay-week/realistic.py) drawn from
# real address space, replayed through the shipped configs (each policy in enforce), and
# the table per scenario and customer group in docs/evaluation.md. Not part of `make test`.
#   SEED=2026          which week
#   BEFORE=<git rev>   also replay the gateway.yaml and the binary of that revision
#   OUT=FILE           write the report there instead of docs/evaluation.md (a held-out week)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
TARGET_DIR="${TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/target}}"
work="$TARGET_DIR/detection"          # the real data, shared with `make detection`
ev="$TARGET_DIR/evaluate"
mkdir -p "$work" "$ev"
SEED="${SEED:-2026}"

source benches/real-data.sh

# Python with the MaxMind reader the generator locates addresses with (PyPI, cached)
if ! "$ev/venv/bin/python" -c "import maxminddb" 2>/dev/null; then
  python3 -m venv "$ev/venv"
  "$ev/venv/bin/pip" install -q -r tools/replay-week/requirements.txt
fi

cargo build --release --quiet --bin riskgate --example detection
bin="$TARGET_DIR/release/riskgate"
"$TARGET_DIR/release/examples/detection" --country "$country" --asn-csv "$asn" --work "$work" --stage-only

echo "generating the week (seed $SEED)..."
"$ev/venv/bin/python" tools/replay-week/realistic.py --asn-csv "$asn" --country "$country" \
  --seed "$SEED" > "$ev/week.jsonl"

# a config with its bundled test databases swapped for the real ones, every relative
# data path made absolute, and every policy in enforce
stage() { # gateway.yaml data-dir out
  python3 - "$1" "$2" "$3" "$country" "$work/asn.mmdb" <<'PY'
import re, sys
src, data, out, country, asn = sys.argv[1:]
t = open(src).read()
t = t.replace("data/GeoIP2-City-Test.mmdb", country).replace("data/GeoLite2-ASN-Test.mmdb", asn)
t = re.sub(r"(?<![\w/.])data/", data.rstrip("/") + "/", t)
t = re.sub(r"(?m)^(\s*)mode: shadow", r"\1mode: enforce", t)
open(out, "w").write(t)
PY
}
stage gateway.yaml "$root/data" "$ev/gateway.yaml"
# (the staged production config names real data by absolute paths already)
stage "$work/production.yaml" "$root/data" "$ev/production.yaml"

runs=()
describe=()
for cfg in gateway production; do
  echo "replaying through $cfg.yaml..."
  "$bin" replay -c "$ev/$cfg.yaml" "$ev/week.jsonl" --out "$ev/$cfg.decisions.jsonl" --json > "$ev/$cfg.summary.json"
done
runs+=("--run" "gateway.yaml=$ev/gateway.decisions.jsonl")
describe+=("--describe" "gateway.yaml=The shipped \`gateway.yaml\`, its bundled test databases swapped for the real GeoLite2 Country and ASN data, every policy in enforce.")
runs+=("--run" "deploy/gateway.production.yaml=$ev/production.decisions.jsonl")
describe+=("--describe" "deploy/gateway.production.yaml=The production config as \`make detection\` stages it (every feed and list a local copy of the same real data), every policy in enforce.")

if [ -n "${BEFORE:-}" ]; then
  rev="$(git rev-parse --short "$BEFORE")"
  src="$ev/before-$rev"
  [ -d "$src" ] || git worktree add --detach "$src" "$rev" >/dev/null
  echo "building riskgate at $rev..."
  (cd "$src" && CARGO_TARGET_DIR="$ev/before-target" cargo build --release --quiet --bin riskgate)
  stage "$src/gateway.yaml" "$src/data" "$ev/before.yaml"
  "$ev/before-target/release/riskgate" replay -c "$ev/before.yaml" "$ev/week.jsonl" \
    --out "$ev/before.decisions.jsonl" --json > "$ev/before.summary.json"
  runs+=("--run" "before: gateway.yaml at $rev=$ev/before.decisions.jsonl")
  describe+=("--describe" "before: gateway.yaml at $rev=The shipped \`gateway.yaml\` and the riskgate binary of $rev (before issue 23), staged the same way.")
fi

cmd="make evaluate SEED=$SEED${BEFORE:+ BEFORE=$BEFORE}"
python3 tools/replay-week/report.py --week "$ev/week.jsonl" "${runs[@]}" "${describe[@]}" \
  --seed "$SEED" --command "$cmd" --out "${OUT:-docs/evaluation.md}"
