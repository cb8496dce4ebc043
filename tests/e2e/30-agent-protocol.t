#!/usr/bin/env bash
# The server side of docs/agent-protocol.md, driven by curl as a fake agent: register, long-poll
# work, report, logs (and gantry logs -f), epochs, incarnations, kill lists, unreachable nodes.
. "$(dirname "$0")/lib.sh"
start_server --heartbeat 1
"$GANTRY" quota set research --quota 4 >/dev/null
AG=$("$GANTRY" token create --user n1 --role agent)
reg='{"name":"n1","gpu_type":"H100","cpus_milli":8000,"memory_mib":65536,"address":"127.0.0.1","gpus":[{"index":0},{"index":1}],"running":RUN}'
r=$(TOK=$AG api POST /v1/agent/register "${reg/RUN/[]}")
is "$(echo "$r" | jget '{epoch}')" 1 "register: epoch 1"
is "$(echo "$r" | jget '{heartbeat_s}')" 1 "register: heartbeat_s"
# The agent token is a join token: the node acts with its own credential from now on.
AG=$(echo "$r" | jget '{node_token}')
like "$AG" '^gt_[0-9a-f]{64}$' "register: the answer carries the node's credential"
hb() { TOK=$AG api POST /v1/agent/heartbeat "{\"name\":\"n1\",\"epoch\":$1,\"running\":${2:-[]}}"; }
like "$(hb 1)" '^200 ' "heartbeat"
# A heartbeat loop stands in for the agent's, with the epoch it finds in $WORK/epoch.
echo 1 > "$WORK/epoch"
( while :; do curl -s -o /dev/null -X POST -H "Authorization: Bearer $AG" \
    -d "{\"name\":\"n1\",\"epoch\":$(cat "$WORK/epoch"),\"running\":[]}" "$GANTRY_SERVER/v1/agent/heartbeat"; sleep 0.3; done ) &
HB=$!
PIDS+=($HB)

id=$("$GANTRY" submit --team research --gpus 1 --name hello -- echo hi | awk '{print $3}')
w=$(TOK=$AG api GET "/v1/agent/work?name=n1&epoch=1&wait=5")
is "$(echo "$w" | jget '{tasks}[0]{type}')" start "long poll hands out a start task"
is "$(echo "$w" | jget '{tasks}[0]{job}{id}')" "$id" "for the job"
is "$(echo "$w" | jget '{tasks}[0]{job}{incarnation}')" 1 "incarnation 1"
is "$(echo "$w" | jget '{tasks}[0]{job}{command}')" '["echo","hi"]' "with its command"
is "$(api GET /v1/jobs/$id | jget '{state}')" running "the job is running"
is "$(api GET /v1/jobs/$id | jget '{placement}[0]{node}')" n1 "placed on n1"

rep() { TOK=$AG api POST /v1/agent/report "{\"name\":\"n1\",\"epoch\":$1,\"events\":[$2]}"; }
like "$(rep 1 "{\"job_id\":$id,\"incarnation\":1,\"event\":\"started\",\"time\":$(date +%s)}")" '^200 ' "report started"
logc() { TOK=$AG api POST /v1/agent/logs "{\"job_id\":$id,\"incarnation\":1,\"stream\":\"stdout\",\"offset\":$1,\"data\":\"$2\"}"; }
like "$(logc 0 'hello\n')" '^200 ' "log chunk accepted"
like "$(logc 0 'hello\n')" '^200 ' "a retried chunk is accepted"
"$GANTRY" logs -f "$id" > "$WORK/follow" &
FOLLOW=$!
PIDS+=($FOLLOW)
like "$(logc 6 'world\n')" '^200 ' "second chunk"
is "$("$GANTRY" logs "$id")" "$(printf 'hello\nworld')" "gantry logs: chunks in order, the retry not doubled"
is "$(curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/jobs/$id/logs?offset=6")" world "logs from an offset"
like "$(rep 1 "{\"job_id\":$id,\"incarnation\":1,\"event\":\"exited\",\"exit_code\":0,\"signal\":0,\"reason\":\"completed\",\"time\":$(date +%s)}")" '^200 ' "report exited"
is "$(api GET /v1/jobs/$id | jget '{state}')" succeeded "job succeeded"
wait_for 10 bash -c "! kill -0 $FOLLOW"; ok $? "gantry logs -f ends when the job ends"
is "$(cat "$WORK/follow")" "$(printf 'hello\nworld')" "and printed the whole output"

