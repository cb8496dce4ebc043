#!/usr/bin/env bash
# Side by side with Slurm (issue 12): the same batch scripts (tests/peer/scripts: an array with
# a step and a throttle, a 2-node job, a failing job and its afterok / afternotok dependents,
# time limits in Slurm's formats) run under `sbatch` on a private Slurm cluster
# (tests/peer/slurm-cluster: Debian's slurm-wlm, 2 nodes x 2 GPUs) and under `gantry submit` on
# a real server with 2 agents x 2 GPUs. Each job writes what it saw (the SLURM_* values both
# define, its working directory); the test compares the two systems' files and how each job
# ended.
. "$(dirname "$0")/agent-lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" != 0 ] || ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  echo "1..0 # skip needs root and Debian's slurm-wlm and munge (scripts/deps installs them)"
  exit 0
fi

# ---- the two clusters ----
research_cluster
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 2 "$WORK/n1" agent1.log --no-cgroups
run_agent n2 2 "$WORK/n2" agent2.log --no-cgroups
wait_for 30 sh -c "[ \$(grep -c 'registered with epoch' '$WORK/agent1.log' '$WORK/agent2.log' | grep -c ':1') = 2 ]"
ok $? "gantry: a server and two agents (2 GPUs each)"
base=$(free_port)
SL=$WORK/slurm
CLEANUPS+=("'$ROOT/tests/peer/slurm-cluster' stop '$SL'")
conf=$("$ROOT/tests/peer/slurm-cluster" start "$SL" 2 2 "$base" 2>"$WORK/slurm-start.err")
ok $? "slurm: slurmctld and two slurmd (2 GPUs each) on loopback"
[ -n "$conf" ] || { cat "$WORK/slurm-start.err" >&2; echo "Bail out! Slurm did not start"; exit 1; }
eval "$conf"

# Each system submits from a directory named run (the jobs compare its name).
RS=$WORK/slurm-side/run RG=$WORK/gantry-side/run
mkdir -p "$RS" "$RG"
cp "$ROOT"/tests/peer/scripts/*.sh "$RS/"
cp "$ROOT"/tests/peer/scripts/*.sh "$RG/"

# sb SCRIPT [sbatch args...] -- [script args]: submits from run-slurm, prints the job id.
sb() { (cd "$RS" && sbatch --parsable "$@" | cut -d';' -f1); }
# gs ARGS...: gantry submit from run-gantry, prints the (first) job id.
gs() { (cd "$RG" && "$GANTRY" submit --team research "$@" | awk '/^Submitted/ {print $NF ~ /\)$/ ? $(NF-2) : $NF}'); }

# How a job ended, in words both systems share: succeeded, failed (with its exit code),
# cancelled, never (its dependency can never be met), or pending/running (not over yet).
slurm_end() {
  local l
  l=$(scontrol show job "$1" -o 2>/dev/null | head -n 1)
  case "$l" in
    *JobState=COMPLETED*) echo succeeded ;;
    *JobState=FAILED*) echo "failed $(printf '%s' "$l" | sed -n 's/.*ExitCode=\([0-9]*\):.*/\1/p')" ;;
    *JobState=CANCELLED*) echo cancelled ;;
    *Reason=DependencyNeverSatisfied*) echo never ;;
    *JobState=PENDING*) echo pending ;;
    *) echo running ;;
  esac
}
gantry_end() {
  local j
  j=$(api GET "/v1/jobs/$1")
  case "$(printf '%s' "$j" | jget '{state}')" in
    succeeded) echo succeeded ;;
    failed) echo "failed $(printf '%s' "$j" | jget '{exit_code}')" ;;
    cancelled) [ "$(printf '%s' "$j" | jget '{end_reason}')" = dependency_failed ] && echo never || echo cancelled ;;
    *) printf '%s' "$j" | jget '{state}' ;;
  esac
}
over() { case "$1" in pending|running) return 1 ;; esac; return 0; }
slurm_over() { over "$(slurm_end "$1")"; }
gantry_over() { over "$(gantry_end "$1")"; }
# same_seen NAME: the two systems' files NAME are there and equal.
same_seen() {
  local a="$RS/$1" b="$RG/$1"
  if [ -f "$a" ] && [ -f "$b" ] && diff -u "$a" "$b" >"$WORK/diff" 2>&1; then return 0; fi
  echo "# $1:"; sed 's/^/#   /' "$WORK/diff" 2>/dev/null; [ -f "$a" ] || echo "#   missing under slurm"; [ -f "$b" ] || echo "#   missing under gantry"
  return 1
}

