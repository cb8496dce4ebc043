#!/usr/bin/env bash
# The cap on terminal sessions (docs/interactive.md): each `gantry exec -t` / `run -it` session
# outlives its client (detached, it keeps a relay thread and up to 1 MiB of output on the
# server until its idle timeout), so one user could pile them up. A user may have 16 open at
# once (attached or detached, over every job); the 17th is refused with 429
# too_many_sessions and says what to do; another user is not affected; an exec without -t
# (it ends with its client) is not counted; once one of the 16 ends, a new one opens.
. "$(dirname "$0")/agent-lib.sh"

cat > "$WORK/cluster.yaml" <<'EOF2'
teams:
  - name: research
    quota: {gpus: 8}
EOF2
start_server --config "$WORK/cluster.yaml"
NODE=cap$$
run_agent "$NODE" 2 "$WORK/$NODE" agent.log
wait_for 30 sh -c "\"$GANTRY\" nodes | grep -q '^$NODE .* up'" || { echo "Bail out! the agent did not register"; exit 1; }
ALICE=$("$GANTRY" token create --user alice --role member --team research)
CAROL=$("$GANTRY" token create --user carol --role member --team research)
running() { [ "$(GANTRY_TOKEN=$ADMIN "$GANTRY" show "$1" -o json | jget '{state}')" = running ]; }
JOB=$(GANTRY_TOKEN=$ALICE "$GANTRY" submit --team research --gpus 1 -o json -- sleep 600 | jget '{id}')
wait_for 30 running "$JOB"
ok $? "a job runs (job $JOB)"

# 16 exec -t sessions of alice's, each left detached (its client killed once it is relayed)
relayed() { [ "$(grep -c "exec by alice into job $JOB" "$WORK/server.log")" -ge "$1" ]; }
detached() { [ "$(grep -c "exec session [0-9a-f]* of job $JOB is detached" "$WORK/server.log")" -ge "$1" ]; }
opened=0
for i in $(seq 1 16); do
  GANTRY_TOKEN=$ALICE "$GANTRY" exec -t "$JOB" -- sleep 600 </dev/null >/dev/null 2>&1 &
  c=$!
  wait_for 30 relayed "$i"
  kill -9 "$c"; wait "$c" 2>/dev/null
  wait_for 30 detached "$i" && opened=$((opened + 1))
done
is "$opened" 16 "alice has 16 detached exec sessions"

out=$(GANTRY_TOKEN=$ALICE "$GANTRY" exec -t "$JOB" -- true </dev/null 2>&1); rc=$?
isnt() { [ "$1" != "$2" ]; ok $? "$3"; }
isnt "$rc" 0 "a 17th is refused"
like "$out" 'too_many_sessions, HTTP 429' "  429 too_many_sessions"
like "$out" 'alice has 16 terminal sessions open' "  saying how many she has"
like "$out" 'gantry attach JOB --list' "  and how to find one to end"
out=$(GANTRY_TOKEN=$ALICE "$GANTRY" exec "$JOB" -- echo plain 2>&1)
is "$out" plain "an exec without -t (it ends with its client) is not counted"
out=$(GANTRY_TOKEN=$CAROL "$GANTRY" exec -t "$JOB" -- echo carols </dev/null 2>&1)
like "$out" carols "another user of the team is not affected"

# one of alice's ends: the next opens
sid=$(sed -n "s/.*exec session \([0-9a-f]\{8\}\) of job $JOB is detached.*/\1/p" "$WORK/server.log" | head -n 1)
printf '\003' | GANTRY_TOKEN=$ALICE timeout 30 "$GANTRY" attach "$JOB" --exec "$sid" >/dev/null 2>&1
gone() { ! GANTRY_TOKEN=$ALICE "$GANTRY" attach "$JOB" --list 2>/dev/null | grep -q "^$sid"; }
wait_for 30 gone
ok $? "one of her sessions ends (its sleep interrupted through gantry attach)"
out=$(GANTRY_TOKEN=$ALICE "$GANTRY" exec -t "$JOB" -- echo again </dev/null 2>&1)
like "$out" again "then she may open one again"
done_testing
