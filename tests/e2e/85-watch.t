#!/usr/bin/env bash
# -w/--watch (kubectl get -w; squeue -i), on a pipe: gantry queue -w prints the list, then
# the list again each time it changes (a blank line between), never while nothing changes;
# gantry show -w ID prints the job at each change and exits by itself once the job ended.
. "$(dirname "$0")/agent-lib.sh"
research_cluster
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 2 "$WORK/n1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"
sid() { awk '{print $3}'; }
views() { grep -c '^ID ' "$1"; }   # how many lists were printed

"$GANTRY" queue -w >"$WORK/q" 2>"$WORK/q.err" &
QW=$!
PIDS+=("$QW")
wait_for 20 grep -q '^ID ' "$WORK/q"; ok $? "queue -w prints the list at once (an empty queue: its header)"
j=$("$GANTRY" submit --team research -n w1 -- sh -c "while [ ! -e '$WORK/go' ]; do sleep 0.1; done" | sid)
wait_for 20 grep -qE "^$j +w1 +research +admin +running " "$WORK/q"; ok $? "a job submitted meanwhile appears running"
n=$(views "$WORK/q")
sleep 3 # observing: its elapsed time changes, nothing else does
is "$(views "$WORK/q")" "$n" "nothing changed for 3 s (but the clock): nothing printed again"
p=$("$GANTRY" submit --team research -n w2 --after "$j" -- true | sid)
wait_for 20 grep -qE "^$p +w2 +research +admin +pending .* dependency$" "$WORK/q"; ok $? "a pending job appears, with its reason"
touch "$WORK/go"
wait_for 30 sh -c "tail -n 1 '$WORK/q' | grep -q '^ID '"; ok $? "both ended: the last list is empty again"
like "$(awk 'BEGIN {RS=""} END {print NR}' "$WORK/q")" '^[3-9]' "the lists are apart (blank lines between them)"
kill -INT "$QW"
wait_for 10 sh -c "! kill -0 $QW 2>/dev/null"; ok $? "Ctrl-C (SIGINT) ends queue -w (even in a script's background, where bash ignores SIGINT)"
kill -9 "$QW" 2>/dev/null # (still there: the check above failed)
wait "$QW"; is "$?" 130 "killed by SIGINT (status 130)"
is "$(cat "$WORK/q.err")" "" "nothing on stderr"

# On a terminal (script(1) gives it one): the screen is cleared and the list drawn again.
out=$(script -q -c "timeout 2.5 '$GANTRY' queue -w" /dev/null | od -An -c | tr -s ' \n' ' ')
like "$out" '^ 033 \[ H 033 \[ 2 J I D ' "on a terminal: clear (ESC[H ESC[2J), then the list"

# show -w: until the job ends, then it exits by itself.
rm -f "$WORK/go"
s=$("$GANTRY" submit --team research -n w3 -- sh -c "while [ ! -e '$WORK/go' ]; do sleep 0.1; done" | sid)
"$GANTRY" show -w "$s" >"$WORK/s" 2>&1 &
SW=$!
PIDS+=("$SW")
wait_for 20 grep -q '^state: running' "$WORK/s"; ok $? "show -w prints the job (running)"
kill -0 "$SW" 2>/dev/null; ok $? "and keeps watching"
touch "$WORK/go"
wait_for 30 sh -c "! kill -0 $SW 2>/dev/null"; ok $? "show -w exits by itself once the job ended"
kill "$SW" 2>/dev/null # (still there: the check above failed)
wait "$SW"; is "$?" 0 "with status 0"
like "$(grep '^state:' "$WORK/s" | tr '\n' ' ')" '^state: (pending )?running .*state: succeeded $' "it printed each change, the end last"
like "$(cat "$WORK/s")" "# submitted [0-9-]{10}T[0-9:]{8}; started [0-9-]{10}T[0-9:]{8}; ended [0-9-]{10}T[0-9:]{8}" "with its times in local ISO 8601"
out=$(timeout 20 "$GANTRY" show -w "$s"); rc=$?
is "$rc" 0 "show -w of a job that already ended: prints it once and exits"
is "$(echo "$out" | grep -c '^state:')" 1 "once"
out=$("$GANTRY" show -w 99999 2>&1); rc=$?
is "$rc" 1 "show -w of a job that does not exist: fails"
like "$out" "does not exist" "saying so"
done_testing
