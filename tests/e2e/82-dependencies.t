#!/usr/bin/env bash
# Dependencies as Slurm users write them (issue 12): afterok, afterany, afternotok, on jobs, on
# a whole array (its id) and on one task (N_M), singleton, through `gantry submit --dependency`
# and the API's `dependencies`; each type's outcome when the job it names succeeds and when it
# fails. And the bug: a dependent on a job that had ALREADY failed (at its submission, or in a
# store a restarted server reads) stayed pending for ever; it is cancelled dependency_failed.
. "$(dirname "$0")/agent-lib.sh"
research_cluster
start_server --config "$WORK/cluster.yaml"
run_agent n1 8 "$WORK/n1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"
G() { "$GANTRY" "$@"; }
jfield() { api GET "/v1/jobs/$1" | jget "{$2}"; }
# ends JOB: "state/end_reason"
ends() { echo "$(jfield "$1" state)/$(jfield "$1" end_reason)"; }
ended_as() { [ "$(ends "$1")" = "$2" ]; }
# ctl NAME CODE: a command that waits for $WORK/NAME.go (the index appended in an array), then
# exits CODE (an array task exits 1 when its index is in $WORK/NAME.fail)
ctl() { echo "while [ ! -e $WORK/$1.go\${GANTRY_ARRAY_INDEX:-} ]; do sleep 0.05; done; grep -qx \"\${GANTRY_ARRAY_INDEX:-x}\" $WORK/$1.fail 2>/dev/null && exit 1; exit $2"; }
sub() { G submit -t research -g 0.1 "$@" 2>&1 | sed -n 's/^Submitted job \(array \)\{0,1\}\([0-9]*\).*/\2/p'; }

# ---- each type, on a job that succeeds and on one that fails ----
okj=$(sub -n okj -- sh -c "$(ctl okj 0)")
bad=$(sub -n bad -- sh -c "$(ctl bad 1)")
ok_ok=$(sub --dependency "afterok:$okj" -- true)
ok_bad=$(sub --dependency "afterok:$bad" -- true)
any_ok=$(sub --dependency "afterany:$okj" -- true)
any_bad=$(sub --dependency "afterany:$bad" -- true)
not_ok=$(sub --dependency "afternotok:$okj" -- true)
not_bad=$(sub --dependency "afternotok:$bad" -- true)
both=$(sub --dependency "afterok:$okj:$okj,afterany:$bad" -- true)
ok $([ -n "$ok_ok" ] && [ -n "$not_bad" ] && [ -n "$both" ] && echo 0 || echo 1) "gantry submit --dependency afterok:ID / afterany:ID / afternotok:ID / afterok:A:B,afterany:C"
is "$(api GET "/v1/jobs/$both" | jget '{dependencies}')" "[{\"job\":$okj,\"type\":\"afterok\"},{\"job\":$okj,\"type\":\"afterok\"},{\"job\":$bad,\"type\":\"afterany\"}]" "the dependencies as stored and shown"
wait_for 20 job_is "$okj" running && wait_for 20 job_is "$bad" running
ok $? "the two jobs they name run"
for d in "$ok_ok" "$any_ok" "$not_ok" "$any_bad" "$both"; do
  is "$(jfield "$d" state)/$(jfield "$d" pending_reason)" "pending/dependency" "job $d waits with reason dependency"
done
like "$(jfield "$not_bad" pending_message)" "afternotok" "the message names the type"
touch "$WORK/okj.go"
wait_for 20 ended_as "$ok_ok" succeeded/completed
ok $? "afterok on a job that succeeded: runs"
wait_for 20 ended_as "$any_ok" succeeded/completed
ok $? "afterany on a job that succeeded: runs"
wait_for 20 ended_as "$not_ok" cancelled/dependency_failed
ok $? "afternotok on a job that succeeded: cancelled dependency_failed"
is "$(jfield "$ok_bad" state)/$(jfield "$any_bad" state)/$(jfield "$both" state)" "pending/pending/pending" "those on the running job still wait"
touch "$WORK/bad.go"
wait_for 20 ended_as "$ok_bad" cancelled/dependency_failed
ok $? "afterok on a job that failed: cancelled dependency_failed"
like "$(jfield "$ok_bad" end_message)" "afterok dependencies failed" "  the message says why"
wait_for 20 ended_as "$any_bad" succeeded/completed
ok $? "afterany on a job that failed: runs"
wait_for 20 ended_as "$not_bad" succeeded/completed
ok $? "afternotok on a job that failed: runs"
wait_for 20 ended_as "$both" succeeded/completed
ok $? "afterok:A:A,afterany:B (A succeeded, B failed): runs"

