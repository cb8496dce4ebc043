#!/usr/bin/env bash
# Idle allocations (issue 11 item 3): jobs whose GPUs stay under the threshold for idle.after
# (here 5% for 2 s; the stand-in NVML's loads chosen through GANTRY_FAKE_NVML_FILE) are flagged:
# GET /v1/idle, gantry idle, the job's idle fields, metrics, idle GPU-hours in the usage
# report; a busy sample ends it; the class's idle_action: report, or requeue (preemptible
# jobs only, checkpoint signal first).
. "$(dirname "$0")/agent-lib.sh"
FAKE_NVML=$(dirname "$GANTRY")/tests/libfake_nvml.so
[ -f "$FAKE_NVML" ] || { echo "1..0 # skip no stand-in NVML at $FAKE_NVML (make $FAKE_NVML)"; exit 0; }
note() { echo "# $*"; }
cat > "$WORK/cluster.yaml" <<YAML
teams:
  - name: research
    quota: {gpus: 8}
  - name: vision
    quota: {gpus: 0}
priority_classes:
  - {name: production,   value: 1000, preemptible: false, idle_action: requeue}
  - {name: normal,       value: 100}
  - {name: experimental, value: 10, idle_action: requeue}
idle: {threshold: 5%, after: 2s}
YAML
start_server --config "$WORK/cluster.yaml" --heartbeat 1
LOAD=$WORK/nvml.txt
declare -A UTIL=([0]=50 [1]=50 [2]=50 [3]=50)
# set_util GPU PERCENT: that GPU's utilization from the next sample on.
set_util() {
  UTIL[$1]=$2
  local g; for g in 0 1 2 3; do echo "$g ${UTIL[$g]} 1000"; done > "$LOAD.tmp" && mv -f "$LOAD.tmp" "$LOAD"
}
set_util 0 50
GANTRY_FAKE_NVML_FILE=$LOAD "$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name n1 \
  --nvml-lib "$FAKE_NVML" --state-dir "$WORK/n1" --no-cgroups --job-user root --allow-root \
  2>>"$WORK/agent.log" &
PIDS+=($!)
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "an agent on the stand-in NVML registers"

# A job that records its GPU and waits; a checkpoint signal (SIGUSR1) is noted, then it exits.
job() {
  submit '{"team":"research","gpus":1,"priority_class":"'"$1"'","checkpoint":{"signal":"SIGUSR1","grace":"10s"},"command":["sh","-c","trap \"echo $GANTRY_JOB_ID >> '"$WORK"'/ckpt.$GANTRY_JOB_ID; exit 0\" USR1; echo $CUDA_VISIBLE_DEVICES > '"$WORK"'/gpu.$GANTRY_JOB_ID.$GANTRY_INCARNATION; while :; do sleep 0.1; done"]}'
}
field() { api GET "/v1/jobs/$1" | jget "{$2}"; }
samples_at_least() { [ "$(field "$1" 'gpu_use}{samples')" -ge "$2" ] 2>/dev/null; }
idle_lists() { api GET /v1/idle | jget '{idle}' | grep -q "\"job\":$1[,}]"; }

r=$(job normal)        # report
b=$(job normal)        # stays busy
wait_for 20 sh -c "ls $WORK/gpu.$r.* $WORK/gpu.$b.*"
ok $? "two jobs start"
gr=$(cat "$WORK"/gpu.$r.*); gb=$(cat "$WORK"/gpu.$b.*)
note "job $r on GPU $gr, job $b on GPU $gb"

# ---- under the threshold for idle.after: flagged ----
set_util "$gr" 2
wait_for 20 idle_lists "$r"
ok $? "job $r, at 2% for 2 s, is listed by GET /v1/idle"
v=$(api GET /v1/idle)
is "$(printf '%s' "$v" | jget '{idle}[0]{team}') $(printf '%s' "$v" | jget '{idle}[0]{action}') $(printf '%s' "$v" | jget '{threshold}') $(printf '%s' "$v" | jget '{after_s}')" \
  "research report 0.05 2" "with its team, its class's action (report) and the configuration"
