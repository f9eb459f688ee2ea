#!/usr/bin/env bash
# The C side of the test suite. The header compiles as strict C11 and C++17;
# every C/C++ test program (the header tests and the four examples) is built
# with -Wall -Wextra -Werror twice, plainly and with
# -fsanitize=address,undefined; and every run below happens three times: the
# plain build, the sanitizer build, and the plain build under valgrind
# memcheck. Any sanitizer or valgrind report fails the run.
#
# Usage: tests/c/run.sh   (from the top of the tree, after `cargo build --workspace`)
set -euo pipefail

LIB_DIR=${LIB_DIR:-target/debug}
BUILD_DIR=${BUILD_DIR:-build/c}
SERVER=${SERVER:-$LIB_DIR/criteo-test-server}
CC=${CC:-cc}
CXX=${CXX:-c++}
WARNINGS=(-Wall -Wextra -Werror)
SANITIZE=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g)
# The rpath is absolute: LIB_DIR may be relative (target/debug) or not
# (CARGO_TARGET_DIR=/elsewhere: LIB_DIR=/elsewhere/debug).
LIB_PATH=$([[ $LIB_DIR == /* ]] && echo "$LIB_DIR" || echo "$PWD/$LIB_DIR")
LINK=(-Iinclude -L"$LIB_DIR" -lcriteo_oauth -Wl,-rpath,"$LIB_PATH")
# Distinct exit codes, so a report is never mistaken for the program's own
# failure exit; leak checks cover what the program allocated.
export ASAN_OPTIONS=exitcode=86:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 LSAN_OPTIONS=exitcode=86
MEMCHECK=(valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --num-callers=40
    --suppressions="$PWD/tests/c/valgrind.supp")

# shellcheck source=tests/check.sh
source tests/check.sh

# build NAME COMPILER STANDARD SOURCE [FLAGS...]: builds NAME and NAME-asan.
build() {
    local name=$1 compiler=$2 standard=$3 source=$4
    shift 4
    check "$name builds" 0 "" "$compiler" "-std=$standard" "${WARNINGS[@]}" "$@" -o "$BUILD_DIR/$name" "$source" "${LINK[@]}"
    check "$name builds with sanitizers" 0 "" "$compiler" "-std=$standard" "${WARNINGS[@]}" "${SANITIZE[@]}" "$@" \
        -o "$BUILD_DIR/$name-asan" "$source" "${LINK[@]}"
}

# run NAME EXPECTED_EXIT PATTERN [ENV=VALUE...] PROGRAM [ARGS...]: runs the
# plain build, the sanitizer build and the plain build under valgrind.
run() {
    local name=$1 expected_exit=$2 pattern=$3
    shift 3
    local environment=()
    while [[ $1 == *=* ]]; do environment+=("$1"); shift; done
    local program=$1
    shift
    check "$name" "$expected_exit" "$pattern" env "${environment[@]}" "$BUILD_DIR/$program" "$@"
    check "$name [asan+ubsan]" "$expected_exit" "$pattern" env "${environment[@]}" "$BUILD_DIR/$program-asan" "$@"
    if command -v valgrind >/dev/null; then
        check "$name [valgrind]" "$expected_exit" "$pattern" env "${environment[@]}" "${MEMCHECK[@]}" "$BUILD_DIR/$program" "$@"
    elif [[ ${CI:-} == true ]]; then
        fail "$name [valgrind]: valgrind is not installed"
    else
        echo "SKIP $name [valgrind]: valgrind is not installed (CI installs it)"
    fi
}

# A fleet of hosts that share tokens through a store on Redis
# (tests/c/fleet.c). Each host is a process of its own, exec'd with its
# own TMPDIR and XDG_RUNTIME_DIR, so only the Redis server is shared. The
# section starts its own redis-server (a random password and free port, no
# persistence, in a directory of its own) and kills it at the end.
# Run it alone with: ONLY=fleet tests/c/run.sh
source scripts/test-redis.sh
fleet_cleanup() {
    [[ -n ${redis_pid:-} ]] && kill -9 "$redis_pid" 2>/dev/null
    [[ -n ${fake_pid:-} ]] && kill "$fake_pid" 2>/dev/null
    [[ -n ${long_pid:-} ]] && kill "$long_pid" 2>/dev/null
    [[ -n ${redis_dir:-} ]] && rm -rf "$redis_dir"
    return 0
}
# keep FILE COMMAND...: runs COMMAND, its output kept in FILE and printed.
keep() {
    local file=$1 status=0
    shift
    "$@" >"$file" 2>&1 || status=$?
    cat "$file"
    return $status
}
# The times of a kept output's gets, for the log.
times_of() { echo "     times: $(sed -n 's/^\(\[[^]]*\] \)\{0,1\}\(get [0-9.]*[^:]*\): [^ ]* \([A-Z_]*\) \([0-9]*\) ms.*/\1\2 \3 \4 ms/p' "$1" | paste -sd, -)"; }

fleet_tests() {
    echo "== a fleet of hosts sharing tokens through Redis"
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        if [[ ${CI:-} == true ]]; then
            fail "the fleet tests need redis-server and redis-cli (apt-get install redis-server); CI must run them"
        else
            echo "SKIP: *** the fleet tests: redis-server or redis-cli is not installed (apt-get install redis-server); CI runs them ***"
        fi
        return 0
    fi
    build fleet "$CC" c11 tests/c/fleet.c
    local fleet=$BUILD_DIR/fleet old_trap
    redis_dir=$(mktemp -d)
    eval "set -- $(trap -p EXIT)"
    old_trap=${3:-}
    trap "fleet_cleanup; $old_trap" EXIT
    new_redis "$redis_dir" || { fail "redis-server did not start"; return 0; }
    local store="redis://:$redis_password@127.0.0.1:$redis_port/0"
    local described="redis://127\\.0\\.0\\.1:$redis_port/0"
    local out=$redis_dir/out n=0 client
    fleet_client() { n=$((n + 1)); client="fleet-$1-$n-$$"; }
    # Every output is kept (out.N): the scan at the end looks for every
    # token and refresh token they name.
    # (Called inside check's subshell: the caller numbers the file, n.)
    kept() { keep "$out.$n" "$@"; }

    echo "-- faults of Redis: every get returns a token within its limit, the store's failure reported"
    local limit=3000 lives=$URL/scenario/lives-900 wrong="wrong-$redis_password"
    # fault NAME STORE_URL DESCRIBED: one host's get on a broken store.
    fault() {
        fleet_client fault
        check "$1: a token within the limit, the store's failure reported" 0 \
            "^get 1\\.1: eyJ[^ ]+ CRITEO_OK [0-9]+ ms within $limit ms; store CRITEO_ERR_STORE .*$3" \
            kept env CRITEO_OAUTH_STORE="$2" FLEET_LIMIT_MS=$limit "$fleet" host "$lives" "$client" 1 get
        times_of "$out.$n"
        check "  no message names the password" 1 "" grep -F -e "$redis_password" -e "$wrong" "$out.$n"
    }
    fault "a wrong password" "redis://:$wrong@127.0.0.1:$redis_port/0" "$described"
    local closed_port
    closed_port=$(free_port)
    fault "nothing listening" "redis://:$redis_password@127.0.0.1:$closed_port/0" "redis://127\\.0\\.0\\.1:$closed_port/0"
    local mode fake_port
    for mode in garbage huge-bulk one-byte-a-second silent close-mid-answer error-NOAUTH error-WRONGPASS error-READONLY error-OOM; do
        "$SERVER" --fake-redis "$mode" >"$redis_dir/fake" 2>&1 &
        fake_pid=$!
        for _ in $(seq 50); do [[ -s $redis_dir/fake ]] && break; sleep 0.05; done
        fake_port=$(head -n1 "$redis_dir/fake")
        fault "a fake Redis: $mode" "redis://:$redis_password@127.0.0.1:$fake_port/0" "redis://127\\.0\\.0\\.1:$fake_port/0"
        kill "$fake_pid" 2>/dev/null
        wait "$fake_pid" 2>/dev/null || true
        fake_pid=
    done

    # Killed while a host holds the lock and fetches (a slow answer): its
    # write fails, its token is returned.
    fleet_client killed
    local slow=$URL/scenario/slow-1500-lives-900
    n=$((n + 1)) # (not in the redirection: a background command expands it in its subshell)
    env CRITEO_OAUTH_STORE="$store" FLEET_LIMIT_MS=$limit "$fleet" host "$slow" "$client" 1 get >"$out.$n" 2>&1 &
    local host_pid=$!
    for _ in $(seq 200); do [[ $("$fleet" count "$URL" "$client") -ge 1 ]] && break; sleep 0.01; done
    stop_redis
    wait "$host_pid" || true
    check "Redis killed mid-fetch: the holder's token, the store's failure reported" 0 \
        "^get 1\\.1: eyJ[^ ]+ CRITEO_OK [0-9]+ ms within $limit ms; store CRITEO_ERR_STORE .*$described" cat "$out.$n"
    times_of "$out.$n"
    check "  no message names the password" 1 "" grep -F "$redis_password" "$out.$n"
    fleet_client down
    check "Redis down: a token within the limit, the store's failure reported" 0 \
        "^get 1\\.1: eyJ[^ ]+ CRITEO_OK [0-9]+ ms within $limit ms; store CRITEO_ERR_STORE .*$described" \
        kept env CRITEO_OAUTH_STORE="$store" FLEET_LIMIT_MS=$limit "$fleet" host "$slow" "$client" 1 get
    times_of "$out.$n"
    start_redis "$redis_dir" || { fail "redis-server did not start again"; return 0; }
    check "Redis restarted empty: the next host fetches (the record was lost) and stores again" 0 \
        "^get 1\\.1: eyJ[^ ]+ CRITEO_OK [0-9]+ ms within $limit ms; store CRITEO_OK" \
        kept env CRITEO_OAUTH_STORE="$store" FLEET_LIMIT_MS=$limit "$fleet" host "$lives" "$client" 1 get
    check "  and a later host takes that token: no fetch" 0 "^$(grep -o 'eyJ[^ ]*' "$out.$n" | head -n1) 2\$" \
        bash -c 'env CRITEO_OAUTH_STORE="$1" "$2" host "$3" "$4" 1 get | grep -o "eyJ[^ ]*" | head -n1 | tr "\n" " "; "$2" count "$5" "$4"' \
        _ "$store" "$fleet" "$lives" "$client" "$URL"
    # A long-lived host across a restart: its kept connection is dead, and
    # Redis empty, after round 1; by round 3 it uses the store again.
    fleet_client long
    mkfifo "$redis_dir/lines"
    n=$((n + 1))
    env CRITEO_OAUTH_STORE="$store" FLEET_LIMIT_MS=$limit FLEET_WAIT_LINE=1 "$fleet" host "$lives" "$client" 3 reject \
        <"$redis_dir/lines" >"$out.$n" 2>&1 &
    long_pid=$!
    local lines
    exec {lines}>"$redis_dir/lines"
    for _ in $(seq 100); do grep -q "^get 1\\.2" "$out.$n" && break; sleep 0.05; done
    stop_redis
    start_redis "$redis_dir" || { fail "redis-server did not start again"; return 0; }
    # (In a subshell: a host gone would kill it with SIGPIPE, not this run.)
    (echo >&$lines) 2>/dev/null || true
    for _ in $(seq 100); do grep -q "^get 2\\.2" "$out.$n" && break; sleep 0.05; done
    (echo >&$lines) 2>/dev/null || true
    exec {lines}>&-
    wait "$long_pid" || true
    long_pid=
    check "a long-lived host across a restart of Redis: tokens within the limit, the store used again" 0 \
        "^host: 0 failed gets, 0 invalid_grant, 0 rejected tokens returned, 0 over the limit
^get 3\\.2: eyJ[^ ]+ CRITEO_OK [0-9]+ ms within $limit ms; store CRITEO_OK" cat "$out.$n"
    times_of "$out.$n"

    echo "-- hosts sharing one token"
    local build token
    for build in fleet fleet-asan; do
        fleet_client eight
        check "8 hosts started at once: 1 token request, the same token for all [$build]" 0 \
            "^8 hosts: 8 with a token, 1 distinct last tokens, 0 failed gets, 0 invalid_grant, 0 rejected tokens returned, 1 distinct tokens seen, 1 fetches\$" \
            kept env CRITEO_OAUTH_STORE="$store" "$BUILD_DIR/$build" hosts 8 "$URL/scenario/slow-500-lives-900" "$client" 1 get
        token=$(sed -n 's/^last token: //p' "$out.$n")
        n=$((n + 1))
        check "  then 5 later hosts: no new request, that token [$build]" 0 \
            "^5 hosts: 5 with a token, 1 distinct last tokens, 0 failed gets, 0 invalid_grant, 0 rejected tokens returned, 1 distinct tokens seen, 1 fetches
^last token: ${token:-NONE}\$" \
            kept env CRITEO_OAUTH_STORE="$store" "$BUILD_DIR/$build" hosts 5 "$URL/scenario/slow-500-lives-900" "$client" 1 get
    done
    fleet_client control
    check "  (the same 8 hosts without CRITEO_OAUTH_STORE share nothing: 8 requests)" 0 \
        "^8 hosts: 8 with a token, 8 distinct last tokens, 0 failed gets, .* 8 fetches\$" \
        kept env -u CRITEO_OAUTH_STORE "$fleet" hosts 8 "$URL/scenario/slow-500-lives-900" "$client" 1 get
    fleet_client prefix
    hosts_then_keys() {
        keep "$out.$n" env CRITEO_OAUTH_STORE="$store?prefix=fleet-test:" "$fleet" hosts 8 "$lives" "$client" 1 get &&
            redis_cli --scan --pattern "fleet-test:*"
    }
    check "8 hosts on ?prefix=fleet-test: : 1 request; the keys carry that prefix" 0 \
        "^8 hosts: 8 with a token, 1 distinct last tokens, 0 failed gets, .* 1 fetches
^fleet-test:\\{[0-9a-f]{32}\\}:record\$" hosts_then_keys

    echo "-- a refresh token that rotates, on a server that revokes it once used"
    for build in fleet fleet-asan; do
        fleet_client strict
        # Each fetch gives a token of its own: fetches are the distinct
        # tokens seen; 1 + 3 rounds at least (every host rejects), 1 + 12 at most.
        check "4 hosts x 3 rounds of get, reject, get from one refresh token: no invalid_grant, one fetch per token [$build]" 0 \
            "^4 hosts: 4 with a token, [0-9]+ distinct last tokens, 0 failed gets, 0 invalid_grant, 0 rejected tokens returned, ([0-9]+) distinct tokens seen, \\1 fetches\$" \
            kept env CRITEO_OAUTH_STORE="$store" "$BUILD_DIR/$build" hosts 4 "$URL/scenario/strict-rotate" "$client" 3 reject "rt-start-$client"
        check "  the server's count: between 4 and 13" 0 "^in range\$" \
            bash -c 'c=$("$1" count "$2" "$3"); [[ $c -ge 4 && $c -le 13 ]] && echo in range || echo "out of range: $c"' _ "$fleet" "$URL" "$client"
    done

    echo "-- a lock holder stopped (SIGSTOP) past its lease, inside its fetch"
    # The holder's limit is 2 s, its lease 4 s. B's limit 2 s: it waits
    # for the lock at most 3 s, then gets again; 4 s: it waits past the lease.
    local b_limit
    for b_limit in 2000 4000; do
        fleet_client stopped
        check "another host gets a token after the lease (B's limit $b_limit ms), through the store; the holder's late write leaves it" 0 \
            "^B: a token [0-9]+ ms after the stop .*: after the lease; store CRITEO_OK\$
^A after SIGCONT: a token\$
^C: B's token, 0 failed gets, 0 invalid_grant; fetches after C: 2 \\(\\+0\\)\$" \
            kept env CRITEO_OAUTH_STORE="$store" "$fleet" stopped-holder "$URL/scenario/slow-1000" "$client" $b_limit
        times_of "$out.$n"
        fleet_client stopped-strict
        # B's refresh is refused (the stopped holder's request spent the
        # refresh token); the holder's answer, written over B's record
        # after SIGCONT, keeps the lineage alive: C takes its token, and
        # refreshes with its refresh token.
        check "against strict-rotate (B's limit $b_limit ms): the holder's lineage survives, a later host refreshes without invalid_grant" 0 \
            "^A after SIGCONT: a token\$
^C: A's token, 0 failed gets, 0 invalid_grant; fetches after C: [0-9]+ \\(\\+1\\)\$" \
            kept env CRITEO_OAUTH_STORE="$store" "$fleet" stopped-holder "$URL/scenario/slow-1000-strict-rotate" "$client" $b_limit "rt-start-$client"
        times_of "$out.$n"
    done

    echo "-- fork() on a Redis store: a child makes its own connection"
    # Plain build only for forks with a thread in a call (see fork above).
    [[ -x $BUILD_DIR/shared ]] || build shared "$CC" c11 tests/c/shared.c -pthread
    fleet_client forked
    check "a fork while a fetch holds the Redis lock: the child takes that fetch's token" 0 \
        "^child got a token, the same as the parent's; 1 fetches\$" \
        "$BUILD_DIR/shared" fork-during-fetch "$store" "$URL/scenario/slow-1000" "$client"
    fleet_client closefrom
    local decoy
    decoy=$(mktemp -d -p "$redis_dir") && chmod 0777 "$decoy"
    check "a child that closes every descriptor and reuses their numbers (store on Redis): a token, none of its files closed by the frees, nothing written elsewhere" 0 \
        "^eyJ[^ ]+ CRITEO_OK
after the frees, 17 of 17 descriptors still open
0 0\$" bash -c '"$@" && echo "$(find "$6" -type f -size +0 | wc -l) $(find "$6" -type f ! -name "decoy-*" | wc -l)"' _ \
        "$BUILD_DIR/shared" closefrom "$store" "$lives" "$client" "$decoy"

    echo "-- criteo-token on Redis"
    check "criteo-token --store refuses a URL with a password on argv" 2 "must not hold a password" \
        env CRITEO_HOST="$lives" CRITEO_CLIENT_ID=x CRITEO_CLIENT_SECRET=s "$BUILD_DIR/criteo-token" --store "$store"
    check "criteo-token --store refuses a password holding / (its user info ends at the last @)" 2 "must not hold a password" \
        env CRITEO_HOST="$lives" CRITEO_CLIENT_ID=x CRITEO_CLIENT_SECRET=s "$BUILD_DIR/criteo-token" --store "redis://:Zx9/Qw@127.0.0.1:1/0"
    check "CRITEO_OAUTH_STORE with a password holding / ? #: the token, and no piece of the password in the warning" 1 "^\$" \
        bash -c '"$@" 2>&1 | grep -e Zx9 -e Qw -e Lm' _ env CRITEO_OAUTH_STORE='redis://app:Zx9/Qw?Lm#@127.0.0.1:1/0' \
        CRITEO_HOST="$lives" CRITEO_CLIENT_ID=x CRITEO_CLIENT_SECRET=s "$BUILD_DIR/criteo-token"
    check "CRITEO_OAUTH_STORE that looks like a URL of another kind: refused, no directory made, the token" 0 \
        "^criteo-token: not caching: CRITEO_OAUTH_STORE: the store looks like a URL" \
        bash -c 'cd "$1" && shift && "$@" 2>&1 >/dev/null && test ! -e "redis:127.0.0.1:6379"' _ "$redis_dir" \
        env CRITEO_OAUTH_STORE='redis:127.0.0.1:6379' CRITEO_HOST="$lives" CRITEO_CLIENT_ID=x CRITEO_CLIENT_SECRET=s \
        "$(realpath "$BUILD_DIR/criteo-token")"
    fleet_client cli
    cli_runs() {
        local i
        for i in $(seq 10); do
            env CRITEO_OAUTH_STORE="$store" XDG_RUNTIME_DIR="$(mktemp -d -p "$redis_dir")" CRITEO_HOST="$lives" \
                CRITEO_CLIENT_ID="$client" CRITEO_CLIENT_SECRET=fleet-S3cret "$BUILD_DIR/criteo-token" 2>>"$out.$n.err"
        done | sort -u >"$out.$n"
        echo "$("$fleet" count "$URL" "$client") $(wc -l <"$out.$n") $(wc -c <"$out.$n.err")"
    }
    check "criteo-token with CRITEO_OAUTH_STORE on Redis, 10 runs in fresh runtime directories: 1 token request, one token, no warning" 0 \
        "^1 1 0\$" cli_runs

    echo "-- what a reader of Redis sees"
    # Every value of every key, as bytes.
    local dump=$redis_dir/dump secrets=$redis_dir/secrets key
    redis_dump() {
        : >"$dump"
        { redis_cli --scan || echo "SCAN FAILED"; } | while IFS= read -r key; do
            printf '%s\n' "$key" >>"$dump"
            case $(redis_cli type "$key") in
            hash) redis_cli --raw hgetall "$key" >>"$dump" ;;
            string) redis_cli --raw get "$key" >>"$dump" ;;
            *) echo "UNEXPECTED TYPE" >>"$dump" ;;
            esac
        done
    }
    { cat "$out".* | grep -ohE 'eyJ[A-Za-z0-9._-]+|rt-(strict|start)-[A-Za-z0-9-]+' | sort -u >"$secrets"; } || true
    echo "fleet-S3cret" >>"$secrets"
    echo "$redis_password" >>"$secrets"
    check "  the tokens and refresh tokens the hosts saw: many" 0 "^many\$" \
        bash -c '[[ $(grep -c "^eyJ" "$1") -ge 20 && $(grep -c "^rt-strict" "$1") -ge 10 ]] && echo many || wc -l "$1"' _ "$secrets"
    # The scan itself can find one: a decoy written in clear is found.
    redis_cli set fleet-decoy "{\"access_token\":\"$(grep -m1 '^eyJ' "$secrets")\"}" >/dev/null || true
    redis_dump
    check "  (a token written in clear is found by the scan)" 0 "" grep -aqF -f "$secrets" "$dump"
    redis_cli del fleet-decoy >/dev/null || true
    redis_dump
    check "every key is a lineage's lock or record: records sealed (criteo\\x01\\x01...), generations numbers" 0 "^[1-9][0-9]* records, all sealed\$" \
        bash -c 'records=0 bad=0
            while IFS= read -r key; do
                [[ $key =~ ^(criteo-oauth|fleet-test):\{[0-9a-f]{32}\}:(record|lock)$ ]] || { echo "odd key: $key"; bad=1; continue; }
                [[ $key == *:record ]] || continue
                records=$((records + 1))
                [[ $(REDISCLI_AUTH=$1 redis-cli --no-auth-warning -h 127.0.0.1 -p "$2" --raw hget "$key" r | head -c 8 | od -An -c | tr -d " ") == "criteo001001" ]] || { echo "unsealed: $key"; bad=1; }
                [[ $(REDISCLI_AUTH=$1 redis-cli --no-auth-warning -h 127.0.0.1 -p "$2" --raw hget "$key" g) =~ ^[0-9]+$ ]] || { echo "odd generation: $key"; bad=1; }
            done < <(REDISCLI_AUTH=$1 redis-cli --no-auth-warning -h 127.0.0.1 -p "$2" --scan)
            [[ $bad == 0 ]] && echo "$records records, all sealed"' _ "$redis_password" "$redis_port"
    check "no access token, refresh token, client secret or password readable in Redis" 1 "" grep -aF -f "$secrets" "$dump"
    check "no access_token and no JSON object readable in Redis" 1 "" grep -aE 'access_token|refresh_token|\{"[A-Za-z_]+":' "$dump"

    stop_redis
    redis_pid=
    rm -rf "$redis_dir"
    trap "$old_trap" EXIT
}

