#!/usr/bin/env bash
# Interactive sessions, exec and port-forward through the server (issue 15, docs/interactive.md),
# with a real server and a real agent:
# - gantry exec runs inside a running job: the same cgroups as the job's own process, its
#   environment; its output, stdin and exit code come back; every exec is in the audit log;
# - gantry port-forward reaches an HTTP server listening on loopback inside a job that has a
#   network namespace of its own (not reachable from the host directly);
# - both are refused to another team's member (the job does not exist for them: 404) and to a
#   viewer (403), and the refusals leave no audit entry;
# - gantry run -it -- sh, driven through tmux (keys sent, the pane read): shows why it waits
#   while the cluster is full, then a prompt on the node with a terminal (a pty, the window's
#   size), a command's output, Ctrl-C, and the shell's exit code back as gantry run's and the
#   job's;
# - an interactive session with no input and idle GPUs ends at its class's
#   session_idle_timeout (end reason idle_timeout), and its client returns.
. "$(dirname "$0")/agent-lib.sh"
command -v tmux >/dev/null || { echo "1..0 # skip tmux is not installed (scripts/deps installs it)"; exit 0; }
command -v busybox >/dev/null || { echo "1..0 # skip busybox is not installed (scripts/deps installs it)"; exit 0; }

cat > "$WORK/cluster.yaml" <<'EOF'
teams:
  - name: research
    quota: {gpus: 8}
  - name: product
    quota: {gpus: 8}
priority_classes:
  - {name: normal, value: 100}
  - {name: dev, value: 50, session_idle_timeout: 2s}
  - {name: lab, value: 40, session_idle_timeout: 6s}
EOF
start_server --config "$WORK/cluster.yaml"
# A node name of this test's own: the job cgroups (gantry/NODE/job-ID.INC) of suites running
# beside this one on the machine are never this test's.
NODE=tty$$
run_agent "$NODE" 4 "$WORK/$NODE" agent.log
wait_for 30 sh -c "\"$GANTRY\" nodes | grep -q '^$NODE .* up'" || { echo "Bail out! the agent did not register"; exit 1; }

ALICE=$("$GANTRY" token create --user alice --role member --team research)
BOB=$("$GANTRY" token create --user bob --role member --team product)
VIEWER=$("$GANTRY" token create --user vera --role viewer)
like "$ALICE $BOB $VIEWER" '^gt_[^ ]+ gt_[^ ]+ gt_[^ ]+$' "tokens: alice (research), bob (product), vera (viewer)"

state_of() { GANTRY_TOKEN=$ADMIN "$GANTRY" show "$1" -o json | jget "{$2}"; }
running() { [ "$(state_of "$1" state)" = running ]; }
job_pid() { sed -n 's/^pid=//p' "$WORK/$NODE"/jobs/"$1".*/state | tail -n 1; }

# ---- gantry exec ----
JOB=$(GANTRY_TOKEN=$ALICE "$GANTRY" submit --team research --gpus 1 -o json -- sleep 600 | jget '{id}')
wait_for 30 running "$JOB" || echo "# job $JOB did not start"
# "running" is said as its supervisor starts it: wait until the node's state names the job's
# process and that process is the command itself (then it is in its cgroup, as its user); the
# pid is read again each time (the state may not name it yet when "running" is said)
is_sleep() { JP=$(job_pid "$JOB"); [ -n "$JP" ] && [ "$(tr '\0' ' ' < /proc/"$JP"/cmdline)" = "sleep 600 " ]; }
wait_for 30 is_sleep || echo "# job $JOB's process is not 'sleep 600': pid '$JP' ($(cat "$WORK/$NODE"/jobs/"$JOB".*/state 2>&1 | tr '\n' ' '))" >&2
out=$(GANTRY_TOKEN=$ALICE "$GANTRY" exec "$JOB" -- sh -c 'echo "job=$GANTRY_JOB_ID"; cat /proc/self/cgroup')
like "$out" "^job=$JOB" "gantry exec runs with the job's environment (GANTRY_JOB_ID=$JOB)"
is "$(echo "$out" | grep -v '^job=' | sort)" "$(sort /proc/"$JP"/cgroup)" \
  "gantry exec's command is in the job's cgroups (its /proc/self/cgroup is the job process's)"