# ---- an array's id stands for all its tasks; N_M for one ----
AS=$(sub -n as --array 0-2 -- sh -c "$(ctl as 0)")
echo 1 > "$WORK/af.fail"
AF=$(sub -n af --array 0-2 -- sh -c "$(ctl af 0)")
d_as=$(sub --dependency "afterok:$AS" -- true)
d_as1=$(sub --dependency "afterany:${AS}_1" -- true)
d_afok=$(sub --dependency "afterok:$AF" -- true)
d_afnot=$(sub --dependency "afternotok:$AF" -- true)
d_afany=$(sub --dependency "afterany:$AF" -- true)
is "$(api GET "/v1/jobs/$d_as1" | jget '{dependencies}[0]{job}')" "${AS}_1" "a task named N_M is kept so (not as the task's id)"
wait_for 20 job_is "${AS}_2" running
touch "$WORK/as.go1"
wait_for 20 ended_as "$d_as1" succeeded/completed
ok $? "afterany:${AS}_1 runs once that task ended, its siblings still running"
touch "$WORK/as.go0"
wait_for 20 job_is "${AS}_0" succeeded
is "$(jfield "$d_as" state)" pending "afterok on the array: waits while one task runs"
touch "$WORK/as.go2"
wait_for 20 ended_as "$d_as" succeeded/completed
ok $? "afterok on the array: runs once all its tasks succeeded"
touch "$WORK/af.go1"
wait_for 20 ended_as "$d_afok" cancelled/dependency_failed
ok $? "afterok on an array: cancelled as soon as one task failed"
is "$(jfield "${AF}_0" state)/$(jfield "$d_afnot" state)/$(jfield "$d_afany" state)" "running/pending/pending" "afternotok and afterany on it wait for the other tasks"
touch "$WORK/af.go0" "$WORK/af.go2"
wait_for 20 ended_as "$d_afnot" succeeded/completed
ok $? "afternotok on an array with a failed task: runs once all ended"
wait_for 20 ended_as "$d_afany" succeeded/completed
ok $? "afterany on that array: runs"
d_asnot=$(sub --dependency "afternotok:$AS" -- true)
wait_for 20 ended_as "$d_asnot" cancelled/dependency_failed
ok $? "afternotok on an array whose tasks all succeeded: cancelled dependency_failed"

# ---- singleton: one job of a name and user at a time ----
s1=$(sub -n nightly --dependency singleton -- sh -c "$(ctl s1 0)")
wait_for 20 job_is "$s1" running
s2=$(sub -n nightly --dependency singleton -- sh -c 'echo second')
other=$(sub -n other --dependency singleton -- true)
is "$(jfield "$s1" singleton)" true "singleton is on the job"
wait_for 20 ended_as "$other" succeeded/completed
ok $? "a singleton of another name runs (a scheduling cycle passed)"
is "$(jfield "$s2" state)/$(jfield "$s2" pending_reason)" "pending/singleton" "the second 'nightly' waits with reason singleton"
like "$(G submit -t research --dependency singleton -- true 2>&1)" "'singleton' needs a 'name'" "singleton without a name is refused"
touch "$WORK/s1.go"
wait_for 20 ended_as "$s2" succeeded/completed
ok $? "it runs once the first ended"

