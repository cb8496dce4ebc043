#!/usr/bin/env bash
# The web dashboard (issue 11, item 1; docs/dashboard.md) in a real headless Chromium (Debian's
# chromium driven by puppeteer-core: tests/web/dashboard.js) against a running cluster: two
# agents with declared GPUs, teams research (quota 8) and product (quota 4), jobs of both.
# Before it, through curl: the server serves the page at / (it answered 404 before) with every
# file embedded (no other origin named), and GET /v1/series holds the server's own points.
# Screenshots of each page: build/test-artifacts/94-dashboard/ (kept after the run).
. "$(dirname "$0")/agent-lib.sh"
. "$(dirname "$0")/browser.sh"
SHOTS=$BROWSER_ROOT/build/test-artifacts/94-dashboard

cat > "$WORK/cluster.yaml" <<'YAML'
teams:
  - name: research
    quota: {gpus: 8}
  - name: product
    quota: {gpus: 4}
idle: {threshold: 50%, after: 2s}
YAML
start_server --config "$WORK/cluster.yaml" --series-interval 1s

# ---- the page and its files, through curl ----
code=$(curl -s -o "$WORK/index.html" -w '%{http_code} %{content_type}' "$GANTRY_SERVER/")
is "$code" "200 text/html; charset=utf-8" "GET / answers the dashboard's page (it was 404)"
like "$(cat "$WORK/index.html")" '<script src="/ui/app.js">' "the page loads its script from the server itself"
ok $(grep -Eq '(src|href)="(https?:)?//' "$WORK/index.html"; [ $? = 1 ]; echo $?) "the page names no other origin (no CDN)"
for f in app.js style.css uPlot.min.js uPlot.min.css; do
  is "$(curl -s -o /dev/null -w '%{http_code}' "$GANTRY_SERVER/ui/$f")" 200 "/ui/$f is served from the binary"
done
is "$(curl -s -o /dev/null -w '%{http_code}' "$GANTRY_SERVER/ui/nope.js")" 404 "an unknown /ui/ file: 404"
gz=$(curl -s -H 'Accept-Encoding: gzip' -D - -o "$WORK/uplot.gz" "$GANTRY_SERVER/ui/uPlot.min.js")
like "$gz" 'Content-Encoding: gzip' "a client that accepts gzip gets the file compressed"
is "$(gzip -dc "$WORK/uplot.gz" | cmp -s - <(curl -s "$GANTRY_SERVER/ui/uPlot.min.js"); echo $?)" 0 \
  "and it decompresses to the file as served plain"
like "$(curl -s -D - -o /dev/null "$GANTRY_SERVER/")" "Content-Security-Policy: default-src 'none'; script-src 'self'" \
  "the page's security policy runs only the server's own scripts"
etag=$(curl -s -D - -o /dev/null "$GANTRY_SERVER/ui/app.js" | sed -n 's/^ETag: //Ip' | tr -d '\r')
is "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$GANTRY_SERVER/ui/app.js")" 304 \
  "a file the browser holds (If-None-Match) is answered 304"

# ---- the cluster ----
ALICE=$("$GANTRY" token create --user alice --role member --team research)
BOB=$("$GANTRY" token create --user bob --role member --team product)
# n1: 8 declared GPUs; n2: the stand-in NVML's 4 H200 (GPU i at 10*i % utilization).
FAKE_NVML=$(dirname "$GANTRY")/tests/libfake_nvml.so
[ -f "$FAKE_NVML" ] || { echo "Bail out! $FAKE_NVML is missing (make test builds it)"; exit 1; }
run_agent n1 8 "$WORK/n1" agent1.log
"$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name n2 --nvml-lib "$FAKE_NVML" \
  --state-dir "$WORK/n2" --job-user root --allow-root 2>>"$WORK/agent2.log" &
