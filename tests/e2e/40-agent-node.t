#!/usr/bin/env bash
# One real agent with 4 declared GPUs: two jobs see disjoint CUDA_VISIBLE_DEVICES; a job over
# its memory limit is killed by its cgroup and reported as oom; kill -9 of the agent while a
# job runs, restart: the job ran on and its end is accounted; its output reaches gantry logs.
. "$(dirname "$0")/agent-lib.sh"
research_cluster
start_server --config "$WORK/cluster.yaml" --heartbeat 1
CG=(--no-cgroups)
if have_cgroup_v1; then
  CG=(--cgroup-parent "gantry-e2e-$$/n1")
  CLEANUPS+=("for c in memory cpu pids devices; do rmdir /sys/fs/cgroup/\$c/gantry-e2e-$$/n1/* /sys/fs/cgroup/\$c/gantry-e2e-$$/n1 /sys/fs/cgroup/\$c/gantry-e2e-$$; done")
fi
start_agent() { run_agent n1 4 "$WORK/n1" agent.log "${CG[@]}"; }
start_agent
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"
like "$(api GET /v1/nodes)" '"n1"' "the server lists node n1"

# ---- two jobs on one node: disjoint GPUs ----
cmd='["sh","-c","echo $CUDA_VISIBLE_DEVICES > '"$WORK"'/gpus.$GANTRY_JOB_ID; sleep 1"]'
a=$(submit '{"team":"research","gpus":2,"command":'"$cmd"'}')
b=$(submit '{"team":"research","gpus":2,"command":'"$cmd"'}')
wait_for 20 test -s "$WORK/gpus.$a" -a -s "$WORK/gpus.$b"
ok $? "both jobs start"
ga=$(cat "$WORK/gpus.$a"); gb=$(cat "$WORK/gpus.$b")
like "$ga" '^[0-3],[0-3]$' "job $a sees two GPUs ($ga)"
like "$gb" '^[0-3],[0-3]$' "job $b sees two GPUs ($gb)"
common=$(comm -12 <(tr , '\n' <<<"$ga" | sort) <(tr , '\n' <<<"$gb" | sort))
is "$common" "" "their CUDA_VISIBLE_DEVICES are disjoint"
wait_for 20 job_is "$b" succeeded
ok $? "and they succeed"
like "$(curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/jobs/$a")" '"end_reason":"completed"' "reason completed"

# ---- memory limit ----
if have_cgroup_v1; then
  m=$(submit '{"team":"research","gpus":1,"memory":"48Mi","command":["python3","-c","a=[bytearray(8<<20) for i in range(64)]"]}')
  wait_for 30 job_is "$m" failed
  ok $? "a job over its 48 MiB limit fails"
  is "$(api GET "/v1/jobs/$m" | jget '{end_reason}')" oom "and is reported as oom"
  like "$(api GET "/v1/jobs/$m" | jget '{end_message}')" "memory limit of 48 MiB" "its end_message names the limit"
else
  skip "no writable cgroup v1 memory controller"
  skip "no writable cgroup v1 memory controller"
  skip "no writable cgroup v1 memory controller"
fi

# ---- kill -9 of the agent while a job runs ----
r=$(submit '{"team":"research","gpus":1,"command":["sh","-c","echo started; touch '"$WORK"'/r.started; while [ ! -e '"$WORK"'/r.go ]; do sleep 0.05; done; echo finished"]}')
wait_for 20 test -e "$WORK/r.started"
ok $? "a long job starts"
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
jobpid=$(sed -n 's/^pid=//p' "$WORK"/n1/jobs/"$r".1/state | tail -n 1) # the state is a log: the last record counts
kill -0 "$jobpid" 2>/dev/null
ok $? "kill -9 of the agent: the job (pid $jobpid) runs on"
start_agent
wait_for 20 grep -q "found job $r incarnation 1 from before: still running" "$WORK/agent.log"
ok $? "the restarted agent finds the running job"
is "$(job_state "$r")" running "the server still counts it running"
touch "$WORK/r.go"
wait_for 20 job_is "$r" succeeded
ok $? "its end is reported by the new agent: succeeded"
wait_for 10 sh -c "curl -s -H 'Authorization: Bearer $ADMIN' '$GANTRY_SERVER/v1/jobs/$r/logs' | grep -q finished"
ok $? "its whole output reached the server's log"
ok $([ ! -e "$WORK/n1/jobs/$r.1" ] && echo 0 || echo 1) "the agent dropped the reported job's directory"

