#!/usr/bin/env bash
# Metrics survive what jobs survive (docs/tracking.md): an agent killed (-9) while its job
# logs, and the lines written while no agent runs, reach the server once, in order, none lost
# and none doubled (the restarted agent sends the file from its start again; the server knows
# how much of it it has). A preempted job that resumes from its checkpoint continues the same
# series: each point keeps its run (incarnation); the steps the second run did again (it went
# back to its last checkpoint) supersede the first run's, and only theirs count.
. "$(dirname "$0")/agent-lib.sh"
cat > "$WORK/cluster.yaml" <<'Y'
teams:
  - name: research
    quota: {gpus: 2}
scheduler:
  preemption: {enabled: true, grace_period: 10s, min_runtime: 0s}
Y
start_server --config "$WORK/cluster.yaml" --heartbeat 1
start_agent() { run_agent n1 2 "$WORK/n1" agent.log --no-cgroups; }
start_agent
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "a server and an agent"
steps() { api GET "/v1/jobs/$1/metrics" | jget '{points}' | perl -MJSON::PP -e 'print join(" ", map { $_->{step} } @{decode_json(<STDIN>)})'; }
npoints() { [ "$(steps "$1" | wc -w)" -ge "$2" ]; }

# ---- an agent restart loses nothing and doubles nothing ----
cat > "$WORK/phases.sh" <<'S'
#!/bin/sh
# steps 1-5, wait for go1; 6-10, wait for go2; 11-15
w=$1 s=0
phase() { for k in 1 2 3 4 5; do s=$((s + 1)); printf '{"step": %d, "loss": %d}\n' $s $((100 - s)) >> "$GANTRY_METRICS"; done; }
phase; while [ ! -e "$w/go1" ]; do sleep 0.05; done
phase; echo phase2 > "$w/phase2"; while [ ! -e "$w/go2" ]; do sleep 0.05; done
phase
S
chmod +x "$WORK/phases.sh"
j=$(submit '{"team":"research","gpus":1,"command":["'"$WORK"'/phases.sh","'"$WORK"'"]}')
wait_for 30 npoints "$j" 5
ok $? "the first 5 points reach the server"
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
touch "$WORK/go1"
wait_for 20 test -e "$WORK/phase2"
ok $? "the job writes 5 more lines while no agent runs"
is "$(steps "$j")" "1 2 3 4 5" "the server has only the first 5 meanwhile"
start_agent
wait_for 30 npoints "$j" 10
ok $? "the restarted agent ships the lines written while it was down"
touch "$WORK/go2"
wait_for 30 job_is "$j" succeeded
ok $? "the job succeeds"
is "$(steps "$j")" "$(seq -s ' ' 1 15)" "steps 1..15, each exactly once, in order"
is "$(api GET "/v1/jobs/$j/metrics" | jget '{summary}{loss}{last}')" 85 "the final loss is the last line's"

# ---- a preempted and resumed job: one series ----
cat > "$WORK/train.py" <<'P'
import json, os, signal, sys, time
# Trains TARGET steps; checkpoints once, at step 4 (preempted later, it resumes from step 5:
# the steps after 4 are done again); logs every step to $GANTRY_METRICS; exits at SIGTERM
# (preemption) after the step in hand.
ck = os.path.join(os.environ["GANTRY_CHECKPOINT_DIR"], "step")
start = int(open(ck).read()) if os.path.exists(ck) else 0
target = int(os.environ["TARGET"])
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
with open(os.environ["GANTRY_METRICS"], "a") as m:
    for step in range(start + 1, target + 1):
        m.write(json.dumps({"step": step, "loss": 100.0 / step, "run": int(os.environ["GANTRY_INCARNATION"])}) + "\n")
        m.flush()
        if step == 4:
            open(ck + ".tmp", "w").write(str(step))
            os.replace(ck + ".tmp", ck)
        if stop:
            sys.exit(0)
        time.sleep(float(os.environ["STEP_S"]))
P
c=$(submit '{"team":"research","gpus":2,"priority_class":"experimental","checkpoint":{"signal":"SIGTERM","grace":"10s"},"env":{"TARGET":"30","STEP_S":"0.1"},"command":["python3","'"$WORK"'/train.py"]}')
wait_for 30 npoints "$c" 6
ok $? "the training job logs its steps"
p=$(submit '{"team":"research","gpus":2,"priority_class":"production","command":["true"]}')
wait_for 30 job_is "$p" succeeded
ok $? "a production job preempts it and runs"
wait_for 60 job_is "$c" succeeded
ok $? "the training job resumes and finishes"
api GET "/v1/jobs/$c/metrics" > "$WORK/series.json"
is "$(jget '{incarnation}' < "$WORK/series.json")" 2 "it ran twice"
# every point: its step, run, superseded flag; the live ones must be 1..30 once each
perl -MJSON::PP -e 'my $d = decode_json(join "", <STDIN>); for (@{$d->{points}}) { printf "%d %d %d %d\n", $_->{step}, $_->{incarnation}, $_->{superseded} ? 1 : 0, $_->{run} }' < "$WORK/series.json" > "$WORK/points"
is "$(awk '$3 == 0 {print $1}' "$WORK/points" | tr '\n' ' ')" "$(seq -s ' ' 1 30) " "the series (superseded points aside) is steps 1..30 once each, in order"
is "$(awk '$2 != $4' "$WORK/points" | wc -l)" 0 "each point keeps the run (incarnation) that logged it"
first2=$(awk '$2 == 2 {print $1; exit}' "$WORK/points")
is "$first2" 5 "run 2 continues the series from its checkpoint (step 4): its first step is 5"
is "$(awk '$2 == 1 && $1 >= 5 && $3 == 0' "$WORK/points" | wc -l)" 0 "run 1's points from step 5 on are superseded"
sup=$(awk '$2 == 1 && $3 == 1' "$WORK/points" | wc -l)
ok $([ "$sup" -ge 2 ] && echo 0 || echo 1) "run 1 logged steps 5 and 6 at least before its preemption ($sup superseded)"
is "$(awk '$2 == 1 && $1 < 5 && $3 == 1' "$WORK/points" | wc -l)" 0 "and only those"
is "$(awk '$2 == 2 && $3 == 1' "$WORK/points" | wc -l)" 0 "no point of the last run is superseded"
is "$(jget '{summary}{loss}{count}' < "$WORK/series.json")" 30 "the summary counts the 30 live points"
like "$("$GANTRY" metrics "$c" | awk '$2 == "1*"' | head -n 1)" . "gantry metrics marks superseded points with RUN 1*"
done_testing
