#!/usr/bin/env bash
# Reattach of exec sessions (docs/interactive.md): a `gantry exec -it` client whose connection
# drops (killed here) hung its command up. Now the session is detached as a `gantry run -it`
# session is: its command runs on, what it writes is held, `gantry attach JOB --exec ID` takes
# it back (the same shell, its variables, the output written meanwhile, the new window's size),
# a second one takes it over (the first client's connection ends and it names the session to
# attach to); the shell's exit code is gantry attach's and the job runs on; another team's
# member is refused (404); each reattach is audited; `gantry attach JOB --list` lists the
# job's sessions. A detached exec session ends with its job, or after its class's
# session_idle_timeout without input (the job goes on). An exec without -t still ends with
# its client. Driven through tmux as 99-interactive-reattach.t is.
. "$(dirname "$0")/agent-lib.sh"
command -v tmux >/dev/null || { echo "1..0 # skip tmux is not installed (scripts/deps installs it)"; exit 0; }

cat > "$WORK/cluster.yaml" <<'EOF'
teams:
  - name: research
    quota: {gpus: 8}
  - name: product
    quota: {gpus: 8}
priority_classes:
  - {name: normal, value: 100}
  - {name: dev, value: 50, session_idle_timeout: 3s}
EOF
start_server --config "$WORK/cluster.yaml"
NODE=exr$$
run_agent "$NODE" 4 "$WORK/$NODE" agent.log
wait_for 30 sh -c "\"$GANTRY\" nodes | grep -q '^$NODE .* up'" || { echo "Bail out! the agent did not register"; exit 1; }
ALICE=$("$GANTRY" token create --user alice --role member --team research)
BOB=$("$GANTRY" token create --user bob --role member --team product)
state_of() { GANTRY_TOKEN=$ADMIN "$GANTRY" show "$1" -o json | jget "{$2}"; }
running() { [ "$(state_of "$1" state)" = running ]; }
job_pid() { sed -n 's/^pid=//p' "$WORK/$NODE"/jobs/"$1".*/state | tail -n 1; }
# "running" is said as its supervisor starts it: wait until the process is the command itself
is_sleep() { local p; p=$(job_pid "$1"); [ -n "$p" ] && [ "$(tr '\0' ' ' < /proc/"$p"/cmdline 2>/dev/null)" = "sleep 600 " ]; }
batch_job() { # batch_job CLASS: a running batch job of alice's (sleep 600)
  local id; id=$(GANTRY_TOKEN=$ALICE "$GANTRY" submit --team research --class "$1" --gpus 1 -o json -- sleep 600 | jget '{id}')
  wait_for 30 running "$id" && wait_for 30 is_sleep "$id"
  echo "$id"
}
# sid_of JOB: the exec session the server last said was detached (its id's first 8 digits)
sid_of() { sed -n "s/.*exec session \([0-9a-f]\{8\}\) of job $1 is detached.*/\1/p" "$WORK/server.log" | tail -n 1; }
detached_count() { grep -c "exec session [0-9a-f]* of job $1 is detached" "$WORK/server.log"; }

TM=gantry-e2e-exr-$$
CLEANUPS+=("tmux kill-session -t $TM")
pane() { tmux_pane "$TM:$1"; }  # wrapped lines joined (agent-lib.sh)
pane_has() { pane "$1" | grep -qE -- "$2"; }
# pane_like WINDOW ERE DESC: like on the window's text; a failure shows the window's processes too
pane_like() { local f=$T_FAIL; like "$(pane "$1")" "$2" "$3"; [ "$T_FAIL" = "$f" ] || tmux_show "$TM:$1" "window $1: $3"; }
ENVS="GANTRY_SERVER=$GANTRY_SERVER GANTRY_TOKEN=$ALICE"
PROMPT='^[#$] ?$'

JOB=$(batch_job normal)
like "$JOB" '^[0-9]+$' "a batch job runs (job $JOB)"

