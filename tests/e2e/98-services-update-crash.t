#!/usr/bin/env bash
# A service's rolling update, rollback and scale-down across a crash of the server
# (docs/services.md, "Across a crash of the server"): the server is killed (kill -9) in the
# middle of each, stays down until the node's fence has stopped every replica, and restarts on
# the same data. An earlier revision's replica goes only as the new revision's get ready
# (Kubernetes' Deployments): the fence stopped them all, so the old ones run again and serve
# until the update replaces them; the replicas above the replicas wanted (a scale-down) end
# when the node reports them fenced. The service converges to the replicas wanted, all of the
# current revision, and a client looping on the endpoint from its first ready replica on sees
# no failed request. Also, in an update stuck on a revision that never gets ready: an old
# replica that exits is restarted, not ended, and the endpoint keeps answering (before, each
# one that exited ended, until the endpoint answered 503 with none left); one that is surplus
# (the other old ones ready make the replicas wanted) ends. And, last, the restart backoff's
# reset after 30 s ready, which no other test waits for.
. "$(dirname "$0")/agent-lib.sh"
cat > "$WORK/cluster.yaml" <<'Y'
teams:
  - name: research
    quota: {gpus: 4}
Y
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent a1 3 "$WORK/a1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers (3 GPUs: 2 replicas and one more during an update)"

# The replica: "WORD job=ID inc=N pid=P" on any path; /healthz (its readiness) passes only once the
# file GATE exists ("-": at once), so a revision can be held unready.
cat > "$WORK/svc.py" <<'EOF'
import http.server, os, sys
port = int(os.environ["GANTRY_PORT"]); word = sys.argv[1]; gate = sys.argv[2]
job = os.environ.get("GANTRY_JOB_ID"); inc = os.environ.get("GANTRY_INCARNATION")
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        code = 200
        if self.path == "/healthz":
            code = 200 if gate == "-" or os.path.exists(gate) else 503
            body = "ok\n"
        else:
            body = "%s job=%s inc=%s pid=%d\n" % (word, job, inc, os.getpid())
        b = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", port), H).serve_forever()
EOF
PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)  # not a pyenv shim
cmd() { printf '["%s","%s","%s","%s"]' "$PY" "$WORK/svc.py" "$1" "$2"; }

