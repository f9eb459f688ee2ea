#!/usr/bin/env bash
# Builds the Debian packages from target/release (run `make build` first):
#   libcriteo-oauth0     the shared library, with its soname in shlibs
#   libcriteo-oauth-dev  header, .so link, static library, pkg-config, CMake
# into build/deb/. Usage: scripts/make-deb.sh VERSION MAJOR   (make deb)
set -euo pipefail
version=$1
major=$2
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
out=build/deb
stage=$out/stage
runtime=$out/libcriteo-oauth$major
dev=$out/libcriteo-oauth-dev
maintainer="criteo-oauth developers <criteo-oauth@users.noreply.invalid>"

rm -rf "$out"
make -s install DESTDIR="$PWD/$stage" PREFIX=/usr LIBDIR="lib/$multiarch"
libdir="usr/lib/$multiarch"

# Split the staged install: the versioned library and its soname link go to
# the runtime package, everything for building against it to -dev.
mkdir -p "$runtime/$libdir" "$dev/$libdir" "$dev/usr"
mv "$stage/$libdir/libcriteo_oauth.so.$major" "$stage/$libdir/libcriteo_oauth.so.$version" "$runtime/$libdir/"
mv "$stage/usr/include" "$dev/usr/"
mv "$stage/$libdir/"* "$dev/$libdir/"
strip --strip-unneeded "$runtime/$libdir/libcriteo_oauth.so.$version"
strip --strip-debug "$dev/$libdir/libcriteo_oauth.a"

# Dependencies of the shared library, as Debian computes them.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/debian"
printf 'Source: criteo-oauth\n\nPackage: libcriteo-oauth%s\nArchitecture: any\n' "$major" >"$scratch/debian/control"
library=$PWD/$runtime/$libdir/libcriteo_oauth.so.$version
depends=$(cd "$scratch" && dpkg-shlibdeps -O "$library" | sed -n 's/^shlibs:Depends=//p')
[[ -n $depends ]] || { echo "make-deb: dpkg-shlibdeps found no dependencies for $library" >&2; exit 1; }

write_control() { # package section depends description
    mkdir -p "$out/$1/DEBIAN"
    cat >"$out/$1/DEBIAN/control" <<CONTROL
Package: $1
Version: $version
Architecture: $arch
Multi-Arch: same
Maintainer: $maintainer
Section: $2
Priority: optional
Depends: $3
Installed-Size: $(du -sk --exclude=DEBIAN "$out/$1" | cut -f1)
Description: $4
CONTROL
}

write_control "libcriteo-oauth$major" libs "$depends" \
    "OAuth2 access tokens from Criteo's API (C library)
 Obtains access tokens from Criteo's API token endpoint, with a C ABI:
 exact on the wire, thread-safe, bounded memory, clear errors."
echo "libcriteo_oauth $major libcriteo-oauth$major (>= $version)" >"$runtime/DEBIAN/shlibs"
echo "activate-noawait ldconfig" >"$runtime/DEBIAN/triggers"

write_control libcriteo-oauth-dev libdevel "libcriteo-oauth$major (= $version)" \
    "OAuth2 access tokens from Criteo's API (development files)
 Header, static library, pkg-config file and CMake package for
 libcriteo-oauth$major."

for package in "$runtime" "$dev"; do
    (cd "$package" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | xargs -0 md5sum >DEBIAN/md5sums)
    dpkg-deb --root-owner-group --build "$package" "$out/" >/dev/null
done
rm -rf "$stage" "$runtime" "$dev"
ls "$out"/*.deb
