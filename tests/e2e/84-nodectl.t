#!/usr/bin/env bash
# Node control and maintenance windows with a real server and two agents (n1, n2, 2 GPUs each):
# - drain (Slurm's scontrol update state=drain reason=..., kubectl drain): the running job
#   finishes, a new job goes to the other node even where best fit would pick the drained one,
#   the node reads draining and then drained, a job that only fits there waits until resume;
# - cordon / uncordon (kubectl);
# - the drain survives a server restart and the agent registering again;
# - a maintenance window keeps a job without a time limit off its node (reason maintenance)
#   while a job whose time limit ends before the window starts there; the window survives a
#   restart too;
# - refusals: non-admins may not drain or add windows (403, saying who may), bad requests (400,
#   404, 409) say what is wrong.
. "$(dirname "$0")/agent-lib.sh"
research_cluster
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 2 "$WORK/n1" agent1.log --no-cgroups
AG_n1=$AGENT_PID
run_agent n2 2 "$WORK/n2" agent2.log --no-cgroups
AG_n2=$AGENT_PID
wait_for 20 grep -q "registered with epoch" "$WORK/agent1.log" &&
  wait_for 20 grep -q "registered with epoch" "$WORK/agent2.log"
ok $? "two agents register"
MEMBER=$("$GANTRY" token create --user alice --role member --team research)

# wait_job NAME: a job that runs until $WORK/go.NAME exists.
wait_job() {
  local gpus=$1 name=$2 extra=${3:-}
  submit '{"team":"research","gpus":'"$gpus"','"$extra"'"command":["sh","-c","while [ ! -f '"$WORK/go.$name"' ]; do sleep 0.1; done"]}'
}
node_of() { api GET "/v1/jobs/$1" | jget '{placement}[0]{node}'; }
node_field() { api GET "/v1/nodes/$1" | jget "{$2}"; }
node_state_is() { [ "$(node_field "$1" state)" = "$2" ]; }
reason_of() { api GET "/v1/jobs/$1" | jget '{pending_reason}'; }
# as TOKEN METHOD PATH [BODY]: prints "STATUS BODY".
as() {
  curl -s -o "$WORK/body2" -w '%{http_code}' -X "$2" -H "Authorization: Bearer $1" \
    ${4:+-d "$4"} "$GANTRY_SERVER$3" > "$WORK/status2"
  echo "$(cat "$WORK/status2") $(cat "$WORK/body2")"
}

# ---- drain ----
a=$(wait_job 1 a)
wait_for 20 job_is "$a" running
ok $? "job a (1 GPU) runs"
NA=$(node_of "$a")
NB=$([ "$NA" = n1 ] && echo n2 || echo n1)
out=$("$GANTRY" drain "$NA" --reason "fan failure")
ok $? "gantry drain $NA --reason 'fan failure'"
like "$out" "node $NA: draining \\(fan failure\\); 1 job still running there" "it says the node drains and a job still runs there"
is "$(node_field "$NA" schedulable)" false "GET /v1/nodes/$NA: schedulable false"
is "$(node_field "$NA" drain_reason)" "fan failure" "drain_reason"
is "$(node_field "$NA" state)" draining "state draining while job a runs"
like "$("$GANTRY" nodes | grep "^$NA ")" "^$NA +draining .* fan failure$" "gantry nodes shows the state and the reason"
like "$("$GANTRY" nodes | grep "^$NB ")" "^$NB +up .* -$" "and the other node as up, without a reason"
b=$(wait_job 1 b)
wait_for 20 job_is "$b" running
ok $? "job b (1 GPU) runs"
is "$(node_of "$b")" "$NB" "job b goes to $NB, not to the drained $NA (best fit would pick $NA: 1 GPU free there)"
is "$(job_state "$a")" running "job a still runs on the drained node"
c=$(wait_job 2 c)
touch "$WORK/go.a"
wait_for 20 job_is "$a" succeeded
ok $? "job a finishes on the drained node"
wait_for 20 node_state_is "$NA" drained
ok $? "$NA reads drained once empty"
is "$(node_field "$NA" gpus_free)" 2 "its 2 GPUs are free"
is "$(job_state "$c")" pending "job c (2 GPUs) does not start there"
wait_for 20 sh -c "[ \"\$(curl -s -H 'Authorization: Bearer $ADMIN' $GANTRY_SERVER/v1/jobs/$c | grep -o '\"pending_reason\":\"[a-z_]*\"')\" = '\"pending_reason\":\"drained\"' ]"
ok $? "it waits with reason drained"
like "$(api GET "/v1/jobs/$c" | jget '{pending_message}')" "drained or cordoned" "the message says a node that could hold it is drained or cordoned"
out=$("$GANTRY" resume "$NA")
ok $? "gantry resume $NA"
like "$out" "node $NA: up" "the node is up again"
is "$(node_field "$NA" drain_reason)" null "without a drain reason"
wait_for 20 job_is "$c" running
ok $? "job c starts"
is "$(node_of "$c")" "$NA" "on $NA"

