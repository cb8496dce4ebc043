#!/usr/bin/env bash
# SIGTERM with an agent's long poll (and a log follow) open: the server answers them, stops and
# exits well under a second; its port is free at once for the next server.
. "$(dirname "$0")/agent-lib.sh"
research_cluster
start_server --config "$WORK/cluster.yaml" --heartbeat 1
"$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name n1 --gpus 2 \
  --gpu-type H100-80GB --state-dir "$WORK/n1" --job-user "$(id -un)" --allow-root --no-cgroups \
  2>>"$WORK/agent.log" &
AGENT_PID=$!
PIDS+=("$AGENT_PID")
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"
# A running job with a log follow open: a second kind of long request.
id=$(submit '{"team":"research","gpus":1,"command":["sh","-c","until [ -f '"$WORK"'/go ]; do sleep 0.05; done"]}')
wait_for 20 job_is "$id" running
ok $? "job $id runs"
curl -sN -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/jobs/$id/logs?follow=1" \
  >/dev/null 2>&1 &
FOLLOW_PID=$!
PIDS+=("$FOLLOW_PID")
# The agent's long poll is open: wait until the server has been idle with it a moment.
wait_for 10 bash -c "ss -tn state established '( dport = :$PORT )' | grep -q $PORT"

t0=$(date +%s%N)
kill -TERM "$SERVER_PID"
gone() { ! kill -0 "$SERVER_PID" 2>/dev/null; }
wait_for 10 gone
ok $? "the server exits on SIGTERM"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
limit=${GANTRY_SHUTDOWN_MS:-1000}
ok $([ "$ms" -lt "$limit" ] && echo 0 || echo 1) "it exits in ${ms} ms (< ${limit} ms) with a long poll and a log follow open"
wait "$SERVER_PID"
is "$?" 0 "it exits with status 0"
like "$(tail -3 "$WORK/server.log")" "stopped" "it says it stopped"
# The port is free: a new server binds it at once (no 'port in use').
"$GANTRY" server --config "$WORK/cluster.yaml" --heartbeat 1 --data "$WORK/data" "${STORE_ARGS[@]}" --listen "127.0.0.1:$PORT" 2>>"$WORK/server2.log" &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_for 10 curl -sf "$GANTRY_SERVER/healthz"
ok $? "a restarted server binds the same port at once"
is "$(job_state "$id")" running "job $id still runs (no node was declared lost)"
touch "$WORK/go"
wait_for 20 job_is "$id" succeeded
ok $? "the agent reports the job's end to the restarted server"
done_testing
