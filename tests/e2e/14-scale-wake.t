#!/usr/bin/env bash
# A node's long poll (GET /v1/agent/work) is woken for that node: by a task queued for it and
# by a new registration of it (its old poll answers stale_epoch at once), not by the poll's
# timeout. The server wakes only that node's polls (server_node_wake), which is what keeps a
# heartbeat's cost flat at 2,000 nodes (docs/performance.md, "2,000 nodes"); here the polls
# wait 120 s, so an answer within the deadline can only come from the wakeup.
. "$(dirname "$0")/lib.sh"
start_server
"$GANTRY" quota set research --quota 4 >/dev/null
JOIN=$("$GANTRY" token create --user nodes --role agent)
declare -A TOKS EPOCH
for n in n1 n2; do
  r=$(TOK=$JOIN api POST /v1/agent/register "{\"name\":\"$n\",\"gpu_type\":\"H100\",\"cpus_milli\":8000,\"memory_mib\":65536,\"address\":\"127.0.0.1\",\"gpus\":[{\"index\":0}],\"running\":[]}")
  TOKS[$n]=$(echo "$r" | jget '{node_token}')
  EPOCH[$n]=$(echo "$r" | jget '{epoch}')
done
like "${TOKS[n1]} ${TOKS[n2]}" '^gt_[0-9a-f]{64} gt_[0-9a-f]{64}$' "two nodes registered with their own credentials"
# Heartbeats keep both up meanwhile (the agent's loop, with the epoch in $WORK/epoch.NODE).
for n in n1 n2; do
  echo "${EPOCH[$n]}" > "$WORK/epoch.$n"
  ( while :; do curl -s -o /dev/null -X POST -H "Authorization: Bearer ${TOKS[$n]}" \
      -d "{\"name\":\"$n\",\"epoch\":$(cat "$WORK/epoch.$n"),\"running\":[]}" "$GANTRY_SERVER/v1/agent/heartbeat"; sleep 0.5; done ) &
  PIDS+=($!)
done

# poll NODE TAG: a long poll of 120 s in the background; its status lands in $WORK/TAG.status.
poll() {
  curl -s -o "$WORK/$2.body" -w '%{http_code}' -H "Authorization: Bearer ${TOKS[$1]}" \
    "$GANTRY_SERVER/v1/agent/work?name=$1&epoch=$(cat "$WORK/epoch.$1")&wait=120" > "$WORK/$2.status" &
  PIDS+=($!)
}
answered() { [ -s "$WORK/$1.status" ]; }
poll n1 a1
poll n2 a2
# The polls park in the server before the job exists (a task queued earlier would be handed
# out at once, and the wakeup would not be what is tested); nothing else waits on this second.
sleep 1
ok "$( (answered a1 || answered a2) && echo 1 || echo 0)" "no poll answers while there is no work"

id=$("$GANTRY" submit --team research --gpus 1 -- sleep 100 | awk '{print $3}')
wait_for 10 bash -c "[ -s '$WORK/a1.status' ] || [ -s '$WORK/a2.status' ]"
ok $? "the start task wakes the poll of the node it was queued for (not its 120 s timeout)"
node=$(api GET "/v1/jobs/$id" | jget '{placement}[0]{node}')
tag=$([ "$node" = n1 ] && echo a1 || echo a2)
other=$([ "$node" = n1 ] && echo a2 || echo a1)
is "$(cat "$WORK/$tag.status") $(jget '{tasks}[0]{job}{id}' < "$WORK/$tag.body")" "200 $id" \
   "that poll carries the job's start"
ok "$(answered "$other" && echo 1 || echo 0)" "the other node's poll still waits"

# A new registration of the other node: its old poll answers stale_epoch now.
onode=$([ "$node" = n1 ] && echo n2 || echo n1)
r=$(TOK=${TOKS[$onode]} api POST /v1/agent/register "{\"name\":\"$onode\",\"gpu_type\":\"H100\",\"cpus_milli\":8000,\"memory_mib\":65536,\"address\":\"127.0.0.1\",\"gpus\":[{\"index\":0}],\"running\":[]}")
echo "$r" | jget '{epoch}' > "$WORK/epoch.$onode"
wait_for 10 bash -c "[ -s '$WORK/$other.status' ]"
ok $? "a new registration wakes the node's old poll"
is "$(cat "$WORK/$other.status") $(jget '{error}{code}' < "$WORK/$other.body")" "409 stale_epoch" \
   "which answers stale_epoch"
done_testing
