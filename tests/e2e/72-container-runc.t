#!/usr/bin/env bash
# Container jobs end to end (src/agent/runtime_oci.c): a real server and agent, the busybox
# test image (tests/oci/mkimage), the OCI runtime OCI_RT (runc here; 72-container-crun.t runs
# this file with crun). A job runs in its image as its user with its mounts and output
# directory and records its image's digest; a cancel stops the whole container (nothing left in
# its cgroup, no container left in the runtime's state); the agent killed and restarted while a
# container runs leaves it running and its end accounted; an image that does not exist ends
# the job with image_pull and skopeo's message.
. "$(dirname "$0")/agent-lib.sh"
ROOT=${GANTRY_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
RT=${OCI_RT:-runc}
skip_all() { echo "1..0 # skip $1"; exit 0; }
[ "$(id -u)" = 0 ] || skip_all "not root: containers need it"
for p in "$RT" skopeo umoci; do
  command -v "$p" >/dev/null || skip_all "no $p"
done
REF=$("$ROOT/tests/oci/mkimage" "$WORK/img" 2>"$WORK/mkimage.log" | head -1)
[ -n "$REF" ] || skip_all "tests/oci/mkimage failed: $(tail -1 "$WORK/mkimage.log")"

mkdir -p "$WORK/vol/set" "$WORK/outputs"
echo hello > "$WORK/vol/set/hello"
cat > "$WORK/cluster.yaml" <<Y
teams:
  - name: research
    quota: {gpus: 8}
scheduler:
  preemption: {enabled: true, grace_period: 10s, min_runtime: 0s}
volumes:
  - {name: data, path: $WORK/vol, access: ro}
  - {name: outputs, path: $WORK/outputs, kind: output}
Y
start_server --config "$WORK/cluster.yaml" --heartbeat 1
CGP="gantry-e2e-$$/$RT"
CG=(--no-cgroups)
if have_cgroup_v1; then
  CG=(--cgroup-parent "$CGP")
  # A container outlives its killed supervisor and runtime (a failed or interrupted run): its
  # processes, found in the test's cgroups, are killed before those are removed.
  cg_procs() { cat /sys/fs/cgroup/memory/gantry-e2e-$$/$RT/*/cgroup.procs \
    /sys/fs/cgroup/memory/gantry-e2e-$$/$RT/*/ctr/cgroup.procs 2>/dev/null; }
  cg_kill() { local p; p=$(cg_procs); [ -z "$p" ] || { kill -9 $p; return 1; }; }
  CLEANUPS+=("wait_for 10 cg_kill")
  # the OCI runtime makes the job's level in every hierarchy, not only the agent's four
  CLEANUPS+=("for d in /sys/fs/cgroup/*/gantry-e2e-$$; do rmdir \$d/$RT/*/ctr \$d/$RT/* \$d/$RT \$d; done")
fi
agent() {
  "$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name n1 --gpus 2 \
    --state-dir "$WORK/n1" --job-user nobody --oci-runtime "$RT" "${CG[@]}" 2>>"$WORK/agent.log" &
  AGENT_PID=$!
  PIDS+=("$AGENT_PID")
}
agent
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"
like "$(api GET /v1/nodes/n1 | jget '{runtimes}')" oci "the node offers the oci runtime"
logs() { curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/jobs/$1/logs"; }
field() { api GET "/v1/jobs/$1" | jget "$2"; }

# ---- a job in its image, as its user, with its mounts and output directory ----
j=$(submit '{"team":"research","gpus":1,"image":"'"$REF"'","mounts":[{"volume":"data","sub_path":"set","path":"/data","read_only":true}],"command":["sh","-c","id -u; pwd; cat /data/hello; touch /data/x 2>/dev/null || echo read-only; echo kept > $GANTRY_OUTPUT_DIR/result; echo $GANTRY_OUTPUT_DIR $GANTRY_CHECKPOINT_DIR; echo $(ls /dev | grep -c nvidia)"]}')
wait_for 60 job_is "$j" succeeded
ok $? "a container job succeeds ($(field "$j" '{end_message}'))"
is "$(logs "$j")" "$(printf '65534\n/work\nhello\nread-only\n/gantry/output /gantry/checkpoint\n0')" \
  "it ran as nobody in the image's workdir, saw its read-only mount and its /gantry paths"
is "$(cat "$WORK/outputs/research/$j/result" 2>/dev/null)" kept "its output is on the output volume"
like "$(field "$j" '{image_digest}')" '^sha256:[0-9a-f]{64}$' "the job records its image's digest"
is "$(ls "$WORK/n1/oci/$RT" 2>/dev/null | wc -l)" 0 "no container is left in $RT's state"

# ---- a cancel stops the whole container ----
# Its end is asynchronous: `RUNTIME run` removes the container's state as it exits, and only
# then does the supervisor run `RUNTIME delete`, remove the job's cgroup and record the end
# (supervisor.c); so each check below waits for its condition, with a deadline.
c=$(submit '{"team":"research","gpus":1,"image":"'"$REF"'","command":["sh","-c","sleep 300 & sleep 300 & echo up; wait"]}')
wait_for 60 sh -c "curl -s -H 'Authorization: Bearer $ADMIN' $GANTRY_SERVER/v1/jobs/$c/logs | grep -q up"
ok $? "a long container job runs"
MEMCG=/sys/fs/cgroup/memory/$CGP
procs() { cat $MEMCG/job-$1.1/cgroup.procs $MEMCG/job-$1.1/ctr/cgroup.procs 2>/dev/null; }
# "pid:start time" (field 22 of /proc/PID/stat): a pid reused later is not the job's process
proc_ids() { for p in "$@"; do echo "$p:$(sed 's/.*) //' /proc/$p/stat 2>/dev/null | cut -d' ' -f20)"; done; }
# alive PID:START: that process is still there and not a zombie (state field Z)
alive() { local s; s=$(sed 's/.*) //' "/proc/${1%%:*}/stat" 2>/dev/null) || return 1
  set -- "${1#*:}" $s; [ "$2" != Z ] && [ "${21}" = "$1" ]; }
none_alive() { for i in "$@"; do alive "$i" && return 1; done; return 0; }
if have_cgroup_v1; then
  ids=$(proc_ids $(procs "$c"))
  ok $([ "$(echo "$ids" | grep -c .)" -ge 3 ] && echo 0 || echo 1) "its processes are in its cgroup ($(echo $ids))"
fi
api DELETE "/v1/jobs/$c" >/dev/null
wait_for 30 job_is "$c" cancelled
ok $? "cancelled"
wait_for 30 sh -c "[ \$(ls '$WORK/n1/oci/$RT' 2>/dev/null | wc -l) = 0 ]"
ok $? "the container is gone from $RT's state"
if have_cgroup_v1; then
  wait_for 30 none_alive $ids
  ok $? "none of its processes is left"
  wait_for 30 sh -c "[ ! -d '$MEMCG/job-$c.1' ]"
  ok $? "its cgroup is removed"
  [ -d "$MEMCG/job-$c.1" ] && echo "#   still there: $(find "$MEMCG/job-$c.1" -name cgroup.procs -exec cat {} + | tr '\n' ' ')" >&2
fi

# ---- the agent killed and restarted while a container runs ----
r=$(submit '{"team":"research","gpus":1,"image":"'"$REF"'","command":["sh","-c","echo begin; while [ ! -f /gantry/checkpoint/go ]; do sleep 0.1; done; echo survived; exit 3"]}')
wait_for 60 sh -c "curl -s -H 'Authorization: Bearer $ADMIN' $GANTRY_SERVER/v1/jobs/$r/logs | grep -q begin"
ok $? "a container job runs"
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
sup=$(sed -n 's/^supervisor_pid=//p' "$WORK/n1/jobs/$r.1/state" | tail -1)
ok $(kill -0 "$sup" 2>/dev/null && echo 0 || echo 1) "its supervisor outlives the agent"
agent
wait_for 20 sh -c "[ \$(grep -c 'registered with epoch' '$WORK/agent.log') -ge 2 ]"
ok $? "the agent is back"
like "$(grep "found job $r" "$WORK/agent.log")" "still running" "it adopts the running container"
is "$(job_state "$r")" running "the job is still running"
touch "$WORK/n1/checkpoints/$r/go"
wait_for 30 job_is "$r" failed
ok $? "its end is reported after the restart"
is "$(field "$r" '{exit_code}')" 3 "with the container's exit code"
like "$(logs "$r")" survived "its output is all there"

# ---- an image that does not exist ----
b=$(submit '{"team":"research","gpus":2,"image":"oci:'"$WORK"'/no-such-layout:x","command":["true"]}')
wait_for 60 job_is "$b" failed
ok $? "a job whose image does not exist fails"
is "$(field "$b" '{end_reason}')" image_pull "end_reason image_pull"
like "$(field "$b" '{end_message}')" "no-such-layout" "the message is skopeo's, naming the image"
n=$(submit '{"team":"research","gpus":2,"command":["true"]}')
wait_for 30 job_is "$n" succeeded
ok $? "its GPUs are free again"

# ---- preempted: resumes from its checkpoint in a new container ----
# a step and its checkpoint are written by the shell itself, between two looks at the stop flag
# (SIGTERM reaches every process of the job: an external mv could die between the two)
COUNTER='n=0; if [ -f /gantry/checkpoint/n ]; then n=$(cat /gantry/checkpoint/n); echo "resuming after step $n"; fi
stop=; trap "stop=1" TERM
while [ $n -lt 40 ] && [ -z "$stop" ]; do n=$((n+1)); echo "$n $GANTRY_INCARNATION" >> /gantry/output/steps; echo $n > /gantry/checkpoint/n; sleep 0.05; done
exit 0'
body=$(perl -MJSON::PP -e 'print JSON::PP->new->encode({team=>"research",gpus=>2,priority_class=>"experimental",image=>$ARGV[0],checkpoint=>{signal=>"SIGTERM",grace=>"10s"},command=>["sh","-c",$ARGV[1]]})' "$REF" "$COUNTER")
p=$(submit "$body")
steps=$WORK/outputs/research/$p/steps
wait_for 60 sh -c "[ \$(wc -l < '$steps' 2>/dev/null || echo 0) -ge 5 ]"
ok $? "a checkpointing container job runs"
h=$(submit '{"team":"research","gpus":2,"priority_class":"production","command":["sh","-c","sleep 0.5"]}')
wait_for 60 sh -c "grep -q ' 2\$' '$steps'"
ok $? "it is preempted and resumes (incarnation 2)"
is "$(job_state "$h")" succeeded "the production job ran in between"
wait_for 60 job_is "$p" succeeded
ok $? "the container job finishes"
is "$(awk '{print $1}' "$steps" | tr '\n' ' ')" "$(seq 1 40 | tr '\n' ' ')" "steps 1..40 each exactly once across the preemption"
like "$(logs "$p")" "resuming after step [1-9]" "incarnation 2 resumed from its checkpoint in a new container"
done_testing