# ---- an exec -it session whose client is killed ----
# A killed client leaves the terminal raw (no carriage return on newline): the window's command
# makes it sane again and prints the exit code on a line of its own.
tmux new-session -d -s "$TM" -n w1 -x 120 -y 40 "$ENVS '$GANTRY' exec -it $JOB -- sh; r=\$?; stty sane; echo; echo EXEC-EXIT=\$r; sleep 600"
wait_for 30 pane_has w1 "$PROMPT"
ok $? "gantry exec -it: a prompt inside the job"
# a background writer in the shell writes once the test says the session is detached (the
# file $WORK/detached; a timer could fire before the client is killed on a loaded machine)
tmux send-keys -t "$TM:w1" "X=kept-\$((6*7)); echo set-\$X; (while [ ! -e $WORK/detached ]; do sleep 0.1; done; echo written-while-detached-\$((7*6))) &" Enter
wait_for 30 pane_has w1 '^set-kept-42'
tmux_kill_client "$TM:w1"
wait_for 30 pane_has w1 '^EXEC-EXIT=[0-9]+$'
pane_like w1 '^EXEC-EXIT=137$' "the exec client is killed (its connection drops)"
wait_for 30 grep -q "exec session .* of job $JOB is detached" "$WORK/server.log"
ok $? "the server says the exec session is detached (it was hung up)"
touch "$WORK/detached"
SID=$(sid_of "$JOB")
like "$SID" '^[0-9a-f]{8}$' "the server's log names the session ($SID)"
listing=$(GANTRY_TOKEN=$ALICE "$GANTRY" attach "$JOB" --list 2>&1)
like "$listing" "^$SID[0-9a-f]{24} +exec +detached +alice .* sh$" "gantry attach --list: the session, detached, alice's, its command"

# ---- another team's member is refused ----
out=$(GANTRY_TOKEN=$BOB "$GANTRY" attach "$JOB" --exec "$SID" 2>&1 </dev/null)
like "$out" "(not_found, HTTP 404)" "another team's member: gantry attach --exec is refused (404)"
out=$(GANTRY_TOKEN=$BOB "$GANTRY" attach "$JOB" --list 2>&1)
like "$out" "(not_found, HTTP 404)" "another team's member: gantry attach --list is refused (404)"

# ---- gantry attach --exec takes it back ----
tmux new-window -t "$TM" -n w2 "while [ \"\$(stty size)\" != '30 100' ]; do sleep 0.05; done; $ENVS '$GANTRY' attach $JOB --exec $SID; echo ATTACH-EXIT=\$?; sleep 600"
tmux resize-window -t "$TM:w2" -x 100 -y 30
wait_for 30 pane_has w2 'written-while-detached-42'
ok $? "gantry attach --exec: what the command wrote while detached is shown"
tmux send-keys -t "$TM:w2" 'echo again-$X; stty size' Enter
wait_for 30 pane_has w2 '^again-kept-42'
ok $? "the same shell (its variable is kept)"
wait_for 30 pane_has w2 '^[0-9]+ [0-9]+$' # stty's answer, after the echo's
pane_like w2 '(^|[^0-9])30 100' "with the new window's size (30 rows, 100 columns)"

# ---- a second gantry attach takes it over ----
tmux new-window -t "$TM" -n w3 "$ENVS '$GANTRY' attach $JOB --exec $SID; echo ATTACH3-EXIT=\$?; sleep 600"
wait_for 30 pane_has w2 'ATTACH-EXIT='
pane_like w2 'ATTACH-EXIT=255' "a second gantry attach takes the session over: the first one's connection ends (255)"
pane_like w2 "runs on, detached: gantry attach $JOB --exec $SID[0-9a-f]{24}" "and the first one names the session to attach to again"
tmux send-keys -t "$TM:w3" 'echo third-$X' Enter
wait_for 30 pane_has w3 '^third-kept-42'
ok $? "the second one has it"
tmux send-keys -t "$TM:w3" 'exit 3' Enter
wait_for 30 pane_has w3 'ATTACH3-EXIT='
pane_like w3 'ATTACH3-EXIT=3' "the shell's exit code (3) is gantry attach's"
is "$(state_of "$JOB" state)" running "the batch job runs on"
audit=$(GANTRY_TOKEN=$ADMIN "$GANTRY" audit -o json | jget '{audit}')
is "$(echo "$audit" | perl -MJSON::PP -e 'my $a = decode_json(<STDIN>); print scalar grep { $_->{action} eq "job.attach" && $_->{object} eq $ARGV[0] && $_->{user} eq "alice" && $_->{new}{reattach} && $_->{new}{mode} eq "exec" && $_->{new}{command}[0] eq "sh" && substr($_->{new}{session}, 0, 8) eq $ARGV[1] } @$a' "$JOB" "$SID")" 2 \
  "both reattaches are in the audit log (job.attach by alice, reattach, mode exec, its command, its session)"
