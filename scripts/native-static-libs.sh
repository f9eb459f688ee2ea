#!/usr/bin/env bash
# Prints the system libraries a static Rust library needs on this platform,
# as `rustc --print native-static-libs` reports them for an empty crate
# (criteo-oauth's own dependencies need none beyond Rust's standard library;
# the static link test in tests/packaging/run.sh would fail if they did).
#
# -lgcc_s is left out: there is no static libgcc_s, and the C compiler driver
# already links libgcc's unwinder itself (libgcc_eh with -static, libgcc_s
# as needed otherwise), so keeping it would only break `-static` builds.
set -euo pipefail
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
echo '' >"$scratch/empty.rs"
rustc --crate-type staticlib --crate-name empty -o "$scratch/libempty.a" \
    --print native-static-libs "$scratch/empty.rs" 2>&1 |
    sed -n 's/.*native-static-libs: //p' |
    tr ' ' '\n' | grep -v '^-lgcc_s$' | grep -v '^$' | tr '\n' ' ' | sed 's/ $//'
echo
