#!/usr/bin/env bash
# Job events (issue 11 item 4): every change of a job's life with its cause, stored, through
# GET /v1/jobs/{id}/events, GET /v1/events (and its watch stream), `gantry show` and
# `gantry events`: submitted by whom, started where and by which pass, preempted by which job
# for reclaim or priority (before, that was only in the server's log), requeued when its node
# is lost, oom, time_limit, cancelled by whom, held, released, updated, finished, failed. A
# member sees the events of the jobs they may see; events outlive a restart and go with their
# job when retention purges it.
. "$(dirname "$0")/agent-lib.sh"
cat > "$WORK/cluster.yaml" <<'Y'
teams:
  - name: research
    quota: {gpus: 2}
  - name: vision
    quota: {gpus: 0}
    limit: {gpus: 2}
scheduler:
  preemption: {enabled: true, grace_period: 2s, min_runtime: 0s}
Y
start_server --config "$WORK/cluster.yaml" --heartbeat 1
CG=(--no-cgroups)
if have_cgroup_v1; then
  CG=(--cgroup-parent "gantry-e2e-$$/n1")
  CLEANUPS+=("for c in memory cpu pids devices; do rmdir /sys/fs/cgroup/\$c/gantry-e2e-$$/n1/* /sys/fs/cgroup/\$c/gantry-e2e-$$/n1 /sys/fs/cgroup/\$c/gantry-e2e-$$; done")
fi
run_agent n1 2 "$WORK/n1" agent.log "${CG[@]}"
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"

