#!/usr/bin/env bash
# Connection limits (issue 8): idle and trickling connections are closed after their timeouts,
# one address can't hold more than its share of connections, an authenticated client is
# answered while an attacker holds its share; parked connections (an agent's long poll, a log
# follow) outlive those timeouts.
. "$(dirname "$0")/lib.sh"
start_server --heartbeat 1 --max-connections-per-address 20 --connection-timeout 3 \
  --header-timeout 3 --body-timeout 3
"$GANTRY" quota set research --quota 4 >/dev/null

# hold N ADDR FILE: opens N connections from ADDR and sends nothing; writes "open K" once the
# server has had 1 s to refuse the extra ones, then "closed S" when the server has closed every
# one (S seconds after they opened), or "timeout" after 60 s.
hold() {
  perl -MIO::Socket::INET -MIO::Select -MTime::HiRes=time -e '
    my ($n, $addr, $out) = @ARGV; $| = 1; open my $f, ">", $out or die; select $f; $| = 1;
    my @s; for (1..$n) { my $c = IO::Socket::INET->new(PeerAddr => $ENV{HP}, LocalAddr => $addr) or last; push @s, $c; }
    my $t0 = time; my $sel = IO::Select->new(@s);
    my $drain = sub { for my $c ($sel->can_read($_[0])) { my $b; $sel->remove($c) unless sysread($c, $b, 100); } };
    while (time - $t0 < 1) { $drain->(0.1); }
    print "open ", $sel->count, "\n";
    while ($sel->count && time - $t0 < 60) { $drain->(0.2); }
    printf "%s\n", $sel->count ? "timeout" : sprintf("closed %.1f", time - $t0);
  ' "$@"
}
export HP="127.0.0.1:$PORT"

# ---- an attacker from one address: 60 idle connections ----
hold 60 127.0.0.2 "$WORK/idle" &
PIDS+=($!)
wait_for 10 grep -q '^open' "$WORK/idle"
open=$(sed -n 's/^open //p' "$WORK/idle")
[ "${open:-99}" -le 20 ]; ok $? "one address holds at most 20 connections (--max-connections-per-address): $open of 60 stay open"
# Meanwhile an authenticated client from another address is answered.
like "$("$GANTRY" queue 2>&1)" '^ID ' "gantry queue is answered while the attacker holds its connections"
like "$(api GET /v1/nodes)" '^200 ' "so is the API"
wait_for 20 grep -q '^closed\|^timeout' "$WORK/idle"
like "$(tail -n 1 "$WORK/idle")" '^closed' "the server closes every idle connection after its timeout (3 s)"

# ---- a slow client that trickles its header, one line every 0.5 s (never idle) ----
trickle() {
  perl -MIO::Socket::INET -MIO::Select -MTime::HiRes=time,sleep -e '
    $SIG{PIPE} = "IGNORE"; my ($head, $piece) = @ARGV;
    my $c = IO::Socket::INET->new(PeerAddr => $ENV{HP}) or die; my $t0 = time;
    print $c $head;
    for (1..120) { sleep 0.5; my $s = IO::Select->new($c);
      if ($s->can_read(0)) { my $b; my $n = sysread($c, $b, 4096);
        if (!$n) { printf "closed %.1f\n", time - $t0; exit } print "answered: $b\n"; exit }
      print $c $piece or do { printf "closed %.1f\n", time - $t0; exit }; }
    print "still open\n";
  ' "$@"
}
r=$(trickle $'GET /healthz HTTP/1.1\r\nHost: x\r\n' $'X-Slow: y\r\n')
like "$r" '^closed' "a header trickled line by line is cut off ($r)"
s=$(sed -n 's/^closed \([0-9]*\).*/\1/p' <<<"$r")
[ "${s:-99}" -ge 2 ] && [ "${s:-0}" -le 15 ]; ok $? "after about the header timeout (3 s): ${s} s"
r=$(trickle $'POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer '"$ADMIN"$'\r\nContent-Length: 10000\r\n\r\n{' ' ')
like "$r" '^closed' "an authenticated body trickled byte by byte is cut off ($r)"
m=$(curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/metrics")
like "$(grep '^gantry_http_connections_cut_total{reason="header_timeout"}' <<<"$m")" ' [1-9]' "/v1/metrics counts the connections cut for their header"
like "$(grep '^gantry_http_connections_cut_total{reason="body_timeout"}' <<<"$m")" ' [1-9]' "and for their body"

# ---- parked connections are not idle: a long poll and a log follow outlive the timeouts ----
AG=$("$GANTRY" token create --user n1 --role agent)
reg='{"name":"n1","gpu_type":"H100","cpus_milli":8000,"memory_mib":65536,"address":"127.0.0.1","gpus":[{"index":0},{"index":1}],"running":[]}'
r=$(TOK=$AG api POST /v1/agent/register "$reg")
is "$(echo "$r" | jget '{epoch}')" 1 "a node registers"
AG=$(echo "$r" | jget '{node_token}') # the join token only registers; the node's credential does the rest
( while :; do curl -s -o /dev/null -X POST -H "Authorization: Bearer $AG" \
    -d '{"name":"n1","epoch":1,"running":[]}' "$GANTRY_SERVER/v1/agent/heartbeat"; sleep 0.3; done ) &
PIDS+=($!)
id=$("$GANTRY" submit --team research --gpus 1 -- echo hi | awk '{print $3}')
w=$(TOK=$AG api GET "/v1/agent/work?name=n1&epoch=1&wait=5")
is "$(echo "$w" | jget '{tasks}[0]{job}{id}')" "$id" "the node gets the job"
TOK=$AG api POST /v1/agent/report "{\"name\":\"n1\",\"epoch\":1,\"events\":[{\"job_id\":$id,\"incarnation\":1,\"event\":\"started\",\"time\":$(date +%s)}]}" >/dev/null
"$GANTRY" logs -f "$id" > "$WORK/follow" 2>&1 &
FOLLOW=$!
PIDS+=($FOLLOW)
t0=$SECONDS
w=$(TOK=$AG api GET "/v1/agent/work?name=n1&epoch=1&wait=7")
is "$w" '200 {"tasks":[]}' "a 7 s long poll is answered, not cut by the 3 s timeouts"
[ $((SECONDS - t0)) -ge 6 ]; ok $? "after its wait ($((SECONDS - t0)) s)"
kill -0 $FOLLOW 2>/dev/null; ok $? "gantry logs -f still follows after 7 s of silence"
TOK=$AG api POST /v1/agent/logs "{\"job_id\":$id,\"incarnation\":1,\"stream\":\"stdout\",\"offset\":0,\"data\":\"late\\n\"}" >/dev/null
TOK=$AG api POST /v1/agent/report "{\"name\":\"n1\",\"epoch\":1,\"events\":[{\"job_id\":$id,\"incarnation\":1,\"event\":\"exited\",\"exit_code\":0,\"signal\":0,\"reason\":\"completed\",\"time\":$(date +%s)}]}" >/dev/null
wait_for 10 bash -c "! kill -0 $FOLLOW"; ok $? "gantry logs -f ends with the job"
is "$(cat "$WORK/follow")" late "and printed what came after the silence"

like "$("$GANTRY" server --help)" 'max-connections-per-address' "gantry server --help names the limits"
done_testing
