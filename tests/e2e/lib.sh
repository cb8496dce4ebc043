# lib.sh: helpers for end-to-end tests (sourced, not run): TAP, a real server on loopback.
set -u
GANTRY=${GANTRY_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/bin/gantry}
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
. "$(dirname "${BASH_SOURCE[0]}")/store.sh"
. "$(dirname "${BASH_SOURCE[0]}")/procs.sh"

# free_port: a port free on every address, below the kernel's ephemeral range (32768 and up
# here), so that no outgoing connection (of this suite or another running beside it) takes it
# between this choice and the server's bind: picked at random in 20000-32767 until one binds.
free_port() {
  perl -MIO::Socket::INET -e 'for (1 .. 200) { my $p = 20000 + int(rand(12768));
    if (IO::Socket::INET->new(Listen => 1, LocalAddr => "0.0.0.0", LocalPort => $p)) { print $p; exit } }
    exit 1'
}

WORK=$(mktemp -d /tmp/gantry-e2e.XXXXXX)
PIDS=()
cleanup() { exec 2>/dev/null; kill_children "${PIDS[@]}"; wait; store_drop; [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT

# start_server [extra args]: gantry server on a free port, data in $WORK/data. A port taken by
# another process between its choice and the server's bind is replaced (up to 3 tries).
start_server() {
  use_test_store
  local try rc
  for try in 1 2 3; do
    PORT=$(free_port)
    export GANTRY_SERVER="http://127.0.0.1:$PORT"
    launch_server "$@"; rc=$?
    [ $rc -eq 2 ] && [ $try -lt 3 ] && continue
    [ $rc -eq 0 ] || server_bail
    break
  done
  export GANTRY_TOKEN=$(cat "$WORK/data/admin.token")
  ADMIN=$GANTRY_TOKEN
}

# restart_server [extra args]: starts the server again on $PORT with the same data.
restart_server() { launch_server "$@" || server_bail; }

server_bail() { echo "Bail out! server did not become healthy"; cat "$WORK/server.log" >&2; exit 1; }

# launch_server [extra args]: the server on $PORT; 0 once healthy, 2 when it exited because the
# port was in use, 1 when it exited otherwise or was not healthy within 30 s.
launch_server() {
  "$GANTRY" server --data "$WORK/data" "${STORE_ARGS[@]}" --listen "127.0.0.1:$PORT" "$@" 2>>"$WORK/server.log" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local deadline=$((SECONDS + 30))
  until curl -sf "$GANTRY_SERVER/healthz" >/dev/null 2>&1; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      grep -q "cannot listen on 127.0.0.1:$PORT " "$WORK/server.log" && return 2
      return 1
    fi
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.05
  done
}

. "$(dirname "${BASH_SOURCE[0]}")/wait.sh"

# api METHOD PATH [BODY]: prints "STATUS BODY"; token $TOK (default: admin).
api() {
  local tok=${TOK:-$ADMIN}
  curl -s -o "$WORK/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $tok" \
    ${3:+-d "$3"} "$GANTRY_SERVER$2" > "$WORK/status"
  echo "$(cat "$WORK/status") $(cat "$WORK/body")"
}
# jget EXPR: reads JSON on stdin, prints the Perl expression $d->EXPR (e.g. '{state}').
jget() { perl -MJSON::PP -e 'my $t = join "", <STDIN>; $t =~ s/^\d{3} //; my $d = decode_json($t); my $v = length $ARGV[0] ? eval "\$d->$ARGV[0]" : $d; print ref $v ? JSON::PP->new->canonical->encode($v) : (defined $v ? $v : "null")' -- "${1:-}"; }