# ---- cordon / uncordon ----
out=$("$GANTRY" cordon "$NB")
ok $? "gantry cordon $NB"
like "$out" "node $NB: cordoned" "it says cordoned"
is "$(node_field "$NB" schedulable)" false "schedulable false"
d=$(wait_job 1 d)
wait_for 20 sh -c "[ \"\$(curl -s -H 'Authorization: Bearer $ADMIN' $GANTRY_SERVER/v1/jobs/$d | grep -o '\"pending_reason\":\"[a-z_]*\"')\" = '\"pending_reason\":\"drained\"' ]"
ok $? "job d (1 GPU) waits with reason drained: $NA is full, $NB cordoned with 1 GPU free"
is "$(job_state "$b")" running "job b runs on the cordoned node"
"$GANTRY" uncordon "$NB" >/dev/null
ok $? "gantry uncordon $NB"
wait_for 20 job_is "$d" running
ok $? "job d starts"
is "$(node_of "$d")" "$NB" "on $NB"
is "$(node_field "$NB" state)" up "$NB reads up"

# ---- refusals ----
r=$(as "$MEMBER" POST "/v1/nodes/$NB/drain" '{"reason":"x"}')
like "$r" '^403 .*only an admin may drain a node \(user alice' "a member may not drain (403 naming who may)"
r=$(as "$MEMBER" POST "/v1/nodes/$NB/cordon")
like "$r" '^403 .*only an admin may cordon' "nor cordon"
r=$(as "$MEMBER" POST "/v1/nodes/$NB/resume")
like "$r" '^403 .*only an admin may resume' "nor resume"
GANTRY_TOKEN=$MEMBER "$GANTRY" drain "$NB" --reason x 2>"$WORK/err"
is $? 1 "gantry drain as a member: exit 1"
like "$(cat "$WORK/err")" "only an admin may drain" "with the server's message"
r=$(as "$MEMBER" POST /v1/maintenance '{"name":"m","nodes":["n1"],"start":"now","duration":60}')
like "$r" '^403 .*only an admin may add maintenance windows' "a member may not add a window"
r=$(as "$MEMBER" GET /v1/maintenance)
like "$r" '^200 \{"maintenance": ?\[\]\}' "but may list them"
is "$(node_field "$NB" schedulable)" true "$NB is still schedulable after the refusals"
r=$(as "$ADMIN" POST "/v1/nodes/$NB/drain" '{}')
like "$r" '^400 .*drain needs a reason' "a drain without a reason: 400"
"$GANTRY" drain "$NB" 2>"$WORK/err"
is $? 2 "gantry drain without --reason: usage error"
r=$(as "$ADMIN" POST /v1/nodes/ghost/drain '{"reason":"x"}')
like "$r" "^404 .*node 'ghost' does not exist" "draining an unknown node: 404"

