#!/usr/bin/env bash
# Installs what `make test` needs (make test runs this first, and so does
# CI). On Debian as root, what is missing is installed with apt-get (and
# cargo for cargo-about); elsewhere the exact commands are printed, and
# the suites that need a missing tool say SKIP loudly (or fail under
# CI=true, which must run them all). cargo-about is installed with cargo
# under the same condition.
# Usage: scripts/test-deps.sh
set -euo pipefail

# Each Debian package the tests need, and how to tell it is there.
packages=(
    "build-essential:command -v cc && command -v c++ && command -v make"
    "ca-certificates:test -s /etc/ssl/certs/ca-certificates.crt"
    "cmake:command -v cmake"
    "pkg-config:command -v pkg-config"
    "valgrind:command -v valgrind"
    "python3:command -v python3"
    "iproute2:command -v ip"
    "openssl:command -v openssl"
    "golang-go:command -v go"
    "ruby:command -v ruby"
    "ruby-ffi:ruby -e 'require \"ffi\"'"
    "ruby-minitest:ruby -e 'require \"minitest\"'"
    "debhelper:command -v dh"
    "lintian:command -v lintian"
    "abigail-tools:command -v abidiff"
    "man-db:command -v man"
    "redis-server:command -v redis-server"
    "faketime:command -v faketime"
)
# The version the checked-in THIRD-PARTY-NOTICES was written with.
cargo_about=(cargo install cargo-about --version 0.9.3 --locked --features cli --quiet)

missing=()
for entry in "${packages[@]}"; do
    package=${entry%%:*} probe=${entry#*:}
    bash -c "$probe" >/dev/null 2>&1 || missing+=("$package")
done
need_about=$(command -v cargo-about >/dev/null || echo yes)

# As root, or through sudo when it needs no password (a CI machine).
as_root=()
[[ $(id -u) -eq 0 ]] || as_root=(sudo -n)
can_install=
if command -v apt-get >/dev/null && "${as_root[@]}" true 2>/dev/null; then
    can_install=yes
fi

# Installs what it can (a failure, say offline, is not fatal: the suites
# then SKIP), then names what is still missing and how to install it.
if [[ ${#missing[@]} -gt 0 && -n $can_install ]]; then
    echo "== installing ${missing[*]}"
    "${as_root[@]}" apt-get update -qq || true
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || true
    still_missing=()
    for entry in "${packages[@]}"; do
        package=${entry%%:*} probe=${entry#*:}
        bash -c "$probe" >/dev/null 2>&1 || still_missing+=("$package")
    done
    missing=("${still_missing[@]}")
fi
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "########################################################################"
    echo "MISSING for the tests: ${missing[*]}"
    echo "On Debian or Ubuntu, install them with:"
    echo "  sudo apt-get install --no-install-recommends ${missing[*]}"
    echo "The suites that need them will say SKIP; CI runs them all."
    echo "########################################################################"
fi
if command -v rustup >/dev/null; then
    rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
if [[ -n $need_about ]]; then
    if [[ -n $can_install ]]; then
        echo "== installing cargo-about (for the THIRD-PARTY-NOTICES check)"
        "${cargo_about[@]}" || true
    fi
    command -v cargo-about >/dev/null ||
        echo "MISSING cargo-about (the THIRD-PARTY-NOTICES check will SKIP): ${cargo_about[*]}"
fi
