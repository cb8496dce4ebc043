#!/usr/bin/env bash
# Job identity: the server maps each API user to a Unix account (config users:) and sends it
# as unix_user in the start task; the agent runs the job as that account, refuses root unless
# --allow-root, and --job-user still overrides. A job's end carries the agent's message
# (end_message in the API, a line in `gantry show`), kept across a restart of the server.
. "$(dirname "$0")/agent-lib.sh"
cat > "$WORK/cluster.yaml" <<'Y'
teams:
  - name: research
    quota: {gpus: 8}
users:
  admin: {unix: root}
  alice: {unix: nobody}
Y
start_server --config "$WORK/cluster.yaml" --heartbeat 1
start_agent() { # name, then extra flags
  local n=$1; shift
  "$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name "$n" --gpus 1 \
    --state-dir "$WORK/$n" --no-cgroups "$@" 2>>"$WORK/agent-$n.log" &
  PIDS+=($!)
  wait_for 20 grep -q "registered with epoch" "$WORK/agent-$n.log"
}

# ---- end_message: a user that does not exist on the node ----
start_agent n1 --gpu-type T1 --job-user gantry-no-such-user
ok $? "agent n1 registers"
id=$(submit '{"team":"research","gpus":1,"gpu_type":"T1","command":["true"]}')
wait_for 20 job_is "$id" failed
ok $? "job $id fails on n1"
is "$(api GET "/v1/jobs/$id" | jget '{end_message}')" "user 'gantry-no-such-user' does not exist on this node" \
  "GET /v1/jobs/$id has the agent's end_message"
like "$("$GANTRY" show "$id")" "# ended: failed: user 'gantry-no-such-user' does not exist" \
  "gantry show says why it ended"
like "$("$GANTRY" show "$id" -o json)" '"end_message"' "gantry show -o json has end_message"
# ---- unix_user: the mapped account, never root unless allowed ----
start_agent n2 --gpu-type T2
ok $? "agent n2 (no --job-user, no --allow-root) registers"
id2=$(submit '{"team":"research","gpus":1,"gpu_type":"T2","command":["id","-un"]}')
wait_for 20 job_is "$id2" failed
ok $? "admin's job (mapped to root) fails on n2"
like "$(api GET "/v1/jobs/$id2" | jget '{end_message}')" "would run as root \(user 'root'\).*--allow-root" \
  "the agent refused root: it says so in end_message"
api POST /v1/jobs '{"team":"research","gpus":1,"gpu_type":"NoSuchGPU","command":["true"]}' >/dev/null
is "$(cat "$WORK/status")" 400 "a GPU type no node offers is refused (400)"
like "$(cat "$WORK/body")" "no node offers GPU type 'NoSuchGPU'; known: .*T1.*T2" "and the message lists the known types"
ALICE=$("$GANTRY" token create --user alice --role member --team research)
tok_submit() { curl -s -X POST -H "Authorization: Bearer $1" -d "$2" "$GANTRY_SERVER/v1/jobs" | jget '{id}'; }
id3=$(tok_submit "$ALICE" '{"team":"research","gpus":1,"gpu_type":"T2","command":["id","-un"]}')
wait_for 20 job_is "$id3" succeeded
ok $? "alice's job (mapped to nobody) succeeds on n2"
wait_for 10 bash -c "\"$GANTRY\" logs $id3 | grep -qx nobody"
ok $? "it ran as the Unix account nobody ($("$GANTRY" logs "$id3" | head -1))"
BOB=$("$GANTRY" token create --user gantry-bob --role member --team research)
id4=$(tok_submit "$BOB" '{"team":"research","gpus":1,"gpu_type":"T2","command":["true"]}')
wait_for 20 job_is "$id4" failed
ok $? "an unmapped user's job runs as the account of its own name"
is "$(api GET "/v1/jobs/$id4" | jget '{end_message}')" "user 'gantry-bob' does not exist on this node" \
  "which n2 does not have"

kill -TERM "$SERVER_PID"; wait "$SERVER_PID"
"$GANTRY" server --config "$WORK/cluster.yaml" --heartbeat 1 --data "$WORK/data" "${STORE_ARGS[@]}" \
  --listen "127.0.0.1:$PORT" 2>>"$WORK/server.log" &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_for 20 curl -sf "$GANTRY_SERVER/healthz"
like "$(api GET "/v1/jobs/$id" | jget '{end_message}')" "does not exist on this node" \
  "end_message is stored: it is there after a restart"
done_testing
