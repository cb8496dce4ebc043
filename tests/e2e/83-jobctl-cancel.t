#!/usr/bin/env bash
# gantry cancel by filter (Slurm's scancel --user/--name/--state/--account): DELETE
# /v1/jobs?FILTER cancels every unfinished job the filter matches that the caller may cancel,
# each committed as a single cancel is; no filter, no cancel; with a real server and agent (a
# running job cancelled this way is stopped on its node).
. "$(dirname "$0")/agent-lib.sh"
# A declared node whose agent never comes: 4-GPU jobs may wait (a job no known node could
# ever hold is refused at submission, tests/e2e/86-errors.t) but never run.
cat > "$WORK/cluster.yaml" <<'Y'
nodes:
  - {name: spare, gpus: 4, gpu_type: H100-80GB}
teams:
  - name: research
    quota: {gpus: 8}
  - name: product
    quota: {gpus: 8}
Y
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 2 "$WORK/n1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers with 2 GPUs"
alice=$("$GANTRY" token create --user alice --role member --team research)
dave=$("$GANTRY" token create --user dave --role member --team research)
bob=$("$GANTRY" token create --user bob --role member --team product)
lead=$("$GANTRY" token create --user lena --role team-admin --team research)
sub() { local tok=$1; shift; GANTRY_TOKEN=$tok "$GANTRY" submit "$@" | awk '{print $3}'; }
states() { local j; for j in "$@"; do job_state "$j"; echo; done | tr '\n' ' '; }

a1=$(sub "$alice" --gpus 1 --name train -- sleep 300)
a2=$(sub "$alice" --gpus 4 --name train -- sleep 300)
a3=$(sub "$alice" --gpus 4 --name eval -- sleep 300)
d1=$(sub "$dave" --gpus 4 --name train -- sleep 300)
b1=$(sub "$bob" --gpus 4 --name train -- sleep 300)
x1=$(sub "$ADMIN" --team product --gpus 4 --name other -- sleep 300)
wait_for 20 job_is "$a1" running
ok $? "alice's first job runs"
all="$a1 $a2 $a3 $d1 $b1 $x1"
is "$(states $all)" "running pending pending pending pending pending " "six jobs, one running"

# ---- no filter, no cancel ----
r=$(api DELETE /v1/jobs)
is "$(cat "$WORK/status")" 400 "DELETE /v1/jobs without a filter is refused"
like "$r" "cancelling by filter needs one" "... and says what it needs"
r=$(api DELETE '/v1/jobs?state=all')
is "$(cat "$WORK/status")" 400 "state=all is no filter either"
e=$("$GANTRY" cancel --yes 2>&1); rc=$?
is "$rc" 2 "gantry cancel --yes alone is a usage error"
like "$e" "give a filter" "... that asks for a filter"
e=$(GANTRY_TOKEN=$alice "$GANTRY" cancel --name train </dev/null 2>&1); rc=$?
is "$rc" 2 "without --yes and without a terminal it refuses"
like "$e" "needs --yes when not run from a terminal" "... and says so"
is "$(states $all)" "running pending pending pending pending pending " "nothing was cancelled"
r=$(curl -s -o "$WORK/body" -w '%{http_code}' -X DELETE -H "Authorization: Bearer $bob" "$GANTRY_SERVER/v1/jobs?team=research")
is "$r" 403 "a filter on a team one may not see is refused (403)"
r=$(api DELETE '/v1/jobs?state=finished')
is "$(cat "$WORK/status")" 400 "an unknown state is refused"

