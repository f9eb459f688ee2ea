#!/usr/bin/env bash
# Name lookups as the README's retry rules say: a temporary failure is
# retried, a definite "no such host" is not.
#
# In a private mount and network namespace, /etc/resolv.conf points at a
# tiny DNS server on 127.0.0.1:53 (this script's Python). For
# flaky.criteo-test.example it answers SERVFAIL to the first round of
# queries (glibc: EAI_AGAIN, "Temporary failure in name resolution"), then
# 127.0.0.1; for missing.criteo-test.example it answers NXDOMAIN. The test
# server serves https with a certificate for the flaky name. The C quick
# start (retries at their default, 2) must get a token from the flaky name,
# and fail on the missing one after a single round of queries. For
# hang.criteo-test.example it never answers: calls meanwhile share one
# lookup thread.
#
# Usage: tests/c/dns_namespace.sh BUILD_DIR SERVER   (as root, or where
# unprivileged user namespaces let `unshare -r` work)
set -euo pipefail

build_dir=$1 server=$2

# shellcheck source=tests/c/namespace.sh
source "$(dirname "$0")/namespace.sh"
enter_namespace "DNS namespace" "$0" "$@"

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
ip link set lo up
printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:2\n' >"$work/resolv.conf"
printf 'hosts: files dns\n' >"$work/nsswitch.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf
mount --bind "$work/nsswitch.conf" /etc/nsswitch.conf

python3 - "$work/queries.log" <<'EOF' &
import socket, struct, sys
log = open(sys.argv[1], "a", buffering=1)
server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind(("127.0.0.1", 53))
seen = {}
while True:
    query, client = server.recvfrom(512)
    ident, _, _, _, _, _ = struct.unpack(">6H", query[:12])
    labels, at = [], 12
    while query[at]:
        labels.append(query[at + 1 : at + 1 + query[at]].decode())
        at += 1 + query[at]
    question = query[12 : at + 5]
    qtype = struct.unpack(">H", query[at + 1 : at + 3])[0]
    name = ".".join(labels).lower()
    seen[name] = seen.get(name, 0) + 1
    answers = b""
    if name == "hang.criteo-test.example":
        log.write(f"{name} {qtype} unanswered\n")
        continue
    if name == "flaky.criteo-test.example" and seen[name] <= 2:
        rcode, verdict = 2, "SERVFAIL"
    elif name == "flaky.criteo-test.example":
        rcode, verdict = 0, "answered"
        if qtype == 1:
            answers = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 0, 4) + socket.inet_aton("127.0.0.1")
    else:
        rcode, verdict = 3, "NXDOMAIN"
    header = struct.pack(">6H", ident, 0x8180 | rcode, 1, 1 if answers else 0, 0, 0)
    server.sendto(header + question + answers, client)
    log.write(f"{name} {qtype} {verdict}\n")
EOF

"$server" --tls "$work/ca.pem" --tls-name flaky.criteo-test.example >"$work/server.out" &
for _ in $(seq 50); do [[ -s $work/server.out ]] && break; sleep 0.1; done
port=$(head -n1 "$work/server.out" | sed 's|.*:||')
sleep 0.3

status=0
quick_start() {
    env SSL_CERT_FILE="$work/ca.pem" CRITEO_HOST="https://$1:$port" CRITEO_CLIENT_ID=demo-client \
        CRITEO_CLIENT_SECRET=demo-secret "$build_dir/get_token" 2>&1 || true
}
flaky=$(quick_start flaky.criteo-test.example)
if [[ $flaky != "got a Bearer token"* ]]; then
    echo "FAIL a temporary lookup failure was not retried: $flaky"
    status=1
fi
missing=$(quick_start missing.criteo-test.example)
missing_queries=$(grep -c '^missing' "$work/queries.log" || true)
if [[ $missing != *"could not look up missing.criteo-test.example"* || $missing_queries -gt 2 ]]; then
    echo "FAIL no such host: $missing ($missing_queries queries; one round is 1 or 2)"
    status=1
fi
if ! grep -q '^flaky.criteo-test.example 1 SERVFAIL' "$work/queries.log"; then
    echo "FAIL the DNS server never answered SERVFAIL, so the test proves nothing:"
    cat "$work/queries.log"
    status=1
fi
# A name the DNS server never answers: 8 calls of 200 ms within one round
# of queries (2 s) share one lookup thread rather than start one each.
hanging=$("$build_dir/hostile_host" hanging-lookups "https://hang.criteo-test.example:$port" 8 2>&1 || true)
if [[ $hanging != "8 of 8 calls timed out, lookup threads: 1" ]]; then
    echo "FAIL calls to a name whose lookup hangs: $hanging (expected 8 timeouts and 1 lookup thread)"
    status=1
fi
[[ $status -eq 0 ]] && echo "ok   SERVFAIL then an address: retried, token got; NXDOMAIN: one round, not retried ($missing); an unanswered name: one lookup thread for 8 calls"
exit $status