mkdir -p "$BUILD_DIR"
scripts/link-soname.sh "$LIB_DIR"
# criteo-token caches in the default store: one of this run's own.
XDG_RUNTIME_DIR=$(mktemp -d)
export XDG_RUNTIME_DIR

server_out=$(mktemp)
"$SERVER" >"$server_out" &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; rm -f "$server_out"' EXIT
for _ in $(seq 50); do [[ -s $server_out ]] && break; sleep 0.1; done
URL=$(head -n1 "$server_out")
[[ $URL == http://127.0.0.1:* ]] || { echo "the test server did not start"; exit 1; }

if [[ ${ONLY:-} == fleet ]]; then
    build criteo-token "$CC" c11 tools/criteo-token.c
    fleet_tests
    finish C
    exit 0
fi

echo "== build"
build header_c11 "$CC" c11 tests/c/header_c11.c -Wpedantic
build header_cxx17 "$CXX" c++17 tests/c/header_cxx17.cpp -Wpedantic
build get_token "$CC" c11 examples-c/get_token.c
build get_token_cpp "$CXX" c++17 examples-c/get_token.cpp -Wpedantic
build cxx_wrapper "$CXX" c++17 tests/c/cxx_wrapper.cpp -Wpedantic
build trace "$CC" c11 tests/c/trace.c -Wpedantic -pthread
build criteo-token "$CC" c11 tools/criteo-token.c
build token_source "$CC" c11 examples-c/token_source.c -pthread

echo "== run against the test server"

# The examples read proxy variables as curl does; the test server is local.
unset http_proxy all_proxy ALL_PROXY
good=(CRITEO_HOST="$URL" CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=demo-secret)
bad=(CRITEO_HOST="$URL" CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=wrong)
unset_credentials=(CRITEO_CLIENT_ID= CRITEO_CLIENT_SECRET=)
unauthorized="CRITEO_ERR_UNAUTHORIZED: POST $URL/oauth2/token answered 401 Unauthorized: invalid_client: client_id doesn't exist or the client_secret is invalid"

run "C11 header test" 0 "" header_c11
run "C++17 header test" 0 "" header_cxx17
run "criteo_oauth.hpp: owners, exceptions, the token source wrapper and its callbacks" 0 \
    "^the C\\+\\+ header: all checks passed\$" cxx_wrapper "$URL"

for example in get_token get_token_cpp; do
    run "$example: token" 0 "^got a Bearer token, expires in 900 s
Authorization: Bearer eyJ" "${good[@]}" "$example"
    run "$example: 401" 1 "^$unauthorized\$" "${bad[@]}" "$example"
    run "$example: bad host" 2 "base_url must start with https:// or http://" \
        CRITEO_HOST=ftp://x CRITEO_CLIENT_ID=a CRITEO_CLIENT_SECRET=b "$example"
done
check "get_token: no credentials" 2 "set CRITEO_CLIENT_ID and CRITEO_CLIENT_SECRET" env -u CRITEO_CLIENT_ID "$BUILD_DIR/get_token"

run "criteo-token: prints the token alone" 0 '^eyJ[A-Za-z0-9._-]+$' "${good[@]}" criteo-token
run "criteo-token: 401, naming the URL" 1 "^criteo-token: POST $URL/oauth2/token answered 401 Unauthorized: invalid_client" "${bad[@]}" criteo-token
run "criteo-token --header: an Authorization value" 0 '^Bearer eyJ[A-Za-z0-9._-]+$' "${good[@]}" criteo-token --header --no-cache
run "criteo-token --timeout: a slow server gives up, exit 3" 3 "^criteo-token: .*(time limit|timed out)" \
    CRITEO_HOST="$URL/scenario/slow-5000" CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=demo-secret \
    criteo-token --no-cache --timeout 0.5
check "criteo-token --timeout=1 bounds a run behind a slow server to well under its 5 s" 0 "^3 [012]\$" \
    bash -c 'start=$SECONDS; env "$@" >/dev/null 2>&1; echo $? $((SECONDS - start))' _ \
    CRITEO_HOST="$URL/scenario/slow-5000" CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=demo-secret \
    "$BUILD_DIR/criteo-token" --no-cache --timeout=1
for bad_timeout in 0 -1 abc 1e99 nan inf 5s "" 0x10 +5 " 5" 1e2; do
    check "criteo-token --timeout '$bad_timeout' is refused" 2 "^criteo-token: --timeout needs a number of seconds" \
        env "${good[@]}" "$BUILD_DIR/criteo-token" --timeout "$bad_timeout"
done
# A cached token due for refresh (after half of its 8 s, less up to 10 %)
# but valid 3 s more, and a refresh the server answers only after 20 s:
# printed at once, with or without --timeout, its refresh left to later.
due=(CRITEO_CLIENT_ID="cli-due-$$" CRITEO_CLIENT_SECRET=s CRITEO_HOST="$URL/scenario/slow-refresh-20000-expires-8")
first=$(env "${due[@]}" "$BUILD_DIR/criteo-token")
sleep 5
for limit in "--timeout 3" ""; do
    check "criteo-token ${limit:-(no --timeout)}: a cached token due but valid is printed at once, a refresh that hangs or not" 0 \
        "^$first [01]\$" bash -c 'start=$SECONDS; token=$(timeout 10 env "$@"); echo "$token $((SECONDS - start))"' _ \
        "${due[@]}" "$BUILD_DIR/criteo-token" $limit
done
run "criteo-token --timeout without a value is refused" 2 "^criteo-token: --timeout needs" "${good[@]}" criteo-token --timeout
run "criteo-token --header with --json is refused" 2 "cannot be used together" "${good[@]}" criteo-token --header --json
run "criteo-token: an empty CRITEO_HOST is named, not taken as the default" 2 "^criteo-token: CRITEO_HOST is set but empty" \
    CRITEO_HOST= CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=demo-secret criteo-token
run "the trace callback on 8 threads at once: every event one line, no secret, times in order" 0 \
    "^8 threads: all events, 0 bad, 0 threads short of events or fetches\$" trace "$URL"
run "the trace callback never runs once the source, the client and user_data are freed, a refresh still under way" 0 \
    "^events after the frees: 0\$" trace late "$URL/scenario/slow-refresh-1500-expires-3"
check "criteo-token -v: the token alone on stdout" 0 '^eyJ[A-Za-z0-9._-]+$' \
    env "${good[@]}" CRITEO_HOST="$URL/scenario/json" bash -c 'exec "$@" 2>/dev/null' _ "$BUILD_DIR/criteo-token" -v --no-cache
# 503-then-200 answers 503 to the first request for its path only: this
# run's own path for it.
check "criteo-token -v: each step on stderr, a 503 retried" 0 "^\* \[ *[0-9]+\.[0-9]{3} ms\] fetch: asking the server: no token yet\$
^\* \[.*\] request: POST $URL/scenario/slow-1-503-then-200/oauth2/token, a form of [0-9]+ bytes\$
^\* \[.*\] connect: connected to 127.0.0.1:
^\* \[.*\] response: 503 Service Unavailable, 9 bytes\$
^\* \[.*\] retry: retry 1 of 2 in [0-9]+ ms, after: .* answered 503
^\* \[.*\] response: 200 OK
^\* \[.*\] fetch: a token from the server\$" \
    bash -c '"$@" 2>&1 >/dev/null' _ env "${good[@]}" CRITEO_HOST="$URL/scenario/slow-1-503-then-200" \
    "$BUILD_DIR/criteo-token" -v --no-cache
check "criteo-token -v: no line holds the secret" 1 "^\$" \
    bash -c '"$@" 2>&1 | grep -F demo-secret' _ env "${good[@]}" CRITEO_HOST="$URL/scenario/401-echo" \
    "$BUILD_DIR/criteo-token" -v --no-cache
# The review's secret, whose form encoding differs from it, echoed in
# base64 in every header of a 503 (Retry-After among them) and its body.
for status in 302 503; do
    check "criteo-token -v: no piece of the secret decodable from a base64 echo ($status)" 0 "^clean\$" \
        bash -c '"$@" 2>&1 >/dev/null | tests/c/base64_leak.py "S3cr&t=x+y/z%Q-long" "S3cr%26t%3Dx%2By%2Fz%25Q-long"' _ \
        env CRITEO_CLIENT_ID=demo-client "CRITEO_CLIENT_SECRET=S3cr&t=x+y/z%Q-long" \
        CRITEO_HOST="$URL/scenario/echo-base64-$status" "$BUILD_DIR/criteo-token" -v --no-cache
done
run "criteo-token: empty credentials name the variable" 2 "^criteo-token: CRITEO_CLIENT_ID must not be empty\$" "${unset_credentials[@]}" criteo-token
run "criteo-token: unknown argument" 2 "unknown argument '--secret'" criteo-token --secret
run "criteo-token: --help" 0 "^usage: criteo-token" criteo-token --help
run "criteo-token: --json" 0 '^\{"access_token":"eyJ[^"]+","token_type":"Bearer","refresh_token":null,"expires_in":900,"expires_at":[0-9]+\}$' \
    "${good[@]}" criteo-token --json
check "criteo-token: no credentials" 2 "set CRITEO_CLIENT_ID and CRITEO_CLIENT_SECRET" env -u CRITEO_CLIENT_SECRET "$BUILD_DIR/criteo-token"
json=$(env "${good[@]}" "$BUILD_DIR/criteo-token" --json)
check "criteo-token: --json parses as JSON with every field" 0 "Bearer null 900 True" python3 -c '
import json, sys, time
token = json.loads(sys.argv[1])
print(token["token_type"], "null" if token["refresh_token"] is None else "?", token["expires_in"],
      0 < token["expires_at"] - time.time() <= 900 and token["access_token"].startswith("eyJ"))
' "$json"

run "token_source: threads share one fetched token" 0 "^fetched a token, expires in 900 s
8 threads x 1000 gets: 0 failed, all threads shared one token\$" "${good[@]}" token_source
run "token_source: 401" 1 "8 threads x 1000 gets: 8000 failed" "${bad[@]}" token_source
# Every fetch runs on a worker thread here, so even "possibly lost" must be
# zero: a source that is not freed shows up as definitely lost.
if command -v valgrind >/dev/null; then
    check "token_source: a freed source leaks nothing [valgrind]" 0 "0 failed, all threads shared one token" \
        env "${good[@]}" "${MEMCHECK[@]}" --errors-for-leak-kinds=definite,indirect,possible "$BUILD_DIR/token_source"
fi

echo "== processes, threads and signals"
build fork "$CC" c11 tests/c/fork.c -pthread
build cancel "$CC" c11 tests/c/cancel.c -pthread
build survival "$CC" c11 tests/c/survival.c
check "dlopen_cycles builds (not linked: it loads the library itself)" 0 "" \
    "$CC" -std=c11 "${WARNINGS[@]}" -pthread -Iinclude -o "$BUILD_DIR/dlopen_cycles" tests/c/dlopen_cycles.c -ldl
check "no_threads builds" 0 "" "$CC" -std=c11 "${WARNINGS[@]}" -o "$BUILD_DIR/no_threads" tests/c/no_threads.c "${LINK[@]}"
# Plain build only: GCC 12's ASan allocator is not fork-safe (see fork below).
check "fork_first_call builds" 0 "" "$CC" -std=c11 "${WARNINGS[@]}" -pthread -o "$BUILD_DIR/fork_first_call" tests/c/fork_first_call.c "${LINK[@]}"

# Forks while two threads of the parent call without pause; each child runs
# under a 10 s alarm, so a hang fails the test instead of blocking it.
check "fork: 400 children of a busy parent get their own tokens, none hangs" 0 \
    "^400 children: 0 failed, 0 hung; parent unaffected\$" "$BUILD_DIR/fork" "$URL" 400 8
# Under ASan the parent stays idle: GCC 12's ASan allocator is not fork-safe.
check "fork [asan+ubsan]" 0 "^100 children: 0 failed, 0 hung; parent unaffected\$" "$BUILD_DIR/fork-asan" "$URL" 100 8 idle
# Without the leak check: a child leaks its parent's connections on purpose.
if command -v valgrind >/dev/null; then
    check "fork [valgrind]" 0 "^16 children: 0 failed, 0 hung; parent unaffected\$" \
        valgrind --quiet --error-exitcode=99 --leak-check=no "$BUILD_DIR/fork" "$URL" 16 4
fi
run "pthread_cancel inside a call: the call finishes, the thread ends after it" 0 \
    "^cancelled inside every call: each finished with a token, then its thread ended\$" cancel "$URL/scenario/slow-1000"
check "fork() while another thread makes the library's first call, 20 times: no child hangs" 0 "^20 0\$" \
    bash -c 'hung=0; for _ in $(seq 20); do "$1" >/dev/null || hung=$((hung + 1)); done; echo 20 $hung' _ "$BUILD_DIR/fork_first_call"
check "dlopen/dlclose cycles with threads, and a fork after dlclose" 0 \
    "^21 load-use-unload cycles .*: 0 failed calls, child fine\$" \
    "$BUILD_DIR/dlopen_cycles" "$PWD/$LIB_DIR/libcriteo_oauth.so" "$URL" 20
check "signals every ms, no descriptors left, 3000 failing calls: flat descriptors and memory" 0 "^survived\$" \
    "$BUILD_DIR/survival" "$URL" 3000 check-memory
check "survival [asan+ubsan]" 0 "^survived\$" "$BUILD_DIR/survival-asan" "$URL" 600
if command -v valgrind >/dev/null; then
    check "survival [valgrind]" 0 "^survived\$" "${MEMCHECK[@]}" "$BUILD_DIR/survival" "$URL" 300
fi
# RLIMIT_NPROC binds only a user without CAP_SYS_RESOURCE and with no other
# process: root runs the program as nobody.
if [[ $(id -u) -eq 0 ]]; then
    check "no thread can be started (a lookup, a fetch of its own): CRITEO_ERR_TRANSPORT saying so, nothing on stderr" 0 \
        "^CRITEO_ERR_TRANSPORT: .*could not start a thread
^due for refresh: try_get none, get_within the valid token, get a new token, authorization a new token\$" \
        setpriv --reuid=65534 --regid=65534 --clear-groups prlimit --nproc=1 "$BUILD_DIR/no_threads" "$URL"
elif [[ ${CI:-} == true ]]; then
    fail "no_threads: needs root to run as a user with no other process"
else
    echo "SKIP no_threads: needs root (CI runs it)"
fi

echo "== many sources in one process"
build many "$CC" c11 tests/c/many.c -pthread
# many_as KIND: sets `many` to the command that runs many.c's plain build
# (many), its sanitizer build (many-asan), or the plain build under
# valgrind (valgrind); fails when valgrind is missing (a SKIP outside CI).
many_as() {
    case $1 in
        valgrind)
            many=("${MEMCHECK[@]}" "$BUILD_DIR/many")
            command -v valgrind >/dev/null && return 0
            if [[ ${CI:-} == true ]]; then fail "many.c [valgrind]: valgrind is not installed"; else
                echo "SKIP many.c [valgrind]: valgrind is not installed (CI installs it)"; fi
            return 1 ;;
        *) many=("$BUILD_DIR/$1") ;;
    esac
}
# A service holding one source per account, with the usual ulimit -n 1024
# and 900 descriptors of its own: every get succeeds, the library keeps a
# few descriptors whatever the number of sources (one file for every
# source's store, a connection), and no thread.
for variant in "100000 many" "20000 many-asan" "1000 valgrind"; do
    read -r count program <<<"$variant"
    many_as "$program" || continue
    check "$count sources under ulimit -n 1024, the program holding 900 descriptors [$program]" 0 \
        "^$count sources: 0 gets failed, the library holds [0-4] descriptors and 0 threads, 900 of 900 own descriptors kept\$" \
        bash -c 'ulimit -n 1024 && "$@"' _ "${many[@]}" descriptors "$URL/scenario/lives-900" "$count" 900
