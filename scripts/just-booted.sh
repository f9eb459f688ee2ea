#!/usr/bin/env bash
# Runs a command as if on a machine booted a minute ago: in a time
# namespace whose boot and monotonic clocks read 60 s (a fresh CI machine
# or VM). Tests that move those clocks have little room there, and must
# still test what they test. CI runs `make test` this way.
#
#   scripts/just-booted.sh make test
set -euo pipefail
up=$(cut -d. -f1 /proc/uptime)
back=$((up > 60 ? up - 60 : 0))
if ! unshare -T --boottime "-$back" --monotonic "-$back" true 2>/dev/null; then
    if [[ ${CI:-} == true ]]; then
        echo "just-booted.sh: time namespaces (unshare -T) are not available; CI needs them" >&2
        exit 1
    fi
    echo "SKIP just-booted.sh: unshare -T is not permitted here; running as is" >&2
    exec "$@"
fi
exec unshare -T --boottime "-$back" --monotonic "-$back" --fork "$@"
