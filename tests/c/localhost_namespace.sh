#!/usr/bin/env bash
# Plain HTTP goes only to loopback addresses, whatever the resolver says.
#
# In a private mount and network namespace, /etc/hosts maps `localhost` and
# `api.localhost` to 10.255.255.1, an address added to that namespace's own
# loopback interface (so nothing can leave the machine). The test server
# listens on 127.0.0.1:PORT and a trap listens on 10.255.255.1:PORT. The C
# quick start then fetches a token from http://localhost:PORT and
# http://api.localhost:PORT: it must get its token from the test server and
# the trap must see no connection at all.
#
# Usage: tests/c/localhost_namespace.sh BUILD_DIR SERVER   (as root, or where
# unprivileged user namespaces let `unshare -r` work)
set -euo pipefail

build_dir=$1 server=$2
trap_ip=10.255.255.1

# shellcheck source=tests/c/namespace.sh
source "$(dirname "$0")/namespace.sh"
enter_namespace "localhost namespace" "$0" "$@"

ip link set lo up
ip addr add "$trap_ip/32" dev lo
hosts=$(mktemp)
printf '%s localhost\n%s api.localhost\n' "$trap_ip" "$trap_ip" >"$hosts"
mount --bind "$hosts" /etc/hosts
resolved=$(getent hosts localhost | awk '{print $1}' | head -n1)
[[ $resolved == "$trap_ip" ]] || { echo "FAIL the namespace's resolver gives $resolved for localhost"; exit 1; }

server_out=$(mktemp) trap_log=$(mktemp)
"$server" >"$server_out" &
server_pid=$!
for _ in $(seq 50); do [[ -s $server_out ]] && break; sleep 0.1; done
port=$(head -n1 "$server_out" | sed 's|.*:||')
python3 - "$trap_ip" "$port" "$trap_log" <<'EOF' &
import socket, sys
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((sys.argv[1], int(sys.argv[2])))
listener.listen()
while True:
    connection, peer = listener.accept()
    with open(sys.argv[3], "a") as log:
        log.write(f"connection from {peer}\n")
    connection.close()
EOF
trap_pid=$!
trap 'kill $server_pid $trap_pid 2>/dev/null; rm -f "$hosts" "$server_out" "$trap_log"' EXIT
for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('$trap_ip', $port)).close()" 2>/dev/null && break; sleep 0.1; done
: >"$trap_log"

status=0
for host in localhost api.localhost; do
    output=$(env CRITEO_HOST="http://$host:$port" CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=demo-secret \
        "$build_dir/get_token" 2>&1) || true
    if [[ $output != "got a Bearer token"* ]]; then
        echo "FAIL http://$host:$port did not reach the test server on 127.0.0.1: $output"
        status=1
    fi
done
if [[ -s $trap_log ]]; then
    echo "FAIL the client connected to $trap_ip, where the namespace's /etc/hosts put localhost:"
    cat "$trap_log"
    status=1
fi
[[ $status -eq 0 ]] && echo "ok   localhost and api.localhost reach 127.0.0.1 only, though /etc/hosts says $trap_ip"
exit $status
