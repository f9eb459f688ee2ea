#!/usr/bin/env bash
# Packaging tests, as a user installing from source and a distribution
# packager would try the project:
# - make install into a temporary prefix: the files, the soname, symbol
#   versions on every export, the example built with pkg-config (shared
#   and --static) and CMake (shared and static), criteo-token and both man
#   pages; make uninstall;
# - the generated files are up to date: man/criteo_oauth.3 (from the
#   header), THIRD-PARTY-NOTICES (cargo-about), the ABI baseline (abidiff),
#   and the ABI gate fails on a changed signature and a removed function;
# - the Debian packages, built with dpkg-buildpackage: lintian reports no
#   error and no warning, their contents, apt accepts them, and the example
#   and criteo-token build and run against their unpacked contents.
#
# Usage: tests/packaging/run.sh   (after `make build` and `cargo build --workspace`)
set -euo pipefail

SERVER=${SERVER:-target/debug/criteo-test-server}
CC=${CC:-cc}
CXX=${CXX:-c++}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
work=$(mktemp -d)
# shellcheck source=tests/check.sh
source tests/check.sh

server_out=$work/server-url
"$SERVER" >"$server_out" &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do [[ -s $server_out ]] && break; sleep 0.1; done
unset http_proxy https_proxy HTTPS_PROXY all_proxy ALL_PROXY
export CRITEO_HOST CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=demo-secret
CRITEO_HOST=$(head -n1 "$server_out")
token_line="^got a Bearer token, expires in 900 s"
declared=$(sed -n 's/^[a-z][a-z0-9_ ]*[ *]\(criteo_[a-z_]*\)(.*/\1/p' include/criteo_oauth.h | sort)
# shellcheck disable=SC2086
check "README's API table names every function of the header ($(echo $declared | wc -w))" 0 "^\$" \
    tests/packaging/api_table.py README.md $declared

# A tool that CI installs but a developer may lack: skip loudly, or fail in CI.
needs() {
    command -v "$1" >/dev/null && return 0
    if [[ ${CI:-} == true ]]; then fail "$1 is not installed"; else echo "SKIP $1 is not installed (CI installs it)"; fi
    return 1
}

# check_library NAME FILE: the soname, and CRITEO_OAUTH_0 on every export.
check_library() {
    local name=$1 library=$2
    check "$name: soname is libcriteo_oauth.so.0" 0 "SONAME.*\[libcriteo_oauth.so.0\]" readelf -d "$library"
    local exported unversioned
    exported=$(readelf --dyn-syms -W "$library" | awk '$7 != "UND" && $5 == "GLOBAL" && $4 == "FUNC" {print $8}')
    unversioned=$(grep -v '@@CRITEO_OAUTH_0$' <<<"$exported" || true)
    check "$name: every exported function has version CRITEO_OAUTH_0" 0 "^$" echo "$unversioned"
    check "$name: exports exactly the header's functions" 0 "^$" \
        diff <(echo "$declared") <(sed 's/@@.*//' <<<"$exported" | sort)
    check "$name: readelf -V shows the version node" 0 "Name: CRITEO_OAUTH_0" readelf -V "$library"
}

# check_test_server NAME PC_DIR CLI LIBDIR: the test server found through
# pkg-config in PC_DIR lists its scenarios and answers README's example,
# run with the criteo-token CLI and the library in LIBDIR.
check_test_server() {
    local name=$1 pc_dir=$2 cli=$3 libdir=$4 server
    server=$(PKG_CONFIG_PATH=$pc_dir pkg-config --define-variable=prefix="${pc_dir%/lib*}" \
        --variable=test_server criteo-oauth)
    check "$name: the test server's --help names the demo client and lists the scenarios" 0 \
        "client_id demo-client
  strict-rotate +rotates refresh tokens" "$server" --help
    check "$name: README's test-server example gets a token, then a 401" 0 "^eyJ
answered 401 Unauthorized" \
        env LD_LIBRARY_PATH="$libdir" PATH="$(dirname "$cli"):$PATH" SERVER="$server" bash -c '
            exec 3< <(exec "$SERVER")
            server=$!
            read -r url <&3
            CRITEO_HOST=$url CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=demo-secret criteo-token --no-cache
            CRITEO_HOST=$url CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=wrong criteo-token --no-cache 2>&1
            kill $server'
}