ended_gone() { ! GANTRY_TOKEN=$ALICE "$GANTRY" attach "$JOB" --list | grep -q "^$SID"; }
wait_for 30 ended_gone
ok $? "the ended session is no longer listed"

# ---- without -t, exec still ends with its client ----
GANTRY_TOKEN=$ALICE "$GANTRY" exec "$JOB" -- sleep 301 </dev/null >/dev/null 2>&1 &
PLAIN=$!
PIDS+=("$PLAIN")
plain_listed() { GANTRY_TOKEN=$ALICE "$GANTRY" attach "$JOB" --list | grep -qE ' attached .* sleep 301$'; }
wait_for 30 plain_listed
PSID=$(GANTRY_TOKEN=$ALICE "$GANTRY" attach "$JOB" --list | sed -n 's/^\([0-9a-f]\{8\}\).* sleep 301$/\1/p')
before=$(detached_count "$JOB")
kill -9 "$PLAIN"; wait "$PLAIN" 2>/dev/null
wait_for 30 grep -q "session $PSID of job $JOB (exec sleep) ended" "$WORK/agent.log"
ok $? "gantry exec without -t: its client killed, the command is hung up and ends"
is "$(detached_count "$JOB")" "$before" "and the server did not keep it detached"

# ---- a detached exec session ends with its job ----
tmux new-window -t "$TM" -n w5 "$ENVS '$GANTRY' exec -it $JOB -- sh; echo EXEC5-EXIT=\$?; sleep 600"
wait_for 30 pane_has w5 "$PROMPT"
tmux_kill_client "$TM:w5"
second_detached() { [ "$(detached_count "$JOB")" -gt "$before" ]; }
wait_for 30 second_detached
SID5=$(sid_of "$JOB")
GANTRY_TOKEN=$ALICE "$GANTRY" cancel "$JOB" >/dev/null
wait_for 30 grep -q "session $SID5 of job $JOB ended while detached" "$WORK/server.log"
ok $? "a detached exec session ends when its job ends"
out=$(GANTRY_TOKEN=$ALICE "$GANTRY" attach "$JOB" --exec "$SID5" 2>&1 </dev/null)
like "$out" "not running" "then gantry attach --exec says the job is not running"

# ---- a detached exec session ends after its class's session_idle_timeout ----
DEV=$(batch_job dev)
like "$DEV" '^[0-9]+$' "a batch job of class dev (session_idle_timeout 3s) runs (job $DEV)"
tmux new-window -t "$TM" -n w4 "$ENVS '$GANTRY' exec -it $DEV -- sh; echo EXEC4-EXIT=\$?; sleep 600"
wait_for 30 pane_has w4 "$PROMPT"
# input every half second keeps it alive while attached
for i in 1 2 3 4 5 6 7 8; do tmux send-keys -t "$TM:w4" "echo tick$i" Enter; sleep 0.5; done
tmux send-keys -t "$TM:w4" 'echo still-$((40+2))' Enter
wait_for 30 pane_has w4 '^still-42'
ok $? "input keeps an attached exec session alive past 3 s"
tmux_kill_client "$TM:w4"
wait_for 30 grep -q "exec session [0-9a-f]* of job $DEV is detached" "$WORK/server.log"
SID4=$(sid_of "$DEV")
wait_for 30 grep -q "exec session $SID4 of job $DEV ends: detached without input for 3s" "$WORK/server.log"
ok $? "detached, it ends at its class's session_idle_timeout"
wait_for 30 grep -q "session $SID4 of job $DEV (exec sh) ended" "$WORK/agent.log"
ok $? "its command is hung up on the node"
out=$(GANTRY_TOKEN=$ALICE "$GANTRY" attach "$DEV" --exec "$SID4" 2>&1 </dev/null)
like "$out" "has no exec session $SID4.*(not_found, HTTP 404)" "then gantry attach --exec finds no such session"
is "$(state_of "$DEV" state)" running "and the job runs on"
done_testing
