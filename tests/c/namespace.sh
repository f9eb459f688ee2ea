# Sourced by the namespace tests: re-runs the calling script inside a new
# private mount and network namespace (as root, or with `unshare -r` where
# unprivileged user namespaces allow it). Where namespaces are not
# permitted it skips loudly, or fails under CI=true, which must run it.
# shellcheck shell=bash

# enter_namespace WHAT "$0" "$@": returns only inside the namespace.
enter_namespace() {
    local what=$1
    shift
    [[ ${INSIDE_NAMESPACE:-} == 1 ]] && return 0
    local as_root=()
    [[ $(id -u) -eq 0 ]] || as_root=(-r)
    if ! unshare "${as_root[@]}" --mount --net true 2>/dev/null; then
        if [[ ${CI:-} == true ]]; then
            echo "FAIL unshare --mount --net is not permitted; CI must run the $what test"
            exit 1
        fi
        echo "SKIP $what test: unshare --mount --net is not permitted here (CI runs it)"
        exit 0
    fi
    exec env INSIDE_NAMESPACE=1 unshare "${as_root[@]}" --mount --net "$@"
}
