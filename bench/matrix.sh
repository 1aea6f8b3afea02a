#!/usr/bin/env bash
# The benchmark matrix behind the figures in the docs: zabkit vs Apache ZooKeeper, 3 nodes, 256 B,
# several client x in-flight settings, with and without --failover, with and without --through-proxy.
# Usage: bench/matrix.sh [OUT_DIR] [SECONDS]   (needs `npm run build`; writes OUT_DIR/<case>.json)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results}
seconds=${2:-8}
mkdir -p "$out"
run() {
  local name=$1; shift
  echo "=== $name: $*"
  node dist/cli/main.js bench --systems zabkit,zookeeper --nodes 3 --size 256 --seconds "$seconds" --warmup 2 \
    --json "$out/$name.json" "$@" 2>"$out/$name.log"
}
run direct-3x1 --concurrency 3x1
run direct-3x16 --concurrency 3x16
run direct-3x64 --concurrency 3x64
run direct-12x64 --concurrency 12x64
run proxy-3x16 --concurrency 3x16 --through-proxy
run proxy-3x64 --concurrency 3x64 --through-proxy
run failover-direct-3x64 --concurrency 3x64 --failover
run failover-proxy-3x64 --concurrency 3x64 --failover --through-proxy
