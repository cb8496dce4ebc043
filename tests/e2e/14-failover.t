#!/usr/bin/env bash
# Two servers on one store (docs/ha.md). kill -9 of the leader while 8 clients submit and jobs
# run on agents: the standby takes over; no acknowledged job is lost, none duplicated, none
# started twice; the running jobs keep running and their ends are recorded; the clients and
# the agents (given both URLs) reconnect by themselves. Then a leader paused beyond its lease
# (SIGSTOP) is deposed: a submission it held is acknowledged once, by the new leader, and on
# SIGCONT it steps down and stands by.
. "$(dirname "$0")/agent-lib.sh"
research_cluster
LEASE=2s
start_ha_server 1 --config "$WORK/cluster.yaml" --lease $LEASE
wait_for 30 ha_is 1 leader || { echo "Bail out! server 1 did not lead"; cat "$WORK/server1.log" >&2; exit 1; }
export GANTRY_TOKEN=$(cat "$WORK/data/admin.token"); ADMIN=$GANTRY_TOKEN
start_ha_server 2 --config "$WORK/cluster.yaml" --lease $LEASE
wait_for 30 ha_is 2 standby; ok $? "server 2 stands by"
# (a standby answers before its first look at the lease: null until then)
wait_for 30 bash -c "curl -s ${HA_URL[2]}/v1/leader | grep -q '\"leader\":\"${HA_URL[1]}\"'"; ok $? "it names the leader"
r=$(curl -s -o "$WORK/sb" -w '%{http_code} %{redirect_url}' -H "Authorization: Bearer $ADMIN" \
      "${HA_URL[2]}/v1/jobs?state=all&limit=5")
is "$r" "307 ${HA_URL[1]}/v1/jobs?state=all&limit=5" "a standby answers 307 to the leader, path and query kept"
is "$(jget '{error}{code}' < "$WORK/sb")" not_leader "with error code not_leader"
is "$(jget '{error}{leader}' < "$WORK/sb")" "${HA_URL[1]}" "and the leader's URL"

# Clients and agents know both servers, the standby first.
export GANTRY_SERVER="${HA_URL[2]},${HA_URL[1]}"
out=$("$GANTRY" queue -o json 2>&1); ok $? "the CLI finds the leader behind the standby ($out)"
run_agent n1 4 "$WORK/n1" agent1.log
run_agent n2 4 "$WORK/n2" agent2.log
nodes_up() { [ "$("$GANTRY" nodes -o json | perl -MJSON::PP -e 'print scalar grep { $_->{state} eq "up" } @{decode_json(join "", <STDIN>)}')" = 2 ]; }
wait_for 30 nodes_up; ok $? "both agents registered through the list"

# Two jobs that run across the failover, one per node; each start and end is written down.
long_job() {
  "$GANTRY" submit --team research --gpus 4 --name "long$1" -- sh -c \
    "echo \"\$GANTRY_JOB_ID \$(date +%s.%N)\" >> $WORK/starts; until [ -e $WORK/release ]; do sleep 0.2; done; echo \$GANTRY_JOB_ID >> $WORK/ends" | awk '{print $3}'
}
L1=$(long_job 1); L2=$(long_job 2)
two_started() { [ "$(wc -l < "$WORK/starts" 2>/dev/null)" = 2 ]; }
wait_for 30 two_started; ok $? "jobs $L1 and $L2 run on the agents"

# 8 clients submit held jobs in a loop, each with its own label; every answer is written down.
for c in 1 2 3 4 5 6 7 8; do
  ( n=0
    while [ ! -e "$WORK/stop" ]; do
      n=$((n + 1))
      if out=$("$GANTRY" submit --team research --hold --label "key=c$c-$n" -- true 2>&1); then
        echo "c$c-$n $(echo "$out" | awk '{print $3}')" >> "$WORK/acked.$c"
        [ "$out" = "$(echo "$out" | head -n 1)" ] || echo "c$c-$n: $out" >> "$WORK/lost"  # more than its id
      else
        echo "c$c-$n $out" >> "$WORK/failed.$c"
      fi
    done ) &
  PIDS+=($!); CLIENTS+=($!)
done
acked() { cat "$WORK"/acked.* 2>/dev/null | wc -l; }
wait_for 60 bash -c "[ \$(cat \"$WORK\"/acked.* 2>/dev/null | wc -l) -ge 40 ]"
before=$(acked)
kill -9 "${HA_PID[1]}"
t0=$(date +%s.%N)
wait_for 30 ha_is 2 leader; ok $? "server 2 takes over after kill -9 of server 1"
t1=$(date +%s.%N)
echo "# took over in $(echo "$t1 - $t0" | bc) s (lease $LEASE)"
wait_for 60 bash -c "[ \$(cat \"$WORK\"/acked.* 2>/dev/null | wc -l) -ge $((before + 40)) ]"
ok $? "the clients go on submitting to the new leader ($before acknowledged before the kill, $(acked) now)"
touch "$WORK/stop"
for p in "${CLIENTS[@]}"; do wait "$p" 2>/dev/null; done
is "$(cat "$WORK"/failed.* 2>/dev/null | head -3)" "" "no submission failed: each client found the new leader by itself"

