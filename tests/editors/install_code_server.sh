#!/usr/bin/env bash
# Install code-server (a real VS Code workbench served to a browser) from the npm registry,
# with no other network. Usage: install_code_server.sh DIR VERSION
# Needs Node 20 (4.100.x is the last code-server line whose postinstall accepts it), g++/make
# (native modules), Debian's ripgrep and libkrb5-dev (make system-deps installs them).
set -euo pipefail
dir=${1:?target dir} version=${2:?version}
# @vscode/ripgrep's postinstall downloads rg from GitHub; it takes a tarball from its download
# cache instead, so put Debian's rg there (name and version as code-server's shrinkwrap pins).
cache="$(node -p 'require("os").tmpdir()')/vscode-ripgrep-cache-1.15.11"
mkdir -p "$cache"
tar czf "$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$(dirname "$(command -v rg)")" rg
mkdir -p "$dir"
cd "$dir"
[ -f package.json ] || echo '{"name":"code-server-host","private":true}' > package.json
# unsafe_perm: its postinstall refuses to run as root otherwise; yes: node-pty's postinstall
# runs `npx node-gyp`, which would otherwise stop to ask.
npm_config_unsafe_perm=true npm_config_yes=true npm install --no-audit --no-fund --loglevel=error \
  "code-server@$version"
"$dir/node_modules/.bin/code-server" --version
