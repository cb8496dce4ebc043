#!/usr/bin/env bash
# Where a plain job runs, with a real agent (docs/environments.md): as sbatch does, the CLI
# sends the directory it was run from as the job's workdir; `gantry submit train.sh` with
# train.sh a file of that directory runs it (./train.sh); a program of PATH is left alone; an
# explicit --workdir wins; a workdir missing on the node fails the job with a message that
# says so.
. "$(dirname "$0")/agent-lib.sh"
research_cluster
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 2 "$WORK/n1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"

mkdir -p "$WORK/proj" "$WORK/other"
printf '#!/bin/sh\npwd > ran-in\necho "args: $*" >> ran-in\n' > "$WORK/proj/train.sh"
chmod +x "$WORK/proj/train.sh"
cd "$WORK/proj" || exit 1
id=$("$GANTRY" submit --team research train.sh --epochs 3 | awk '{print $3}')
like "$id" '^[0-9]+$' "gantry submit --team research train.sh is accepted"
is "$(api GET /v1/jobs/$id | jget '{workdir}')" "$WORK/proj" "its workdir is the directory it was submitted from"
is "$(api GET /v1/jobs/$id | jget '{command}')" '["./train.sh","--epochs","3"]' "train.sh, a file here and not a program of PATH, runs as ./train.sh"
wait_for 20 job_is "$id" succeeded
ok $? "the job succeeds (it did not fail \"cannot run 'train.sh'\")"
is "$(head -n 1 "$WORK/proj/ran-in" 2>/dev/null)" "$WORK/proj" "it ran in the directory it was submitted from"
is "$(tail -n 1 "$WORK/proj/ran-in" 2>/dev/null)" "args: --epochs 3" "with its arguments"

# A file that is not executable: the CLI says so (the node would refuse to run it).
printf 'echo hi\n' > "$WORK/proj/plain.sh"
out=$("$GANTRY" submit --team research --after 999999 plain.sh 2>&1)
like "$out" "warning: plain.sh is not executable here" "a file here that is not executable: gantry submit warns"

# A program of PATH is not taken for a file of the same name here.
printf '#!/bin/sh\nexit 3\n' > "$WORK/proj/true"
chmod +x "$WORK/proj/true"
t=$("$GANTRY" submit --team research -- true | awk '{print $3}')
is "$(api GET /v1/jobs/$t | jget '{command}')" '["true"]' "a program found in PATH stays as written"
wait_for 20 job_is "$t" succeeded
ok $? "and runs the PATH's program"

# --workdir wins; a workdir the node lacks fails the job, saying so.
w=$("$GANTRY" submit --team research --workdir "$WORK/other" -- sh -c 'pwd > ran-in' | awk '{print $3}')
wait_for 20 job_is "$w" succeeded
ok $? "a job with --workdir succeeds"
is "$(cat "$WORK/other/ran-in" 2>/dev/null)" "$WORK/other" "and ran in its --workdir, not here"
m=$("$GANTRY" submit --team research --workdir "$WORK/missing" -- true | awk '{print $3}')
wait_for 20 job_is "$m" failed
ok $? "a job whose workdir does not exist on the node fails"
like "$(api GET /v1/jobs/$m | jget '{end_message}')" "workdir $WORK/missing" "its end_message names the workdir"

# A file with a JSON spec: no workdir in it, none given: this directory too.
cd "$WORK/other" || exit 1
printf 'team: research\ncommand: ["sh", "-c", "pwd > from-file"]\n' > job.yaml
f=$("$GANTRY" submit -f job.yaml | awk '{print $3}')
wait_for 20 job_is "$f" succeeded
ok $? "a job from a file succeeds"
is "$(cat "$WORK/other/from-file" 2>/dev/null)" "$WORK/other" "and ran where it was submitted from"
done_testing