# ---- --token-file: the token read from a file, not visible in the process list ----
AGENT_TOKEN=$("$GANTRY" token create --user node-n2 --role agent)
printf '%s\n' "$AGENT_TOKEN" > "$WORK/agent.token"
chmod 600 "$WORK/agent.token"
"$GANTRY" agent --server "$GANTRY_SERVER" --token-file "$WORK/agent.token" --name n2 --gpus 1 \
  --state-dir "$WORK/n2" --no-cgroups 2>>"$WORK/agent-n2.log" &
N2=$!
PIDS+=("$N2")
wait_for 20 grep -q "registered with epoch" "$WORK/agent-n2.log"
ok $? "an agent with --token-file registers"
grep -q -- "$AGENT_TOKEN" "/proc/$N2/cmdline"
ok $((! $?)) "its token is not in its command line"

# ---- gantry agent --discover: what the node would offer, through NVML (the stand-in library) ----
FAKE_NVML=$(dirname "$GANTRY")/tests/libfake_nvml.so
if [ -f "$FAKE_NVML" ]; then
  inv=$("$GANTRY" agent --discover --nvml-lib "$FAKE_NVML")
  is "$(printf '%s' "$inv" | jget '{source}') $(printf '%s' "$inv" | jget '{count}') $(printf '%s' "$inv" | jget '{type}')" \
    "nvml 4 H200" "--discover lists the 4 GPUs NVML reports, type H200"
  is "$(printf '%s' "$inv" | jget '{gpus}[1]{nvlink_peers}')" "[0]" "with their NVLink peers"
  # An agent on those GPUs reports their load with its heartbeats; gantry nodes shows it.
  "$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name n3 --nvml-lib "$FAKE_NVML" \
    --state-dir "$WORK/n3" --no-cgroups 2>>"$WORK/agent-n3.log" &
  PIDS+=($!)
  wait_for 20 sh -c "\"$GANTRY\" nodes | grep -q '^n3 .* 15% *5.9G'"
  ok $? "gantry nodes shows n3's GPU utilization (15%) and memory in use (5.9G) from NVML"
  like "$("$GANTRY" nodes | grep '^n2 ')" " - +- " "a node with declared GPUs shows none"
  # The same, and the rest of the state, for a Prometheus scraper.
  m=$(curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/metrics")
  like "$m" '^gantry_gpu_utilization_ratio\{node="n3",gpu="2",job="",team="",user=""\} 0\.2' "/v1/metrics: per-GPU utilization from NVML"
  like "$m" '^gantry_gpu_memory_used_bytes\{node="n3",gpu="3",job="",team="",user=""\} 3145728000$' "per-GPU memory in use, in bytes"
  like "$m" '^gantry_node_gpus\{node="n3",gpu_type="H200"\} 4$' "per-node GPUs"
  like "$m" '^gantry_node_up\{node="n2",gpu_type="[^"]*"\} 1$' "per-node up"
  like "$m" '^gantry_jobs\{state="succeeded"\} [1-9]' "jobs by state"
  like "$m" '^gantry_team_quota_gpus\{team="research"\} ' "per-team quota"
  like "$m" '^# TYPE gantry_team_allocated_gpus gauge$' "with TYPE lines"
  is "$(curl -s -o /dev/null -w '%{http_code}' "$GANTRY_SERVER/v1/metrics")" 401 "a scrape needs a token"
else
  skip "no stand-in NVML library at $FAKE_NVML"
fi
"$GANTRY" agent --discover --nvml-lib /nonexistent/libnvidia-ml.so.1 >/dev/null 2>"$WORK/discover.err"
ok $((! $?)) "--discover without NVML fails"
like "$(cat "$WORK/discover.err")" "declare its GPUs with --gpus N" "and says what to do"
done_testing
