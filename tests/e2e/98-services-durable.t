#!/usr/bin/env bash
# A service's changes (docs/services.md) are durable before they act, as every other change:
# `gantry scale`, a rolling update, a rollback and autoscaling were applied to memory first and
# saved as a kept write, so that a change the store refused (full disk: 503 "nothing was
# changed") still took effect once the disk had room again. Now each is committed, then
# applied: an acknowledged change survives a kill -9 of the server right after it, and a
# refused one changes nothing, not now, not after space returns, not after a restart. The data
# directory is a tmpfs the test fills (66-store-full.t's way).
. "$(dirname "$0")/agent-lib.sh"
if [ "$(id -u)" != 0 ]; then skip "needs root to mount a tmpfs"; done_testing; exit; fi
if [ "${GANTRY_TEST_STORE:-}" = pg ]; then skip "a full disk is the SQLite store's"; done_testing; exit; fi
mkdir -p "$WORK/data"
if ! mount -t tmpfs -o size=4m "gantry-svcdur-$$" "$WORK/data" 2>"$WORK/mount.err"; then
  skip "cannot mount a tmpfs: $(cat "$WORK/mount.err")"; done_testing; exit
fi
CLEANUPS+=("umount -l '$WORK/data'")
cat > "$WORK/cluster.yaml" <<'Y'
teams:
  - name: research
    quota: {gpus: 4}
Y
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent a1 4 "$WORK/a1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"

cat > "$WORK/svc.py" <<'EOF'
import http.server, os, sys
port = int(os.environ["GANTRY_PORT"])
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        b = ("%s\n" % sys.argv[1]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", port), H).serve_forever()
EOF
PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)
svc_field() { api GET "/v1/services/$1" | jget "$2"; }
ready_is() { [ "$(svc_field "$1" '{ready}')" = "$2" ]; }
call() { curl -s -m 5 -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/services/$1/$2"; }
# answers_are WORD: 6 calls through the endpoint all answer WORD
answers_are() { [ "$(for i in 1 2 3 4 5 6; do call web "q$i"; done | sort -u)" = "$1" ]; }
patch() { api PATCH /v1/services/web "$1" >/dev/null; cat "$WORK/status"; }
crash_restart() {
  kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
  "$GANTRY" server --data "$WORK/data" "${STORE_ARGS[@]}" --listen "127.0.0.1:$PORT" --config "$WORK/cluster.yaml" --heartbeat 1 2>>"$WORK/server.log" &
  SERVER_PID=$!; PIDS+=("$SERVER_PID")
  wait_for 30 curl -sf "$GANTRY_SERVER/healthz" || { echo "Bail out! the server did not restart"; exit 1; }
}

submit '{"team":"research","kind":"service","name":"web","replicas":1,"gpus":1,"readiness":{"http":"/","period":0.2},"command":["'"$PY"'","'"$WORK"'/svc.py","v1"]}' >/dev/null
wait_for 30 ready_is web 1
ok $? "a service of 1 replica is ready"

# ---- acknowledged, then the server is killed at once: the change is kept ----
is "$(patch '{"replicas":2}')" 200 "gantry scale web 2 is acknowledged"
crash_restart
is "$(svc_field web '{replicas}')" 2 "after a kill -9 right after it, the service still wants 2 replicas"
wait_for 30 ready_is web 2
ok $? "and 2 replicas are ready"
is "$(patch '{"spec":{"command":["'"$PY"'","'"$WORK"'/svc.py","v2"]}}')" 200 "a rolling update is acknowledged"
crash_restart
is "$(svc_field web '{revision}')" 2 "after a kill -9 right after it, the service is at revision 2"
wait_for 60 answers_are v2
ok $? "and its replicas are replaced: the endpoint answers v2"
# the rollout's end (no replica of revision 1 left, not only out of the endpoint) before the
# next kill -9: a replica leaving the endpoint when the server dies is not this test's subject
rolled_out() { [ "$(api GET /v1/services/web | jget '{replica_jobs}' | perl -MJSON::PP -e 'my $r = decode_json(<STDIN>); print scalar(@$r) . " " . scalar(grep { $_->{revision} == 2 } @$r)')" = "2 2" ] && ready_is web 2; }
wait_for 60 rolled_out
is "$(patch '{"rollback":true}')" 200 "a rollback is acknowledged"
crash_restart
is "$(svc_field web '{revision}')" 3 "after a kill -9 right after it, the service is at revision 3"
wait_for 60 answers_are v1
ok $? "and the endpoint answers v1 again"
# the rollback's rollout to its end before the disk fills (replicas of revision 2 the crash's
# fence stopped end, not requeued: docs/services.md, 98-services-update-crash.t)
rolled_back() { [ "$(svc_field web '{rollout}')" = complete ] && ready_is web 2; }
wait_for 60 rolled_back
ok $? "2 replicas are ready and the rollout is complete"

# ---- a change the store refuses changes nothing ----
fill() { dd if=/dev/zero of="$WORK/data/fill" bs=16k 2>/dev/null; sync; }
fill
is "$(patch '{"replicas":1}')" 503 "disk full: a scale is refused (503)"
like "$(cat "$WORK/body")" "nothing was changed" "the answer says nothing was changed"
is "$(patch '{"spec":{"command":["'"$PY"'","'"$WORK"'/svc.py","v3"]}}')" 503 "a rolling update is refused (503)"
is "$(patch '{"rollback":true}')" 503 "a rollback is refused (503)"
is "$(patch '{"autoscale":{"min":3,"max":3}}')" 503 "autoscaling is refused (503)"
is "$(svc_field web '{replicas}') $(svc_field web '{revision}') $(svc_field web '{autoscale}')" "2 3 null" \
  "the service is as it was: 2 replicas, revision 3, no autoscaling"
rm -f "$WORK/data/fill"
post_ok() { [ "$(api POST /v1/jobs '{"team":"research","gpus":0,"command":["true"]}' >/dev/null; cat "$WORK/status")" = 201 ]; }
wait_for 30 post_ok
ok $? "space returns: the store takes writes again"
# what the store would retry is committed by now (batches commit in order: the job above was after)
is "$(svc_field web '{replicas}') $(svc_field web '{revision}') $(svc_field web '{autoscale}')" "2 3 null" \
  "the refused changes did not take effect once the disk had room"
wait_for 30 ready_is web 2
ok $? "2 replicas are still ready"
ok $(answers_are v1 && echo 0 || echo 1) "the endpoint still answers v1 (no refused update rolled out)"
crash_restart
is "$(svc_field web '{replicas}') $(svc_field web '{revision}') $(svc_field web '{autoscale}')" "2 3 null" \
  "nor after a restart"

# ---- a change that commits acts (the path still works after the outage) ----
is "$(patch '{"replicas":1}')" 200 "a scale to 1 is acknowledged"
wait_for 30 ready_is web 1
ok $? "one replica remains"
done_testing
