#!/usr/bin/env bash
# A job's outputs survive a server that is down when the job succeeds (a real server and
# agent): the job ends while the server is stopped; its node keeps the exit and hashes the
# outputs; once the server is back (its memory empty) the agent registers again,
# lists the job as still running rather than ended, sends the hashes, then the exit, and the
# version is registered with the job's lineage. The same with the agent restarted too.
. "$(dirname "$0")/agent-lib.sh"
V=$WORK/vol
mkdir -p "$V/out"
cat > "$WORK/cluster.yaml" <<EOF
teams:
  - {name: vision, quota: {gpus: 2}}
volumes:
  - {name: outputs, path: $V/out, teams: ["*"], access: rw, kind: output}
EOF
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 2 "$WORK/n1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"
# restart_gantry: the server again on its port, with its data (its memory starts empty)
restart_gantry() {
  "$GANTRY" server --data "$WORK/data" "${STORE_ARGS[@]}" --listen "127.0.0.1:$PORT" --config "$WORK/cluster.yaml" \
    --heartbeat 1 2>>"$WORK/server.log" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_for 30 curl -sf "$GANTRY_SERVER/healthz"
}
ended() { local s; s=$(job_state "$1"); [ "$s" = succeeded ] || [ "$s" = failed ]; }

for round in server agent; do
  go=$WORK/go-$round
  j=$(submit '{"team":"vision","gpus":1,"outputs":[{"artifact":"ds-'"$round"'","kind":"dataset","path":"/gantry/output/d"}],
    "command":["sh","-c","mkdir -p $GANTRY_OUTPUT_DIR/d && echo '"$round"' > $GANTRY_OUTPUT_DIR/d/f; while [ ! -e '"$go"' ]; do sleep 0.1; done"]}')
  wait_for 30 grep -q "job $j incarnation 1 started" "$WORK/agent.log"
  ok $? "[$round] job $j runs on its node"
  kill -9 "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null
  touch "$go"
  wait_for 30 grep -q "^reason=completed" "$WORK/n1/jobs/$j.1/state"
  ok $? "[$round] the job succeeds while the server is down (its supervisor recorded it)"
  if [ $round = agent ]; then
    kill -9 "$AGENT_PID"
    wait "$AGENT_PID" 2>/dev/null
    run_agent n1 2 "$WORK/n1" agent.log --no-cgroups
  fi
  restart_gantry
  ok $? "[$round] the server is back"
  if [ $round = server ]; then # (the agent round's killed agent may have started it)
    wait_for 30 grep -q "job $j incarnation 1 succeeded: hashing" "$WORK/agent.log"
    ok $? "[$round] the node hashes the job's outputs"
  fi
  wait_for 30 ended "$j"
  is "$(job_state "$j")" succeeded "[$round] the job is recorded succeeded"
  doc=$(api GET "/v1/jobs/$j")
  is "$(echo "$doc" | jget '{outputs}[0]{version}')" 1 "[$round] and its output registered as ds-$round@1"
  is "$(api GET "/v1/artifacts/ds-$round/versions/1" | jget '{lineage}{job}')" "$j" "[$round] with the job as its lineage"
done

done_testing