alice=$("$GANTRY" token create --user alice --role member --team research)
vic=$("$GANTRY" token create --user vic --role member --team vision)
as() { # as TOKEN METHOD PATH [BODY]: prints the body; the status goes to $WORK/status
  curl -s -o "$WORK/body" -w '%{http_code}' -X "$2" -H "Authorization: Bearer $1" \
    ${4:+-d "$4"} "$GANTRY_SERVER$3" > "$WORK/status"
  cat "$WORK/body"
}
# events ID [TOKEN]: "type" per event of job ID, one line each, oldest first
types() { as "${2:-$ADMIN}" GET "/v1/jobs/$1/events" | perl -MJSON::PP -e '
  print "$_->{type}\n" for @{decode_json(join "", <STDIN>)->{events}}'; }
# ev ID TYPE EXPR: EXPR ($e->...) of job ID's last event of TYPE
ev() { api GET "/v1/jobs/$1/events" | perl -MJSON::PP -e '
  my ($t, $x) = @ARGV; my ($e) = grep { $_->{type} eq $t } reverse @{decode_json(join "", <STDIN>)->{events}};
  my $v = $e ? eval "\$e->$x" : undef; print ref $v ? JSON::PP->new->canonical->encode($v) : $v // "null"' "$2" "$3"; }
has() { types "$1" | grep -qx "$2"; }

# ---- reclaim: vision borrows research's GPUs, research takes them back ----
v=$(as "$vic" POST /v1/jobs '{"team":"vision","gpus":2,"command":["sleep","300"]}' | jget '{id}')
wait_for 20 job_is "$v" running; ok $? "vision's job $v borrows both GPUs"
r=$(as "$alice" POST /v1/jobs '{"team":"research","gpus":2,"command":["sleep","300"]}' | jget '{id}')
wait_for 30 has "$v" preempted; ok $? "job $v has a preempted event"
is "$(ev "$v" preempted '{by_job}')" "$r" "preempted by job $r"
is "$(ev "$v" preempted '{reason}')" reclaim "for reclaim (research takes back its quota)"
like "$(ev "$v" preempted '{message}')" "preempted for job $r \\(reclaim" "its message says so"
is "$(ev "$v" submitted '{by}')" vic "submitted by vic"
is "$(ev "$v" started '{nodes}')" '["n1"]' "started on n1"
like "$(ev "$v" started '{pass}')" '^[1-9][0-9]*$' "by a numbered scheduling pass"
is "$(ev "$v" started '{gpus}->[0]{gpus}')" '[0,1]' "on GPUs 0 and 1"
wait_for 30 job_is "$r" running; ok $? "research's job $r runs"
is "$(types "$v" | head -3 | tr '\n' ' ')" "submitted started preempted " "job $v: submitted, started, preempted, in order"

# ---- priority: a production job preempts research's own normal one ----
p=$(as "$alice" POST /v1/jobs '{"team":"research","gpus":2,"priority_class":"production","command":["sleep","300"]}' | jget '{id}')
wait_for 30 has "$r" preempted; ok $? "job $r is preempted"
is "$(ev "$r" preempted '{by_job}')" "$p" "by job $p"
is "$(ev "$r" preempted '{reason}')" priority "for priority"
wait_for 30 job_is "$p" running; ok $? "job $p runs"

# ---- cancelled by whom; held, released, updated by whom ----
"$GANTRY" cancel "$v" >/dev/null
as "$alice" DELETE "/v1/jobs/$r" >/dev/null
wait_for 20 has "$r" cancelled; ok $? "job $r: a cancelled event"
is "$(ev "$r" cancelled '{by}')" alice "cancelled by alice"
is "$(ev "$v" cancelled '{by}')" admin "job $v cancelled by admin"
h=$(as "$alice" POST /v1/jobs '{"team":"research","gpus":1,"hold":true,"command":["true"]}' | jget '{id}')
is "$(ev "$h" submitted '{held}')" true "a job submitted held says so"
as "$alice" PATCH "/v1/jobs/$h" '{"name":"renamed","time_limit":"1h"}' >/dev/null
is "$(ev "$h" updated '{by}')" alice "updated by alice"
is "$(ev "$h" updated '{fields}')" '["name","time_limit"]' "naming the fields changed"
x=$(as "$alice" POST /v1/jobs '{"team":"research","gpus":1,"command":["sleep","60"]}' | jget '{id}')
as "$alice" POST "/v1/jobs/$x/hold" >/dev/null
is "$(ev "$x" held '{by}')" alice "held by alice (job $x waits behind job $p)"
as "$alice" DELETE "/v1/jobs/$x" >/dev/null
"$GANTRY" release "$h" >/dev/null
is "$(ev "$h" released '{by}')" admin "released by admin"
as "$ADMIN" DELETE "/v1/jobs/$p" >/dev/null
wait_for 30 job_is "$h" succeeded; ok $? "job $h runs and succeeds"
is "$(types "$h" | tr '\n' ' ')" "submitted updated released started finished " "job $h's life in order"

# ---- ends: failed with its exit code, time_limit, oom ----
f=$(as "$alice" POST /v1/jobs '{"team":"research","gpus":1,"command":["sh","-c","exit 3"]}' | jget '{id}')
wait_for 20 has "$f" failed; ok $? "job $f: a failed event"
is "$(ev "$f" failed '{exit_code}')" 3 "with its exit code"
is "$(ev "$f" failed '{node}')" n1 "and its node"
t=$(as "$alice" POST /v1/jobs '{"team":"research","gpus":1,"time_limit":"1s","command":["sleep","60"]}' | jget '{id}')
wait_for 30 has "$t" time_limit; ok $? "job $t: a time_limit event"
like "$(ev "$t" time_limit '{message}')" "time limit" "saying it reached its time limit"
if have_cgroup_v1; then
  m=$(as "$alice" POST /v1/jobs '{"team":"research","gpus":1,"memory":"48Mi","command":["python3","-c","a=[bytearray(8<<20) for i in range(64)]"]}' | jget '{id}')
  wait_for 30 has "$m" oom; ok $? "job $m: an oom event"
  like "$(ev "$m" oom '{message}')" "out of memory.*48 MiB" "with the agent's sentence"
else
  skip "no writable cgroup v1 memory controller"
  skip "no writable cgroup v1 memory controller"
fi

# ---- gantry show: the Events table ----
out=$("$GANTRY" show "$v")
like "$out" $'\nEvents:\n' "gantry show ends with Events:"
like "$out" "TYPE +AGE +MESSAGE" "a table of type, age and message"
like "$out" "preempted +[0-9]+[smh] +preempted for job $r \\(reclaim" "the preemption with its cause"
like "$out" "submitted +[0-9]+[smh] +submitted by vic" "the submission by whom"
is "$("$GANTRY" show "$v" -o json | jget '{events}')" null "gantry show -o json is the job's document alone (it submits again)"

# ---- visibility: vic (vision) sees his job's events, not research's ----
as "$vic" GET "/v1/jobs/$r/events" >/dev/null
is "$(cat "$WORK/status")" 404 "vic: research's job $r events are not found (404)"
as "$vic" GET "/v1/jobs/$v/events" >/dev/null
is "$(cat "$WORK/status")" 200 "vic: his own job's events (200)"
jobs_in() { as "$1" GET "/v1/events?limit=10000" | perl -MJSON::PP -e '
  my %s; $s{$_->{job}} = 1 for @{decode_json(join "", <STDIN>)->{events}}; print join(" ", sort { $a <=> $b } keys %s)'; }
is "$(jobs_in "$vic")" "$v" "vic: GET /v1/events lists vision's job only"
like " $(jobs_in "$ADMIN") " " $r .* $f " "admin: every team's jobs"
like " $(jobs_in "$alice") " " $r " "alice: research's jobs"
unlike " $(jobs_in "$alice") " " $v " "alice: not vision's"
viewer=$("$GANTRY" token create --user graf --role viewer)
as "$viewer" GET "/v1/events" >/dev/null
is "$(cat "$WORK/status")" 200 "a viewer token reads /v1/events"

# ---- since and next: paging through the cluster's events ----
all=$(api GET "/v1/events?limit=10000")
n=$(printf '%s' "$all" | jget '{events}' | perl -MJSON::PP -e 'print scalar @{decode_json(join "", <STDIN>)}')
last=$(printf '%s' "$all" | jget '{next}')
first2=$(api GET "/v1/events?limit=2")
is "$(printf '%s' "$first2" | jget '{events}->[1]{seq}')" "$(printf '%s' "$first2" | jget '{next}')" "limit=2: next is the second event's seq"
rest=$(api GET "/v1/events?since=$(printf '%s' "$first2" | jget '{next}')&limit=10000" | jget '{events}' | perl -MJSON::PP -e 'print scalar @{decode_json(join "", <STDIN>)}')
is "$((rest + 2))" "$n" "since=next gives the rest ($rest + 2 = $n)"
seqs_ok=$(printf '%s' "$all" | perl -MJSON::PP -e 'my @s = map { $_->{seq} } @{decode_json(join "", <STDIN>)->{events}};
  my $ok = 1; $ok &&= $s[$_] > $s[$_-1] for 1..$#s; print $ok')
is "$seqs_ok" 1 "seqs increase"

# ---- gantry events -w streams what happens ----
"$GANTRY" events -w --token "$vic" > "$WORK/watch.out" 2>&1 &
W=$!; PIDS+=($W)
wait_for 10 grep -q "submitted" "$WORK/watch.out"; ok $? "gantry events -w prints the backlog first"
w=$(as "$vic" POST /v1/jobs '{"team":"vision","gpus":1,"command":["true"]}' | jget '{id}')
wait_for 20 grep -Eq "^ *$w +finished" "$WORK/watch.out"; ok $? "then job $w's events as they happen, up to finished"
ao=$(as "$alice" POST /v1/jobs '{"team":"research","gpus":1,"command":["true"]}' | jget '{id}')
wait_for 20 job_is "$ao" succeeded
w2=$(as "$vic" POST /v1/jobs '{"team":"vision","gpus":1,"command":["true"]}' | jget '{id}')
wait_for 20 grep -Eq "^ *$w2 +finished" "$WORK/watch.out"; ok $? "job $w2 too"
grep -Eq "^ *$ao " "$WORK/watch.out"; ok $((!$?)) "vic's stream never shows research's job $ao"
kill "$W" 2>/dev/null
curl -sN --max-time 2 -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/events?watch=1&since=$last" > "$WORK/raw" 2>/dev/null
head -1 "$WORK/raw" | jget '{type}' >/dev/null; ok $? "watch=1 is one JSON object a line"
is "$("$GANTRY" events --job "$h" -o json | jget '{events}->[0]{type}')" submitted "gantry events --job ID -o json"
like "$("$GANTRY" events --job "$h")" "^ *$h +finished +[0-9T:-]+ +finished \\(exit code 0\\)" "gantry events --job ID: a table"

# ---- node lost: the job is requeued, and says why ----
q=$(as "$vic" POST /v1/jobs '{"team":"vision","gpus":1,"priority_class":"experimental","command":["sleep","300"]}' | jget '{id}')
wait_for 20 job_is "$q" running; ok $? "job $q runs"
kill -9 "$AGENT_PID"
wait_for 60 has "$q" requeued; ok $? "job $q: a requeued event once node n1 is lost"
is "$(ev "$q" requeued '{reason}')" node_lost "reason node_lost"
is "$(ev "$q" requeued '{node}')" n1 "naming the node"

# ---- restart: events are kept, their numbering goes on ----
before=$(types "$v" | tr '\n' ' ')
top=$(api GET "/v1/events?limit=10000" | jget '{next}')
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
"$GANTRY" server --data "$WORK/data" "${STORE_ARGS[@]}" --listen "127.0.0.1:$PORT" --config "$WORK/cluster.yaml" --heartbeat 1 2>>"$WORK/server.log" &
SERVER_PID=$!; PIDS+=($SERVER_PID)
wait_for 30 curl -sf "$GANTRY_SERVER/healthz"; ok $? "the server restarts"
is "$(types "$v" | tr '\n' ' ')" "$before" "job $v's events after the restart: $before"
"$GANTRY" cancel "$q" >/dev/null
wait_for 10 has "$q" cancelled
new=$(ev "$q" cancelled '{seq}')
[ "$new" -gt "$top" ]; ok $? "a new event's seq ($new) is above every earlier one ($top)"

# ---- retention: a purged job's events go with it ----
cnt() { store_sql "SELECT count(*) FROM job_events WHERE job = $1"; }
[ "$(cnt "$f")" -gt 0 ]; ok $? "job $f's events are in the store"
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
"$GANTRY" server --data "$WORK/data" "${STORE_ARGS[@]}" --listen "127.0.0.1:$PORT" --config "$WORK/cluster.yaml" --heartbeat 1 --retention 1s 2>>"$WORK/server.log" &
SERVER_PID=$!; PIDS+=($SERVER_PID)
wait_for 30 curl -sf "$GANTRY_SERVER/healthz"
gone() { api GET "/v1/jobs/$1" >/dev/null; [ "$(cat "$WORK/status")" = 404 ]; }
wait_for 30 gone "$f"; ok $? "retention purges job $f"
no_events() { [ "$(cnt "$1")" = 0 ]; }
wait_for 10 no_events "$f"
ok $? "and its events with it"
done_testing