# ---- an array: indices 0, 2, 4, at most two at once ----
sa=$(sb array.sh)
ga=$(gs array.sh)
like "$sa/$ga" '^[0-9]+/[0-9]+$' "array.sh is accepted by sbatch ($sa) and gantry submit ($ga)"
wait_for 60 sh -c "[ \$(ls '$RS' | grep -c '^seen-array-') = 3 ]"
ok $? "slurm ran three array tasks"
wait_for 60 sh -c "[ \$(ls '$RG' | grep -c '^seen-array-') = 3 ]"
ok $? "gantry ran three array tasks"
for i in 0 2 4; do
  same_seen "seen-array-$i-0.txt"
  ok $? "array task $i saw the same under both (name, index, nodes, directory, GPUs)"
done
is "$(ls "$RG" | grep '^seen-array-' | sort | tr '\n' ' ')" \
   "$(ls "$RS" | grep '^seen-array-' | sort | tr '\n' ' ')" "the same task indices (0-4:2)"
is "$(api GET "/v1/jobs/$ga" | jget '{time_limit_s}')" \
   "$(scontrol show job "$sa" -o | head -n 1 | sed -n 's/.*TimeLimit=00:\([0-9][0-9]\):00.*/\1/p' | awk '{print $1 * 60}')" \
   "-t 0-0:02 is the same time limit under both"

# ---- a 2-node job: the batch step on the first node ----
sg=$(sb gang.sh)
gg=$(gs gang.sh)
wait_for 60 slurm_over "$sg"
ok $? "slurm ran the 2-node job"
wait_for 60 gantry_over "$gg"
ok $? "gantry ran the 2-node job"
is "$(gantry_end "$gg")" "$(slurm_end "$sg")" "the 2-node job ended the same way"
same_seen "seen-gang-0.txt"
ok $? "its first node saw the same (2 nodes, node id 0, 1 GPU on the node, name, directory)"
is "$(api GET "/v1/jobs/$gg" | jget '{time_limit_s}')" 300 "--time=5:00 (minutes:seconds) is 300 s, as Slurm reads it"

# ---- a failing job and its dependents ----
sf=$(sb fail.sh)
gf=$(gs fail.sh)
sn=$(sb --dependency="afternotok:$sf" after.sh notok)
gn=$(gs --dependency "afternotok:$gf" after.sh notok)
so=$(sb --dependency="afterok:$sf" after.sh ok)
go=$(gs --dependency "afterok:$gf" after.sh ok)
sy=$(sb --dependency="afterany:$sf" after.sh any)
gy=$(gs --dependency "afterany:$gf" after.sh any)
wait_for 60 slurm_over "$sf"; wait_for 60 gantry_over "$gf"
is "$(gantry_end "$gf")" "$(slurm_end "$sf")" "a script that exits 3 fails with exit code 3 under both"
wait_for 60 slurm_over "$sn"; wait_for 60 gantry_over "$gn"
is "$(gantry_end "$gn")" "$(slurm_end "$sn")" "afternotok on it: runs and succeeds under both"
same_seen "seen-notok-0.txt"
ok $? "and saw the same"
wait_for 60 slurm_over "$sy"; wait_for 60 gantry_over "$gy"
is "$(gantry_end "$gy")" "$(slurm_end "$sy")" "afterany on it: runs and succeeds under both"
wait_for 60 slurm_over "$so"; wait_for 60 gantry_over "$go"
is "$(gantry_end "$go")" "$(slurm_end "$so")" "afterok on it: never runs under either"
ok $([ ! -e "$RG/seen-ok-0.txt" ] && [ ! -e "$RS/seen-ok-0.txt" ]; echo $?) "and left nothing behind"
scancel "$so" 2>/dev/null
done_testing
