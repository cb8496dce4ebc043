#!/usr/bin/env bash
# Downloads resume (docs/artifacts.md "Pushing and pulling"): the server answers a Range
# request on a blob with 206 and Content-Range (416 past the end); `gantry artifact pull`
# cut off mid-file (a proxy of the test's own closes the connection part way through the big
# file's body) leaves its directory with a state file, and the same pull run again asks only
# for the rest of that file, then verifies the whole tree; a directory no pull of that version
# left is still refused.
. "$(dirname "$0")/lib.sh"
printf 'teams:\n  - name: research\n' > "$WORK/cluster.yaml"
start_server --config "$WORK/cluster.yaml"
RES=$("$GANTRY" token create --user alice --role member --team research)
as() { local t=$1; shift; GANTRY_TOKEN=$t "$GANTRY" "$@"; }

D=$WORK/ds; mkdir -p "$D/sub"
head -c 3000000 /dev/urandom > "$D/big.bin"
printf 'small\n' > "$D/sub/small.txt"
ln -s sub/small.txt "$D/link"
out=$(as "$RES" artifact push ds "$D" 2>&1)
like "$out" '^pushed ds@1 ' "a dataset with a 3 MB file is pushed"
big=$(sha256sum "$D/big.bin" | cut -d' ' -f1)
B="$GANTRY_SERVER/v1/artifacts/ds/versions/1/blobs/$big"

# ---- the server: Range on a blob ----
hdr() { curl -s -D - -o "$WORK/part" -H "Authorization: Bearer $RES" "$@" "$B" | tr -d '\r'; }
h=$(hdr)
like "$h" '^HTTP/1.1 200' "a blob without Range: 200"
like "$h" 'Accept-Ranges: bytes' "which says it takes ranges"
h=$(hdr -r 100-199)
like "$h" '^HTTP/1.1 206' "Range: bytes=100-199 -> 206"
like "$h" 'Content-Range: bytes 100-199/3000000' "with its Content-Range"
cmp -s "$WORK/part" <(tail -c +101 "$D/big.bin" | head -c 100); ok $? "and those 100 bytes"
h=$(hdr -r 2999000-)
like "$h" 'Content-Range: bytes 2999000-2999999/3000000' "an open range runs to the end"
is "$(stat -c %s "$WORK/part")" 1000 "its 1,000 bytes"
h=$(hdr -r 3000000-)
like "$h" '^HTTP/1.1 416' "a range past the end: 416"
like "$h" 'Content-Range: bytes \*/3000000' "saying the size"

# ---- a pull cut off mid-file, then resumed ----
# The proxy relays between the CLI and the server, and closes the connection once 1,000,000
# bytes of the body of the first answer to a request of the big blob have gone through.
PPORT=$(free_port)
perl -MIO::Socket::INET -MIO::Select -e '
  my ($lport, $sport, $sha, $cut, $flag) = @ARGV;
  my $l = IO::Socket::INET->new(Listen => 16, LocalAddr => "127.0.0.1", LocalPort => $lport, ReuseAddr => 1) or die;
  $SIG{CHLD} = "IGNORE";
  while (my $c = $l->accept) {
    next if fork;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $sport) or exit;
    my $sel = IO::Select->new($c, $s);
    my ($armed, $body, $inbody, $hbuf) = (0, 0, 0, "");
    while (my @r = $sel->can_read) {
      for my $h (@r) {
        my $n = sysread($h, my $buf, 65536);
        exit unless $n;
        if ($h == $c) {
          $armed = 1 if !-e $flag && $buf =~ m{GET [^ ]*/blobs/$sha};
          syswrite($s, $buf);
        } else {
          if ($armed) {
            if (!$inbody) { $hbuf .= $buf; my $i = index($hbuf, "\r\n\r\n");
              if ($i >= 0) { $inbody = 1; $body = length($hbuf) - $i - 4; } }
            else { $body += length $buf; }
            if ($inbody && $body >= $cut) {
              my $over = $body - $cut; syswrite($c, substr($buf, 0, length($buf) - $over));
              open my $f, ">", $flag; close $f; exit;
            }
          }
          syswrite($c, $buf);
        }
      }
    }
    exit;
  }' "$PPORT" "$PORT" "$big" 1000000 "$WORK/cut.done" &
PIDS+=($!)
wait_for 10 perl -MIO::Socket::INET -e "IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $PPORT) or exit 1"
GANTRY_SERVER="http://127.0.0.1:$PPORT" GANTRY_TOKEN=$RES "$GANTRY" artifact pull ds "$WORK/out" > "$WORK/p1.out" 2> "$WORK/p1.err"
rc=$?
ok $([ "$rc" != 0 ]; echo $?) "a pull whose connection is cut mid-file fails (exit $rc)"
ok $([ -e "$WORK/cut.done" ]; echo $?) "(the proxy cut it)"
like "$(cat "$WORK/p1.err")" 'run the same pull again to resume' "it says how to go on"
have=$(stat -c %s "$WORK/out/big.bin")
ok $([ "$have" -gt 0 ] && [ "$have" -lt 3000000 ]; echo $?) "part of the big file is there ($have bytes)"
ok $([ -f "$WORK/out/.gantry-pull" ]; echo $?) "with the pull's state file"
as "$RES" artifact pull ds "$WORK/out" > "$WORK/p2.out" 2> "$WORK/p2.err"
is "$?" 0 "the same pull again succeeds"
like "$(cat "$WORK/p2.err")" "resuming big.bin at byte $have of 3000000" "it resumes the big file where it stopped"
like "$(cat "$WORK/p2.out")" "^pulled ds@1 into .*verified \\(resumed: 976.6 KiB were there already" "and verifies the whole tree, the first 1,000,000 bytes not sent again"
cmp -s "$D/big.bin" "$WORK/out/big.bin"; ok $? "the big file is whole, byte for byte"
is "$(readlink "$WORK/out/link")" sub/small.txt "the link is there"
ok $([ ! -e "$WORK/out/.gantry-pull" ]; echo $?) "the state file is gone"

# ---- what it does not resume ----
mkdir -p "$WORK/other"; touch "$WORK/other/mine"
as "$RES" artifact pull ds "$WORK/other" > /dev/null 2> "$WORK/p3.err"
is "$?" 1 "a non-empty directory no pull left is refused"
like "$(cat "$WORK/p3.err")" 'must be a new or empty directory' "saying so"
ok $([ -e "$WORK/other/mine" ] && [ ! -e "$WORK/other/big.bin" ]; echo $?) "and left as it was"
mkdir -p "$WORK/stale"; printf '{"digest":"sha256:%064d"}\n' 0 > "$WORK/stale/.gantry-pull"
as "$RES" artifact pull ds "$WORK/stale" > /dev/null 2>&1
is "$?" 1 "a directory a pull of another version left is refused too"
done_testing
