#!/usr/bin/env bash
# Never twice at once: the agent running a checkpointable job is stopped (SIGSTOP), ended
# (SIGTERM) or killed (kill -9) while the job's supervisor lives on. The node's lease runs out,
# the supervisor stops the job by itself (its checkpoint signal, then at most the fence grace),
# and only after the lost-node timeout does the server start the job on the other node. The
# job's own timestamped lines (every 0.1 s, with its incarnation, in a file outside its
# directory) show that the two incarnations never ran at once.
. "$(dirname "$0")/agent-lib.sh"
research_cluster
start_server --config "$WORK/cluster.yaml" --heartbeat 1
declare -A AGENT
start_agent() { # NAME
  "$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name "$1" --gpus 2 \
    --gpu-type H100-80GB --state-dir "$WORK/$1" --job-user root --allow-root --no-cgroups \
    2>>"$WORK/agent-$1.log" &
  AGENT[$1]=$!
  PIDS+=($!)
}
registered() { [ "$(grep -c "registered with epoch" "$WORK/agent-$1.log" 2>/dev/null)" -ge "$2" ]; }
start_agent n1; start_agent n2
wait_for 20 registered n1 1 && wait_for 20 registered n2 1
ok $? "two agents register"
r=$(curl -s -X POST -H "Authorization: Bearer $ADMIN" -d '{"name":"probe","gpus":[]}' "$GANTRY_SERVER/v1/agent/register")
is "$(echo "$r" | jget '{lease_s}') $(echo "$r" | jget '{fence_grace_s}')" "2 1" "the server grants a 2 s lease and 1 s of fence grace (heartbeat 1 s)"

lines() { grep -c "^$2 " "$1" 2>/dev/null; }
# One run: the agent running a fresh job gets signal $1; the job must run again on the other
# node, the first copy having stopped first.
scenario() {
  local how=$1 f="$WORK/ts.$1"
  local j
  j=$(submit '{"team":"research","gpus":2,"checkpoint":{"signal":"SIGTERM","grace":"30s"},"command":["sh","-c","inc=$GANTRY_INCARNATION; trap '"'"'echo \"$inc term $(date +%s.%N)\" >> '"$f"'; exit 0'"'"' TERM; while :; do echo \"$inc $(date +%s.%N)\" >> '"$f"'; sleep 0.1; done"]}')
  wait_for 20 sh -c "[ \$(grep -c '^1 ' '$f') -ge 5 ]"
  ok $? "$how: job $j runs (incarnation 1)"
  local node other
  node=$(api GET "/v1/jobs/$j" | jget '{placement}[0]{node}')
  other=$([ "$node" = n1 ] && echo n2 || echo n1)
  case $how in
    SIGSTOP) kill -STOP "${AGENT[$node]}" ;;
    SIGTERM) kill -TERM "${AGENT[$node]}"; wait "${AGENT[$node]}" 2>/dev/null ;;
    KILL) kill -9 "${AGENT[$node]}"; wait "${AGENT[$node]}" 2>/dev/null ;;
  esac
  local jobpid
  jobpid=$(sed -n 's/^pid=//p' "$WORK/$node/jobs/$j.1/state" | tail -n 1)
  like "$jobpid" '^[1-9][0-9]*$' "$how: the first copy's pid is known ($jobpid)"
  wait_for 30 sh -c "[ \$(grep -c '^2 ' '$f') -ge 10 ]"
  ok $? "$how of $node's agent: the job runs again (incarnation 2)"
  is "$(api GET "/v1/jobs/$j" | jget '{placement}[0]{node}')" "$other" "on the other node, $other"
  local report
  report=$(incarnations_apart "$f")
  ok $? "$how: the two incarnations never ran at once"
  echo "$report" | sed 's/^/# /'
  kill -0 "$jobpid" 2>/dev/null
  ok $((! $?)) "$how: the first copy (pid $jobpid) is gone"
  local n1
  n1=$(lines "$f" 1)
  grep -q '^1 term ' "$f"
  ok $? "$how: it got its checkpoint signal first"
  is "$(sed -n 's/^reason=//p' "$WORK/$node/jobs/$j.1/state" | tail -n 1)" fenced "$how: its supervisor recorded the end as fenced"
  like "$(grep "node $node is unreachable" "$WORK/server.log" | tail -n 1)" "lost-node timeout of 4\.[0-9] s" "$how: the server declared $node lost only after the lost-node timeout"
  local n2
  n2=$(lines "$f" 2)
  wait_for 20 sh -c "[ \$(grep -c '^2 ' '$f') -ge $((n2 + 5)) ]" # 0.5 s more of incarnation 2
  is "$(lines "$f" 1)" "$n1" "$how: meanwhile incarnation 1 wrote nothing more"
  api DELETE "/v1/jobs/$j" >/dev/null
  wait_for 20 job_is "$j" cancelled
  ok $? "$how: cancel stops incarnation 2"
  case $how in
    SIGSTOP) kill -CONT "${AGENT[$node]}"
       wait_for 20 grep -q "lease ran out" "$WORK/agent-$node.log"
       ok $? "SIGCONT: the agent finds its lease run out before it is renewed" ;;
    *) start_agent "$node"
       wait_for 20 grep -q "found job $j incarnation 1 from before: fenced" "$WORK/agent-$node.log"
       ok $? "$how: a new agent on $node finds the job fenced" ;;
  esac
  wait_for 20 sh -c "\"$GANTRY\" nodes | grep -q '^$node .* up'"
  ok $? "$node is back"
}
scenario SIGSTOP
scenario SIGTERM
scenario KILL
done_testing
