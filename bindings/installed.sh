#!/usr/bin/env bash
# The bindings as a program outside this checkout uses them, against a
# `make install PREFIX=<scratch>` tree (run `make build` first):
# - Go: a module in a scratch directory requires the binding through a
#   go.mod `replace`, and builds with only PKG_CONFIG_PATH set;
# - Ruby: the gem is built from the repository root and from
#   bindings/ruby, holds its lib files, README and LICENSE, installs with
#   `gem install --local`, and finds the library through pkg-config.
# Each program gets a token from the test server. A missing toolchain
# skips its part here; bindings/test.sh, which runs this, reports it.
# Usage: bindings/installed.sh
set -euo pipefail
top=$PWD
scratch=$(mktemp -d)
server_pid=
cleanup() {
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null
    rm -rf "$scratch"
}
trap cleanup EXIT

make --no-print-directory install PREFIX="$scratch/prefix" >/dev/null
coproc SERVER { exec "$top/target/debug/criteo-test-server"; }
server_pid=$SERVER_PID
read -r url <&"${SERVER[0]}"
failures=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

if command -v go >/dev/null; then
    app=$scratch/go-app
    mkdir -p "$app"
    cat >"$app/main.go" <<'GO'
package main

import (
	"fmt"
	"os"

	criteo "criteo-oauth/bindings/go"
)

func main() {
	client, err := criteo.NewClient(criteo.WithHost(os.Args[1]), criteo.WithProxy(""))
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	defer client.Close()
	token, err := client.GetToken(criteo.TokenRequest{GrantType: "client_credentials",
		ClientID: "demo-client", ClientSecret: "demo-secret"})
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("token valid:", token.Valid())
}
GO
    (
        cd "$app"
        export GOFLAGS=-mod=mod GOPROXY=off
        go mod init example.com/app >/dev/null 2>&1
        go mod edit -require=criteo-oauth/bindings/go@v0.0.0 -replace=criteo-oauth/bindings/go="$top/bindings/go"
        env -u CGO_CFLAGS -u CGO_LDFLAGS PKG_CONFIG_PATH="$scratch/prefix/lib/pkgconfig" go build -o app .
    ) && pass "a Go module outside the checkout builds with only PKG_CONFIG_PATH set" \
        || fail "a Go module outside the checkout builds with only PKG_CONFIG_PATH set"
    if [[ -x $app/app ]] && [[ $(LD_LIBRARY_PATH="$scratch/prefix/lib" "$app/app" "$url") == "token valid: true" ]]; then
        pass "the Go program gets a token (LD_LIBRARY_PATH=<prefix>/lib)"
    else
        fail "the Go program gets a token (LD_LIBRARY_PATH=<prefix>/lib)"
    fi
    # README's other way: an rpath from pkg-config, PKG_CONFIG_PATH exported.
    (
        cd "$app"
        export GOFLAGS=-mod=mod GOPROXY=off PKG_CONFIG_PATH="$scratch/prefix/lib/pkgconfig"
        CGO_LDFLAGS="-Wl,-rpath,$(pkg-config --variable=libdir criteo-oauth)" go build -o app-rpath .
    ) || true
    if [[ -x $app/app-rpath ]] && [[ $(env -u LD_LIBRARY_PATH "$app/app-rpath" "$url") == "token valid: true" ]]; then
        pass "the Go program built with README's rpath gets a token without LD_LIBRARY_PATH"
    else
        fail "the Go program built with README's rpath gets a token without LD_LIBRARY_PATH"
    fi
fi

if command -v gem >/dev/null && ruby -e 'require "ffi"' 2>/dev/null; then
    expected=$'LICENSE\nREADME.md\nlib/criteo_oauth.rb\nlib/criteo_oauth/client.rb\nlib/criteo_oauth/consent.rb\nlib/criteo_oauth/errors.rb\nlib/criteo_oauth/handle.rb\nlib/criteo_oauth/native.rb\nlib/criteo_oauth/refreshers.rb\nlib/criteo_oauth/token.rb\nlib/criteo_oauth/token_source.rb\nlib/criteo_oauth/tracers.rb'
    gem_file=$top/bindings/ruby/criteo_oauth-0.1.0.gem
    for from in "$top" "$top/bindings/ruby"; do
        rm -f "$gem_file"
        (cd "$from" && gem build "$top/bindings/ruby/criteo_oauth.gemspec" >/dev/null 2>&1)
        if [[ -f $gem_file ]] && [[ $(tar -xOf "$gem_file" data.tar.gz | tar -tz | sort) == "$expected" ]]; then
            pass "gem build from $from packs the lib files, README.md and LICENSE"
        else
            fail "gem build from $from packs the lib files, README.md and LICENSE"
        fi
    done
    cmp -s "$top/LICENSE" "$top/bindings/ruby/LICENSE" && pass "the gem's LICENSE is the project's" \
        || fail "the gem's LICENSE is the project's"
    if GEM_HOME=$scratch/gems gem install --local --no-document "$gem_file" >/dev/null; then
        pass "gem install --local"
        got=$(cd "$scratch" && env -u CRITEO_OAUTH_LIB -u RUBYLIB GEM_HOME="$scratch/gems" \
            PKG_CONFIG_PATH="$scratch/prefix/lib/pkgconfig" ruby -e '
                require "criteo_oauth"
                client = CriteoOAuth::Client.new(host: ARGV[0], proxy: "")
                puts client.get_token(grant_type: "client_credentials", client_id: "demo-client",
                                      client_secret: "demo-secret").expired? ? "expired" : "fresh"
                puts CriteoOAuth::Native.ffi_libraries.map(&:name)' "$url" 2>&1) || true
        if [[ $got == "fresh"$'\n'"$scratch/prefix/lib/libcriteo_oauth.so.0" ]]; then
            pass "the installed gem finds the library through pkg-config and gets a token"
        else
            fail "the installed gem finds the library through pkg-config and gets a token: $got"
        fi
    else
        fail "gem install --local"
    fi
    rm -f "$gem_file"
fi

[[ $failures -eq 0 ]] || { echo "installed-tree binding tests failed"; exit 1; }
echo "installed-tree binding tests passed"
