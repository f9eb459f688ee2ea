#!/usr/bin/env bash
# Many sources in one process, in figures (part of make bench; needs
# cargo build --release -p criteo-test-server and make build): for 1,
# 1,000, 10,000 and 100,000 sources on one client, each got once from 8
# threads, the time to the first token of all, the descriptors and
# threads the library holds then, and the resident memory they added.
# Then the first get of a process just started, from the store.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
server_pid=
trap 'kill $server_pid 2>/dev/null; rm -rf "$work"' EXIT
source bench/common.sh
bench_build "$work/many" tests/c/many.c
bench_build "$work/shared" tests/c/shared.c
start_test_servers tls

echo
echo "sources in one process (plain HTTP loopback, each got once from 8 threads)"
printf '  %8s %16s %12s %8s %12s %14s\n' sources "first token, all" descriptors threads "RSS added" "per source"
for n in 1 1000 10000 100000; do
    read -r count ms descriptors threads kib bytes < <("$work/many" scale "$url/scenario/lives-900" "$n")
    printf '  %8s %13s ms %12s %8s %9s KiB %12s B\n' "$count" "$ms" "$descriptors" "$threads" "$kib" "$bytes"
done
read -r _ _ _ _ _ bytes < <("$work/many" scale "$url/scenario/long-token" 10000)
echo "  with a token of 3,080 characters: $bytes B per source"

echo
echo "the first get of a process just started, from the store (TLS server; client, source, get), CPU"
tls_lives="$tls_url/scenario/lives-900"
export SSL_CERT_FILE=$work/ca.pem
"$work/shared" get "$work/store" "$tls_lives" bench-fresh >/dev/null
for _ in $(seq 200); do "$work/shared" first-get-fresh "$work/store" "$tls_lives" bench-fresh; done >"$work/fresh"
percentiles() {
    sort -n | awk '{ v[NR] = $1 } END { printf "median %.1f us, 10th percentile %.1f us, 90th %.1f us\n", v[int(NR / 2)], v[int(NR / 10)], v[int(NR * 9 / 10)] }'
}
echo "  client, source and get: $(cut -d' ' -f1 "$work/fresh" | percentiles)"
echo "  the get alone:           $(cut -d' ' -f2 "$work/fresh" | percentiles)"
printf '  a new source'"'"'s first get in a running process: %s us\n' \
    "$("$work/shared" first-gets "$work/store" "$tls_lives" bench-fresh 2000)"
