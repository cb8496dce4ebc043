#!/usr/bin/env bash
# Job output reaches the server byte for byte whatever it holds: bytes that are not UTF-8
# (printf '\355\240\200', a surrogate that jansson refuses), NULs, random binary. Before, such a
# chunk made the agent's log shipment fail and the agent then deleted the job directory that
# held the only copy. And the directory is never deleted before the server has taken all of
# the output: a server that refuses it leaves it on the node.
. "$(dirname "$0")/agent-lib.sh"
research_cluster
start_server --config "$WORK/cluster.yaml" --heartbeat 1
start_agent() { run_agent n1 2 "$WORK/n1" agent.log --no-cgroups; }
start_agent
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"

# ---- exact bytes: a surrogate, NULs, random binary (more than one 64 KiB chunk) ----
head -c 200000 /dev/urandom > "$WORK/rand.bin"
{
  echo "printf '\\355\\240\\200'"
  echo "printf 'text\\0with\\0NULs\\n'"
  echo "cat '$WORK/rand.bin'"
  echo "printf '\\355\\240\\200 end\\n'"
  echo "printf 'err \\355\\240\\200\\0\\377\\n' >&2"
} > "$WORK/emit.sh"
sh "$WORK/emit.sh" > "$WORK/want.out" 2> "$WORK/want.err"
is "$(head -c 3 "$WORK/want.out" | od -An -tx1 | tr -d ' \n')" "eda080" "the expected output starts with the bytes ED A0 80"
j=$(submit '{"team":"research","gpus":1,"command":["sh","'"$WORK"'/emit.sh"]}')
wait_for 30 job_is "$j" succeeded
ok $? "the job succeeds"
curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/jobs/$j/logs" > "$WORK/got.api"
cmp "$WORK/want.out" "$WORK/got.api"
ok $? "GET /v1/jobs/$j/logs returns its stdout byte for byte ($(stat -c %s "$WORK/want.out") bytes)"
"$GANTRY" logs "$j" > "$WORK/got.cli"
cmp "$WORK/want.out" "$WORK/got.cli"
ok $? "gantry logs prints the same bytes"
"$GANTRY" logs --stderr "$j" > "$WORK/got.err"
cmp "$WORK/want.err" "$WORK/got.err"
ok $? "stderr too"
wait_for 10 test ! -e "$WORK/n1/jobs/$j.1"
ok $? "the agent removed the job directory once the server had it all"
is "$(grep -c "does not take job $j" "$WORK/agent.log")" 0 "no chunk was refused"

# ---- a server that does not take the output: the directory stays ----
k=$(submit '{"team":"research","gpus":1,"command":["sh","-c","echo only-copy; while [ ! -e '"$WORK"'/k.go ]; do sleep 0.05; done; echo the-end"]}')
wait_for 20 sh -c "grep -q only-copy '$WORK/n1/jobs/$k.1/stdout'"
ok $? "a second job runs"
kill -9 "$AGENT_PID" "$SERVER_PID"
wait "$AGENT_PID" "$SERVER_PID" 2>/dev/null
# A new cluster (another data directory, and on PostgreSQL an empty database): job $k is
# unknown there, its chunks are refused.
mv "$WORK/data" "$WORK/data.old"
store_fresh
start_server --config "$WORK/cluster.yaml" --heartbeat 1
touch "$WORK/k.go"
wait_for 20 grep -q '^phase=exited' "$WORK/n1/jobs/$k.1/state"
ok $? "the job ends while no agent runs"
start_agent
wait_for 20 grep -q "does not take job $k's logs" "$WORK/agent.log"
ok $? "the new server refuses the job's output and the agent says so"
# A job of the new cluster, run to its end and its directory removed: the agent went through
# its report-and-clean-up loop after the refusal.
m=$(submit '{"team":"research","gpus":1,"command":["true"]}')
wait_for 20 job_is "$m" succeeded
ok $? "a job of the new cluster runs"
wait_for 10 test ! -e "$WORK/n1/jobs/$m.1"
ok $? "and its directory is removed"
test -e "$WORK/n1/jobs/$k.1/stdout"
ok $? "the refused job's directory is kept"
is "$(tr '\n' ' ' < "$WORK/n1/jobs/$k.1/stdout" 2>/dev/null)" "only-copy the-end " "with the whole output"
done_testing
