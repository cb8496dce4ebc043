#!/usr/bin/env bash
# Three servers on one PostgreSQL store (docs/ha.md): one leader is elected through the
# database, the others stand by (one of them told the store by its config's `store:` only).
# The database itself rejects a write of a stale epoch. kill -9 of the leader while 8 clients
# submit and jobs run on agents: a standby takes over; no acknowledged job is lost, none
# duplicated, none started twice; the running jobs keep running and their ends are recorded.
# A second kill: the third server takes over. A leader paused beyond its lease (SIGSTOP) is
# deposed: a submission it held is one job, and on SIGCONT it steps down and stands by.
. "$(dirname "$0")/agent-lib.sh"
need_test_pg
GANTRY_TEST_STORE=pg use_test_store   # database gantry_$$, dropped at cleanup; STORE_URL
research_cluster
cp "$WORK/cluster.yaml" "$WORK/cluster-pg.yaml"
echo "store: $STORE_URL" >> "$WORK/cluster-pg.yaml"
LEASE=2s
# Servers 1 and 2 are given the store with --store, server 3 by its config's store: only.
start_ha_server 1 --store "$STORE_URL" --config "$WORK/cluster.yaml" --lease $LEASE
wait_for 30 ha_is 1 leader || { echo "Bail out! server 1 did not lead"; cat "$WORK/server1.log" >&2; exit 1; }
export GANTRY_TOKEN=$(cat "$WORK/data/admin.token"); ADMIN=$GANTRY_TOKEN
start_ha_server 2 --store "$STORE_URL" --config "$WORK/cluster.yaml" --lease $LEASE
start_ha_server 3 --config "$WORK/cluster-pg.yaml" --lease $LEASE
wait_for 30 ha_is 2 standby; ok $? "server 2 stands by"
wait_for 30 ha_is 3 standby; ok $? "server 3, told the store by its config's store: only, stands by"
is "$(grep -c "stepping down" "$WORK/server3.log")" 0 "(and never led meanwhile: $(grep -m1 stepping "$WORK/server3.log"))"
wait_for 30 bash -c "curl -s ${HA_URL[3]}/v1/leader | grep -q '\"leader\":\"${HA_URL[1]}\"'"; ok $? "it names the leader"
is "$(ha_role 1) $(ha_role 2) $(ha_role 3)" "leader standby standby" "one leader among three"
e1=$(curl -s "${HA_URL[1]}/v1/leader" | jget '{epoch}')
is "$(store_sql 'SELECT url, epoch FROM leader')" "${HA_URL[1]}|$e1" "the lease is the database's row: the leader's URL and epoch"

export GANTRY_SERVER="${HA_URL[2]},${HA_URL[3]},${HA_URL[1]}"
run_agent n1 4 "$WORK/n1" agent1.log --no-cgroups   # (default cgroups are shared by name with tests beside it)
run_agent n2 4 "$WORK/n2" agent2.log --no-cgroups
nodes_up() { [ "$("$GANTRY" nodes -o json | perl -MJSON::PP -e 'print scalar grep { $_->{state} eq "up" } @{decode_json(join "", <STDIN>)}')" = 2 ]; }
wait_for 30 nodes_up; ok $? "both agents registered through the list"

long_job() {
  "$GANTRY" submit --team research --gpus 4 --name "long$1" -- sh -c \
    "echo \"\$GANTRY_JOB_ID \$(date +%s.%N)\" >> $WORK/starts; until [ -e $WORK/release ]; do sleep 0.2; done; echo \$GANTRY_JOB_ID >> $WORK/ends" | awk '{print $3}'
}
L1=$(long_job 1); L2=$(long_job 2)
two_started() { [ "$(wc -l < "$WORK/starts" 2>/dev/null)" = 2 ]; }
wait_for 30 two_started; ok $? "jobs $L1 and $L2 run on the agents"

