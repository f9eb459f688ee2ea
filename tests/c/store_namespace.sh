#!/usr/bin/env bash
# A store on a full or read-only file system: every get still returns a
# token, and criteo_token_source_store_error says what failed.
#
# In a private mount and network namespace, a 64 KiB tmpfs holds the store
# directory; it is filled up (ENOSPC), then remounted read-only (EROFS).
#
# Usage: tests/c/store_namespace.sh BUILD_DIR SERVER
set -euo pipefail

build_dir=$1 server=$2

# shellcheck source=tests/c/namespace.sh
source "$(dirname "$0")/namespace.sh"
enter_namespace "store namespace" "$0" "$@"

ip link set lo up
server_out=$(mktemp)
"$server" >"$server_out" &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; rm -f "$server_out"' EXIT
for _ in $(seq 50); do [[ -s $server_out ]] && break; sleep 0.1; done
url="$(head -n1 "$server_out")/scenario/lives-900"

small=$(mktemp -d)
mount -t tmpfs -o size=64k tmpfs "$small"
mkdir -m 0700 "$small/store"
dd if=/dev/zero of="$small/filler" bs=4k 2>/dev/null || true
out=$("$build_dir/shared" get "$small/store" "$url" full 2>&1) || true
if ! grep -Eq '^eyJ[^ ]+ CRITEO_ERR_STORE cannot write the token store .*No space left on device' <<<"$out"; then
    echo "FAIL full file system: $out"
    exit 1
fi
# A rotated refresh token whose write failed is kept by its process, which
# heals the store once it can write again: a strict server refuses only
# the process that presented the spent token meanwhile.
rotating="$(head -n1 "$server_out")/scenario/strict-rotate"
steps=$(mktemp -u) heal_out=$(mktemp)
mkfifo "$steps"
"$build_dir/shared" heal "$small/store" "$rotating" healer rt-start-heal <"$steps" >"$heal_out" 2>&1 &
healer=$!
exec 3>"$steps"
for _ in $(seq 50); do [[ -s $small/../heal.out ]] && break; sleep 0.1; done
rm "$small/filler"
meanwhile=$("$build_dir/shared" get "$small/store" "$rotating" healer rt-start-heal 2>&1) || true
echo go >&3
exec 3>&-
wait $healer
after=$("$build_dir/shared" get "$small/store" "$rotating" healer rt-start-heal 2>&1) || true
healed=$(sed -n 2p "$heal_out" | cut -d' ' -f1)
if ! grep -q ' CRITEO_ERR_STORE$' <(sed -n 1p "$heal_out") || [[ $healed == NONE || ${after%% *} != "$healed" ]]; then
    echo "FAIL the store lost a rotated refresh token for good: healer: $(cat "$heal_out"); meanwhile: $meanwhile; after: $after"
    exit 1
fi
rm -f "$steps" "$heal_out"
"$build_dir/shared" get "$small/store" "$url" readonly >/dev/null
mount -o remount,ro "$small"
out=$("$build_dir/shared" get "$small/store" "$url" readonly-new 2>&1) || true
if ! grep -Eq '^eyJ[^ ]+ CRITEO_ERR_STORE cannot lock the token store .*Read-only file system' <<<"$out"; then
    echo "FAIL read-only file system: $out"
    exit 1
fi
echo "ok   full and read-only stores: tokens all the same, the failure reported; a rotation the full store lost is healed"
