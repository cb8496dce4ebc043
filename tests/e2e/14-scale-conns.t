#!/usr/bin/env bash
# Connections at scale (issue 14): --max-connections follows the open-file limit when not given
# (2,000 agents hold 4,000 connections: a fixed default of 4,000 left nothing for users), the
# server says at start what it chose and why, and a client beyond the limit is answered 503
# too_many_connections (then the connection closes) rather than cut without a word.
. "$(dirname "$0")/lib.sh"
start_server --max-connections 4 --header-timeout 60
like "$(grep 'connections' "$WORK/server.log" | head -n 1)" \
  'at most 4 connections \(--max-connections\).*open-file limit is [0-9]+.*room for 2 nodes' \
  "the server logs the limit it was given, its open-file limit and the nodes that fit"

# hold N FILE: opens N connections that send nothing; writes "open K" once they are open (the
# server keeps each until its header timeout), then waits to be killed.
hold() {
  exec perl -MIO::Socket::INET -e '
    my ($n, $out) = @ARGV; my @s;
    for (1..$n) { my $c = IO::Socket::INET->new(PeerAddr => $ENV{HP}) or last; push @s, $c; }
    open my $f, ">", $out or die; print $f "open ", scalar(@s), "\n"; close $f;
    sleep 600;' "$@"
}
export HP="127.0.0.1:$PORT"
hold 4 "$WORK/held" &
HOLD=$!
PIDS+=("$HOLD")
wait_for 10 grep -q '^open 4' "$WORK/held"
# The server counts a connection once it has accepted it: wait until it holds all four.
conns() { curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
refused() { [ "$(api GET /v1/nodes | cut -c1-3)" = 503 ]; }
wait_for 20 refused
out=$(api GET /v1/nodes)
like "$out" '^503 ' "with 4 connections held, a fifth client is answered 503"
is "$(printf '%s' "$out" | jget '{error}{code}')" too_many_connections "its error code says why"
like "$(printf '%s' "$out" | jget '{error}{message}')" 'limit of 4 open connections \(--max-connections\)' \
  "its message names the limit and the flag"
hdr=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/nodes" | tr -d '\r')
like "$hdr" '^Connection: close$' "the refused connection is closed after the answer"
cli=$("$GANTRY" queue 2>&1); rc=$?
[ $rc -ne 0 ]; ok $? "gantry queue fails while the server is full (exit $rc)"
like "$cli" 'too_many_connections|--max-connections' "and the CLI says why: $cli"
kill "$HOLD" 2>/dev/null
wait "$HOLD" 2>/dev/null
# Once they close, clients are served again.
served() { [ "$(api GET /v1/nodes | cut -c1-3)" = 200 ]; }
wait_for 20 served; ok $? "once the held connections close, clients are answered again"
is "$(conns gantry_http_connections_limit)" 4 "gantry_http_connections_limit shows the limit"
r=$(conns gantry_http_connections_refused_total)
[ "${r:-0}" -ge 4 ]; ok $? "gantry_http_connections_refused_total counts the refused connections ($r)"

# ---- the default follows the open-file limit ----
# other_server LIMITS... : a server started under `ulimit LIMITS`, without --max-connections;
# prints its connections line.
other_server() {
  local port dir
  port=$(free_port) dir=$(mktemp -d "$WORK/other.XXXXXX")
  (for l in "$@"; do ulimit $l || exit 9; done  # each "-Xn N", split here
   exec "$GANTRY" server --data "$dir/data" --listen "127.0.0.1:$port") 2>"$dir/log" &
  local pid=$!
  PIDS+=("$pid")
  wait_for 20 grep -q 'connections' "$dir/log"
  grep 'connections' "$dir/log" | head -n 1
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge 9000 ]; then
  line=$(other_server '-Sn 1024' '-Hn 9000')
  like "$line" 'at most 8680 connections \(the default: the open-file limit 9000, raised from 1024 to the hard limit, less 320 descriptors' \
    "without --max-connections: the soft open-file limit is raised to the hard one (9000) and the default is it less 320: 8680"
  like "$line" 'room for 4340 nodes' "room for 4,340 nodes (2 connections each): 2,000 nodes leave 4,680 for users"
else
  skip "the hard open-file limit here is $hard (< 9000)"
  skip "(same)"
fi
line=$(other_server '-n 1000')
like "$line" 'at most 680 connections \(the default: the open-file limit 1000, less 320' \
  "with an open-file limit of 1000 (soft and hard), the default is 680"
like "$line" 'room for 340 nodes' "and the server says it fits 340 nodes"
done_testing
