#!/usr/bin/env bash
# Runs every fuzz target for FUZZ_SECONDS (default 60) with cargo fuzz on
# the stable toolchain (--sanitizer none: coverage instrumentation only),
# starting from the committed corpus in fuzz/corpus/<target>. New inputs go
# to build/fuzz-corpus/<target>, so the committed corpus stays as it is; a
# crash is saved under fuzz/artifacts/<target> and fails the run.
# Prints executions per target. Usage: FUZZ_SECONDS=60 scripts/fuzz.sh
set -euo pipefail
seconds=${FUZZ_SECONDS:-60}
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked"; exit 1; }
targets=$(sed -n 's/^name = "\(.*\)"/\1/p' fuzz/Cargo.toml | grep -v '^criteo-oauth-fuzz$')
summary=""
status=0
for target in $targets; do
    mkdir -p "build/fuzz-corpus/$target"
    log="build/fuzz-$target.log"
    echo "== fuzzing $target for $seconds s"
    if (cd fuzz && cargo fuzz run "$target" --sanitizer none "../build/fuzz-corpus/$target" "corpus/$target" \
        -- -max_total_time="$seconds" -rss_limit_mb=4096) >"$log" 2>&1; then
        result=$(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1)
    else
        result="CRASH: see $log and fuzz/artifacts/$target"
        status=1
        tail -n 30 "$log"
    fi
    summary+=$(printf '%-15s %s' "$target" "$result")$'\n'
done
echo
echo "$summary"
exit $status
