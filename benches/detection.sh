#!/usr/bin/env bash
# `make detection`: fetch the real databases (npm registry, cached), then run the
# production config over real address classes and write docs/detection.md.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR="${TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/target}}"
work="$TARGET_DIR/detection"
mkdir -p "$work"

source benches/real-data.sh

cargo run --release --quiet --example detection -- \
  --country "$country" --asn-csv "$asn" --work "$work" --out docs/detection.md
