#!/usr/bin/env bash
# Links the release shared library from the static one, with the version
# script packaging/criteo_oauth.map. (rustc gives a cdylib a version script
# of its own, and linkers take only the first, so the symbols of cargo's
# cdylib cannot be versioned.) Writes into OUT_DIR:
#   libcriteo_oauth.so.VERSION   soname libcriteo_oauth.so.MAJOR, symbols CRITEO_OAUTH_0
#   libcriteo_oauth.so.MAJOR, libcriteo_oauth.so   links to it
#   libcriteo_oauth.a            cargo's static library, unchanged
# Usage: scripts/link-release.sh CARGO_RELEASE_DIR OUT_DIR VERSION MAJOR
set -euo pipefail
release=$1 out=$2 version=$3 major=$4
mkdir -p "$out"
cp "$release/libcriteo_oauth.a" "$out/libcriteo_oauth.a"
# shellcheck disable=SC2046 # one flag per word
${CC:-cc} -shared -o "$out/libcriteo_oauth.so.$version" \
    -Wl,--whole-archive "$release/libcriteo_oauth.a" -Wl,--no-whole-archive \
    -Wl,--version-script=packaging/criteo_oauth.map -Wl,-soname,"libcriteo_oauth.so.$major" \
    -Wl,--gc-sections -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack ${LDFLAGS:-} \
    $(scripts/native-static-libs.sh)
ln -sf "libcriteo_oauth.so.$version" "$out/libcriteo_oauth.so.$major"
ln -sf "libcriteo_oauth.so.$major" "$out/libcriteo_oauth.so"