# check_cmake NAME PREFIX LIBDIR: a CMake project finds the package under PREFIX.
check_cmake() {
    local name=$1 prefix=$2 libdir=$3 build=$work/cmake-$1
    check "$name: cmake configure with find_package" 0 "" \
        cmake -S tests/packaging/cmake -B "$build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="-Wall -Werror" \
        -DCMAKE_CXX_FLAGS="-Wall -Wextra -Werror"
    check "$name: cmake build" 0 "" cmake --build "$build"
    check "$name: CMake, shared: runs" 0 "$token_line" env LD_LIBRARY_PATH="$libdir" "$build/get_token_shared"
    check "$name: CMake, shared: loads libcriteo_oauth.so.0" 0 "libcriteo_oauth.so.0 => $libdir/" \
        env LD_LIBRARY_PATH="$libdir" ldd "$build/get_token_shared"
    check "$name: CMake, static: runs" 0 "$token_line" "$build/get_token_static"
    check "$name: CMake, static: loads no libcriteo_oauth.so" 1 "^$" grep criteo_oauth <<<"$(ldd "$build/get_token_static")"
    check "$name: CMake, C++ (criteo_oauth.hpp): runs" 0 "$token_line" env LD_LIBRARY_PATH="$libdir" "$build/get_token_cpp"
}

# check_man NAME PAGE: man renders it without a warning.
check_man() {
    check "$1: man -l renders it" 0 "$2" bash -c "LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l '$3' 2>&1 >/dev/null | grep . && exit 1; LC_ALL=C.UTF-8 MANWIDTH=80 man -l '$3'"
}

echo "== make install"
prefix=$work/prefix
make -s install PREFIX="$prefix" >/dev/null
lib=$prefix/lib
check "installed files" 0 "" test -f "$lib/libcriteo_oauth.so.$version" -a -L "$lib/libcriteo_oauth.so.0" \
    -a -L "$lib/libcriteo_oauth.so" -a -f "$lib/libcriteo_oauth.a" -a -f "$prefix/include/criteo_oauth.h" \
    -a -f "$prefix/include/criteo_oauth.hpp" \
    -a -f "$lib/pkgconfig/criteo-oauth.pc" -a -f "$lib/cmake/criteo-oauth/criteo-oauthConfig.cmake" \
    -a -f "$lib/cmake/criteo-oauth/criteo-oauthConfigVersion.cmake" -a -x "$prefix/bin/criteo-token" \
    -a -f "$prefix/share/man/man1/criteo-token.1" -a -f "$prefix/share/man/man3/criteo_oauth.3" \
    -a -f "$prefix/share/doc/criteo-oauth/LICENSE" -a -f "$prefix/share/doc/criteo-oauth/THIRD-PARTY-NOTICES" \
    -a -x "$lib/criteo-oauth/criteo-test-server"
check "links: .so -> .so.0 -> .so.$version" 0 "^libcriteo_oauth.so.0 libcriteo_oauth.so.$version$" \
    echo "$(readlink "$lib/libcriteo_oauth.so") $(readlink "$lib/libcriteo_oauth.so.0")"
check_library "installed" "$lib/libcriteo_oauth.so.$version"
check "the header declares functions" 0 "criteo_get_token" echo "$declared"
check "the static library is unversioned" 0 "FUNC +GLOBAL +DEFAULT +[0-9]+ criteo_get_token$" \
    readelf -s -W "$lib/libcriteo_oauth.a"

echo "== pkg-config"
export PKG_CONFIG_PATH=$lib/pkgconfig
check "pkg-config --modversion" 0 "^$version$" pkg-config --modversion criteo-oauth
# shellcheck disable=SC2046 # pkg-config's output is meant to be split
check "build with pkg-config" 0 "" \
    "$CC" -std=c11 -Wall -Wextra -Werror -o "$work/get_token" examples-c/get_token.c \
    $(pkg-config --cflags --libs criteo-oauth)
check "runs against the installed .so" 0 "$token_line" env LD_LIBRARY_PATH="$lib" "$work/get_token"
# shellcheck disable=SC2046
check "build the C++ example (criteo_oauth.hpp) with pkg-config" 0 "" \
    "$CXX" -std=c++17 -Wall -Wextra -Werror -o "$work/get_token_cpp" examples-c/get_token.cpp \
    $(pkg-config --cflags --libs criteo-oauth)
check "the C++ example runs against the installed .so" 0 "$token_line" env LD_LIBRARY_PATH="$lib" "$work/get_token_cpp"
check "loads the installed .so.0" 0 "libcriteo_oauth.so.0 => $lib/libcriteo_oauth.so.0" \
    env LD_LIBRARY_PATH="$lib" ldd "$work/get_token"
