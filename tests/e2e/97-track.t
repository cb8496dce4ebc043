#!/usr/bin/env bash
# Experiment tracking (docs/tracking.md) with a real server and agent: a job logs metrics as
# JSON lines to $GANTRY_METRICS and the agent ships them; `gantry metrics` prints them, -f
# follows them while the job runs and stops when it ends; invalid lines are counted, never
# fatal; the job's own token ($GANTRY_JOB_TOKEN) writes that job's metrics over HTTP and
# nothing else, and expires with the run; `gantry compare` tabulates params against final and
# best metrics, for jobs and for a whole array (a sweep).
. "$(dirname "$0")/agent-lib.sh"
research_cluster
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 4 "$WORK/n1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "a server and an agent"

# ---- a job logs metrics; gantry metrics shows them; -f follows ----
cat > "$WORK/log3.sh" <<'S'
#!/bin/sh
# three points, an invalid line, then (after $1 appears) two more
m=$GANTRY_METRICS
for i in 1 2 3; do printf '{"step": %d, "loss": %d.5, "lr": 0.001}\n' $i $((10 - i)) >> "$m"; done
echo 'this is not json' >> "$m"
while [ ! -e "$1" ]; do sleep 0.05; done
printf '{"step": 4, "loss": 6.5, "lr": 0.001}\n{"step": 5, "loss": 5.5, "acc": 0.75}\n' >> "$m"
S
chmod +x "$WORK/log3.sh"
j=$(submit '{"team":"research","gpus":1,"params":{"lr":0.001,"model":"small"},"command":["'"$WORK"'/log3.sh","'"$WORK"'/go1"]}')
has_steps() { [ "$(api GET "/v1/jobs/$1/metrics" | jget '{points}' | perl -MJSON::PP -e 'print scalar @{decode_json(<STDIN>)}')" -ge "$2" ]; }
wait_for 30 has_steps "$j" 3
ok $? "the agent ships the lines of a running job's \$GANTRY_METRICS"
is "$(job_state "$j")" running "while the job runs"
"$GANTRY" metrics -f "$j" > "$WORK/follow.out" 2> "$WORK/follow.err" &
FOLLOW=$!
PIDS+=("$FOLLOW")
wait_for 20 grep -q 'step=3 ' "$WORK/follow.out"
ok $? "gantry metrics -f prints the points so far"
touch "$WORK/go1"
wait_for 30 job_is "$j" succeeded
ok $? "the job succeeds"
follow_ended() { ! kill -0 "$FOLLOW" 2>/dev/null; }
wait_for 20 follow_ended
ok $? "gantry metrics -f ends by itself once the job has ended"
is "$(grep -o 'step=[0-9]*' "$WORK/follow.out" | tr '\n' ' ')" "step=1 step=2 step=3 step=4 step=5 " "-f printed every step once, in order, the last two as they came"
like "$(grep 'step=5 ' "$WORK/follow.out")" 'acc=0.75' "with their values"
"$GANTRY" metrics "$j" > "$WORK/table" 2> "$WORK/table.err"
ok $? "gantry metrics JOB exits 0 with an invalid line in the file"
is "$(head -n 1 "$WORK/table" | tr -s ' ')" "STEP RUN loss lr acc" "a table: STEP, RUN, then each metric"
is "$(awk 'NR > 1 {print $1 ":" $3}' "$WORK/table" | tr '\n' ' ')" "1:9.5 2:8.5 3:7.5 4:6.5 5:5.5 " "every step's loss"
like "$(cat "$WORK/table.err")" "1 invalid line skipped.*not JSON: 'this is not json'" "the invalid line is counted and quoted on stderr"
csv=$("$GANTRY" metrics "$j" -o csv 2>/dev/null)
is "$(printf '%s\n' "$csv" | head -n 1)" "step,incarnation,time,superseded,loss,lr,acc" "-o csv: the header"
is "$(printf '%s\n' "$csv" | sed -n 6p | cut -d, -f1,2,4,5,7)" "5,1,false,5.5,0.75" "-o csv: a row"
json=$("$GANTRY" metrics "$j" -o json 2>/dev/null)
is "$(printf '%s' "$json" | jget '{invalid}')" 1 "-o json: invalid counts the bad line"
is "$(printf '%s' "$json" | jget '{summary}{loss}{last}')" 5.5 "the summary's final loss"
is "$(printf '%s' "$json" | jget '{summary}{loss}{min}')" 5.5 "and its best (min)"
is "$(printf '%s' "$json" | jget '{params}{model}')" small "params come with the series"
is "$(api GET "/v1/jobs/$j" | jget '{params}{lr}')" 0.001 "the job keeps its params field"
wait_for 10 test ! -e "$WORK/n1/metrics/$j.1.jsonl"
ok $? "the agent removes the node's metrics file once the server has it all"
api POST /v1/jobs '{"team":"research","gpus":1,"params":{"x":{"nested":1}},"command":["true"]}' > /dev/null
is "$(cat "$WORK/status")" 400 "params whose values are not scalars are refused (400)"