svc_field() { api GET "/v1/services/$1" | jget "$2"; }
ready_is() { [ "$(svc_field "$1" '{ready}')" = "$2" ]; }
some_ready() { [ "$(svc_field web '{ready}')" -ge 1 ] 2>/dev/null; }
call() { curl -s -m 5 -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/services/$1/$2"; }
# replicas REV: "TOTAL COUNT" of web's replica jobs not ended, and of those of revision REV
replicas() { api GET /v1/services/web | perl -MJSON::PP -e 'my $r = decode_json(join "", <STDIN>)->{replica_jobs}; print scalar(@$r) . " " . scalar(grep { $_->{revision} == $ARGV[0] } @$r)' -- "$1"; }
# requeues ID: how many times job ID was requeued (its "requeued" events)
requeues() { api GET "/v1/jobs/$1/events" | grep -o '"requeued"' | wc -l | tr -d ' '; }
# stamp FILTER: web's replica jobs (not ended) that the Perl expression FILTER (on $_) picks,
# each as "ID:INCARNATION:REQUEUES"
stamp() { local e out=""; for e in $(api GET /v1/services/web | perl -MJSON::PP -e 'my $r = decode_json(join "", <STDIN>)->{replica_jobs}; print join(" ", map { "$_->{job}:$_->{incarnation}" } grep { eval $ARGV[0] } @$r)' -- "$1"); do out="$out $e:$(requeues "${e%%:*}")"; done; echo $out; }
# jobs_of REV: web's replica jobs of revision REV not ended, stamped
jobs_of() { stamp '$_->{revision} == '"$1"; }
# converged REV N: N replicas, all of revision REV, all ready, rollout complete
converged() { [ "$(replicas "$1")" = "$2 $2" ] && ready_is web "$2" && [ "$(svc_field web '{rollout}')" = complete ] && [ "$(svc_field web '{revision}')" = "$1" ]; }
replica_running() { api GET /v1/services/web | perl -MJSON::PP -e 'my $r = decode_json(join "", <STDIN>)->{replica_jobs}; exit !grep { $_->{revision} == $ARGV[0] && $_->{state} eq "running" } @$r' -- "$1"; }
# no replica process runs (the node's fence stopped them all)
fenced_all() { ! pgrep -f "$WORK/svc.py" >/dev/null; }
crash() {
  kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
  # down for longer than the node's lease: the fence stops every replica
  wait_for 30 fenced_all || { echo "Bail out! the node's fence did not stop the replicas"; exit 1; }
}
restart() {
  "$GANTRY" server --data "$WORK/data" "${STORE_ARGS[@]}" --listen "127.0.0.1:$PORT" --config "$WORK/cluster.yaml" --heartbeat 1 2>>"$WORK/server.log" &
  SERVER_PID=$!; PIDS+=("$SERVER_PID")
  wait_for 30 curl -sf "$GANTRY_SERVER/healthz" || { echo "Bail out! the server did not restart"; exit 1; }
}
# each ID:INC:REQUEUES of $1 ended cancelled with reason $2, was not requeued since, and ran
# no other incarnation
ended_not_requeued() {
  local e id inc n bad=""
  for e in $1; do
    IFS=: read -r id inc n <<< "$e"
    wait_for 30 job_is "$id" cancelled || bad="$bad $id:$(job_state "$id")"
    [ "$(api GET "/v1/jobs/$id" | jget '{end_reason}')" = "$2" ] || bad="$bad $id:reason=$(api GET "/v1/jobs/$id" | jget '{end_reason}')"
    [ "$(api GET "/v1/jobs/$id" | jget '{incarnation}')" = "$inc" ] || bad="$bad $id:ran-again"
    [ "$(requeues "$id")" = "$n" ] || bad="$bad $id:requeued"
  done
  echo "${bad:-none}"
}
# each ID:INC:REQUEUES of $1 ended cancelled with reason $2 (whether it ran again before or not)
ended_as() {
  local e id bad=""
  for e in $1; do
    id=${e%%:*}
    wait_for 30 job_is "$id" cancelled || bad="$bad $id:$(job_state "$id")"
    [ "$(api GET "/v1/jobs/$id" | jget '{end_reason}')" = "$2" ] || bad="$bad $id:reason=$(api GET "/v1/jobs/$id" | jget '{end_reason}')"
  done
  echo "${bad:-none}"
}
# A client that calls the endpoint in a loop until loop_stop (98-services.t's): one line a
# request, "TIME ANSWER CODE", in $WORK/$1.
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

submit '{"team":"research","kind":"service","name":"web","replicas":2,"gpus":1,"readiness":{"http":"/healthz","period":0.2},"command":'"$(cmd v1 -)"'}' >/dev/null
wait_for 30 converged 1 2
ok $? "a service of 2 replicas (revision 1) is ready"

# ---- a rolling update, the server killed in its middle ----
api PATCH /v1/services/web '{"spec":{"command":'"$(cmd v2 "$WORK/v2.go")"'}}' >/dev/null
is "$(cat "$WORK/status")" 200 "a rolling update to revision 2 is acknowledged"
wait_for 30 replica_running 2
ok $? "its first replica of revision 2 runs (not ready yet: the update is in its middle)"
old=$(jobs_of 1)
is "$(replicas 2)" "3 1" "2 replicas of revision 1 and 1 of revision 2"
crash
touch "$WORK/v2.go"  # revision 2's replicas get ready from now on
restart
wait_for 30 some_ready
ok $? "after the restart a replica is ready again"
loop_start update.loop
wait_for 90 converged 2 2
ok $? "the update converges: 2 replicas, both of revision 2, ready, rollout complete"
loop_stop
is "$(ended_as "$old" replaced)" none "the replicas of revision 1 ended, replaced by the update"
is "$(failed_requests update.loop)" 0 "no request failed from the first ready replica on ($(requests update.loop) requests: $(grep -c ' v1 job=' "$WORK/update.loop") answered by revision 1, $(grep -c ' v2 job=' "$WORK/update.loop") by revision 2)"
for i in 1 2 3 4; do call web x; done > "$WORK/answers"
is "$(grep -c '^v2 ' "$WORK/answers")" 4 "every answer is revision 2's"

# ---- a rollback, the server killed right after it is acknowledged ----
api PATCH /v1/services/web '{"spec":{"command":'"$(cmd v3 "$WORK/v3.go")"'}}' >/dev/null
is "$(cat "$WORK/status")" 200 "an update to revision 3 (whose replicas never get ready) is acknowledged"
wait_for 30 replica_running 3
ok $? "a replica of revision 3 runs, not ready"
# ---- the update is stuck: an old replica that exits is restarted, the endpoint keeps answering ----
# (the case of Kubernetes' Deployment semantics: revision 2's replicas are not surplus while
# none of revision 3 is ready)
loop_start stuck.loop
for round in 1 2; do
  victim=$(call web x)
  vjob=$(printf '%s' "$victim" | sed 's/.* job=\([0-9]*\) .*/\1/'); vpid=$(printf '%s' "$victim" | sed 's/.*pid=//')
  IFS=: read -r _ vinc vreq <<< "$(stamp '$_->{job} == '"$vjob")"
  kill -9 "$vpid"
  vback() { [ "$(api GET "/v1/jobs/$vjob" | jget '{incarnation}')" -gt "$vinc" ] 2>/dev/null && ready_is web 2; }
  wait_for 30 vback
  ok $? "round $round: a replica of revision 2 (job $vjob) killed while the update to revision 3 is stuck runs again and is ready"
  is "$(job_state "$vjob"):$(requeues "$vjob")" "running:$((vreq + 1))" "round $round: it was requeued (restarted), not ended"
done
loop_stop
is "$(replicas 2)" "3 2" "2 replicas of revision 2 serve beside the unready one of revision 3"
is "$(failed_requests stuck.loop)" 0 "no request failed meanwhile ($(requests stuck.loop) requests)"
is "$(grep -c ' v2 job=' "$WORK/stuck.loop")" "$(requests stuck.loop)" "every answer was revision 2's"
# ---- a surplus old replica still ends: scaled to 1, the other old one ready makes it ----
api PATCH /v1/services/web '{"replicas":1}' >/dev/null
is "$(cat "$WORK/status")" 200 "a scale to 1 (the update still stuck) is acknowledged"
victim=$(call web x)
vjob=$(printf '%s' "$victim" | sed 's/.* job=\([0-9]*\) .*/\1/'); vpid=$(printf '%s' "$victim" | sed 's/.*pid=//')
vstamp=$(stamp '$_->{job} == '"$vjob")
kill -9 "$vpid"
wait_for 30 job_is "$vjob" cancelled
ok $? "a surplus replica of revision 2 (job $vjob) that exits ends"
is "$(ended_not_requeued "$vstamp" replaced)" none "it ended replaced: not requeued, not restarted"
like "$(cat "$WORK/server.log")" "replica [0-9] \(job $vjob, revision 2\) ends: on node a1, .*revision 3 replaces" "the server's log says why it ended"
is "$(replicas 2)" "2 1" "1 replica of revision 2 serves beside the unready one of revision 3"
is "$(call web x | cut -d' ' -f1)" v2 "the endpoint answers (revision 2)"
old2=$(jobs_of 2); old3=$(jobs_of 3)
api PATCH /v1/services/web '{"rollback":true}' >/dev/null
is "$(cat "$WORK/status")" 200 "a rollback (revision 4: revision 2's spec) is acknowledged"
crash
restart
is "$(svc_field web '{revision}')" 4 "after the restart the service is at revision 4"
wait_for 30 some_ready
ok $? "a replica is ready again"
loop_start rollback.loop
wait_for 90 converged 4 1
ok $? "the rollback converges: 1 replica of revision 4, ready, rollout complete"
loop_stop
is "$(ended_as "$old3" replaced)" none "the broken replica of revision 3 ended, replaced"
is "$(ended_as "$old2" replaced)" none "the replica of revision 2 ended, replaced"
is "$(failed_requests rollback.loop)" 0 "no request failed from the first ready replica on ($(requests rollback.loop) requests)"
is "$(grep -c ' v3 job=' "$WORK/rollback.loop")" 0 "no request went to the rolled back revision"

# ---- a scale-down, the server killed right after it is acknowledged ----
api PATCH /v1/services/web '{"replicas":3}' >/dev/null
wait_for 30 converged 4 3
ok $? "scaled to 3 replicas, all ready"
keep=$(stamp '$_->{replica} == 0'); extra=$(stamp '$_->{replica} > 0')
api PATCH /v1/services/web '{"replicas":1}' >/dev/null
is "$(cat "$WORK/status")" 200 "a scale to 1 is acknowledged"
crash
restart
wait_for 60 converged 4 1
ok $? "the service converges to 1 ready replica"
is "$(ended_not_requeued "$extra" scaled_down)" none "the replicas above the one wanted ended (scaled_down): not requeued"
IFS=: read -r kid kinc _ <<< "$keep"
is "$(api GET "/v1/jobs/$kid" | jget '{incarnation}')" "$((kinc + 1))" "replica 0, which the service still wants, runs again (its next incarnation)"
sleep 2  # some turns of the scheduler with the service converged
is "$(replicas 4)" "1 1" "and it stays at 1 replica"
api DELETE /v1/services/web >/dev/null

# ---- the restart backoff starts over once a replica stayed ready for 30 s ----
# (docs/services.md, "What keeps it running"; no other test waits the 30 s.) Its first two
# runs exit at once (restarts 1 and 2, backoffs 1 and 2 s), the third serves.
submit '{"team":"research","kind":"service","name":"flaky","replicas":1,"gpus":0,"readiness":{"http":"/healthz","period":0.2},"command":["sh","-c","[ \"$GANTRY_INCARNATION\" -ge 3 ] && exec '"$PY"' '"$WORK"'/svc.py flaky -; exit 3"]}' >/dev/null
flaky_at() { [ "$(api GET /v1/services/flaky | jget '{replica_jobs}[0]{restarts}')" = "$1" ] && ready_is flaky "$2"; }
wait_for 30 flaky_at 2 1
ok $? "a replica that exited twice serves on its third run (restarts 2)"
t_ready=$SECONDS
wait_for 40 flaky_at 0 1
ok $? "once it has stayed ready for 30 s its restart count starts over (restarts 0)"
t_reset=$SECONDS
# seen ready no earlier than it was, the reset no later than it came: a lower bound, with 2 s
# of slack for the observation of readiness
ok $([ $((t_reset - t_ready)) -ge 28 ] && echo 0 || echo 1) "not before (reset seen $((t_reset - t_ready)) s after it was seen ready; the rule says 30 s)"
done_testing
