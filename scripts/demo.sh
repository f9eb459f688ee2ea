#!/usr/bin/env bash
# The demo: starts the bundled test token server on loopback, asks it for a
# token with the demo credentials, then with a wrong secret, and stops it.
# Usage: make demo
set -euo pipefail

LIB_DIR=target/debug
BUILD_DIR=build/c
mkdir -p "$BUILD_DIR"
scripts/link-soname.sh "$LIB_DIR"
cc -std=c11 -Wall -Wextra -Werror -Iinclude -o "$BUILD_DIR/criteo-token" tools/criteo-token.c \
    -L"$LIB_DIR" -lcriteo_oauth -Wl,-rpath,"$PWD/$LIB_DIR"

server_out=$(mktemp)
"$LIB_DIR/criteo-test-server" >"$server_out" &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; rm -f "$server_out"' EXIT
for _ in $(seq 50); do [[ -s $server_out ]] && break; sleep 0.1; done
# criteo-token reads proxy variables as curl does; the demo server is local.
unset http_proxy all_proxy ALL_PROXY
export CRITEO_HOST
CRITEO_HOST=$(head -n1 "$server_out")
echo "test token server listening at $CRITEO_HOST"

echo
echo "\$ CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=demo-secret criteo-token --json"
CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=demo-secret "$BUILD_DIR/criteo-token" --json

echo
echo "\$ CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=wrong criteo-token"
status=0
CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=wrong "$BUILD_DIR/criteo-token" || status=$?
echo "(exit status $status)"
