#!/usr/bin/env bash
# Request bodies (issue 8): the token is checked from the header, before any body byte is read;
# many half-sent bodies without a valid token leave the server's memory as it was; a declared
# length over the limit is refused at once; the bodies held at once stay within --body-memory.
. "$(dirname "$0")/lib.sh"
start_server --max-connections-per-address 0
"$GANTRY" quota set research --quota 4 >/dev/null
export HP="127.0.0.1:$PORT" WORK

# first_line TOKEN LENGTH SENT: sends a POST /v1/jobs header declaring LENGTH bytes and SENT of
# them, then prints the answer's status line (or "no answer" after 5 s).
first_line() {
  perl -MIO::Socket::INET -MIO::Select -e '
    $SIG{PIPE} = "IGNORE"; my ($tok, $len, $sent) = @ARGV;
    my $c = IO::Socket::INET->new(PeerAddr => $ENV{HP}) or die;
    print $c "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $tok\r\nContent-Type: application/json\r\nContent-Length: $len\r\n\r\n" . ("x" x $sent);
    my $s = IO::Select->new($c); my $b = "";
    print $s->can_read(5) && sysread($c, $b, 4096) ? (split /\r\n/, $b)[0] : "no answer", "\n";
  ' "$@"
}
like "$(first_line gt_wrong 1000000 0)" '^HTTP/1.1 401' "a wrong token is answered 401 before the body is sent"
like "$(first_line '' 1000000 1000)" '^HTTP/1.1 401' "no token: 401 after 1 KB of a 1 MB body"
like "$(first_line "$ADMIN" 2000000 0)" '^HTTP/1.1 413' "a declared length over 1 MiB: 413 at once"

rss() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }
before=$(rss)
# 400 connections, each sends the header of a 1 MB body with a wrong token and 256 KB of it,
# and stays open (100 MB offered); then the server's resident memory is read.
perl -MIO::Socket::INET -e '
  $SIG{PIPE} = "IGNORE"; my @s; my $chunk = "x" x 65536;
  for my $i (1..400) {
    my $c = IO::Socket::INET->new(PeerAddr => $ENV{HP}) or last; push @s, $c;
    print $c "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer gt_$i\r\nContent-Length: 1000000\r\n\r\n";
    for (1..4) { last unless print $c $chunk; }
  }
  $| = 1; print scalar(@s), "\n";
  open my $f, ">", "$ENV{WORK}/sent" or die; close $f; sleep 30;
' > "$WORK/half" &
HALF=$!
PIDS+=($HALF)
wait_for 60 test -e "$WORK/sent"
after=$(rss)
kill $HALF 2>/dev/null
is "$(cat "$WORK/half")" 400 "400 half bodies were offered"
grow=$(( (after - before) / 1024 ))
[ "$grow" -lt 40 ]; ok $? "the server's memory grew by $grow MB (VmRSS ${before} kB -> ${after} kB) for 100 MB of unauthenticated bodies (bound: 40 MB)"
like "$(api GET /v1/jobs)" '^200 ' "the API answers afterwards"

# ---- the budget for bodies held at once (4 MiB): four 1 MB bodies in flight, a fifth refused ----
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
restart_server --body-memory 4Mi
perl -MIO::Socket::INET -MIO::Select -e '
  $SIG{PIPE} = "IGNORE"; my @s;
  for (1..4) { my $c = IO::Socket::INET->new(PeerAddr => $ENV{HP}) or die; push @s, $c;
    print $c "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $ARGV[0]\r\nContent-Length: 1000000\r\n\r\n" . ("x" x 1000); }
  open my $f, ">", "$ENV{WORK}/held" or die; close $f; sleep 30;
' "$ADMIN" &
HELD=$!
PIDS+=($HELD)
wait_for 10 test -e "$WORK/held"
# The four headers may still be on their way through the server: wait until a fifth is refused.
fifth() { first_line "$ADMIN" 1000000 0 > "$WORK/fifth"; grep -q '^HTTP/1.1 503' "$WORK/fifth"; }
wait_for 10 fifth
like "$(cat "$WORK/fifth")" '^HTTP/1.1 503' "a fifth 1 MB body over the 4 MiB budget: 503 at once"
like "$(api POST /v1/jobs '{"team":"research","gpus":1,"command":["true"]}')" '^201 ' "a small body still fits"
like "$(curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/metrics" | grep '^gantry_http_bodies_refused_total')" ' [1-9]' "/v1/metrics counts the refused bodies"
kill $HELD 2>/dev/null
wait_for 10 bash -c "[ \"\$(perl -MIO::Socket::INET -MIO::Select -e '
  my \$c = IO::Socket::INET->new(PeerAddr => \$ENV{HP}) or die;
  print \$c \"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $ADMIN\r\nContent-Length: 1000000\r\n\r\n\";
  my \$s = IO::Select->new(\$c); my \$b = \"\"; print \$s->can_read(1) ? \"answered\" : \"reading\";')\" = reading ]"
ok $? "once those connections close, the budget is free again (a 1 MB body is read)"
done_testing
