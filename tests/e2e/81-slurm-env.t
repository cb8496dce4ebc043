#!/usr/bin/env bash
# Slurm's variables beside GANTRY_*, with a real server and two agents (n1, n2): a 2-node gang
# sees SLURM_JOB_NODELIST=n[1-2], its node's SLURM_NODEID / SLURM_PROCID, SLURM_NNODES=2,
# SLURM_SUBMIT_DIR (where `gantry submit` ran), SLURM_JOB_ACCOUNT (its team), its GPUs; an
# array task sees SLURM_ARRAY_JOB_ID (the array's id) and SLURM_ARRAY_TASK_ID (its index); a
# CPU-only gang over both nodes sees the node list and no SLURM_GPUS_ON_NODE.
. "$(dirname "$0")/agent-lib.sh"
research_cluster
printf 'partitions:\n  h100: {gpu_type: H100-80GB}\n' >> "$WORK/cluster.yaml"
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 1 "$WORK/n1" agent1.log --no-cgroups
run_agent n2 1 "$WORK/n2" agent2.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent1.log"
ok $? "agent n1 registers"
wait_for 20 grep -q "registered with epoch" "$WORK/agent2.log"
ok $? "agent n2 registers"

mkdir -p "$WORK/proj"
cd "$WORK/proj" || exit 1
dump="env | grep -E '^(SLURM|GANTRY)_' | sort > $WORK/env.\$GANTRY_JOB_ID.\$SLURM_NODEID"
g=$("$GANTRY" submit --team research --gpus 2 --nodes 2 --cpus 2 --memory 1Gi --name trainer --partition h100 -- sh -c "$dump" | awk '{print $3}')
like "$g" '^[0-9]+$' "gantry submit --gpus 2 --nodes 2 --cpus 2 --memory 1Gi --name trainer --partition h100 -- CMD is accepted"
wait_for 30 job_is "$g" succeeded
ok $? "the gang runs to success"
e0=$(cat "$WORK/env.$g.0" 2>/dev/null)
e1=$(cat "$WORK/env.$g.1" 2>/dev/null)
line() { grep -x "$2=.*" <<<"$1"; }
is "$(line "$e0" SLURM_JOB_NODELIST)" "SLURM_JOB_NODELIST=n[1-2]" "node 0 sees SLURM_JOB_NODELIST=n[1-2]"
is "$(line "$e1" SLURM_JOB_NODELIST)" "SLURM_JOB_NODELIST=n[1-2]" "node 1 too"
is "$(line "$e0" SLURM_NODEID)/$(line "$e1" SLURM_NODEID)" "SLURM_NODEID=0/SLURM_NODEID=1" "each node its SLURM_NODEID"
is "$(line "$e1" SLURM_PROCID)" "SLURM_PROCID=1" "SLURM_PROCID = the node's rank (one task per node)"
is "$(line "$e0" SLURM_NNODES) $(line "$e0" SLURM_JOB_NUM_NODES) $(line "$e0" SLURM_NTASKS)" \
  "SLURM_NNODES=2 SLURM_JOB_NUM_NODES=2 SLURM_NTASKS=2" "SLURM_NNODES, SLURM_JOB_NUM_NODES, SLURM_NTASKS"
is "$(line "$e1" SLURM_JOB_ID) $(line "$e1" SLURM_JOBID)" "SLURM_JOB_ID=$g SLURM_JOBID=$g" "SLURM_JOB_ID and SLURM_JOBID"
is "$(line "$e0" SLURM_JOB_NAME)" "SLURM_JOB_NAME=trainer" "SLURM_JOB_NAME"
is "$(line "$e0" SLURM_SUBMIT_DIR)" "SLURM_SUBMIT_DIR=$WORK/proj" "SLURM_SUBMIT_DIR = where gantry submit ran"
is "$(line "$e0" SLURM_JOB_ACCOUNT)" "SLURM_JOB_ACCOUNT=research" "SLURM_JOB_ACCOUNT = the team"
is "$(line "$e0" SLURM_GPUS_ON_NODE) $(line "$e0" SLURM_JOB_GPUS)" "SLURM_GPUS_ON_NODE=1 SLURM_JOB_GPUS=0" "its GPUs on the node"
is "$(line "$e0" SLURM_CPUS_PER_TASK) $(line "$e0" SLURM_MEM_PER_NODE)" "SLURM_CPUS_PER_TASK=2 SLURM_MEM_PER_NODE=1024" "CPUs and memory (MiB) it asked"
is "$(line "$e1" SLURM_JOB_PARTITION)" "SLURM_JOB_PARTITION=h100" "SLURM_JOB_PARTITION = the partition it was submitted to"
is "$(line "$e0" SLURM_ARRAY_TASK_ID)" "" "not an array task: no SLURM_ARRAY_TASK_ID"
is "$(line "$e0" GANTRY_JOB_ID)" "GANTRY_JOB_ID=$g" "GANTRY_* as before"

# An array: each task its own SLURM_JOB_ID, the array's id and its index.
out=$("$GANTRY" submit --team research --gpus 1 --array 3-4 -- sh -c "$dump")
a=$(grep -oE '[0-9]+' <<<"$out" | head -n 1)
like "$a" '^[0-9]+$' "gantry submit --array 3-4 -- CMD is accepted ($out)"
# task_of INDEX: the id of the array's task with that index
task_of() { api GET "/v1/jobs?state=all" | perl -MJSON::PP -e 'my $d = decode_json(join "", <STDIN>); for (@{$d->{jobs}}) { print $_->{id} if ($_->{array_id} // -1) == $ARGV[0] && $_->{array_index} == $ARGV[1] }' -- "$a" "$1"; }
t3=$(task_of 3); t4=$(task_of 4)
like "$t4" '^[0-9]+$' "task 4 is job $t4"
wait_for 30 job_is "$t4" succeeded
ok $? "the array's task 4 runs to success"
wait_for 30 job_is "$t3" succeeded
t=$(cat "$WORK/env.$t4.0" 2>/dev/null)
is "$(line "$t" SLURM_ARRAY_JOB_ID)" "SLURM_ARRAY_JOB_ID=$a" "task 4 sees SLURM_ARRAY_JOB_ID = the array's id"
is "$(line "$t" SLURM_ARRAY_TASK_ID)" "SLURM_ARRAY_TASK_ID=4" "and SLURM_ARRAY_TASK_ID=4"
is "$(line "$t" SLURM_JOB_ID)" "SLURM_JOB_ID=$t4" "and its own SLURM_JOB_ID"
is "$(line "$(cat "$WORK/env.$t3.0" 2>/dev/null)" SLURM_ARRAY_TASK_ID)" "SLURM_ARRAY_TASK_ID=3" "task 3 sees SLURM_ARRAY_TASK_ID=3"

# A CPU-only gang over both nodes.
c=$("$GANTRY" submit --team research --gpus 0 --nodes 2 -- sh -c "$dump" | awk '{print $3}')
wait_for 30 job_is "$c" succeeded
ok $? "a CPU-only gang (--gpus 0 --nodes 2) runs on both nodes"
c1=$(cat "$WORK/env.$c.1" 2>/dev/null)
is "$(line "$c1" SLURM_JOB_NODELIST) $(line "$c1" SLURM_NNODES)" "SLURM_JOB_NODELIST=n[1-2] SLURM_NNODES=2" "it sees both nodes"
is "$(line "$c1" SLURM_GPUS_ON_NODE)" "" "and no SLURM_GPUS_ON_NODE (no GPU)"
done_testing
