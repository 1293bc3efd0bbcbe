#!/usr/bin/env bash
# The Debian packages roar needs, asked for tool by tool: a package is requested only when the
# thing it provides is missing, so a machine that already has a tool from another source (Node
# from NodeSource, say) never gets Debian's conflicting copy.
#
#   system_deps.sh [--tests] [--bench] [--print | --print-all]
#
#   (no group)   what building roar and running the demo need
#   --tests      also what the test suite needs (browser, editors)
#   --bench      also what the benchmarks need (make bench)
#   --print      print the packages that are missing here, install nothing
#   --print-all  print the packages a machine missing every tool would be asked for (the test of
#                this script simulates installing exactly that list)
set -euo pipefail

with_tests=0
with_bench=0
mode=install
for arg in "$@"; do
  case "$arg" in
    --tests) with_tests=1 ;;
    --bench) with_bench=1 ;;
    --print) mode=print ;;
    --print-all) mode=print-all ;;
    *) echo "system_deps.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

has() { command -v "$1" >/dev/null 2>&1; }
static_libc() { [ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -f /usr/lib/aarch64-linux-gnu/libc.a ]; }
# Any version's server binaries will do (several may be installed side by side).
pg_server() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }

# Node >= 18 with npm builds the DAG viewer's bundle and the VS Code extension. Debian's nodejs
# and npm are asked for only when no such Node is on PATH: Debian's npm conflicts with a Node
# installed from elsewhere, and apt then refuses the whole list.
node_ok() {
  has node && has npm || return 1
  local major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || return 1
  [ "${major:-0}" -ge 18 ]
}

# package | check that says it is already there | why
build_deps=(
  "gcc|has gcc|compiles the preload shim and the native module's C parts"
  "libc6-dev|static_libc|libc.a, for the static test programs"
  "git|has git|roar records commits; the demo is a git repository"
  "make|has make|the task runner"
  "clang|has clang|compiles the eBPF programs"
  "libbpf-dev|test -f /usr/include/bpf/bpf_helpers.h|headers of the eBPF programs"
  "graphviz|has dot|roar dag --format svg|png"
)
test_deps=(
  "chromium|has chromium|browser tests (widget, code-server)"
  "neovim|has nvim|the Neovim LSP client test"
  "ripgrep|has rg|code-server's search"
  "g++|has g++|code-server's native modules"
  "libkrb5-dev|test -f /usr/include/gssapi/gssapi.h|code-server's kerberos module"
  "postgresql|pg_server|the registry tests' throw-away PostgreSQL (initdb, pg_ctl)"
)
bench_deps=(
  "wrk|has wrk|bench_lookup.py's closed-loop clients (an HTTP load generator in C)"
)

wanted=()
consider() {
  local entry pkg check
  for entry in "$@"; do
    IFS='|' read -r pkg check _ <<<"$entry"
    if [ "$mode" = print-all ] || ! eval "$check"; then wanted+=("$pkg"); fi
  done
}
consider "${build_deps[@]}"
[ "$with_tests" = 1 ] && consider "${test_deps[@]}"
[ "$with_bench" = 1 ] && consider "${bench_deps[@]}"
if ! node_ok; then wanted+=(nodejs npm); fi

if [ "$mode" != install ]; then
  echo "${wanted[*]}"
  exit 0
fi
[ ${#wanted[@]} -eq 0 ] && exit 0

echo "Installing Debian packages: ${wanted[*]}" >&2
if [ "$(id -u)" != 0 ]; then
  echo "Not root: install them with 'sudo apt-get install ${wanted[*]}', then run make again." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${wanted[@]}" >/dev/null
