#!/usr/bin/env bash
# make bench: builds the release library and bench/bench.c, starts nginx on
# loopback (plain HTTP and TLS with keep-alive, and TLS closing after every answer,
# with a CA made now), and prints criteo-oauth and libcurl side by side.
# Needs nginx, libcurl4-openssl-dev and openssl (Debian packages
# nginx-light libcurl4-openssl-dev openssl). Counts are set by
# BENCH_REQUESTS, BENCH_TLS_REQUESTS, BENCH_GETS, BENCH_MEMORY_REQUESTS.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap '[[ -f $work/nginx.pid ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"' EXIT

make --no-print-directory build >/dev/null
strip -o "$work/libcriteo_oauth.so" build/lib/libcriteo_oauth.so
cc -std=c11 -O2 -Wall -Wextra -Werror -pthread -Iinclude -o build/bench bench/bench.c \
    -Lbuild/lib -lcriteo_oauth -Wl,-rpath,"$PWD/build/lib" -lcurl

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
http_port=$(free_port)
https_port=$(free_port)
https_keep_port=$(free_port)

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
    -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
    -extfile <(printf 'subjectAltName=IP:127.0.0.1') -out "$work/server.pem" 2>/dev/null

token='{"access_token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJl","token_type":"Bearer","refresh_token":null,"expires_in":900}'
mkdir -p "$work/tmp"
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
    uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
    keepalive_requests 10000000;
    server {
        listen 127.0.0.1:$http_port;
        location = /oauth2/token { default_type application/json; return 200 '$token'; }
    }
    server {
        listen 127.0.0.1:$https_port ssl;
        ssl_certificate $work/server.pem;
        ssl_certificate_key $work/server.key;
        keepalive_timeout 0;
        location = /oauth2/token { default_type application/json; return 200 '$token'; }
    }
    server {
        listen 127.0.0.1:$https_keep_port ssl;
        ssl_certificate $work/server.pem;
        ssl_certificate_key $work/server.key;
        location = /oauth2/token { default_type application/json; return 200 '$token'; }
    }
}
CONF
nginx -p "$work" -c "$work/nginx.conf" -e "$work/error.log"
for _ in $(seq 50); do [[ -s $work/nginx.pid ]] && break; sleep 0.1; done

unset http_proxy https_proxy HTTPS_PROXY all_proxy ALL_PROXY
# The fresh-process TLS rows use the system store as many containers name
# it, both variables set, with the bench CA added to the bundle.
cat /etc/ssl/certs/ca-certificates.crt "$work/ca.pem" >"$work/system-and-bench.pem"
SSL_CERT_FILE=$work/system-and-bench.pem SSL_CERT_DIR=/etc/ssl/certs \
    build/bench "http://127.0.0.1:$http_port" "https://127.0.0.1:$https_port" "https://127.0.0.1:$https_keep_port" \
    "$work/ca.pem" "$work/libcriteo_oauth.so"

# System calls per keep-alive request: strace -c over N and N + 1000
# requests in one process, the difference divided by 1000.
if command -v strace >/dev/null; then
    per_request() { # WHICH URL
        for n in 200 1200; do
            SSL_CERT_FILE=$work/system-and-bench.pem SSL_CERT_DIR=/etc/ssl/certs \
                strace -f -c -o "$work/strace.$n" build/bench memory "$1" "$2" "$n" >/dev/null
        done
        python3 - "$work/strace.200" "$work/strace.1200" <<'PY'
import sys
def calls(path):
    counts = {}
    for line in open(path):
        fields = line.split()
        if len(fields) >= 5 and fields[0][0].isdigit() and fields[-1] != "total":
            counts[fields[-1]] = int(fields[3])
    return counts
before, after = calls(sys.argv[1]), calls(sys.argv[2])
per = {name: (after.get(name, 0) - before.get(name, 0)) / 1000 for name in after}
shown = ", ".join(f"{name} {count:g}" for name, count in sorted(per.items()) if count >= 0.01)
print(f"{sum(v for v in per.values() if v >= 0.01):5.1f}  ({shown})")
PY
    }
    echo
    echo "system calls per keep-alive request (strace -c)"
    for which in criteo curl; do
        printf '  %-7s plain HTTP %s\n' "$which" "$(per_request "$which" "http://127.0.0.1:$http_port")"
        printf '  %-7s TLS        %s\n' "$which" "$(per_request "$which" "https://127.0.0.1:$https_keep_port")"
    done
else
    echo "(strace is not installed: no system call counts)"
fi