like "$(grep -v ':/$' /proc/"$JP"/cgroup | head -n 1)" "job-$JOB\\.1" "(the job has a cgroup of its own: job-$JOB.1)"
GANTRY_TOKEN=$ALICE "$GANTRY" exec "$JOB" -- sh -c 'exit 7'
is "$?" 7 "gantry exec exits with the command's exit code (7)"
is "$(echo from-stdin | GANTRY_TOKEN=$ALICE "$GANTRY" exec -i "$JOB" -- cat)" from-stdin "gantry exec -i: stdin reaches the command"
# Ctrl-C without a terminal: gantry exec forwards SIGINT to the command's process group.
GANTRY_TOKEN=$ALICE "$GANTRY" exec "$JOB" -- sh -c 'trap "echo got-int; exit 3" INT; echo ready; while :; do sleep 0.1; done' > "$WORK/sig.out" 2>&1 &
SIG_CLIENT=$!
wait_for 30 grep -q ready "$WORK/sig.out"
kill -INT "$SIG_CLIENT"
wait "$SIG_CLIENT"
rc=$?
is "$rc $(grep -c got-int "$WORK/sig.out")" "3 1" "SIGINT to gantry exec reaches the command on the node (its trap runs, exit 3)"
err=$(GANTRY_TOKEN=$ALICE "$GANTRY" exec "$JOB" -- sh -c 'echo to-stderr >&2' 2>&1 >/dev/null)
is "$err" to-stderr "gantry exec: the command's stderr comes back on stderr"
GANTRY_TOKEN=$ALICE "$GANTRY" exec "$JOB" -- /no/such/program 2>"$WORK/noprog"
is "$?" 127 "a command that cannot run: 127"
like "$(cat "$WORK/noprog")" "no/such/program" "and why, on stderr"

# ---- refused to others ----
out=$(GANTRY_TOKEN=$BOB "$GANTRY" exec "$JOB" -- id 2>&1); rc=$?
is "$rc" 1 "another team's member: gantry exec fails"
like "$out" "does not exist.*(not_found, HTTP 404)" "another team's member: the job does not exist for them (404)"
out=$(GANTRY_TOKEN=$VIEWER "$GANTRY" exec "$JOB" -- id 2>&1)
like "$out" "HTTP 403" "a viewer: refused (403)"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $BOB" -H 'Connection: Upgrade' \
  -H 'Upgrade: gantry-attach' -d '{"command":["id"]}' "$GANTRY_SERVER/v1/jobs/$JOB/attach")
is "$code" 404 "the raw upgrade request of another team's member: 404"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $ALICE" \
  -d '{"command":["id"]}' "$GANTRY_SERVER/v1/jobs/$JOB/attach")
is "$code" 426 "the job's team without the upgrade header: 426 upgrade_required"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $ALICE" -H 'Upgrade: gantry-attach' \
  "$GANTRY_SERVER/v1/agent/attach?session=00&name=$NODE")
is "$code" 403 "a user's token cannot take the agent's leg of a session (403)"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $(jget '{token}' < "$WORK/$NODE/node.token")" \
  -H 'Connection: Upgrade' -H 'Upgrade: gantry-attach' "$GANTRY_SERVER/v1/agent/attach?session=00&name=other-node")
is "$code" 403 "a node's credential cannot take another node's leg of a session (403)"

# ---- the audit log ----
audit=$(GANTRY_TOKEN=$ADMIN "$GANTRY" audit -o json)
is "$(echo "$audit" | jget "{audit}" | perl -MJSON::PP -e 'my $a = decode_json(<STDIN>); print scalar grep { $_->{action} eq "job.exec" && $_->{user} eq "alice" } @$a')" 6 \
  "every exec of alice is in the audit log (6 entries of action job.exec)"
like "$(echo "$audit" | jget "{audit}")" '"object":"'"$JOB"'"' "naming the job"
like "$(echo "$audit" | jget "{audit}")" 'exit 7' "and the command"
is "$(echo "$audit" | jget "{audit}" | perl -MJSON::PP -e 'my $a = decode_json(<STDIN>); print scalar grep { $_->{user} =~ /^(bob|vera)$/ } @$a')" 0 \
  "refused attempts open nothing and write no audit entry"

# ---- gantry port-forward ----
PF=$(GANTRY_TOKEN=$ALICE "$GANTRY" submit --team research --gpus 1 --network none -o json -- \
  sh -c 'mkdir -p /tmp/pf.$$ && echo "served-in-job-$GANTRY_JOB_ID" > /tmp/pf.$$/index.html && exec busybox httpd -f -p 127.0.0.1:18080 -h /tmp/pf.$$' | jget '{id}')
