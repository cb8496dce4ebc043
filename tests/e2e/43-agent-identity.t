#!/usr/bin/env bash
# A job's end carries the agent's message (end_message in the API, a line in `gantry show`),
# and it survives a restart of the server.
. "$(dirname "$0")/agent-lib.sh"
cat > "$WORK/cluster.yaml" <<'Y'
teams:
  - name: research
    quota: {gpus: 8}
Y
start_server --config "$WORK/cluster.yaml" --heartbeat 1
start_agent() { # name, then extra flags
  local n=$1; shift
  "$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name "$n" --gpus 1 \
    --gpu-type H100-80GB --state-dir "$WORK/$n" --no-cgroups "$@" 2>>"$WORK/agent-$n.log" &
  PIDS+=($!)
  wait_for 20 grep -q "registered with epoch" "$WORK/agent-$n.log"
}

# ---- end_message: a user that does not exist on the node ----
start_agent n1 --job-user gantry-no-such-user
ok $? "agent n1 registers"
id=$(submit '{"team":"research","gpus":1,"command":["true"]}')
wait_for 20 job_is "$id" failed
ok $? "job $id fails on n1"
is "$(api GET "/v1/jobs/$id" | jget '{end_message}')" "user 'gantry-no-such-user' does not exist on this node" \
  "GET /v1/jobs/$id has the agent's end_message"
like "$("$GANTRY" show "$id")" "# ended: failed: user 'gantry-no-such-user' does not exist" \
  "gantry show says why it ended"
like "$("$GANTRY" show "$id" -o json)" '"end_message"' "gantry show -o json has end_message"
kill -TERM "$SERVER_PID"; wait "$SERVER_PID"
"$GANTRY" server --config "$WORK/cluster.yaml" --heartbeat 1 --data "$WORK/data" \
  --listen "127.0.0.1:$PORT" 2>>"$WORK/server.log" &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_for 20 curl -sf "$GANTRY_SERVER/healthz"
like "$(api GET "/v1/jobs/$id" | jget '{end_message}')" "does not exist on this node" \
  "end_message is stored: it is there after a restart"
done_testing
