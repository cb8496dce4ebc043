#!/usr/bin/env bash
# A stalled server loses no node: the server is stopped (SIGSTOP) for longer than the lost-node
# timeout while a production job (neither preemptible nor checkpointable) and a checkpointable
# one run. The server's silence clock counts only time it ran itself, so when it continues no
# node is declared lost and the production job runs on (it used to fail node_lost). The node,
# which cannot tell a stalled server from a partition, fences what the server could run
# elsewhere: the checkpointable job stops when the lease runs out and is requeued, once.
# (The agent is held during the stall too; see below.)
. "$(dirname "$0")/agent-lib.sh"
research_cluster
start_server --config "$WORK/cluster.yaml" --heartbeat 1
"$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name n1 --gpus 2 \
  --gpu-type H100-80GB --state-dir "$WORK/n1" --job-user root --allow-root --no-cgroups \
  2>>"$WORK/agent.log" &
AGENT_PID=$!
PIDS+=($!)
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"

f="$WORK/ts"
p=$(submit '{"team":"research","gpus":1,"priority_class":"production","command":["sh","-c","while :; do echo \"$GANTRY_INCARNATION $(date +%s.%N)\" >> '"$WORK"'/prod; sleep 0.1; done"]}')
c=$(submit '{"team":"research","gpus":1,"checkpoint":{"signal":"SIGTERM","grace":"30s"},"command":["sh","-c","inc=$GANTRY_INCARNATION; trap '"'"'echo \"$inc term $(date +%s.%N)\" >> '"$f"'; exit 0'"'"' TERM; while :; do echo \"$inc $(date +%s.%N)\" >> '"$f"'; sleep 0.1; done"]}')
wait_for 20 sh -c "[ -s '$WORK/prod' ] && [ \$(grep -c '^1 ' '$f') -ge 3 ]"
ok $? "a production job and a checkpointable job run"
prodpid=$(sed -n 's/^pid=//p' "$WORK/n1/jobs/$p.1/state" | tail -n 1)

# The agent is held too while the server stalls, so that when the server continues no request
# of the node is waiting to be handled before the server's first look at its nodes: the worst
# order (with many nodes, some heartbeats always come after that look).
kill -STOP "$AGENT_PID"
kill -STOP "$SERVER_PID"
sleep 7 # the stall itself: longer than the lost-node timeout (4.1 s for a 1 s heartbeat)
kill -CONT "$SERVER_PID"
wait_for 20 grep -q "the server itself stalled for" "$WORK/server.log"
ok $? "the server notices its own stall"
kill -CONT "$AGENT_PID"
wait_for 20 sh -c "[ \$(grep -c '^2 ' '$f') -ge 3 ]"
ok $? "the checkpointable job, fenced by its node during the stall, runs again (incarnation 2)"
grep -q "is unreachable" "$WORK/server.log"
ok $((! $?)) "no node was declared lost for the server's own stall"
like "$("$GANTRY" nodes | grep '^n1 ')" " up" "n1 is up"
is "$(job_state "$p")" running "the production job is still running"
is "$(api GET "/v1/jobs/$p" | jget '{incarnation}')" 1 "its first incarnation"
kill -0 "$prodpid" 2>/dev/null
ok $? "and its process (pid $prodpid) never stopped"
report=$(incarnations_apart "$f")
ok $? "the checkpointable job's incarnations never ran at once"
echo "$report" | sed 's/^/# /'
like "$(api GET "/v1/jobs/$c")" '"incarnation":2' "it was requeued once"
like "$(cat "$WORK/agent.log")" "job $c incarnation 1 ended: fenced" "because its node's fence stopped it"
api DELETE "/v1/jobs/$p" >/dev/null
api DELETE "/v1/jobs/$c" >/dev/null
wait_for 20 job_is "$p" cancelled && wait_for 20 job_is "$c" cancelled
ok $? "both cancel"
done_testing
