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
cc -std=c11 -O2 -Wall -Wextra -Werror -Iinclude -o "$work/trace" bench/trace.c \
    -Lbuild/lib -lcriteo_oauth -Wl,-rpath,"$PWD/build/lib"
target/release/criteo-test-server >"$work/server.out" &
server_pid=$!
for _ in $(seq 50); do [[ -s $work/server.out ]] && break; sleep 0.1; done

echo
echo "a fetch (keep-alive, loopback), 10 rounds of 500 each way, alternating"
"$work/trace" "$(head -n1 "$work/server.out")" 10 500
