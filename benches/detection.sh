#!/usr/bin/env bash
# `make detection`: fetch the real databases (npm registry, cached), then run the
# production config over real address classes and write docs/detection.md.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR="${TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/target}}"
work="$TARGET_DIR/detection"
mkdir -p "$work"

command -v npm >/dev/null 2>&1 || { echo "detection needs npm (to fetch the databases from the npm registry)" >&2; exit 1; }
fetch() { # package -> extracted dir
  local pkg="$1" dir="$work/$(echo "$1" | tr '/@' '__')"
  if [ ! -d "$dir/package" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && npm pack "$pkg" --silent >/dev/null && tar -xzf ./*.tgz)
  fi
  echo "$dir/package"
}
country="$(fetch @ip-location-db/geolite2-country-mmdb)/geolite2-country.mmdb"
asn="$(fetch @ip-location-db/asn)"
[ -s "$country" ] && [ -s "$asn/asn-ipv4.csv" ] || { echo "the packages lack their files" >&2; exit 1; }

cargo run --release --quiet --example detection -- \
  --country "$country" --asn-csv "$asn" --work "$work" --out docs/detection.md
