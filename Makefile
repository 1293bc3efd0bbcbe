# roar's one task runner: README, CI and developers all call these targets.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup test-setup system-deps test-system-deps widget demo test lint bench editors

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

system-deps: ## Debian packages the build and the demo need (root; only what is missing)
	@bash scripts/system_deps.sh

test-system-deps: ## the same, plus what the tests need (a browser, Neovim, PostgreSQL for the registry)
	@bash scripts/system_deps.sh --tests

# The DAG viewer's browser bundle, rebuilt only when its sources or locked packages change.
WIDGET_JS := jupyter_ext/js
WIDGET_BUNDLE := jupyter_ext/static/widget.js
# the same build's script and styles for the VS Code webview (a grouped target: one recipe run)
DAG_VIEW := jupyter_ext/static/dag_view.js jupyter_ext/static/dag_view.css
$(WIDGET_BUNDLE) $(DAG_VIEW) &: $(WIDGET_JS)/package-lock.json $(WIDGET_JS)/build.mjs $(wildcard $(WIDGET_JS)/src/*)
	cd $(WIDGET_JS) && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build

widget: system-deps $(WIDGET_BUNDLE) ## build the DAG viewer's bundle (jupyter_ext/static) with npm

setup: system-deps widget ## install roar (Rust core built by maturin) with its Jupyter and editor extras
	$(PIP) install -q -e '.[jupyter,lsp]'

test-setup: test-system-deps widget ## install roar and the test tools
	$(PIP) install -q -e '.[test]'

# Editor tests: the VS Code extension as a .vsix, and a pinned code-server (the last release for
# Node 20) to run it in, installed into .ci/tools/ (git-ignored). Each is redone only when its
# inputs change. The extension ships the DAG viewer's bundle (jupyter_ext/static), built first;
# its packaging fails without it.
CODE_SERVER_VERSION := 4.100.3
CODE_SERVER_DIR := .ci/tools/code-server-$(CODE_SERVER_VERSION)
CODE_SERVER := $(CODE_SERVER_DIR)/node_modules/.bin/code-server
VSIX := vscode/roar.vsix
$(VSIX): vscode/package-lock.json vscode/package.json vscode/tsconfig.json vscode/eslint.config.mjs \
	  vscode/scripts/build.mjs $(wildcard vscode/src/*.ts) $(DAG_VIEW)
	cd vscode && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build \
	  && npm run --silent lint && npm run --silent package >/dev/null

$(CODE_SERVER):
	bash tests/editors/install_code_server.sh $(abspath $(CODE_SERVER_DIR)) $(CODE_SERVER_VERSION) >/dev/null

editors: test-system-deps $(VSIX) $(CODE_SERVER) ## the VS Code extension (.vsix) and code-server, for the editor tests

demo: setup ## install, then record a three-step pipeline and show its DAG
	bash demo/run_demo.sh

RUST_TESTED := --workspace --exclude roar-native

test: test-setup editors ## install, then run the test suite (Rust crates, then pytest)
	cargo test -q $(RUST_TESTED)
	$(PYTHON) -m pytest $(PYTEST_ARGS)

lint: widget ## ruff, mypy, clippy, rustfmt and tsc (the DAG viewer)
	ruff check . && ruff format --check . && mypy
	cargo clippy --workspace --all-targets -q -- -D warnings && cargo fmt --all --check
	cd $(WIDGET_JS) && npm run --silent typecheck

bench: test-setup ## benchmarks: overhead ratios against baselines measured in the same run
	@bash scripts/system_deps.sh --tests --bench
	$(PYTHON) benchmarks/bench_run.py
	$(PYTHON) benchmarks/bench_hash.py --size-mb 1024
	$(PYTHON) benchmarks/bench_tracers.py
	$(PYTHON) benchmarks/bench_kernel.py
	$(PYTHON) benchmarks/bench_widget.py
	$(PYTHON) benchmarks/bench_hover.py
	$(PYTHON) benchmarks/bench_queries.py
	$(PYTHON) benchmarks/bench_reproduce_run.py
	$(PYTHON) benchmarks/bench_register.py
	$(PYTHON) benchmarks/bench_search.py
	$(PYTHON) benchmarks/bench_lookup.py
	$(PYTHON) benchmarks/bench_ray.py
