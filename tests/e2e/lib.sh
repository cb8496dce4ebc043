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

# start_server [extra args]: gantry server on a free port, data in $WORK/data.
start_server() {
  use_test_store
  PORT=$(free_port)
  export GANTRY_SERVER="http://127.0.0.1:$PORT"
  restart_server "$@"
  export GANTRY_TOKEN=$(cat "$WORK/data/admin.token")
  ADMIN=$GANTRY_TOKEN
}

# restart_server [extra args]: starts the server again on $PORT with the same data.
restart_server() {
  "$GANTRY" server --data "$WORK/data" "${STORE_ARGS[@]}" --listen "127.0.0.1:$PORT" "$@" 2>>"$WORK/server.log" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local deadline=$((SECONDS + 30))
  until curl -sf "$GANTRY_SERVER/healthz" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "Bail out! server did not become healthy"; cat "$WORK/server.log" >&2; exit 1
    fi
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
