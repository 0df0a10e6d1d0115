# Sourced by detection.sh and evaluate.sh: the real databases from the npm registry,
# cached under $work. Sets $country (GeoLite2 Country MMDB) and $asn (the IP-to-ASN
# table's directory).
command -v npm >/dev/null 2>&1 || { echo "needs npm (to fetch the databases from the npm registry)" >&2; exit 1; }
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
