#!/usr/bin/env bash
# Packaging tests: install into a temporary prefix and build the example
# the ways README describes (pkg-config, pkg-config --static, CMake shared
# and static), check the soname and the exported symbols, uninstall, then
# build the Debian packages, inspect them and build against their contents.
#
# Usage: tests/packaging/run.sh   (after `make build` and `cargo build --workspace`)
set -euo pipefail

SERVER=${SERVER:-target/debug/criteo-test-server}
CC=${CC:-cc}
work=$(mktemp -d)
# shellcheck source=tests/check.sh
source tests/check.sh

server_out=$work/server-url
"$SERVER" >"$server_out" &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do [[ -s $server_out ]] && break; sleep 0.1; done
unset http_proxy all_proxy ALL_PROXY
export CRITEO_HOST CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=demo-secret
CRITEO_HOST=$(head -n1 "$server_out")
token_line="^got a Bearer token, expires in 900 s"

echo "== make install"
prefix=$work/prefix
make -s install PREFIX="$prefix" >/dev/null
lib=$prefix/lib
check "installed files" 0 "" test -f "$lib/libcriteo_oauth.so.0.1.0" -a -L "$lib/libcriteo_oauth.so.0" \
    -a -L "$lib/libcriteo_oauth.so" -a -f "$lib/libcriteo_oauth.a" -a -f "$prefix/include/criteo_oauth.h" \
    -a -f "$lib/pkgconfig/criteo-oauth.pc" -a -f "$lib/cmake/criteo-oauth/criteo-oauthConfig.cmake" \
    -a -f "$lib/cmake/criteo-oauth/criteo-oauthConfigVersion.cmake"
check "links: .so -> .so.0 -> .so.0.1.0" 0 "^libcriteo_oauth.so.0 libcriteo_oauth.so.0.1.0$" \
    echo "$(readlink "$lib/libcriteo_oauth.so") $(readlink "$lib/libcriteo_oauth.so.0")"
check "soname is libcriteo_oauth.so.0" 0 "SONAME.*\[libcriteo_oauth.so.0\]" readelf -d "$lib/libcriteo_oauth.so.0.1.0"

exported=$(nm -D --defined-only "$lib/libcriteo_oauth.so.0.1.0" | awk '{print $3}' | sort)
declared=$(sed -n 's/^[a-z][a-z0-9_ ]*[ *]\(criteo_[a-z_]*\)(.*/\1/p' include/criteo_oauth.h | sort)
check "exports only criteo_ symbols" 1 "^$" grep -v '^criteo_' <<<"$exported"
check "exports every function of the header" 0 "^$" diff <(echo "$declared") <(echo "$exported")
check "the header declares functions" 0 "criteo_get_token" echo "$declared"

echo "== pkg-config"
export PKG_CONFIG_PATH=$lib/pkgconfig
check "pkg-config --modversion" 0 "^0.1.0$" pkg-config --modversion criteo-oauth
# shellcheck disable=SC2046 # pkg-config's output is meant to be split
check "build with pkg-config" 0 "" \
    "$CC" -std=c11 -Wall -Wextra -Werror -o "$work/get_token" examples-c/get_token.c \
    $(pkg-config --cflags --libs criteo-oauth)
check "runs against the installed .so" 0 "$token_line" env LD_LIBRARY_PATH="$lib" "$work/get_token"
check "loads the installed .so.0" 0 "libcriteo_oauth.so.0 => $lib/libcriteo_oauth.so.0" \
    env LD_LIBRARY_PATH="$lib" ldd "$work/get_token"
# shellcheck disable=SC2046
check "build with pkg-config --static" 0 "" \
    "$CC" -std=c11 -Wall -Wextra -Werror -static -o "$work/get_token_static" examples-c/get_token.c \
    $(pkg-config --static --cflags --libs criteo-oauth)
check "static program runs" 0 "$token_line" "$work/get_token_static"
check "static program loads no libcriteo_oauth.so" 1 "not a dynamic executable" ldd "$work/get_token_static"

