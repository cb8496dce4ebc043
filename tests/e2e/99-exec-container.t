#!/usr/bin/env bash
# gantry exec into a container job (docs/interactive.md): the command runs through the OCI
# runtime (`runc exec`) inside the job's container: its namespaces (mount, PID, network, UTS,
# IPC: the same as the container's first process), its cgroup, its user (the job's: nobody),
# the image's root; its output, stdin and exit code come back; it is refused to another team's
# member (404) and to a viewer (403), and every exec is in the audit log. The busybox test
# image of tests/oci/mkimage; the OCI runtime OCI_RT (runc).
. "$(dirname "$0")/agent-lib.sh"
ROOT=${GANTRY_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
RT=${OCI_RT:-runc}
skip_all() { echo "1..0 # skip $1"; exit 0; }
[ "$(id -u)" = 0 ] || skip_all "not root: containers need it"
for p in "$RT" skopeo umoci; do
  command -v "$p" >/dev/null || skip_all "no $p"
done
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
VIEWER=$("$GANTRY" token create --user vera --role viewer)
logs() { curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/jobs/$1/logs"; }

J=$(GANTRY_TOKEN=$ALICE "$GANTRY" submit --team research --gpus 1 --image "$REF" --network none -o json -- \
  sh -c 'echo up; echo in-container > /tmp/marker; exec sleep 600' | jget '{id}')
wait_for 60 sh -c "curl -s -H 'Authorization: Bearer $ADMIN' $GANTRY_SERVER/v1/jobs/$J/logs | grep -q up"
ok $? "a container job runs (job $J, network none: namespaces of its own)"
CTR=$("$RT" --root "$WORK/n1/oci/$RT" state "gantry-$J-1" | jget '{pid}')
like "$CTR" '^[0-9]+$' "its container's first process is $CTR on the node"

# ---- inside the container ----
out=$(GANTRY_TOKEN=$ALICE "$GANTRY" exec "$J" -- sh -c 'echo uid=$(id -u) job=$GANTRY_JOB_ID pwd=$(pwd); cat /tmp/marker; for n in mnt pid net uts ipc; do readlink /proc/self/ns/$n; done')
like "$out" "uid=65534 job=$J pwd=/work" "gantry exec runs as the job's user (nobody), with its environment, in the image's workdir"
like "$out" "in-container" "it sees the container's files (what the job wrote in its /tmp)"
theirs=$(for n in mnt pid net uts ipc; do readlink /proc/"$CTR"/ns/$n; done)
is "$(echo "$out" | grep -E '^(mnt|pid|net|uts|ipc):')" "$theirs" "it is in the container's mount, PID, network, UTS and IPC namespaces"
ok $([ "$(readlink /proc/"$CTR"/ns/net)" != "$(readlink /proc/self/ns/net)" ]; echo $?) "(which are not the node's)"
# a command that stays, seen from the node: its cgroup and user
GANTRY_TOKEN=$ALICE "$GANTRY" exec "$J" -- sleep 300.$$ > /dev/null 2>&1 &
EXEC_CLIENT=$!
PIDS+=($EXEC_CLIENT)
wait_for 30 pgrep -fx "sleep 300.$$"
SP=$(pgrep -fx "sleep 300.$$" | head -n 1)
is "$(cat /proc/"$SP"/cgroup)" "$(cat /proc/"$CTR"/cgroup)" "its cgroups are the container's (/proc/PID/cgroup from the node)"
if have_cgroup_v1; then
  like "$(grep memory /proc/"$SP"/cgroup)" "job-$J\\.1/ctr" "(the container's cgroup below the job's: job-$J.1/ctr)"
fi
is "$(awk '/^Uid:/ {print $2}' /proc/"$SP"/status)" 65534 "its user is the job's (uid 65534)"
is "$(readlink /proc/"$SP"/ns/pid)" "$(readlink /proc/"$CTR"/ns/pid)" "its PID namespace is the container's"
kill "$EXEC_CLIENT"
wait_for 30 sh -c "! pgrep -fx 'sleep 300.$$'"
ok $? "the client gone, the command is hung up"
GANTRY_TOKEN=$ALICE "$GANTRY" exec "$J" -- sh -c 'exit 9'
is "$?" 9 "gantry exec exits with the command's exit code (9)"
is "$(echo from-stdin | GANTRY_TOKEN=$ALICE "$GANTRY" exec -i "$J" -- cat)" from-stdin "gantry exec -i: stdin reaches the command"
err=$(GANTRY_TOKEN=$ALICE "$GANTRY" exec "$J" -- sh -c 'echo to-stderr >&2' 2>&1 >/dev/null)
is "$err" to-stderr "its stderr comes back on stderr"

# ---- refused to others ----
out=$(GANTRY_TOKEN=$BOB "$GANTRY" exec "$J" -- id 2>&1); rc=$?
is "$rc" 1 "another team's member: gantry exec fails"
like "$out" "(not_found, HTTP 404)" "the job does not exist for them (404)"
out=$(GANTRY_TOKEN=$VIEWER "$GANTRY" exec "$J" -- id 2>&1)
like "$out" "HTTP 403" "a viewer: refused (403)"
audit=$(GANTRY_TOKEN=$ADMIN "$GANTRY" audit -o json | jget '{audit}')
is "$(echo "$audit" | perl -MJSON::PP -e 'my $a = decode_json(<STDIN>); print scalar grep { $_->{action} eq "job.exec" && $_->{object} eq $ARGV[0] } @$a' "$J")" 5 \
  "every exec of alice into the container is in the audit log (5), none of the refused ones"
GANTRY_TOKEN=$ADMIN "$GANTRY" cancel "$J" >/dev/null
wait_for 30 sh -c "[ \$(ls '$WORK/n1/oci/$RT' 2>/dev/null | wc -l) = 0 ]"
ok $? "cancelled: the container is gone"
done_testing
