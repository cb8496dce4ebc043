#!/usr/bin/env bash
# Per-job GPU use (issue 11 item 2): an agent on the stand-in NVML (loads chosen through
# GANTRY_FAKE_NVML_FILE) reports each GPU's utilization and memory and its processes; the server
# maps them to the job holding each GPU: the job's gpu_use (mean, peak, samples), per-process
# memory for jobs sharing a GPU, and /v1/metrics series labelled node, gpu, job, team, user.
. "$(dirname "$0")/agent-lib.sh"
FAKE_NVML=$(dirname "$GANTRY")/tests/libfake_nvml.so
[ -f "$FAKE_NVML" ] || { echo "1..0 # skip no stand-in NVML at $FAKE_NVML (make $FAKE_NVML)"; exit 0; }
note() { echo "# $*"; }
research_cluster
printf '  - name: other\n    quota: {gpus: 0}\n' >> "$WORK/cluster.yaml"
start_server --config "$WORK/cluster.yaml" --heartbeat 1
LOAD=$WORK/nvml.txt
# set_load LINE...: the stand-in NVML's loads, one "INDEX UTIL% MEM_MIB [PID:MIB...]" a line.
set_load() { printf '%s\n' "$@" > "$LOAD.tmp" && mv -f "$LOAD.tmp" "$LOAD"; }
set_load "0 40 1000" "1 80 3000" "2 40 1000" "3 80 3000"
GANTRY_FAKE_NVML_FILE=$LOAD "$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name n1 \
  --nvml-lib "$FAKE_NVML" --state-dir "$WORK/n1" --no-cgroups --job-user root --allow-root \
  2>>"$WORK/agent.log" &
N1=$!
PIDS+=($N1)
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "an agent on the stand-in NVML registers"

# gpu_use FIELD JOB: the job's gpu_use.FIELD, rounded to 3 decimals.
gpu_use() { api GET "/v1/jobs/$2" | jget "{gpu_use}{$1}" | perl -ne 'printf "%.3f", $_ if /\d/'; }
samples_at_least() { [ "$(api GET "/v1/jobs/$1" | jget '{gpu_use}{samples}')" -ge "$2" ] 2>/dev/null; }

