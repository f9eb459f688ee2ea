# Sourced by the bench scripts (after `work` and `server_pid` are set and
# their EXIT trap kills $server_pid). Needs make build and
# cargo build --release -p criteo-test-server.

# bench_build OUTPUT SOURCE [FLAGS...]: a C program linked with the release
# library in build/lib.
bench_build() {
    local output=$1 source=$2
    shift 2
    cc -std=c11 -O2 -Wall -Wextra -Werror -pthread -Iinclude "$@" -o "$output" "$source" \
        -Lbuild/lib -lcriteo_oauth -Wl,-rpath,"$PWD/build/lib"
}

# start_test_servers [tls]: the test server on loopback (and with "tls" a
# second one over TLS, its CA written to $work/ca.pem), waited for; sets
# url (and tls_url) and adds their pids to server_pid.
start_test_servers() {
    target/release/criteo-test-server >"$work/server.out" &
    server_pid="$server_pid $!"
    local outputs=("$work/server.out")
    if [[ ${1:-} == tls ]]; then
        target/release/criteo-test-server --tls "$work/ca.pem" >"$work/tls.out" &
        server_pid="$server_pid $!"
        outputs+=("$work/tls.out")
    fi
    local output
    for output in "${outputs[@]}"; do
        for _ in $(seq 50); do [[ -s $output ]] && break; sleep 0.1; done
    done
    url=$(head -n1 "$work/server.out")
    [[ ${1:-} == tls ]] && tls_url=$(head -n1 "$work/tls.out")
    return 0
}
