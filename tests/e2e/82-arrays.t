#!/usr/bin/env bash
# Job arrays as Slurm users write them (issue 12): lists, ranges with steps and the %N throttle
# through `gantry submit --array`, tasks named ID_INDEX by show, cancel, logs and queue, and the
# throttle held while tasks run (checked through the API at each step, and from the tasks' own
# start and end times) and after a server restart. Before: only "A-B" was accepted, no throttle,
# and "12_3" was "not a job id".
. "$(dirname "$0")/agent-lib.sh"
research_cluster
start_server --config "$WORK/cluster.yaml"
run_agent n1 4 "$WORK/n1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"
G() { "$GANTRY" "$@"; }
jfield() { api GET "/v1/jobs/$1" | jget "{$2}"; }

# ---- the syntax through the CLI: every index of "0-15:4,20,30-32" gets a task ----
out=$(cd "$WORK" && G submit -t research -n lists --array '0-15:4,20,30-32' -- sh -c 'echo "task $GANTRY_ARRAY_INDEX"' 2>&1)
like "$out" "^Submitted job array [0-9]+ \(8 tasks\)$" "submit --array 0-15:4,20,30-32: 8 tasks"
A=$(printf '%s' "$out" | sed -n 's/^Submitted job array \([0-9]*\).*/\1/p')
idx=$(api GET "/v1/jobs?state=all&limit=100" | perl -MJSON::PP -e 'my $d = decode_json(join "", <STDIN>); print join ",", map { $_->{array_index} } grep { ($_->{array_id} // -1) == '"$A"' } @{$d->{jobs}}')
is "$idx" "0,4,8,12,20,30,31,32" "the tasks' indices: the list, sorted"
is "$(jfield "$A" array_count)" 8 "each task knows its array's size"
wait_for 30 job_is "${A}_32" succeeded
ok $? "task ${A}_32 (GET /v1/jobs/${A}_32) succeeds"
is "$(jfield "${A}_20" array_index)/$(jfield "${A}_20" array_id)" "20/$A" "GET /v1/jobs/${A}_20 is the task with index 20"
is "$(G logs "${A}_20" 2>&1)" "task 20" "gantry logs ${A}_20: that task's output"
like "$(G show "${A}_30" -o json)" "\"array_index\": 30" "gantry show ${A}_30: that task"
api GET "/v1/jobs/${A}_5" >/dev/null
is "$(cat "$WORK/status")" 404 "a missing index (${A}_5) is not found"
like "$(cat "$WORK/body")" "job ${A}_5 does not exist" "  and the message names it"
like "$(G show "${A}_x" 2>&1)" "'${A}_x' is not a job id \(N, or N_M" "gantry show ${A}_x: not a job id, with the forms"
api GET "/v1/jobs/${A}_" >/dev/null
is "$(cat "$WORK/status")" 400 "the API refuses ${A}_ as a reference"
jn=$(submit '{"team":"research","command":["true"]}')
api GET "/v1/jobs/${jn}_0" >/dev/null
is "$(cat "$WORK/status")" 404 "N_M of a job that is no array: not found"

# refusals, each with what is wrong
like "$(G submit -t research --array '0-4,3' -- true 2>&1)" "names index 3 more than once" "an index given twice is refused"
like "$(G submit -t research --array '0-10000' -- true 2>&1)" "more than 10000 tasks" "10001 tasks are refused"
like "$(G submit -t research --array '0-9%0' -- true 2>&1)" "throttle after % must be a number of tasks from 1 to 10000" "throttle 0 is refused"
like "$(G submit -t research --array '1-3:0' -- true 2>&1)" "must be Slurm's form" "step 0 is refused"
like "$(G submit -t research --array '0-99999' -- true 2>&1)" "more than 10000" "a range too large is refused before anything is built"

# ---- the throttle: 0-5%2 on a node of 4 GPUs: never more than 2 tasks at once ----
# Each task writes its start and end (its index, the time) and waits for go.INDEX.
TCMD='echo "start $GANTRY_ARRAY_INDEX $(date +%s.%N)" >> '"$WORK"'/spans; while [ ! -e '"$WORK"'/go.$GANTRY_ARRAY_INDEX ]; do sleep 0.05; done; echo "end $GANTRY_ARRAY_INDEX $(date +%s.%N)" >> '"$WORK"'/spans'
out=$(G submit -t research -g 1 -n thr --array '0-5%2' -- sh -c "$TCMD" 2>&1)
T=$(printf '%s' "$out" | sed -n 's/^Submitted job array \([0-9]*\).*/\1/p')
ok $([ -n "$T" ] && echo 0 || echo 1) "gantry submit --array 0-5%2: $out"
is "$(jfield "$T" array_throttle)" 2 "the throttle is on the task's document"
# states: "running pending ..." of the six tasks, and how many run / are in the scheduler
states() { api GET "/v1/jobs?state=all&limit=100" | perl -MJSON::PP -e 'my $d = decode_json(join "", <STDIN>); print join " ", map { "$_->{array_index}:$_->{state}:" . ($_->{pending_reason} // "-") } grep { ($_->{array_id} // -1) == '"$T"' } @{$d->{jobs}}'; }
running() { states | tr ' ' '\n' | grep -c ':running:'; }
started() { [ -e "$WORK/spans" ] && [ "$(grep -c '^start' "$WORK/spans")" -ge "$1" ]; }
wait_for 30 started 2
ok $? "two tasks start"
s=$(states)
is "$(running)" 2 "two run: $s"
like "$s" "2:pending:array_throttle" "task 2 waits with reason array_throttle"
like "$s" "5:pending:array_throttle" "task 5 too"
is "$(jfield "${T}_4" pending_message)" "its array's throttle (%N) is reached: it starts when one of its running tasks ends" "the pending message says why"
like "$(G queue 2>&1)" "^${T}_2 .*array_throttle" "gantry queue names the task ${T}_2 with its reason"
# Let the tasks go one at a time; after each end the next enters, never a third at once.
max=0
for i in 0 1; do
  touch "$WORK/go.$i"
  wait_for 30 started $((i + 3))
  ok $? "after task $i ends, the next one starts"
  r=$(running); [ "$r" -gt "$max" ] && max=$r