# ---- a job of two GPUs: one at 40% with 1000 MiB, one at 80% with 3000 MiB ----
cmd='["sh","-c","echo $CUDA_VISIBLE_DEVICES > '"$WORK"'/gpus.$GANTRY_JOB_ID; while [ ! -e '"$WORK"'/go.$GANTRY_JOB_ID ]; do sleep 0.05; done"]'
a=$(submit '{"team":"research","gpus":2,"command":'"$cmd"'}')
wait_for 20 test -s "$WORK/gpus.$a"
ok $? "job $a starts"
ga=$(cat "$WORK/gpus.$a")
like "$ga" '^(0,1|2,3)$' "it holds an NVLink pair ($ga)"
wait_for 20 samples_at_least "$a" 6
ok $? "its GPUs' samples are counted (two per heartbeat)"
is "$(gpu_use utilization_mean "$a")" 0.600 "utilization_mean: the mean of its GPUs' samples (40% and 80%)"
is "$(gpu_use utilization_peak "$a")" 0.800 "utilization_peak: the busiest sample"
is "$(gpu_use memory_mean_mib "$a")" 2000.000 "memory_mean_mib: the mean of its GPUs' memory in use"
is "$(gpu_use memory_peak_mib "$a")" 3000.000 "memory_peak_mib: the largest"
# The other pair is free: its series carry no job.
g0=${ga%,*}; g1=${ga#*,}
m=$(curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/metrics")
like "$m" "^gantry_gpu_utilization_ratio\{node=\"n1\",gpu=\"$g1\",job=\"$a\",team=\"research\",user=\"[^\"]+\"\} 0\.8$" \
  "/v1/metrics: a GPU's utilization labelled with its job, team and user"
like "$m" "^gantry_gpu_memory_used_bytes\{node=\"n1\",gpu=\"$g0\",job=\"$a\",team=\"research\",user=\"[^\"]+\"\} 1048576000$" \
  "and its memory in use, in bytes"
free0=$([ "$g0" = 0 ] && echo 2 || echo 0)
like "$m" "^gantry_gpu_utilization_ratio\{node=\"n1\",gpu=\"$free0\",job=\"\",team=\"\",user=\"\"\} 0\.4$" \
  "a GPU no job holds: empty job labels"
is "$(printf '%s\n' "$m" | grep -c '^gantry_gpu_utilization_ratio{')" 4 "one utilization series per GPU"

# ---- the dashboard's GPU map (GET /v1/gpus): each GPU's holder, utilization and memory ----
# gpu_map TOKEN: the map as TOKEN sees it; map_gpu MAP I: GPU I of node n1 ([holder, util, MiB]).
gpu_map() { curl -s -H "Authorization: Bearer $1" "$GANTRY_SERVER/v1/gpus"; }
map_gpu() { printf '%s' "$1" | perl -MJSON::PP -e '$d = decode_json(join "", <STDIN>); for (@{$d->{nodes}}) { print encode_json($_->{gpu}[$ARGV[0]]) if $_->{name} eq "n1" }' "$2"; }
map_node() { printf '%s' "$1" | perl -MJSON::PP -e '$d = decode_json(join "", <STDIN>); for (@{$d->{nodes}}) { delete $_->{gpu}; print JSON::PP->new->canonical->encode($_) if $_->{name} eq "n1" }'; }
gm=$(gpu_map "$ADMIN")
free1=$([ "$g1" = 1 ] && echo 3 || echo 1)
is "$(map_gpu "$gm" "$g0") $(map_gpu "$gm" "$g1")" "[$a,0.4,1000] [$a,0.8,3000]" "/v1/gpus: the job's GPUs name it, with their utilization and memory"
is "$(map_gpu "$gm" "$free1")" "[null,0.8,3000]" "a free GPU names no job"
is "$(map_node "$gm")" '{"drain_reason":null,"gpu_type":"H200","gpus":4,"gpus_free":2,"jobs":1,"name":"n1","schedulable":true,"state":"up"}' \
  "the node's own fields"
like "$(printf '%s' "$gm" | jget "{jobs}{$a}")" '"team":"research"' "and the job's team, user and name beside the map"
OTOK=$("$GANTRY" token create --user olga --role member --team other)
om=$(gpu_map "$OTOK")
is "$(map_gpu "$om" "$g0")" '["hidden",0.4,1000]' "another team's member sees the GPU held, not by whom"
is "$(printf '%s' "$om" | jget '{jobs}')" '{}' "nor the job"
"$GANTRY" cordon n1 >/dev/null
like "$(map_node "$(gpu_map "$ADMIN")")" '"schedulable":false.*"state":"cordoned"' "a cordoned node shows so in the map"
"$GANTRY" uncordon n1 >/dev/null
like "$(map_node "$(gpu_map "$ADMIN")")" '"schedulable":true.*"state":"up"' "and uncordoned, up again"

# ---- the load changes: the peak follows, the mean moves between ----
set_load "$g0 100 5000" "$g1 100 5000"
n=$(api GET "/v1/jobs/$a" | jget '{gpu_use}{samples}')
wait_for 20 samples_at_least "$a" $((n + 4))
is "$(gpu_use utilization_peak "$a")" 1.000 "a busier sample raises utilization_peak to 1"
is "$(gpu_use memory_peak_mib "$a")" 5000.000 "and memory_peak_mib to 5000"
mean=$(gpu_use utilization_mean "$a")
perl -e "exit !($mean > 0.6 && $mean < 1)"
ok $? "utilization_mean lies between the two loads ($mean)"

# ---- the job ends: its figures stay with it ----
touch "$WORK/go.$a"
wait_for 20 job_is "$a" succeeded
ok $? "job $a succeeds"
n=$(api GET "/v1/jobs/$a" | jget '{gpu_use}{samples}')
ok $([ "$n" -ge 10 ] && echo 0 || echo 1) "its gpu_use is kept after its end ($n samples)"
m=$(curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/metrics")
unlike "$m" "job=\"$a\"" "an ended job labels no GPU series"
# Its document sent back as a submission: the GPU use fields are the server's, dropped.
doc=$(api GET "/v1/jobs/$a" | perl -MJSON::PP -e '$d = decode_json(join "", <STDIN>); $d->{command} = ["true"]; print encode_json($d)')
back=$(api POST /v1/jobs "$doc")
is "$(cat "$WORK/status")" 201 "a job's own document (with gpu_use, idle, idle_spans) is taken back"
ign=$(printf '%s' "$back" | jget '{ignored}')
like "$ign" '"gpu_use"' "naming gpu_use among the fields it ignored ($ign)"
like "$ign" '"idle"' "and idle"

# ---- two jobs sharing a GPU: each its own processes' memory (NVML's process list) ----
set_load "0 50 100" "1 50 100" "2 50 100" "3 50 100"
cmd2='["sh","-c","echo $CUDA_VISIBLE_DEVICES > '"$WORK"'/gpus.$GANTRY_JOB_ID; sleep 300 & echo $! > '"$WORK"'/pid.$GANTRY_JOB_ID; wait"]'
b=$(submit '{"team":"research","gpus":0.5,"command":'"$cmd2"'}')
c=$(submit '{"team":"research","gpus":0.5,"command":'"$cmd2"'}')
wait_for 20 test -s "$WORK/pid.$b" -a -s "$WORK/pid.$c"
ok $? "two half-GPU jobs start"
gb=$(cat "$WORK/gpus.$b"); gc=$(cat "$WORK/gpus.$c")
pb=$(cat "$WORK/pid.$b"); pc=$(cat "$WORK/pid.$c")
if [ "$gb" = "$gc" ]; then
  set_load "$gb 50 9000 $pb:1000 $pc:3000"
else
  set_load "$gb 50 9000 $pb:1000" "$gc 50 9000 $pc:3000"
fi
note "job $b on GPU $gb (process $pb), job $c on GPU $gc (process $pc)"
# Only samples taken after the new load count: wait for the peak to show it.
mem_is() { [ "$(gpu_use memory_peak_mib "$1")" = "$2" ]; }
wait_for 20 mem_is "$b" 1000.000
ok $? "job $b's memory is its own process's (1000 MiB), not the GPU's 9000 ($(gpu_use memory_peak_mib "$b"))"
wait_for 20 mem_is "$c" 3000.000
ok $? "job $c's likewise (3000 MiB; a child of its command, found through its parents)"
m=$(curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/metrics")
like "$m" "^gantry_gpu_memory_used_bytes\{node=\"n1\",gpu=\"$gc\",job=\"$c\",team=\"research\",user=\"[^\"]+\"\} 3145728000$" \
  "/v1/metrics: a shared GPU's memory series per job"
hb=$(api GET /v1/nodes | perl -MJSON::PP -e 'my $d = decode_json(join "", <STDIN>); for my $n (@{ref $d eq "HASH" ? $d->{nodes} : $d}) { next unless $n->{name} eq "n1"; for my $g (@{$n->{gpu_stats}}) { for my $p (@{$g->{processes} || []}) { print "$p->{pid}:$p->{job_id} " } } }')
like "$hb" "(^| )$pc:$c( |$)" "the agent attributes each NVML process to its job (heartbeat: $hb)"
api DELETE "/v1/jobs/$b" >/dev/null
api DELETE "/v1/jobs/$c" >/dev/null
wait_for 20 job_is "$c" cancelled
ok $? "the sharing jobs are cancelled"

# ---- declared GPUs report nothing: no samples, no figures ----
run_agent n2 1 "$WORK/n2" agent2.log
wait_for 20 grep -q "registered with epoch" "$WORK/agent2.log"
d=$(submit '{"team":"research","gpus":1,"gpu_type":"H100-80GB","command":["sh","-c","touch '"$WORK"'/d.started; sleep 3"]}')
wait_for 20 test -e "$WORK/d.started"
wait_for 20 job_is "$d" succeeded
ok $? "a job on declared GPUs runs"
is "$(api GET "/v1/jobs/$d" | jget '{gpu_use}')" null "and has no gpu_use (nothing was measured)"

# ---- a lost node: its last samples name no job (its job runs elsewhere now) ----
set_load "0 30 100" "1 30 100" "2 30 100" "3 30 100"
l=$(submit '{"team":"research","gpus":1,"gpu_type":"H200","command":["sh","-c","touch '"$WORK"'/l.started.$GANTRY_INCARNATION; sleep 600"]}')
wait_for 20 test -e "$WORK/l.started.1"
# labelled NODE: a GPU series of NODE names job $l
labelled() { curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/metrics" | grep -q "^gantry_gpu_utilization_ratio{node=\"$1\",gpu=\"[0-9]\",job=\"$l\""; }
wait_for 20 labelled n1
ok $? "job $l's GPU on n1 carries its label"
GANTRY_FAKE_NVML_FILE=$LOAD "$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name n3 \
  --nvml-lib "$FAKE_NVML" --state-dir "$WORK/n3" --no-cgroups --job-user root --allow-root \
  2>>"$WORK/agent3.log" &
PIDS+=($!)
wait_for 20 grep -q "registered with epoch" "$WORK/agent3.log"
kill -STOP "$N1"
wait_for 40 test -e "$WORK/l.started.2"
ok $? "n1's agent stops: n1 is lost, job $l is requeued and runs on n3"
wait_for 20 labelled n3
ok $? "n3's GPU now carries its label"
labelled n1
ok $((! $?)) "n1's last samples no longer name it"
kill -CONT "$N1"
done_testing