echo "== CMake"
if ! command -v cmake >/dev/null; then
    if [[ ${CI:-} == true ]]; then fail "cmake is not installed"; else echo "SKIP cmake is not installed (CI installs it)"; fi
else
    check "cmake configure with find_package" 0 "" \
        cmake -S tests/packaging/cmake -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="-Wall -Werror"
    check "cmake build" 0 "" cmake --build "$work/cmake"
    check "CMake, shared: runs" 0 "$token_line" "$work/cmake/get_token_shared"
    check "CMake, shared: loads libcriteo_oauth.so.0" 0 "libcriteo_oauth.so.0 => $lib/" ldd "$work/cmake/get_token_shared"
    check "CMake, static: runs" 0 "$token_line" "$work/cmake/get_token_static"
    check "CMake, static: loads no libcriteo_oauth.so" 1 "^$" grep criteo_oauth <<<"$(ldd "$work/cmake/get_token_static")"
    check "find_package refuses a newer version" 1 "version: 0.1.0" \
        cmake -S tests/packaging/cmake -B "$work/cmake-0.2" -DCMAKE_PREFIX_PATH="$prefix" -DWANTED_VERSION=0.2
fi

echo "== make uninstall"
make -s uninstall PREFIX="$prefix" >/dev/null
check "uninstall removes every file" 0 "^$" find "$prefix" -type f -o -type l

echo "== make deb"
make -s deb >/dev/null
runtime=build/deb/libcriteo-oauth0_0.1.0_$(dpkg --print-architecture).deb
dev=build/deb/libcriteo-oauth-dev_0.1.0_$(dpkg --print-architecture).deb
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
check "runtime package depends on libc6" 0 "Depends: libc6 \(>= [0-9.]+\)" dpkg-deb --info "$runtime"
check "runtime package: shlibs names the soname" 0 "^libcriteo_oauth 0 libcriteo-oauth0 \(>= 0.1.0\)$" \
    dpkg-deb --info "$runtime" shlibs
for file in "usr/lib/$multiarch/libcriteo_oauth.so.0.1.0" "usr/lib/$multiarch/libcriteo_oauth.so.0 -> libcriteo_oauth.so.0.1.0"; do
    check "runtime package: $file" 0 "\./$file" dpkg-deb --contents "$runtime"
done
check "runtime package holds nothing for building" 1 "" \
    bash -c "dpkg-deb --contents '$runtime' | grep -E 'include|\.a$|pkgconfig|cmake|\.so -> '"
check "dev package depends on the exact runtime" 0 "Depends: libcriteo-oauth0 \(= 0.1.0\)" dpkg-deb --info "$dev"
for file in usr/include/criteo_oauth.h "usr/lib/$multiarch/libcriteo_oauth.so -> libcriteo_oauth.so.0" \
    "usr/lib/$multiarch/libcriteo_oauth.a" "usr/lib/$multiarch/pkgconfig/criteo-oauth.pc" \
    "usr/lib/$multiarch/cmake/criteo-oauth/criteo-oauthConfig.cmake" \
    "usr/lib/$multiarch/cmake/criteo-oauth/criteo-oauthConfigVersion.cmake"; do
    check "dev package: $file" 0 "\./$file" dpkg-deb --contents "$dev"
done

unpacked=$work/unpacked
dpkg-deb -x "$runtime" "$unpacked"
dpkg-deb -x "$dev" "$unpacked"
# shellcheck disable=SC2046
check "build against the unpacked -dev package" 0 "" \
    "$CC" -std=c11 -Wall -Wextra -Werror -o "$work/get_token_deb" examples-c/get_token.c \
    $(PKG_CONFIG_PATH="$unpacked/usr/lib/$multiarch/pkgconfig" \
        pkg-config --define-variable=prefix="$unpacked/usr" --cflags --libs criteo-oauth)
check "runs against the unpacked runtime package" 0 "$token_line" \
    env LD_LIBRARY_PATH="$unpacked/usr/lib/$multiarch" "$work/get_token_deb"

finish packaging
