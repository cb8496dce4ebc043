#!/usr/bin/env bash
# One agent per state directory: a second agent given the same --state-dir refuses to start
# and names the process that holds it; the first agent's running job is not touched (before,
# the second adopted it and SIGKILLed it: it ended `cancelled`). The lock dies with its agent:
# after kill -9 a new agent starts on the directory at once.
. "$(dirname "$0")/agent-lib.sh"
research_cluster
start_server --config "$WORK/cluster.yaml" --heartbeat 1
# start_agent NAME LOG: an agent on the one state directory $WORK/st.
start_agent() { run_agent "$1" 2 "$WORK/st" "$2" --no-cgroups; }
start_agent n1 agent1.log
A1=$AGENT_PID
wait_for 20 grep -q "registered with epoch" "$WORK/agent1.log"
ok $? "the first agent registers"
j=$(submit '{"team":"research","gpus":1,"command":["sh","-c","touch '"$WORK"'/j.started; while [ ! -e '"$WORK"'/j.go ]; do sleep 0.05; done; echo done"]}')
wait_for 20 test -e "$WORK/j.started"
ok $? "a job runs under the first agent"

# ---- a second agent on the same state directory ----
start_agent n2 agent2.log
A2=$AGENT_PID
wait_for 20 sh -c "! kill -0 $A2 2>/dev/null"
ok $? "the second agent exits"
kill -9 "$A2" 2>/dev/null # still running: the check above failed; do not wait for it forever
wait "$A2" 2>/dev/null
rc=$?
ok $([ "$rc" != 0 ] && echo 0 || echo 1) "with a failure status ($rc)"
like "$(cat "$WORK/agent2.log")" "state directory $WORK/st is in use by another agent \\(pid $A1 " "it says which process holds the directory"
is "$(grep -c 'found job' "$WORK/agent2.log")" 0 "it did not adopt the first agent's job"
is "$(api GET /v1/nodes | grep -c '"n2"')" 0 "it did not register"
is "$(job_state "$j")" running "the job still runs"
touch "$WORK/j.go"
wait_for 20 job_is "$j" succeeded
ok $? "and succeeds under the first agent"
is "$(api GET "/v1/jobs/$j" | jget '{end_reason}')" completed "end reason completed (not cancelled)"

# ---- the lock goes with its process ----
kill -9 "$A1"
wait "$A1" 2>/dev/null
test -e "$WORK/st/agent.lock"
ok $? "kill -9 leaves the lock file behind"
start_agent n1 agent3.log
wait_for 20 grep -q "registered with epoch" "$WORK/agent3.log"
ok $? "a new agent starts on the directory at once (the lock was released with the process)"
is "$(cat "$WORK/st/agent.lock")" "$AGENT_PID" "the lock file holds the new agent's pid"
done_testing