done
# Sources due at once against a slow server: no more requests at once than
# the client's limit, the refreshes on the library's bounded workers.
for variant in "10000 many" "3000 many-asan" "300 valgrind"; do
    read -r count program <<<"$variant"
    many_as "$program" || continue
    check "$count sources due at once, a slow server: at most 32 requests at once, at most 16 worker threads [$program]" 0 \
        "^0 gets failed, at most ([1-9]|[12][0-9]|3[0-2]) requests at once \(limit 32\), at most ([0-9]|1[0-6]) threads of the library's, $count refreshes done\$" \
        "${many[@]}" due "$URL/scenario/slow-10-lives-900" "many-due-$program" "$count" 32
done
# One 429 costs one request, not one per source.
for program in many many-asan valgrind; do
    many_as "$program" || continue
    check "a 429 with Retry-After to one source holds its client id: 1000 more sources of it send nothing [$program]" 0 \
        "^1 requests for 1001 gets, 1000 refused as held\$" \
        "${many[@]}" held "$URL/scenario/429-after-100" "many-held-$program-$$" 1000
done
for program in many many-asan; do
    check "a 429 answered while 19 requests waited for the one turn: none of them is sent [$program]" 0 \
        "^1 requests for 20 gets at once\$" \
        "$BUILD_DIR/$program" held-at-once "$URL/scenario/slow-100-429-after-100" "many-held-at-once-$program-$$" 20