# shellcheck disable=SC2046
check "build with pkg-config --static" 0 "" \
    "$CC" -std=c11 -Wall -Wextra -Werror -static -o "$work/get_token_static" examples-c/get_token.c \
    $(pkg-config --static --cflags --libs criteo-oauth)
check "static program runs" 0 "$token_line" "$work/get_token_static"
check "static program loads no libcriteo_oauth.so" 1 "not a dynamic executable" ldd "$work/get_token_static"
unset PKG_CONFIG_PATH

echo "== CMake"
if needs cmake; then
    check_cmake installed "$prefix" "$lib"
    check "find_package refuses a newer version" 1 "version: $version" \
        cmake -S tests/packaging/cmake -B "$work/cmake-0.2" -DCMAKE_PREFIX_PATH="$prefix" -DWANTED_VERSION=0.2
fi

echo "== criteo-token and the man pages"
check "criteo-token --help" 0 "^usage: criteo-token" "$prefix/bin/criteo-token" --help
check "criteo-token finds the library through its rpath" 0 "^eyJ" "$prefix/bin/criteo-token"
check "criteo-token: 401 on stderr, exit 1" 1 "^criteo-token: POST .*/oauth2/token answered 401 Unauthorized" \
    env CRITEO_CLIENT_SECRET=wrong "$prefix/bin/criteo-token"
check_test_server installed "$lib/pkgconfig" "$prefix/bin/criteo-token" "$lib"
check_man "criteo-token(1)" "EXIT STATUS" "$prefix/share/man/man1/criteo-token.1"
check_man "criteo_oauth(3)" "criteo_token_source_get_within" "$prefix/share/man/man3/criteo_oauth.3"

echo "== make uninstall"
make -s uninstall PREFIX="$prefix" >/dev/null
check "uninstall removes every file" 0 "^$" find "$prefix" -type f -o -type l

echo "== generated files are up to date"
check "man/criteo_oauth.3 is what scripts/man3.py writes from the header" 0 "^$" \
    diff <(scripts/man3.py include/criteo_oauth.h "$version") man/criteo_oauth.3
for function in $declared; do
    grep -q "^\.SS $function$" man/criteo_oauth.3 || fail "criteo_oauth(3) has no section for $function"
done
if needs cargo-about; then
    check "THIRD-PARTY-NOTICES is what cargo-about writes (make notices)" 0 "^$" \
        diff <(scripts/notices.sh) THIRD-PARTY-NOTICES
fi

echo "== ABI"
if needs abidiff; then
    built=build/lib/libcriteo_oauth.so.$version
    check "no change from the baseline but added functions (make abi-check)" 0 "no change but added functions" \
        scripts/abi.sh check "$built"
    # The gate must catch what it is for: a baseline with one parameter of
    # another type, or with a function the library no longer has.
    mutated=$work/mutated.abi
    python3 tests/packaging/mutate_abi.py changed-parameter abi/libcriteo_oauth.abi >"$mutated"
    check "a changed parameter type fails the gate" 1 "parameter 2 of type .* changed" \
        env ABI_BASELINE="$mutated" scripts/abi.sh check "$built"
    python3 tests/packaging/mutate_abi.py removed-function abi/libcriteo_oauth.abi >"$mutated"
    check "a removed function fails the gate" 1 "1 Removed function" \
        env ABI_BASELINE="$mutated" scripts/abi.sh check "$built"
fi

