#!/usr/bin/env bash
# Reattach (docs/interactive.md): a `gantry run -it` client whose connection drops (killed
# here) left its session hung up and its job ended. Now the session is detached: its command
# runs on, what it writes meanwhile is held, and `gantry attach JOB` takes it back (the same
# shell, its variables, the output written meanwhile, the new window's size); a second
# `gantry attach` takes it over from the first; the shell's exit code is gantry attach's and
# the job's; another team's member is refused (404); a detached session still ends at its
# class's session_idle_timeout. Driven through tmux as 99-interactive.t is.
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
NODE=rat$$
run_agent "$NODE" 4 "$WORK/$NODE" agent.log
wait_for 30 sh -c "\"$GANTRY\" nodes | grep -q '^$NODE .* up'" || { echo "Bail out! the agent did not register"; exit 1; }
ALICE=$("$GANTRY" token create --user alice --role member --team research)
BOB=$("$GANTRY" token create --user bob --role member --team product)
state_of() { GANTRY_TOKEN=$ADMIN "$GANTRY" show "$1" -o json | jget "{$2}"; }
interactive_jobs() { api GET '/v1/jobs?state=all' | jget '{jobs}' | perl -MJSON::PP -e 'print join " ", map { $_->{id} } grep { ($_->{kind} // "") eq "interactive" && $_->{priority_class} eq $ARGV[0] } @{decode_json(<STDIN>)}' "$1"; }

TM=gantry-e2e-rat-$$
CLEANUPS+=("tmux kill-session -t $TM")
pane() { tmux_pane "$TM:$1"; }  # wrapped lines joined (agent-lib.sh)
pane_has() { pane "$1" | grep -qE -- "$2"; }
# pane_like WINDOW ERE DESC: like on the window's text; a failure shows the window's processes too
pane_like() { local f=$T_FAIL; like "$(pane "$1")" "$2" "$3"; [ "$T_FAIL" = "$f" ] || tmux_show "$TM:$1" "window $1: $3"; }
ENVS="GANTRY_SERVER=$GANTRY_SERVER GANTRY_TOKEN=$ALICE"

# ---- a session whose client is killed ----
# A killed client leaves the terminal raw (no carriage return on newline): the window's command
# makes it sane again and prints the exit code on a line of its own.
tmux new-session -d -s "$TM" -n w1 -x 120 -y 40 "$ENVS '$GANTRY' run -it --team research -- sh; r=\$?; stty sane; echo; echo RUN-EXIT=\$r; sleep 600"
wait_for 30 pane_has w1 '^# ?$'
ok $? "gantry run -it: a prompt on the node"
RUN=$(interactive_jobs normal)
like "$RUN" '^[0-9]+$' "its job is $RUN"
# a background writer in the shell writes once the test says the session is detached (the
# file $WORK/detached; a timer could fire before the client is killed on a loaded machine)
tmux send-keys -t "$TM:w1" "X=kept-\$((6*7)); echo set-\$X; (while [ ! -e $WORK/detached ]; do sleep 0.1; done; echo written-while-detached-\$((7*6))) &" Enter
wait_for 30 pane_has w1 '^set-kept-42'
tmux_kill_client "$TM:w1"
wait_for 30 pane_has w1 '^RUN-EXIT=[0-9]+$'
pane_like w1 '^RUN-EXIT=137$' "the client is killed (its connection drops)"
wait_for 30 grep -q "session .* of job $RUN is detached" "$WORK/server.log"
ok $? "the server says the session is detached"
touch "$WORK/detached"
is "$(state_of "$RUN" state)" running "the job runs on (it was hung up and ended: failed 129)"

# ---- gantry attach takes it back ----
out=$(GANTRY_TOKEN=$BOB "$GANTRY" attach "$RUN" 2>&1 </dev/null); rc=$?
like "$out" "(not_found, HTTP 404)" "another team's member: gantry attach is refused (404)"
# the window has its size before gantry attach starts (it sends the size it finds)
tmux new-window -t "$TM" -n w2 "while [ \"\$(stty size)\" != '30 100' ]; do sleep 0.05; done; $ENVS '$GANTRY' attach $RUN; echo ATTACH-EXIT=\$?; sleep 600"
tmux resize-window -t "$TM:w2" -x 100 -y 30
wait_for 30 pane_has w2 'written-while-detached-42'
ok $? "gantry attach: what the command wrote while detached is shown"
tmux send-keys -t "$TM:w2" 'echo again-$X; stty size' Enter
wait_for 30 pane_has w2 '^again-kept-42'
ok $? "the same shell (its variable is kept)"
wait_for 30 pane_has w2 '^[0-9]+ [0-9]+$' # stty's answer, after the echo's
pane_like w2 '(^|[^0-9])30 100' "with the new window's size (30 rows, 100 columns)"

# ---- a second gantry attach takes it over ----
tmux new-window -t "$TM" -n w3 "$ENVS '$GANTRY' attach $RUN; echo ATTACH3-EXIT=\$?; sleep 600"
wait_for 30 pane_has w2 'ATTACH-EXIT='
pane_like w2 'ATTACH-EXIT=255' "a second gantry attach takes the session over: the first one's connection ends (255)"
tmux send-keys -t "$TM:w3" 'echo third-$X' Enter
wait_for 30 pane_has w3 '^third-kept-42'
ok $? "the second one has it"
tmux send-keys -t "$TM:w3" 'exit 4' Enter
wait_for 30 pane_has w3 'ATTACH3-EXIT='
pane_like w3 'ATTACH3-EXIT=4' "the shell's exit code (4) is gantry attach's"
run_ended() { [ "$(state_of "$RUN" state)" = failed ]; }
wait_for 30 run_ended
is "$(state_of "$RUN" state) $(state_of "$RUN" exit_code)" "failed 4" "and the job's"
audit=$(GANTRY_TOKEN=$ADMIN "$GANTRY" audit -o json | jget '{audit}')
is "$(echo "$audit" | perl -MJSON::PP -e 'my $a = decode_json(<STDIN>); print scalar grep { $_->{action} eq "job.attach" && $_->{object} eq $ARGV[0] && $_->{new}{reattach} } @$a' "$RUN")" 2 \
  "both reattaches are in the audit log (job.attach, reattach: true)"

# ---- a detached session still ends when idle ----
tmux new-window -t "$TM" -n w4 "$ENVS '$GANTRY' run -it --team research --class dev -- sh; echo RUN4-EXIT=\$?; sleep 600"
wait_for 30 pane_has w4 '^# ?$'
DEV=$(interactive_jobs dev)
like "$DEV" '^[0-9]+$' "a session of class dev (session_idle_timeout 3s) runs (job $DEV)"
# input every half second keeps it alive while attached
for i in 1 2 3 4 5 6 7 8; do tmux send-keys -t "$TM:w4" "echo tick$i" Enter; sleep 0.5; done
is "$(state_of "$DEV" state)" running "input keeps it alive past 3 s while attached"
tmux_kill_client "$TM:w4"
dev_ended() { [ "$(state_of "$DEV" state)" = cancelled ]; }
wait_for 30 dev_ended
is "$(state_of "$DEV" state) $(state_of "$DEV" end_reason)" "cancelled idle_timeout" "detached, it ends at its idle timeout"
out=$(GANTRY_TOKEN=$ALICE "$GANTRY" attach "$DEV" 2>&1 </dev/null)
like "$out" "not running" "then gantry attach says the job is not running"
done_testing