for c in 1 2 3 4 5 6 7 8; do
  ( n=0
    while [ ! -e "$WORK/stop" ]; do
      n=$((n + 1))
      if out=$("$GANTRY" submit --team research --hold --label "key=c$c-$n" -- true 2>&1); then
        echo "c$c-$n $(echo "$out" | awk '{print $3}')" >> "$WORK/acked.$c"
      else
        echo "c$c-$n $out" >> "$WORK/failed.$c"
      fi
    done ) &
  PIDS+=($!); CLIENTS+=($!)
done
acked() { cat "$WORK"/acked.* 2>/dev/null | wc -l; }
leader_now() { for i in 1 2 3; do ha_is "$i" leader && { echo "$i"; return 0; }; done; return 1; }
wait_for 60 bash -c "[ \$(cat \"$WORK\"/acked.* 2>/dev/null | wc -l) -ge 40 ]"
before=$(acked)
kill -9 "${HA_PID[1]}"
t0=$(date +%s.%N)
wait_for 30 bash -c "curl -s ${HA_URL[2]}/v1/leader ${HA_URL[3]}/v1/leader | grep -q '\"role\":\"leader\"'"
ok $? "a standby takes over after kill -9 of the leader"
t1=$(date +%s.%N)
echo "# took over in $(echo "$t1 - $t0" | bc) s (lease $LEASE)"
new=$(leader_now); is "$(ha_role 2) $(ha_role 3) | $new" "$( [ "$new" = 2 ] && echo "leader standby" || echo "standby leader") | $new" "exactly one of the two leads (server $new)"
e2=$(curl -s "${HA_URL[$new]}/v1/leader" | jget '{epoch}')
ok $([ "$e2" -gt "$e1" ] && echo 0 || echo 1) "with a newer epoch ($e2 > $e1)"
wait_for 60 bash -c "[ \$(cat \"$WORK\"/acked.* 2>/dev/null | wc -l) -ge $((before + 40)) ]"
ok $? "the clients go on submitting to the new leader ($before acknowledged before the kill, $(acked) now)"

# The second kill, while they submit, once the agents answer to the new leader (two failovers
# within one node lease, 10 s, before the agents reached a leader would let their fences stop
# the jobs, as docs/ha.md says): the third server takes over.
agents_follow() { grep -q "a new leader (epoch $e2," "$WORK/agent1.log" && grep -q "a new leader (epoch $e2," "$WORK/agent2.log"; }
wait_for 30 agents_follow; ok $? "both agents answer to the new leader (epoch $e2)"
before2=$(acked)
kill -9 "${HA_PID[$new]}"
third=$((5 - new))
wait_for 30 ha_is "$third" leader; ok $? "server $third takes over after kill -9 of server $new"
e3=$(curl -s "${HA_URL[$third]}/v1/leader" | jget '{epoch}')
ok $([ "$e3" -gt "$e2" ] && echo 0 || echo 1) "with a newer epoch ($e3 > $e2)"
wait_for 60 bash -c "[ \$(cat \"$WORK\"/acked.* 2>/dev/null | wc -l) -ge $((before2 + 40)) ]"
ok $? "the clients go on submitting ($(acked) acknowledged)"
touch "$WORK/stop"
for p in "${CLIENTS[@]}"; do wait "$p" 2>/dev/null; done
is "$(cat "$WORK"/failed.* 2>/dev/null | head -3)" "" "no submission failed: each client found the new leader by itself"

export GANTRY_SERVER="${HA_URL[$third]}"
api GET '/v1/jobs?state=all&limit=10000' > "$WORK/all.json"
perl -MJSON::PP -e 'my $d = decode_json(join "", <STDIN>); for (@{$d->{jobs}}) { my $k = $_->{labels}{key}; print "$k $_->{id}\n" if defined $k }' < "$WORK/all.json" | sort > "$WORK/stored"
missing=0
while read -r key id; do grep -qx "$key $id" "$WORK/stored" || { missing=$((missing + 1)); echo "# lost: $key $id"; }; done < <(cat "$WORK"/acked.*)
is "$missing" 0 "every acknowledged job is in the leader's store, with its id ($(acked) jobs)"
is "$(awk '{print $1}' "$WORK/stored" | sort | uniq -d | head -3)" "" "no submission became two jobs"
is "$(wc -l < "$WORK/stored")" "$(acked)" "and no job was made that was not acknowledged"
is "$(store_sql "SELECT count(*) FROM jobs WHERE doc LIKE '%\"key\":\"c%'")" "$(acked)" "the database holds exactly those jobs"

