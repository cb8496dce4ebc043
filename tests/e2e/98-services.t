#!/usr/bin/env bash
# Services (docs/services.md) with a real server and two agents, each in its own network
# namespace: a service of 2 replicas (a small HTTP server written below) answers through its
# endpoint; killing one replica's process restarts it while the other keeps answering (and the
# time until it serves again is printed); a failing liveness probe restarts a replica; a
# rolling update changes the answer with no failed request from a client looping throughout,
# and a rollback brings the old answer back; a production-class service keeps its GPUs while
# lower-class batch jobs queue; a lost node moves its replica to the other node.
. "$(dirname "$0")/agent-lib.sh"
need_netns
printf 'teams:\n  - name: research\n    quota: {gpus: 4}\n' > "$WORK/cluster.yaml"
netns_agents s --heartbeat 1
ok $? "both agents register from their namespaces"
export GANTRY_TOKEN=$ADMIN

# The replica: answers "WORD job=ID inc=N pid=P" on any path, "ok" on /healthz, and 500 on
# /alive once the file sick.<job id> exists (its liveness probe).
cat > "$WORK/svc.py" <<'EOF'
import http.server, os, sys
port = int(os.environ["GANTRY_PORT"]); word = sys.argv[1]; work = sys.argv[2]
job = os.environ.get("GANTRY_JOB_ID"); inc = os.environ.get("GANTRY_INCARNATION")
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        code = 200
        if self.path == "/healthz":
            body = "ok\n"
        elif self.path == "/headers":
            body = "auth=%s user=%s\n" % (self.headers.get("Authorization", "none"), self.headers.get("X-Gantry-User", "none"))
        elif self.path == "/alive":
            code = 500 if os.path.exists(os.path.join(work, "sick." + str(job))) else 200
            body = "alive\n"
        else:
            body = "%s job=%s inc=%s pid=%d\n" % (word, job, inc, os.getpid())
        b = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", port), H).serve_forever()
EOF
PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)  # not a pyenv shim: the job runs without its shell setup

