#!/usr/bin/env bash
# Services (docs/services.md) on loopback, one agent: replicas of a preemptible class are
# preempted by a higher class and placed again once it leaves; a replica that keeps crashing
# waits a longer backoff each time; scale up and down; the service, its replicas and its
# endpoint survive a restart of the server (kill -9).
. "$(dirname "$0")/agent-lib.sh"
LOADS=()
cat > "$WORK/cluster.yaml" <<'Y'
teams:
  - name: research
    quota: {gpus: 2}
scheduler:
  preemption: {enabled: true, grace_period: 2s, min_runtime: 0s}
Y
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent a1 2 "$WORK/a1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"

cat > "$WORK/svc.py" <<'EOF'
import http.server, os, sys, time
port = int(os.environ["GANTRY_PORT"])
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path.startswith("/slow"):
            time.sleep(0.5)
        b = ("%s job=%s inc=%s\n" % (sys.argv[1], os.environ.get("GANTRY_JOB_ID"), os.environ.get("GANTRY_INCARNATION"))).encode()
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

# ---- a preempted replica is placed again ----
id=$(submit '{"team":"research","kind":"service","name":"exp","priority_class":"experimental","replicas":2,"gpus":1,"command":["'"$PY"'","'"$WORK"'/svc.py","exp"]}')
wait_for 30 ready_is exp 2
ok $? "an experimental-class service of 2 replicas is ready"
big=$(submit '{"team":"research","gpus":2,"priority_class":"production","command":["sleep","600"]}')
wait_for 30 job_is "$big" running
ok $? "a production batch job of 2 GPUs preempts both replicas and runs"
is "$(job_state "$id")" pending "the preempted replica waits in the queue (not ended)"
is "$(svc_field exp '{ready}')" 0 "the service reports 0 ready replicas"
is "$(call exp x | jget '{error}{code}')" unavailable "the endpoint answers 503 unavailable meanwhile"
api DELETE "/v1/jobs/$big" >/dev/null
wait_for 30 ready_is exp 2
ok $? "once the batch job leaves, both replicas are placed again and ready"
like "$(call exp x)" "^exp job=($id|$((id + 1))) inc=2" "the same replica jobs answer, in their second run"

# ---- a crash loop backs off ----
crash=$(submit '{"team":"research","kind":"service","name":"crash","replicas":1,"gpus":0,"command":["sh","-c","exit 3"]}')
restarts_at_least() { [ "$(api GET "/v1/jobs/$crash" | jget '{restarts}')" -ge "$1" ] 2>/dev/null; }
wait_for 40 restarts_at_least 3
ok $? "a replica that keeps exiting is restarted (3 restarts)"
is "$(api GET "/v1/jobs/$crash" | jget '{state}')" pending "between runs it waits"
is "$(api GET "/v1/jobs/$crash" | jget '{pending_reason}')" restart_backoff "its pending reason is restart_backoff"
# the gaps between its runs grow: 1 s, 2 s, 4 s ...
gaps=$(api GET "/v1/jobs/$crash" | perl -MJSON::PP -e 'my $r = decode_json(join "", <STDIN>)->{earlier_runs}; my @g; for my $i (1 .. $#$r) { push @g, $r->[$i]{start_time} - $r->[$i-1]{end_time} } print join(" ", map { sprintf "%.1f", $_ } @g)')
echo "# gaps between runs: $gaps s"
grows=$(printf '%s\n' $gaps | awk 'NR > 1 && $1 <= prev * 1.5 { bad = 1 } { prev = $1 } END { print bad ? 1 : 0 }')
is "$grows" 0 "each restart waits longer than the one before (backoff doubles)"
api DELETE /v1/services/crash >/dev/null
is "$(cat "$WORK/status")" 200 "DELETE /v1/services/crash"
wait_for 20 job_is "$crash" cancelled
ok $? "its replica is cancelled"