done
# Plain build only: GCC 12's ASan allocator is not fork-safe (see fork above).
check "1000 forks while another thread makes sources: the source made last before each is shared with the child" 0 \
    "^1000 forks while sources were made: 0 not shared\$" "$BUILD_DIR/many" fork-while-making "$URL/scenario/strict-rotate" 1000
check "a fork in a refresh callback on a worker: the child runs none of the parent's waiting refreshes" 0 \
    "^0 callbacks in the child, 40 in the parent, 80 requests\$" "$BUILD_DIR/many" fork-in-worker "$URL/scenario/strict-rotate" 40
check "a fork among 5000 sources: parent and child share one refresh of a source and its token" 0 \
    "^2 fetches of source 2500 for both processes, same token: yes\$" \
    "$BUILD_DIR/many" fork "$URL/scenario/lives-2" "many-fork-$$" 5000
if command -v valgrind >/dev/null; then
    check "a fork among 200 sources [valgrind]" 0 "^2 fetches of source 100 for both processes, same token: yes\$" \
        valgrind --quiet --error-exitcode=99 --leak-check=no "$BUILD_DIR/many" fork "$URL/scenario/lives-2" "many-fork-vg-$$" 200
fi

echo "== no secret left in memory the library frees"
# Plain build only: the program defines free() itself, which the sanitizers
# and valgrind replace.
check "freed_memory builds" 0 "" "$CC" -std=c11 "${WARNINGS[@]}" -o "$BUILD_DIR/freed_memory" \
    tests/c/freed_memory.c "${LINK[@]}"
ca_file=$(mktemp) tls_out=$(mktemp) tls_tmp=$(mktemp -d)
TMPDIR=$tls_tmp "$SERVER" --tls "$ca_file" --proxy >"$tls_out" &
tls_server_pid=$!
trap 'kill $server_pid $tls_server_pid 2>/dev/null; rm -rf "$server_out" "$tls_out" "$ca_file" "$tls_tmp"' EXIT
for _ in $(seq 50); do [[ $(wc -l <"$tls_out") -ge 2 ]] && break; sleep 0.1; done
check "criteo-test-server --tls writes its CA where asked, and nothing in TMPDIR (so killing it leaves nothing)" 0 \
    "^BEGIN 0\$" bash -c 'echo "$(head -c 16 "$1" | cut -c6-10) $(ls -A "$2" | wc -l)"' _ "$ca_file" "$tls_tmp"