# ---- by name, by state and user, by team ----
out=$(GANTRY_TOKEN=$alice "$GANTRY" cancel --name eval --yes)
is "$out" "Cancelled 1 job: $a3" "--name eval cancels alice's eval job"
out=$(GANTRY_TOKEN=$alice "$GANTRY" cancel --user alice --state pending --yes)
is "$out" "Cancelled 1 job: $a2" "--user alice --state pending leaves her running job"
is "$(states $all)" "running cancelled cancelled pending pending pending " "only those two"
out=$(GANTRY_TOKEN=$alice "$GANTRY" cancel --team research --yes)
like "$out" "^Cancelled 1 job: $a1" "--team research: alice cancels what she may, her running job"
like "$out" "1 matching job of others left alone" "... and is told of dave's, left alone"
is "$(job_state "$d1")" pending "dave's job is untouched"
stopped() { [ "$(api GET "/v1/jobs/$a1" | jget '{stopping}')" = null ]; }
wait_for 20 stopped
ok $? "the running job was stopped on its node"
r=$(curl -s -X DELETE -H "Authorization: Bearer $lead" "$GANTRY_SERVER/v1/jobs?user=dave")
is "$(printf '%s' "$r" | jget '{cancelled}')" "[$d1]" "the team's admin cancels dave's jobs by --user (JSON: cancelled)"
is "$(printf '%s' "$r" | jget '{errors}')" "[]" "... with no errors"
out=$("$GANTRY" cancel --name train --yes -o json)
is "$(printf '%s' "$out" | jget '{cancelled}')" "[$b1]" "the admin cancels every remaining train job, another team's too (-o json)"
is "$(states $all)" "cancelled cancelled cancelled cancelled cancelled pending " "all but the admin's 'other' job are cancelled"
out=$("$GANTRY" cancel --name train --yes)
is "$out" "Cancelled 0 jobs" "a filter that matches nothing unfinished cancels nothing"
out=$("$GANTRY" cancel --team product --state pending --yes)
is "$out" "Cancelled 1 job: $x1" "--team product --state pending"

# ---- by labels (-l, kubectl's selectors) ----
l1=$(sub "$alice" --gpus 1 -l exp=a -l tier=x -- sleep 300)
l2=$(sub "$alice" --gpus 1 -l exp=b -- sleep 300)
l3=$(sub "$alice" --gpus 1 -- sleep 300)
out=$(GANTRY_TOKEN=$alice "$GANTRY" cancel -l exp=a --yes)
is "$out" "Cancelled 1 job: $l1" "-l exp=a cancels the job labelled exp=a"
out=$(GANTRY_TOKEN=$alice "$GANTRY" cancel -l '!exp' --user alice --yes)
is "$out" "Cancelled 1 job: $l3" "-l '!exp' --user alice: her job without an exp label"
like "$(job_state "$l2")" '^(pending|running)$' "the exp=b job is left"
out=$(GANTRY_TOKEN=$alice "$GANTRY" cancel --selector 'exp,exp!=a' --yes)
is "$out" "Cancelled 1 job: $l2" "--selector 'exp,exp!=a'"
r=$(api DELETE '/v1/jobs?selector=bad%20key')
is "$(cat "$WORK/status")" 400 "a bad selector is refused"

# ---- on a terminal without --yes, it asks (script(1) gives it one) ----
q1=$(sub "$alice" --gpus 1 --name ask -- sleep 300)
out=$(printf 'n\n' | GANTRY_TOKEN=$alice script -qec "$GANTRY cancel --name ask" /dev/null)
like "$out" "Cancel 1 job \\($q1\\)\\? \\[y/N\\]" "on a terminal it lists the jobs and asks"
unlike_cancelled() { [ "$(job_state "$q1")" != cancelled ]; }
unlike_cancelled; ok $? "answered n, nothing is cancelled"
out=$(printf 'y\n' | GANTRY_TOKEN=$alice script -qec "$GANTRY cancel --name ask" /dev/null)
like "$out" "Cancelled 1 job: $q1" "answered y, it cancels"
is "$(job_state "$q1")" cancelled "the job is cancelled"
e=$("$GANTRY" cancel --name train 12 2>&1); rc=$?
is "$rc" 2 "ids and filters together are a usage error"
done_testing
