#!/usr/bin/env bash
# Batch scripts as sbatch reads them (docs/cli.md "Batch scripts"), with a real server and
# agent: `gantry submit job.sh ARGS` reads the #SBATCH and #GANTRY lines at the script's top
# (name, GPUs, time in Slurm's formats, memory, CPUs, team, class, partition, signal, chdir,
# export, requeue); an option gantry does not support is refused naming its line, and no job is
# made; a server's refusal of a directive's value names the line too; command-line flags
# override the script; a partition maps to its GPU type and class through the configuration;
# -H holds the job until `gantry release`; -o/-e name its output files on the node; --array
# lists and --dependency reach ARRAYS' fields; --requeue / --no-requeue decide what a lost node does
# to the job.
. "$(dirname "$0")/agent-lib.sh"
# a100-1: a declared node whose agent never comes, so that an A100 job waits (with no A100
# node known at all it would be refused at submission: it could never run, 86-errors.t).
cat > "$WORK/cluster.yaml" <<'Y'
nodes:
  - {name: a100-1, gpus: 4, gpu_type: A100}
teams:
  - name: research
    quota: {gpus: 8}
  - name: vision
    quota: {gpus: 8}
partitions:
  h100: {gpu_type: [H100-80GB]}
  a100: {gpu_type: A100, priority_class: experimental}
  debug: {priority_class: experimental}
Y
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 4 "$WORK/n1" agent.log --no-cgroups
AGENT1=$AGENT_PID
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"
# The CLI submits as alice, a member of research (a job's team defaults to hers).
export GANTRY_TOKEN=$("$GANTRY" token create --user alice --role member --team research)
njobs() { api GET /v1/jobs | jget '{total}'; }
field() { api GET "/v1/jobs/$1" | jget "$2"; }

mkdir -p "$WORK/proj/sub"
cd "$WORK/proj" || exit 1

# 1. Every common directive, a script that is not executable (as sbatch's need not be).
cat > job.sh <<'S'
#!/bin/bash
# a training run
#SBATCH --job-name=bert
#SBATCH -G 2
#SBATCH --time=1:30:00   # H:M:S
#SBATCH --mem=1G
#SBATCH -c 1
#SBATCH -A vision
#SBATCH --qos=production
#SBATCH --export=STAGE=one
#GANTRY env: {MODE: "fast"}

echo "args=$* stage=$STAGE mode=$MODE shell=$BASH_VERSION" > ran.txt
S
chmod 644 job.sh
out=$(GANTRY_TOKEN=$ADMIN "$GANTRY" submit job.sh a b)
id=$(echo "$out" | awk '{print $3}')
like "$out" '^Submitted job [0-9]+$' "sbatch job.sh a b -> gantry submit job.sh a b: accepted"
r=$(api GET /v1/jobs/$id)
is "$(echo "$r" | jget '{name}')" bert "#SBATCH --job-name=bert: the job's name"
is "$(echo "$r" | jget '{gpus_milli}')" 2000 "#SBATCH -G 2: 2 GPUs"
is "$(echo "$r" | jget '{time_limit_s}')" 5400 "#SBATCH --time=1:30:00: 5400 s"
is "$(echo "$r" | jget '{memory_mib}')" 1024 "#SBATCH --mem=1G: 1024 MiB"
is "$(echo "$r" | jget '{cpus_milli}')" 1000 "#SBATCH -c 1: one CPU"
is "$(echo "$r" | jget '{team}')" vision "#SBATCH -A vision: the team"
is "$(echo "$r" | jget '{priority_class}')" production "#SBATCH --qos=production: the class"
is "$(echo "$r" | jget '{env}')" '{"MODE":"fast","STAGE":"one"}' "--export=STAGE=one and #GANTRY env: the env"
is "$(echo "$r" | jget '{command}')" '["/bin/bash","./job.sh","a","b"]' "a script that is not executable runs through its #! interpreter, with its arguments"
wait_for 30 job_is "$id" succeeded
ok $? "the job succeeds"
is "$(echo "$(api GET /v1/jobs/$id)" | jget '{placement}[0]{gpus}')" '[0,1]' "on 2 GPUs"
like "$(cat ran.txt 2>/dev/null)" '^args=a b stage=one mode=fast shell=[0-9]' "it ran under bash with its arguments and env"

