#!/usr/bin/env bash
# Reconciliation when an agent is stopped or restarted while its jobs run (the upgrade path):
# a job that ends while no agent runs is recorded as it ended (exit code, reason), its
# dependents run or are cancelled accordingly, and it runs exactly once. Before, the agent's
# new registration listed it no longer, the server failed it `node_lost` (or requeued it and
# ran it a second time) and then ignored the "exited" report that followed.
. "$(dirname "$0")/agent-lib.sh"
research_cluster
# Heartbeats every 5 s: the node is declared lost only after 15 s, far beyond the restarts
# here (what happens past that timeout is another rule).
start_server --config "$WORK/cluster.yaml" --heartbeat 5
start_agent() { run_agent n1 4 "$WORK/n1" agent.log --no-cgroups; }
registrations() { grep -c "registered with epoch" "$WORK/agent.log"; }
start_agent
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"

# job_cmd NAME CODE: appends a line to $WORK/runs.NAME (outside its job directory) at each
# run, waits for $WORK/NAME.go, exits CODE.
job_cmd() { printf '["sh","-c","echo run >> %s/runs.%s; touch %s/%s.started; while [ ! -e %s/%s.go ]; do sleep 0.05; done; exit %s"]' "$WORK" "$1" "$WORK" "$1" "$WORK" "$1" "$2"; }
jfield() { api GET "/v1/jobs/$1" | jget "{$2}"; }
ended_on_node() { grep -q '^phase=exited' "$WORK/n1/jobs/$1.1/state"; }

# stop_agent_and_end SIGNAL JOB NAME...: stops the agent with SIGNAL while the jobs run, lets
# them end while it is away, starts it again.
stop_agent_and_end() {
  local sig=$1 n; shift
  local before=$(registrations)
  kill "-$sig" "$AGENT_PID"
  wait "$AGENT_PID" 2>/dev/null
  while [ $# -gt 0 ]; do
    touch "$WORK/$2.go"
    wait_for 20 ended_on_node "$1"
    ok $? "job $1 ($2) ends while the agent is away ($sig)"
    shift 2
  done
  start_agent
  wait_for 20 sh -c "[ \$(grep -c 'registered with epoch' '$WORK/agent.log') -gt $before ]"
  ok $? "the agent registers again"
}

for sig in TERM KILL; do
  # ---- production jobs (never requeued) that exit 0 and 1; a preemptible, checkpointable
  # job (requeued when lost) that exits 0 ----
  a=$(submit '{"team":"research","gpus":1,"priority_class":"production","command":'"$(job_cmd "a$sig" 0)"'}')
  c=$(submit '{"team":"research","gpus":1,"priority_class":"normal","checkpoint":{"signal":"SIGTERM","grace":"5s"},"command":'"$(job_cmd "c$sig" 0)"'}')
  f=$(submit '{"team":"research","gpus":1,"priority_class":"production","command":'"$(job_cmd "f$sig" 1)"'}')
  da=$(submit '{"team":"research","gpus":1,"after_ok":['"$a"'],"command":["sh","-c","echo run >> '"$WORK"'/runs.da'"$sig"'"]}')
  df=$(submit '{"team":"research","gpus":1,"after_ok":['"$f"'],"command":["sh","-c","echo run >> '"$WORK"'/runs.df'"$sig"'"]}')
  wait_for 20 test -e "$WORK/a$sig.started" -a -e "$WORK/c$sig.started" -a -e "$WORK/f$sig.started"
  ok $? "SIG$sig: three jobs run"
  stop_agent_and_end "$sig" "$a" "a$sig" "$c" "c$sig" "$f" "f$sig"

  wait_for 20 job_is "$a" succeeded
  ok $? "SIG$sig: the job that exited 0 is recorded succeeded"
  is "$(jfield "$a" end_reason)/$(jfield "$a" exit_code)" "completed/0" "SIG$sig: reason completed, exit code 0"
  wait_for 20 job_is "$da" succeeded
  ok $? "SIG$sig: its after_ok dependent ran and succeeded"
  is "$(wc -l < "$WORK/runs.da$sig")" 1 "SIG$sig: the dependent ran once"

  wait_for 20 job_is "$c" succeeded
  ok $? "SIG$sig: the checkpointable job that exited 0 is recorded succeeded"
  is "$(jfield "$c" incarnation)" 1 "SIG$sig: never requeued (incarnation 1)"

  wait_for 20 job_is "$f" failed
  ok $? "SIG$sig: the job that exited 1 is recorded failed"
  is "$(jfield "$f" end_reason)/$(jfield "$f" exit_code)" "failed/1" "SIG$sig: reason failed, exit code 1 (not node_lost)"
  wait_for 20 job_is "$df" cancelled
  ok $? "SIG$sig: its dependent is cancelled"
  is "$(jfield "$df" end_reason)" dependency_failed "SIG$sig: because its dependency failed"

  for x in a c f; do
    is "$(wc -l < "$WORK/runs.$x$sig")" 1 "SIG$sig: job $x ran exactly once"
  done
  wait_for 10 test ! -e "$WORK/n1/jobs/$a.1" -a ! -e "$WORK/n1/jobs/$c.1" -a ! -e "$WORK/n1/jobs/$f.1"
  ok $? "SIG$sig: their ends reported, the agent dropped their directories"
done

# ---- a job still running across the restart is not disturbed; one that ended is not rerun ----
r=$(submit '{"team":"research","gpus":1,"priority_class":"production","command":'"$(job_cmd r 0)"'}')
e=$(submit '{"team":"research","gpus":1,"command":'"$(job_cmd e 0)"'}')
wait_for 20 test -e "$WORK/r.started" -a -e "$WORK/e.started"
ok $? "two more jobs run"
stop_agent_and_end TERM "$e" e
is "$(job_state "$r")" running "the job that still runs is running"
wait_for 20 job_is "$e" succeeded
ok $? "the one that ended is succeeded"
touch "$WORK/r.go"
wait_for 20 job_is "$r" succeeded
ok $? "the running one ends later, succeeded"
is "$(cat "$WORK/runs.r" "$WORK/runs.e" | wc -l)" 2 "both ran exactly once"
is "$(grep -c 'which does not hold it' "$WORK/server.log")" 0 "no job was taken for lost"
done_testing
