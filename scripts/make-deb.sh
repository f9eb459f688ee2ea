#!/usr/bin/env bash
# Builds the Debian packages with Debian's own tools (dpkg-buildpackage and
# debhelper, driven by debian/) in a copy of the source tree, so that
# nothing is written outside build/; cargo's target directory is shared.
# libcriteo-oauth0, libcriteo-oauth-dev and criteo-token end up in
# build/deb/, the build's log in build/deb/build.log.
# Usage: scripts/make-deb.sh VERSION   (make deb)
set -euo pipefail
version=$1
top=$PWD
out=build/deb
source_dir=$out/source/criteo-oauth-$version
rm -rf "$out"
mkdir -p "$source_dir"
tar -c --exclude=./target --exclude=./build --exclude=./.git --exclude=./fuzz/target \
    --exclude=./fuzz/artifacts --exclude='*.gem' . | tar -x -C "$source_dir"
if ! (cd "$source_dir" && CARGO_TARGET_DIR=$top/target dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1; then
    tail -n 40 "$out/build.log"
    echo "make-deb: dpkg-buildpackage failed (log: $out/build.log)" >&2
    exit 1
fi
mv "$out"/source/*.deb "$out/"
rm -rf "$out/source"
ls "$out"/*.deb
