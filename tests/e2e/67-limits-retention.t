#!/usr/bin/env bash
# Retention (issue 8): finished jobs older than the retention are purged from memory, the store
# and the logs (they answer 404, gantry queue --all no longer lists them), while /v1/usage keeps
# counting them in aggregate: the totals are the same before and after the purge, and after a
# restart. A finished job that a job not yet ended depends on (after_ok) is kept until it ends.
. "$(dirname "$0")/agent-lib.sh"
cat > "$WORK/cluster.yaml" <<'Y'
teams:
  - name: research
    quota: {gpus: 4}
  - name: vision
    quota: {gpus: 4}
  - name: ops
    quota: {gpus: 4}
Y
start_server --config "$WORK/cluster.yaml" --heartbeat 1 --retention 0
"$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name n1 --gpus 8 \
  --state-dir "$WORK/n1" --job-user root --allow-root --no-cgroups 2>>"$WORK/agent.log" &
PIDS+=($!)
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"

alice=$("$GANTRY" token create --user alice --role member --team research)
bob=$("$GANTRY" token create --user bob --role member --team ops)
sub() { # sub TOKEN BODY: prints the new job's id
  curl -s -H "Authorization: Bearer $1" -d "$2" "$GANTRY_SERVER/v1/jobs" | jget '{id}'
}
cmd='["sh","-c","echo out-$GANTRY_JOB_ID; sleep 1"]'
a=$(sub "$ADMIN" '{"team":"research","gpus":2,"command":'"$cmd"'}')
b=$(sub "$ADMIN" '{"team":"vision","gpus":1,"command":'"$cmd"'}')
c=$(sub "$alice" '{"team":"research","gpus":1,"command":'"$cmd"'}')
f=$(sub "$ADMIN" '{"team":"vision","gpus":1,"command":["sh","-c","sleep 1; exit 3"]}')
# In ops, bob's short job k, his long job l, and a job d that waits on both.
k=$(sub "$bob" '{"team":"ops","gpus":1,"command":'"$cmd"'}')
l=$(sub "$bob" '{"team":"ops","gpus":1,"command":["sleep","300"]}')
wait_for 30 job_is "$k" succeeded; ok $? "job $k succeeds"
d=$(sub "$bob" '{"team":"ops","gpus":1,"command":["true"],"after_ok":['"$k,$l"']}')
for j in $a $b $c; do wait_for 30 job_is "$j" succeeded; ok $? "job $j succeeds"; done
wait_for 30 job_is "$f" failed; ok $? "job $f fails"
wait_for 30 job_is "$l" running; ok $? "job $l runs on"
is "$(job_state "$d")" pending "job $d waits for $k and $l"
test -s "$WORK/data/logs/$b.1.stdout"; ok $? "job $b's log is on the server"

