# riskgate — two commands on a fresh machine that has Rust:
#   make demo   run the gateway on the shipped config and bundled data, in front of an echo origin
#   make test   run every test
SHELL := /bin/bash
CARGO ?= cargo
# Where cargo puts what it builds: CARGO_TARGET_DIR when set, else target/ here.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)

.PHONY: demo test deps check build bench bench-instructions bench-replay bench-slow-clients detection evaluate fmt clippy fuzz

# What the build and tests need from Debian, installed when missing: cmake (Pingora's
# zlib-ng), redis-server (the cluster tests start their own), chromium (the dashboard
# test), prometheus (promtool checks and unit-tests deploy/prometheus/alerts.yaml),
# nginx and caddy (tests with a real nginx or Caddy in front of riskgate start their own), crowdsec (the
# bouncer test runs its own Local API; its postinst needs Central API credentials to
# exist, so an offline placeholder is written first when there are none).
deps:
	@missing=""; command -v cmake >/dev/null 2>&1 || missing="cmake"; \
	  command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	  command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	  command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	  command -v nginx >/dev/null 2>&1 || missing="$$missing nginx"; \
	  command -v caddy >/dev/null 2>&1 || missing="$$missing caddy"; \
	  command -v crowdsec >/dev/null 2>&1 || missing="$$missing crowdsec"; \
	  if [ -n "$$missing" ]; then \
	    echo "installing$$missing with apt-get"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    command -v apt-get >/dev/null 2>&1 || { echo "no apt-get here: install$$missing with your package manager, then re-run"; exit 1; }; \
	    $$SUDO mkdir -p /etc/crowdsec; \
	    $$SUDO test -s /etc/crowdsec/online_api_credentials.yaml || printf 'url: https://api.crowdsec.net/\nlogin: offline\npassword: offline\n' | $$SUDO tee /etc/crowdsec/online_api_credentials.yaml >/dev/null; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	    $$SUDO service redis-server stop >/dev/null 2>&1 || true; \
	    $$SUDO service prometheus stop >/dev/null 2>&1 || true; \
	    $$SUDO service nginx stop >/dev/null 2>&1 || true; \
	    $$SUDO service caddy stop >/dev/null 2>&1 || true; \
	    $$SUDO service crowdsec stop >/dev/null 2>&1 || true; \
	  fi

build: deps
	$(CARGO) build --release

demo: build
	"$(TARGET_DIR)/release/riskgate" demo -c gateway.yaml

check: build
	"$(TARGET_DIR)/release/riskgate" check -c gateway.yaml

# Tests that cannot run here (no IPv6 loopback, a package registry out of reach) say
# so in $(TARGET_DIR)/test-skips.log; the last line counts them.
test: deps
	@mkdir -p "$(TARGET_DIR)"; rm -f "$(TARGET_DIR)/test-skips.log"
	@set -o pipefail; $(CARGO) test --profile ci --lib --tests --benches 2>&1 | tee "$(TARGET_DIR)/test.log"
	$(CARGO) build --profile ci --quiet --example bare_proxy
	"$(TARGET_DIR)/ci/riskgate" check -c gateway.yaml
	@if [ -s "$(TARGET_DIR)/test-skips.log" ]; then echo "skipped:"; sed 's/^/  /' "$(TARGET_DIR)/test-skips.log"; fi
	@skipped=$$(cat "$(TARGET_DIR)/test-skips.log" 2>/dev/null | wc -l); \
	  awk -v s="$$skipped" '/^test result:/ { p += $$4; f += $$6 } END { printf "tests: %d passed, %d failed, %d skipped\n", p - s, f, s }' "$(TARGET_DIR)/test.log"

# Load benchmark side by side (nginx, bare Pingora, riskgate) + criterion benches
bench: deps
	bash benches/load.sh
	$(CARGO) bench --bench decision

# The same proxies under callgrind: instructions per request, repeatable where wall clock drifts
bench-instructions: deps
	MODE=instructions bash benches/load.sh

# Thousands of slow clients against the release gateway: memory held, admitted, closed
bench-slow-clients: deps
	bash benches/slow-clients.sh

# riskgate replay over a generated log of 1 M records: records/s and peak memory
bench-replay: deps
	bash benches/replay.sh

# What the production config does to real address classes (Tor, clouds, VPNs, residential
# and mobile ISPs, Starlink): writes docs/detection.md. Downloads GeoLite2 Country and an
# IP-to-ASN table from the npm registry into $(TARGET_DIR)/detection. Not part of `make test`.
detection: deps
	TARGET_DIR="$(TARGET_DIR)" bash benches/detection.sh

# A realistic week of traffic from real address space (tools/replay-week/realistic.py),
# replayed through the shipped configs: writes docs/evaluation.md. SEED picks the week;
# BEFORE=<git rev> adds that revision's gateway.yaml and binary. Downloads like
# `make detection`, and the generator's MaxMind reader from PyPI. Not part of `make test`.
evaluate: deps
	TARGET_DIR="$(TARGET_DIR)" SEED="$(SEED)" BEFORE="$(BEFORE)" OUT="$(OUT)" bash benches/evaluate.sh

fmt:
	$(CARGO) fmt --all

clippy: deps
	$(CARGO) clippy --all-targets -- -D warnings

# Every fuzz target (fuzz/, cargo-fuzz on stable with --sanitizer none) for FUZZ_SECONDS
# each, corpora seeded from the real fixtures; cargo-fuzz is installed when missing.
FUZZ_SECONDS ?= 60
fuzz:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked --quiet
	bash fuzz/run.sh $(FUZZ_SECONDS)
