#!/usr/bin/env bash
# Prints the third-party notice of everything linked into the library: each
# crate, its licence and that licence's text, from the crates' metadata,
# with cargo-about (about.toml, packaging/notices.hbs). `make notices`
# writes it to THIRD-PARTY-NOTICES; tests/packaging/run.sh checks that file
# is up to date.
set -euo pipefail
cargo about generate --locked --offline --fail -c about.toml -m Cargo.toml packaging/notices.hbs
