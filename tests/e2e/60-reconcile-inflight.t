#!/usr/bin/env bash
# A start task the agent has received but not handled yet (a slow or stopped agent, a start held
# up on its way) is not judged lost by heartbeats: each work answer carries a "seq", heartbeats
# say the last one the agent handled ("tasks_done"), and the server judges only the starts the
# agent had handled when it wrote the heartbeat. Found by tests/soak/run: the heartbeat grace
# alone requeued a job whose start was still in flight, and both incarnations ran at once.
# The node here is played with curl, so that what it has handled is exactly what the test says.
. "$(dirname "$0")/lib.sh"
cat >"$WORK/cluster.yaml" <<'Y'
teams:
  - {name: research, quota: {gpus: 2}}
priority_classes:
  - {name: normal, value: 100, preemptible: true}
Y
start_server --heartbeat 1 --config "$WORK/cluster.yaml"
AG=$("$GANTRY" token create --user n1 --role agent)
reg='{"name":"n1","gpu_type":"H100","cpus_milli":8000,"memory_mib":65536,"address":"127.0.0.1","gpus":[{"index":0},{"index":1}],"running":[],"ended":[]}'
r=$(TOK=$AG api POST /v1/agent/register "$reg")
is "$(echo "$r" | jget '{epoch}')" 1 "the node registers"
NT=$(echo "$r" | jget '{node_token}')

id=$("$GANTRY" submit --team research --gpus 1 -- sleep 600 | awk '{print $3}')
w=$(TOK=$NT api GET "/v1/agent/work?name=n1&epoch=1&wait=10")
is "$(echo "$w" | jget '{tasks}[0]{job}{id}')" "$id" "the node receives the start of job $id"
seq=$(echo "$w" | jget '{seq}')
like "$seq" '^[0-9]+$' "the work answer is numbered (seq $seq)"

# The agent has not handled that answer: its heartbeats list nothing and say an earlier seq.
beat() { TOK=$NT api POST /v1/agent/heartbeat "{\"name\":\"n1\",\"epoch\":1,\"running\":$1,\"ending\":[],\"tasks_done\":$2}"; }
deadline=$((SECONDS + 5))
while [ $SECONDS -lt $deadline ]; do beat '[]' $((seq - 1)) >/dev/null; sleep 0.2; done
st=$(api GET "/v1/jobs/$id")
is "$(echo "$st" | jget '{state}')/$(echo "$st" | jget '{incarnation}')" running/1 \
  "5 s of heartbeats (over twice the 2 s grace) from a node that has not handled its start: job $id is not judged lost"

# Once the node says it handled that answer and still does not hold the job, it is lost there.
beat '[]' "$seq" >/dev/null
wait_for 10 sh -c "grep -q 'job $id incarnation 1 is placed on node n1, which does not hold it' '$WORK/server.log'"
ok $? "a heartbeat that handled the start and lacks the job: the server judges it lost"
st=$(api GET "/v1/jobs/$id")
like "$(echo "$st" | jget '{state}')/$(echo "$st" | jget '{incarnation}')" '^(pending/1|running/2)$' \
  "and requeues it by its policy (preemptible)"

# An agent that does not say tasks_done (older) is judged on the grace alone, as before.
id2=$("$GANTRY" submit --team research --gpus 1 -- sleep 600 | awk '{print $3}')
w=$(TOK=$NT api GET "/v1/agent/work?name=n1&epoch=1&wait=10")
like "$(echo "$w" | jget '{tasks}')" "\"id\":$id2" "the node receives the start of job $id2"
deadline=$((SECONDS + 30))
until grep -q "job $id2 incarnation 1 is placed on node n1, which does not hold it" "$WORK/server.log" || [ $SECONDS -ge $deadline ]; do
  TOK=$NT api POST /v1/agent/heartbeat '{"name":"n1","epoch":1,"running":[],"ending":[]}' >/dev/null; sleep 0.2
done
grep -q "job $id2 incarnation 1 is placed on node n1, which does not hold it" "$WORK/server.log"
ok $? "without tasks_done, the grace alone decides (job $id2 judged lost)"
done_testing
