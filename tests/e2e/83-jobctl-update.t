#!/usr/bin/env bash
# gantry requeue (Slurm's scontrol requeue / requeuehold) and gantry update (scontrol update)
# with a real server and agent: a requeued job stops with its checkpoint signal and comes back
# as a new incarnation, its run kept in earlier_runs; an update of a pending job is checked as
# a submission is, reaches the scheduler, keeps the job's age, and is refused for a running job,
# another's job, or a bad value.
. "$(dirname "$0")/agent-lib.sh"
# A declared node whose agent never comes: 4-GPU jobs may wait (a job no known node could
# ever hold is refused at submission, tests/e2e/86-errors.t) but never run.
cat > "$WORK/cluster.yaml" <<'Y'
nodes:
  - {name: spare, gpus: 4, gpu_type: H100-80GB}
teams:
  - name: research
    quota: {gpus: 8}
  - name: product
    quota: {gpus: 2}
    limit: {gpus: 2}
Y
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 2 "$WORK/n1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers with 2 GPUs"
alice=$("$GANTRY" token create --user alice --role member --team research)
dave=$("$GANTRY" token create --user dave --role member --team research)
bob=$("$GANTRY" token create --user bob --role member --team product)
st() { api GET "/v1/jobs/$1" | jget "{$2}"; }
code() { local t=$1; shift; curl -s -o "$WORK/cbody" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $t" ${3:+-d "$3"} "$GANTRY_SERVER$2"; }
free2() { [ "$(curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/nodes" | grep -o '"gpus_free":2')" ]; }

# ---- requeue: stopped as a preemption is (checkpoint signal), back in the queue ----
cat > "$WORK/job.sh" <<'S'
#!/bin/sh
echo "start $GANTRY_INCARNATION" >> "$LOG"
trap 'echo "USR1 $GANTRY_INCARNATION" >> "$LOG"; exit 0' USR1
while :; do sleep 0.1; done
S
chmod +x "$WORK/job.sh"
r=$(GANTRY_TOKEN=$alice "$GANTRY" submit --gpus 1 --checkpoint SIGUSR1 -e LOG="$WORK/runs" -- "$WORK/job.sh" | awk '{print $3}')
wait_for 20 grep -q "start 1" "$WORK/runs"
ok $? "the job runs (incarnation 1)"
is "$(code "$dave" POST "/v1/jobs/$r/requeue")" 403 "a teammate may not requeue alice's job"
is "$(code "$bob" POST "/v1/jobs/$r/requeue")" 404 "another team's member does not see it"
like "$(GANTRY_TOKEN=$alice "$GANTRY" requeue "$r")" "^Requeued job $r$" "alice requeues it"
wait_for 20 grep -q "USR1 1" "$WORK/runs"
ok $? "it got its checkpoint signal, SIGUSR1"
wait_for 20 grep -q "start 2" "$WORK/runs"
ok $? "it runs again, incarnation 2"
wait_for 20 job_is "$r" running
is "$(st "$r" incarnation)" 2 "the job's incarnation is 2"
is "$(st "$r" earlier_runs | jget '[0]{incarnation}')" 1 "earlier_runs keeps run 1"
is "$(st "$r" end_reason)" null "it did not end"
p=$(submit '{"team":"research","gpus":4,"command":["true"]}')
r2=$("$GANTRY" requeue "$p" 2>&1); rc=$?
is "$rc" 1 "requeueing a pending job fails"
like "$r2" "job $p is pending: only a running job can be requeued" "... with a clear message"
is "$(code "$ADMIN" POST "/v1/jobs/$p/requeue")" 409 "... a 409 over HTTP"

# ---- requeue --hold: back in the queue, held ----
like "$("$GANTRY" requeue --hold "$r")" "^Requeued job $r$" "gantry requeue --hold"
wait_for 20 grep -q "USR1 2" "$WORK/runs"
ok $? "it got its signal again"
wait_for 20 job_is "$r" pending
ok $? "it is pending"
is "$(st "$r" pending_reason) $(st "$r" held_by)" "held admin" "held by the admin who requeued it"
wait_for 20 free2
ok $? "its GPU is free"
n=$(submit '{"team":"research","gpus":2,"command":["sleep","300"]}')
wait_for 20 job_is "$n" running
ok $? "a later job takes both GPUs"
is "$(job_state "$r")" pending "the held job did not start"
"$GANTRY" cancel "$n" >/dev/null
"$GANTRY" release "$r" >/dev/null
wait_for 20 grep -q "start 3" "$WORK/runs"
ok $? "released, it runs again: incarnation 3"
is "$(st "$r" earlier_runs | jget '[1]{incarnation}')" 2 "earlier_runs keeps run 2 too"

# ---- update of a pending job ----
is "$(code "$ADMIN" PATCH "/v1/jobs/$r" '{"gpus":2}')" 409 "a running job can't be updated"
like "$(cat "$WORK/cbody")" "job $r is running: only a pending job can be updated" "... it says why"
u=$(GANTRY_TOKEN=$alice "$GANTRY" submit --gpus 4 --name big -- sleep 300 | awk '{print $3}')
t0=$(st "$u" submit_time)
evaluated() { [ "$(st "$u" pending_reason)" != none ]; }
wait_for 20 evaluated
like "$(st "$u" pending_reason)" "no_fit|capacity" "a 4-GPU job waits on a 2-GPU node"
out=$(GANTRY_TOKEN=$alice "$GANTRY" update "$u" --time 2h --name small --class production --gpu-type H100-80GB --nodes 1 --after "$r")
like "$out" "^Updated job $u$" "gantry update"
is "$(st "$u" time_limit_s) $(st "$u" name) $(st "$u" priority_class) $(st "$u" gpu_type) $(st "$u" nodes) $(st "$u" dependencies)" \
   "7200 small production [\"H100-80GB\"] 1 [{\"job\":$r,\"type\":\"afterok\"}]" "time, name, class, GPU type, nodes and after_ok changed"
is "$(st "$u" pending_reason)" dependency "it now waits for job $r"
is "$(code "$alice" PATCH "/v1/jobs/$u" "{\"dependencies\":[{\"type\":\"afterany\",\"job\":\"$r\"}]}")" 200 "a dependency given as the string \"ID\""
is "$(st "$u" dependencies)" "[{\"job\":$r,\"type\":\"afterany\"}]" "... is kept as the id, as its stored document has it (it read \"ID\" until a restart)"
GANTRY_TOKEN=$alice "$GANTRY" update "$u" --dependency "" >/dev/null
is "$(st "$u" dependencies)" "[]" "--dependency '' clears the dependencies"
is "$(st "$u" submit_time)" "$t0" "it keeps its submit time (its age)"
is "$(job_state "$u")" pending "still 4 GPUs: it waits"
"$GANTRY" cancel "$r" >/dev/null
wait_for 20 free2
GANTRY_TOKEN=$alice "$GANTRY" update "$u" --gpus 1 >/dev/null
wait_for 20 job_is "$u" running
ok $? "updated to 1 GPU, the scheduler starts it"
is "$(st "$u" gpus_milli)" 1000 "with 1 GPU"
"$GANTRY" cancel "$u" >/dev/null

# ---- refusals: each a 4xx, the job unchanged ----
w=$(GANTRY_TOKEN=$alice "$GANTRY" submit --gpus 4 --name keep --time 1h -- sleep 300 | awk '{print $3}')
before=$(api GET "/v1/jobs/$w" | perl -MJSON::PP -e 'my $d = decode_json(join "", <STDIN>); delete @$d{qw(pending_reason pending_message estimated_start blocked_by)}; print JSON::PP->new->canonical->encode($d)')
check() { is "$(code "${3:-$ADMIN}" PATCH "/v1/jobs/$w" "$1")" "$2" "refused: $4"; like "$(cat "$WORK/cbody")" "$5" "... $4: the message"; }
check '{"gpus":-1}' 400 "" "negative GPUs" "must not be negative"
check '{"gpus":1.5}' 400 "" "a fraction above one" "gpus"
check '{"time_limit":"soon"}' 400 "" "a bad time limit" "time_limit"
check '{"priority_class":"vip"}' 400 "" "an unknown class" "priority class 'vip' does not exist"
check '{"gpu_type":"Z100"}' 400 "" "an unknown GPU type" "no node offers GPU type 'Z100'"
check '{"gpus":3,"nodes":2}' 400 "" "a gang that does not divide" "nodes must each get the same"
check '{"name":"a b"}' 400 "" "a bad name" "'name' must be"
check '{"after_ok":[99999]}' 400 "" "an unknown dependency" "dependencies: job 99999 does not exist"
check '{"command":["rm"]}' 400 "" "a field an update can't change" "'command' can't be changed by an update"
check '{}' 400 "" "an empty update" "fields to change"
check '{"gpus":1}' 403 "$dave" "a teammate's update" "may not update job $w of user alice"
check '{"gpus":1}' 404 "$bob" "another team's update" "does not exist"
bj=$(GANTRY_TOKEN=$bob "$GANTRY" submit --gpus 1 -- true | awk '{print $3}')
check "{\"after_ok\":[$bj]}" 400 "$alice" "a dependency on a job she can't see" "dependencies: job $bj does not exist"
after=$(api GET "/v1/jobs/$w" | perl -MJSON::PP -e 'my $d = decode_json(join "", <STDIN>); delete @$d{qw(pending_reason pending_message estimated_start blocked_by)}; print JSON::PP->new->canonical->encode($d)')
is "$after" "$before" "no refused update changed the job"
# ---- an update to a size that could never run is refused as such a submission is ----
bh=$(GANTRY_TOKEN=$bob "$GANTRY" submit --hold --gpus 1 -- sleep 300 | awk '{print $3}')
is "$(code "$bob" PATCH "/v1/jobs/$bh" '{"gpus":4}')" 400 "refused: over its team's limit"
like "$(cat "$WORK/cbody")" "team product may hold at most 2" "... with the numbers"
is "$(st "$bh" gpus_milli)" 1000 "... and the job is unchanged"
is "$(code "$alice" PATCH "/v1/jobs/$w" '{"gpus":64}')" 400 "refused: more GPUs than the cluster has"
like "$(cat "$WORK/cbody")" "the job asks for 64 GPUs; the cluster has 6" "... with the numbers"
is "$(st "$w" gpus_milli)" 4000 "... and the job is unchanged"
"$GANTRY" cancel "$bh" >/dev/null
e=$(GANTRY_TOKEN=$alice "$GANTRY" update "$w" --gpus -1 2>&1); rc=$?
is "$rc" 1 "the CLI exits 1 on a refused update"
like "$e" "gantry update: 'gpus' must not be negative" "and prints the server's message"
like "$("$GANTRY" update "$w" 2>&1)" "nothing to change" "gantry update with no field is a usage error"
e=$("$GANTRY" update "$w" --time soon 2>&1); rc=$?
is "$rc" 2 "gantry update --time soon is a usage error"
like "$e" "gantry update: --time: " "... that names --time"
GANTRY_TOKEN=$alice "$GANTRY" update "$w" --time 1-00:00:00 >/dev/null
is "$(st "$w" time_limit_s)" 86400 "--time in Slurm's D-HH:MM:SS"
GANTRY_TOKEN=$alice "$GANTRY" update "$w" -l exp=a1 -l tier=gold >/dev/null
is "$(st "$w" labels)" '{"exp":"a1","tier":"gold"}' "-l K=V sets labels"
GANTRY_TOKEN=$alice "$GANTRY" update "$w" -l exp- -l stage=2 >/dev/null
is "$(st "$w" labels)" '{"stage":"2","tier":"gold"}' "-l K- removes one, the others merge"
is "$(code "$alice" PATCH "/v1/jobs/$w" '{"labels":{"bad key":"x"}}')" 400 "a bad label key is refused"
is "$(st "$w" labels)" '{"stage":"2","tier":"gold"}' "... and changes nothing"

# ---- an array's id updates all its pending tasks (scontrol update JobId=ARRAY_ID) ----
arr=$(GANTRY_TOKEN=$alice "$GANTRY" submit --gpus 4 --array 0-2 -- sleep 300 | awk '{print $4}')
tasks="$arr $((arr + 1)) $((arr + 2))"
out=$(GANTRY_TOKEN=$alice "$GANTRY" update "$arr" -t 30 --name sweep)
is "$out" "Updated 3 jobs of array $arr: $tasks" "gantry update ARRAY_ID updates every pending task"
is "$(for t in $tasks; do st "$t" time_limit_s; echo " $(st "$t" name)"; done | sort -u)" "1800 sweep" "each has the new time limit (-t 30: Slurm's minutes) and name"
like "$(GANTRY_TOKEN=$alice "$GANTRY" update "${arr}_0" --name first)" "^Updated job ${arr}_0$" "gantry update ARRAY_INDEX: the first task by its N_M name"
is "$(st "$arr" name) $(st "$((arr + 1))" name)" "first sweep" "... only that task (N_0 is not the array's id)"
is "$(code "$alice" PATCH "/v1/jobs/$arr" '{"gpus":-1}')" 200 "a refused value for an array answers with its tasks' errors"
is "$(jget '{errors}' < "$WORK/cbody" | perl -MJSON::PP -e 'print scalar @{decode_json(<STDIN>)}')" 3 "... one per task"
is "$(st "$arr" gpus_milli)" 4000 "... and changes none"
"$GANTRY" cancel "$arr" >/dev/null

# ---- an array's id requeues all its running tasks ----
"$GANTRY" cancel "$w" >/dev/null
wait_for 20 free2
ra=$(GANTRY_TOKEN=$alice "$GANTRY" submit --gpus 1 --array 0-1 -- sleep 300 | awk '{print $4}')
both_run() { job_is "$ra" running && job_is "$((ra + 1))" running; }
wait_for 20 both_run
ok $? "both tasks of a 2-task array run"
out=$(GANTRY_TOKEN=$alice "$GANTRY" requeue "$ra")
is "$out" "Requeued 2 jobs of array $ra: $ra $((ra + 1))" "gantry requeue ARRAY_ID requeues every running task"
second() { [ "$(st "$ra" incarnation)" = 2 ] && [ "$(st "$((ra + 1))" incarnation)" = 2 ] && both_run; }
wait_for 30 second
ok $? "both run again, incarnation 2"
like "$(GANTRY_TOKEN=$alice "$GANTRY" requeue "${ra}_1")" "^Requeued job ${ra}_1$" "gantry requeue ARRAY_INDEX requeues one task"
third() { [ "$(st "$((ra + 1))" incarnation)" = 3 ] && job_is "$((ra + 1))" running; }
wait_for 30 third
ok $? "... it runs again, incarnation 3"
is "$(st "$ra" incarnation)" 2 "... the other task was left alone"
"$GANTRY" cancel "$ra" >/dev/null
done_testing
