#!/usr/bin/env bash
# The CPU a fetch costs with the trace off and with a no-op callback, in
# figures (part of make bench; needs cargo build --release -p
# criteo-test-server and make build). Keep-alive fetches against the test
# server on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
server_pid=
trap 'kill $server_pid 2>/dev/null; rm -rf "$work"' EXIT
source bench/common.sh
bench_build "$work/trace" bench/trace.c
start_test_servers

echo
echo "a fetch (keep-alive, loopback), 10 rounds of 500 each way, alternating"
"$work/trace" "$url" 10 500
