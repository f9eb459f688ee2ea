#!/usr/bin/env bash
# criteo-token login, driven as a person would: the program prints the
# consent link, this script plays the browser (curl follows nothing: the
# test server's consent page answers 302 to the redirect URI), then either
# pastes the address the browser was sent to, or sends the browser there
# itself (a loopback redirect URI, on which the program listens). Then a
# plain run must serve the login's token from the store, with no request.
#
# Usage: login.sh PROGRAM URL STORE MODE
#   MODE pasted    a redirect URI off loopback: the address is pasted
#        loopback  a loopback redirect URI: the program receives it (after
#                  a forged answer, and past 40 silent connections of another
#                  program)
#        opened    a loopback redirect URI and --open: the "browser" ($BROWSER,
#                  this script's stand-in) is given a page, not the link
#        localhost a redirect URI on localhost: received on [::1] too
#        denied    the user refuses (the test server's /consent/deny)
#        silent    nobody comes back: --timeout 0.5 ends it, exit 3
# Prints the login's exit status and output, then the plain run's.
set -uo pipefail
program=$1 url=$2 store=$3 mode=$4
work=$(mktemp -d)
trap 'exec 7>&- 2>/dev/null; rm -rf "$work"' EXIT
export CRITEO_HOST=$url CRITEO_CLIENT_ID=demo-client CRITEO_CLIENT_SECRET=demo-secret
export CRITEO_CONSENT_URL=$url/consent
[[ $mode == denied ]] && CRITEO_CONSENT_URL=$url/consent/deny
redirect=https://app.example/callback
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
case $mode in
loopback | opened) redirect=http://127.0.0.1:$port/callback ;;
localhost) redirect=http://localhost:$port/callback ;;
esac
mkfifo "$work/stdin"
arguments=(login --redirect-uri "$redirect" --store "$store")
[[ $mode == silent ]] && arguments+=(--timeout 0.5)
if [[ $mode == opened ]]; then
    arguments+=(--open)
    printf '#!/bin/sh\nprintf "%%s\\n" "$*" >"%s/browser-argv"\n' "$work" >"$work/browser"
    chmod +x "$work/browser"
    export BROWSER=$work/browser
fi
"$program" "${arguments[@]}" <"$work/stdin" >"$work/out" 2>"$work/err" &
pid=$!
exec 7>"$work/stdin"
for _ in $(seq 100); do grep -q 'consent?' "$work/err" && break; sleep 0.1; done
link=$(grep -o 'http://127\.0\.0\.1[^ ]*/consent[^ ]*' "$work/err")
before=$(curl -s "$url/count/$CRITEO_CLIENT_ID")
case $mode in
pasted | denied)
    back=$(curl -s -o /dev/null -w '%{redirect_url}' "$link")
    printf '  %s\r\n' "$back" >&7
    ;;
loopback)
    back=$(curl -s -o /dev/null -w '%{redirect_url}' "$link")
    # Another local program, first with a forged answer, then with 40
    # connections it holds open saying nothing (each would cost 5 s if
    # they were served in turn): neither ends the wait nor holds it.
    forged=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/callback?code=forged&state=forged")
    echo "a forged answer is told: $forged"
    python3 -c '
import socket, sys, time
held = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(40)]
print("held", flush=True)
time.sleep(30)' "$port" >"$work/held" &
    holder=$!
    for _ in $(seq 100); do [[ -s $work/held ]] && break; sleep 0.1; done
    echo "the browser is told: $(curl -s --max-time 20 "$back" | sed 's/<[^>]*>//g')"
    kill "$holder" 2>/dev/null
    ;;
opened)
    for _ in $(seq 100); do [[ -s $work/browser-argv ]] && break; sleep 0.1; done
    page=$(sed 's|^file://||' "$work/browser-argv")
    echo "the browser's command line holds the state: $(grep -c 'state=' "$work/browser-argv")"
    echo "the page's mode: $(stat -c %a "$page"), its directory's: $(stat -c %a "$(dirname "$page")")"
    opened=$(sed -n 's/.*url=\([^"]*\)".*/\1/p' "$page" | sed 's/&amp;/\&/g')
    echo "the page sends the browser to the link: $([[ $opened == "$link" ]] && echo yes || echo no)"
    back=$(curl -s -o /dev/null -w '%{redirect_url}' "$opened")
    curl -s -o /dev/null "$back"
    ;;
localhost)
    back=$(curl -s -o /dev/null -w '%{redirect_url}' "$link")
    curl -s -o /dev/null "${back/localhost/[::1]}"
    ;;
silent) ;;
esac
wait "$pid"
echo "login: exit $?, $(($(curl -s "$url/count/$CRITEO_CLIENT_ID") - before)) request"
[[ $mode == opened ]] && echo "the page is gone: $([[ -e $page || -e $(dirname "$page") ]] && echo no || echo yes)"
grep -v '^  http\|^$' "$work/err"
sed 's/^eyJ.*/an access token/' "$work/out"
login_token=$(cat "$work/out")
exec 7>&-
before=$(curl -s "$url/count/$CRITEO_CLIENT_ID")
served=$("$program" --store "$store")
echo "a plain run: exit $?, $(($(curl -s "$url/count/$CRITEO_CLIENT_ID") - before)) request," \
    "$([[ -n $login_token && $served == "$login_token" ]] && echo "the login's token" || echo "another token")"
