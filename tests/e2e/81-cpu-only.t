#!/usr/bin/env bash
# CPU-only jobs (gpus: 0), with a real server and agent: `gantry submit --gpus 0` is accepted
# (it was refused); such a job starts on a node whose GPUs are all held by another job, sees no
# GPU (CUDA_VISIBLE_DEVICES empty, NVIDIA_VISIBLE_DEVICES=void, GANTRY_GPUS=0), may open no
# NVIDIA device (the devices cgroup, with GPU device files in --dev-dir), holds no GPU in its
# placement and counts no GPU-hours; a job asking more CPUs than the node has free waits; a
# node without GPUs (agent --gpus 0, no GPU type) takes CPU-only jobs and gangs, never GPU jobs.
. "$(dirname "$0")/agent-lib.sh"
cat > "$WORK/cluster.yaml" <<'Y'
teams:
  - name: research
    quota: {gpus: 2}
    limit: {gpus: 2}
Y
start_server --config "$WORK/cluster.yaml" --heartbeat 1
CG=(--no-cgroups)
DEV=no
mkdir -p "$WORK/dev"
if have_cgroup_v1 && mknod "$WORK/dev/nvidia0" c 195 0 && mknod "$WORK/dev/nvidia1" c 195 1 &&
  mknod "$WORK/dev/nvidiactl" c 195 255; then
  DEV=yes
  CG=(--cgroup-parent "gantry-e2e-$$/n1")
  CLEANUPS+=("for c in memory cpu pids devices; do rmdir /sys/fs/cgroup/\$c/gantry-e2e-$$/n1/* /sys/fs/cgroup/\$c/gantry-e2e-$$/n1 /sys/fs/cgroup/\$c/gantry-e2e-$$; done")
fi
run_agent n1 2 "$WORK/n1" agent.log --cpus 4 --dev-dir "$WORK/dev" "${CG[@]}"
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers (2 GPUs, 4 CPUs)"

# opens FILE: how opening a device file went, as the job sees it
probe='try() { if (exec 3<>"$1") 2>"$1.err.$GANTRY_JOB_ID"; then echo "$1 opened"; else echo "$1 $(sed "s/.*: //" "$1.err.$GANTRY_JOB_ID")"; fi; rm -f "$1.err.$GANTRY_JOB_ID"; }'

# A 2-GPU job holds every GPU of the node until $WORK/release exists.
g=$("$GANTRY" submit --team research --gpus 2 --cpus 1 -- sh -c "$probe; try $WORK/dev/nvidia0 > $WORK/gpu.out; touch $WORK/gpu.started; i=0; while [ ! -e $WORK/release ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i+1)); done" | awk '{print $3}')
like "$g" '^[0-9]+$' "a 2-GPU job is submitted"
wait_for 20 test -e "$WORK/gpu.started"
ok $? "it runs, holding both GPUs"

out=$("$GANTRY" submit --team research --gpus 0 --cpus 2 -- sh -c "$probe; { echo cuda=[\$CUDA_VISIBLE_DEVICES]; echo nvidia=[\$NVIDIA_VISIBLE_DEVICES]; echo gpus=[\$GANTRY_GPUS]; try $WORK/dev/nvidia0; try $WORK/dev/nvidiactl; } > $WORK/cpu.out" 2>&1)
c=$(awk '{print $3}' <<<"$out")
like "$c" '^[0-9]+$' "gantry submit --gpus 0 --cpus 2 -- CMD is accepted ($out)"
is "$(api GET "/v1/jobs/$c" | jget '{gpus_milli}')" 0 "the job document says gpus_milli 0"
wait_for 20 job_is "$c" succeeded
ok $? "the CPU-only job runs to success while the GPU job holds every GPU"
is "$(job_state "$g")" running "the GPU job was still running meanwhile"
is "$(api GET "/v1/jobs/$c" | jget '{placement}[0]{node}')" n1 "it ran on n1"
is "$(api GET "/v1/jobs/$c" | jget '{placement}[0]{gpus}')" '[]' "its placement holds no GPU"
wait_for 10 test -s "$WORK/cpu.out"
is "$(grep cuda= "$WORK/cpu.out")" "cuda=[]" "it sees CUDA_VISIBLE_DEVICES empty"
is "$(grep nvidia= "$WORK/cpu.out")" "nvidia=[void]" "NVIDIA_VISIBLE_DEVICES=void (the NVIDIA runtime's 'no GPU')"
is "$(grep gpus= "$WORK/cpu.out")" "gpus=[0]" "GANTRY_GPUS=0"
if [ "$DEV" = yes ]; then
  is "$(cat "$WORK/gpu.out")" "$WORK/dev/nvidia0 No such device or address" \
    "control: the GPU job's devices cgroup lets it open its GPU (no driver here: ENXIO)"
  is "$(grep 'nvidia0 ' "$WORK/cpu.out")" "$WORK/dev/nvidia0 Operation not permitted" \
    "the CPU-only job may not open a GPU (its devices cgroup: EPERM)"
  is "$(grep 'nvidiactl ' "$WORK/cpu.out")" "$WORK/dev/nvidiactl Operation not permitted" \
    "nor the NVIDIA control device"
