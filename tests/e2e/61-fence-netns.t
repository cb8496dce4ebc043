#!/usr/bin/env bash
# Never twice at once, across a network partition: two agents in network namespaces; the link
# of the one running a checkpointable job goes down (agent and supervisor alive, the server out
# of reach). The node's lease runs out and its supervisor stops the job by itself; the server
# starts it on the other node only after the lost-node timeout. The job's own timestamped lines
# show that the incarnations never ran at once, also after the link comes back. (HTTPS, as in
# 41-agent-netns.t.)
. "$(dirname "$0")/agent-lib.sh"
if [ "$(id -u)" != 0 ] || ! ip netns add "gt$$-probe" 2>/dev/null; then
  echo "1..0 # skip needs root and ip netns"
  exit 0
fi
ip netns del "gt$$-probe"
cat > "$WORK/cluster.yaml" <<'Y'
teams:
  - name: research
    quota: {gpus: 8}
Y
net=$(( ($$ % 200) + 20 ))
TLS_HOSTS="10.$net.1.1 10.$net.2.1" LISTEN_ADDR=0.0.0.0 start_tls_server --config "$WORK/cluster.yaml" --heartbeat 1
for i in 1 2; do
  ns="gt$$-f$i"; vh="gt$$fh$i"; vn="gt$$fn$i"
  CLEANUPS+=("ip netns del $ns" "ip link del $vh")
  ip netns add "$ns"
  ip link add "$vh" type veth peer name "$vn"
  ip link set "$vn" netns "$ns"
  ip addr add "10.$net.$i.1/24" dev "$vh"
  ip link set "$vh" up
  ip -n "$ns" addr add "10.$net.$i.2/24" dev "$vn"
  ip -n "$ns" link set "$vn" up
  ip -n "$ns" link set lo up
  ip -n "$ns" route add default via "10.$net.$i.1"
  ip netns exec "$ns" "$GANTRY" agent --server "https://10.$net.$i.1:$PORT" --token "$ADMIN" \
    --ca-file "$WORK/tls/ca.pem" \
    --name "n$i" --gpus 2 --gpu-type H100-80GB --state-dir "$WORK/n$i" --job-user root \
    --allow-root --no-cgroups 2>>"$WORK/agent$i.log" &
  PIDS+=($!)
done
wait_for 20 grep -q "registered with epoch" "$WORK/agent1.log" && wait_for 20 grep -q "registered with epoch" "$WORK/agent2.log"
ok $? "both agents register from their namespaces"

f="$WORK/ts"
j=$(submit '{"team":"research","gpus":2,"checkpoint":{"signal":"SIGTERM","grace":"30s"},"command":["sh","-c","inc=$GANTRY_INCARNATION; trap '"'"'echo \"$inc term $(date +%s.%N)\" >> '"$f"'; exit 0'"'"' TERM; while :; do echo \"$inc $(date +%s.%N)\" >> '"$f"'; sleep 0.1; done"]}')
wait_for 20 sh -c "[ \$(grep -c '^1 ' '$f') -ge 5 ]"
ok $? "a checkpointable job runs (incarnation 1)"
node=$(api GET "/v1/jobs/$j" | jget '{placement}[0]{node}')
i=${node#n}
jobpid=$(sed -n 's/^pid=//p' "$WORK/$node/jobs/$j.1/state" | tail -n 1)
ip link set "gt$$fh$i" down
wait_for 30 sh -c "[ \$(grep -c '^2 ' '$f') -ge 10 ]"
ok $? "link of $node down: the job runs again (incarnation 2)"
other=$(api GET "/v1/jobs/$j" | jget '{placement}[0]{node}')
ok $([ "$other" != "$node" ] && echo 0 || echo 1) "on the other node ($other)"
report=$(incarnations_apart "$f")
ok $? "the two incarnations never ran at once"
echo "$report" | sed 's/^/# /'
kill -0 "$jobpid" 2>/dev/null
ok $((! $?)) "the cut-off copy (pid $jobpid) is gone"
grep -q '^1 term ' "$f"
ok $? "it got its checkpoint signal first"
is "$(sed -n 's/^reason=//p' "$WORK/$node/jobs/$j.1/state" | tail -n 1)" fenced "its supervisor recorded the end as fenced"
like "$(grep "node $node is unreachable" "$WORK/server.log" | tail -n 1)" "lost-node timeout" "the server declared $node lost after the lost-node timeout"

ip link set "gt$$fh$i" up
wait_for 30 grep -q "lease ran out" "$WORK/agent$i.log"
ok $? "link up: the agent finds its lease run out before renewing it"
wait_for 20 sh -c "\"$GANTRY\" nodes | grep -q '^$node .* up'"
ok $? "$node is reachable again"
n1=$(grep -c '^1 ' "$f"); n2=$(grep -c '^2 ' "$f")
wait_for 20 sh -c "[ \$(grep -c '^2 ' '$f') -ge $((n2 + 5)) ]"
is "$(grep -c '^1 ' "$f")" "$n1" "incarnation 1 never came back"
is "$(job_state "$j")" running "the job runs on, once"
api DELETE "/v1/jobs/$j" >/dev/null
wait_for 20 job_is "$j" cancelled
ok $? "cancel stops it"
done_testing