TLS_URL=$(sed -n 1p "$tls_out")
PROXY_HOSTPORT=$(sed -n 2p "$tls_out" | sed 's|^http://||')
check "criteo-token: an unknown CA's hint names SSL_CERT_FILE and SSL_CERT_DIR" 1 "SSL_CERT_FILE or its directory in SSL_CERT_DIR" \
    env -u SSL_CERT_FILE -u SSL_CERT_DIR CRITEO_HOST="$TLS_URL" CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=demo-secret \
    "$BUILD_DIR/criteo-token" --no-cache
check "no secret in any block the library frees, nor in the heap once all is freed" 0 \
    "^no secret in any freed block or in the heap\$" \
    env CRITEO_TEST_PROXY_BASIC="$(printf 'user:proxy-pw-5e6f7a8b' | base64)" \
    "$BUILD_DIR/freed_memory" "$URL" "$TLS_URL" "$ca_file" "$PROXY_HOSTPORT"

echo "== a careless or hostile host program"
build hostile_host "$CC" c11 tests/c/hostile_host.c -pthread
# Not under valgrind: ring's assembly reads memory valgrind cannot follow.
for build in hostile_host hostile_host-asan; do
    check "stdio closed: no socket or file of the library's on descriptors 0-2 [$build]" 0 \
        "^3 tokens, 0 of the library's descriptors on 0-2\$" \
        "$BUILD_DIR/$build" descriptors "$TLS_URL" "$ca_file" "http://$PROXY_HOSTPORT"
done
run "a pooled connection's number reused by the program's own socket: nothing sent to it, nothing closed" 0 \
    "^tokens 1 1; the program's socket received 0 bytes; ([1-9][0-9]*) of \\1 still open after free\$" \
    hostile_host reused-socket "$URL"
run "free during a get_within fetch: the callback never runs, its freed user_data untouched" 0 \
    "callback calls before free: 0, after: 0\$" hostile_host free-during-fetch "$URL/scenario/slow-1000"
run "free while the callback runs on the library's thread: free returns after it" 0 \
    "^callback started before free: 1, finished when free returned: 1\$" hostile_host free-during-callback "$URL"
tls_good=(CRITEO_HOST="$TLS_URL" SSL_CERT_FILE="$ca_file" HTTPS_PROXY="http://$PROXY_HOSTPORT" CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=demo-secret)
cli="$BUILD_DIR/criteo-token"
check "criteo-token >&-: exit 1 saying so, no token fetched or printed anywhere" 1 \
    "^criteo-token: standard output is closed: nowhere to print the token\$" \
    env "${tls_good[@]}" bash -c 'exec "$@" >&-' _ "$cli"
check "criteo-token >/dev/full: exit 1 saying so" 1 \
    "^criteo-token: cannot write the token to standard output: No space left on device\$" \
    env "${tls_good[@]}" bash -c 'exec "$@" >/dev/full' _ "$cli"
check "criteo-token --json >/dev/full: exit 1" 1 "cannot write the token" \
    env "${tls_good[@]}" bash -c 'exec "$@" --json >/dev/full' _ "$cli"
check "criteo-token with stdin and stderr closed, through a proxy: the token" 0 '^eyJ[A-Za-z0-9._-]+$' \
    env "${tls_good[@]}" bash -c 'exec "$@" <&- 2>&-' _ "$cli"
# CRITEO_HOST set, and unset (the default host); tls_good without its host.
for host in "$TLS_URL" ""; do
    with_host=()
    [[ -n $host ]] && with_host=(CRITEO_HOST="$host")
    check "criteo-token, a missing SSL_CERT_FILE (${host:-the default host}): exit 1 naming it when it connects" 1 \
        "^criteo-token: SSL_CERT_FILE /nonexistent: cannot read it" \
        env -u CRITEO_HOST "${tls_good[@]:1}" "${with_host[@]}" SSL_CERT_FILE=/nonexistent "$cli" --no-cache
    check "criteo-token, a bad HTTPS_PROXY (${host:-the default host}): exit 2 naming it" 2 \
        "^criteo-token: HTTPS_PROXY must be an http:// proxy" \
        env -u CRITEO_HOST "${tls_good[@]:1}" "${with_host[@]}" HTTPS_PROXY=socks5://127.0.0.1:9 "$cli"
done
check "criteo-token with its token cached and a missing SSL_CERT_FILE: the token (the trust store is read only to connect)" 0 \
    '^eyJ[A-Za-z0-9._-]+$' bash -c 'cli=$1; shift; env "$@" "$cli" >/dev/null && env "$@" SSL_CERT_FILE=/nonexistent "$cli"' _ \
    "$cli" "${tls_good[@]}"
check "criteo-token, a bad CRITEO_HOST: exit 2 naming it" 2 "^criteo-token: CRITEO_HOST must start with https:// or http://\$" \
    env "${tls_good[@]}" CRITEO_HOST=ftp://x "$cli"
check "criteo-token, no secret: names the variable" 2 "^criteo-token: CRITEO_CLIENT_SECRET is not set" \
    env -u CRITEO_CLIENT_SECRET CRITEO_CLIENT_ID=demo-client "$cli"

# Plain build only: GCC 12's ASan allocator is not fork-safe (see fork above).
check "fork while the callback runs: the child frees at once and gets its own token" 0 \
    "^child got a token and freed its source: yes; parent's free waited for its callback: yes\$" \
    "$BUILD_DIR/hostile_host" fork-during-callback "$URL"
check "callback_throws builds" 0 "" "$CXX" -std=c++17 "${WARNINGS[@]}" -o "$BUILD_DIR/callback_throws" \
    tests/c/callback_throws.cpp "${LINK[@]}"
check "a C++ exception out of the refresh callback aborts the process (SIGABRT)" 134 \
    "Rust cannot catch foreign exceptions" "$BUILD_DIR/callback_throws" "$URL"

fifo=$(mktemp -u) big=$(mktemp)
mkfifo "$fifo"
truncate -s 100M "$big"
for store in /dev/zero "$fifo" "$big"; do
    check "trust store $store: refused at once under ulimit -v, naming it" 0 \
        "^set_ca_file: ca_file $store: .*
SSL_CERT_FILE: SSL_CERT_FILE $store: " \
        bash -c 'ulimit -v 1000000; exec timeout 10 "$@"' _ "$BUILD_DIR/hostile_host" trust-store "$store" "$TLS_URL"
    check "trust store $store [valgrind]" 0 "SSL_CERT_FILE $store" \
        timeout 60 "${MEMCHECK[@]}" "$BUILD_DIR/hostile_host" trust-store "$store" "$TLS_URL"
done
rm -f "$fifo" "$big"

echo "== tokens shared by processes"
build shared "$CC" c11 tests/c/shared.c -pthread
store_root=$(mktemp -d)
trap 'kill $server_pid $tls_server_pid 2>/dev/null; rm -rf "$server_out" "$tls_out" "$ca_file" "$tls_tmp" "$store_root" "$XDG_RUNTIME_DIR"' EXIT
shared="$BUILD_DIR/shared"
lives="$URL/scenario/lives-900"
count() { "$shared" count "$URL" "$1"; }
# A client id of its own for each check, so each counts only its fetches
# (a file holds the number: $(new_client) runs in a subshell).
echo 0 >"$store_root/ids"
new_client() {
    local n=$(($(cat "$store_root/ids") + 1))
    echo $n >"$store_root/ids"
    echo "$1-$n-$$"
}

for build in shared shared-asan; do
    for mode in get reject invalidate; do
        check "pre-fork master, 8 workers, client credentials, $mode once: 1 fetch per token [$build]" 0 \
            "^$([[ $mode == get ]] && echo 1 || echo 2) fetches, 0 failed gets, 1 distinct final tokens, 0 workers crashed\$" \
            "$BUILD_DIR/$build" prefork "$lives" "$(new_client prefork)" 8 $([[ $mode == get ]] && echo 50 || echo 1) $mode
    done
    for mode in reject invalidate; do
        client=$(new_client rotation)
        check "pre-fork master, 8 workers, a server that revokes used refresh tokens, 20 rounds of $mode: no refresh refused [$build]" 0 \
            "^[0-9]+ fetches, 0 failed gets, [0-9]+ distinct final tokens, 0 workers crashed\$" \
            "$BUILD_DIR/$build" prefork "$URL/scenario/strict-rotate" "$client" 8 20 $mode "rt-start-$client"
    done
done
if command -v valgrind >/dev/null; then
    # Without the leak check: a child leaks its parent's state on purpose.
    check "pre-fork master, 4 workers, reject once [valgrind]" 0 "^2 fetches, 0 failed gets, 1 distinct final tokens, 0 workers crashed\$" \
        valgrind --quiet --error-exitcode=99 --leak-check=no --trace-children=yes "$shared" prefork "$lives" "$(new_client prefork)" 4 1 reject
fi

client=$(new_client exec) pids=()
for i in $(seq 10); do
    "$shared" get "$store_root/exec" "$URL/scenario/slow-500" "$client" >"$store_root/exec-$i.out" 2>&1 &
    pids+=($!)
done
wait "${pids[@]}"
check "10 processes started at once on one store: 1 fetch, one token for all" 0 "^1 1\$" \
    echo "$(count "$client") $(cut -d" " -f1 "$store_root"/exec-*.out | sort -u | wc -l)"