else
  skip "the devices cgroup needs root, cgroup v1 and mknod"
  skip "the devices cgroup needs root, cgroup v1 and mknod"
  skip "the devices cgroup needs root, cgroup v1 and mknod"
fi

# CPUs are what a CPU-only job waits for: 4 CPUs, 1 held by the GPU job.
big=$("$GANTRY" submit --team research --gpus 0 --cpus 4 -- true | awk '{print $3}')
wait_for 10 bash -c "[ \"\$(curl -s -H 'Authorization: Bearer $ADMIN' $GANTRY_SERVER/v1/jobs/$big | grep -o '\"pending_reason\":\"[a-z_]*\"')\" = '\"pending_reason\":\"capacity\"' ]"
ok $? "a CPU-only job asking 4 CPUs, with 3 free, waits for capacity"
touch "$WORK/release"
wait_for 20 job_is "$big" succeeded
ok $? "it runs once the GPU job ends"
wait_for 20 job_is "$g" succeeded
ok $? "the GPU job succeeds"

# Usage: the GPU job counts GPU-hours, the CPU-only jobs none (a row counts only jobs that had).
u=$(api GET /v1/usage)
is "$(jget '{usage}[0]{jobs}' <<<"$u")" 1 "usage counts one job with GPU-hours, not the CPU-only ones"
is "$(jget '{usage}[1]' <<<"$u")" null "and no other row"

# A CPU-only gang of 2 when the cluster has one node: it could never run, so it is refused at
# submission with the numbers (issue 12; it used to wait with no_fit), not as over quota.
n=$(api POST /v1/jobs '{"team":"research","gpus":0,"nodes":2,"command":["true"]}')
is "$(cat "$WORK/status")" 400 "a CPU-only gang (gpus 0, nodes 2) on a one-node cluster is refused"
like "$n" '"unsatisfiable".*the job asks for 2 nodes; the cluster has 1 \(n1\)' "with the numbers, not as quota"

# A node without GPUs joins (gantry agent --gpus 0): the same gang is then accepted and runs over
# n1 and it; a CPU-only job too large for n1's CPUs runs there; a GPU job never does.
"$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name c1 --gpus 0 --cpus 8 \
  --state-dir "$WORK/c1" --job-user root --allow-root --no-cgroups 2>>"$WORK/agent-c1.log" &
PIDS+=($!)
wait_for 20 grep -q "registered with epoch" "$WORK/agent-c1.log"
ok $? "agent c1 (--gpus 0 --cpus 8: no GPU) registers"
n=$(submit '{"team":"research","gpus":0,"nodes":2,"command":["true"]}')
like "$n" '^[0-9]+$' "with c1, the CPU-only gang (gpus 0, nodes 2) is accepted"
wait_for 30 job_is "$n" succeeded
ok $? "and succeeds"
is "$(api GET "/v1/jobs/$n" | jget '{placement}' | grep -oE '"node":"[a-z0-9]+"' | sort | tr '\n' ' ')" '"node":"c1" "node":"n1" ' "on n1 and c1"
b2=$("$GANTRY" submit --team research --gpus 0 --cpus 6 -- true | awk '{print $3}')
wait_for 20 job_is "$b2" succeeded
ok $? "gantry submit --gpus 0 --cpus 6 (n1 has 4 CPUs) succeeds"
is "$(api GET "/v1/jobs/$b2" | jget '{placement}[0]{node}')" c1 "on c1, the node without GPUs"
g2=$("$GANTRY" submit --team research --gpus 1 -- true | awk '{print $3}')
wait_for 20 job_is "$g2" succeeded
is "$(api GET "/v1/jobs/$g2" | jget '{placement}[0]{node}')" n1 "a 1-GPU job runs on n1, never on c1"
done_testing
