#!/usr/bin/env bash
# Preemption end to end with examples/jobs/checkpoint-counter.py: a production job preempts
# it (SIGTERM, grace), it goes back to the queue, resumes from GANTRY_CHECKPOINT_DIR, and no
# completed step is lost or repeated.
. "$(dirname "$0")/agent-lib.sh"
ROOT=${GANTRY_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
cat > "$WORK/cluster.yaml" <<'Y'
teams:
  - name: research
    quota: {gpus: 2}
scheduler:
  preemption: {enabled: true, grace_period: 10s, min_runtime: 0s}
Y
start_server --config "$WORK/cluster.yaml" --heartbeat 1
"$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name n1 --gpus 2 \
  --state-dir "$WORK/n1" --job-user root --allow-root --no-cgroups 2>>"$WORK/agent.log" &
PIDS+=($!)
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"
c=$(submit '{"team":"research","gpus":2,"priority_class":"experimental","checkpoint":{"signal":"SIGTERM","grace":"10s"},"env":{"TARGET":"40","STEP_S":"0.05","STEPS_LOG":"'"$WORK"'/steps"},"command":["python3","'"$ROOT"'/examples/jobs/checkpoint-counter.py"]}')
wait_for 20 sh -c "[ \$(wc -l < '$WORK/steps') -ge 5 ]"
ok $? "the counter runs"
p=$(submit '{"team":"research","gpus":2,"priority_class":"production","command":["sh","-c","sleep 0.5"]}')
wait_for 20 sh -c "grep -q ' 2\$' '$WORK/steps'"
ok $? "it is preempted and resumes (incarnation 2)"
is "$(job_state "$p")" succeeded "the production job ran in between"
wait_for 30 job_is "$c" succeeded
ok $? "the counter finishes"
is "$(awk '{print $1}' "$WORK/steps" | tr '\n' ' ')" "$(seq 1 40 | tr '\n' ' ')" "steps 1..40 each exactly once across the preemption"
like "$(curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/jobs/$c/logs")" "resuming after step [1-9]" "incarnation 2 resumed from its checkpoint"
# Usage counts both runs: the one before the preemption is kept in earlier_runs.
job=$(api GET "/v1/jobs/$c")
is "$(printf '%s' "$job" | jget '{earlier_runs}->[0]{incarnation}')" 1 "earlier_runs holds incarnation 1"
gpu_s() { perl -MJSON::PP -e 'my $j = decode_json(join "", <STDIN>); my $s = 0;
  $s += $_->{end_time} - $_->{start_time} for @{$j->{earlier_runs} || []};
  $s += $j->{end_time} - $j->{start_time}; printf "%.3f", $s * $j->{gpus}'; }
want=$(perl -e 'printf "%.3f", $ARGV[0] + $ARGV[1]' "$(printf '%s' "$job" | gpu_s)" "$(api GET "/v1/jobs/$p" | gpu_s)")
got=$(api GET "/v1/usage?by=user" | perl -MJSON::PP -e 'my $u = decode_json(join "", <STDIN>);
  my ($r) = grep { $_->{user} eq "admin" } @{$u->{usage}}; printf "%.3f", $r->{gpu_hours} * 3600')
perl -e 'exit !(abs($ARGV[0] - $ARGV[1]) < 0.01)' "$want" "$got"
ok $? "usage counts every run: admin's $got GPU-seconds = the counter's two runs + the production job ($want)"
done_testing
