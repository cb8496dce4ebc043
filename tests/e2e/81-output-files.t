#!/usr/bin/env bash
# sbatch's -o/-e as the job fields output and error, with a real server and two agents whose
# jobs run as nobody: the files appear in the job's workdir with %j %x %A %a %N expanded,
# belong to the job's user, hold stdout (and stderr when only output is given) while the
# server keeps its logs; a gang writes a file with %N per node and one without on its first
# node only; a path the user may not write (an absolute one, or a link planted to one) fails
# the job with the reason and the agent (root) writes nothing there.
. "$(dirname "$0")/agent-lib.sh"
if [ "$(id -u)" != 0 ] || ! id nobody >/dev/null 2>&1; then
  skip "needs root and the user nobody"
  done_testing
  exit
fi
research_cluster
start_server --config "$WORK/cluster.yaml" --heartbeat 1
for n in n1 n2; do
  "$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name "$n" --gpus 1 \
    --state-dir "$WORK/$n" --no-cgroups --job-user nobody 2>>"$WORK/agent-$n.log" &
  PIDS+=($!)
done
wait_for 20 grep -q "registered with epoch" "$WORK/agent-n1.log"
ok $? "agent n1 (jobs as nobody) registers"
wait_for 20 grep -q "registered with epoch" "$WORK/agent-n2.log"
ok $? "agent n2 registers"
mkdir -p "$WORK/proj"
chown nobody "$WORK/proj"
cd "$WORK/proj" || exit 1
sub() { "$GANTRY" submit --team research "$@" | grep -oE '[0-9]+' | head -n 1; }
owner() { stat -c %U "$1" 2>/dev/null; }

# -o alone: stdout and stderr in one file
a=$(sub --gpus 1 --name hello --output 'slurm-%j.out' -- sh -c 'echo to-out; echo to-err >&2')
like "$a" '^[0-9]+$' "gantry submit --output 'slurm-%j.out' -- CMD is accepted"
is "$(api GET "/v1/jobs/$a" | jget '{output}')" 'slurm-%j.out' "the job document keeps the pattern"
wait_for 20 job_is "$a" succeeded
ok $? "the job succeeds"
f="$WORK/proj/slurm-$a.out"
wait_for 10 test -s "$f"
is "$(sort "$f" 2>/dev/null | tr '\n' ' ')" "to-err to-out " "slurm-$a.out in the workdir holds stdout and stderr (as sbatch -o)"
is "$(owner "$f")" nobody "it belongs to the job's user (nobody)"
wait_for 10 bash -c "\"$GANTRY\" logs $a | grep -q to-out"
ok $? "gantry logs still has the output (the server's copy)"

# -o and -e, an array: %x %A %a
out=$("$GANTRY" submit --team research --gpus 1 --name sweep --array 1-2 \
  --output '%x-%A_%a.out' --error '%x-%A_%a.err' -- sh -c 'echo out-$GANTRY_ARRAY_INDEX; echo err-$GANTRY_ARRAY_INDEX >&2')
r=$(grep -oE '[0-9]+' <<<"$out" | head -n 1)
like "$r" '^[0-9]+$' "gantry submit --array 1-2 --output '%x-%A_%a.out' --error '%x-%A_%a.err' is accepted"
wait_for 30 test -s "$WORK/proj/sweep-${r}_2.err"
ok $? "task 2 writes sweep-${r}_2.err"
wait_for 30 test -s "$WORK/proj/sweep-${r}_1.out"
is "$(cat "$WORK/proj/sweep-${r}_1.out" 2>/dev/null)" "out-1" "sweep-${r}_1.out holds task 1's stdout only"
is "$(cat "$WORK/proj/sweep-${r}_2.err" 2>/dev/null)" "err-2" "sweep-${r}_2.err holds task 2's stderr only"

# a gang: %N gives each node its file; a pattern without it is the first node's alone
g=$(sub --gpus 2 --nodes 2 --output 'gang-%N.out' --error 'first-%j.err' -- sh -c 'echo node-$SLURM_NODEID; echo err-$SLURM_NODEID >&2')
wait_for 30 job_is "$g" succeeded
ok $? "a 2-node gang with --output 'gang-%N.out' --error 'first-%j.err' succeeds"
is "$(cat "$WORK/proj/gang-n1.out" "$WORK/proj/gang-n2.out" 2>/dev/null | sort | tr '\n' ' ')" "node-0 node-1 " \
  "gang-n1.out and gang-n2.out, one per node"
is "$(cat "$WORK/proj/first-$g.err" 2>/dev/null)" "err-0" "first-$g.err is written by the first node only"

# a path the user may not write: the job fails, nothing is written by root
abs=/etc/gantry-e2e-$$.out
CLEANUPS+=("rm -f $abs /etc/gantry-e2e-link-$$.out")
d=$(sub --gpus 1 --output "$abs" -- echo hi)
wait_for 20 job_is "$d" failed
ok $? "a job whose output file is $abs (root's) fails"
like "$(api GET "/v1/jobs/$d" | jget '{end_message}')" "cannot open output file $abs: Permission denied" "its end_message says why"
ok "$(test ! -e "$abs"; echo $?)" "and the file was not created"
ln -s "/etc/gantry-e2e-link-$$.out" "$WORK/proj/planted.out"
l=$(sub --gpus 1 --output planted.out -- echo hi)
wait_for 20 job_is "$l" failed
ok $? "an output file that is a link to root's directory fails the job"
ok "$(test ! -e "/etc/gantry-e2e-link-$$.out"; echo $?)" "and the link's target was not created"

# refused at submission
is "$(api POST /v1/jobs '{"team":"research","command":["true"],"output":""}' >/dev/null; cat "$WORK/status")" 400 "an empty output is refused (400)"
like "$(cat "$WORK/body")" "'output' must be a file path pattern" "with a message"
done_testing
