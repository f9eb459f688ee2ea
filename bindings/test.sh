#!/usr/bin/env bash
# Runs the Go and Ruby binding tests against the debug library and the test
# server (build both first: cargo build --workspace), then one store shared
# by a C program, a Go program, a Ruby program and criteo-token, then the
# bindings as programs outside the checkout use them, against an installed
# release build (bindings/installed.sh; make build first). A missing
# toolchain skips its part with a loud message locally, and fails the run
# in CI (CI=true).
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

# Each program makes a token source on one store, for the same credentials
# and host, and prints its access token: all must print the same token,
# fetched once. The store is a directory, or (with "redis") a Redis
# server started here on loopback, with a password and a random port.
# criteo-token uses the default directory, which XDG_RUNTIME_DIR points
# into this run's scratch directory, or the Redis URL in
# CRITEO_OAUTH_STORE; the others are given the store. Runs in a subshell,
# whose exit cleans up; it fails if anything failed.
# Usage: shared_store directory|redis
shared_store() (
    failures=0 # missing() counts here
    shared_failures=0
    server_pid= redis_pid=
    scratch=$(mktemp -d) # mode 0700
    trap '[[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null
          [[ -n $redis_pid ]] && kill "$redis_pid" 2>/dev/null; rm -rf "$scratch"' EXIT
    store=$scratch/criteo-oauth
    mkdir -m 0700 "$store"
    token_store=
    if [[ $1 == redis ]]; then
        if ! command -v redis-server >/dev/null; then
            missing redis-server
            exit "$failures"
        fi
        source scripts/test-redis.sh
        new_redis "$scratch" || exit 1
        store="redis://:$redis_password@127.0.0.1:$redis_port/0?prefix=bindings:"
        token_store=$store
    fi
    out=$top/build/bindings
    mkdir -p "$out"
    pass() { echo "ok   $1"; }
    fail() { echo "FAIL $1"; shared_failures=$((shared_failures + 1)); }
    programs=()

    if command -v cc >/dev/null; then
        cat >"$out/store_token.c" <<'C'
/* Prints the access token of a source on the store in argv[1], for the
 * client_credentials of CRITEO_CLIENT_ID and CRITEO_CLIENT_SECRET at
 * CRITEO_HOST; fails when the store did not work. */
#include <stdio.h>
#include <stdlib.h>

#include "criteo_oauth.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: store_token <store directory or Redis URL>\n");
        return 2;
    }
    criteo_client *client = NULL;
    criteo_token_source *source = NULL;
    criteo_token *token = NULL;
    criteo_error *error = NULL;
    criteo_client_builder *builder = criteo_client_builder_new();
    criteo_client_builder_set_host(builder, getenv("CRITEO_HOST"));
    if (criteo_client_builder_build(builder, &client, &error) != CRITEO_OK ||
        criteo_token_source_new(client, "client_credentials", getenv("CRITEO_CLIENT_ID"),
                                getenv("CRITEO_CLIENT_SECRET"), NULL, NULL, NULL, &source,
                                &error) != CRITEO_OK ||
        criteo_token_source_set_store(source, argv[1], &error) != CRITEO_OK ||
        criteo_token_source_get(source, &token, &error) != CRITEO_OK ||
        criteo_token_source_store_error(source, &error) != CRITEO_OK) {
        fprintf(stderr, "store_token: %s\n", criteo_error_message(error));
        return 1;
    }
    printf("%s\n", criteo_token_access_token(token));
    criteo_token_free(token);
    criteo_token_source_free(source);
    criteo_client_free(client);
    return 0;
}
C
        link=(-Iinclude -L"$lib_dir" -lcriteo_oauth -Wl,-rpath,"$lib_dir")
        if cc -std=c11 -Wall -Wextra -Werror tools/criteo-token.c "${link[@]}" -o "$out/criteo-token" &&
            cc -std=c11 -Wall -Wextra -Werror "$out/store_token.c" "${link[@]}" -o "$out/store_token"; then
            programs+=(criteo-token C)
        else
            fail "build criteo-token and the C program"
        fi
    else
        missing cc
    fi
    if command -v go >/dev/null; then
        if (cd bindings/go && PKG_CONFIG_PATH=$top/build/test-pkgconfig GOPROXY=off GOFLAGS=-mod=mod \
            go build -o "$out/storetoken" ./internal/storetoken); then
            programs+=(Go)
        else
            fail "build the Go program (bindings/go/internal/storetoken)"
        fi
    else
        missing go
    fi
    if command -v ruby >/dev/null && ruby -e 'require "ffi"' 2>/dev/null; then
        programs+=(Ruby)
    else
        missing "ruby with the ffi gem"
    fi
    if [[ ${#programs[@]} -lt 2 ]]; then
        fail "fewer than two programs to share a store: ${programs[*]}"
        exit 1
    fi

    coproc SERVER { exec "$CRITEO_TEST_SERVER"; }
    server_pid=$SERVER_PID
    read -r url <&"${SERVER[0]}"
    hostport=${url#http://}
    id=shared-store-$1-$$
    export CRITEO_CLIENT_ID=$id CRITEO_CLIENT_SECRET=shared-secret CRITEO_HOST=$url/scenario/lives-900

    # How many token requests the client id made, as the test server
    # counts them (bash's /dev/tcp: curl may not be installed).
    fetches() {
        local reply
        exec 3<>"/dev/tcp/${hostport%%:*}/${hostport##*:}" || return 1
        printf 'GET /count/%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$id" "$hostport" >&3
        reply=$(cat <&3)
        exec 3>&-
        printf '%s\n' "${reply##*$'\r\n'}"
    }
    # The Ruby program; with REJECT=1 it rejects the token it got, as
    # after an API 401, and prints the one it gets then.
    ruby_program='
        require "criteo_oauth"
        client = CriteoOAuth::Client.new(host: ENV.fetch("CRITEO_HOST"))
        source = CriteoOAuth::TokenSource.new(client: client, grant_type: "client_credentials",
                                              client_id: ENV.fetch("CRITEO_CLIENT_ID"),
                                              client_secret: ENV.fetch("CRITEO_CLIENT_SECRET"), store: ARGV[0])
        token = source.token
        if ENV["REJECT"] == "1"
          source.reject(token.access_token)
          token = source.token
        end
        abort "ruby: #{source.store_error.message}" if source.store_error
        puts token.access_token'
    run() {
        case $1 in
        criteo-token) XDG_RUNTIME_DIR=$scratch CRITEO_OAUTH_STORE=$token_store "$out/criteo-token" ;;
        C) "$out/store_token" "$store" ;;
        Go) "$out/storetoken" "$store" ;;
        Ruby) REJECT=${reject:-0} CRITEO_OAUTH_LIB=$lib_dir/libcriteo_oauth.so \
            ruby -w -Ibindings/ruby/lib -e "$ruby_program" "$store" ;;
        esac
    }
    # same_token <fetches> <what> <program>...: runs each program in turn
    # and passes when all printed one token ($shared, not $previous) and
    # the server has counted <fetches> fetches in all.
    previous=
    same_token() {
        local want=$1 what=$2 program token count printed=()
        shift 2
        shared=
        for program in "$@"; do
            token=$(run "$program") || token=
            printed+=("$program: ${token:-(none)}")
            if [[ -z $token || $token == "$previous" || (-n $shared && $token != "$shared") ]]; then
                fail "$what: $program printed another token, or none"
                printf '     %s\n' "${printed[@]}"
                return
            fi
            shared=$token
        done
        count=$(fetches)
        if [[ $count == "$want" ]]; then
            pass "$what ($*: one token; $count fetches in all)"
        else
            fail "$what: the server counted ${count:-no} fetches in all, want $want"
        fi
        previous=$shared
    }
    same_token 1 "the programs share one token" "${programs[@]}" "${programs[0]}"
    if [[ " ${programs[*]} " == *" Ruby "* ]]; then
        others=()
        for program in "${programs[@]}"; do [[ $program == Ruby ]] || others+=("$program"); done
        reject=1
        same_token 2 "Ruby rejects the shared token, the others take its new one" Ruby "${others[@]}"
    fi
    [[ $failures -eq 0 && $shared_failures -eq 0 ]]
)
echo "== one store directory shared by a C program, a Go program, a Ruby program and criteo-token"
shared_store directory || failures=$((failures + 1))
echo "== one Redis store shared by a C program, a Go program, a Ruby program and criteo-token"
shared_store redis || failures=$((failures + 1))

echo "== outside the checkout, against an installed library"
bindings/installed.sh || failures=$((failures + 1))

if [[ $failures -gt 0 ]]; then
    echo "binding tests failed"
    exit 1
fi
echo "binding tests passed"
