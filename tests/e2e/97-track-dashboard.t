#!/usr/bin/env bash
# The dashboard plots a job's metrics and overlays a sweep's (docs/tracking.md), in a real
# headless Chromium (tests/web/tracking.js) against a server and agent: a job's page has its
# params, each metric's final and best, and a chart per metric over steps; an array task's
# page overlays every task of its array, one line each. Screenshots:
# build/test-artifacts/97-track-dashboard/.
. "$(dirname "$0")/agent-lib.sh"
. "$(dirname "$0")/browser.sh"
SHOTS=$BROWSER_ROOT/build/test-artifacts/97-track-dashboard
research_cluster
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 4 "$WORK/n1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "a server and an agent"
cat > "$WORK/log.sh" <<'S'
#!/bin/sh
m=$GANTRY_METRICS
for i in 1 2 3; do printf '{"step": %d, "loss": %d.5}\n' $i $((10 - i)) >> "$m"; done
echo 'not json' >> "$m"
printf '{"step": 4, "loss": 6.5, "acc": 0.9}\n{"step": 5, "loss": 5.5, "acc": 0.75}\n' >> "$m"
S
cat > "$WORK/sweep.sh" <<'S'
#!/bin/sh
i=${GANTRY_ARRAY_INDEX:-0}
for s in 1 2 3 4; do printf '{"step": %d, "loss": %d}\n' $s $(( (i + 1) * 10 / s )) >> "$GANTRY_METRICS"; done
S
chmod +x "$WORK/log.sh" "$WORK/sweep.sh"
j=$(submit '{"team":"research","gpus":1,"params":{"lr":0.001,"model":"small"},"command":["'"$WORK"'/log.sh"]}')
a=$(submit '{"team":"research","gpus":1,"array":"0-2","command":["'"$WORK"'/sweep.sh"]}')
for id in "$j" "$a" "$((a + 1))" "$((a + 2))"; do wait_for 30 job_is "$id" succeeded || break; done
ok $? "a job and an array of 3 log their metrics and succeed"
rm -rf "$SHOTS"
browser_run tracking.js URL="$GANTRY_SERVER" ADMIN="$ADMIN" JOB="$j" ARRAY="$a" OUT="$SHOTS"
for p in job-metrics sweep; do
  ok $([ -s "$SHOTS/$p.png" ]; echo $?) "a screenshot: build/test-artifacts/97-track-dashboard/$p.png"
done
done_testing
