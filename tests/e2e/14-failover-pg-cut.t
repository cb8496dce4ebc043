#!/usr/bin/env bash
# A leader cut off from PostgreSQL steps down within its lease (docs/ha.md). The database runs
# in a network namespace, listening on its veth address; server 1 reaches it over that link
# (TCP), server 2 over its Unix socket. Clients and the agent reach both servers on loopback
# all along: when the link goes down, server 1 is a leader that everyone but the database can
# still talk to. It must stop acting as leader before its lease in the database runs out:
# commits nothing, acknowledges no submission, hands out no start task (a job that became
# runnable after the cut is started once, by server 2), says it stepped down within its term,
# and stands by; server 2 takes over; no two servers ever answer as leader at once.
. "$(dirname "$0")/agent-lib.sh"
need_netns
need_test_pg
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
research_cluster
netns_net || { echo "Bail out! no free subnet for the database's namespace"; exit 1; }
NS="gt$$-pgc"; LINK="gt$$pgch"
netns_pair "$NS" "$LINK" "gt$$pgcn" "10.$net.1"
# A PostgreSQL of this test's own, in the namespace: TCP on 10.$net.1.2, and its Unix socket.
UNIX_URL=$(ip netns exec "$NS" env PG_LISTEN="10.$net.1.2" "$ROOT/tests/pg/start" "$WORK/pg" 2>"$WORK/pg.why") \
  || { echo "Bail out! cannot start PostgreSQL in $NS: $(cat "$WORK/pg.why")"; exit 1; }
CLEANUPS+=("'$ROOT/tests/pg/stop' '$WORK/pg'")
TCP_URL="postgresql://gantry@10.$net.1.2:5432/gantry?connect_timeout=2"
LEASE=2s
start_ha_server 1 --store "$TCP_URL" --config "$WORK/cluster.yaml" --lease $LEASE
wait_for 30 ha_is 1 leader || { echo "Bail out! server 1 did not lead"; cat "$WORK/server1.log" >&2; exit 1; }
export GANTRY_TOKEN=$(cat "$WORK/data/admin.token"); ADMIN=$GANTRY_TOKEN
start_ha_server 2 --store "$UNIX_URL" --config "$WORK/cluster.yaml" --lease $LEASE
wait_for 30 ha_is 2 standby; ok $? "server 1 leads over the link (TCP), server 2 stands by on the socket"
is "$(psql -X -At "$UNIX_URL" -c 'SELECT url FROM leader')" "${HA_URL[1]}" "the database's lease names server 1"

export GANTRY_SERVER="${HA_URL[1]},${HA_URL[2]}"
run_agent n1 4 "$WORK/n1" agent1.log --no-cgroups
run_agent n2 4 "$WORK/n2" agent2.log --no-cgroups --gpu-type A100-80GB
nodes_up() { [ "$("$GANTRY" nodes -o json | perl -MJSON::PP -e 'print scalar grep { $_->{state} eq "up" } @{decode_json(join "", <STDIN>)}')" = 2 ]; }
wait_for 30 nodes_up; ok $? "the agents registered (n1: H100s, n2: A100s)"

# Who answers as leader, every 0.1 s, all along.
( while :; do echo "$(date +%s.%N) $(ha_role 1) $(ha_role 2)"; sleep 0.1; done >> "$WORK/roles" ) &
PIDS+=($!)

# A runs a second on n1; B, on n2, waits for A's success. The link is cut as A starts: A ends
# while server 1, cut off, still believes it leads, and B becomes runnable there, on a node
# whose agent is idle (n1's is busy reporting A's end, which server 1 can never commit).
job() { local name=$1 secs=$2; shift 2
  "$GANTRY" submit --team research --name "$name" "$@" -- sh -c \
  "echo \"$name \$GANTRY_JOB_ID \$(date +%s.%N)\" >> $WORK/starts; sleep $secs" | awk '{print $3}'; }
