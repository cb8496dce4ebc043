#!/usr/bin/env bash
# Unix identity (issue 8): the mapping of Gantry users to Unix accounts is the administrator's
# (config users: or PUT /v1/users/NAME, stored); a team-admin can't pick the account by naming
# the user; jobs never run as root or a system account (uid < 1000) unless the administrator
# allowed it for that user (the agent checks the resolved uid on the node, and root also needs
# the agent's --allow-root).
. "$(dirname "$0")/agent-lib.sh"
if [ "$(id -u)" != 0 ] || [ "$(getent passwd daemon | cut -d: -f3)" != 1 ]; then
  echo "1..0 # skip needs root (jobs switch users) and the account daemon with uid 1"; exit 0
fi
cat > "$WORK/cluster.yaml" <<'Y'
teams:
  - name: research
    quota: {gpus: 8}
users:
  svc: {unix: daemon, team: research}
Y
start_server --config "$WORK/cluster.yaml" --heartbeat 1
start_agent() { # name, then extra flags
  local n=$1; shift
  "$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name "$n" --gpus 1 \
    --state-dir "$WORK/$n" --no-cgroups "$@" 2>>"$WORK/agent-$n.log" &
  PIDS+=($!)
  wait_for 20 grep -q "registered with epoch" "$WORK/agent-$n.log"
}
tok_submit() { curl -s -X POST -H "Authorization: Bearer $1" -d "$2" "$GANTRY_SERVER/v1/jobs" | jget '{id}'; }
end_message() { api GET "/v1/jobs/$1" | jget '{end_message}'; }
start_agent n1 --gpu-type T1
ok $? "agent n1 (no --allow-root, no --job-user) registers"
start_agent n2 --gpu-type T2 --allow-root
ok $? "agent n2 (--allow-root) registers"
job1() { echo "{\"team\":\"research\",\"gpus\":1,\"gpu_type\":\"$1\",\"command\":[\"id\",\"-un\"]}"; }

# ---- a team-admin can't choose the account by naming the user ----
CAROL=$("$GANTRY" token create --user carol --role team-admin --team research)
for u in root daemon; do
  api_as() { curl -s -o "$WORK/b" -w '%{http_code}' -X POST -H "Authorization: Bearer $CAROL" -d "$1" "$GANTRY_SERVER/v1/tokens"; }
  is "$(api_as "{\"user\":\"$u\",\"role\":\"member\",\"team\":\"research\"}")" 403 \
    "team-admin mints a member token for user '$u': 403"
done
like "$(cat "$WORK/b")" "not mapped to team 'research'" "because the administrator did not map it"
is "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $CAROL" \
  -d '{"unix_user":"root","team":"research"}' "$GANTRY_SERVER/v1/users/carol")" 403 \
  "a team-admin can't map users (PUT /v1/users/carol: 403)"

# ---- an unmapped user named like a system account: never that account ----
DAEMON=$("$GANTRY" token create --user daemon --role member --team research)
id=$(tok_submit "$DAEMON" "$(job1 T1)")
wait_for 20 job_is "$id" failed
ok $? "the job of unmapped user 'daemon' (the account of its own name, uid 1) fails"
like "$(end_message "$id")" "would run as 'daemon', a system account \(uid 1, below 1000\).*allow_system_account" \
  "the agent refused the system account and says why"

# ---- a user the configuration maps to daemon: refused until allowed ----
SVC=$(GANTRY_TOKEN=$CAROL "$GANTRY" token create --user svc --role member --team research)
like "$SVC" '^gt_' "the team-admin mints a token for svc (mapped to research by the configuration)"
id=$(tok_submit "$SVC" "$(job1 T1)")
wait_for 20 job_is "$id" failed
ok $? "svc's job (mapped to daemon, not allowed) fails"
like "$(end_message "$id")" "a system account \(uid 1" "because daemon is a system account"
like "$("$GANTRY" user set svc --unix daemon --team research --allow-system-account)" \
  'svc +daemon +research +allowed +api' "the admin allows svc system accounts (gantry user set)"
id=$(tok_submit "$SVC" "$(job1 T1)")
wait_for 20 job_is "$id" succeeded
ok $? "svc's job now runs"
wait_for 10 bash -c "\"$GANTRY\" logs $id | grep -qx daemon"
ok $? "as daemon ($("$GANTRY" logs "$id" | head -1))"

# ---- root: the user's permission and the node's --allow-root, both ----
"$GANTRY" user set ops --unix root --team research >/dev/null
OPS=$("$GANTRY" token create --user ops --role member --team research)
id=$(tok_submit "$OPS" "$(job1 T2)")
wait_for 20 job_is "$id" failed
ok $? "ops mapped to root, not allowed: fails even on n2 that allows root"
like "$(end_message "$id")" "'root', a system account \(uid 0" "a system account, says the agent"
"$GANTRY" user set ops --unix root --team research --allow-system-account >/dev/null
id=$(tok_submit "$OPS" "$(job1 T1)")
wait_for 20 job_is "$id" failed
ok $? "allowed by the administrator, but n1 has no --allow-root: fails"
like "$(end_message "$id")" "would run as root.*--allow-root" "the node's own refusal"
id=$(tok_submit "$OPS" "$(job1 T2)")
wait_for 20 job_is "$id" succeeded
ok $? "allowed by the administrator and by n2's --allow-root: runs"
wait_for 10 bash -c "\"$GANTRY\" logs $id | grep -qx root"
ok $? "as root"

# ---- the mapping: listed, stored, removable ----
like "$("$GANTRY" user list)" 'USER +UNIX_USER +TEAM +SYSTEM +SOURCE' "gantry user list has its columns"
like "$(GANTRY_TOKEN=$CAROL "$GANTRY" user list)" 'svc +daemon +research' "a team-admin lists its team's users"
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
"$GANTRY" server --config "$WORK/cluster.yaml" --heartbeat 1 --data "$WORK/data" "${STORE_ARGS[@]}" \
  --listen "127.0.0.1:$PORT" 2>>"$WORK/server.log" &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_for 20 curl -sf "$GANTRY_SERVER/healthz"
is "$(api GET /v1/users/svc | jget '{allow_system_account}')" true "after a restart the API's mapping of svc holds (over the configuration's)"
like "$("$GANTRY" user delete svc)" 'svc +daemon +research +no +config' \
  "deleting it: the configuration's mapping applies again"
like "$("$GANTRY" user delete svc 2>&1)" 'mapped by the server.s configuration' "which the API can't delete"
like "$("$GANTRY" user delete ops)" 'no longer mapped' "ops is unmapped"
done_testing