wait_for 30 running "$PF" || echo "# job $PF did not start"
GANTRY_TOKEN=$ALICE "$GANTRY" port-forward "$PF" 0:18080 > "$WORK/pf.out" 2>&1 &
PIDS+=($!)
wait_for 20 grep -q Forwarding "$WORK/pf.out"
LP=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$WORK/pf.out")
like "$LP" '^[0-9]+$' "gantry port-forward listens on a local port ($LP)"
wait_for 20 curl -sf "http://127.0.0.1:$LP/index.html"
is "$(curl -s -m 10 "http://127.0.0.1:$LP/index.html")" "served-in-job-$PF" "a request to it reaches the HTTP server inside the job"
is "$(curl -s -m 10 "http://127.0.0.1:$LP/index.html")" "served-in-job-$PF" "and a second connection too"
curl -s -m 2 http://127.0.0.1:18080/ >/dev/null 2>&1
ok $([ $? != 0 ]; echo $?) "(the job's server is not reachable from the host directly: its own network namespace)"
out=$(GANTRY_TOKEN=$BOB "$GANTRY" port-forward "$PF" 0:18080 2>&1); rc=$?
is "$rc" 1 "another team's member: gantry port-forward fails at once"
like "$out" "(not_found, HTTP 404)" "with 404"
like "$(GANTRY_TOKEN=$ADMIN "$GANTRY" audit -o json | jget '{audit}')" '"action":"job.port_forward".*"port":18080' "port forwards are in the audit log"

# ---- gantry run -it, through tmux ----
# The cluster is full first (4 GPUs: 1 + 1 above, 2 here): the session waits and says why.
FULL=$(GANTRY_TOKEN=$ALICE "$GANTRY" submit --team research --gpus 2 -o json -- sleep 600 | jget '{id}')
wait_for 30 running "$FULL"
TM=gantry-e2e-$$
CLEANUPS+=("tmux kill-session -t $TM")
tmux new-session -d -s "$TM" -x 120 -y 40 \
  "GANTRY_SERVER=$GANTRY_SERVER GANTRY_TOKEN=$ALICE '$GANTRY' run -it --team research --gpus 1 -- sh; echo RUN-EXIT=\$?; sleep 600"
pane() { tmux_pane "$TM"; }  # wrapped lines joined (agent-lib.sh)
pane_has() { pane | grep -qE -- "$1"; }
wait_for 30 pane_has 'is waiting: '
like "$(pane)" "gantry run: job [0-9]+ is waiting: " "gantry run shows why the session waits (the cluster is full)"
RUN=$(api GET /v1/jobs | jget '{jobs}' | perl -MJSON::PP -e 'print join " ", map { $_->{id} } grep { ($_->{kind} // "") eq "interactive" && $_->{state} eq "pending" } @{decode_json(<STDIN>)}')
like "$RUN" '^[0-9]+$' "it is a pending job of kind interactive ($RUN)"
GANTRY_TOKEN=$ADMIN "$GANTRY" cancel "$FULL" >/dev/null
wait_for 30 running "$RUN"
wait_for 30 pane_has '^# ?$' # the shell's prompt on the node (root's sh)
tmux send-keys -t "$TM" 'echo on-node-$((6*7)) job=$GANTRY_JOB_ID; tty; stty size' Enter
# the last of the three answers (stty's rows and columns) is in the pane: all three are
wait_for 30 pane_has '^[0-9]+ [0-9]+ *$'
like "$(pane)" "on-node-42 job=$RUN" "a prompt on the node: a command's output comes back (in job $RUN)"
like "$(pane)" '/dev/pts/[0-9]+' "its stdin is a terminal on the node (a pseudo-terminal)"
like "$(pane)" '(^|[^0-9])40 120' "of this window's size (40 rows, 120 columns)"
tmux resize-window -t "$TM" -x 100 -y 30
tmux send-keys -t "$TM" 'echo size-now $(stty size)' Enter
wait_for 30 pane_has '^size-now '
like "$(pane | grep '^size-now ')" '^size-now 30 100' "a window resized here is resized on the node (SIGWINCH: 30 rows, 100 columns)"
tmux send-keys -t "$TM" "sleep 300.$$; echo after-interrupt" Enter
wait_for 30 pgrep -fx "sleep 300.$$"
tmux send-keys -t "$TM" C-c
wait_for 30 sh -c "! pgrep -fx 'sleep 300.$$'"
ok $(pgrep -fx "sleep 300.$$" >/dev/null; [ $? = 1 ]; echo $?) "Ctrl-C reaches the command on the node (its sleep is gone)"
wait_for 30 pane_has '^after-interrupt|\^C'
tmux send-keys -t "$TM" 'echo still-here' Enter
wait_for 30 pane_has '^still-here'
like "$(pane)" 'still-here' "Ctrl-C stops the foreground command, not the session"
tmux send-keys -t "$TM" 'exit 5' Enter
wait_for 30 pane_has 'RUN-EXIT='
like "$(pane)" 'RUN-EXIT=5' "the shell's exit code (5) is gantry run's"
run_ended() { [ "$(state_of "$RUN" state)" = failed ]; }
wait_for 30 run_ended
is "$(state_of "$RUN" state) $(state_of "$RUN" exit_code)" "failed 5" "and the interactive job ends with it (failed, exit code 5): its GPU is free"
like "$(GANTRY_TOKEN=$ADMIN "$GANTRY" audit -o json | jget '{audit}')" '"action":"job.attach".*"tty":true' "the session's attach is in the audit log"

