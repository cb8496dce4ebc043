#!/usr/bin/env bash
# A full disk (issue 8): the store refused a submission with 503 "nothing was saved", yet the
# job ran; after space returned every write failed until a restart; jobs that ended during the
# outage came back `running` (a retried report, old news by then, was answered 200 without
# being stored). Now: a refused submission changes nothing; changes that already happened are
# kept and retried; writes resume by themselves; an agent's report is answered only once
# durable. The data directory is a 2 MiB tmpfs that the test fills.
. "$(dirname "$0")/agent-lib.sh"
# On PostgreSQL the store is not under the data directory: filling it proves nothing (and the
# waits for a store that cannot commit would only run out). The database's own outage is
# 14-failover-pg-cut.t's (a server cut off from it).
if [ "${GANTRY_TEST_STORE:-}" = pg ]; then
  skip "SQLite only: the store's file on a full disk (on PostgreSQL the disk is the database server's)"
  done_testing; exit
fi
if [ "$(id -u)" != 0 ]; then skip "needs root to mount a tmpfs"; done_testing; exit; fi
mkdir -p "$WORK/data"
if ! mount -t tmpfs -o size=2m "gantry-full-$$" "$WORK/data" 2>"$WORK/mount.err"; then
  skip "cannot mount a tmpfs: $(cat "$WORK/mount.err")"; done_testing; exit
fi
CLEANUPS+=("umount -l '$WORK/data'")
cat > "$WORK/cluster.yaml" <<'Y'
teams:
  - name: research
    quota: {gpus: 2}
Y
start_server --config "$WORK/cluster.yaml"
"$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name n1 --gpus 2 \
  --state-dir "$WORK/n1" --job-user root --allow-root --no-cgroups 2>>"$WORK/agent.log" &
PIDS+=($!)
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"; ok $? "the agent registers"

restart() {
  "$GANTRY" server --config "$WORK/cluster.yaml" --data "$WORK/data" --listen "127.0.0.1:$PORT" \
    2>>"$WORK/server.log" &
  SERVER_PID=$!; PIDS+=("$SERVER_PID")
  wait_for 30 curl -sf "$GANTRY_SERVER/healthz"
}
# waiter NAME: a job that runs until $WORK/NAME.go exists, and writes nothing.
waiter() { submit '{"team":"research","gpus":1,"command":["sh","-c","while [ ! -e '"$WORK/$1"'.go ]; do sleep 0.05; done"]}'; }
fill() { dd if=/dev/zero of="$WORK/data/fill" bs=16k 2>/dev/null; sync; }
post() { curl -s -o "$WORK/post.body" -w '%{http_code}' -X POST -H "Authorization: Bearer $ADMIN" -d "$1" "$GANTRY_SERVER/v1/jobs"; }
count_jobs() { api GET '/v1/jobs?state=all&limit=10000' | jget '{jobs}' | perl -MJSON::PP -e 'print scalar @{decode_json(<STDIN>)}'; }

a=$(waiter a)
wait_for 20 job_is "$a" running; ok $? "job $a runs"
before=$(count_jobs)

# 1. The disk fills: a submission is refused and never runs, not now, not after a restart.
fill
B='{"team":"research","gpus":1,"command":["touch","'"$WORK"'/b-ran"]}'
is "$(post "$B")" 503 "disk full: a submission is refused (503)"
like "$(cat "$WORK/post.body")" "nothing was changed" "the answer says nothing was changed"
is "$(count_jobs)" "$before" "the refused job is not in the queue"
is "$(api DELETE "/v1/jobs/$a" >/dev/null; cat "$WORK/status")" 503 "a cancel is refused (503)"
is "$(job_state "$a")" running "and job $a runs on, not cancelled"
is "$(api PUT /v1/teams/research '{"quota":4}' >/dev/null; cat "$WORK/status")" 503 "a team change is refused (503)"
is "$("$GANTRY" teams -o json | jget '[0]{quota}')" 2 "and the quota is unchanged"

# 2. A running job ends during the outage: memory has it, the store keeps retrying it, and the
# agent's report is not acknowledged until it is durable.
touch "$WORK/a.go"
wait_for 20 grep -qE "the store cannot commit \(database or disk is full\).*batches kept: [1-9]" "$WORK/server.log"
ok $? "the server says the store cannot commit, and keeps the job's end to retry"
wait_for 20 sh -c "[ \$(grep -c 'cannot report to the server' '$WORK/agent.log') -ge 2 ]"
ok $? "the agent's report (and its retry) is not acknowledged while it is not durable"
is "$(post "$B")" 503 "while degraded, a submission is refused at once"
like "$(curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/metrics")" "gantry_store_degraded 1" \
  "/v1/metrics says the store is degraded"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/jobs/$a")" 200 \
  "reads still work"

# 3. Space returns: writes resume without a restart; the ended job is recorded.
rm -f "$WORK/data/fill"
wait_for 20 grep -q "the store commits again" "$WORK/server.log"; ok $? "the store commits again by itself"
c=$(submit '{"team":"research","gpus":1,"command":["true"]}')
like "$(curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/metrics")" "gantry_store_degraded 0" \
  "and no longer once it commits"
ok $([ "$c" -gt 0 ] 2>/dev/null && echo 0 || echo 1) "a submission succeeds again without a restart ($c)"
wait_for 20 job_is "$a" succeeded; ok $? "job $a is recorded succeeded"
wait_for 20 job_is "$c" succeeded; ok $? "the new job $c runs"
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
restart; ok $? "the server restarts"
is "$(job_state "$a")" succeeded "after a restart job $a is still succeeded"
is "$(api GET "/v1/jobs/$a" | jget '{incarnation}')" 1 "and ran once"
is "$(count_jobs)" "$((before + 1))" "the refused submission never appears (only $c was added)"
ok $([ ! -e "$WORK/b-ran" ] && echo 0 || echo 1) "the refused job never ran"

# 4. A job ends during an outage and the server is killed before space returns: the agent was
# never told its report was stored, so it reports again to the next server.
d=$(waiter d)
wait_for 20 job_is "$d" running; ok $? "job $d runs"
fill
n0=$(grep -c 'cannot report to the server' "$WORK/agent.log")
n1=$(grep -c 'batches kept: [1-9]' "$WORK/server.log")
touch "$WORK/d.go"
wait_for 20 sh -c "[ \$(grep -c 'batches kept: [1-9]' '$WORK/server.log') -gt $n1 ]"
ok $? "its end is kept, the commit failing"
wait_for 20 sh -c "[ \$(grep -c 'cannot report to the server' '$WORK/agent.log') -ge $((n0 + 2)) ]"
ok $? "its end is reported, and not acknowledged, during the outage"
kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
rm -f "$WORK/data/fill"
restart; ok $? "the server restarts after kill -9"
wait_for 30 job_is "$d" succeeded; ok $? "job $d is recorded succeeded (the agent reported it again)"
is "$(api GET "/v1/jobs/$d" | jget '{incarnation}')" 1 "and was not run again"
done_testing