# The usage of research, vision, alice and admin (ops and bob run on: their usage grows).
usage() { # usage BY [SINCE]: "key gpu_hours jobs" per row, sorted
  api GET "/v1/usage?by=$1${2:+&since=$2}" | perl -MJSON::PP -e '
    my $d = decode_json(join "", <STDIN>);
    printf "%s %.12f %d\n", $_->{team} // $_->{user}, $_->{gpu_hours}, $_->{jobs}
      for sort { ($a->{team} // $a->{user}) cmp ($b->{team} // $b->{user}) } @{$d->{usage}};' |
    grep -Ev '^(ops|bob) '
}
# same GOT_FILE WANT_FILE: the same rows, GPU-hours equal within 1e-9 (3.6 ms of one GPU: the
# store keeps micro-GPU-seconds), job counts exactly; prints the differences otherwise.
same() {
  perl -e 'open my $g, "<", $ARGV[0]; open my $w, "<", $ARGV[1]; my @g = <$g>; my @w = <$w>;
    my $bad = @g != @w; for my $i (0..$#w) { my ($k1, $h1, $j1) = split " ", $g[$i] // "";
      my ($k2, $h2, $j2) = split " ", $w[$i]; $bad ||= $k1 ne $k2 || $j1 != $j2 || abs($h1 - $h2) > 1e-9; }
    print "got:\n@g\nwant:\n@w" if $bad; exit $bad' "$1" "$2"
}
midnight=$(( $(date +%s) / 86400 * 86400 ))
usage team > "$WORK/team.before"; usage user > "$WORK/user.before"
usage team "$midnight" > "$WORK/today.before"
like "$(cat "$WORK/team.before")" '^research 0\.[0-9]+ 2' "research: 2 jobs, GPU-hours counted"
like "$(cat "$WORK/user.before")" 'alice 0\.[0-9]+ 1' "alice: 1 job"

restart() {
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
  "$GANTRY" server --data "$WORK/data" "${STORE_ARGS[@]}" --listen "127.0.0.1:$PORT" --heartbeat 1 "$@" 2>>"$WORK/server.log" &
  SERVER_PID=$!
  PIDS+=($SERVER_PID)
  wait_for 30 curl -sf "$GANTRY_SERVER/healthz"
}
# ---- the same cluster with a retention of 2 s: the finished jobs go ----
restart --config "$WORK/cluster.yaml" --retention 2s
ok $? "the server restarts with --retention 2s"
gone() { api GET "/v1/jobs/$1" >/dev/null; [ "$(cat "$WORK/status")" = 404 ]; }
wait_for 30 gone "$b"; ok $? "finished job $b is purged: 404"
for j in $a $c $f; do wait_for 10 gone "$j"; ok $? "so is $j"; done
api GET "/v1/jobs/$k" >/dev/null; is "$(cat "$WORK/status")" 200 "finished job $k is kept: job $d, not ended, depends on it"
test -e "$WORK/data/logs/$b.1.stdout"; ok $((!$?)) "job $b's log file is deleted"
is "$(sed -n 's/.*purged \([0-9]*\) finished jobs.*/\1/p' "$WORK/server.log" | paste -sd+ | bc)" 4 "the server logs what it purged: 4 jobs"
listed=$("$GANTRY" queue --all | awk 'NR > 1 {print $1}' | sort -n | tr '\n' ' ')
is "$listed" "$k $l $d " "gantry queue --all lists the jobs kept only"
usage team > "$WORK/now"; same "$WORK/now" "$WORK/team.before"; ok $? "usage by team: the same totals after the purge"
usage user > "$WORK/now"; same "$WORK/now" "$WORK/user.before"; ok $? "usage by user: the same totals"
usage team "$midnight" > "$WORK/now"; same "$WORK/now" "$WORK/today.before"; ok $? "usage since midnight UTC (a whole day): the same"
is "$(api GET /v1/metrics | sed -n 's/^gantry_jobs_purged_total //p')" 4 "/v1/metrics: gantry_jobs_purged_total 4"
r=$(api POST /v1/jobs '{"team":"vision","gpus":1,"command":["true"],"after_ok":['"$b"']}')
is "$(cat "$WORK/status")" 400 "after_ok naming a purged job is refused (400)"

# ---- the dependency ends: the kept job goes too ----
"$GANTRY" cancel "$l" >/dev/null
wait_for 30 job_is "$d" cancelled; ok $? "job $d is cancelled (its dependency $l was cancelled)"
wait_for 30 gone "$k"; ok $? "then job $k is purged too"
wait_for 30 gone "$d"; ok $? "and job $d"
usage team > "$WORK/now"; same "$WORK/now" "$WORK/team.before"; ok $? "usage by team: still the same"

# ---- after a restart, the aggregate comes back from the store (retention from the config) ----
cat >> "$WORK/cluster.yaml" <<'Y'
retention: 2s
Y
restart --config "$WORK/cluster.yaml"
ok $? "the server restarts with retention: 2s in its config"
usage team > "$WORK/now"; same "$WORK/now" "$WORK/team.before"; ok $? "usage by team after the restart: the same"
usage user > "$WORK/now"; same "$WORK/now" "$WORK/user.before"; ok $? "usage by user after the restart: the same"
n=0; for j in $a $b $c $f $k $d; do gone "$j" && n=$((n + 1)); done
is "$n" 6 "the purged jobs stay gone after the restart (deleted from the store)"
e=$(submit '{"team":"vision","gpus":1,"command":["true"]}')
wait_for 30 job_is "$e" succeeded; ok $? "a new job runs"
wait_for 30 gone "$e"; ok $? "and is purged after the config's retention"
like "$("$GANTRY" server --help)" 'retention' "gantry server --help documents --retention"
done_testing