echo "== Debian packages (dpkg-buildpackage)"
if needs dpkg-buildpackage && needs dh && needs lintian; then
    check "make deb" 0 "criteo-token_${version}_" make -s deb
    arch=$(dpkg --print-architecture)
    multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
    runtime=build/deb/libcriteo-oauth0_${version}_$arch.deb
    dev=build/deb/libcriteo-oauth-dev_${version}_$arch.deb
    tool=build/deb/criteo-token_${version}_$arch.deb
    check "lintian: no error, no warning" 0 "" lintian --fail-on error,warning "$runtime" "$dev" "$tool"
    check "no dpkg-shlibdeps warning in the build" 1 "" grep "dpkg-shlibdeps: warning" build/deb/build.log
    check "runtime package depends on libc6" 0 "Depends: .*libc6 \(>= [0-9.]+\)" dpkg-deb --info "$runtime"
    check "runtime package: symbols file lists every function, versioned" 0 "^$" \
        diff <(echo "$declared") <(dpkg-deb --info "$runtime" symbols | sed -n 's/^ \(criteo_[a-z_]*\)@CRITEO_OAUTH_0 .*/\1/p' | sort)
    for file in "usr/lib/$multiarch/libcriteo_oauth.so.$version" \
        "usr/lib/$multiarch/libcriteo_oauth.so.0 -> libcriteo_oauth.so.$version" \
        usr/share/doc/libcriteo-oauth0/copyright usr/share/doc/libcriteo-oauth0/THIRD-PARTY-NOTICES; do
        check "runtime package: $file" 0 "\./$file" dpkg-deb --contents "$runtime"
    done
    check "runtime package holds nothing for building" 1 "" \
        bash -c "dpkg-deb --contents '$runtime' | grep -E 'include|\.a$|pkgconfig|cmake|\.so -> '"
    check "dev package depends on the exact runtime" 0 "Depends: libcriteo-oauth0 \(= $version\)" dpkg-deb --info "$dev"
    for file in usr/include/criteo_oauth.h usr/include/criteo_oauth.hpp \
        "usr/lib/$multiarch/libcriteo_oauth.so -> libcriteo_oauth.so.0" \
        "usr/lib/$multiarch/libcriteo_oauth.a" "usr/lib/$multiarch/pkgconfig/criteo-oauth.pc" \
        "usr/lib/$multiarch/cmake/criteo-oauth/criteo-oauthConfig.cmake" \
        "usr/lib/$multiarch/cmake/criteo-oauth/criteo-oauthConfigVersion.cmake" \
        usr/share/man/man3/criteo_oauth.3.gz usr/share/doc/libcriteo-oauth-dev/README.md.gz \
        usr/share/doc/libcriteo-oauth-dev/docs/time.md usr/share/doc/libcriteo-oauth-dev/docs/token-source.md.gz \
        "usr/lib/$multiarch/criteo-oauth/criteo-test-server"; do
        check "dev package: $file" 0 "\./$file" dpkg-deb --contents "$dev"
    done
    check "criteo-token package depends on the library" 0 "Depends: .*libcriteo-oauth0 \(>= $version\)" \
        dpkg-deb --info "$tool"
    for file in usr/bin/criteo-token usr/share/man/man1/criteo-token.1.gz usr/share/doc/criteo-token/copyright; do
        check "criteo-token package: $file" 0 "\./$file" dpkg-deb --contents "$tool"
    done
    check "apt would install criteo-token and the library" 0 "Inst criteo-token" \
        apt-get install --simulate --no-install-recommends "./$tool" "./$runtime"

    unpacked=$work/unpacked
    for package in "$runtime" "$dev" "$tool"; do dpkg-deb -x "$package" "$unpacked"; done
    check_library "packaged" "$unpacked/usr/lib/$multiarch/libcriteo_oauth.so.$version"
    check "packaged library is stripped" 1 "^0$" \
        bash -c "readelf -S '$unpacked/usr/lib/$multiarch/libcriteo_oauth.so.$version' | grep -c debug_info"
    # shellcheck disable=SC2046
    check "build against the unpacked -dev package with pkg-config" 0 "" \
        "$CC" -std=c11 -Wall -Wextra -Werror -o "$work/get_token_deb" examples-c/get_token.c \
        $(PKG_CONFIG_PATH="$unpacked/usr/lib/$multiarch/pkgconfig" \
            pkg-config --define-variable=prefix="$unpacked/usr" --cflags --libs criteo-oauth)
    check "runs against the unpacked runtime package" 0 "$token_line" \
        env LD_LIBRARY_PATH="$unpacked/usr/lib/$multiarch" "$work/get_token_deb"
    if needs cmake; then
        check_cmake packaged "$unpacked/usr" "$unpacked/usr/lib/$multiarch"
    fi
    check "packaged criteo-token has no rpath" 1 "^0$" \
        bash -c "readelf -d '$unpacked/usr/bin/criteo-token' | grep -c -E 'RPATH|RUNPATH'"
    check "packaged criteo-token --help" 0 "^usage: criteo-token" \
        env LD_LIBRARY_PATH="$unpacked/usr/lib/$multiarch" "$unpacked/usr/bin/criteo-token" --help
    check "packaged criteo-token gets a token" 0 "^eyJ" \
        env LD_LIBRARY_PATH="$unpacked/usr/lib/$multiarch" "$unpacked/usr/bin/criteo-token"
    check_test_server packaged "$unpacked/usr/lib/$multiarch/pkgconfig" "$unpacked/usr/bin/criteo-token" \
        "$unpacked/usr/lib/$multiarch"
    check_man "packaged criteo-token(1)" "ENVIRONMENT" "$unpacked/usr/share/man/man1/criteo-token.1.gz"
    check_man "packaged criteo_oauth(3)" "STATUS CODES" "$unpacked/usr/share/man/man3/criteo_oauth.3.gz"
fi

finish packaging