# 2. Unsupported directives are refused with their line; no job is made.
before=$(njobs)
printf '#!/bin/sh\n#SBATCH -J x\n\n#SBATCH --mail-type=END\nhostname\n' > mail.sh
out=$("$GANTRY" submit mail.sh 2>&1); rc=$?
ok $((rc == 0)) "#SBATCH --mail-type: gantry submit fails (exit $rc)"
like "$out" 'mail.sh: line 4: #SBATCH --mail-type is not supported' "and names line 4 and the option"
printf '#!/bin/sh\n#SBATCH -n 4\nhostname\n' > tasks.sh
like "$("$GANTRY" submit tasks.sh 2>&1)" 'line 2: #SBATCH --ntasks=4: gantry runs one task per node' "#SBATCH -n 4 is refused with line 2"
printf '#!/bin/sh\n#SBATCH --time=soon\nhostname\n' > t.sh
like "$("$GANTRY" submit t.sh 2>&1)" "line 2: #SBATCH --time: time limit 'soon' is not a time" "a bad --time names line 2"
is "$(njobs)" "$before" "none of them made a job"
# The server refuses a directive's value: the CLI names its line.
printf '#!/bin/sh\n#SBATCH -J ok\n#SBATCH --qos=gold\nhostname\n' > gold.sh
like "$("$GANTRY" submit gold.sh 2>&1)" "gold.sh line 3: priority class 'gold' does not exist" "an unknown --qos is refused naming line 3"
printf '#!/bin/sh\n#SBATCH -p nope\nhostname\n' > nope.sh
like "$("$GANTRY" submit nope.sh 2>&1)" "nope.sh line 2: partition 'nope' does not exist; known: h100, a100, debug" "an unknown partition: a 400 naming the known ones and line 2"
is "$(njobs)" "$before" "still no job made"
# A #SBATCH after the first command is ignored, as sbatch does, with a warning.
printf '#!/bin/sh\n#SBATCH -J early\ntrue\n#SBATCH -J late\n' > late.sh
out=$("$GANTRY" submit late.sh 2>&1)
like "$out" 'warning: line 4: #SBATCH after the script.s first command \(line 3\) is ignored' "a late #SBATCH: warned with its line"
is "$(field "$(echo "$out" | sed -n 's/^Submitted job //p')" '{name}')" early "and not applied"

# 3. Flags override directives, as sbatch's do (gantry's own and sbatch's names).
out=$("$GANTRY" submit --job-name other --time 1-0 -g 1 --qos normal --mem 2G -t research job.sh)
id=$(echo "$out" | awk '{print $3}')
r=$(api GET /v1/jobs/$id)
is "$(echo "$r" | jget '{name}')" other "--job-name beats #SBATCH --job-name"
is "$(echo "$r" | jget '{time_limit_s}')" 86400 "--time 1-0 (D-H) beats the script's --time"
is "$(echo "$r" | jget '{gpus_milli}')" 1000 "-g 1 beats #SBATCH -G 2"
is "$(echo "$r" | jget '{priority_class}')" normal "--qos beats #SBATCH --qos"
is "$(echo "$r" | jget '{memory_mib}')" 2048 "--mem beats #SBATCH --mem"
is "$(echo "$r" | jget '{team}')" research "-t beats #SBATCH -A"
is "$(echo "$r" | jget '{env}{STAGE}')" one "what no flag set stays the script's"

