#!/usr/bin/env bash
# gantry run -it in an image (docs/interactive.md), driven through tmux as 99-interactive.t
# does: it was refused at submission (400: the placeholder an interactive job runs is the
# gantry binary, which an image does not hold). Now the job's container runs the static
# placeholder bin/gantry-session-hold (bound read-only at /gantry/session-hold) and the
# session's shell runs in that container through the OCI runtime (`runc exec --tty`): the
# image's root and workdir, the job's user, a terminal of this window's size, the shell's exit
# code back as gantry run's and the job's, and the container gone afterwards. A port forward
# reaches a server inside the container when it has a network namespace of its own
# (network: none). The busybox test image of tests/oci/mkimage; the OCI runtime OCI_RT (runc).
. "$(dirname "$0")/agent-lib.sh"
ROOT=${GANTRY_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
RT=${OCI_RT:-runc}
skip_all() { echo "1..0 # skip $1"; exit 0; }
[ "$(id -u)" = 0 ] || skip_all "not root: containers need it"
for p in "$RT" skopeo umoci tmux; do
  command -v "$p" >/dev/null || skip_all "no $p"
done
[ -x "$(dirname "$GANTRY")/gantry-session-hold" ] || skip_all "no gantry-session-hold beside $GANTRY (make builds it)"
REF=$("$ROOT/tests/oci/mkimage" "$WORK/img" 2>"$WORK/mkimage.log" | head -1)
[ -n "$REF" ] || skip_all "tests/oci/mkimage failed: $(tail -1 "$WORK/mkimage.log")"

cat > "$WORK/cluster.yaml" <<Y
teams:
  - name: research
    quota: {gpus: 4}
  - name: product
    quota: {gpus: 4}
Y
start_server --config "$WORK/cluster.yaml"
CGP="gantry-e2e-$$/$RT"
CG=(--no-cgroups)
if have_cgroup_v1; then
  CG=(--cgroup-parent "$CGP")
  CLEANUPS+=("for d in /sys/fs/cgroup/*/gantry-e2e-$$; do rmdir \$d/$RT/*/ctr \$d/$RT/* \$d/$RT \$d; done")
fi
"$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name n1 --gpus 2 \
  --state-dir "$WORK/n1" --job-user nobody --oci-runtime "$RT" "${CG[@]}" 2>>"$WORK/agent.log" &
PIDS+=($!)
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"
ALICE=$("$GANTRY" token create --user alice --role member --team research)
BOB=$("$GANTRY" token create --user bob --role member --team product)
state_of() { GANTRY_TOKEN=$ADMIN "$GANTRY" show "$1" -o json | jget "{$2}"; }

# ---- gantry run -it --image, through tmux ----
TM=gantry-e2e-img-$$
CLEANUPS+=("tmux kill-session -t $TM")
tmux new-session -d -s "$TM" -x 120 -y 40 \
  "GANTRY_SERVER=$GANTRY_SERVER GANTRY_TOKEN=$ALICE '$GANTRY' run -it --team research --gpus 1 --image '$REF' -- sh; echo RUN-EXIT=\$?; sleep 600"
pane() { tmux capture-pane -p -t "$TM" -S -200; }
pane_has() { pane | grep -qE -- "$1"; }
have_run() { RUN=$(api GET '/v1/jobs?state=all' | jget '{jobs}' | perl -MJSON::PP -e 'print join " ", map { $_->{id} } grep { ($_->{kind} // "") eq "interactive" } @{decode_json(<STDIN>)}'); [ -n "$RUN" ]; }
wait_for 30 have_run
like "$RUN" '^[0-9]+$' "gantry run -it --image submits an interactive job in the image (job $RUN; it was refused: 400)"
wait_for 60 pane_has '\$ ?$'
ok $? "a prompt (the image's sh, as nobody)" || pane | sed 's/^/# pane: /'
tmux send-keys -t "$TM" 'echo in-image-$((6*7)) uid=$(id -u) pwd=$(pwd) job=$GANTRY_JOB_ID; ls /bin/busybox; tty; stty size' Enter
wait_for 30 pane_has 'in-image-42'
like "$(pane)" "in-image-42 uid=65534 pwd=/work job=$RUN" "the shell runs in the container: the job's user (nobody), the image's workdir, the job's environment"
like "$(pane)" '^/bin/busybox' "on the image's root (its /bin/busybox)"
like "$(pane)" '/dev/pts/[0-9]+' "with a terminal"
like "$(pane)" '(^|[^0-9])40 120' "of this window's size (40 rows, 120 columns)"
HOLD=$(sed -n 's/^pid=//p' "$WORK"/n1/jobs/"$RUN".*/state | tail -n 1)
ctr_pid=$("$RT" --root "$WORK/n1/oci/$RT" state "gantry-$RUN-1" | jget '{pid}')
is "$(tr '\0' ' ' < /proc/"$ctr_pid"/cmdline)" "/gantry/session-hold " "the container's first process is the placeholder bound into it"
ok $([ -n "$HOLD" ] && [ "$HOLD" != "$ctr_pid" ]; echo $?) "(the job's own process is the runtime's run: $HOLD)"
tmux send-keys -t "$TM" "sleep 300.$$; echo after-interrupt" Enter
wait_for 30 pgrep -fx "sleep 300.$$"
tmux send-keys -t "$TM" C-c
wait_for 30 sh -c "! pgrep -fx 'sleep 300.$$'"
ok $? "Ctrl-C reaches the command in the container (its sleep is gone)"
tmux send-keys -t "$TM" 'echo still-here' Enter
wait_for 30 pane_has '^still-here'
like "$(pane)" 'still-here' "the session goes on"
tmux send-keys -t "$TM" 'exit 6' Enter
wait_for 30 pane_has 'RUN-EXIT='
like "$(pane)" 'RUN-EXIT=6' "the shell's exit code (6) is gantry run's"
run_ended() { [ "$(state_of "$RUN" state)" = failed ]; }
wait_for 30 run_ended
is "$(state_of "$RUN" state) $(state_of "$RUN" exit_code)" "failed 6" "and the interactive job ends with it (failed, exit code 6)"
wait_for 30 sh -c "[ \$(ls '$WORK/n1/oci/$RT' 2>/dev/null | wc -l) = 0 ]"
ok $? "its container is gone from $RT's state"

# ---- a session that exits 0: succeeded ----
GANTRY_TOKEN=$ALICE timeout 120 "$GANTRY" run -i --team research --image "$REF" -- sh -c 'cat /etc/passwd | wc -l' < /dev/null > "$WORK/ok.out" 2>"$WORK/ok.err"
rc=$?
is "$rc $(tr -d ' \n' < "$WORK/ok.out")" "0 2" "gantry run -i --image -- CMD: the command in the image (its /etc/passwd), exit 0"
[ "$rc" = 0 ] || { sed 's/^/# stderr: /' "$WORK/ok.err"; tail -5 "$WORK/agent.log" | sed 's/^/# agent: /'; }

# ---- port-forward into the container's own network namespace ----
PF=$(GANTRY_TOKEN=$ALICE "$GANTRY" submit --team research --gpus 1 --image "$REF" --network none -o json -- \
  sh -c 'mkdir -p /tmp/www && echo "served-in-container-$GANTRY_JOB_ID" > /tmp/www/index.html && exec httpd -f -p 127.0.0.1:18081 -h /tmp/www' | jget '{id}')
wait_for 60 sh -c "[ \"\$(GANTRY_TOKEN=$ADMIN '$GANTRY' show $PF -o json | perl -MJSON::PP -e 'print decode_json(join q(), <STDIN>)->{state}')\" = running ]"
ok $? "a container job with network: none serves on its own loopback ($PF)"
GANTRY_TOKEN=$ALICE "$GANTRY" port-forward "$PF" 0:18081 > "$WORK/pf.out" 2>&1 &
PIDS+=($!)
wait_for 20 grep -q Forwarding "$WORK/pf.out"
LP=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$WORK/pf.out")
wait_for 30 curl -sf "http://127.0.0.1:$LP/index.html"
is "$(curl -s -m 10 "http://127.0.0.1:$LP/index.html")" "served-in-container-$PF" "gantry port-forward reaches it inside the container's network namespace"
curl -s -m 2 http://127.0.0.1:18081/ >/dev/null 2>&1
ok $([ $? != 0 ]; echo $?) "(not reachable from the host directly)"
out=$(GANTRY_TOKEN=$BOB "$GANTRY" port-forward "$PF" 0:18081 2>&1)
like "$out" "(not_found, HTTP 404)" "another team's member: refused (404)"
GANTRY_TOKEN=$ADMIN "$GANTRY" cancel "$PF" >/dev/null
done_testing
