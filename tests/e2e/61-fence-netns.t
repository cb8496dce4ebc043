#!/usr/bin/env bash
# Never twice at once, across a network partition: two agents in network namespaces; the link
# of the one running a checkpointable job goes down (agent and supervisor alive, the server out
# of reach). The node's lease runs out and its supervisor stops the job by itself; the server
# starts it on the other node only after the lost-node timeout. The job's own timestamped lines
# show that the incarnations never ran at once, also after the link comes back. (HTTPS, as in
# 41-agent-netns.t.)
. "$(dirname "$0")/agent-lib.sh"
need_netns
research_cluster
netns_agents f --heartbeat 1
ok $? "both agents register from their namespaces"

f="$WORK/ts"
j=$(submit '{"team":"research","gpus":2,"checkpoint":{"signal":"SIGTERM","grace":"30s"},"command":["sh","-c","inc=$GANTRY_INCARNATION; trap '"'"'echo \"$inc term $(date +%s.%N)\" >> '"$f"'; exit 0'"'"' TERM; while :; do echo \"$inc $(date +%s.%N)\" >> '"$f"'; sleep 0.1; done"]}')
wait_for 20 sh -c "[ \$(grep -c '^1 ' '$f') -ge 5 ]"
ok $? "a checkpointable job runs (incarnation 1)"
node=$(api GET "/v1/jobs/$j" | jget '{placement}[0]{node}')
i=${node#n}
jobpid=$(sed -n 's/^pid=//p' "$WORK/$node/jobs/$j.1/state" | tail -n 1)
like "$jobpid" '^[1-9][0-9]*$' "the cut-off copy's pid is known ($jobpid)"
ip link set "$(node_link "$i")" down
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

ip link set "$(node_link "$i")" up
wait_for 30 grep -q "lease ran out" "$WORK/agent$i.log"
ok $? "link up: the agent finds its lease run out before renewing it"
wait_for 20 sh -c "\"$GANTRY\" nodes | grep -q '^$node .* up'"
ok $? "$node is up again (it registered anew)"
n1=$(grep -c '^1 ' "$f"); n2=$(grep -c '^2 ' "$f")
wait_for 20 sh -c "[ \$(grep -c '^2 ' '$f') -ge $((n2 + 5)) ]"
is "$(grep -c '^1 ' "$f")" "$n1" "incarnation 1 never came back"
is "$(job_state "$j")" running "the job runs on, once"
api DELETE "/v1/jobs/$j" >/dev/null
wait_for 20 job_is "$j" cancelled
ok $? "cancel stops it"

# ---- a start task held up in the cut link ----
# One node is busy with a production job; the other is cut off just before a checkpointable
# job is placed on it. The server answers that node's work poll with the start task (TCP keeps
# it until the link returns), declares the node lost, and once the busy node is free runs the
# job there. When the link returns, that old answer is stale: the node, declared lost, must
# register again (a new epoch and work poll) and never runs it.
b=$(submit '{"team":"research","gpus":2,"priority_class":"production","command":["sleep","600"]}')
wait_for 20 job_is "$b" running
busy=$(api GET "/v1/jobs/$b" | jget '{placement}[0]{node}')
cut=$([ "$busy" = n1 ] && echo n2 || echo n1)
c=${cut#n}
wait_for 20 sh -c "\"$GANTRY\" nodes | grep -q '^$cut .* up'"
g="$WORK/held"
ip link set "$(node_link "$c")" down
h=$(submit '{"team":"research","gpus":2,"checkpoint":{"signal":"SIGTERM","grace":"30s"},"command":["sh","-c","while :; do echo \"$GANTRY_INCARNATION $(date +%s.%N)\" >> '"$g"'; sleep 0.1; done"]}')
wait_for 20 job_is "$h" running
is "$(api GET "/v1/jobs/$h" | jget '{placement}[0]{node}')" "$cut" "a job is placed on $cut, cut off a moment ago"
wait_for 30 sh -c "grep -q 'job $h incarnation 1 returns to the queue' '$WORK/server.log'"
ok $? "the server declares $cut lost and requeues the job"
api DELETE "/v1/jobs/$b" >/dev/null
wait_for 30 sh -c "[ \$(grep -c '^2 ' '$g' 2>/dev/null) -ge 5 ]"
ok $? "the job runs on $busy (incarnation 2)"
regs=$(grep -c 'registered with epoch' "$WORK/agent$c.log")
ip link set "$(node_link "$c")" up
wait_for 30 sh -c "[ \$(grep -c 'registered with epoch' '$WORK/agent$c.log') -gt $regs ]"
ok $? "link up: $cut, declared lost, must register again"
# The old answer arrives, if at all, within seconds of the link's return (TCP retransmits it):
# 5 s more of incarnation 2 as the window.
n2=$(grep -c '^2 ' "$g")
wait_for 30 sh -c "[ \$(grep -c '^2 ' '$g') -ge $((n2 + 50)) ]"
is "$(grep -c '^1 ' "$g")" 0 "the start task held up in the cut link never ran"
grep -q "job $h incarnation 1 started" "$WORK/agent$c.log"
ok $((! $?)) "$cut never started incarnation 1"
api DELETE "/v1/jobs/$h" >/dev/null
wait_for 20 job_is "$h" cancelled
ok $? "cancel stops incarnation 2"
done_testing
