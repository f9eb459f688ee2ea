#!/usr/bin/env bash
# Programs linked against libcriteo_oauth.so load it by its soname,
# libcriteo_oauth.so.<major>. cargo builds only the unversioned file, so
# this adds the soname link next to it, for running from the build tree.
# Usage: scripts/link-soname.sh target/debug
set -euo pipefail
dir=$1
major=$(sed -n 's/^version = "\([0-9]*\)\..*/\1/p' Cargo.toml | head -n 1)
ln -sf libcriteo_oauth.so "$dir/libcriteo_oauth.so.$major"