# ---- scale ----
"$GANTRY" scale exp 1 >/dev/null
ok $? "gantry scale exp 1"
one_left() { [ "$(svc_field exp '{replicas}')" = 1 ] && [ "$(api GET /v1/services/exp | jget '{replica_jobs}' | grep -o '"job"' | wc -l)" = 1 ]; }
wait_for 20 one_left
ok $? "one replica is left"
"$GANTRY" scale exp 2 >/dev/null
wait_for 30 ready_is exp 2
ok $? "gantry scale exp 2: two ready again"
api PATCH /v1/services/exp '{"replicas": -1}' >/dev/null
is "$(cat "$WORK/status")" 400 "a negative replica count is refused"
api PATCH /v1/services/exp '{"spec": {"gpu_type": "no-such-gpu"}}' >/dev/null
is "$(cat "$WORK/status")" 400 "an update naming a GPU type no node offers is refused (400), as a submission is"
like "$(cat "$WORK/body")" "no node offers GPU type 'no-such-gpu'" "  saying why"
api PATCH /v1/services/exp '{"spec": {"gpus": 64}}' >/dev/null
is "$(cat "$WORK/status")" 400 "an update that could never run (64 GPUs) is refused (400)"
api PATCH /v1/services/exp '{"spec": {"priority_class": "no-such-class"}}' >/dev/null
is "$(cat "$WORK/status")" 400 "an update naming an unknown class is refused (400)"
is "$(svc_field exp '{revision}')" 1 "  and the service keeps its revision"
api PATCH /v1/services/exp '{"rollback": true}' >/dev/null
is "$(cat "$WORK/status")" 409 "a rollback without a previous revision is refused (409)"

# ---- autoscaling on requests in flight ----
auto=$(submit '{"team":"research","kind":"service","name":"auto","replicas":1,"gpus":0,"command":["'"$PY"'","'"$WORK"'/svc.py","auto"]}')
wait_for 30 ready_is auto 1
ok $? "a CPU-only service of 1 replica is ready"
"$GANTRY" scale auto --auto 1:3:1 >/dev/null
ok $? "gantry scale auto --auto 1:3:1"
is "$(svc_field auto '{autoscale}{max}')" 3 "the service shows its autoscaling"
rm -f "$WORK/auto.stop"
for i in 1 2 3 4; do
  ( while [ ! -f "$WORK/auto.stop" ]; do curl -s -m 10 -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/services/auto/slow" >/dev/null; done ) &
  LOADS+=($!)
done
wait_for 40 ready_is auto 3
ok $? "4 clients keeping slow requests in flight (target 1 per replica): it scales up to its max, 3"
touch "$WORK/auto.stop"
for p in "${LOADS[@]}"; do wait "$p"; done
down() { [ "$(svc_field auto '{replicas}')" = 1 ]; }
wait_for 40 down
ok $? "the load gone, it scales back down to its min, 1"
like "$(cat "$WORK/server.log")" "service auto autoscales from 1 to [23]" "the server log says why it scaled"
"$GANTRY" scale auto --auto off >/dev/null
is "$(svc_field auto '{autoscale}')" null "gantry scale auto --auto off"
api PATCH /v1/services/auto '{"autoscale": {"min": 3, "max": 2}}' >/dev/null
is "$(cat "$WORK/status")" 400 "autoscale with max below min is refused"
"$GANTRY" services rm auto >/dev/null
wait_for 20 job_is "$auto" cancelled
ok $? "gantry services rm auto"

# ---- a restarted agent keeps probing its replicas ----
kill "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
run_agent a1 2 "$WORK/a1" agent.log --no-cgroups
wait_for 20 sh -c "grep -c 'registered with epoch' '$WORK/agent.log' | grep -q 2"
ok $? "the agent restarts (its replicas keep running under their supervisors)"
sleep 3 # an observation window, not a wait: nothing may change over three heartbeats (1 s)
is "$(svc_field exp '{ready}')" 2 "its replicas stay ready: the restarted agent probes them again (STATE/probes)"
like "$(call exp x)" "^exp job=" "the endpoint answers"

# ---- the service survives a restart of the server ----
before=$(api GET /v1/services/exp | jget '{replica_jobs}')
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
"$GANTRY" server --data "$WORK/data" "${STORE_ARGS[@]}" --listen "127.0.0.1:$PORT" --config "$WORK/cluster.yaml" --heartbeat 1 2>>"$WORK/server.log" &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_for 30 curl -sf "$GANTRY_SERVER/healthz"
ok $? "the server restarts on its store"
wait_for 30 ready_is exp 2
ok $? "the service is back with 2 ready replicas (the agent reports their readiness)"
is "$(api GET /v1/services/exp | jget '{replica_jobs}')" "$before" "the same replica jobs, same runs"
like "$(call exp x)" "^exp job=" "the endpoint answers"
"$GANTRY" services rm exp >/dev/null
wait_for 20 job_is "$id" cancelled
ok $? "gantry services rm: its replicas are cancelled"
done_testing
