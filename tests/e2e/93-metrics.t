#!/usr/bin/env bash
# Metrics by Prometheus's conventions (issue 11 item 5, docs/monitoring.md): a live scrape of
# /v1/metrics through a read-only viewer token passes `promtool check metrics`; job life,
# preemptions and scheduling passes are counters (_total), waits, pass durations and dispatch
# latency histograms in seconds; gantry_build_info; team limits beside quotas. The shipped
# alert rules pass `promtool check rules`; every metric the Grafana dashboard and the alerts
# name is one the server exposes. A real Prometheus (Debian's package) scrapes the server on
# loopback with the viewer token, loads the alerts, and a query returns Gantry series.
. "$(dirname "$0")/agent-lib.sh"
ROOT=${GANTRY_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
printf 'teams:\n  - name: research\n    quota: {gpus: 1}\n    limit: {gpus: 2}\n  - name: vision\n    quota: {gpus: 1}\nscheduler:\n  preemption: {enabled: true, grace_period: 1s, min_runtime: 0s}\n' > "$WORK/cluster.yaml"
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 2 "$WORK/n1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"
G() { "$GANTRY" "$@"; }
sid() { awk '{print $3}'; }

VIEW=$(G token create --user prometheus --role viewer)
scrape() { curl -s -H "Authorization: Bearer $VIEW" "$GANTRY_SERVER/v1/metrics"; }
# metric NAME_AND_LABELS: the sample's value in a fresh scrape (empty when absent).
metric() { scrape | awk -v k="$1" '$1 == k {print $2}'; }
mtype() { scrape | awk -v n="$1" '$1 == "#" && $2 == "TYPE" && $3 == n {print $4}'; }

# ---- jobs that end in three ways, one that waits for another ----
a=$(G submit --team research -- true | sid)
b=$(G submit --team research -- sh -c 'exit 3' | sid)
wait_for 20 job_is "$a" succeeded; ok $? "job $a succeeds"
wait_for 20 job_is "$b" failed; ok $? "job $b fails"
c=$(G submit --team vision --time 1h -- sleep 300 | sid)
wait_for 20 job_is "$c" running; ok $? "job $c runs"
d=$(G submit --team vision --after "$c" -- true | sid)
G cancel "$d" >/dev/null
wait_for 20 job_is "$d" cancelled; ok $? "job $d is cancelled while it waits"

# ---- the viewer token scrapes; the scrape is clean ----
is "$(curl -s -o "$WORK/scrape.txt" -w '%{http_code}' -H "Authorization: Bearer $VIEW" "$GANTRY_SERVER/v1/metrics")" 200 \
  "a viewer token scrapes /v1/metrics"
lint=$(promtool check metrics < "$WORK/scrape.txt" 2>&1); rc=$?
is "$rc:$lint" "0:" "promtool check metrics reports nothing on a live scrape"
like "$(grep -c '^# TYPE .* gauge$' "$WORK/scrape.txt")" '^[0-9]+$' "the scrape has gauges"

# ---- counters and histograms, by name and type ----
for n in gantry_jobs_submitted_total gantry_jobs_started_total gantry_jobs_finished_total \
         gantry_preemptions_total gantry_scheduling_passes_total gantry_jobs_requeued_total; do
  is "$(mtype $n)" counter "$n is a counter"
done
for n in gantry_job_wait_seconds gantry_scheduling_pass_duration_seconds gantry_dispatch_latency_seconds; do
  is "$(mtype $n)" histogram "$n is a histogram"
done
is "$(metric 'gantry_jobs_submitted_total{team="research"}') $(metric 'gantry_jobs_submitted_total{team="vision"}')" "2 2" \
  "jobs submitted, by team"
is "$(metric 'gantry_jobs_started_total{team="research"}') $(metric 'gantry_jobs_started_total{team="vision"}')" "2 1" \
  "jobs started, by team (the cancelled one never started)"
is "$(metric 'gantry_jobs_finished_total{outcome="succeeded"}') $(metric 'gantry_jobs_finished_total{outcome="failed"}') $(metric 'gantry_jobs_finished_total{outcome="cancelled"}')" \
  "1 1 1" "jobs finished, by outcome"
is "$(metric 'gantry_preemptions_total{reason="reclaim"}') $(metric 'gantry_preemptions_total{reason="priority"}')" "0 0" \
  "preemptions by reason, 0 before any"
is "$(metric gantry_job_wait_seconds_count)" 3 "three waits observed (one per start)"
is "$(metric 'gantry_job_wait_seconds_bucket{le="+Inf"}')" 3 "le=+Inf equals the count"
wait_for 20 sh -c "[ \"\$(curl -s -H 'Authorization: Bearer $VIEW' '$GANTRY_SERVER/v1/metrics' | awk '\$1 == \"gantry_dispatch_latency_seconds_count\" {print \$2}')\" = 3 ]"
ok $? "dispatch latency: one observation per start, when its node reports it started"
passes=$(metric gantry_scheduling_passes_total)
like "$passes" '^[1-9][0-9]*$' "scheduling passes are counted ($passes)"
scrape > "$WORK/one.txt"   # both from one scrape: passes go on between two
is "$(awk '$1 == "gantry_scheduling_pass_duration_seconds_count" {print $2}' "$WORK/one.txt")" \
  "$(awk '$1 == "gantry_scheduling_passes_total" {print $2}' "$WORK/one.txt")" "one pass duration per pass"
like "$(metric gantry_scheduling_pass_duration_seconds_sum)" '^[0-9.e-]+$' "pass durations in seconds"
# Buckets are cumulative and ascending.
is "$(scrape | awk '$1 ~ /^gantry_job_wait_seconds_bucket/ { if ($2 < prev) bad = 1; prev = $2 } END {print bad + 0}')" 0 \
  "histogram buckets are cumulative"

# ---- names and units ----
is "$(metric "gantry_build_info{version=\"$(G version | awk '{print $2}')\"}")" 1 "gantry_build_info carries the version"
is "$(metric 'gantry_team_quota_gpus{team="research"}') $(metric 'gantry_team_limit_gpus{team="research"}')" "1 2" \
  "a team's limit beside its quota"
is "$(metric 'gantry_team_limit_gpus{team="vision"}')" "" "a team without a limit has no limit series"
is "$(metric 'gantry_team_allocated_gpus{team="vision"}') $(metric 'gantry_team_borrowed_gpus{team="vision"}')" "1 0" \
  "allocated and borrowed GPUs per team"
like "$(metric 'gantry_team_usage_gpu_seconds{team="research"}')" '^[0-9.e+-]+$' "usage in GPU-seconds (base unit)"
is "$(scrape | grep -cE '^gantry_team_usage_gpu_hours|^gantry_gpu_utilization[{ ]')" 0 "the old names are gone"
is "$(scrape | grep -c '^# TYPE [a-z_]*_total gauge')" 0 "no gauge ends in _total"

# ---- the viewer reads what a dashboard reads, and changes nothing ----
code() { curl -s -o /dev/null -w '%{http_code}' -X "$2" -H "Authorization: Bearer $1" ${4:+-d "$4"} "$GANTRY_SERVER$3"; }
is "$(code "$VIEW" GET /v1/jobs) $(code "$VIEW" GET /v1/nodes) $(code "$VIEW" GET /v1/teams) $(code "$VIEW" GET /v1/usage) $(code "$VIEW" GET "/v1/jobs/$c")" \
  "200 200 200 200 200" "the viewer reads jobs, nodes, teams, usage, a job"
is "$(code "$VIEW" GET /v1/events) $(code "$VIEW" GET "/v1/jobs/$c/events") $(code "$VIEW" GET /v1/idle)" "200 200 200" \
  "and the cluster's events, a job's events, the idle allocations"
is "$(code "$VIEW" POST /v1/jobs '{"team":"research","command":["true"]}')" 403 "the viewer can't submit"
is "$(code "$VIEW" DELETE "/v1/jobs/$c")" 403 "nor cancel"
is "$(code "$VIEW" PUT /v1/teams/research '{"weight":3}')" 403 "nor change a team"
is "$(code "$VIEW" POST /v1/tokens '{"user":"x","role":"admin"}')" 403 "nor mint tokens"
is "$(job_state "$c")" running "the job it tried to cancel still runs"

# ---- the shipped alert rules and dashboard ----
out=$(promtool check rules "$ROOT/examples/prometheus/alerts.yml" 2>&1); rc=$?
is "$rc" 0 "promtool check rules passes on examples/prometheus/alerts.yml"
like "$out" "SUCCESS: 4 rules found" "four alerts: node down, GPUs idle while jobs wait, queue growing, idle allocations"
# Every gantry_* name the dashboard and the alerts use is a family of the live scrape (a
# histogram's _bucket/_sum/_count are its family's).
names=$(perl -ne 'print "$1\n" while /\b(gantry_[a-z_]+)/g' "$ROOT/examples/grafana/"*.json "$ROOT/examples/prometheus/alerts.yml" |
  sed -E 's/_(bucket|sum|count)$//' | sort -u)
have=$(awk '$1 == "#" && $2 == "TYPE" {print $3}' "$WORK/scrape.txt" | sort -u)
missing=$(comm -23 <(echo "$names") <(echo "$have") | tr '\n' ' ')
is "$missing" "" "every metric the dashboard and the alerts name is exposed"
like "$(echo "$names" | wc -l)" '^ *[1-9][0-9]+$' "the dashboard names many metrics"

# ---- a real Prometheus scrapes the server with the viewer token ----
if ! command -v prometheus >/dev/null; then
  skip "prometheus is not installed (scripts/deps installs it)"
else
  PPORT=$(free_port)
  printf '%s' "$VIEW" > "$WORK/viewer.token"
  cp "$ROOT/examples/prometheus/alerts.yml" "$WORK/alerts.yml"
  cat > "$WORK/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [alerts.yml]
scrape_configs:
  - job_name: gantry
    metrics_path: /v1/metrics
    authorization: {type: Bearer, credentials_file: $WORK/viewer.token}
    static_configs: [{targets: ["127.0.0.1:$PORT"]}]
EOF
  prometheus --config.file "$WORK/prometheus.yml" --storage.tsdb.path "$WORK/prom-data" \
    --web.listen-address "127.0.0.1:$PPORT" 2>"$WORK/prometheus.log" &
  PIDS+=("$!")
  q() { curl -s "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1"; }
  has_series() { q 'gantry_build_info' | grep -q '"version":"'; }
  wait_for 60 has_series; ok $? "Prometheus scraped the server: a query for gantry_build_info returns it"
  like "$(q 'up{job="gantry"}')" '"value":\[[0-9.]+,"1"\]' "the target is up (the viewer token is accepted)"
  like "$(q 'gantry_team_quota_gpus{team="research"}')" '"value":\[[0-9.]+,"1"\]' "a team's quota through PromQL"
  like "$(q 'sum(gantry_jobs_finished_total)')" '"value":\[[0-9.]+,"3"\]' "the finished-jobs counter through PromQL"
  like "$(q 'histogram_quantile(0.5, sum by (le) (gantry_job_wait_seconds_bucket))')" '"resultType":"vector","result":\[\{' \
    "a quantile of the wait histogram"
  like "$(curl -s "http://127.0.0.1:$PPORT/api/v1/rules")" '"name":"GantryNodeDown"' "Prometheus loaded the alert rules"
fi

# ---- a preemption for priority is counted with its reason ----
G cancel "$c" >/dev/null
free2() { [ "$(api GET /v1/nodes/n1 | jget '{gpus_free}')" = 2 ]; }
wait_for 20 free2; ok $? "job $c is cancelled and its GPUs free"
e=$(G submit --team vision --class experimental --gpus 2 -- sleep 300 | sid)
wait_for 20 job_is "$e" running; ok $? "an experimental job $e runs on both GPUs"
p=$(G submit --team vision --class production --gpus 2 -- true | sid)
wait_for 30 job_is "$p" succeeded; ok $? "a production job $p preempts it and runs"
is "$(metric 'gantry_preemptions_total{reason="priority"}') $(metric 'gantry_preemptions_total{reason="reclaim"}')" "1 0" \
  "gantry_preemptions_total{reason=\"priority\"} counts it"
again() { [ "$(api GET "/v1/jobs/$e" | jget '{incarnation}')" = 2 ] && job_is "$e" running; }
wait_for 30 again; ok $? "job $e runs again (incarnation 2)"
is "$(metric 'gantry_jobs_finished_total{outcome="cancelled"}') $(metric gantry_job_wait_seconds_count) $(metric 'gantry_jobs_started_total{team="vision"}')" "2 6 4" \
  "the cancel of a running job is counted; a wait per start, the restart after the preemption included"

done_testing
