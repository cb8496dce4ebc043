#!/usr/bin/env bash
# gantry hold / release (Slurm's scontrol hold/release), submit --hold, and a whole array held,
# released and cancelled by its id (Slurm's scancel ARRAY_ID), with a real server and agent: a
# held job does not start while GPUs are free, a released one does; the hold survives a restart
# of the server; who may hold and release.
. "$(dirname "$0")/agent-lib.sh"
cat > "$WORK/cluster.yaml" <<'Y'
teams:
  - name: research
    quota: {gpus: 8}
  - name: product
    quota: {gpus: 8}
Y
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 2 "$WORK/n1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers with 2 GPUs"
alice=$("$GANTRY" token create --user alice --role member --team research)
dave=$("$GANTRY" token create --user dave --role member --team research)
bob=$("$GANTRY" token create --user bob --role member --team product)
lead=$("$GANTRY" token create --user lena --role team-admin --team research)
st() { api GET "/v1/jobs/$1" | jget "{$2}"; }
code() { local t=$1; shift; curl -s -o "$WORK/cbody" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $t" ${3:+-d "$3"} "$GANTRY_SERVER$2"; }
free2() { [ "$(curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/nodes" | grep -o '"gpus_free":2')" ]; }

# ---- submit --hold: the job waits, held, while GPUs are free ----
out=$("$GANTRY" submit --hold --team research --gpus 1 -- sleep 300)
like "$out" '^Submitted job [0-9]+$' "gantry submit --hold"
a=${out##* }
is "$(st "$a" held)" true "the document says held"
is "$(st "$a" pending_reason)" held "its pending_reason is held"
like "$(st "$a" pending_message)" "held by its user" "its message says who held it"
b=$(submit '{"team":"research","gpus":1,"command":["sleep","300"]}')
wait_for 20 job_is "$b" running
ok $? "a later job starts on the free GPUs"
is "$(job_state "$a")" pending "the held job, submitted first, did not start"
like "$("$GANTRY" show "$a")" "# waiting: held by its user" "gantry show says it is held"

# ---- who may hold ----
c=$(GANTRY_TOKEN=$alice "$GANTRY" submit --gpus 2 -- sleep 300 | awk '{print $3}')
is "$(code "$dave" POST "/v1/jobs/$c/hold")" 403 "a teammate may not hold alice's job"
like "$(cat "$WORK/cbody")" "may not hold job $c of user alice" "... and is told why"
is "$(code "$bob" POST "/v1/jobs/$c/hold")" 404 "another team's member does not even see it"
is "$(st "$c" held)" null "refused holds changed nothing"
like "$(GANTRY_TOKEN=$alice "$GANTRY" hold "$c")" "^Held job $c$" "alice holds her own job"
is "$(st "$c" held_by)" alice "held_by names her"
is "$(st "$c" pending_reason)" held "her job waits, held"

# ---- a running job can't be held (scontrol hold is for pending jobs) ----
r=$("$GANTRY" hold "$b" 2>&1); rc=$?
is "$rc" 1 "holding a running job fails"
like "$r" "job $b is running: only a pending job can be held" "... with a clear message"
is "$(code "$ADMIN" POST "/v1/jobs/$b/hold")" 409 "... a 409 over HTTP"
like "$("$GANTRY" release "$b" 2>&1)" "job $b is not held" "releasing a job that is not held is refused"

# ---- the hold survives a restart of the server ----
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
"$GANTRY" server --data "$WORK/data" "${STORE_ARGS[@]}" --listen "127.0.0.1:$PORT" --config "$WORK/cluster.yaml" --heartbeat 1 2>>"$WORK/server.log" &
SERVER_PID=$!; PIDS+=("$SERVER_PID")
wait_for 30 curl -sf "$GANTRY_SERVER/healthz"
ok $? "the server restarts"
is "$(st "$a" held) $(st "$a" pending_reason)" "true held" "job $a is still held after the restart"
is "$(st "$c" held_by) $(st "$c" pending_reason)" "alice held" "alice's job too"
"$GANTRY" cancel "$b" >/dev/null
wait_for 20 free2
ok $? "both GPUs are free again"
d=$(submit '{"team":"research","gpus":1,"command":["sleep","300"]}')
wait_for 20 job_is "$d" running
ok $? "a new job starts on them"
is "$(job_state "$a")$(job_state "$c")" pendingpending "the held jobs still do not"

# ---- release lets it in ----
like "$("$GANTRY" release "$a")" "^Released job $a$" "gantry release"
wait_for 20 job_is "$a" running
ok $? "the released job starts"
is "$(st "$a" held)" null "and is no longer held"

# ---- a hold by an admin is released only by an admin (Slurm's admin hold) ----
is "$(code "$lead" POST "/v1/jobs/$c/hold")" 200 "the team's admin holds alice's job over her hold"
is "$(st "$c" held_by) $(st "$c" held_by_admin)" "lena true" "it is now an admin's hold"
like "$(st "$c" pending_message)" "held by an admin" "its message says so"
is "$(code "$alice" POST "/v1/jobs/$c/release")" 403 "alice may not release an admin's hold"
like "$(cat "$WORK/cbody")" "held by an admin \\(lena\\): only an admin may release it" "... and is told who holds it"
is "$(code "$alice" POST "/v1/jobs/$c/hold")" 409 "nor turn it into her own hold"
is "$(code "$lead" POST "/v1/jobs/$c/release")" 200 "the team's admin releases it"
is "$(st "$c" held)" null "released"
"$GANTRY" cancel "$c" "$d" "$a" >/dev/null

# ---- a whole array by its id ----
wait_for 20 free2
blocker=$(submit '{"team":"research","gpus":2,"command":["sleep","300"]}')
wait_for 20 job_is "$blocker" running
arr=$(submit '{"team":"research","gpus":1,"array":"0-2","command":["sleep","300"]}')
tasks="$arr $((arr + 1)) $((arr + 2))"
out=$("$GANTRY" hold "$arr")
is "$out" "Held 3 jobs of array $arr: $tasks" "gantry hold ARRAY_ID holds every pending task"
is "$(for t in $tasks; do st "$t" pending_reason; echo; done | sort -u)" held "each task is held"
"$GANTRY" cancel "$blocker" >/dev/null
e=$(submit '{"team":"research","gpus":1,"command":["sleep","300"]}')
wait_for 20 job_is "$e" running
ok $? "with the GPUs free a later job starts"
is "$(for t in $tasks; do job_state "$t"; echo; done | sort -u)" pending "no held task did"
out=$("$GANTRY" release "$arr")
is "$out" "Released 3 jobs of array $arr: $tasks" "gantry release ARRAY_ID releases them all"
wait_for 20 job_is "$arr" running
ok $? "a released task starts"
out=$("$GANTRY" hold "${arr}_2")
is "$out" "Held job ${arr}_2" "gantry hold ARRAY_INDEX (Slurm's N_M) holds one task"
is "$(st "$((arr + 2))" held) $(st "$((arr + 1))" held)" "true null" "... only that one"
like "$("$GANTRY" release "${arr}_2")" "^Released job ${arr}_2$" "gantry release ARRAY_INDEX"
r=$(api POST "/v1/jobs/$arr/hold")
is "$(cat "$WORK/status")" 200 "holding the array again (one task runs)"
is "$(printf '%s' "$r" | jget '{held}')" "[$((arr + 1)),$((arr + 2))]" "... holds only its pending tasks"
is "$(job_state "$arr")" running "the running task is left alone"
like "$("$GANTRY" cancel "${arr}_1")" "^Cancelled job ${arr}_1$" "gantry cancel ARRAY_INDEX cancels one task"
is "$(job_state "$((arr + 1))") $(job_state "$((arr + 2))")" "cancelled pending" "... only that one"
out=$("$GANTRY" cancel "$arr")
is "$out" "Cancelled 2 jobs of array $arr: $arr $((arr + 2))" "gantry cancel ARRAY_ID cancels every unfinished task"
is "$(for t in $tasks; do job_state "$t"; echo; done | sort -u)" cancelled "all three are cancelled"
r=$(api DELETE "/v1/jobs/$arr")
is "$(cat "$WORK/status")" 409 "cancelling the array again: 409"
like "$r" "array $arr has no task to cancel" "... it says why"
"$GANTRY" cancel "$e" >/dev/null
done_testing
