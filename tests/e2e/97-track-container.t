#!/usr/bin/env bash
# $GANTRY_METRICS for a job that is not root's and for a container job (docs/tracking.md): the
# agent runs jobs as nobody; a plain job appends to its file (STATE/metrics/ID.INC.jsonl, the
# job's user's, in a directory nobody may list), a container job to /gantry/metrics.jsonl
# (bound onto that file), and both series reach the server.
. "$(dirname "$0")/agent-lib.sh"
ROOT=${GANTRY_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
skip_all() { echo "1..0 # skip $1"; exit 0; }
[ "$(id -u)" = 0 ] || skip_all "not root: running jobs as nobody and containers need it"
for p in runc skopeo umoci; do command -v "$p" >/dev/null || skip_all "no $p"; done
REF=$("$ROOT/tests/oci/mkimage" "$WORK/img" 2>"$WORK/mkimage.log" | head -1)
[ -n "$REF" ] || skip_all "tests/oci/mkimage failed: $(tail -1 "$WORK/mkimage.log")"
research_cluster
start_server --config "$WORK/cluster.yaml" --heartbeat 1
"$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name n1 --gpus 2 \
  --state-dir "$WORK/n1" --job-user nobody --oci-runtime runc --no-cgroups 2>>"$WORK/agent.log" &
PIDS+=($!)
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "an agent that runs jobs as nobody"
series() { api GET "/v1/jobs/$1/metrics" | perl -MJSON::PP -e 'print join(" ", map { "$_->{step}:$_->{loss}" } @{decode_json(join "", <STDIN>)->{points}})'; }

# ---- a plain job as nobody ----
p=$(submit '{"team":"research","gpus":1,"command":["sh","-c","id -un; ls -ld $GANTRY_METRICS | cut -d\" \" -f1,3; ls $(dirname $GANTRY_METRICS) 2>&1 | head -1; for i in 1 2 3; do echo \"{\\\"step\\\": $i, \\\"loss\\\": $i}\" >> $GANTRY_METRICS || exit 1; done"]}')
wait_for 30 job_is "$p" succeeded
ok $? "a plain job run as nobody writes its metrics"
out=$(curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/jobs/$p/logs")
is "$(echo "$out" | sed -n 2p)" "-rw------- nobody" "its file is nobody's, mode 0600"
like "$(echo "$out" | sed -n 3p)" "Permission denied" "it cannot list the directory of the node's metrics files"
is "$(series "$p")" "1:1 2:2 3:3" "its series reached the server"

# ---- a container job ----
c=$(submit '{"team":"research","gpus":1,"image":"'"$REF"'","command":["sh","-c","echo $GANTRY_METRICS; for i in 1 2; do echo \"{\\\"step\\\": $i, \\\"loss\\\": 1$i}\" >> $GANTRY_METRICS || exit 1; done"]}')
wait_for 60 job_is "$c" succeeded
ok $? "a container job writes its metrics"
is "$(curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/jobs/$c/logs")" /gantry/metrics.jsonl "it sees GANTRY_METRICS=/gantry/metrics.jsonl"
is "$(series "$c")" "1:11 2:12" "its series reached the server"
wait_for 10 test ! -e "$WORK/n1/metrics/$c.1.jsonl"
ok $? "the node's file is removed once shipped"
done_testing
