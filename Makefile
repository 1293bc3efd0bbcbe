# roar's one task runner: README, CI and developers all call these targets.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup system-deps demo test lint bench

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

system-deps: ## Debian packages the build and tests need (root; skipped when present)
	@command -v gcc >/dev/null && command -v git >/dev/null && [ -f /usr/lib/x86_64-linux-gnu/libc.a -o -f /usr/lib/aarch64-linux-gnu/libc.a ] \
	  && command -v clang >/dev/null && [ -f /usr/include/bpf/bpf_helpers.h ] \
	  && command -v dot >/dev/null && command -v chromium >/dev/null \
	  && command -v nvim >/dev/null && command -v rg >/dev/null && command -v g++ >/dev/null \
	  && [ -f /usr/include/gssapi/gssapi.h ] \
	  || (apt-get update -qq && apt-get install -y -qq gcc libc6-dev git clang libbpf-dev \
	      graphviz chromium neovim ripgrep g++ make libkrb5-dev)

setup: system-deps ## install roar (Rust core built by maturin) and the test tools
	$(PIP) install -q -e '.[test]'

demo: setup ## install, then record a three-step pipeline and show its DAG
	bash demo/run_demo.sh

RUST_TESTED := --workspace --exclude roar-native

test: setup ## install, then run the test suite (Rust crates, then pytest)
	cargo test -q $(RUST_TESTED)
	$(PYTHON) -m pytest $(PYTEST_ARGS)

lint: ## ruff, mypy, clippy and rustfmt
	ruff check . && ruff format --check . && mypy
	cargo clippy --workspace --all-targets -q -- -D warnings && cargo fmt --all --check

bench: setup ## benchmarks: overhead ratios against baselines measured in the same run
	$(PYTHON) benchmarks/bench_run.py
	$(PYTHON) benchmarks/bench_hash.py --size-mb 1024
	$(PYTHON) benchmarks/bench_tracers.py
	$(PYTHON) benchmarks/bench_kernel.py
