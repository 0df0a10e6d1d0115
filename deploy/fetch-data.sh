#!/usr/bin/env bash
# Download real data for production into $RISKGATE_DATA (default /var/lib/riskgate):
#   - country and ASN databases: GeoLite2 when MAXMIND_LICENSE_KEY is set (free account
#     at maxmind.com), else DB-IP Lite (CC BY 4.0, no account; attribute db-ip.com)
#   - datacenter and VPN ranges: X4BNet/lists_vpn (MIT)
#   - Azure's service tags, whose download address changes with every weekly file
#     (riskgate fetches the other providers' feeds itself: see the config)
#   - the Tor exit list (riskgate also fetches it itself when tor.source is a URL)
# Every file is downloaded beside its target, checked, and renamed into place, so
# riskgate (which re-reads changed files) never sees a half-written one.
# Run it from cron or a systemd timer, e.g. twice a week.
set -euo pipefail

DATA="${RISKGATE_DATA:-/var/lib/riskgate}"
RISKGATE="${RISKGATE_BIN:-riskgate}"
CONFIG="${RISKGATE_CONFIG:-/etc/riskgate/gateway.yaml}"
X4B="https://raw.githubusercontent.com/X4BNet/lists_vpn/main/output"
mkdir -p "$DATA"
tmp="$(mktemp -d "$DATA/.fetch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

fetch() { # url dest
  curl --fail --silent --show-error --location --retry 3 --max-time 300 -o "$2" "$1"
}

# replace $2 with $1 only if $1 is non-empty and not HTML
install_file() {
  local src="$1" dst="$2"
  [ -s "$src" ] || { echo "refusing empty $dst" >&2; return 1; }
  if head -c 512 "$src" | grep -qi '<html'; then echo "refusing HTML for $dst" >&2; return 1; fi
  mv -f "$src" "$dst"
  echo "updated $dst ($(wc -c <"$dst") bytes)"
}

if [ -n "${MAXMIND_LICENSE_KEY:-}" ]; then
  for ed in GeoLite2-Country GeoLite2-ASN; do
    fetch "https://download.maxmind.com/app/geoip_download?edition_id=$ed&license_key=$MAXMIND_LICENSE_KEY&suffix=tar.gz" "$tmp/$ed.tar.gz"
    tar -xzf "$tmp/$ed.tar.gz" -C "$tmp"
    mv "$tmp"/"$ed"_*/"$ed".mmdb "$tmp/$ed.mmdb"
  done
  install_file "$tmp/GeoLite2-Country.mmdb" "$DATA/country.mmdb"
  install_file "$tmp/GeoLite2-ASN.mmdb" "$DATA/asn.mmdb"
else
  month="$(date -u +%Y-%m)"
  for kind in country asn; do
    fetch "https://download.db-ip.com/free/dbip-$kind-lite-$month.mmdb.gz" "$tmp/$kind.mmdb.gz"
    gunzip -f "$tmp/$kind.mmdb.gz"
    install_file "$tmp/$kind.mmdb" "$DATA/$kind.mmdb"
  done
  echo "IP geolocation by DB-IP (https://db-ip.com), CC BY 4.0"
fi

fetch "$X4B/datacenter/ipv4.txt" "$tmp/dc4.txt"
fetch "$X4B/datacenter/ipv6.txt" "$tmp/dc6.txt"
cat "$tmp/dc4.txt" "$tmp/dc6.txt" > "$tmp/datacenter.txt"
install_file "$tmp/datacenter.txt" "$DATA/datacenter.txt"
fetch "$X4B/vpn/ipv4.txt" "$tmp/vpn4.txt"
fetch "$X4B/vpn/ipv6.txt" "$tmp/vpn6.txt"
cat "$tmp/vpn4.txt" "$tmp/vpn6.txt" > "$tmp/vpn.txt"
install_file "$tmp/vpn.txt" "$DATA/vpn.txt"

# Azure publishes ServiceTags_Public_YYYYMMDD.json under a new address each week: find
# this week's on the download page, then riskgate re-reads the file when it changes.
azure_page="https://www.microsoft.com/en-us/download/details.aspx?id=56519"
azure_url="$(curl --fail --silent --location --max-time 60 "$azure_page" \
  | grep -o 'https://download.microsoft.com/download/[^"]*ServiceTags_Public_[0-9]*\.json' | head -1 || true)"
if [ -n "$azure_url" ]; then
  fetch "$azure_url" "$tmp/azure-service-tags.json"
  install_file "$tmp/azure-service-tags.json" "$DATA/azure-service-tags.json"
else
  echo "Azure service tags: no download address found on $azure_page; the file in service stays" >&2
  [ -e "$DATA/azure-service-tags.json" ] || echo '{"changeNumber":0,"cloud":"Public","values":[]}' > "$DATA/azure-service-tags.json"
fi

fetch "https://check.torproject.org/exit-addresses" "$tmp/tor-exit-addresses.txt"
install_file "$tmp/tor-exit-addresses.txt" "$DATA/tor-exit-addresses.txt"

for f in /etc/riskgate/deny.txt /etc/riskgate/allow.txt; do
  [ -e "$f" ] || { echo "# one CIDR or IP a line" > "$f" 2>/dev/null || true; }
done

if command -v "$RISKGATE" >/dev/null 2>&1 && [ -r "$CONFIG" ]; then
  "$RISKGATE" check -c "$CONFIG"
fi
