#!/usr/bin/env bash
# Gantry across a PostgreSQL failover managed by Patroni (docs/ha.md, "PostgreSQL's own high
# availability"): two Gantry servers on a two-node Patroni cluster (tests/pg/patroni: etcd and
# two PostgreSQL on loopback, streaming replication, synchronous_mode) through a libpq
# multi-host conninfo with target_session_attrs=read-write. While 4 clients submit and two jobs
# run on agents, the PostgreSQL primary's node dies (kill -9 of its Patroni, its postmaster and
# the postmaster's children); Patroni promotes the replica; a Gantry server leads again on it.
# No acknowledged job is lost, none is duplicated, none is made that was not acknowledged, the
# running jobs keep running and their ends are recorded, and writes are served again within a
# deadline (the time is printed). Skipped when Patroni or etcd is not installed.
. "$(dirname "$0")/agent-lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
for b in patroni etcd; do
  command -v "$b" >/dev/null || { skip "no $b installed (Debian: patroni, etcd-server; scripts/deps installs them)"; done_testing; exit; }
done
PDIR=$(mktemp -d /tmp/gantry-patroni.XXXXXX)
CLEANUPS+=("[ -f $PDIR/env ] && $ROOT/tests/pg/patroni stop $PDIR; rm -rf $PDIR")
if ! URL=$("$ROOT/tests/pg/patroni" start "$PDIR" 2>"$WORK/patroni.why"); then
  ok 1 "a Patroni cluster starts: $(tr '\n' ' ' < "$WORK/patroni.why")"
  for n in pg1 pg2 etcd; do [ -f "$PDIR/$n.log" ] && cp "$PDIR/$n.log" "$WORK/patroni-$n.log"; done
  done_testing; exit
fi
P0=$("$ROOT/tests/pg/patroni" primary "$PDIR")
ok $? "a Patroni cluster with a primary ($P0) and a streaming synchronous replica"
psql_primary() { psql -X -q -At "$URL" -c "$1"; }

research_cluster
LEASE=2s
start_ha_server 1 --store "$URL" --config "$WORK/cluster.yaml" --lease $LEASE
wait_for 30 ha_is 1 leader || { echo "Bail out! server 1 did not lead"; cat "$WORK/server1.log" >&2; exit 1; }
export GANTRY_TOKEN=$(cat "$WORK/data/admin.token"); ADMIN=$GANTRY_TOKEN
start_ha_server 2 --store "$URL" --config "$WORK/cluster.yaml" --lease $LEASE
wait_for 30 ha_is 2 standby; ok $? "server 2 stands by on the same multi-host conninfo"
export GANTRY_SERVER="${HA_URL[1]},${HA_URL[2]}"

run_agent n1 4 "$WORK/n1" agent1.log --no-cgroups
run_agent n2 4 "$WORK/n2" agent2.log --no-cgroups
nodes_up() { [ "$("$GANTRY" nodes -o json | perl -MJSON::PP -e 'print scalar grep { $_->{state} eq "up" } @{decode_json(join "", <STDIN>)}')" = 2 ]; }
wait_for 30 nodes_up; ok $? "both agents registered"
# Two long jobs: L1 --no-requeue (its node never stops it by itself: it must run through the
# failover), L2 as submitted by default (marked fence: its node stops it when the node's lease
# runs out, which a database failover longer than the agents' lease does: docs/ha.md; the
# server then starts it again, never two at once). Each writes "INCARNATION TIME" lines, the
# first before it looks for the release (an incarnation the server starts after the release
# still leaves its line: without it, incarnations_apart saw only one incarnation and failed).
long_job() { # N [flags]
  local n=$1; shift
  "$GANTRY" submit --team research --gpus 4 --name "long$n" "$@" -- sh -c \
    "echo \"\$GANTRY_JOB_ID \$(date +%s.%N)\" >> $WORK/starts; while :; do echo \"\$GANTRY_INCARNATION \$(date +%s.%N)\" >> $WORK/inc.\$GANTRY_JOB_ID; [ -e $WORK/release ] && break; sleep 0.2; done; echo \$GANTRY_JOB_ID >> $WORK/ends" | awk '{print $3}'
}
L1=$(long_job 1 --no-requeue); L2=$(long_job 2)
two_started() { [ "$(wc -l < "$WORK/starts" 2>/dev/null)" = 2 ]; }
wait_for 30 two_started; ok $? "jobs $L1 (--no-requeue) and $L2 run on the agents"

# Each client: one submission after the other, a new key each; acknowledged ones with the
# moments the request was sent and answered (acked.C: KEY ID SENT ANSWERED), refused ones with
# the answer (failed.C).
CLIENTS=()
export GANTRY_SERVER_WAIT=60   # (the CLI's patience with a failover: docs/ha.md)
for c in 1 2 3 4; do
  ( n=0
    while [ ! -e "$WORK/stop" ]; do
      n=$((n + 1)); ts=$(date +%s.%N)
      if out=$("$GANTRY" submit --team research --hold --label "key=c$c-$n" -- true 2>&1); then
        echo "c$c-$n $(echo "$out" | awk '{print $3}') $ts $(date +%s.%N)" >> "$WORK/acked.$c"
      else
        echo "c$c-$n $(date +%s.%N) $out" >> "$WORK/failed.$c"
      fi
    done ) &
  PIDS+=($!); CLIENTS+=($!)
