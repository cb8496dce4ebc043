#!/usr/bin/env bash
# An uneven gang through a real server and two agents (n1, n2: 4 GPUs each): a 6-GPU job
# whose shape is the scheduler's (no --nodes) takes 4+2, not 3+3, so a 2-GPU job runs at the
# same time on the 2 left together; each node sees its own GPU count (GANTRY_GPUS,
# SLURM_GPUS_ON_NODE, GPUS_PER_NODE, LOCAL_WORLD_SIZE) and the gang's world (WORLD_SIZE=6,
# GANTRY_RANK_OFFSET = the GPUs of the nodes before it), not gpus/nodes.
. "$(dirname "$0")/agent-lib.sh"
research_cluster
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 4 "$WORK/n1" agent1.log --no-cgroups
run_agent n2 4 "$WORK/n2" agent2.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent1.log"
ok $? "agent n1 registers (4 GPUs)"
wait_for 20 grep -q "registered with epoch" "$WORK/agent2.log"
ok $? "agent n2 registers (4 GPUs)"

dump="env | grep -E '^(SLURM|GANTRY)_|^(WORLD_SIZE|LOCAL_WORLD_SIZE|GPUS_PER_NODE|NNODES|NODE_RANK)=' | sort > $WORK/env.\$GANTRY_JOB_ID.\$SLURM_NODEID; touch $WORK/up.\$GANTRY_JOB_ID.\$SLURM_NODEID; while [ ! -e $WORK/release ]; do sleep 0.2; done"
g=$("$GANTRY" submit --team research --gpus 6 -- sh -c "$dump" | awk '{print $3}')
like "$g" '^[0-9]+$' "gantry submit --gpus 6 (no --nodes) is accepted"
wait_for 30 test -e "$WORK/up.$g.0" -a -e "$WORK/up.$g.1"
ok $? "the gang runs on both nodes"
e0=$(cat "$WORK/env.$g.0" 2>/dev/null)
e1=$(cat "$WORK/env.$g.1" 2>/dev/null)
line() { grep -x "$2=.*" <<<"$1" | cut -d= -f2; }
is "$(line "$e0" GANTRY_GPUS)+$(line "$e1" GANTRY_GPUS)" "4+2" "node 0 holds 4 GPUs, node 1 holds 2 (4+2, not 3+3)"
is "$(line "$e0" SLURM_GPUS_ON_NODE)/$(line "$e1" SLURM_GPUS_ON_NODE)" "4/2" "SLURM_GPUS_ON_NODE: each node's own"
is "$(line "$e0" GPUS_PER_NODE)/$(line "$e1" GPUS_PER_NODE)" "4/2" "GPUS_PER_NODE: each node's own"
is "$(line "$e0" LOCAL_WORLD_SIZE)/$(line "$e1" LOCAL_WORLD_SIZE)" "4/2" "LOCAL_WORLD_SIZE: each node's own"
is "$(line "$e0" WORLD_SIZE)/$(line "$e1" WORLD_SIZE)" "6/6" "WORLD_SIZE=6 on both (not nodes x own GPUs: 8 and 4)"
is "$(line "$e0" GANTRY_RANK_OFFSET)/$(line "$e1" GANTRY_RANK_OFFSET)" "0/4" "GANTRY_RANK_OFFSET: 0, then the 4 GPUs of node 0"
is "$(line "$e1" SLURM_NTASKS) $(line "$e1" SLURM_NNODES)" "2 2" "SLURM_NTASKS and SLURM_NNODES: 2"
# the 2 GPUs left are on one node: a 2-GPU job runs beside the gang
h=$("$GANTRY" submit --team research --gpus 2 -- sh -c "$dump" | awk '{print $3}')
wait_for 30 test -e "$WORK/up.$h.0"
ok $? "a 2-GPU job runs on the 2 GPUs left together, beside the gang"
touch "$WORK/release"
wait_for 30 job_is "$g" succeeded
ok $? "the gang ends"
wait_for 30 job_is "$h" succeeded
ok $? "the 2-GPU job ends"
done_testing
