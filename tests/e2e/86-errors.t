#!/usr/bin/env bash
# Errors (issue 12, item 8): a job that could never run is refused at submission with the
# numbers (its team's limit or a parent's; the cluster's GPUs, nodes, GPUs per node), instead
# of waiting forever; until a node is known nothing is judged on the cluster (agents register
# over time), and a node that is down still counts. No message names a job id before the job
# exists. A wrong token is told it is unknown (never echoed), an expired one that it expired.
. "$(dirname "$0")/agent-lib.sh"
cat > "$WORK/cluster.yaml" <<'Y'
teams:
  - name: org
    quota: {gpus: 4}
    limit: {gpus: 12}
    children:
      - name: ml
  - name: solo
Y
start_server --config "$WORK/cluster.yaml" --heartbeat 1
sub() { "$GANTRY" submit "$@" -- true 2>&1; }
# subid ARGS: submits; prints the new job's id, or the whole answer when there is none.
subid() { local o; o=$(sub "$@"); local id=${o#Submitted job }; [ "$id" != "$o" ] && echo "$id" || echo "$o"; }
# unlike TEXT ERE DESC: passes when TEXT does not match.
gone() { [ "$(api GET "/v1/jobs/$1" >/dev/null; cat "$WORK/status")" = 404 ]; }

# ---- before any node is known ----
out=$(sub --team org --gpus 16)
is "$?" 1 "16 GPUs in org (limit 12): refused"
like "$out" "the job asks for 16 GPUs; team org may hold at most 12 \(its limit\)" \
  "the message has the limit: $out"
out=$(sub --team ml --gpus 13)
like "$out" "team ml's parent org may hold at most 12" "a child team over its parent's limit: $out"
early=$(subid --team solo --gpus 64)
like "$early" '^[0-9]+$' "no node known yet: 64 GPUs are accepted (agents register over time)"
api DELETE "/v1/jobs/$early" >/dev/null

# ---- two nodes: 8 + 2 GPUs ----
run_agent node-a 8 "$WORK/a" agent-a.log --no-cgroups
wait_for 30 grep -q "registered with epoch" "$WORK/agent-a.log" # node-a first: the order of listing
run_agent node-b 2 "$WORK/b" agent-b.log --no-cgroups
B_PID=$AGENT_PID
nodes_up() { [ "$("$GANTRY" nodes | grep -c ' up ')" = 2 ]; }
wait_for 30 nodes_up
ok $? "node-a (8 GPUs) and node-b (2 GPUs) register"
out=$(sub --team solo --gpus 64)
is "$?" 1 "64 GPUs on a 10-GPU cluster: refused"
like "$out" "the job asks for 64 GPUs; the cluster has 10 \(2 nodes: node-a 8, node-b 2\)" \
  "with the numbers: $out"
out=$(sub --team solo --gpus 3 --nodes 3)
like "$out" "the job asks for 3 nodes; the cluster has 2 with GPUs \(node-a 8, node-b 2\)" \
  "more nodes than exist: $out"
out=$(sub --team solo --gpus 8 --nodes 2)
like "$out" "4 GPUs on each of 2 nodes; the cluster has 1 node with 4 or more \(node-a 8\)" \
  "more GPUs per node than enough nodes have: $out"
out=$(sub --team solo --gpus 10)
like "$out" "10 GPUs, more than one node has: spread evenly that is 5 on each of 2 nodes" \
  "10 GPUs, nodes left to the scheduler: $out"
out=$(sub --team solo --gpus 16 --gpu-type H100-80GB)
like "$out" "the job asks for 16 GPUs of type H100-80GB; the cluster has 10" "with a GPU type: $out"
ok8=$(subid --team solo --gpus 8)
like "$ok8" '^[0-9]+$' "8 GPUs fit node-a: accepted"
wait_for 30 job_is "$ok8" succeeded
ok $? "and it runs"

# ---- a node that is down still counts ----
kill -9 "$B_PID"
b_down() { "$GANTRY" nodes | grep -q 'node-b .*unreachable'; }
wait_for 30 b_down
ok $? "node-b's agent is gone: the node is unreachable"
gang=$(subid --team solo --gpus 2 --nodes 2)
like "$gang" '^[0-9]+$' "a 2-node job is still accepted (node-b may come back)"
is "$(job_state "$gang")" pending "and waits"
api DELETE "/v1/jobs/$gang" >/dev/null

# ---- no message names a job that was never created ----
next=$(( $(subid --team solo --gpus 1) + 1 ))
out=$(sub --team solo --gpus 3 --nodes 2)
is "$?" 1 "--gpus 3 --nodes 2: refused"
like "$out" "2 nodes must each get the same whole number of GPUs: 3 GPUs do not divide by 2 \(ask for 2 or 4 GPUs" \
  "the message names the request: $out"
unlike "$out" "job $next|job [0-9]+:" "and no job id"
gone "$next"
ok $? "job $next does not exist"
out=$(sub --team nobody --gpus 1)
unlike "$out" "job [0-9]" "an unknown team: no job id either ($out)"

# ---- tokens: none, unknown, expired ----
body=$(curl -s "$GANTRY_SERVER/v1/jobs")
like "$body" '"unauthorized".*a token is required' "no token: a token is required"
wrong=gt_$(printf '%064d' 7)
body=$(curl -s -w ' %{http_code}' -H "Authorization: Bearer $wrong" "$GANTRY_SERVER/v1/jobs" | tr -d '\n')
like "$body" '"unknown_token".*the token is unknown to this server.* 401$' "a wrong token: 401, the token is unknown"
unlike "$body" "$wrong|0000000" "the token is not echoed"
body=$(curl -s -H "Authorization: Bearer not-even-a-token" "$GANTRY_SERVER/v1/jobs")
like "$body" 'the token is unknown' "a malformed token: unknown too"
body=$(curl -s -H "Authorization: Basic YTpi" "$GANTRY_SERVER/v1/jobs")
like "$body" "must be 'Bearer <token>'" "another scheme: says Bearer"
out=$(GANTRY_TOKEN=$wrong "$GANTRY" queue 2>&1)
rc=$?
like "$out" "the token is unknown to this server" "gantry queue with a wrong token says so: $out"
is "$rc" 1 "and exits 1 (a failed request frees its answer once: SANITIZE=1 caught a second free)"
short=$("$GANTRY" token create --user carl --role member --team solo --expires 1s)
expired() { curl -s -H "Authorization: Bearer $short" "$GANTRY_SERVER/v1/jobs" | grep -q expired_token; }
wait_for 15 expired
ok $? "an expired token: 401 expired_token"
like "$(curl -s -H "Authorization: Bearer $short" "$GANTRY_SERVER/v1/jobs")" "the token has expired" \
  "which says it expired"
done_testing
