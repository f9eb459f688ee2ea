#!/usr/bin/env bash
# Runs a command as if on a machine booted a minute ago: in a time
# namespace whose boot and monotonic clocks read 60 s (a fresh CI machine
# or VM). Tests that move those clocks have little room there, and must
# still test what they test. CI runs `make test` this way.
#
#   scripts/just-booted.sh make test
set -euo pipefail
# A namespace's offsets count from the machine's clocks, not from those of
# the namespace this runs in: the new ones are this one's, moved back.
offset() { # boottime|monotonic: this namespace's offset in seconds
    awk -v clock="$1" '$1 == clock { print $2 }' /proc/self/timens_offsets 2>/dev/null | grep . || echo 0
}
up=$(cut -d. -f1 /proc/uptime)
back=$((up > 60 ? up - 60 : 0))
boottime=$(($(offset boottime) - back))
monotonic=$(($(offset monotonic) - back))
if ! unshare -T --boottime "$boottime" --monotonic "$monotonic" true 2>/dev/null; then
    if [[ ${CI:-} == true ]]; then
        echo "just-booted.sh: time namespaces (unshare -T) are not available; CI needs them" >&2
        exit 1
    fi
    echo "SKIP just-booted.sh: unshare -T is not permitted here; running as is" >&2
    exec "$@"
fi
exec unshare -T --boottime "$boottime" --monotonic "$monotonic" --fork "$@"
