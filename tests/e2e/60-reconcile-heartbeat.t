#!/usr/bin/env bash
# Heartbeats reconcile placement: a start task lost in a server crash (the job committed
# `running` on a node, the server killed before the agent took the task) left the job
# `running` with nothing running, holding its GPUs, until the agent happened to register
# again. Now each heartbeat says what the node holds, and after a grace (2 heartbeats since the
# placement, the server's start or tasks handed out to the node) a job the node does not run is
# requeued or failed by its policy.
. "$(dirname "$0")/agent-lib.sh"
research_cluster
HB=5 # the node is declared lost after 15 s: longer than the server's restart here
start_server --config "$WORK/cluster.yaml" --heartbeat $HB
# restart_server: the server again, same port and data (after kill -9).
restart_server() {
  "$GANTRY" server --data "$WORK/data" "${STORE_ARGS[@]}" --listen "127.0.0.1:$PORT" --config "$WORK/cluster.yaml" \
    --heartbeat $HB 2>>"$WORK/server.log" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_for 30 curl -sf "$GANTRY_SERVER/healthz"
}
"$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name n1 --gpus 8 \
  --gpu-type H100-80GB --state-dir "$WORK/n1" --job-user root --allow-root --no-cgroups \
  2>>"$WORK/agent.log" &
AGENT_PID=$!
PIDS+=("$AGENT_PID")
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"
jfield() { api GET "/v1/jobs/$1" | jget "{$2}"; }
job_cmd() { printf '["sh","-c","echo run >> %s/runs.%s; while [ ! -e %s/%s.go ]; do sleep 0.05; done"]' "$WORK" "$1" "$WORK" "$1"; }

# ---- an ordinary heartbeat does not judge a job that runs ----
k=$(submit '{"team":"research","gpus":1,"priority_class":"production","command":'"$(job_cmd k)"'}')
wait_for 20 test -e "$WORK/runs.k"
ok $? "a job runs"

# ---- start tasks lost with the server ----
kill -STOP "$AGENT_PID"
# If the stopped agent had a long poll waiting, it takes the first start task (a decoy, which
# runs when the agent resumes, or is requeued if its task was lost too): once the answer sits
# unread in the agent's socket, no poll waits and the next start tasks stay queued on the
# server, to be lost with it. With no poll waiting, nothing arrives (the wait runs out).
d=$(submit '{"team":"research","gpus":1,"command":'"$(job_cmd d)"'}')
poll_answered() { ss -Htn state established "( dport = :$PORT )" | awk '$1 > 0 { f = 1 } END { exit !f }'; }
wait_for 2 poll_answered
p=$(submit '{"team":"research","gpus":2,"priority_class":"production","command":'"$(job_cmd p)"'}')
q=$(submit '{"team":"research","gpus":1,"priority_class":"normal","command":'"$(job_cmd q)"'}')
wait_for 10 job_is "$p" running
ok $? "a production job is placed on the stopped agent's node (running)"
wait_for 10 job_is "$q" running
ok $? "and a preemptible one"
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
restart_server
ok $? "the server restarts (their start tasks are lost)"
kill -CONT "$AGENT_PID"
is "$(job_state "$p")" running "right after the restart the job is still running (the grace)"
wait_for 20 job_is "$p" failed
ok $? "a heartbeat finds the production job is not on the node: failed"
is "$(jfield "$p" end_reason)" node_lost "reason node_lost"
like "$(jfield "$p" end_message)" "does not list it" "end_message says the node does not hold it"
wait_for 20 sh -c "test -e '$WORK/runs.q'"
ok $? "the preemptible job is requeued and starts again"
is "$(jfield "$q" incarnation)" 2 "as incarnation 2"
touch "$WORK/q.go"
wait_for 20 job_is "$q" succeeded
ok $? "and succeeds"
is "$(cat "$WORK/runs.p" 2>/dev/null | wc -l)" 0 "the failed job never ran"
touch "$WORK/k.go" "$WORK/d.go"
wait_for 20 job_is "$k" succeeded
ok $? "the job that ran all along was not judged: succeeded"
wait_for 20 job_is "$d" succeeded
ok $? "the decoy, started after the restart, succeeded"
is "$(jfield "$k" incarnation)" 1 "incarnation 1"
w=$(submit '{"team":"research","gpus":8,"command":["true"]}')
wait_for 20 job_is "$w" succeeded
ok $? "the failed job's GPUs are free: an 8-GPU job runs on the 8-GPU node"
is "$(grep -c "job $k incarnation 1 is placed on node n1, which does not hold it" "$WORK/server.log")" 0 "no running job was taken for lost"
done_testing