# ---- the drain and a window survive a restart and the agent registering again ----
touch "$WORK/go.b" "$WORK/go.d" "$WORK/go.c"
wait_for 20 job_is "$b" succeeded && wait_for 20 job_is "$d" succeeded && wait_for 20 job_is "$c" succeeded
ok $? "jobs b, c and d finish"
"$GANTRY" drain "$NB" --reason "psu swap" >/dev/null
wait_for 20 node_state_is "$NB" drained
ok $? "$NB drained (empty)"
out=$("$GANTRY" maintenance add kernel --nodes "$NA" --start +1h --duration 2h)
ok $? "gantry maintenance add kernel --nodes $NA --start +1h --duration 2h"
like "$out" "^kernel +scheduled .* 2h(0m)? +$NA" "it lists the window, scheduled"
like "$("$GANTRY" nodes | grep "^$NA ")" "maintenance kernel from " "gantry nodes shows the coming window"
e=$(wait_job 1 e)
wait_for 20 sh -c "[ \"\$(curl -s -H 'Authorization: Bearer $ADMIN' $GANTRY_SERVER/v1/jobs/$e | grep -o '\"pending_reason\":\"[a-z_]*\"')\" = '\"pending_reason\":\"maintenance\"' ]"
ok $? "job e, without a time limit, waits with reason maintenance: $NB drained, $NA has a window in an hour"
like "$(api GET "/v1/jobs/$e" | jget '{pending_message}')" "maintenance window" "the message names the window"
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
"$GANTRY" server --data "$WORK/data" "${STORE_ARGS[@]}" --listen "127.0.0.1:$PORT" --config "$WORK/cluster.yaml" --heartbeat 1 2>>"$WORK/server.log" &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_for 30 curl -sf "$GANTRY_SERVER/healthz"
ok $? "the server restarts"
eval "kill -9 \$AG_$NB"
run_agent "$NB" 2 "$WORK/$NB" "agent-$NB-again.log" --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent-$NB-again.log"
ok $? "$NB's agent starts again and registers"
wait_for 20 node_state_is "$NB" drained
ok $? "$NB is still drained after the restart ($(node_field "$NB" state))"
is "$(node_field "$NB" drain_reason)" "psu swap" "with its reason"
like "$("$GANTRY" maintenance ls)" "^kernel +scheduled" "the window is still there"
wait_for 20 sh -c "[ \"\$(curl -s -H 'Authorization: Bearer $ADMIN' $GANTRY_SERVER/v1/jobs/$e | grep -o '\"pending_reason\":\"[a-z_]*\"')\" = '\"pending_reason\":\"maintenance\"' ]"
ok $? "after the restart job e still waits with reason maintenance"
g=$(wait_job 1 g '"time_limit":"10m",')
wait_for 20 job_is "$g" running
ok $? "job g, with a 10 minute limit, runs"
is "$(node_of "$g")" "$NA" "on $NA, before its window"
is "$(job_state "$e")" pending "job e still waits"
r=$(as "$ADMIN" POST /v1/maintenance '{"name":"kernel","nodes":["n1"],"start":"2099-01-01T00:00:00Z","duration":"1h"}')
like "$r" "^409 .*maintenance 'kernel' exists already" "a window's name is taken: 409"
r=$(as "$ADMIN" POST /v1/maintenance '{"name":"x","nodes":["ghost"],"start":"2099-01-01T00:00:00Z","duration":"1h"}')
like "$r" "^400 .*node 'ghost' does not exist" "an unknown node: 400"
r=$(as "$ADMIN" POST /v1/maintenance '{"name":"x","nodes":["n1"],"start":"tomorrow","duration":"1h"}')
like "$r" "^400 .*start 'tomorrow' is not a time" "a bad start: 400"
r=$(as "$ADMIN" POST /v1/maintenance '{"name":"x","nodes":["n1"],"start":"2099-01-01T01:00:00+01:00","duration":"90m"}')
like "$r" '^201 .*"start": ?4070908800' "RFC 3339 with an offset is read as UTC (2099-01-01T00:00:00Z)"
like "$r" '"end": ?4070914200' "the end is start + 90m"
"$GANTRY" maintenance rm x >/dev/null
ok $? "gantry maintenance rm x"
"$GANTRY" maintenance add y --nodes n1 --start 2099-01-01T02:00 --duration 1h >/dev/null
ok $? "gantry maintenance add --start with a local date and time (the other commands' time forms)"
is "$(api GET /v1/maintenance/y | jget '{start}')" "$(date -d 2099-01-01T02:00 +%s)" \
  "read as the client's local time"
"$GANTRY" maintenance rm y >/dev/null
r=$(as "$MEMBER" DELETE /v1/maintenance/kernel)
like "$r" '^403 .*only an admin may remove maintenance windows' "a member may not remove a window"
out=$("$GANTRY" resume "$NB")
wait_for 20 job_is "$e" running
ok $? "after gantry resume $NB, job e runs"
is "$(node_of "$e")" "$NB" "on $NB (not on $NA, under its window)"
"$GANTRY" maintenance rm kernel >/dev/null
ok $? "gantry maintenance rm kernel"
is "$("$GANTRY" maintenance ls | wc -l)" 1 "no window left (only the header)"
touch "$WORK/go.e" "$WORK/go.g"
wait_for 20 job_is "$e" succeeded && wait_for 20 job_is "$g" succeeded
ok $? "jobs e and g finish"
done_testing
