#!/usr/bin/env bash
# The ABI gate, with libabigail (Debian: abigail-tools).
#   check LIBRARY   compare LIBRARY's ABI, as abidw reads it from its debug
#                   information, with the baseline abi/libcriteo_oauth.abi:
#                   any change fails (a removed or changed function, a
#                   changed type) except added functions.
#   update LIBRARY  write the baseline anew, after an intended change.
# An incompatible change also needs a new soname: bump the major version.
# ABI_BASELINE names another baseline (the tests check the gate with one).
# Usage: scripts/abi.sh check|update LIBRARY   (make abi-check, make abi-update)
set -euo pipefail
abi_dir=$(dirname "$0")/../abi
baseline=${ABI_BASELINE:-$abi_dir/libcriteo_oauth.abi}
mode=$1 library=$2

dump() {
    abidw --no-corpus-path --no-comp-dir-path --no-show-locs "$library"
}

case $mode in
update)
    mkdir -p "$(dirname "$baseline")"
    dump >"$baseline"
    echo "wrote $baseline"
    ;;
check)
    current=$(mktemp)
    trap 'rm -f "$current"' EXIT
    dump >"$current"
    if ! abidiff --no-added-syms --suppressions "$abi_dir/suppressions.ini" "$baseline" "$current"; then
        echo "abi-check: the ABI changed incompatibly (above). If that is intended, bump the major" >&2
        echo "version (the soname) and run 'make abi-update'." >&2
        exit 1
    fi
    echo "abi-check: no change but added functions"
    ;;
*)
    echo "usage: scripts/abi.sh check|update LIBRARY" >&2
    exit 2
    ;;
esac
