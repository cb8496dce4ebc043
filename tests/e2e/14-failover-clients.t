#!/usr/bin/env bash
# The CLI with several servers (GANTRY_SERVER=url1,url2, docs/ha.md): a server down or a
# standby sends it to the next; a standby's redirect to a URL outside the list is not
# followed (the token goes only where the user said); with no leader anywhere it gives up
# after GANTRY_SERVER_WAIT with what it tried.
. "$(dirname "$0")/lib.sh"
start_server
LEADER=$GANTRY_SERVER
DEAD="http://127.0.0.1:$(free_port)"
EVIL_PORT=$(free_port); SB_PORT=$(free_port)
# A stand-in standby that redirects everything to EVIL, and EVIL, which writes down any request.
cat > "$WORK/sb.py" <<'PY'
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
port, to, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def go(self):
        with open(log, "a") as f:
            f.write("%s %s %s\n" % (self.command, self.path, self.headers.get("Authorization")))
        b = b'{"error":{"code":"not_leader","message":"standby","leader":"%s"}}' % to.encode()
        self.send_response(307 if to != "-" else 503)
        if to != "-":
            self.send_header("Location", to + self.path)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    do_GET = do_POST = go
HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
python3 "$WORK/sb.py" "$SB_PORT" "http://127.0.0.1:$EVIL_PORT" "$WORK/sb.log" 2>/dev/null & PIDS+=($!)
python3 "$WORK/sb.py" "$EVIL_PORT" - "$WORK/evil.log" 2>/dev/null & PIDS+=($!)
SB="http://127.0.0.1:$SB_PORT"
wait_for 10 curl -s -o /dev/null "$SB/x"; wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$EVIL_PORT/x"
rm -f "$WORK/evil.log" "$WORK/sb.log"

GANTRY_SERVER="$DEAD,$LEADER" "$GANTRY" submit --team nosuch -- true > "$WORK/out" 2>&1
like "$(cat "$WORK/out")" "team 'nosuch' does not exist" "a server down: the next one answers"
GANTRY_SERVER="$SB,$LEADER" "$GANTRY" queue > "$WORK/out" 2>&1; ok $? "a standby: the next one answers"
grep -q "^GET /v1/jobs" "$WORK/sb.log"; ok $? "(the standby was asked first)"
ok $([ ! -s "$WORK/evil.log" ] && echo 0 || echo 1) "its redirect outside the list was not followed: the token went nowhere else"
GANTRY_SERVER="$LEADER,$SB" "$GANTRY" queue --server "$DEAD,$LEADER" > "$WORK/out" 2>&1; ok $? "--server takes a list too"

t0=$SECONDS
GANTRY_SERVER_WAIT=2 GANTRY_SERVER="$DEAD,$SB" "$GANTRY" queue > "$WORK/out" 2>&1; rc=$?
is "$rc" 1 "no leader anywhere: the command fails"
like "$(cat "$WORK/out")" "none of the 2 servers .* answered as leader within 2 s" "saying so ($(cat "$WORK/out"))"
ok $([ $((SECONDS - t0)) -le 30 ] && echo 0 || echo 1) "after GANTRY_SERVER_WAIT, not for ever"
GANTRY_SERVER="$LEADER,,$DEAD" "$GANTRY" queue > "$WORK/out" 2>&1
like "$(cat "$WORK/out")" "empty URL" "a list with an empty URL is refused"
GANTRY_SERVER="$DEAD" "$GANTRY" queue > "$WORK/out" 2>&1
like "$(cat "$WORK/out")" "cannot reach the Gantry server at $DEAD" "one server down: the old message, at once"
done_testing