done
acked() { cat "$WORK"/acked.* 2>/dev/null | wc -l; }
wait_for 60 bash -c "[ \$(cat \"$WORK\"/acked.* 2>/dev/null | wc -l) -ge 20 ]"
before=$(acked)
"$ROOT/tests/pg/patroni" crash "$PDIR" "$P0"
ok $? "the primary's node ($P0: Patroni, postmaster and backends) is killed with SIGKILL"
t0=$(date +%s.%N)   # (after the kill: a submission sent before it may still be committed)
# Writes again: the first submission acknowledged among those sent after the kill.
wait_for 40 bash -c "[ \$(cat \"$WORK\"/acked.* | awk -v t=$t0 '\$3 > t' | wc -l) -ge 1 ]"
ok $? "Gantry acknowledges submissions sent after the primary's death"
t1=$(cat "$WORK"/acked.* | awk -v t="$t0" '$3 > t { print $4 }' | sort -n | head -1)
took=$(echo "$t1 - $t0" | bc)
echo "# writes again $took s after the kill (Patroni ttl 8 s, Gantry lease $LEASE)"
ok $(echo "$took < 40" | bc | grep -qx 1; echo $?) "within 40 s ($took s)"
promoted() { P1=$("$ROOT/tests/pg/patroni" primary "$PDIR") && [ "$P1" != "$P0" ]; }
wait_for 30 promoted; ok $? "Patroni promoted the replica ($("$ROOT/tests/pg/patroni" primary "$PDIR"))"
leader_now() { for i in 1 2; do ha_is "$i" leader && { echo "$i"; return 0; }; done; return 1; }
wait_for 30 leader_now; ok $? "one Gantry server leads (server $(leader_now))"
is "$(psql_primary 'SELECT epoch > 1 FROM leader')" t "with a newer epoch, on the new primary"
wait_for 60 bash -c "[ \$(cat \"$WORK\"/acked.* 2>/dev/null | wc -l) -ge $((before + 20)) ]"
ok $? "the clients go on submitting ($before acknowledged before the kill, $(acked) now)"
touch "$WORK/stop"
for p in "${CLIENTS[@]}"; do wait "$p" 2>/dev/null; done
is "$(cat "$WORK"/failed.* 2>/dev/null | head -3)" "" "no submission failed: each client (given both servers) rode through the database's failover"

export GANTRY_SERVER="${HA_URL[$(leader_now)]}"   # (api and job_state take one URL)
api GET '/v1/jobs?state=all&limit=10000' > "$WORK/all.json"
perl -MJSON::PP -e 'my $d = decode_json(join "", <STDIN>); for (@{$d->{jobs}}) { my $k = $_->{labels}{key}; print "$k $_->{id}\n" if defined $k }' < "$WORK/all.json" | sort > "$WORK/stored"
missing=0
while read -r key id _; do grep -qx "$key $id" "$WORK/stored" || { missing=$((missing + 1)); echo "# lost: $key $id"; }; done < <(cat "$WORK"/acked.*)
is "$missing" 0 "every acknowledged job is in the new leader's store, with its id ($(acked) jobs)"
is "$(awk '{print $1}' "$WORK/stored" | sort | uniq -d | head -3)" "" "no submission became two jobs"
is "$(awk '{print $1}' "$WORK/stored" | sort | comm -23 - <(awk '{print $1}' "$WORK"/acked.* | sort) | head -3)" "" \
  "no job was made that was not acknowledged"
is "$(psql_primary "SELECT count(*) FROM jobs WHERE doc LIKE '%\"key\":\"c%'")" "$(acked)" "the new primary holds exactly those jobs"

is "$(job_state "$L1")" running "the running job $L1 keeps running across the database's failover"
touch "$WORK/release"
ended() { job_is "$L1" succeeded && job_is "$L2" succeeded; }
wait_for 60 ended; ok $? "their ends are recorded ($(job_state "$L1"), $(job_state "$L2"))"
is "$(grep -c "^$L1 " "$WORK/starts")" 1 "job $L1 started once"
is "$(grep -c "^$L1\$" "$WORK/ends")" 1 "and ran to its end once"
if [ "$(grep -c "^$L2 " "$WORK/starts")" = 1 ]; then
  ok 0 "job $L2 (fence-marked) ran through the failover in one incarnation"
else
  apart=$(incarnations_apart "$WORK/inc.$L2"); rc=$?
  echo "$apart" | sed 's/^/# /'
  ok $rc "job $L2 (fence-marked) was stopped by its node's fence (the failover outlasted the agents' lease) and started again: never two incarnations at once ($(grep -c "^$L2 " "$WORK/starts") starts; $(echo "$apart" | paste -sd ';'))"
fi
wait_for 30 nodes_up; ok $? "both agents report to the leader"
J=$("$GANTRY" submit --team research --gpus 1 -- true | awk '{print $3}')
wait_for 60 job_is "$J" succeeded; ok $? "a job submitted after the failover runs on an agent"
done_testing