A=$(job A 1 --gres gpu:H100-80GB:4)
B=$(job B 0 --gres gpu:A100-80GB:4 --dependency "afterok:$A")
wait_for 30 grep -q "^A " "$WORK/starts"; ok $? "job A runs, job B waits for it"
ip link set "$LINK" down
t_cut=$(date +%s.%N)
# A submission sent to server 1 alone, after the cut.
GANTRY_SERVER_WAIT=1 GANTRY_SERVER=${HA_URL[1]} timeout 60 "$GANTRY" submit --team research --hold \
  --label key=cut -- true > "$WORK/cut.out" 2>&1
cut_rc=$?

wait_for 30 grep -q "stepping down as leader" "$WORK/server1.log"
ok $? "the cut-off leader steps down ($(grep -m1 'stepping down' "$WORK/server1.log"))"
took=$(sed -n 's/.*could not be renewed for \([0-9.]*\) s (its term: \([0-9.]*\) s).*/\1 \2/p' "$WORK/server1.log" | head -1)
ok $(echo "$took" | awk '{exit !($1 != "" && $1 < $2)}' && echo 0 || echo 1) \
  "within its lease: no renewal for ${took% *} s of a ${took#* } s term"
ok $([ "$cut_rc" -ne 0 ] && echo 0 || echo 1) "a submission to the cut-off leader is not acknowledged ($(tail -1 "$WORK/cut.out"))"
wait_for 30 ha_is 2 leader; ok $? "server 2 takes over"
t_over=$(date +%s.%N)
echo "# server 2 answered as leader $(echo "$t_over - $t_cut" | bc) s after the cut (lease $LEASE)"
wait_for 30 ha_is 1 standby; ok $? "server 1 stands by (the database out of its reach)"
is "$(psql -X -At "$UNIX_URL" -c 'SELECT url FROM leader')" "${HA_URL[2]}" "the database's lease names server 2"
e=$(curl -s "${HA_URL[2]}/v1/leader" | jget '{epoch}')
is "$e" 2 "with epoch 2"

export GANTRY_SERVER=${HA_URL[2]}
wait_for 60 job_is "$B" succeeded; ok $? "job B runs once A's end is known to the new leader"
is "$(grep -c "^B " "$WORK/starts")" 1 "B started once"
# The cut-off leader may schedule B (A's end reached it); its start task goes out only once
# durable, which it never is there: the agent starts B after it heard of the new leader.
new_at=$(grep -n "a new leader (epoch 2" "$WORK/agent2.log" | head -1 | cut -d: -f1)
b_at=$(grep -n "job $B incarnation 1 started" "$WORK/agent2.log" | head -1 | cut -d: -f1)
ok $([ -n "$new_at" ] && [ -n "$b_at" ] && [ "$b_at" -gt "$new_at" ] && echo 0 || echo 1) \
  "and not from the cut-off leader: the agent started it after the new leader answered (log lines $new_at < $b_at)"
is "$(grep -c "job $B incarnation 1 starts" "$WORK/server2.log")" 1 "server 2 started it"
is "$(job_state "$A")" succeeded "A's end is recorded"
is "$(psql -X -At "$UNIX_URL" -c "SELECT count(*) FROM jobs WHERE doc LIKE '%\"key\":\"cut\"%'")" 0 \
  "nothing the cut-off leader was sent after the cut is in the database"
is "$(awk '$2 == "leader" && $3 == "leader"' "$WORK/roles" | head -2)" "" "no two servers answered as leader at once ($(wc -l < "$WORK/roles") samples)"

# The link comes back: server 1 reaches the database again and names the leader.
ip link set "$LINK" up
wait_for 60 bash -c "curl -s ${HA_URL[1]}/v1/leader | grep -q '\"leader\":\"${HA_URL[2]}\"'"
ok $? "the link back, server 1 stands by behind server 2"
J=$("$GANTRY" submit --team research --gpus 1 -- true | awk '{print $3}')
wait_for 60 job_is "$J" succeeded; ok $? "the cluster runs jobs"
done_testing
