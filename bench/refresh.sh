#!/usr/bin/env bash
# What callers pay for a refresh, in figures (part of make bench; needs
# cargo build --release -p criteo-test-server and make build): one thread
# getting a token every 2 ms through several refreshes of a 4 s token,
# against the test server whose refreshes take 300 ms. Side by side: the
# library as it is (the refresh runs on its own thread) and the same
# library where it cannot start a thread, so that it refreshes on the
# caller's thread (run as nobody under RLIMIT_NPROC 1; needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
chmod 0755 "$work"
server_pid=
trap 'kill $server_pid 2>/dev/null; rm -rf "$work"' EXIT
cc -std=c11 -O2 -Wall -Wextra -Werror -Iinclude -o "$work/refresh" bench/refresh.c \
    -Lbuild/lib -lcriteo_oauth -Wl,-rpath,"$PWD/build/lib"
cc -std=c11 -O2 -Wall -Wextra -Werror -pthread -Iinclude -o "$work/shared" tests/c/shared.c \
    -Lbuild/lib -lcriteo_oauth -Wl,-rpath,"$PWD/build/lib"
target/release/criteo-test-server >"$work/server.out" &
server_pid=$!
for _ in $(seq 50); do [[ -s $work/server.out ]] && break; sleep 0.1; done
url=$(head -n1 "$work/server.out")
slow="$url/scenario/slow-refresh-300-expires-4"

echo
echo "a get every 2 ms for 12 s, a 4 s token, refreshes taking 300 ms"
printf '  %-34s %s\n' "refresh on the library's thread" "$("$work/refresh" "$slow" bench-background), $("$work/shared" count "$url" bench-background) fetches"
if [[ $(id -u) -eq 0 ]]; then
    printf '  %-34s %s\n' "refresh on the caller's thread" \
        "$(setpriv --reuid=65534 --regid=65534 --clear-groups prlimit --nproc=1 "$work/refresh" "$slow" bench-inline), $("$work/shared" count "$url" bench-inline) fetches"
else
    echo "  (the caller's-thread peer needs root, to run as nobody under RLIMIT_NPROC 1)"
fi
