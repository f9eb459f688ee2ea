#!/usr/bin/env bash
# Runs the Go and Ruby binding tests against the debug library and the test
# server (build both first: cargo build --workspace), then the bindings as
# programs outside the checkout use them, against an installed release
# build (bindings/installed.sh; make build first). A missing toolchain
# skips its part with a loud message locally, and fails the run in CI
# (CI=true).
# Usage: bindings/test.sh
set -euo pipefail
top=$PWD
lib_dir=$top/target/debug
export CRITEO_TEST_SERVER=$top/target/debug/criteo-test-server
scripts/link-soname.sh "$lib_dir"
# The Go package finds the library with pkg-config: point it at this build.
mkdir -p build/test-pkgconfig
cat >build/test-pkgconfig/criteo-oauth.pc <<EOF
Name: criteo-oauth
Description: the debug build, for the binding tests
Version: 0
Libs: -L$lib_dir -Wl,-rpath,$lib_dir -lcriteo_oauth
Cflags: -I$top/include
EOF
unset http_proxy https_proxy HTTPS_PROXY all_proxy ALL_PROXY
failures=0

missing() {
    if [[ ${CI:-} == true ]]; then
        echo "FAIL $1 is not installed, and CI must run these tests"
        failures=$((failures + 1))
    else
        echo "########################################################"
        echo "SKIP $1 is not installed: its binding tests did NOT run"
        echo "########################################################"
    fi
}

echo "== Go"
if command -v go >/dev/null; then
    (
        cd bindings/go
        export PKG_CONFIG_PATH=$top/build/test-pkgconfig GOPROXY=off GOFLAGS=-mod=mod
        test -z "$(gofmt -l .)" || { echo "gofmt would change: $(gofmt -l .)"; exit 1; }
        ! grep -rn "LockOSThread" . || { echo "the binding must not lock OS threads"; exit 1; }
        go vet ./...
        go test -race -count=1 ./...
    ) || failures=$((failures + 1))
else
    missing go
fi

echo "== Ruby"
if command -v ruby >/dev/null && ruby -e 'require "ffi"; require "minitest"' 2>/dev/null; then
    CRITEO_OAUTH_LIB=$lib_dir/libcriteo_oauth.so ruby -w -Ibindings/ruby/lib \
        -e 'ARGV.each { |test| require_relative test }' bindings/ruby/test/test_*.rb || failures=$((failures + 1))
else
    missing "ruby with the ffi and minitest gems"
fi

echo "== outside the checkout, against an installed library"
bindings/installed.sh || failures=$((failures + 1))

if [[ $failures -gt 0 ]]; then
    echo "binding tests failed"
    exit 1
fi
echo "binding tests passed"