# ---- the idle timeout ----
# A session whose client sends nothing (stdin held open, silent) in class dev
# (session_idle_timeout: 2s) and no GPU busy ends: idle_timeout; gantry run returns.
mkfifo "$WORK/silent"
sleep 600 > "$WORK/silent" &
PIDS+=($!)
GANTRY_TOKEN=$ALICE timeout 120 "$GANTRY" run -i --team research --class dev --gpus 1 -- sh < "$WORK/silent" > "$WORK/idle.out" 2>&1 &
IDLE_CLIENT=$!
PIDS+=($IDLE_CLIENT)
have_idle() { IDLE=$(api GET /v1/jobs | jget '{jobs}' | perl -MJSON::PP -e 'print join " ", map { $_->{id} } grep { $_->{priority_class} eq "dev" } @{decode_json(<STDIN>)}'); [ -n "$IDLE" ]; }
wait_for 30 have_idle
like "$IDLE" '^[0-9]+$' "the silent session is job $IDLE"
idle_ended() { [ "$(state_of "$IDLE" state)" = cancelled ]; }
wait_for 60 idle_ended
is "$(state_of "$IDLE" state) $(state_of "$IDLE" end_reason)" "cancelled idle_timeout" \
  "a silent session with idle GPUs ends at its class's session_idle_timeout (idle_timeout)"
wait "$IDLE_CLIENT"
rc=$?
like "$rc" '^(129|143)$' "its gantry run returns: the shell got the job's stop (SIGTERM, 143; or hung up, 129): $rc"
[ "$rc" = 129 ] || [ "$rc" = 143 ] || sed 's/^/# /' "$WORK/idle.out"

# ---- the time limit ----
GANTRY_TOKEN=$ALICE timeout 120 "$GANTRY" run -i --team research --time 4s -- sleep 300 < /dev/null > "$WORK/tl.out" 2>&1
rc=$?
ok $([ "$rc" != 124 ] && [ "$rc" != 0 ]; echo $?) "a session at its time limit: gantry run returns, not successfully ($rc)"
have_tl() { TL=$(api GET /v1/jobs | jget '{jobs}' | perl -MJSON::PP -e 'print join " ", map { $_->{id} } grep { ($_->{end_reason} // "") eq "time_limit" } @{decode_json(<STDIN>)}'); [ -n "$TL" ]; }
wait_for 30 have_tl
like "$TL" '^[0-9]+$' "and its job ended at its time limit (end_reason time_limit: job $TL)"

# ---- the idle timeout goes on across a server restart ----
# An interactive job of class lab (6s) runs with no session; the server is killed and started
# again (same data, same port) before its 6 s pass: the restored job still ends when idle.
LAB=$(api POST /v1/jobs '{"team":"research","kind":"interactive","priority_class":"lab","gpus":1,"command":["sh"]}' | jget '{id}')
lab_running() { [ "$(state_of "$LAB" state)" = running ]; }
wait_for 30 lab_running
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
"$GANTRY" server --config "$WORK/cluster.yaml" --data "$WORK/data" "${STORE_ARGS[@]}" --listen "127.0.0.1:$PORT" 2>>"$WORK/server.log" &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_for 30 curl -sf "$GANTRY_SERVER/healthz"
lab_ended() { [ "$(state_of "$LAB" state)" = cancelled ]; }
wait_for 60 lab_ended
is "$(state_of "$LAB" state) $(state_of "$LAB" end_reason)" "cancelled idle_timeout" \
  "an interactive job restored by a restarted server still ends at its idle timeout"

done_testing