PIDS+=("$!")
nodes_up() { curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/nodes" | grep -o '"state":"up"' | wc -l | grep -qx 2; }
wait_for 30 nodes_up \
  || { echo "Bail out! the agents did not register"; exit 1; }
submit() { # TOKEN BODY: the new job's id
  curl -s -X POST -H "Authorization: Bearer $1" -d "$2" "$GANTRY_SERVER/v1/jobs" | perl -MJSON::PP -e 'print decode_json(join "", <STDIN>)->{id} // ""'
}
RUN_A=$(submit "$ALICE" '{"name":"train-a","team":"research","gpus":4,"gpu_type":["H200"],"command":["sleep","600"]}')
TICK_B=$(submit "$BOB" '{"name":"tick-b","team":"product","gpus":2,"command":["sh","-c","i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.3; done"]}')
HELD_A=$(submit "$ALICE" '{"name":"held-a","team":"research","gpus":1,"hold":true,"command":["true"]}')
like "$RUN_A $TICK_B $HELD_A" '^[0-9]+ [0-9]+ [0-9]+$' "jobs submitted: research's $RUN_A and held $HELD_A, product's $TICK_B"
state() { curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/jobs/$1" | grep -q "\"state\":\"$2\""; }
ok $(wait_for 30 state "$RUN_A" running; echo $?) "research's job runs"
ok $(wait_for 30 state "$TICK_B" running; echo $?) "product's job runs"

# ---- the server's own time series ----
series() { curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/series?since=${1:-10m}"; }
last() { perl -MJSON::PP -e 'my $d = decode_json(join "", <STDIN>); my $v = $d; $v = $v->{$_} for split /\./, $ARGV[0]; print ref $v ? $v->[-1] // "null" : "none"' "$1"; }
ok $(wait_for 30 sh -c "curl -s -H 'Authorization: Bearer $ADMIN' '$GANTRY_SERVER/v1/series?since=10m' | grep -q '\"allocated\":\[[^]]*6\]'"; echo $?) \
  "GET /v1/series: a point with the 6 GPUs the running jobs hold"
has_util() { series | grep -q '"utilization":\['; }
ok $(wait_for 30 has_util; echo $?) "a point with n2's GPU utilization (its heartbeats carry NVML's stats)"
s=$(series)
is "$(echo "$s" | last gpus.total)" 12 "its last point: 12 GPUs in all"
is "$(echo "$s" | last gpus.free)" 6 "6 free"
is "$(echo "$s" | last pending.held)" 1 "1 pending job, held"
is "$(echo "$s" | last teams.research.allocated)" 4 "research holds 4 GPUs"
is "$(echo "$s" | last teams.product.borrowed)" 0 "product borrows none (2 within its quota of 4)"
is "$(echo "$s" | last utilization)" 0.15 "the mean utilization of the GPUs NVML reports (0, 10, 20, 30%)"
ok $(wait_for 30 sh -c "curl -s -H 'Authorization: Bearer $ALICE' '$GANTRY_SERVER/v1/series?job=$RUN_A' | grep -q '\"utilization\":\[0.15'"; echo $?) \
  "GET /v1/series?job=$RUN_A: research's job on n2 has its GPUs' history (mean 15%)"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $BOB" "$GANTRY_SERVER/v1/series?job=$RUN_A")" 404 \
  "and product's member is told it does not exist (404), as GET /v1/jobs/$RUN_A answers"
is "$(echo "$s" | perl -MJSON::PP -e 'print decode_json(join "", <STDIN>)->{interval}')" 1 "--series-interval 1s: one point a second"
is "$(curl -s -o /dev/null -w '%{http_code}' "$GANTRY_SERVER/v1/series")" 401 "GET /v1/series needs a token"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/series?since=nonsense")" 400 \
  "a since= that is not a time: 400"

# ---- the browser ----
rm -rf "$SHOTS"
# APIs of other parts of issue 11: the pages use them where this server has them, else say
# "not available yet" (the browser test checks whichever this server does).
has() { [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER$1")" = 200 ]; }
EVENTS_API=0; has "/v1/jobs/$TICK_B/events" && EVENTS_API=1
ok $(wait_for 30 sh -c "curl -s -H 'Authorization: Bearer $ADMIN' '$GANTRY_SERVER/v1/idle' | grep -q '\"job\":$RUN_A'"; echo $?) \
  "research's job on n2 is flagged idle (GPU's /v1/idle; its GPUs under the 50% threshold)"
USAGE_BY_CLASS=0; has "/v1/usage?by=class" && USAGE_BY_CLASS=1
echo "# other parts' APIs on this server: events $EVENTS_API, usage by class $USAGE_BY_CLASS"
browser_run dashboard.js URL="$GANTRY_SERVER" ADMIN="$ADMIN" MEMBER_A="$ALICE" MEMBER_B="$BOB" \
  GPUS=12 ALLOCATED=6 ALLOCATED_A=4 PENDING_REASON=held EVENTS_API="$EVENTS_API" \
  USAGE_BY_CLASS="$USAGE_BY_CLASS" RUN_A="$RUN_A" TICK_B="$TICK_B" HELD_A="$HELD_A" OUT="$SHOTS"
for p in overview nodes queue job job-gpu usage idle member-queue member-nodes; do
  ok $([ -s "$SHOTS/$p.png" ]; echo $?) "a screenshot of the $p page: build/test-artifacts/94-dashboard/$p.png"
done
done_testing
