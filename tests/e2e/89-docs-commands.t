#!/usr/bin/env bash
# The tables of docs/slurm-users.md and docs/kubernetes-users.md ("what you typed there, what
# you type here") are run as written: every command in backticks in a row's Gantry column runs
# against a real server with two agents, and must succeed (exit 0). Placeholders in upper case
# are made fresh for each row:
#   PENDING   a pending job (it waits for a held job: pending_reason dependency)
#   HELD      a held job
#   RUNNING   a running job (sleep)
#   FINISHED  a job that succeeded (made once)
#   REQUEUED  a job that ran twice (requeued once, then succeeded; made once)
#   ARRAY     an array of 4 held tasks (ARRAY_3 is its task with index 3)
#   NODE      node n1          USER  alice, the member the commands run as
# job.sh (a batch script with #SBATCH lines) and job.yaml are in the directory the commands
# run in. After each row every job but the fixed ones is cancelled, the nodes resumed and the
# maintenance windows removed. A command with -w (a watch) runs for 3 s and must have printed.
. "$(dirname "$0")/agent-lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
printf 'teams:\n  - name: research\n    quota: {gpus: 8}\n' > "$WORK/cluster.yaml"
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 4 "$WORK/n1" agent1.log --no-cgroups
run_agent n2 4 "$WORK/n2" agent2.log --no-cgroups
wait_for 30 grep -q "registered with epoch" "$WORK/agent1.log"
wait_for 30 grep -q "registered with epoch" "$WORK/agent2.log"
ok $? "a server and two agents"
# The commands run as a member of team research (alice), as a user would; those only an admin
# may run (node control, maintenance) with the admin's token.
ALICE=$("$GANTRY" token create --user alice --role member --team research | tail -n 1)
like "$ALICE" '^[A-Za-z0-9_.-]{20,}$' "a member's token for alice (team research)"
as_admin() { case " $1 " in *" drain "*|*" cordon "*|*" uncordon "*|*" resume "*|*" maintenance "*) return 0 ;; esac; return 1; }
# The docs say `gantry`: the binary under test is found first on PATH.
mkdir -p "$WORK/bin" && ln -sf "$GANTRY" "$WORK/bin/gantry"
export PATH="$WORK/bin:$PATH"
D=$WORK/here
mkdir -p "$D"
cd "$D" || exit 1
printf '#!/bin/sh\n#SBATCH -J demo\n#SBATCH -A research\n#SBATCH --gpus=1\n#SBATCH -t 10:00\necho "hello from $SLURM_JOB_ID"\n' > job.sh
chmod +x job.sh
printf 'name: demo\nteam: research\ngpus: 1\ncommand: [echo, hello]\nlabels: {app: demo}\n' > job.yaml

sub() { GANTRY_TOKEN=$ALICE "$GANTRY" submit "$@" | awk '/^Submitted/ {for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/) {print $i; exit}}'; }
# the job PENDING waits for: an admin's (held) job of team research, so that alice's own
# "cancel everything of mine" leaves it alone
blocker=$("$GANTRY" submit --team research --hold -- true | awk '{print $NF}')
finished=$(sub -l app=demo -- echo done)
requeued=$(sub -l app=demo -- sh -c 'echo "run $GANTRY_INCARNATION"; [ "$GANTRY_INCARNATION" = 2 ] || sleep 600')
wait_for 30 job_is "$finished" succeeded
ok $? "a finished job ($finished)"
wait_for 30 job_is "$requeued" running
GANTRY_TOKEN=$ALICE "$GANTRY" requeue "$requeued" >/dev/null
wait_for 60 job_is "$requeued" succeeded
ok $? "a job that ran twice ($requeued)"
user=$(api GET "/v1/jobs/$finished" | jget '{user}')
fixed=" $blocker $finished $requeued "

# reset: cancels every job but the fixed ones, resumes the nodes, removes maintenance windows.
reset() {
  local id
  for id in $(api GET '/v1/jobs?state=pending,running&limit=10000' | perl -MJSON::PP -e 'print join " ", map { $_->{id} } @{decode_json(join "", <STDIN>)->{jobs}}'); do
    case "$fixed" in *" $id "*) ;; *) api DELETE "/v1/jobs/$id" >/dev/null ;; esac
  done
  api POST /v1/nodes/n1/resume '{}' >/dev/null
  api POST /v1/nodes/n2/resume '{}' >/dev/null
  for id in $(api GET /v1/maintenance | perl -MJSON::PP -e 'my $d = decode_json(join "", <STDIN>); $d = $d->{maintenance} if ref $d eq "HASH"; print join " ", map { $_->{name} } @$d' 2>/dev/null); do
    api DELETE "/v1/maintenance/$id" >/dev/null
  done
}

# The Gantry commands of a doc's tables: "LINE<TAB>COMMAND", one per backticked command of each
# row's second column (rows of tables whose header's second column says Gantry).
commands() {
  perl -ne '
    if (/^\|/) {
      my @c = map { s/^\s+|\s+$//gr } split /(?<!\\)\|/, substr($_, 1);
      if (!$in) { $in = 1; $gantry = ($c[1] // "") =~ /gantry/i; next }
      next if $c[0] =~ /^-+$/ || !$gantry;
      my $cell = $c[1] // ""; $cell =~ s/\\\|/|/g;
      print "$.\t$1\n" while $cell =~ /`([^`]+)`/g;
    } else { $in = 0 }' "$1"
}

for doc in slurm-users.md kubernetes-users.md; do
  [ -f "$ROOT/docs/$doc" ]
  ok $? "docs/$doc exists"
  n=0
  while IFS=$'\t' read -r line cmd; do
    case "$cmd" in gantry*) ;; *) continue ;; esac
    n=$((n + 1))
    pending=$(sub --dependency "afterok:$blocker" -l app=demo -- true)
    held=$(sub --hold -l app=demo -- true)
    running=$(sub -l app=demo -- sleep 600)
    array=$(sub --hold --array 0-3 -l app=demo -- true)
    wait_for 30 job_is "$running" running
    c=$(CMD=$cmd A=$array P=$pending H=$held R=$running F=$finished Q=$requeued U=$user perl -e '$_ = $ENV{CMD};
      s/\bARRAY_(\d+)\b/$ENV{A}_$1/g; s/\bARRAY\b/$ENV{A}/g; s/\bPENDING\b/$ENV{P}/g;
      s/\bHELD\b/$ENV{H}/g; s/\bRUNNING\b/$ENV{R}/g; s/\bFINISHED\b/$ENV{F}/g;
      s/\bREQUEUED\b/$ENV{Q}/g; s/\bNODE\b/n1/g; s/\bUSER\b/$ENV{U}/g; print')
    tok=$ALICE
    as_admin "$c" && tok=$ADMIN
    if [[ " $c " == *" -w "* || " $c " == *" --watch "* ]]; then
      GANTRY_TOKEN=$tok timeout 3 bash -c "$c" >"$WORK/out" 2>&1 < /dev/null
      rc=$?; [ "$rc" = 124 ] && [ -s "$WORK/out" ] && rc=0
    else
      GANTRY_TOKEN=$tok timeout 30 bash -c "$c" >"$WORK/out" 2>&1 < /dev/null
      rc=$?
    fi
    ok $rc "$doc:$line: $cmd"
    [ "$rc" = 0 ] || sed 's/^/#   /' "$WORK/out" | head -n 8
    reset
  done < <(commands "$ROOT/docs/$doc")
  [ "$n" -ge 10 ]
  ok $? "docs/$doc: $n commands ran"
done
done_testing