like "$(hb 7)" '^409 .*stale_epoch' "an old epoch is answered 409 stale_epoch"
r=$(TOK=$AG api POST /v1/agent/register "${reg/RUN/[{\"job_id\":$id,\"incarnation\":1\}]}")
is "$(echo "$r" | jget '{epoch}')" 2 "re-register: epoch 2"
echo 2 > "$WORK/epoch"
is "$(echo "$r" | jget '{kill}[0]{job_id}')" "$id" "register answer kills a copy the server does not want"
like "$(hb 1)" '^409 ' "epoch 1 is now stale"

# A failing job.
id2=$("$GANTRY" submit --team research --gpus 2 -- false | awk '{print $3}')
w=$(TOK=$AG api GET "/v1/agent/work?name=n1&epoch=2&wait=5")
is "$(echo "$w" | jget '{tasks}[0]{job}{gpus}')" '[0,1]' "a 2-GPU job gets both GPUs"
rep 2 "{\"job_id\":$id2,\"incarnation\":1,\"event\":\"exited\",\"exit_code\":3,\"reason\":\"failed\"}" >/dev/null
is "$(api GET /v1/jobs/$id2 | jget '{state}') $(api GET /v1/jobs/$id2 | jget '{exit_code}')" "failed 3" "a failed exit: failed with its exit code"

# Cancel a running job: the agent gets a stop task.
id3=$("$GANTRY" submit --team research --gpus 1 -- sleep 100 | awk '{print $3}')
TOK=$AG api GET "/v1/agent/work?name=n1&epoch=2&wait=5" >/dev/null
"$GANTRY" cancel "$id3" >/dev/null
w=$(TOK=$AG api GET "/v1/agent/work?name=n1&epoch=2&wait=5")
is "$(echo "$w" | jget '{tasks}[0]{type}') $(echo "$w" | jget '{tasks}[0]{reason}')" "stop cancel" "cancel sends a stop task"
is "$(api GET /v1/jobs/$id3 | jget '{state}')" cancelled "the job is cancelled"
rep 2 "{\"job_id\":$id3,\"incarnation\":1,\"event\":\"exited\",\"signal\":15,\"reason\":\"cancelled\"}" >/dev/null

# A node that misses 3 heartbeats: its preemptible job returns to the queue.
id4=$("$GANTRY" submit --team research --gpus 1 -- sleep 100 | awk '{print $3}')
w=$(TOK=$AG api GET "/v1/agent/work?name=n1&epoch=2&wait=5")
is "$(echo "$w" | jget '{tasks}[0]{job}{id}')" "$id4" "job $id4 starts"
kill "$HB"
wait_for 15 bash -c "curl -s -H 'Authorization: Bearer $ADMIN' $GANTRY_SERVER/v1/nodes/n1 | grep -q unreachable"
ok $? "node without heartbeats becomes unreachable"
is "$(api GET /v1/jobs/$id4 | jget '{state}')" pending "its job is requeued"
r=$(TOK=$AG api POST /v1/agent/register "${reg/RUN/[{\"job_id\":$id4,\"incarnation\":1\}]}")
is "$(echo "$r" | jget '{kill}[0]{job_id}')" "$id4" "the old copy is killed when the node returns"
w=$(TOK=$AG api GET "/v1/agent/work?name=n1&epoch=3&wait=5")
is "$(echo "$w" | jget '{tasks}[0]{job}{incarnation}')" 2 "the job starts again as incarnation 2"
rep 3 "{\"job_id\":$id4,\"incarnation\":1,\"event\":\"exited\",\"exit_code\":0,\"reason\":\"completed\"}" >/dev/null
is "$(api GET /v1/jobs/$id4 | jget '{state}')" running "a report for the old incarnation is ignored"
done_testing
