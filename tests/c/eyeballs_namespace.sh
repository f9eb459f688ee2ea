#!/usr/bin/env bash
# A dual-stack name whose IPv6 path is a silent black hole, as on many
# Docker hosts and corporate networks: the token must come within 1 s,
# directly and through a proxy (Happy Eyeballs), where trying the
# addresses one after the other waits out half the connect limit (5 s).
#
# In a private mount and network namespace, a TUN device (held open by
# this script's Python, which reads and drops every packet: nothing leaves
# the namespace) carries 2001:db8::/64. /etc/hosts gives each test name
# 2001:db8::2 and 127.0.0.1, and the system's order puts the IPv6 address
# first (checked). The test server serves https for the names on
# 127.0.0.1, and its CONNECT proxy listens there too.
#
# Usage: tests/c/eyeballs_namespace.sh BUILD_DIR SERVER   (as root, or
# where unprivileged user namespaces let `unshare -r` work)
set -euo pipefail

build_dir=$1 server=$2

# shellcheck source=tests/c/namespace.sh
source "$(dirname "$0")/namespace.sh"
enter_namespace "Happy Eyeballs namespace" "$0" "$@"

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
ip link set lo up

python3 - "$work/swallowed" <<'EOF' &
import fcntl, os, struct, sys
TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000
tun = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH22x", b"blackhole0", IFF_TUN | IFF_NO_PI))
swallowed = 0
open(sys.argv[1], "w").write("ready\n")
while True:
    os.read(tun, 65536)
    swallowed += 1
    open(sys.argv[1], "w").write(f"{swallowed}\n")
EOF
for _ in $(seq 50); do [[ -s $work/swallowed ]] && break; sleep 0.1; done
ip link set blackhole0 up
ip -6 addr add 2001:db8::1/64 dev blackhole0 nodad

# The proxy connects to its target itself (with no race of its own), so
# the target through the proxy, v4.eyeballs.test, has only 127.0.0.1.
names=(api.eyeballs.test proxy.eyeballs.test wide.eyeballs.test)
printf '127.0.0.1 v4.eyeballs.test\n' >"$work/hosts"
for name in "${names[@]}"; do
    printf '2001:db8::2 %s\n127.0.0.1 %s\n' "$name" "$name" >>"$work/hosts"
done
# More IPv6 addresses than ureq keeps (16): IPv4 must not be cut off.
for n in $(seq 3 22); do printf '2001:db8::%x wide.eyeballs.test\n' "$n" >>"$work/hosts"; done
printf 'hosts: files\n' >"$work/nsswitch.conf"
mount --bind "$work/hosts" /etc/hosts
mount --bind "$work/nsswitch.conf" /etc/nsswitch.conf
for name in "${names[@]}"; do
    first=$(getent ahosts "$name" | head -n1 | cut -d' ' -f1)
    if [[ $first != 2001:db8::2 ]]; then
        echo "FAIL the system's first address for $name is $first, not the black hole 2001:db8::2"
        exit 1
    fi
done

"$server" --tls "$work/ca.pem" --tls-name api.eyeballs.test --tls-name v4.eyeballs.test \
    --tls-name wide.eyeballs.test --proxy >"$work/server.out" &
for _ in $(seq 50); do [[ $(wc -l <"$work/server.out") -ge 2 ]] && break; sleep 0.1; done
port=$(sed -n 1p "$work/server.out" | sed 's|.*:||')
proxy_port=$(sed -n 2p "$work/server.out" | sed 's|.*:||')

status=0
# get_token HOW HOST ENV...: fetches a token from https://HOST through the
# C quick start, and checks it came within 1 s and that the black hole was
# tried.
get_token() {
    local how=$1 host=$2 before after started elapsed output
    shift 2
    before=$(cat "$work/swallowed")
    started=$(date +%s%N)
    output=$(env -u https_proxy -u HTTPS_PROXY -u all_proxy -u ALL_PROXY -u no_proxy -u NO_PROXY \
        SSL_CERT_FILE="$work/ca.pem" CRITEO_HOST="https://$host:$port" \
        CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=demo-secret "$@" "$build_dir/get_token" 2>&1) || true
    elapsed=$((($(date +%s%N) - started) / 1000000))
    after=$(cat "$work/swallowed")
    if [[ $output != "got a Bearer token"* ]]; then
        echo "FAIL $how: no token: $output"
        status=1
    elif [[ $elapsed -ge 1000 ]]; then
        echo "FAIL $how: the token took $elapsed ms behind a black-holed IPv6 address (limit 1000 ms)"
        status=1
    elif [[ $after == "$before" ]]; then
        echo "FAIL $how: the IPv6 address was never tried (no packet reached the black hole)"
        status=1
    else
        echo "     $how: a token in $elapsed ms, the IPv6 attempt swallowed"
    fi
}
get_token "direct" api.eyeballs.test
get_token "through a proxy" v4.eyeballs.test https_proxy="http://proxy.eyeballs.test:$proxy_port"
get_token "21 IPv6 addresses and one IPv4" wide.eyeballs.test

# One free descriptor: the IPv6 attempt takes it, and the IPv4 socket
# cannot be made. That ends the race at once, as a transport error that
# says so, rather than use up the other addresses and wait out the limit.
starved=$( (ulimit -n 4; env -u https_proxy -u HTTPS_PROXY -u all_proxy -u ALL_PROXY SSL_CERT_FILE="$work/ca.pem" \
    CRITEO_HOST="https://api.eyeballs.test:$port" CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=demo-secret \
    "$build_dir/get_token" 2>&1) || true)
if [[ $starved != "CRITEO_ERR_TRANSPORT: "*"Too many open files"* || $starved != *"given up after"* ]]; then
    echo "FAIL with one free descriptor: $starved"
    status=1
else
    echo "     one free descriptor: a transport error at once, naming it"
fi

[[ $status -eq 0 ]] && echo "ok   with IPv6 black-holed, a token within 1 s, directly, through a proxy and among 21 IPv6 addresses"
exit $status