done
is "$max" 2 "at most 2 tasks ran at each step (API)"

# ---- a restart keeps the throttle: the two running tasks count, nothing else enters ----
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
"$GANTRY" server --data "$WORK/data" "${STORE_ARGS[@]}" --listen "127.0.0.1:$PORT" --config "$WORK/cluster.yaml" 2>>"$WORK/server.log" &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_for 30 curl -sf "$GANTRY_SERVER/healthz"
ok $? "the server restarts"
G submit -t research -g 1 -n late --array '0-1' -- true >/dev/null
late_done() { [ "$(api GET '/v1/jobs?state=succeeded&name=late' | jget '{total}')" = 2 ]; }
wait_for 30 late_done
ok $? "after the restart other jobs run (a scheduling cycle passed)"
is "$(running)" 2 "after the restart still 2 of the array run"
s=$(states)
like "$s" "4:pending:array_throttle 5:pending:array_throttle" "tasks 4 and 5 still wait for the throttle: $s"
touch "$WORK/go.2"
wait_for 30 started 5
ok $? "when task 2 ends, task 4 starts"
is "$(running)" 2 "still 2 run"
touch "$WORK/go.3" "$WORK/go.4" "$WORK/go.5"
wait_for 30 job_is "${T}_5" succeeded
ok $? "the rest run once the running ones end"
# From the tasks' own clocks: at no instant were more than 2 inside their span.
conc=$(sort -k3 -n "$WORK/spans" | perl -ne '($w, $i) = split; $n += $w eq "start" ? 1 : -1; $m = $n if $n > $m; END { print $m }')
is "$conc" 2 "the tasks' own start and end times: never more than 2 at once"
is "$(grep -c '^end' "$WORK/spans")" 6 "all six tasks ran to their end"

# ---- cancel by ID_INDEX: one task, not its array ----
out=$(G submit -t research -g 1 --array '7,9' -- sh -c 'sleep 300' 2>&1)
C=$(printf '%s' "$out" | sed -n 's/^Submitted job array \([0-9]*\).*/\1/p')
wait_for 30 job_is "${C}_9" running
G cancel "${C}_9" >/dev/null
ok $? "gantry cancel ${C}_9"
wait_for 30 job_is "${C}_9" cancelled
ok $? "task ${C}_9 is cancelled"
is "$(jfield "${C}_7" state)" running "its sibling ${C}_7 still runs"
G cancel "${C}_7" >/dev/null 2>&1
wait_for 30 job_is "${C}_7" cancelled
ok $? "and ${C}_7 by its name too"
# ---- a cancelled task holds its GPUs until it is gone: the throttle still counts it ----
# Task 0 ignores its stop signal, so it keeps its GPU for the grace period after the cancel;
# task 1 (%1) must not enter the scheduler before task 0's processes are gone.
out=$(G submit -t research -g 1 --array '0-1%1' --signal=USR1@6 -- sh -c 'trap "" USR1; while :; do sleep 0.2; done' 2>&1)
S=$(printf '%s' "$out" | sed -n 's/^Submitted job array \([0-9]*\).*/\1/p')
wait_for 30 job_is "${S}_0" running
ok $? "task ${S}_0 runs; ${S}_1 waits for the throttle"
G cancel "${S}_0" >/dev/null
is "$(jfield "${S}_0" stopping)/$(jfield "${S}_1" state)/$(jfield "${S}_1" pending_reason)" "true/pending/array_throttle" \
  "right after the cancel, ${S}_0 still stops (holds its GPU) and ${S}_1 still waits for the throttle"
wait_for 40 job_is "${S}_1" running
ok $? "once ${S}_0 is gone (after its grace), ${S}_1 runs"
[ "$(jfield "${S}_0" stopping)" != true ]; ok $? "and ${S}_0 no longer stops"
G cancel "${S}_1" >/dev/null 2>&1
done_testing
