#!/usr/bin/env bash
# The cached header path (criteo_token_source_authorization, CPU ns per
# call, one source, 1, 2 and 8 threads) of this build against an earlier
# one, run in turns (part of make bench; needs cargo build --release -p
# criteo-test-server and make build). The earlier one is $BENCH_BASE
# (default a1cae81, before the regression of issue 31), built once into
# target/bench-<commit>.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${BENCH_BASE:-a1cae81}
work=$(mktemp -d)
server_pid=
trap 'kill $server_pid 2>/dev/null; git worktree remove --force "$work/src" 2>/dev/null || true; rm -rf "$work"' EXIT
earlier=$PWD/target/bench-$base
if [[ ! -f $earlier/libcriteo_oauth.so.0 ]]; then
    git worktree add --detach "$work/src" "$base" >/dev/null 2>&1
    CARGO_TARGET_DIR=$work/target cargo build --quiet --release --lib --manifest-path "$work/src/Cargo.toml"
    mkdir -p "$earlier"
    cp "$work/target/release/libcriteo_oauth.so" "$earlier/libcriteo_oauth.so.0"
    ln -sf libcriteo_oauth.so.0 "$earlier/libcriteo_oauth.so"
    cp "$work/src/include/criteo_oauth.h" "$earlier/"
fi
source bench/common.sh
bench_build "$work/header-this" bench/header.c
cc -std=c11 -O2 -Wall -Wextra -Werror -pthread -I"$earlier" -o "$work/header-$base" bench/header.c \
    -L"$earlier" -lcriteo_oauth -Wl,-rpath,"$earlier"
start_test_servers

echo
echo "the cached header path, CPU ns per call on one source (1, 2, 8 threads), in turns"
for _ in 1 2 3; do
    printf '  %-8s %s     this  %s\n' "$base" "$("$work/header-$base" "$url" 3000000)" "$("$work/header-this" "$url" 3000000)"
done
