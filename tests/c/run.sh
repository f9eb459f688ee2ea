#!/usr/bin/env bash
# The C side of the test suite: the header compiles as strict C11 and C++17,
# the three examples build with -Wall -Wextra -Werror and behave against the
# test server, and the C example runs clean under valgrind memcheck.
#
# Usage: tests/c/run.sh   (from the top of the tree, after `cargo build --workspace`)
set -euo pipefail

LIB_DIR=${LIB_DIR:-target/debug}
BUILD_DIR=${BUILD_DIR:-build/c}
SERVER=${SERVER:-$LIB_DIR/criteo-test-server}
CC=${CC:-cc}
CXX=${CXX:-c++}
WARNINGS=(-Wall -Wextra -Werror)
LINK=(-Iinclude -L"$LIB_DIR" -lcriteo_oauth -Wl,-rpath,"$PWD/$LIB_DIR")

failures=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

# check NAME EXPECTED_EXIT PATTERN_IN_OUTPUT COMMAND...: runs COMMAND, and
# checks its exit status and that stdout+stderr matches PATTERN (grep -E).
check() {
    local name=$1 expected_exit=$2 pattern=$3
    shift 3
    local output exit_code=0
    output=$("$@" 2>&1) || exit_code=$?
    if [[ $exit_code -ne $expected_exit ]]; then
        fail "$name: exit $exit_code, expected $expected_exit; output: $output"
    elif ! grep -Eq -- "$pattern" <<<"$output"; then
        fail "$name: output does not match /$pattern/: $output"
    else
        pass "$name"
    fi
}

mkdir -p "$BUILD_DIR"
scripts/link-soname.sh "$LIB_DIR"

echo "== header"
check "header is strict C11" 0 "" \
    "$CC" -std=c11 "${WARNINGS[@]}" -Wpedantic -Iinclude -o "$BUILD_DIR/header_c11" tests/c/header_c11.c "${LINK[@]}"
check "header is strict C++17" 0 "" \
    "$CXX" -std=c++17 "${WARNINGS[@]}" -Wpedantic -Iinclude -o "$BUILD_DIR/header_cxx17" tests/c/header_cxx17.cpp "${LINK[@]}"
check "C11 header test runs" 0 "" "$BUILD_DIR/header_c11"
check "C++17 header test runs" 0 "" "$BUILD_DIR/header_cxx17"

echo "== examples build"
check "get_token.c builds" 0 "" \
    "$CC" -std=c11 "${WARNINGS[@]}" -o "$BUILD_DIR/get_token" examples-c/get_token.c "${LINK[@]}"
check "get_token.cpp builds" 0 "" \
    "$CXX" -std=c++17 "${WARNINGS[@]}" -o "$BUILD_DIR/get_token_cpp" examples-c/get_token.cpp "${LINK[@]}"
check "criteo-token.c builds" 0 "" \
    "$CC" -std=c11 "${WARNINGS[@]}" -o "$BUILD_DIR/criteo-token" examples-c/criteo-token.c "${LINK[@]}"
check "token_source.c builds" 0 "" \
    "$CC" -std=c11 -pthread "${WARNINGS[@]}" -o "$BUILD_DIR/token_source" examples-c/token_source.c "${LINK[@]}"

echo "== examples against the test server"
server_out=$(mktemp)
"$SERVER" >"$server_out" &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; rm -f "$server_out"' EXIT
for _ in $(seq 50); do [[ -s $server_out ]] && break; sleep 0.1; done
URL=$(head -n1 "$server_out")
[[ $URL == http://127.0.0.1:* ]] || { echo "the test server did not start"; exit 1; }

# The examples read proxy variables as curl does; the test server is local.
unset http_proxy all_proxy ALL_PROXY
good=(env CRITEO_HOST="$URL" CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=demo-secret)
bad=(env CRITEO_HOST="$URL" CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=wrong)
unauthorized="CRITEO_ERR_UNAUTHORIZED: 401 Unauthorized: invalid_client: client_id doesn't exist or the client_secret is invalid"

for example in get_token get_token_cpp; do
    check "$example: token" 0 "^got a Bearer token, expires in 900 s
Authorization: Bearer eyJ" "${good[@]}" "$BUILD_DIR/$example"
    check "$example: 401" 1 "^$unauthorized\$" "${bad[@]}" "$BUILD_DIR/$example"
    check "$example: bad host" 2 "base_url must start with https:// or http://" \
        env CRITEO_HOST=ftp://x CRITEO_CLIENT_ID=a CRITEO_CLIENT_SECRET=b "$BUILD_DIR/$example"
    check "$example: no credentials" 2 "set CRITEO_CLIENT_ID and CRITEO_CLIENT_SECRET" \
        env -u CRITEO_CLIENT_ID "$BUILD_DIR/$example"
done

tool="$BUILD_DIR/criteo-token"
check "criteo-token: prints the token alone" 0 '^eyJ[A-Za-z0-9._-]+$' "${good[@]}" "$tool"
check "criteo-token: 401" 1 "^criteo-token: 401 Unauthorized: invalid_client" "${bad[@]}" "$tool"
check "criteo-token: no credentials" 2 "set CRITEO_CLIENT_ID and CRITEO_CLIENT_SECRET" env -u CRITEO_CLIENT_SECRET "$tool"
check "criteo-token: unknown argument" 2 "unknown argument '--secret'" "$tool" --secret
check "criteo-token: --help" 0 "^usage: criteo-token" "$tool" --help
json=$("${good[@]}" "$tool" --json)
check "criteo-token: --json is JSON with every field" 0 "Bearer null 900 True" python3 -c '
import json, sys, time
token = json.loads(sys.argv[1])
print(token["token_type"], "null" if token["refresh_token"] is None else "?", token["expires_in"],
      abs(token["expires_at"] - time.time() - 900) < 5 and token["access_token"].startswith("eyJ"))
' "$json"

check "token_source: threads share one fetched token" 0 "^fetched a token, expires in 900 s
8 threads x 1000 gets: 0 failed, all threads shared one token\$" "${good[@]}" "$BUILD_DIR/token_source"
check "token_source: 401" 1 "8 threads x 1000 gets: 8000 failed" "${bad[@]}" "$BUILD_DIR/token_source"

echo "== valgrind memcheck"
if ! command -v valgrind >/dev/null; then
    if [[ ${CI:-} == true ]]; then fail "valgrind is not installed"; else echo "SKIP valgrind is not installed (CI installs it)"; fi
else
    memcheck=(valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite)
    check "get_token under valgrind: token" 0 "^got a Bearer token" "${good[@]}" "${memcheck[@]}" "$BUILD_DIR/get_token"
    check "get_token under valgrind: 401" 1 "CRITEO_ERR_UNAUTHORIZED" "${bad[@]}" "${memcheck[@]}" "$BUILD_DIR/get_token"
    check "criteo-token under valgrind: --json" 0 '"access_token":"eyJ' "${good[@]}" "${memcheck[@]}" "$tool" --json
    # Every fetch runs on a worker thread here, so even "possibly lost" must
    # be zero: a source that is not freed shows up as definitely lost.
    check "token_source under valgrind: freed source leaks nothing" 0 "0 failed, all threads shared one token" \
        "${good[@]}" "${memcheck[@]}" --errors-for-leak-kinds=definite,indirect,possible "$BUILD_DIR/token_source"
fi

echo
if [[ $failures -gt 0 ]]; then
    echo "$failures C test(s) failed"
    exit 1
fi
echo "all C tests passed"
