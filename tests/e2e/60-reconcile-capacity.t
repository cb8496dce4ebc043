#!/usr/bin/env bash
# A node's registration sets its capacity: an agent that comes back with fewer GPUs no longer
# offers the old count (before, an 8-GPU job ran on a node restarted with 4), and the jobs that
# held GPUs that are gone leave the node by their policy: a production job fails node_lost, a
# preemptible one returns to the queue; their copies on the node are killed.
. "$(dirname "$0")/agent-lib.sh"
research_cluster
start_server --config "$WORK/cluster.yaml" --heartbeat 5
start_agent() { run_agent n1 "$1" "$WORK/n1" agent.log --no-cgroups; }
# restart_agent GPUS: SIGTERM (jobs run on under their supervisors), then again with GPUS.
restart_agent() {
  local before=$(grep -c "registered with epoch" "$WORK/agent.log")
  kill -TERM "$AGENT_PID"
  wait "$AGENT_PID" 2>/dev/null
  start_agent "$1"
  wait_for 20 sh -c "[ \$(grep -c 'registered with epoch' '$WORK/agent.log') -gt $before ]"
}
node_gpus() { api GET /v1/nodes | perl -MJSON::PP -e 'my $d = decode_json(join "", <STDIN>); my $l = ref $d eq "HASH" ? $d->{nodes} : $d; for (@$l) { print $_->{gpus} if $_->{name} eq "n1" }'; }
jfield() { api GET "/v1/jobs/$1" | jget "{$2}"; }
job_cmd() { printf '["sh","-c","echo $CUDA_VISIBLE_DEVICES >> %s/runs.%s; while [ ! -e %s/%s.go ]; do sleep 0.05; done"]' "$WORK" "$1" "$WORK" "$1"; }
pid_of() { sed -n 's/^pid=//p' "$WORK/n1/jobs/$1/state" | tail -n 1; }

start_agent 8
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers 8 GPUs"
is "$(node_gpus)" 8 "the server lists 8 GPUs"

# ---- 8 GPUs -> 4 under a production job that holds all 8 ----
p=$(submit '{"team":"research","gpus":8,"priority_class":"production","command":'"$(job_cmd p)"'}')
wait_for 20 test -s "$WORK/runs.p"
ok $? "a production 8-GPU job runs"
# Another 8-GPU job, submitted while the node has 8 GPUs (once it has 4, one is refused at
# submission: it could never run, tests/e2e/86-errors.t); it waits behind p.
q=$(submit '{"team":"research","gpus":8,"command":["sh","-c","echo ran > '"$WORK"'/q.ran"]}')
ppid=$(pid_of "$p.1")
restart_agent 4
ok $? "the agent comes back with 4 GPUs"
is "$(node_gpus)" 4 "the server lists 4 GPUs"
wait_for 20 job_is "$p" failed
ok $? "the job that held GPUs 4-7 fails"
is "$(jfield "$p" end_reason)" node_lost "reason node_lost"
like "$(jfield "$p" end_message)" "registered again with 4 GPUs" "end_message says the node came back with 4 GPUs"
wait_for 20 sh -c "! kill -0 $ppid 2>/dev/null"
ok $? "its copy on the node is killed"

r=$(submit '{"team":"research","gpus":4,"command":'"$(job_cmd r)"'}')
wait_for 20 test -s "$WORK/runs.r"
ok $? "a 4-GPU job runs"
like "$(cat "$WORK/runs.r")" '^[0-3](,[0-3]){3}$' "on GPUs 0-3 ($(cat "$WORK/runs.r"))"
is "$(job_state "$q")" pending "an 8-GPU job does not run on the 4-GPU node"
is "$(jfield "$q" pending_reason)" no_fit "pending: no node could hold it"

# ---- 4 -> 2 under a preemptible job: it returns to the queue ----
restart_agent 2
ok $? "the agent comes back with 2 GPUs"
wait_for 20 job_is "$r" pending
ok $? "the preemptible job that held GPUs 2-3 returns to the queue"
restart_agent 4
ok $? "the agent comes back with 4 GPUs"
wait_for 20 sh -c "[ \$(wc -l < '$WORK/runs.r') -ge 2 ]"
ok $? "the preemptible job runs again"
is "$(jfield "$r" incarnation)" 2 "as incarnation 2"
touch "$WORK/r.go"
wait_for 20 job_is "$r" succeeded
ok $? "and succeeds"
is "$(job_state "$q")" pending "the 8-GPU job still waits"
test ! -e "$WORK/q.ran"
ok $? "it never ran"
done_testing