# 4. --signal: the checkpoint signal and grace; a flag overrides it.
printf '#!/bin/sh\n#SBATCH --signal=B:USR1@90\nsleep 1\n' > sig.sh
id=$("$GANTRY" submit sig.sh | awk '{print $3}')
is "$(field "$id" '{checkpoint}')" '{"grace_s":90,"signal":"SIGUSR1"}' "#SBATCH --signal=B:USR1@90: checkpoint SIGUSR1, 90 s of grace"
is "$(field "$id" '{name}')" sig.sh "no --job-name: the script's file name, as sbatch"
id=$("$GANTRY" submit --signal USR2@30 sig.sh | awk '{print $3}')
is "$(field "$id" '{checkpoint}')" '{"grace_s":30,"signal":"SIGUSR2"}' "--signal USR2@30 beats the script's"

# 5. Partitions map to GPU types and classes; the job's own fields win.
printf '#!/bin/sh\n#SBATCH -p h100\n#SBATCH --gres=gpu:1\necho on-h100 > part.txt\n' > part.sh
chmod +x part.sh
id=$("$GANTRY" submit -- ./part.sh | awk '{print $3}')
is "$(field "$id" '{partition}')" h100 "#SBATCH -p h100 (gantry submit -- ./part.sh): the partition is kept"
is "$(field "$id" '{gpu_type}')" '["H100-80GB"]' "and gives its GPU type"
is "$(field "$id" '{command}')" '["./part.sh"]' "an executable script runs as itself"
wait_for 30 job_is "$id" succeeded
ok $? "and runs on the H100 node"
is "$(cat part.txt 2>/dev/null)" on-h100 "its output is there"
id=$("$GANTRY" submit --partition a100 -- true | awk '{print $3}')
is "$(field "$id" '{partition}') $(field "$id" '{gpu_type}') $(field "$id" '{priority_class}')" 'a100 ["A100"] experimental' "--partition a100: its GPU type and class"
is "$(field "$id" '{state}')" pending "and it waits: no node has that type"
GANTRY_TOKEN=$ADMIN "$GANTRY" cancel "$id" >/dev/null
printf '#!/bin/sh\n#SBATCH -p a100\n#SBATCH --qos=normal --gpus=H100-80GB:1\ntrue\n' > own.sh
id=$("$GANTRY" submit own.sh | awk '{print $3}')
is "$(field "$id" '{gpu_type}') $(field "$id" '{priority_class}')" '["H100-80GB"] normal' "the job's own GPU type and class win over its partition's"
wait_for 30 job_is "$id" succeeded
ok $? "and it runs"
id=$(submit '{"team":"research","partition":"debug","command":["true"]}')
is "$(field "$id" '{priority_class}') $(field "$id" '{gpu_type}')" 'experimental []' "POST /v1/jobs partition debug: its class only"
r=$(api POST /v1/jobs '{"team":"research","partition":"gpu2","command":["true"]}')
is "$(cat "$WORK/status")" 400 "an unknown partition through the API: 400"
like "$r" "partition 'gpu2' does not exist; known: h100, a100, debug" "naming the known ones"

# 6. --chdir (relative: against the submit directory), --gpus-per-node x --nodes.
printf '#!/bin/sh\n#SBATCH -D sub\n#SBATCH -N 1 --gpus-per-node=2\npwd > where.txt\n' > cd.sh
chmod +x cd.sh
id=$("$GANTRY" submit cd.sh | awk '{print $3}')
is "$(field "$id" '{workdir}')" "$WORK/proj/sub" "#SBATCH -D sub: workdir under the submit directory"
is "$(field "$id" '{gpus_milli}') $(field "$id" '{nodes}')" "2000 1" "#SBATCH -N 1 --gpus-per-node=2: 2 GPUs on 1 node"
is "$(field "$id" '{command}')" "[\"$WORK/proj/cd.sh\"]" "the script is named by its full path from another workdir"
wait_for 30 job_is "$id" succeeded
ok $? "and it runs"
is "$(cat sub/where.txt 2>/dev/null)" "$WORK/proj/sub" "in sub/"

# 7. -H / --hold (held until `gantry release`, helper JOBCTL's field hold).
printf '#!/bin/sh\n#SBATCH -H\necho released > held.txt\n' > held.sh
id=$("$GANTRY" submit held.sh | awk '{print $3}')
is "$(field "$id" '{held}') $(field "$id" '{pending_reason}')" "true held" "sbatch -H job.sh -> gantry submit job.sh with #SBATCH -H: held"
"$GANTRY" release "$id" >/dev/null
wait_for 30 job_is "$id" succeeded
ok $? "gantry release (scontrol release) lets it run"
is "$(cat held.txt 2>/dev/null)" released "and it ran"

