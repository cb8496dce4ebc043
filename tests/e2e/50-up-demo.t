#!/usr/bin/env bash
# The README's first command and its demo, as a newcomer runs them: `gantry up` with the
# local-cluster example, then examples/demo.sh (two teams; a production job preempts a
# checkpointing counter, which resumes without losing a step); then Ctrl-C stops it all.
. "$(dirname "$0")/lib.sh"
ROOT=${GANTRY_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
trap 'pkill -9 -f "[g]antry .*$WORK/up" 2>/dev/null; cleanup' EXIT
PORT=$(free_port)
"$GANTRY" up --agents 2 --gpus 4 --port "$PORT" --dir "$WORK/up" \
  --config "$ROOT/examples/local-cluster.yaml" >"$WORK/up.log" 2>&1 &
UP=$!
PIDS+=("$UP")
export GANTRY_SERVER="https://127.0.0.1:$PORT"
wait_for 30 grep -q "Gantry is up" "$WORK/up.log"
ok $? "gantry up says where the API and the token are"
like "$(cat "$WORK/up.log")" "export GANTRY_SERVER=https://127\.0\.0\.1:$PORT GANTRY_CA_FILE=$WORK/up/tls/ca\.pem " "it serves https and prints the CA file to trust"
is "$(stat -c %a "$WORK/up/tls/ca-key.pem") $(stat -c %a "$WORK/up/tls/server-key.pem")" "600 600" "its CA and server keys are 0600"
export GANTRY_CA_FILE="$WORK/up/tls/ca.pem"
export GANTRY_TOKEN=$(cat "$WORK/up/server/admin.token")
two_nodes() { [ "$("$GANTRY" nodes 2>/dev/null | grep -c ' up ')" = 2 ]; }
wait_for 30 two_nodes
ok $? "both agents registered their declared GPUs"

GANTRY_BIN=$GANTRY timeout 600 "$ROOT/examples/demo.sh" >"$WORK/demo.log" 2>&1
is "$?" 0 "the demo runs to its end"
demo=$(cat "$WORK/demo.log")
like "$demo" "production is job" "a production job was submitted by the other team"
like "$demo" "resuming after step [1-9][0-9]*" "the preempted counter resumed from its checkpoint"
like "$demo" "done at step 150" "and finished every step"
[ "$T_FAIL" = 0 ] || sed 's/^/# /' "$WORK/demo.log"

kill -INT "$UP"
wait_for 30 sh -c "! kill -0 $UP"
ok $? "Ctrl-C stops gantry up"
# ([g] keeps the pattern from matching the checking shell's own command line)
wait_for 30 sh -c "! pgrep -f '[g]antry .*$WORK/up' >/dev/null"
ok $? "and the server, the agents and their supervisors with it"
done_testing
