#!/usr/bin/env bash
# Logs of every node of a gang (issue 12, item 6): each node's output is kept in its own log
# (before, both nodes wrote the same file at their own offsets and one overwrote the other);
# gantry logs --node RANK|NAME|all (all: merged, each line led by [node]), with --stderr and
# -f; earlier runs with --run K (a run that does not exist is named as such); retention deletes
# every node's log.
. "$(dirname "$0")/agent-lib.sh"
research_cluster
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent node-a 2 "$WORK/a" agent-a.log --no-cgroups
A_PID=$AGENT_PID
run_agent node-b 2 "$WORK/b" agent-b.log --no-cgroups
B_PID=$AGENT_PID
nodes_up() { [ "$("$GANTRY" nodes | grep -c ' up ')" = 2 ]; }
wait_for 30 nodes_up
ok $? "node-a and node-b register"
logs() { "$GANTRY" logs "$@" 2>&1; }

# ---- a 2-node gang whose ranks print different lines ----
cat > "$WORK/gang.sh" <<'S'
for i in 1 2 3; do echo "rank $NODE_RANK line $i"; done
echo "rank $NODE_RANK complains" >&2
S
g=$(submit '{"team":"research","gpus":4,"nodes":2,"command":["sh","'"$WORK"'/gang.sh"]}')
wait_for 30 job_is "$g" succeeded
ok $? "gang $g succeeds"
n0=$(api GET "/v1/jobs/$g" | jget '{placement}[0]{node}')
n1=$(api GET "/v1/jobs/$g" | jget '{placement}[1]{node}')
has_both() { [ "$(logs "$g" --node all | wc -l)" = 6 ]; }
wait_for 20 has_both # the end is reported once the output is shipped; both nodes' by now
is "$(logs "$g")" "$(printf 'rank 0 line 1\nrank 0 line 2\nrank 0 line 3')" \
  "gantry logs $g: rank 0's output ($n0), whole"
is "$(logs "$g" --node 1)" "$(printf 'rank 1 line 1\nrank 1 line 2\nrank 1 line 3')" \
  "gantry logs $g --node 1: rank 1's output, whole (it survived)"
is "$(logs "$g" --node "$n1")" "$(logs "$g" --node 1)" "--node $n1 (its name) is rank 1"
is "$(logs "$g" --node "$n0")" "$(logs "$g" --node 0)" "--node $n0 is rank 0"
all=$(logs "$g" --node all)
is "$(printf '%s\n' "$all" | sort)" "$(printf '[%s] rank 0 line 1\n[%s] rank 0 line 2\n[%s] rank 0 line 3\n[%s] rank 1 line 1\n[%s] rank 1 line 2\n[%s] rank 1 line 3' "$n0" "$n0" "$n0" "$n1" "$n1" "$n1" | sort)" \
  "--node all: every line of both nodes, each led by its node"
is "$(printf '%s\n' "$all" | grep "\[$n1\]" | sed 's/.*line //' | tr -d '\n')" 123 "each node's lines in their order"
is "$(logs "$g" --stderr --node 1)" "rank 1 complains" "--stderr --node 1"
is "$(logs "$g" --stderr --node all | sort)" "$(printf '[%s] rank 0 complains\n[%s] rank 1 complains' "$n0" "$n1" | sort)" \
  "--stderr --node all"
is "$(logs "$g" --stderr)" "rank 0 complains" "--stderr: rank 0's"
is "$(curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/jobs/$g/logs?node=1&offset=7")" \
  "$(printf 'line 1\nrank 1 line 2\nrank 1 line 3')" "API: node=1&offset=7"
test -s "$WORK/data/logs/$g.1.stdout" && test -s "$WORK/data/logs/$g.1.stdout.1"
ok $? "on the server: $g.1.stdout (rank 0, as before) and $g.1.stdout.1 (rank 1)"

# ---- nodes and runs that do not exist ----
out=$(logs "$g" --node 2); rc=$?
is "$rc" 1 "--node 2 of a 2-node gang: exit 1"
like "$out" "job $g's run 1 ran on 2 nodes \(ranks 0 to 1: 0: $n0, 1: $n1\): there is no rank 2" "says which exist: $out"
out=$(logs "$g" --node nosuch)
like "$out" "node nosuch did not run job $g's run 1 \(it ran on 0: $n0, 1: $n1\)" "an unknown node's name: $out"
out=$(logs "$g" --run 2); rc=$?
is "$rc" 1 "--run 2 of a job that ran once: exit 1"
like "$out" "job $g has run 1 time \(runs 1 to 1\): there is no run 2" "says so: $out"
unlike "$out" '^\{' "no JSON on the terminal"
is "$(logs "$g" --run 1 --node 1 | head -n 1)" "rank 1 line 1" "--run 1 --node 1"
like "$(logs "$g" --run 0)" "--run takes a run number" "--run 0: a usage error"
like "$(curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/jobs/$g/logs?node=all&offset=3")" \
  'offset applies to one node' "API: offset with node=all is refused"