# 8. -o / -e (helper SLURMENV's output and error): the node writes the job's stdout and stderr
# to the patterns, expanded, in its workdir; the server still keeps its logs.
printf '#!/bin/sh\n#SBATCH -J oe -o out-%%j.txt\n#SBATCH --error=err-%%x.txt\necho to-out; echo to-err >&2\n' > oe.sh
id=$("$GANTRY" submit oe.sh | awk '{print $3}')
is "$(field "$id" '{output}') $(field "$id" '{error}')" 'out-%j.txt err-%x.txt' "sbatch -o out-%j.txt -e err-%x.txt -> the job's output and error, as written"
wait_for 30 job_is "$id" succeeded
ok $? "the job succeeds"
is "$(cat "out-$id.txt" 2>/dev/null)" to-out "its stdout is in out-$id.txt (%j)"
is "$(cat err-oe.txt 2>/dev/null)" to-err "its stderr in err-oe.txt (%x, the job's name)"

# 9. --array with a list and a throttle, --dependency (helper ARRAYS's array and dependencies).
printf '#!/bin/sh\n#SBATCH --array=1,3,5-6%%2\necho "$GANTRY_ARRAY_INDEX" > "arr-$GANTRY_ARRAY_INDEX.txt"\n' > arr.sh
out=$("$GANTRY" submit arr.sh)
like "$out" '^Submitted job array [0-9]+ \(4 tasks\)$' "sbatch --array=1,3,5-6%2 arr.sh -> gantry submit arr.sh: 4 tasks"
first=$(echo "$out" | awk '{print $4}')
wait_for 60 sh -c 'for i in 1 3 5 6; do [ -f "arr-$i.txt" ] || exit 1; done'
ok $? "each index of the list ran (arr-1, arr-3, arr-5, arr-6)"
is "$(cat arr-1.txt arr-3.txt arr-5.txt arr-6.txt 2>/dev/null | tr '\n' ' ')" "1 3 5 6 " "each with its index"
printf '#!/bin/sh\n#SBATCH --dependency=afterok:%s\necho after > dep.txt\n' "$first" > dep.sh
id=$("$GANTRY" submit dep.sh | awk '{print $3}')
is "$(field "$id" '{dependencies}')" "[{\"job\":$first,\"type\":\"afterok\"}]" "#SBATCH --dependency=afterok:ID: the job's dependencies"
wait_for 60 job_is "$id" succeeded
ok $? "it runs once its dependency succeeded"

# 10. --requeue / --no-requeue: what a lost node does to the job. production is not
# preemptible (it would fail node_lost); normal is (it would be requeued).
printf '#!/bin/sh\n#SBATCH --qos=production --requeue\nsleep 300\n' > rq.sh
printf '#!/bin/sh\n#SBATCH --qos=normal --no-requeue\nsleep 300\n' > norq.sh
rq=$("$GANTRY" submit rq.sh | awk '{print $3}')
norq=$("$GANTRY" submit norq.sh | awk '{print $3}')
is "$(field "$rq" '{requeue}') $(field "$norq" '{requeue}')" "true false" "the jobs say requeue: true and false"
wait_for 30 job_is "$rq" running && wait_for 30 job_is "$norq" running
ok $? "both run"
kill -9 "$AGENT1"; wait "$AGENT1" 2>/dev/null
wait_for 30 job_is "$norq" failed
ok $? "the node is lost: the --no-requeue job fails although its class is preemptible"
is "$(field "$norq" '{end_reason}')" node_lost "with reason node_lost"
like "$(field "$norq" '{end_message}')" 'asked not to be requeued' "its message says why it was not requeued"
wait_for 30 job_is "$rq" pending
ok $? "the --requeue job returns to the queue although its class is not preemptible"
done_testing
