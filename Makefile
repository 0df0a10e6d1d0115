# riskgate — two commands on a fresh machine that has Rust:
#   make demo   run the gateway on the shipped config and bundled data, in front of an echo origin
#   make test   run every test
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: demo test deps check build bench bench-instructions fmt clippy

# Pingora's zlib-ng build needs cmake; install it when it is missing.
deps:
	@command -v cmake >/dev/null 2>&1 || { \
	  echo "cmake is missing (Pingora's zlib-ng needs it); installing it with apt-get"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  command -v apt-get >/dev/null 2>&1 || { echo "no apt-get here: install cmake with your package manager, then re-run"; exit 1; }; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq cmake >/dev/null; }

build: deps
	$(CARGO) build --release

demo: build
	./target/release/riskgate demo -c gateway.yaml

check: build
	./target/release/riskgate check -c gateway.yaml

test: deps
	@mkdir -p target; set -o pipefail; $(CARGO) test --profile ci --lib --tests --benches 2>&1 | tee target/test.log
	$(CARGO) build --profile ci --quiet --example bare_proxy
	./target/ci/riskgate check -c gateway.yaml
	@awk '/^test result:/ { p += $$4; f += $$6 } END { printf "tests: %d passed, %d failed\n", p, f }' target/test.log

# Load benchmark side by side (nginx, bare Pingora, riskgate) + criterion benches
bench: deps
	bash benches/load.sh
	$(CARGO) bench --bench decision

# The same proxies under callgrind: instructions per request, repeatable where wall clock drifts
bench-instructions: deps
	MODE=instructions bash benches/load.sh

fmt:
	$(CARGO) fmt --all

clippy: deps
	$(CARGO) clippy --all-targets -- -D warnings
