# Sourced by the shell test scripts: pass/fail counting and `check`.
# shellcheck shell=bash

failures=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

# matches PATTERN TEXT: every line of PATTERN (grep -E) matches a line of
# TEXT. (grep itself takes a pattern of several lines as any one of them.)
matches() {
    local line
    while IFS= read -r line; do
        grep -Eq -- "$line" <<<"$2" || return 1
    done <<<"$1"
}

# check NAME EXPECTED_EXIT PATTERN COMMAND...: runs COMMAND, and checks its
# exit status and that stdout+stderr matches PATTERN (see matches).
check() {
    local name=$1 expected_exit=$2 pattern=$3
    shift 3
    local output exit_code=0
    output=$("$@" 2>&1) || exit_code=$?
    if [[ $exit_code -ne $expected_exit ]]; then
        fail "$name: exit $exit_code, expected $expected_exit; output: $output"
    elif ! matches "$pattern" "$output"; then
        fail "$name: output does not match /$pattern/: $output"
    else
        pass "$name"
    fi
}

# finish WHAT: the summary line and the exit status.
finish() {
    echo
    if [[ $failures -gt 0 ]]; then
        echo "$failures $1 test(s) failed"
        exit 1
    fi
    echo "all $1 tests passed"
}