svc_field() { api GET "/v1/services/$1" | jget "$2"; }
ready_is() { [ "$(svc_field "$1" '{ready}')" = "$2" ]; }
call() { curl -s -m 5 -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/services/$1/$2"; }
# A client that calls the endpoint in a loop until loop_stop: one line a request, "TIME
# ANSWER CODE" (ANSWER "-" when none), in $WORK/$1.
loop_start() {
  rm -f "$WORK/loop.stop"
  ( while [ ! -f "$WORK/loop.stop" ]; do
      t=$(date +%s.%N)
      r=$(curl -s -m 5 -w ' %{http_code}' -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/services/web/q" | tr '\n' ' ')
      echo "$t ${r:--}"
    done > "$WORK/$1" ) &
  LOOP_PID=$!
}
loop_stop() { touch "$WORK/loop.stop"; wait "$LOOP_PID"; }
failed_requests() { awk '$NF != 200' "$WORK/$1" | wc -l | tr -d ' '; }
requests() { wc -l < "$WORK/$1" | tr -d ' '; }

# ---- a service of 2 replicas answers through its endpoint ----
web='{"team":"research","kind":"service","name":"web","replicas":2,"gpus":1,"readiness":{"http":"/healthz","period":0.2},"liveness":{"http":"/alive","period":0.3,"failures":2},"command":["'"$PY"'","'"$WORK"'/svc.py","v1","'"$WORK"'"]}'
id=$(submit "$web")
is "$(cat "$WORK/status")" 201 "a service of 2 replicas is submitted (201)"
api POST /v1/jobs "$web" >/dev/null
is "$(cat "$WORK/status")" 409 "a second service of the same name is refused (409)"
wait_for 30 ready_is web 2
ok $? "both replicas become ready"
is "$(api GET "/v1/jobs/$id" | jget '{endpoint}')" "$GANTRY_SERVER/v1/services/web/" "GET /v1/jobs/ID gives the service's endpoint"
is "$(api GET "/v1/jobs/$id" | jget '{kind}')" service "and its kind"
for i in 1 2 3 4 5 6; do call web "hello?i=$i"; done > "$WORK/answers"
is "$(grep -c '^v1 job=' "$WORK/answers")" 6 "the endpoint answers with the replicas' answers"
is "$(sed 's/.*pid=//' "$WORK/answers" | sort -u | wc -l | tr -d ' ')" 2 "both replicas answer (balanced)"
no_token=$(curl -s -o /dev/null -w '%{http_code}' "$GANTRY_SERVER/v1/services/web/hello")
is "$no_token" 401 "the endpoint needs a token"
is "$(call web headers)" "auth=none user=admin" "the replica never sees the caller's Gantry token (X-Gantry-User names the caller)"
list=$("$GANTRY" services)
like "$list" "web +research +2/2 +1 +2 " "gantry services: ready/wanted, revision, GPUs"
like "$list" "$GANTRY_SERVER/v1/services/web/" "gantry services: the endpoint"
is "$(api GET "/v1/jobs/$id" | jget '{time_limit_s}')" 0 "a replica has no time limit"

# ---- a killed replica restarts while the other keeps answering ----
victim=$(head -n 1 "$WORK/answers")
vjob=$(printf '%s' "$victim" | sed 's/.* job=\([0-9]*\) .*/\1/')
vpid=$(printf '%s' "$victim" | sed 's/.*pid=//')
loop_start kill.loop
sleep 0.5
t_kill=$(date +%s.%N)
kill -9 "$vpid"
served_again() { grep -q "job=$vjob inc=2 " "$WORK/kill.loop"; }
wait_for 40 served_again
ok $? "the killed replica (job $vjob) restarts and serves again (incarnation 2)"
loop_stop
t_back=$(grep -m 1 "job=$vjob inc=2 " "$WORK/kill.loop" | awk '{print $1}')
echo "# a crashed replica served again $(awk -v a="$t_kill" -v b="$t_back" 'BEGIN{printf "%.2f", b - a}') s after its process was killed (restart backoff 1 s)"
is "$(failed_requests kill.loop)" 0 "no request failed meanwhile ($(requests kill.loop) requests)"
like "$(api GET "/v1/jobs/$vjob" | jget '{restarts}')" '^[1-9]' "the replica counts its restart"
like "$(api GET "/v1/jobs/$vjob/events")" '"requeued".*"reason":"restart"' "its event says it restarts"

# ---- a failing liveness probe restarts a replica ----
lj=$(api GET /v1/services/web | jget '{replica_jobs}[0]{job}')
linc=$(api GET "/v1/jobs/$lj" | jget '{incarnation}')
touch "$WORK/sick.$lj"
restarted() { [ "$(api GET "/v1/jobs/$lj" | jget '{incarnation}')" -gt "$linc" ]; }
wait_for 40 restarted
ok $? "a replica whose liveness probe fails is stopped and started again"
like "$(cat "$WORK"/agent*.log)" "job $lj incarnation $linc failed its liveness probe" "the agent says why it stopped it"
rm -f "$WORK/sick.$lj"
wait_for 30 ready_is web 2
ok $? "both replicas are ready again"

# ---- a rolling update changes the answer with no failed request ----
loop_start update.loop
sleep 0.5
"$GANTRY" update web -- "$PY" "$WORK/svc.py" v2 "$WORK" >/dev/null
ok $? "gantry update web starts a rolling update"
updated() { [ "$(svc_field web '{rollout}')" = complete ] && [ "$(svc_field web '{ready}')" = 2 ] && [ "$(svc_field web '{revision}')" = 2 ]; }
wait_for 60 updated
ok $? "the update completes: revision 2, 2 replicas ready"
sleep 0.5
loop_stop
is "$(failed_requests update.loop)" 0 "no request failed during the update ($(requests update.loop) requests)"
like "$(head -n 3 "$WORK/update.loop")" " v1 job=" "the client saw the old answer first"
like "$(tail -n 2 "$WORK/update.loop")" " v2 job=" "and the new answer at the end"
for i in 1 2 3 4; do call web x; done > "$WORK/answers2"
is "$(grep -c '^v2 ' "$WORK/answers2")" 4 "every answer is the new one now"
# one at a time: never fewer than 2 ready replicas of either revision answering
is "$(awk '$NF == 200' "$WORK/update.loop" | wc -l | tr -d ' ')" "$(requests update.loop)" "every request of the loop was answered 200"

# ---- rollback ----
loop_start rollback.loop
"$GANTRY" rollback web >/dev/null
ok $? "gantry rollback web"
rolled() { [ "$(svc_field web '{rollout}')" = complete ] && [ "$(svc_field web '{revision}')" = 3 ] && [ "$(svc_field web '{ready}')" = 2 ]; }
wait_for 60 rolled
ok $? "the rollback completes (revision 3)"
loop_stop
is "$(failed_requests rollback.loop)" 0 "no request failed during the rollback"
is "$(call web x | cut -d' ' -f1)" v1 "the old answer is back"

# ---- a production service keeps its GPUs while lower-class batch jobs queue ----
prod='{"team":"research","kind":"service","name":"prod","priority_class":"production","replicas":2,"gpus":1,"command":["'"$PY"'","'"$WORK"'/svc.py","prod","'"$WORK"'"]}'
pid_=$(submit "$prod")
wait_for 30 ready_is prod 2
ok $? "a production-class service of 2 replicas is ready (the cluster's 4 GPUs are all held)"
pjobs=$(api GET /v1/services/prod | jget '{replica_jobs}')
b1=$(submit '{"team":"research","gpus":2,"priority_class":"experimental","command":["sleep","600"]}')
b2=$(submit '{"team":"research","gpus":1,"priority_class":"normal","command":["sleep","600"]}')
reasoned() { [ "$(api GET "/v1/jobs/$b1" | jget '{pending_reason}')" != none ] && [ "$(api GET "/v1/jobs/$b2" | jget '{pending_reason}')" != none ]; }
wait_for 20 reasoned
sleep 3 # some scheduler passes with the batch jobs waiting
is "$(job_state "$b1") $(job_state "$b2")" "pending pending" "the batch jobs of lower classes queue"
is "$(api GET /v1/services/prod | jget '{replica_jobs}')" "$pjobs" "the production service's replicas kept their GPUs (same jobs, same incarnations, still ready)"
api DELETE "/v1/jobs/$b1" >/dev/null; api DELETE "/v1/jobs/$b2" >/dev/null

# ---- usage counts the replicas' GPU-hours ----
like "$("$GANTRY" usage -o json)" '"gpu_hours": *0\.[0-9]*[1-9]' "gantry usage counts the services' GPU-hours"
"$GANTRY" services rm web >/dev/null
ok $? "gantry services rm web"
web_gone() { [ "$(job_state "$id")" = cancelled ]; }
wait_for 20 web_gone
ok $? "its replicas are cancelled"

# ---- a lost node moves its replica (a production replica: neither preemptible nor
# checkpointable, so only its being a service's replica requeues it) ----
rj=$(api GET /v1/services/prod | jget '{replica_jobs}[0]{job}')
node=$(api GET "/v1/jobs/$rj" | jget '{placement}[0]{node}')
ip link set "$(node_link "${node#n}")" down
moved() { local n; n=$(api GET "/v1/jobs/$rj" | jget '{placement}[0]{node}'); [ "$n" != "$node" ] && [ "$n" != null ] && [ "$(api GET "/v1/jobs/$rj" | jget '{ready}')" = true ]; }
wait_for 60 moved
ok $? "node $node is lost: replica job $rj runs again on the other node and is ready"
wait_for 30 ready_is prod 2
ok $? "the service has 2 ready replicas again"
like "$(call prod x)" "^prod job=" "its endpoint answers"
ip link set "$(node_link "${node#n}")" up
"$GANTRY" services rm prod >/dev/null
ok $? "gantry services rm prod"
gone() { [ "$(job_state "$pid_")" = cancelled ]; }
wait_for 20 gone
ok $? "its replicas are cancelled"
done_testing