export GANTRY_SERVER="${HA_URL[2]}"
api GET '/v1/jobs?state=all&limit=10000' > "$WORK/all.json"
perl -MJSON::PP -e 'my $d = decode_json(join "", <STDIN>); for (@{$d->{jobs}}) { my $k = $_->{labels}{key}; print "$k $_->{id}\n" if defined $k }' < "$WORK/all.json" | sort > "$WORK/stored"
missing=0
# A lost one says where it is: in the leader's answer under another id, in the store's file
# (then the new leader's memory missed it), or nowhere; and what the servers logged of it.
lost_diag() {
  echo "# lost: $1 acknowledged as job $2; the new leader lists: '$(grep "^$1 " "$WORK/stored")';" \
       "the store's rows for id $2 or key $1: '$(store_sql "SELECT id, state, json_extract(doc, '\$.labels.key') FROM jobs WHERE id = $2 OR json_extract(doc, '\$.labels.key') = '$1'" | tr '\n' ' ')';" \
       "next ids stored: '$(store_sql "SELECT id, json_extract(doc, '\$.labels.key') FROM jobs WHERE id > $2 ORDER BY id LIMIT 3" | tr '\n' ' ')'"
  grep -h -n -E "job $2\b|$1" "$WORK"/server*.log | head -5 | sed 's/^/#   /'
}
while read -r key id; do
  grep -qx "$key $id" "$WORK/stored" || { missing=$((missing + 1)); lost_diag "$key" "$id" | tee -a "$WORK/lost" >&2; }
done < <(cat "$WORK"/acked.*)
is "$missing" 0 "every acknowledged job is in the new leader's store, with its id ($(acked) jobs)$([ -s "$WORK/lost" ] && head -c 700 "$WORK/lost" | tr '\n' ' ')"
is "$(awk '{print $1}' "$WORK/stored" | sort | uniq -d | head -3)" "" "no submission became two jobs"
is "$(wc -l < "$WORK/stored")" "$(acked)" "and no job was made that was not acknowledged"

# The jobs that ran across the failover: still running, then ended and recorded, started once.
is "$(job_state "$L1") $(job_state "$L2")" "running running" "the running jobs keep running under the new leader"
touch "$WORK/release"   # (they run until then: no race with a slow failover)
ended() { job_is "$L1" succeeded && job_is "$L2" succeeded; }
wait_for 60 ended; ok $? "their ends are recorded by the new leader ($(job_state "$L1"), $(job_state "$L2"))"
is "$(awk '{print $1}' "$WORK/starts" | sort | uniq -c | awk '{print $1}' | sort -u)" 1 "each started once"
is "$(sort "$WORK/ends" | tr '\n' ' ')" "$(printf '%s\n' "$L1" "$L2" | sort | tr '\n' ' ')" "and each ran to its end once"
wait_for 30 nodes_up; ok $? "both agents report to the new leader"
J=$("$GANTRY" submit --team research --gpus 1 -- true | awk '{print $3}')
wait_for 60 job_is "$J" succeeded; ok $? "a job submitted after the failover runs on an agent"

# Server 1 comes back: it stands by.
start_ha_server 1 --config "$WORK/cluster.yaml" --lease $LEASE
wait_for 30 ha_is 1 standby; ok $? "server 1, restarted, stands by"

# The leader pauses beyond its lease (SIGSTOP). Server 1 takes over with the next epoch, at
# once, or (SQLite) once the paused one lets go of the database's lock if it held it: on
# SIGCONT it finds its lease run out and steps down before anything else.
export GANTRY_SERVER="${HA_URL[2]},${HA_URL[1]}"
e2=$(curl -s "${HA_URL[2]}/v1/leader" | jget '{epoch}')
kill -STOP "${HA_PID[2]}"
# A submission sent to the paused server first: held there, answered once it runs again.
( "$GANTRY" submit --team research --hold --label key=paused -- true > "$WORK/paused.out" 2>&1; echo $? > "$WORK/paused.rc" ) &
PIDS+=($!); P=$!
paused_for=$((SECONDS + 4))
wait_for 30 ha_is 1 leader && echo "# server 1 took over while server 2 was paused" || echo "# server 2 was paused holding the database's lock"
while [ $SECONDS -lt $paused_for ]; do sleep 0.2; done   # past server 2's lease, surely
kill -CONT "${HA_PID[2]}"
wait "$P"
is "$(cat "$WORK/paused.rc")" 0 "the submission sent to the paused leader is acknowledged ($(cat "$WORK/paused.out"))"
wait_for 30 grep -q "stepping down as leader" "$WORK/server2.log"; ok $? "the paused leader steps down when it runs again"
wait_for 30 ha_is 1 leader; ok $? "server 1 leads"
e1=$(curl -s "${HA_URL[1]}/v1/leader" | jget '{epoch}')
ok $([ "$e1" -gt "$e2" ] && echo 0 || echo 1) "with a newer epoch ($e1 > $e2)"
wait_for 30 ha_is 2 standby; ok $? "server 2 stands by"
export GANTRY_SERVER="${HA_URL[1]}"
n=$(api GET '/v1/jobs?state=all&limit=10000' | perl -MJSON::PP -e 'print scalar grep { ($_->{labels}{key} // "") eq "paused" } @{decode_json(join "", <STDIN>)->{jobs}}')
is "$n" 1 "the paused submission is one job"
wait_for 30 nodes_up; ok $? "the agents follow to server 1"
J=$("$GANTRY" submit --team research --gpus 1 -- true | awk '{print $3}')
wait_for 60 job_is "$J" succeeded; ok $? "and run its jobs"
done_testing