store=$store_root/files client=$(new_client files)
run "a store directory is made 0700 and its files 0600" 0 " CRITEO_OK \$" shared get "$store" "$lives" "$client"
check "  modes" 0 "^700 600 600\$" bash -c 'stat -c %a "$1" "$1"/*.json "$1"/*.lock | xargs' _ "$store"
record=$(echo "$store"/*.json)
check "  no secret in the store's files or names" 1 "" grep -rl -e secret -e "$client-secret" "$store"
other_client=$(new_client other)
"$shared" get "$store" "$lives" "$other_client" >/dev/null
foreign=$(ls "$store"/*.json | grep -v "$record")
victim=$store_root/victim
echo "not a token" >"$victim"
# Records are sealed: what cannot be opened (cut, garbage, another
# lineage's) is taken as absent, replaced, and reported; what cannot be a
# record (a link, a FIFO) is passed over. (A stamp from the future and a
# record of another format are checked inside the seal, by the unit tests
# of clock.rs and record.rs.)
damage() {
    case $1 in
    truncated) head -c 100 "$record" >"$record.cut" && mv "$record.cut" "$record" ;;
    garbage) echo "not json" >"$record" ;;
    other-lineage) cp "$foreign" "$record" ;;
    symlink) rm "$record" && ln -s "$victim" "$record" ;;
    fifo) rm "$record" && mkfifo "$record" ;;
    esac
}
for damage in truncated garbage other-lineage symlink fifo; do
    fetches=$(count "$client")
    damage $damage
    case $damage in
    symlink | fifo) reported=" CRITEO_OK \$" ;;
    *) reported=" CRITEO_ERR_STORE the record of this lineage in the token store .* does not open" ;;
    esac
    check "a $damage record is ignored: a new fetch" 0 "$reported" timeout 10 "$shared" get "$store" "$lives" "$client"
    "$shared" get "$store" "$lives" "$client" >/dev/null
    check "  and replaced by a good one: no fetch after" 0 "^$((fetches + 1)) regular file\$" \
        echo "$(count "$client") $(stat -c %F "$record")"
done
check "  the symlink's target was left alone" 0 "^not a token\$" cat "$victim"
lock=$(echo "$store"/*"$(basename "$record" .json)".lock)
touch -d 2000-01-01 "$lock"
"$shared" get "$store" "$lives" "$client" >/dev/null
check "a lock file's times are refreshed at each lock, so cleaners of old files leave it" 0 "^20[2-9][0-9]\$" \
    date -r "$lock" +%Y
rm "$lock" && ln -s "$victim" "$lock"
run "a lock file that is a symlink: the token all the same, the store's failure reported" 0 \
    " CRITEO_ERR_STORE cannot lock the token store .*Too many levels of symbolic links" shared get "$store" "$lives" "$client"
rm "$lock"
before=$(count "$client")
SECRET=another-secret "$shared" get "$store" "$lives" "$client" >/dev/null
check "another secret never gets the stored token: a fetch of its own" 0 "^1\$" echo $(($(count "$client") - before))

mkdir -m 0755 "$store_root/open"
run "a store directory open to others is refused" 3 "^set_store: CRITEO_ERR_INVALID_ARGUMENT: the store directory $store_root/open is open to group or others \(mode 0755\): it must be 0700\$" \
    shared get "$store_root/open" "$lives" x
mkdir -m 0700 "$store_root/theirs" && chown 65534 "$store_root/theirs"
run "a store directory of another user is refused" 3 "belongs to uid 65534, not to this user" shared get "$store_root/theirs" "$lives" x
ln -s "$store" "$store_root/link"
run "a store directory that is a symlink is refused" 3 "is a symbolic link" shared get "$store_root/link" "$lives" x
touch "$store_root/plain"
run "a store that is a file is refused" 3 "is not a directory" shared get "$store_root/plain" "$lives" x
mkdir -m 0700 "$store_root/runtime" "$store_root/cli"
run "the default store: \$XDG_RUNTIME_DIR/criteo-oauth" 0 " CRITEO_OK \$" XDG_RUNTIME_DIR="$store_root/runtime" shared get default "$lives" "$(new_client default)"
check "  made 0700" 0 "^700\$" stat -c %a "$store_root/runtime/criteo-oauth"

for build in shared shared-asan; do
    check "a lock holder killed with SIGKILL mid-fetch holds up no one [$build]" 0 "^after the holder was killed: a token, 2 fetches\$" \
        "$BUILD_DIR/$build" killed-holder "$store_root/killed" "$URL/scenario/slow-3000" "$(new_client killed)"
done
# Plain build only for forks with a thread in a call (see fork above).
for store in "$store_root/forked" -; do
    check "a fork while a fetch holds the lock (store $store): the child takes that fetch's token" 0 \
        "^child got a token, the same as the parent's; 1 fetches\$" \
        "$shared" fork-during-fetch "$store" "$URL/scenario/slow-1000" "$(new_client forked)"
    check "the parent killed right after that fork (store $store): the child is not stuck" 0 \
        "^child of a killed parent got a token; 2 fetches\$" \
        "$shared" fork-during-fetch "$store" "$URL/scenario/slow-1000" "$(new_client orphan)" kill-parent
done

for build in shared shared-asan; do
    check "a process that fetches without pause forks 1000 children and is killed: no child holds up the others [$build]" 0 \
        "^after 1000 forks and SIGKILL mid-storm: a token\$" \
        "$BUILD_DIR/$build" fork-storm "$store_root/storm" "$lives" "$(new_client storm)" 1000
done
for build in shared shared-asan; do
    client=$(new_client exit)
    check "a program that exits while its refresh runs in the background: exit waits, the rotated refresh token is stored [$build]" 0 \
        "^after the child's exit: CRITEO_OK \$" \
        "$BUILD_DIR/$build" exit-during-refresh "$store_root/exit-$build" "$URL/scenario/slow-500-strict-rotate" "$client" "rt-start-$client"
    client=$(new_client exit-handler)
    check "a refresh due in an atexit handler that runs after the library's: made there, the rotated refresh token stored [$build]" 0 \
        "^after the child's exit: CRITEO_OK \$" "$BUILD_DIR/$build" exit-during-refresh "$store_root/exit-handler-$build" \
        "$URL/scenario/slow-500-strict-rotate" "$client" "rt-start-$client" in-an-exit-handler
done
for build in shared shared-asan; do
    check "exit() from the callback of a background refresh waits for another refresh, not for its own thread [$build]" 0 \
        "^exit\(\) from the callback
^the slow refresh ended\$" timeout 10 "$BUILD_DIR/$build" exit-in-callback "$lives" \
        "$URL/scenario/slow-refresh-1500-expires-900" "$(new_client exit-callback)"
    check "a child forked in a background refresh's callback waits at exit for its own fetch [$build]" 0 \
        "^the child's own fetch ended\$" "$BUILD_DIR/$build" fork-in-callback-then-exit \
        "$URL/scenario/slow-refresh-1000-expires-900" "$(new_client fork-callback-exit)"
done
# Plain build only: GCC 12's ASan allocator is not fork-safe (a child whose
# parent's refresh thread held the allocator's lock at the fork hung in
# LeakSanitizer's exit check, inside the sanitizer runtime).
check "a child of fork() exits without waiting for its parent's background refresh" 0 \
    "^the child exited before the parent's refresh ended\$" \
    "$shared" fork-and-exit-during-refresh "$URL/scenario/slow-refresh-2000-expires-900" "$(new_client fork-exit)"
check "a fork inside the refresh callback, another thread in the source's lock: the child goes on" 0 \
    "^50 forks inside the callback: 0 children failed, 0 hung\$" "$shared" fork-in-callback "$lives" "$(new_client callback-fork)"

for store in "$store_root/closed" -; do
    decoy=$(mktemp -d) && chmod 0777 "$decoy"
    check "a child that closes every descriptor and reuses their numbers (store $store): a token, none of its files closed by the frees, nothing written elsewhere" 0 \
        "^eyJ[^ ]+ CRITEO_(OK|ERR_STORE)
after the frees, 17 of 17 descriptors still open
0 0\$" bash -c '"$@" && echo "$(find "$6" -type f -size +0 | wc -l) $(find "$6" -type f ! -name "decoy-*" | wc -l)"' _ \
        "$shared" closefrom "$store" "$lives" "$(new_client closefrom)" "$decoy"
    rm -rf "$decoy"
done

# A time namespace shares the boot's id but shifts CLOCK_BOOTTIME. Its
# offset counts from the machine's clock, not from the namespace this runs
# in (scripts/just-booted.sh runs the suite in one): this one's is added.
client=$(new_client timens)
if unshare -T --boottime 1 true 2>/dev/null; then
    boottime_offset=$(awk '$1 == "boottime" { print $2 }' /proc/self/timens_offsets 2>/dev/null | grep . || echo 0)
    "$shared" get "$store_root/timens" "$URL/scenario/lives-2" "$client" >/dev/null
    sleep 3
    # As far behind as the boot clock allows (it cannot go below zero: a
    # machine booted a minute ago, as a fresh CI machine, has little room).
    behind=$(($(cut -d. -f1 /proc/uptime) - 5))
    behind=$((behind > 3000 ? 3000 : behind))
    check "a time namespace $behind s behind this one's boot clock reads so" 0 "^behind by $behind s\$" \
        bash -c 'there=$(unshare -T --boottime "$1" --fork cut -d. -f1 /proc/uptime); here=$(cut -d. -f1 /proc/uptime)
                 by=$((here - there)); ((by >= $2 - 1 && by <= $2 + 1)) && by=$2; echo "behind by $by s"' _ \
        "$((boottime_offset - behind))" "$behind"
    check "a process in a time namespace (CLOCK_BOOTTIME $behind s behind) never takes an expired token" 0 "^2\$" \
        bash -c 'unshare -T --boottime "$1" --fork "$2" get "$3" "$4" "$5" >/dev/null && "$2" count "$6" "$5"' _ \
        "$((boottime_offset - behind))" "$shared" "$store_root/timens" "$URL/scenario/lives-2" "$client" "$URL"
    # Namespaces made and gone in turn: the kernel gives the next one the
    # number (time:[...]) the last one had, whatever its offset.
    client=$(new_client timens-reuse)
    unshare -T --boottime "$((boottime_offset + 3600))" --fork "$shared" get "$store_root/timens-reuse" "$URL/scenario/lives-2" "$client" >/dev/null
    sleep 3
    check "a 2 s token stored from a namespace 1 h ahead is expired 3 s later in the next namespace, which has its number" 0 "^2\$" \
        bash -c 'unshare -T --fork "$1" get "$2" "$3" "$4" >/dev/null && "$1" count "$5" "$4"' _ \
        "$shared" "$store_root/timens-reuse" "$URL/scenario/lives-2" "$client" "$URL"
elif [[ ${CI:-} == true ]]; then
    fail "time namespaces (unshare -T) are not available; CI must run that test"
else
    echo "SKIP time namespace: unshare -T is not permitted here (CI runs it)"
fi

# The modes hold whatever the umask of the process that makes the files.
if [[ $(id -u) -eq 0 ]]; then
    as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    umasked=$(mktemp -d) && chown 65534 "$umasked"
    client=$(new_client umask)
    for mask in 0777 0277 0022; do
        "${as_nobody[@]}" bash -c 'umask "$1"; shift; exec "$@"' _ "$mask" "$shared" get "$umasked/store" "$lives" "$client" >/dev/null 2>&1 || true
    done
    check "a store made under umask 0777, then used under 0277 and 0022: modes 700 600 600, one fetch" 0 "^700 600 600 1\$" \
        bash -c 'echo $(stat -c %a "$1" "$1"/*.json "$1"/*.lock) $("$2" count "$3" "$4")' _ "$umasked/store" "$shared" "$URL" "$client"
    rm -rf "$umasked"
elif [[ ${CI:-} == true ]]; then
    fail "umask test: needs root to run as another user"
else
    echo "SKIP umask test: needs root (CI runs it)"
fi

client=$(new_client cli)
cli_env=(XDG_RUNTIME_DIR="$store_root/cli" CRITEO_HOST="$lives" CRITEO_CLIENT_ID="$client" CRITEO_CLIENT_SECRET=s)
for i in $(seq 100); do env "${cli_env[@]}" "$cli"; done | sort -u >"$store_root/cli-tokens"
check "criteo-token run 100 times: 1 token request, one token" 0 "^1 1\$" \
    echo "$(count "$client") $(wc -l <"$store_root/cli-tokens")"
for i in 1 2 3; do env "${cli_env[@]}" "$cli" --no-cache >/dev/null; done
check "criteo-token --no-cache: a new token request each run" 0 "^4\$" count "$client"
check "criteo-token with an unusable store: the token, and a warning" 0 "^criteo-token: not caching: the store directory .* is open to group or others" \
    env XDG_RUNTIME_DIR="$store_root" CRITEO_HOST="$lives" CRITEO_CLIENT_ID=x CRITEO_CLIENT_SECRET=s \
    bash -c 'mkdir -p -m 0755 "$XDG_RUNTIME_DIR/criteo-oauth" && chmod 0755 "$XDG_RUNTIME_DIR/criteo-oauth" && "$1"' _ "$cli"
check "a full or read-only file system under the store: tokens all the same, the failure reported" 0 "^(ok|SKIP) " \
    tests/c/store_namespace.sh "$BUILD_DIR" "$SERVER"

# A store directory that many lineages used stays small: the files of
# those that died (tokens of 1 s, client_credentials; a refresh token
# refused) go with a later lock
# once they have been of no use for an hour (faketime moves the later
# process's wall clock 2 h on); a lineage that holds a refresh token, and
# the one locking, stay, and the refresh token still serves.
if command -v faketime >/dev/null; then
    for variant in "1000 many" "300 many-asan" "100 valgrind"; do
        read -r count program <<<"$variant"
        many_as "$program" || continue
        swept="$store_root/swept-$program"
        check "$count lineages that died leave $count records [$program]" 0 "^$count records, $count lock files\$" \
            "${many[@]}" died "$swept" "$URL/scenario/lives-1" "died-$program-$$" "$count"
        kept=$("$shared" get "$swept" "$URL/scenario/rotate" "kept-$program-$$" rt-0 | cut -d" " -f1)
        # A refresh token the server refused (invalid_grant): no longer serves.
        "$shared" get "$swept" "$URL/scenario/400-json" "refused-$program-$$" rt-refused >/dev/null 2>&1 || true
        check "  2 h later, a lock of the directory removes them; the refresh token's lineage stays [$program]" 0 \
            "^2 records, 2 lock files\$" env FAKETIME_DONT_FAKE_MONOTONIC=1 ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0" faketime -f +2h \
            "${many[@]}" died "$swept" "$URL/scenario/lives-900" "later-$program-$$" 1 wait
        check "  the kept lineage's record still serves its token, with no request [$program]" 0 "^$kept CRITEO_OK
^1\$" bash -c '"$1" get "$2" "$3" "$4" rt-0 && "$1" count "$5" "$4"' _ \
            "$shared" "$swept" "$URL/scenario/rotate" "kept-$program-$$" "$URL"
    done
    # Whatever took the sweep's marker's name, no lock waits on it.
    for odd in fifo directory; do
        odd_store="$store_root/odd-$odd" && mkdir -m 0700 "$odd_store"
        case $odd in fifo) mkfifo "$odd_store/swept" ;; directory) mkdir "$odd_store/swept" ;; esac
        touch -d "2 hours ago" "$odd_store/swept"
        check "  a $odd named like the sweep's marker: a get within its limits, the sweep goes on" 0 "^eyJ[^ ]+ CRITEO_OK
^regular\$" bash -c 'timeout 10 "$1" get "$2" "$3" "$4" && stat -c %F "$2/swept" | cut -d" " -f1' _ \
            "$shared" "$odd_store" "$lives" "odd-$odd-$$"
    done
elif [[ ${CI:-} == true ]]; then
    fail "faketime is not installed; CI must run the store sweep test"
else
    echo "SKIP store sweep: faketime is not installed (CI installs it)"
fi

# A short-lived program whose sources' refreshes wait in line for the
# library's workers at exit: each that started is waited for, none that
# had not is started, and no rotated refresh token is lost.
for program in many many-asan; do
    queued="$store_root/exit-queued-$program"
    check "exit() with 80 refreshes in the background, more than the workers: every lineage still serves [$program]" 0 \
        "^80 lineages still serve, 0 refused\$" bash -c '"$1" exit-queued "$2" "$3" "$4" 80 && "$1" exit-queued "$2" "$3" "$4" 80 check' _ \
        "$BUILD_DIR/$program" "$queued" "$URL/scenario/slow-1200-strict-rotate" "exit-queued-$program-$$"
done

echo "== the consent flow: authorization code with PKCE"
build consent "$CC" c11 tests/c/consent.c -pthread
# The link's fields, read back with Python's own decoder, and the S256
# challenge recomputed from the verifier with Python's hashlib.
check "the consent link: every field percent-encoded, a fresh state, the S256 challenge of the verifier" 0 \
    "^ok: response_type client_id redirect_uri state code_challenge code_challenge_method\$" \
    bash -c '"$1" link "$2" >"$3" && python3 - "$3" "$2" <<"PY"
import base64, hashlib, sys, urllib.parse
lines = dict(line.split(" ", 1) for line in open(sys.argv[1]).read().splitlines())
base, query = lines["link"].split("?", 1)
assert base == sys.argv[2] + "/consent", base
assert "+" not in query and " " not in query, query
fields = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=True)
values = dict(fields)
assert values["response_type"] == "code"
assert values["client_id"] == "my app/\u00e9", values["client_id"]
assert values["redirect_uri"] == "http://127.0.0.1:9/callback"
assert values["state"] == lines["state"] and len(lines["state"]) >= 22
verifier = lines["verifier"]
assert 43 <= len(verifier) <= 128 and all(c.isalnum() or c in "-._~" for c in verifier)
digest = hashlib.sha256(verifier.encode()).digest()
assert values["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
assert values["code_challenge_method"] == "S256"
print("ok:", " ".join(name for name, _ in fields))
PY' _ "$BUILD_DIR/consent" "$URL" "$store_root/consent-link"
check "two consents never share a state or a verifier" 0 "^4 distinct\$" bash -c \
    '{ "$1" link "$2"; "$1" link "$2"; } | grep -E "^(state|verifier) " | sort -u | wc -l | sed "s/\$/ distinct/"' _ \
    "$BUILD_DIR/consent" "$URL"
run "a confidential client: consent, finish (one request), then a refresh_token source from its refresh token" 0 \
    "^finished: CRITEO_OK, 1 request, refresh token given
a refresh_token source from it: a token and a new refresh token\$" consent confidential "$URL"
run "a public client (no secret): consent, finish" 0 "^finished: CRITEO_OK, 1 request, refresh token given\$" \
    consent public "$URL" "$(new_client public)"
refused="CRITEO_ERR_INVALID_ARGUMENT, 0 requests"
run "answers that are not this consent's are refused with no request, and no secret in the message" 0 \
    "^another state: $refused: redirect_url carries another state than this consent's: it answers another consent, or was forged; nothing was sent
an empty state: $refused: .*another state
another redirect URI: $refused: redirect_url goes to http://127.0.0.1:10/callback, not to the consent's redirect_uri http://127.0.0.1:9/callback; nothing was sent
a duplicated code: $refused: redirect_url holds code more than once; nothing was sent
an empty code: $refused: redirect_url has no code; nothing was sent
a denied consent: $refused, oauth error access_denied: the consent was refused: access_denied: The user denied the request; nothing was sent
the genuine answer: CRITEO_OK
the same consent finished again: $refused: this consent was finished already \(its code is single-use\): make a new one; nothing was sent\$" \
    consent refused "$URL" "$(new_client refused)"
run "8 threads finish one consent at once: one sends its code, the others are refused with no request" 0 \
    "^1 finished, 7 refused, 1 request\$" consent race "$URL" "$(new_client race)"
run "the split flow: a wrong verifier is 400 invalid_grant naming neither code nor verifier; the kept one works" 0 \
    "^a wrong verifier: CRITEO_ERR_BAD_REQUEST 400 invalid_grant
its message holds the code: no, the verifier: no
the kept verifier: CRITEO_OK\$" consent split "$URL" "$(new_client split)"
run "bad arguments are refused, naming them" 0 "^NULL client_id: CRITEO_ERR_INVALID_ARGUMENT: client_id must not be NULL
a relative redirect_uri: CRITEO_ERR_INVALID_ARGUMENT: redirect_uri must be https://, http:// to a loopback host, or an app's own scheme.*
NULL consent_out: CRITEO_ERR_INVALID_ARGUMENT: consent_out must not be NULL
NULL consent: CRITEO_ERR_INVALID_ARGUMENT: consent must not be NULL
a short verifier: CRITEO_ERR_INVALID_ARGUMENT: code_verifier must be 43 to 128 .*
a verifier with a space: CRITEO_ERR_INVALID_ARGUMENT: code_verifier must be 43 to 128 .*
an http consent URL off loopback: CRITEO_ERR_INVALID_ARGUMENT
a NULL consent URL: CRITEO_ERR_INVALID_ARGUMENT
accessors of NULL: NULL NULL NULL\$" consent arguments "$URL"
build consent_example "$CC" c11 examples-c/consent.c -Wpedantic
for program in consent_example consent_example-asan; do
    check "examples-c/consent.c: the link, the pasted address, a named lineage in the store, the header value [$program]" 0 \
        "^Open this link and approve:
^Authorization: Bearer eyJ" env CRITEO_HOST="$URL" CRITEO_CONSENT_URL="$URL/consent" CRITEO_CLIENT_ID=demo-client \
        CRITEO_CLIENT_SECRET=demo-secret CRITEO_REDIRECT_URI=https://app.example/cb \
        CRITEO_OAUTH_STORE="$store_root/example-$program" bash -c '
        coproc example { "$1" 2>&1; }
        # Copies: bash closes the coprocess'"'"'s own once it ends.
        pid=$example_PID; exec 3<&"${example[0]}" 4>&"${example[1]}"
        read -r line <&3; echo "$line"; read -r link <&3
        curl -s -o /dev/null -w "%{redirect_url}\n" "$link" >&4
        cat <&3; wait "$pid"' _ "$BUILD_DIR/$program"
done
# Named lineages, each process on its own: started from a finished
# consent, found by another process, started over by a new consent.
for program in consent consent-asan; do
    named="$store_root/named-$program"
    check "a named lineage started from a consent's token serves it, with no request [$program]" 0 \
        "^store: CRITEO_OK
^the started source: CRITEO_OK, the exchanged token, 0 requests, store CRITEO_OK\$" \
        bash -c '"$1" named-start "$2" "$3" acct-1 >"$3.out" && token=$(sed -n "s/^exchanged //p" "$3.out") &&
                 sed "s/^exchanged .*//; s/CRITEO_OK $token,/CRITEO_OK, the exchanged token,/" "$3.out"' _ \
        "$BUILD_DIR/$program" "$URL" "$named"
    check "another process finds it by name, then refreshes it (strict rotation) [$program]" 0 \
        "^store: CRITEO_OK
from the store: CRITEO_OK eyJ[^ ]+, 0 requests, store CRITEO_OK
after an invalidate: CRITEO_OK eyJ[^ ]+, 1 requests, store CRITEO_OK\$" "$BUILD_DIR/$program" named-get "$URL" "$named" acct-1
    check "a new consent starts the lineage over: the next process serves its token [$program]" 0 "^same\$" \
        bash -c 'started=$("$1" named-start "$2" "$3" acct-1 | sed -n "s/^exchanged //p") &&
                 served=$("$1" named-get "$2" "$3" acct-1 | sed -n "s/^from the store: CRITEO_OK \([^ ]*\),.*/\1/p") &&
                 [[ -n $started && $started == "$served" ]] && echo same' _ "$BUILD_DIR/$program" "$URL" "$named"
    check "two logins started on one name in the other order than they were finished: the last started is served [$program]" 0 \
        "^the store serves: the token started last\$" "$BUILD_DIR/$program" named-order "$URL" "$named" order
    check "a named lineage got from before its store is set: the store comes too late [$program]" 0 \
        "^set_store after it: CRITEO_ERR_INVALID_ARGUMENT: the store must be set before the source's first get\$" \
        "$BUILD_DIR/$program" named-late "$URL" "$named-late"
    check "a name nothing started: CRITEO_ERR_STORE, no request, the store itself fine [$program]" 0 \
        "^from the store: CRITEO_ERR_STORE no token is stored under the name acct-2 for client_id demo-client: .*, 0 requests, store CRITEO_OK\$" \
        "$BUILD_DIR/$program" named-get "$URL" "$named" acct-2
done

# criteo-token login, as a person drives it (tests/c/login.sh).
for program in criteo-token criteo-token-asan; do
    check "criteo-token login, the address pasted: one request, then a plain run serves the login's token [$program]" 0 \
        "^login: exit 0, 1 request
^criteo-token: logged in; later runs for this client id serve tokens from this consent\$
^an access token\$
^a plain run: exit 0, 0 request, the login's token\$" \
        tests/c/login.sh "$BUILD_DIR/$program" "$URL" "$store_root/login-pasted-$program" pasted
    check "criteo-token login on a loopback redirect URI receives the browser itself, past a forged answer and 40 silent connections [$program]" 0 \
        "^a forged answer is told: 400\$
^the browser is told: .*you may close this tab
^login: exit 0, 1 request
^a plain run: exit 0, 0 request, the login's token\$" \
        tests/c/login.sh "$BUILD_DIR/$program" "$URL" "$store_root/login-loopback-$program" loopback
    check "criteo-token login --open gives the browser a page of the user's, never the link on a command line [$program]" 0 \
        "^the browser's command line holds the state: 0\$
^the page's mode: 600, its directory's: 700\$
^the page sends the browser to the link: yes\$
^login: exit 0, 1 request
^the page is gone: yes\$
^a plain run: exit 0, 0 request, the login's token\$" \
        tests/c/login.sh "$BUILD_DIR/$program" "$URL" "$store_root/login-opened-$program" opened
    check "criteo-token login on localhost receives the browser on [::1] too [$program]" 0 \
        "^login: exit 0, 1 request
^a plain run: exit 0, 0 request, the login's token\$" \
        tests/c/login.sh "$BUILD_DIR/$program" "$URL" "$store_root/login-localhost-$program" localhost
    check "criteo-token login, consent denied: exit 1 naming access_denied, no request, nothing kept [$program]" 0 \
        "^login: exit 1, 0 request
^criteo-token: the consent was refused: access_denied: The user denied the request; nothing was sent\$
^a plain run: exit 0, 1 request, another token\$" \
        tests/c/login.sh "$BUILD_DIR/$program" "$URL" "$store_root/login-denied-$program" denied
    check "criteo-token login: nobody comes back within --timeout 0.5, exit 3 [$program]" 0 \
        "^login: exit 3, 0 request
^criteo-token: no answer from the browser within the time limit \(--timeout\)\$" \
        tests/c/login.sh "$BUILD_DIR/$program" "$URL" "$store_root/login-silent-$program" silent
done
# Past the token's expiry (faketime moves every clock 20 and 40 minutes
# on), a run renews the login's lineage; once its refresh token was used
# elsewhere (the strict server revokes it), the run says to log in again.
if command -v faketime >/dev/null; then
    check "after a login, runs past its expiry renew it once with the login's refresh token; a revoked one says to log in again" 0 \
        "^renewed: exit 0, 1 request; then exit 0, 0 request
^criteo-token: POST .* answered 400 Bad Request: invalid_grant: .* \(the login's refresh token was refused: run criteo-token login again\)
^revoked: exit 1\$" env CRITEO_HOST="$URL" CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=demo-secret bash -c '
        count() { curl -s "$CRITEO_HOST/count/demo-client"; }
        later() { faketime -f "$1" "$2" --store "$3" "${@:4}"; }
        before=$(count); later +20m "$1" "$2" >/dev/null; first=$?; middle=$(count)
        later +20m "$1" "$2" >/dev/null; echo "renewed: exit $first, $((middle - before)) request; then exit $?, $(($(count) - middle)) request"
        refresh_token=$(later +20m "$1" "$2" --json | python3 -c "import json, sys; print(json.load(sys.stdin)[\"refresh_token\"])")
        curl -s -o /dev/null -d "grant_type=refresh_token&client_id=demo-client&client_secret=demo-secret&refresh_token=$refresh_token" \
            "$CRITEO_HOST/oauth2/token"
        later +40m "$1" "$2"; echo "revoked: exit $?"' _ "$BUILD_DIR/criteo-token" "$store_root/login-pasted-criteo-token"
elif [[ ${CI:-} == true ]]; then
    fail "faketime is not installed; CI must run the login renewal test"
else
    echo "SKIP login renewal: faketime is not installed (CI installs it)"
fi
check "criteo-token login without a redirect URI: exit 2, saying how to give one" 2 "--redirect-uri URI or CRITEO_REDIRECT_URI" \
    env "${good[@]}" "$BUILD_DIR/criteo-token" login
check "criteo-token login of a public client (no secret) prints only, and only with --json: exit 2 without" 2 \
    "can only print the token \(--json\)" env CRITEO_HOST="$URL" CRITEO_CLIENT_ID=public-app \
    "$BUILD_DIR/criteo-token" login --redirect-uri http://127.0.0.1:9/cb
check "criteo-token login with standard input at its end: exit 1, saying so" 1 \
    "^criteo-token: standard input ended before an address was pasted" \
    env "${good[@]}" "$BUILD_DIR/criteo-token" login --redirect-uri https://app.example/cb --store "$store_root/login-eof" </dev/null
check "criteo-token login on localhost while another program holds [::1] at its port: exit 1, naming it" 0 "^exit 1: .*\(\[::1\]\)" \
    env "${good[@]}" python3 -c '
import socket, subprocess, sys
taken = socket.socket(socket.AF_INET6); taken.bind(("::1", 0)); taken.listen()
port = taken.getsockname()[1]
run = subprocess.run([sys.argv[1], "login", "--redirect-uri", f"http://localhost:{port}/cb", "--store", sys.argv[2]],
                     stdin=subprocess.DEVNULL, capture_output=True, text=True)
print(f"exit {run.returncode}: {run.stderr.strip().splitlines()[-1]}")' "$BUILD_DIR/criteo-token" "$store_root/login-taken"
check "criteo-token login --open where no byte can be written: no page (nor its state) left behind" 0 "^left behind: 0\$" \
    env "${good[@]}" CRITEO_CONSENT_URL="$URL/consent" bash -c 'dir=$(mktemp -d)
        ( trap "" XFSZ; ulimit -f 0; XDG_RUNTIME_DIR=$dir BROWSER=true "$1" login --open --redirect-uri https://app.example/cb \
            --store "$2" </dev/null >/dev/null 2>&1 )
        echo "left behind: $(find "$dir" -mindepth 1 | wc -l)"; rm -rf "$dir"' _ "$BUILD_DIR/criteo-token" "$store_root/login-full"
check "criteo-token login --no-cache: exit 2" 2 "login keeps its lineage in the store" \
    env "${good[@]}" "$BUILD_DIR/criteo-token" login --no-cache

echo "== time: suspends and clocks set by hand"
# clocks.c moves the clocks under the library with its own clock_gettime.
build clocks "$CC" c11 tests/c/clocks.c -rdynamic
run "a suspend of an hour: every getter gives a new token, none the expired one" 0 \
    "^get: a new token; try_get: none, a fetch is due; authorization: a new token; get_within: a new token\$" clocks suspend "$lives" "$(new_client suspend)"
run "the wall clock set an hour ahead, then behind: every getter gives the same token" 0 \
    "^an hour ahead: 4 of 4 the same; an hour behind: 4 of 4 the same\$" clocks wall "$lives" "$(new_client wall)"
client=$(new_client clocks-store)
stored=$("$BUILD_DIR/clocks" store "$store_root/clocks" "$lives" "$client" none)
for shift in wall-ahead wall-behind; do
    check "through the store, a process whose wall clock is an hour ${shift#wall-}: the stored token" 0 "^$stored\$" \
        "$BUILD_DIR/clocks" store "$store_root/clocks" "$lives" "$client" "$shift"
done
check "through the store, a process after a suspend of an hour: a new token, the second fetch" 0 "^new 2\$" \
    bash -c '[[ $("$1" store "$2" "$3" "$4" suspend) != "$5" ]] && echo new $("$6" count "$7" "$4")' _ \
    "$BUILD_DIR/clocks" "$store_root/clocks" "$lives" "$client" "$stored" "$shared" "$URL"

echo "== name lookups, in namespaces with their own /etc/hosts and DNS server"
check "localhost is 127.0.0.1 and ::1 in a namespace whose /etc/hosts says otherwise" 0 "^(ok|SKIP) " \
    tests/c/localhost_namespace.sh "$BUILD_DIR" "$SERVER"
check "a SERVFAIL is retried, an NXDOMAIN is not, an unanswered name starts one lookup thread" 0 "^(ok|SKIP) " \
    tests/c/dns_namespace.sh "$BUILD_DIR" "$SERVER"
check "a dual-stack name whose IPv6 path is a black hole: a token within 1 s, direct and through a proxy" 0 "^(ok|SKIP) " \
    tests/c/eyeballs_namespace.sh "$BUILD_DIR" "$SERVER"

fleet_tests

finish C