# ---- the job's own token ----
cat > "$WORK/tok.sh" <<'S'
#!/bin/sh
# POST points with the job's token; try where it may not go; keep the token for later
w=$1
printf '%s' "$GANTRY_JOB_TOKEN" > "$w/token.$GANTRY_JOB_ID"
post() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $GANTRY_JOB_TOKEN" "$@"; }
post -d '{"step": 1, "reward": 0.5}
{"step": 2, "reward": 0.7}
not a point' "$GANTRY_METRICS_URL" > "$w/own.$GANTRY_JOB_ID"
other=$(cat "$w/other")
post -d '{"step": 99, "reward": -1}' "${GANTRY_METRICS_URL%/*/metrics}/$other/metrics" > "$w/other.$GANTRY_JOB_ID"
post "${GANTRY_METRICS_URL%/*/*/metrics}/jobs" > "$w/list.$GANTRY_JOB_ID"
post -X DELETE "${GANTRY_METRICS_URL%/metrics}" > "$w/cancel.$GANTRY_JOB_ID"
S
chmod +x "$WORK/tok.sh"
echo "$j" > "$WORK/other"
t=$(submit '{"team":"research","gpus":1,"command":["'"$WORK"'/tok.sh","'"$WORK"'"]}')
wait_for 30 job_is "$t" succeeded
ok $? "a job that writes metrics over HTTP succeeds"
is "$(cat "$WORK/own.$t")" 200 "its token writes its own metrics (POST \$GANTRY_METRICS_URL)"
is "$(api GET "/v1/jobs/$t/metrics" | jget '{summary}{reward}{last}')" 0.7 "and they are there"
is "$(api GET "/v1/jobs/$t/metrics" | jget '{invalid}')" 1 "the invalid line of the body is counted"
is "$(cat "$WORK/other.$t")" 403 "its token cannot write another job's metrics (403)"
is "$(api GET "/v1/jobs/$j/metrics" | jget '{summary}{reward}')" null "job $j got nothing from it"
is "$(cat "$WORK/list.$t")" 403 "nor list jobs"
is "$(cat "$WORK/cancel.$t")" 403 "nor cancel its own job"
tok=$(cat "$WORK/token.$t")
code=$(curl -s -o "$WORK/late" -w '%{http_code}' -H "Authorization: Bearer $tok" -d '{"reward": 1}' "$GANTRY_SERVER/v1/jobs/$t/metrics")
is "$code" 401 "once the job has ended its token is refused (401)"
like "$(cat "$WORK/late")" expired_token "as expired"
forged=$(printf '%s' "$tok" | sed "s/^gj_${t}_/gj_${j}_/")
code=$(curl -s -o "$WORK/forged" -w '%{http_code}' -H "Authorization: Bearer $forged" -d '{"reward": 1}' "$GANTRY_SERVER/v1/jobs/$j/metrics")
is "$code" 401 "a token edited to name another job is refused (401)"
like "$(cat "$WORK/forged")" unknown_token "as unknown (its MAC is not that job's)"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN" -d '{"reward": 1}' "$GANTRY_SERVER/v1/jobs/$j/metrics")
is "$code" 409 "an admin cannot add points to a job that has ended (409)"

# ---- compare: jobs, and an array as a sweep ----
cat > "$WORK/sweep.sh" <<'S'
#!/bin/sh
# lr from the array index; the loss falls to a floor that depends on it
i=${GANTRY_ARRAY_INDEX:-0}
for s in 1 2 3 4; do
  awk -v i="$i" -v s="$s" 'BEGIN { lr = 10 ^ -(i + 1); printf "{\"step\": %d, \"loss\": %.4f, \"lr\": %g}\n", s, (i + 1) + 12 / s + (s == 4 ? 2 : 0), lr }' >> "$GANTRY_METRICS"
done
S
chmod +x "$WORK/sweep.sh"
a=$(submit '{"team":"research","gpus":1,"array":"0-3","params":{"model":"base"},"command":["'"$WORK"'/sweep.sh"]}')
for k in 0 1 2 3; do wait_for 30 job_is "$((a + k))" succeeded; done
ok $? "an array of 4 tasks runs"
"$GANTRY" compare "$a" > "$WORK/cmp" 2>&1
ok $? "gantry compare ARRAY_ID exits 0"
is "$(head -n 1 "$WORK/cmp" | tr -s ' ')" "JOB STATE params.model loss loss:min lr lr:max" "columns: job, state, params, each metric final and best (loss: min by default)"
is "$(awk 'NR > 1 {print $1}' "$WORK/cmp" | tr '\n' ' ')" "${a}_0 ${a}_1 ${a}_2 ${a}_3 " "one row per task of the array"
is "$(awk -v r="${a}_2" '$1 == r {print $4 " " $5}' "$WORK/cmp")" "8 7" "task 2: final loss 8 (its last step), best 7 (step 3)"
"$GANTRY" compare "$a" --best loss=max -o csv > "$WORK/cmp.csv"
is "$(head -n 1 "$WORK/cmp.csv")" "job,state,params.model,loss,loss:max,lr,lr:max" "--best loss=max changes the column"
is "$(sed -n 2p "$WORK/cmp.csv" | cut -d, -f1,5)" "${a}_3,16" "and sorts by it, best first (task 3's highest loss 16)"
"$GANTRY" compare "$j" "$((a + 1))" -o json > "$WORK/cmp.json"
is "$(jget '{runs}->[0]{params}{model}' < "$WORK/cmp.json")" small "compare JOB JOB: -o json has each run's params"
is "$(jget '{runs}->[1]{metrics}{loss}{best}' < "$WORK/cmp.json")" 6 "and each metric's best"
is "$(jget '{runs}->[0]{metrics}{acc}{final}' < "$WORK/cmp.json")" 0.75 "and final"
done_testing