# ---- follow: one node, and all ----
f=$(submit '{"team":"research","gpus":4,"nodes":2,"command":["sh","-c","echo \"start $NODE_RANK\"; while [ ! -e '"$WORK"'/go ]; do sleep 0.1; done; echo \"end $NODE_RANK\""]}')
wait_for 30 job_is "$f" running
ok $? "a following gang $f runs"
"$GANTRY" logs -f "$f" --node all > "$WORK/follow.all" 2>&1 &
FA=$!
"$GANTRY" logs -f "$f" --node 1 > "$WORK/follow.1" 2>&1 &
F1=$!
PIDS+=("$FA" "$F1")
starts() { [ "$(grep -c start "$WORK/follow.all")" = 2 ] && grep -q "start 1" "$WORK/follow.1"; }
wait_for 20 starts
ok $? "followers see both starts while the job runs"
touch "$WORK/go"
wait_for 30 job_is "$f" succeeded
wait "$FA"; ok $? "gantry logs -f --node all ends with the job"
wait "$F1"; ok $? "gantry logs -f --node 1 ends with the job"
f0=$(api GET "/v1/jobs/$f" | jget '{placement}[0]{node}')
f1=$(api GET "/v1/jobs/$f" | jget '{placement}[1]{node}')
is "$(sort "$WORK/follow.all")" "$(printf '[%s] start 0\n[%s] end 0\n[%s] start 1\n[%s] end 1' "$f0" "$f0" "$f1" "$f1" | sort)" \
  "followed, all: both nodes' lines, prefixed"
is "$(cat "$WORK/follow.1")" "$(printf 'start 1\nend 1')" "followed, node 1: its lines only"

# ---- an earlier run: the job returns to the queue when its node is lost ----
r=$(submit '{"team":"research","gpus":2,"checkpoint":{"signal":"SIGTERM","grace":"1s"},"command":["sh","-c","echo \"run $GANTRY_INCARNATION\"; [ $GANTRY_INCARNATION -ge 2 ] && exit 0; while :; do sleep 0.1; done"]}')
shipped() { [ "$(logs "$r")" = "run 1" ]; }
wait_for 30 shipped
ok $? "job $r's run 1 printed and its output is on the server"
rn=$(api GET "/v1/jobs/$r" | jget '{placement}[0]{node}')
[ "$rn" = node-a ] && kill -9 "$A_PID" || kill -9 "$B_PID"
wait_for 60 job_is "$r" succeeded
ok $? "its node ($rn) lost, job $r runs again elsewhere and succeeds"
is "$(logs "$r")" "run 2" "gantry logs: the latest run"
is "$(logs "$r" --run 1)" "run 1" "gantry logs --run 1: the earlier run"
is "$(logs "$r" --run 1 --node "$rn")" "run 1" "--run 1 --node $rn (the node it ran on then)"
out=$(logs "$r" --run 3)
like "$out" "job $r has run 2 times \(runs 1 to 2\): there is no run 3" "--run 3: $out"

# ---- retention deletes every node's log ----
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
"$GANTRY" server --data "$WORK/data" "${STORE_ARGS[@]}" --listen "127.0.0.1:$PORT" --heartbeat 1 --config "$WORK/cluster.yaml" \
  --retention 1s 2>>"$WORK/server.log" &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
purged() { [ ! -e "$WORK/data/logs/$g.1.stdout" ] && [ ! -e "$WORK/data/logs/$g.1.stdout.1" ] &&
  [ ! -e "$WORK/data/logs/$g.1.stderr.1" ] && [ ! -e "$WORK/data/logs/$f.1.stdout.1" ] &&
  [ ! -e "$WORK/data/logs/$r.1.stdout" ] && [ ! -e "$WORK/data/logs/$r.2.stdout" ]; }
wait_for 30 purged
ok $? "--retention 1s: the logs of every rank and every run are deleted"
is "$(ls "$WORK/data/logs" | wc -l)" 0 "no log file is left behind"
done_testing