is "$(job_state "$L1") $(job_state "$L2")" "running running" "the running jobs keep running across two failovers"
touch "$WORK/release"
ended() { job_is "$L1" succeeded && job_is "$L2" succeeded; }
wait_for 60 ended; ok $? "their ends are recorded by the leader ($(job_state "$L1"), $(job_state "$L2"))"
is "$(awk '{print $1}' "$WORK/starts" | sort | uniq -c | awk '{print $1}' | sort -u)" 1 "each started once"
is "$(sort "$WORK/ends" | tr '\n' ' ')" "$(printf '%s\n' "$L1" "$L2" | sort | tr '\n' ' ')" "and each ran to its end once"
wait_for 30 nodes_up; ok $? "both agents report to the new leader"
J=$("$GANTRY" submit --team research --gpus 1 -- true | awk '{print $3}')
wait_for 60 job_is "$J" succeeded; ok $? "a job submitted after the failovers runs on an agent"

# The two killed servers come back (one with --store, one with the config's store:): they stand by.
for i in 1 2 3; do [ "$i" = "$third" ] && continue
  if [ "$i" = 3 ]; then start_ha_server 3 --config "$WORK/cluster-pg.yaml" --lease $LEASE
  else start_ha_server "$i" --store "$STORE_URL" --config "$WORK/cluster.yaml" --lease $LEASE; fi
  wait_for 30 ha_is "$i" standby; ok $? "server $i, restarted, stands by"
done

# The leader pauses beyond its lease (SIGSTOP): a standby takes over with the next epoch; on
# SIGCONT the paused one finds its lease run out and steps down; a submission it held is one job.
P3=${HA_PID[$third]}
export GANTRY_SERVER="${HA_URL[$third]},${HA_URL[1]},${HA_URL[2]},${HA_URL[3]}"
kill -STOP "$P3"
( "$GANTRY" submit --team research --hold --label key=paused -- true > "$WORK/paused.out" 2>&1; echo $? > "$WORK/paused.rc" ) &
PIDS+=($!); P=$!
paused_for=$((SECONDS + 4))
others_lead() { for i in 1 2 3; do [ "$i" != "$third" ] && ha_is "$i" leader && return 0; done; return 1; }
wait_for 30 others_lead; ok $? "a standby takes over while the leader is paused"
while [ $SECONDS -lt $paused_for ]; do sleep 0.2; done
kill -CONT "$P3"
wait "$P"
is "$(cat "$WORK/paused.rc")" 0 "the submission sent to the paused leader is acknowledged ($(cat "$WORK/paused.out"))"
wait_for 30 grep -q "stepping down as leader" "$WORK/server$third.log"; ok $? "the paused leader steps down when it runs again"
wait_for 30 ha_is "$third" standby; ok $? "and stands by"
now=$(leader_now)
n=$(GANTRY_SERVER=${HA_URL[$now]} api GET '/v1/jobs?state=all&limit=10000' | perl -MJSON::PP -e 'print scalar grep { ($_->{labels}{key} // "") eq "paused" } @{decode_json(join "", <STDIN>)->{jobs}}')
is "$n" 1 "the paused submission is one job"
is "$(store_sql "SELECT count(*) FROM jobs WHERE doc LIKE '%\"key\":\"paused\"%'")" 1 "one row in the database"
is "$(store_sql 'SELECT url FROM leader')" "${HA_URL[$now]}" "the database's lease names the one leader (server $now)"
done_testing
