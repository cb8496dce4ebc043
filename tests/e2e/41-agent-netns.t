#!/usr/bin/env bash
# Two agents, each in its own network namespace (veth to the host, where the server listens):
# a 2-node gang gets the same rendezvous variables on both nodes; a node cut off (link down)
# stops its job by itself (its lease runs out: tests/e2e/61-fence*.t) before the server declares
# it lost and requeues the job on the other node.
# The agents reach the server over HTTPS (a certificate for the veth addresses, from
# `gantry tls-gen`): plain http:// to those non-loopback addresses would be refused.
. "$(dirname "$0")/agent-lib.sh"
need_netns
research_cluster
netns_agents n --heartbeat 1
ok $? "both agents register from their namespaces"
like "$(cat "$WORK/agent1.log")" "address 10\.$net\.1\.2" "agent 1 found its own address"

# ---- a gang over both nodes ----
g=$(submit '{"team":"research","gpus":4,"nodes":2,"command":["sh","-c","env | grep -E \"^(MASTER_ADDR|MASTER_PORT|WORLD_SIZE|NNODES|LOCAL_WORLD_SIZE|NODE_RANK)=\" | sort > '"$WORK"'/gang.$NODE_RANK"]}')
wait_for 20 test -s "$WORK/gang.0" -a -s "$WORK/gang.1"
ok $? "the gang runs on both nodes (ranks 0 and 1)"
common() { grep -v NODE_RANK "$1"; }
is "$(common "$WORK/gang.0")" "$(common "$WORK/gang.1")" "both ranks see the same MASTER_ADDR, MASTER_PORT, WORLD_SIZE"
like "$(cat "$WORK/gang.0")" "MASTER_ADDR=10\.$net\.[12]\.2" "MASTER_ADDR is a node's own address"
like "$(cat "$WORK/gang.0")" "WORLD_SIZE=4" "WORLD_SIZE = 2 nodes x 2 GPUs"
like "$(cat "$WORK/gang.1")" "NODE_RANK=1" "NODE_RANK differs"
wait_for 20 job_is "$g" succeeded
ok $? "the gang succeeds"

# ---- a node cut off ----
j=$(submit '{"team":"research","gpus":2,"checkpoint":{"signal":"SIGTERM","grace":"2s"},"command":["sh","-c","echo $GANTRY_INCARNATION $$ >> '"$WORK"'/cut.runs; while :; do sleep 0.1; done"]}')
wait_for 20 test -s "$WORK/cut.runs"
ok $? "a checkpointable job runs"
node=$(api GET "/v1/jobs/$j" | jget '{placement}[0]{node}')
i=${node#n}
first_pid=$(awk '$1 == 1 {print $2}' "$WORK/cut.runs")
ip link set "$(node_link "$i")" down
wait_for 30 grep -q "node $node is unreachable" "$WORK/server.log"
ok $? "link down: the server marks $node unreachable"
wait_for 30 sh -c "awk '\$1 == 2' '$WORK/cut.runs' | grep -q ."
ok $? "the job is requeued and runs again (incarnation 2)"
other=$(api GET "/v1/jobs/$j" | jget '{placement}[0]{node}')
ok $([ "$other" != "$node" ] && echo 0 || echo 1) "on the other node ($other)"
kill -0 "$first_pid" 2>/dev/null
ok $((! $?)) "the cut-off copy (pid $first_pid) was already stopped by its node's fence"
is "$(sed -n 's/^reason=//p' "$WORK/$node/jobs/$j.1/state" | tail -n 1)" fenced "and its end recorded as fenced"
ip link set "$(node_link "$i")" up
wait_for 30 grep -q "lease ran out" "$WORK/agent$i.log"
ok $? "link up: the agent finds its lease run out and keeps its jobs stopped"
is "$(job_state "$j")" running "the job runs on, once"
api DELETE "/v1/jobs/$j" >/dev/null
wait_for 20 job_is "$j" cancelled
ok $? "cancel stops it"
done_testing