# ---- the bug: a dependency that already failed ----
f=$(sub -n f -- false)
wait_for 20 job_is "$f" failed
d1=$(sub --dependency "afterok:$f" -- true)
wait_for 10 ended_as "$d1" cancelled/dependency_failed
ok $? "afterok on a job that already failed: cancelled dependency_failed at submission (was pending for ever)"
d2=$(submit '{"team":"research","gpus":0.1,"after_ok":['"$f"'],"command":["true"]}')
wait_for 10 ended_as "$d2" cancelled/dependency_failed
ok $? "after_ok (the older field) too"
d3=$(sub --dependency "afternotok:$okj" -- true)
wait_for 10 ended_as "$d3" cancelled/dependency_failed
ok $? "afternotok on a job that already succeeded: cancelled at submission"
d4=$(sub --dependency "afterany:$f" -- true)
wait_for 20 ended_as "$d4" succeeded/completed
ok $? "afterany on a job that already failed: runs"
like "$(G submit -t research --dependency afterok:99999 -- true 2>&1)" "dependencies: job 99999 does not exist" "a dependency on no job is refused"
like "$(G submit -t research --dependency afterok:${AS}_9 -- true 2>&1)" "dependencies: job ${AS}_9 does not exist" "a dependency on no task is refused"
like "$(G submit -t research --dependency after:$f -- true 2>&1)" "dependency type 'after' is not supported" "an unsupported type is refused"
like "$(G submit -t research --dependency "afterok:$f?afterok:$okj" -- true 2>&1)" "'\\?' \(any one of\) is not supported" "'?' is refused"

# ---- ... and one that failed while the server was down (a store a server reads at restart):
# B runs; Q waits on B; D waits on Q. With the server stopped Q is recorded failed (as a
# server that failed it and stopped before it cancelled D would have left it).
B=$(sub -n b -- sh -c "$(ctl b 0)")
Q=$(sub --dependency "afterok:$B" -- true)
D=$(sub --dependency "afterok:$Q" -- true)
wait_for 20 job_is "$B" running
is "$(jfield "$D" state)" pending "D waits on Q"
# A singleton S waits for X (same name, running, a higher id): at the restart the running jobs
# are counted before the pending ones enter, so S keeps waiting.
B2=$(sub -n b2 -- sh -c "$(ctl b2 0)")
S=$(sub -n solo --dependency "singleton,afterany:$B2" -- sh -c 'echo solo')
X=$(sub -n solo -- sh -c "$(ctl x 0)")
wait_for 20 job_is "$X" running
touch "$WORK/b2.go"
wait_for 20 job_is "$B2" succeeded
wait_for 20 sh -c "[ \"\$(\"$GANTRY\" show $S -o json | grep -c '\"pending_reason\": \"singleton\"')\" = 1 ]"
ok $? "singleton S ($S) waits for X ($X), a later job of its name that runs"
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
if [ -n "$STORE_URL" ]; then # PostgreSQL (GANTRY_TEST_STORE=pg): jsonb's merge sets the same keys
  store_sql "UPDATE jobs SET state='failed', doc=(doc::jsonb || '{\"state\": \"failed\", \"end_reason\": \"failed\", \"end_time\": 1700000000.0}')::text WHERE id=$Q" 2>&1
else
  sqlite3 "$WORK/data/gantry.db" "UPDATE jobs SET state='failed', doc=json_set(doc, '$.state', 'failed', '$.end_reason', 'failed', '$.end_time', 1700000000.0) WHERE id=$Q" 2>&1
fi
is "$(store_sql "SELECT state FROM jobs WHERE id=$D")" pending "in the store: Q failed, D pending"
"$GANTRY" server --data "$WORK/data" "${STORE_ARGS[@]}" --listen "127.0.0.1:$PORT" --config "$WORK/cluster.yaml" 2>>"$WORK/server.log" &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_for 30 curl -sf "$GANTRY_SERVER/healthz"
ok $? "the server restarts"
is "$(ends "$D")" "cancelled/dependency_failed" "at the restart D is cancelled dependency_failed (was pending for ever)"
cyc=$(sub -- true)
wait_for 20 job_is "$cyc" succeeded
ok $? "after the restart a job runs (scheduling cycles passed)"
is "$(jfield "$S" state)/$(jfield "$S" pending_reason)" "pending/singleton" "after the restart S still waits for X (running jobs counted first)"
touch "$WORK/x.go"
wait_for 20 ended_as "$S" succeeded/completed
ok $? "S runs once X ended"
touch "$WORK/b.go"
wait_for 20 job_is "$B" succeeded
ok $? "B ends"
done_testing
