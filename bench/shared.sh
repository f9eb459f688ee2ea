#!/usr/bin/env bash
# Tokens shared by processes, in figures (part of make bench; needs
# cargo build --release -p criteo-test-server and make build): fetches for N
# processes against N separate sources, the CPU of a new process's first
# get that finds its token in the store against one that fetches it, and
# criteo-token from its cache against a cat of a file and --no-cache. The
# test server counts the fetches (GET /count/<client_id>).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
server_pid= redis_pid=
trap 'kill $server_pid $redis_pid 2>/dev/null; rm -rf "$work"' EXIT
# A Redis server on loopback, with a password and a random port, for the
# store shared by hosts (a host here is a process with a store of its own
# and the Redis URL); its rows are left out when redis-server is missing.
redis=
if command -v redis-server >/dev/null; then
    source scripts/test-redis.sh
    new_redis "$work" || exit 1
    redis="redis://:$redis_password@127.0.0.1:$redis_port/0"
else
    echo "(redis-server is not installed: the rows of the store on Redis are left out)"
fi
source bench/common.sh
bench_build "$work/shared" tests/c/shared.c
bench_build "$work/criteo-token" tools/criteo-token.c
# Plain HTTP where fetches are counted, TLS where time is measured.
start_test_servers tls
lives="$url/scenario/lives-900"
tls_lives="$tls_url/scenario/lives-900"
export SSL_CERT_FILE=$work/ca.pem
shared=$work/shared
count() { "$shared" count "$url" "$1"; }
# at_once N COMMAND...: N copies of COMMAND started together, waited for.
at_once() {
    local pids=()
    for _ in $(seq "$1"); do "${@:2}" >/dev/null & pids+=($!); done
    wait "${pids[@]}"
}
n=0
id() { n=$((n + 1)); client="bench-$1-$n"; }

echo
echo "token requests for N processes (or hosts) that each get a token (one token lifetime)"
printf '  %-10s %22s %18s %20s %18s\n' processes "one source, pre-fork" "one store (exec)" "separate (no store)" "hosts on Redis"
for procs in 1 8 32; do
    on_redis=-
    if [[ -n $redis ]]; then
        id redis
        at_once "$procs" env TMPDIR="$work/host" XDG_RUNTIME_DIR= "$shared" get "$redis" "$lives" "$client"
        on_redis=$(count "$client")
    fi
    id prefork
    "$shared" prefork "$lives" "$client" "$procs" 10 get >/dev/null
    prefork=$(count "$client")
    id store
    at_once "$procs" "$shared" get "$work/store" "$lives" "$client"
    store=$(count "$client")
    id separate
    at_once "$procs" "$shared" get - "$lives" "$client"
    separate=$(count "$client")
    printf '  %-10s %22s %18s %20s %18s\n' "$procs" "$prefork" "$store" "$separate" "$on_redis"
done

echo
echo "a new source's first get, CPU per get (a new process's first get, without exec)"
id first
"$shared" get "$work/store" "$tls_lives" "$client" >/dev/null
printf '  from the store (token cached)      %8s us\n' "$("$shared" first-gets "$work/store" "$tls_lives" "$client" 2000)"
if [[ -n $redis ]]; then
    "$shared" get "$redis" "$tls_lives" "$client" >/dev/null
    # Connect, AUTH, SET NX (the lock), HMGET (the record), EVAL (unlock):
    # five round trips on loopback.
    printf '  from Redis (token cached)          %8s us\n' "$("$shared" first-gets "$redis" "$tls_lives" "$client" 500)"
fi
printf '  fetched (TLS loopback, no store)   %8s us\n' "$("$shared" first-gets - "$tls_lives" "$client" 200)"

echo
echo "criteo-token, wall time per run (TLS loopback server, the system trust store and the test CA)"
export XDG_RUNTIME_DIR=$work/runtime CRITEO_HOST=$tls_lives CRITEO_CLIENT_ID=bench-cli CRITEO_CLIENT_SECRET=s
cat /etc/ssl/certs/ca-certificates.crt "$work/ca.pem" >"$work/system-and-test.pem"
export SSL_CERT_FILE=$work/system-and-test.pem
mkdir -m 0700 "$XDG_RUNTIME_DIR"
"$work/criteo-token" >/dev/null
head -c 1200 /dev/urandom | base64 -w0 >"$work/a-token"
per_run() { # COMMAND...: milliseconds per run over 200 runs
    local start end
    start=$(date +%s%N)
    for _ in $(seq 200); do "$@" >/dev/null; done
    end=$(date +%s%N)
    echo $(((end - start) / 200000))
}
cat=$(per_run cat "$work/a-token") cached=$(per_run "$work/criteo-token")
uncached=$(per_run "$work/criteo-token" --no-cache)
python3 -c 'import sys; t, c, u = (int(a) / 1000 for a in sys.argv[1:]); print(f"  cat of a file {t:.2f} ms, cached {c:.2f} ms ({c / t:.2f}x cat), --no-cache {u:.2f} ms")' \
    "$cat" "$cached" "$uncached"
