#!/usr/bin/env bash
# A cancel by filter whose own cancels end other matching jobs meanwhile (a dependent cancelled
# dependency_failed when the job it waits for is cancelled): those are not errors, the command
# succeeds and every matching job has ended. A cancel of one job by id that ended meanwhile is
# still answered "already ended" (409).
. "$(dirname "$0")/agent-lib.sh"
research_cluster
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 2 "$WORK/n1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"
sub() { "$GANTRY" submit --team research "$@" | awk '/^Submitted/ {print $NF}'; }
a=$(sub --hold -- true)
b=$(sub --dependency "afterok:$a" -- true)
c=$(sub --dependency "afterok:$b" -- true)
is "$(api GET "/v1/jobs/$c" | jget '{pending_reason}')" dependency "a chain of three pending jobs ($a <- $b <- $c)"
out=$("$GANTRY" cancel --state pending --yes 2>&1)
ok $? "gantry cancel --state pending --yes succeeds (exit 0)"
echo "$out" | sed 's/^/#   /'
for j in "$a" "$b" "$c"; do
  is "$(job_state "$j")" cancelled "job $j ended cancelled"
done
unlike "$out" "already ended" "no job is reported as an error for having ended while the cancel was saved"
"$GANTRY" cancel "$a" >/dev/null 2>&1
is "$?" 1 "a cancel of one job by id that already ended still fails"
done_testing
