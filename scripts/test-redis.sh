# Sourced by the test and bench scripts that need a Redis server of their
# own: on 127.0.0.1, a random password and a free port, no persistence.
#   new_redis DIR      picks redis_password and redis_port, then start_redis DIR
#   start_redis DIR    starts redis-server on $redis_port with $redis_password,
#                      empty, in DIR (its log there); sets redis_pid; fails
#                      (showing the log) when it does not answer within 5 s
#   stop_redis         kills it (SIGKILL, as a crash would) and waits for it
#   redis_cli ARGS...  redis-cli on it, authenticated
#   free_port          a free TCP port of 127.0.0.1
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
new_redis() {
    redis_password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
    redis_port=$(free_port)
    start_redis "$1"
}
start_redis() {
    redis-server --bind 127.0.0.1 --port "$redis_port" --requirepass "$redis_password" --save '' \
        --appendonly no --dir "$1" >>"$1/redis.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 100); do
        [[ $(redis_cli ping 2>/dev/null) == PONG ]] && return 0
        sleep 0.05
    done
    echo "redis-server did not start:" && cat "$1/redis.log"
    return 1
}
stop_redis() { kill -9 "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null || true; }
redis_cli() { REDISCLI_AUTH=$redis_password redis-cli --no-auth-warning -h 127.0.0.1 -p "$redis_port" "$@"; }
