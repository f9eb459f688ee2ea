#!/usr/bin/env bash
# Runs the Go and Ruby binding tests against the debug library and the test
# server (build both first: cargo build --workspace). A missing toolchain
# skips its part with a loud message locally, and fails the run in CI
# (CI=true).
# Usage: bindings/test.sh
set -euo pipefail
top=$PWD
lib_dir=$top/target/debug
export CRITEO_TEST_SERVER=$top/target/debug/criteo-test-server
scripts/link-soname.sh "$lib_dir"
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
        export CGO_LDFLAGS="-L$lib_dir -Wl,-rpath,$lib_dir" GOPROXY=off GOFLAGS=-mod=mod
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
    CRITEO_OAUTH_LIB=$lib_dir/libcriteo_oauth.so \
        ruby -w -Ibindings/ruby/lib bindings/ruby/test/test_criteo_oauth.rb || failures=$((failures + 1))
else
    missing "ruby with the ffi and minitest gems"
fi

if [[ $failures -gt 0 ]]; then
    echo "binding tests failed"
    exit 1
fi
echo "binding tests passed"