idle_for=$(printf '%s' "$v" | jget '{idle}[0]{idle_for_s}')
perl -e "exit !($idle_for >= 2)"
ok $? "flagged only once idle for idle.after ($idle_for s)"
is "$(field "$r" idle)" true "the job shows idle: true"
like "$(field "$r" idle_since)" '^[0-9]{10}' "and idle_since"
is "$(printf '%s' "$v" | jget '{idle}' | grep -o "\"job\":$b[,}]")" "" "the busy job (50%) is not listed"
t=$("$GANTRY" idle)
like "$t" "^JOB +TEAM +USER +GPUS +IDLE FOR +MEAN UTIL +ACTION" "gantry idle: a table"
like "$t" "^$r +research +[^ ]+ +1 +[0-9:]+ +2\.0% +report" "its row: job, team, user, GPUs, idle for, mean utilization, action"
m=$(curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/metrics")
like "$m" '^gantry_idle_allocations\{team="research"\} 1$' "gantry_idle_allocations counts it"
like "$m" '^gantry_idle_gpus\{team="research"\} 1$' "gantry_idle_gpus its GPU"
grep -q "job $r (team research, user [^ ]*) is idle" "$WORK/server.log"
ok $? "the server's log says so"
ev=$(api GET "/v1/jobs/$r/events" | perl -MJSON::PP -e 'for (@{decode_json(join "", <STDIN>)->{events}}) { print "$_->{type} $_->{action} $_->{threshold} $_->{after_s}\n" if $_->{type} eq "idle" }')
is "$ev" "idle report 0.05 2" "the job's events: one idle event (action report, threshold, after)"
like "$("$GANTRY" show "$r")" "idle: its GPUs stayed under 5% utilization for [0-9]+ s \(mean 2\.0%\); reported only" \
  "gantry show's Events say it"

# The busy job has had samples over more than idle.after and was never flagged.
n=$(field "$b" 'gpu_use}{samples')
wait_for 20 samples_at_least "$b" $((n + 4))
is "$(field "$b" idle)" false "job $b, at 50% throughout, is not idle"

# ---- busy again: the flag ends; the stretch is kept for the usage report ----
set_util "$gr" 60
not_idle() { [ "$(field "$r" idle)" = false ]; }
wait_for 20 not_idle
ok $? "one sample at 60% ends job $r's idle flag"
is "$(api GET /v1/idle | jget '{idle}')" "[]" "GET /v1/idle lists nothing"
like "$("$GANTRY" idle)" "^No idle allocations \(threshold 5%, after 00:00:02\)" "gantry idle says so"
is "$(field "$r" idle_spans | perl -MJSON::PP -e 'print scalar @{decode_json(<STDIN>)}')" 1 "the stretch is kept in idle_spans"
h=$(api GET /v1/usage | jget '{usage}[0]{idle_gpu_hours}')
perl -e "exit !($h >= 2/3600 && $h < 1)"
ok $? "GET /v1/usage: research's idle_gpu_hours counts it ($h)"

# ---- idle_action requeue: a preemptible job is checkpointed and requeued ----
api DELETE "/v1/jobs/$b" >/dev/null
wait_for 20 job_is "$b" cancelled
e=$(job experimental)
wait_for 20 sh -c "ls $WORK/gpu.$e.1"
ok $? "an experimental job (idle_action: requeue) starts"
ge=$(cat "$WORK/gpu.$e.1")
set_util "$ge" 1
wait_for 30 test -s "$WORK/ckpt.$e"
ok $? "idle for 2 s: it gets its checkpoint signal (SIGUSR1)"
ran_again() { [ "$(field "$e" incarnation)" -ge 2 ]; }
wait_for 30 ran_again
ok $? "and returns to the queue: it runs again (incarnation $(field "$e" incarnation))"
like "$(field "$e" earlier_runs)" '"incarnation":1' "its first run is kept in earlier_runs"
like "$(curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/metrics")" '^gantry_jobs_requeued_total 1$' \
  "gantry_jobs_requeued_total counts the idle requeue"
grep -q "job $e (team research, user [^ ]*) is idle: .*it is stopped" "$WORK/server.log"
ok $? "the server's log says why"
like "$(api GET "/v1/jobs/$e/events" | perl -MJSON::PP -e 'print join " ", map { $_->{type} . ($_->{action} ? ":$_->{action}" : "") } @{decode_json(join "", <STDIN>)->{events}}')" \
  "started idle:requeue .*started" "its events: started, idle (action requeue), ..., started again"
api DELETE "/v1/jobs/$e" >/dev/null

# ---- requeue asked, but the class is not preemptible: only reported ----
p=$(job production)
wait_for 20 sh -c "ls $WORK/gpu.$p.1"
ok $? "a production job (not preemptible, idle_action: requeue) starts"
gp=$(cat "$WORK/gpu.$p.1")
set_util "$gp" 0
wait_for 20 idle_lists "$p"
ok $? "it is flagged idle"
is "$(api GET /v1/idle | jget '{idle}' | perl -MJSON::PP -e 'for (@{decode_json(<STDIN>)}) { print $_->{action} if $_->{job} == '"$p"' }')" report \
  "its action is report: its class is not preemptible"
n=$(field "$p" 'gpu_use}{samples')
wait_for 20 samples_at_least "$p" $((n + 3))
is "$(field "$p" state) $(field "$p" incarnation) $(field "$p" stopping)" "running 1 null" "it runs on, never stopped"
test ! -e "$WORK/ckpt.$p"
ok $? "and got no signal"

# ---- a member sees only its team's idle jobs ----
RTOK=$("$GANTRY" token create --user rita --role member --team research)
VTOK=$("$GANTRY" token create --user vic --role member --team vision)
like "$(curl -s -H "Authorization: Bearer $RTOK" "$GANTRY_SERVER/v1/idle" | jget '{idle}')" "\"job\":$p[,}]" "a member of research sees its team's idle job"
is "$(curl -s -H "Authorization: Bearer $VTOK" "$GANTRY_SERVER/v1/idle" | jget '{idle}')" "[]" "another team's member sees none of research's in GET /v1/idle"
like "$("$GANTRY" idle --token "$VTOK")" "^No idle allocations" "nor through gantry idle"
api DELETE "/v1/jobs/$p" >/dev/null
api DELETE "/v1/jobs/$r" >/dev/null
wait_for 20 job_is "$r" cancelled
ok $? "the jobs are cancelled"
done_testing
