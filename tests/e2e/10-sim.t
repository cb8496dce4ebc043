#!/usr/bin/env bash
# gantry sim as a user drives it: the table and -o json (every key of the report), figures
# worked out by hand on tiny traces (tests/data/sim/, the reasoning is next to each check),
# determinism, the three trace formats, policy flags, and the errors for bad input (exit 1,
# with the line) and bad usage (exit 2).
set -u
GANTRY=${GANTRY_BIN:-$(dirname "$0")/../../bin/gantry}
ROOT=${GANTRY_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
D=$ROOT/tests/data
S=$D/sim
ONE=$S/one-node.yaml
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gantry-sim.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

n=0 failed=0
ok() { # ok STATUS NAME
  n=$((n + 1))
  if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
is() { # is GOT WANT NAME
  [ "$1" = "$2" ]; ok $? "$3"
  [ "$1" = "$2" ] || printf '#   got:  %s\n#   want: %s\n' "$1" "$2"
}
like() { # like TEXT REGEX NAME
  printf '%s\n' "$1" | grep -Eq -- "$2"; local s=$?
  ok $s "$3"
  [ $s = 0 ] || printf '#   %s\n#   does not match /%s/\n' "$(printf '%s' "$1" | head -c 400)" "$2"
}
# jv FILE EXPR: evaluates the Python expression EXPR with d = the JSON document in FILE.
jv() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>&1; }
# sim OUT ARGS...: runs gantry sim, stdout to OUT, stderr to OUT.err; status in $rc.
sim() { local out=$1; shift; "$GANTRY" sim "$@" >"$out" 2>"$out.err"; rc=$?; }

# ---- every key of the JSON report, with its type --------------------------------------
sim "$WORK/p.json" --config "$ROOT/examples/philly-400.yaml" --trace "$D/philly-head200.csv" -o json
is "$rc" 0 "philly slice, -o json: exit 0"
is "$(jv "$WORK/p.json" '",".join(k for k in ["jobs_total","jobs_completed","makespan_s",
  "gpu_utilization","wait_s","jct_s","teams","jain_fairness","preemptions",
  "unallocated_gpus_peak","sim_wall_s","decisions_per_s"] if k not in d)')" "" \
  "json has every key the issue names"
is "$(jv "$WORK/p.json" '[sorted(d[k]) for k in ("wait_s","jct_s")]')" \
  "[['mean', 'p50', 'p95', 'p99'], ['mean', 'p50', 'p95', 'p99']]" "wait_s and jct_s: mean, p50, p95, p99"
is "$(jv "$WORK/p.json" 'all(sorted(set(t) & {"gpu_hours","share","wait_mean_s"}) == ["gpu_hours","share","wait_mean_s"] for t in d["teams"].values())')" \
  True "each team has gpu_hours, share, wait_mean_s"
is "$(jv "$WORK/p.json" '(d["jobs_total"], d["jobs_completed"], len(d["teams"]))')" "(200, 200, 15)" \
  "philly slice: 200 jobs, all completed, the config's 15 teams"
is "$(jv "$WORK/p.json" 'all(isinstance(d[k], int) for k in ("jobs_total","jobs_completed","makespan_s","preemptions"))')" \
  True "counts and makespan are integers"
is "$(jv "$WORK/p.json" '0 < d["gpu_utilization"] <= 1 and 0 < d["jain_fairness"] <= 1')" True \
  "utilization and Jain index in (0, 1]"
is "$(jv "$WORK/p.json" 'd["wait_s"]["p50"] <= d["wait_s"]["p95"] <= d["wait_s"]["p99"] and d["jct_s"]["p50"] <= d["jct_s"]["p95"] <= d["jct_s"]["p99"]')" \
  True "percentiles are ordered"
is "$(jv "$WORK/p.json" 'round(sum(t["share"] for t in d["teams"].values()), 2)')" 1.0 "team shares add up to 1"
is "$(jv "$WORK/p.json" 'd["sim_wall_s"] >= 0 and d["decisions_per_s"] > 0')" True "timing figures present"
# the slice's true GPU-hours: the simulator must account for every job's GPU time
want=$(awk -F, 'NR > 1 { s += $4 * $5 } END { printf "%.1f", s / 3600 }' "$D/philly-head200.csv")
is "$(jv "$WORK/p.json" 'abs(sum(t["gpu_hours"] for t in d["teams"].values()) - '"$want"') < 1')" True \
  "GPU-hours over teams = sum of gpus*duration of the slice ($want, to 1 h)"
is "$(jv "$WORK/p.json" 'd["oracle"]')" True "no time limits in the trace: oracle"

# ---- the table ------------------------------------------------------------------------
sim "$WORK/p.txt" --config "$ROOT/examples/philly-400.yaml" --trace "$D/philly-head200.csv"
is "$rc" 0 "table: exit 0"
t=$(cat "$WORK/p.txt")
like "$t" '^policy +fairshare=on quotas=on backfill=on preemption=on$' "table: policy line"
like "$t" '^jobs +200 total, 200 completed' "table: jobs line"
like "$t" '^makespan +[0-9dhms]+ on 400 GPUs$' "table: makespan on 400 GPUs"
like "$t" '^wait +mean .* p50 .* p95 .* p99 ' "table: wait distribution"
like "$t" '^completion +mean .* p50 .* p95 .* p99 ' "table: completion distribution"
like "$t" '^fairness +Jain 0\.[0-9]{3} .*; [0-9]+ preemptions$' "table: fairness and preemptions"
like "$t" '^speed +[0-9.]+ s wall' "table: speed line"
like "$t" '^TEAM +GPU-HOURS +SHARE +MEAN WAIT +JOBS( |$)' "table: team header"
like "$t" '^vc-6214e9 +[0-9.]+ +[0-9.]+% ' "table: a team row"
like "$t" 'oracle' "table: says the scheduler planned with true durations"
is "$(grep -c '^vc-' "$WORK/p.txt")" 15 "table: one row per team"

# ---- determinism ----------------------------------------------------------------------
for o in json table; do
  sim "$WORK/d1.$o" --config "$ROOT/examples/philly-400.yaml" --trace "$D/philly-head200.csv" -o $o --no-timing
  sim "$WORK/d2.$o" --config "$ROOT/examples/philly-400.yaml" --trace "$D/philly-head200.csv" -o $o --no-timing
  cmp -s "$WORK/d1.$o" "$WORK/d2.$o"; ok $? "philly slice, -o $o --no-timing: two runs byte-identical"
done
like "$(cat "$WORK/d1.table")" '^policy' "--no-timing table is not empty"
is "$(grep -c 'speed' "$WORK/d1.table")" 0 "--no-timing: no speed line in the table"
is "$(jv "$WORK/d1.json" '"sim_wall_s" in d or "decisions_per_s" in d')" False "--no-timing: no wall-clock keys in json"
o1="--config $ROOT/examples/alibaba-openb.yaml --nodes-format alibaba-openb --nodes $D/openb-nodes-head200.csv --trace $D/openb-pods-head200.csv -o json --no-timing"
sim "$WORK/a1.json" $o1
sim "$WORK/a2.json" $o1
cmp -s "$WORK/a1.json" "$WORK/a2.json"; ok $? "alibaba slice: two runs byte-identical"

# ---- hand-worked: fair share vs FIFO (fairshare.csv, one node of 8 GPUs) ---------------
# a1 (8 GPUs, 100 s) runs 0-100. a2 (8, submitted 10) and b3 (8, submitted 20) wait.
# FIFO: a2 100-200, b3 200-300: waits 0, 90, 180. Fair share: at 100, team a has used the
# cluster and b has not, so b3 goes first (100-200) and a2 after (200-300): waits 0, 190, 80.
# Either way the makespan is 300 and the node is always full: utilization 1.
sim "$WORK/fs.json" --config "$ONE" --trace "$S/fairshare.csv" -o json --no-timing
is "$(jv "$WORK/fs.json" '(d["makespan_s"], d["gpu_utilization"])')" "(300, 1.0)" "fairshare: makespan 300, utilization 1"
is "$(jv "$WORK/fs.json" '(d["teams"]["a"]["wait_mean_s"], d["teams"]["b"]["wait_mean_s"])')" "(95.0, 80.0)" \
  "fairshare: b goes before a's second job (team waits a 95, b 80)"
is "$(jv "$WORK/fs.json" 'd["wait_s"]')" "{'mean': 90.0, 'p50': 80.0, 'p95': 190.0, 'p99': 190.0}" "fairshare: wait distribution"
is "$(jv "$WORK/fs.json" 'd["jct_s"]')" "{'mean': 190.0, 'p50': 180.0, 'p95': 290.0, 'p99': 290.0}" "fairshare: JCT distribution"
# gpu-hours: a 1600 GPU-s = 0.4 h (share 2/3), b 800 GPU-s = 0.2 h (1/3)
is "$(jv "$WORK/fs.json" '[(t["gpu_hours"], t["share"]) for t in d["teams"].values()]')" "[(0.4, 0.6667), (0.2, 0.3333)]" \
  "fairshare: gpu_hours and share per team"
# service rate = run time / completion time per job, averaged per team: a (1 + 100/190)/2,
# b 100/180; Jain = (x+y)^2 / (2 (x^2+y^2)) = 0.991
is "$(jv "$WORK/fs.json" 'd["jain_fairness"]')" 0.991 "fairshare: Jain index 0.991"
sim "$WORK/fifo.json" --config "$ONE" --trace "$S/fairshare.csv" -o json --no-timing --no-fairshare --no-backfill
is "$(jv "$WORK/fifo.json" '(d["teams"]["a"]["wait_mean_s"], d["teams"]["b"]["wait_mean_s"])')" "(45.0, 180.0)" \
  "FIFO: jobs in submit order (team waits a 45, b 180)"
is "$(jv "$WORK/fifo.json" '(d["policy"]["fairshare"], d["policy"]["backfill"], d["policy"]["quotas"], d["policy"]["preemption"])')" \
  "(False, False, True, True)" "FIFO flags reported in the policy"
is "$(jv "$WORK/fifo.json" 'd["jain_fairness"]')" 0.8839 "FIFO: Jain index 0.8839 (b waits twice as long)"

# ---- hand-worked: backfill (backfill.csv, quotas off so only capacity counts) ------------
# a1 4 GPUs 0-100; a2 needs all 8 at 10: reserved for t=100; a3 (2 GPUs, 60 s, at 20) ends at
# 80 < 100: backfilled; a4 (2 GPUs, 200 s, at 30) would still run at 100: waits.
# Backfill: a2 100-150, a4 150-350: waits 0, 90, 0, 120 (mean 52.5), JCT 100, 140, 60, 320.
# Without backfill a3 waits behind a2 too: a3 150-210, a4 150-350: waits 0, 90, 130, 120.
# GPU-time 400+400+120+400 = 1320 GPU-s over 8 GPUs x 350 s: utilization 0.4714.
sim "$WORK/bf.json" --config "$ONE" --trace "$S/backfill.csv" -o json --no-timing --no-quotas
is "$(jv "$WORK/bf.json" '(d["makespan_s"], d["gpu_utilization"])')" "(350, 0.4714)" "backfill: makespan 350, utilization 0.4714"
is "$(jv "$WORK/bf.json" 'd["wait_s"]')" "{'mean': 52.5, 'p50': 0.0, 'p95': 120.0, 'p99': 120.0}" "backfill: a3 starts early, waits"
is "$(jv "$WORK/bf.json" 'd["jct_s"]')" "{'mean': 155.0, 'p50': 100.0, 'p95': 320.0, 'p99': 320.0}" "backfill: JCT"
# while a2 waited (10-100) 4 GPUs were free at 10-20 and 2 from 20 to 30... then 0; peak 4
is "$(jv "$WORK/bf.json" 'd["unallocated_gpus_peak"]')" 4.0 "backfill: 4 GPUs idle at most while jobs waited"
sim "$WORK/nobf.json" --config "$ONE" --trace "$S/backfill.csv" -o json --no-timing --no-quotas --no-backfill
is "$(jv "$WORK/nobf.json" 'd["wait_s"]')" "{'mean': 85.0, 'p50': 90.0, 'p95': 130.0, 'p99': 130.0}" "no backfill: a3 waits behind a2"
is "$(jv "$WORK/nobf.json" '(d["policy"]["backfill"], d["policy"]["quotas"])')" "(False, False)" "--no-backfill --no-quotas reported"
sim "$WORK/nobf.txt" --config "$ONE" --trace "$S/backfill.csv" --no-timing --no-quotas --no-backfill
like "$(cat "$WORK/nobf.txt")" '^policy +fairshare=on quotas=off backfill=off preemption=on$' "table reports the policy flags"
like "$(cat "$WORK/nobf.txt")" '^wait +mean 1m25s +p50 1m30s +p95 2m10s +p99 2m10s$' "table: waits as durations"

# ---- hand-worked: a team's limit (the same trace, quotas on: a has quota 4, limit 8) -----
# a2 asks 8 GPUs while a holds 4 (a1): 12 > limit 8, so a2 waits for its own team, holds no
# reservation, and a3, a4 (a at 6, then 8) start at once. a2 runs when a holds nothing:
# 230-280. Waits 0, 220, 0, 0.
sim "$WORK/lim.json" --config "$ONE" --trace "$S/backfill.csv" -o json --no-timing
is "$(jv "$WORK/lim.json" '(d["makespan_s"], d["wait_s"]["mean"], d["wait_s"]["p99"])')" "(280, 55.0, 220.0)" \
  "limit: the 8-GPU job waits until its team holds nothing"

# ---- hand-worked: quota reclaim by preemption (reclaim.csv) ------------------------------
# a1 takes all 8 GPUs for 1000 s (4 of them borrowed); b2 asks its 4 guaranteed at 100. a1
# (run 100 s > min_runtime 50 s) is preempted, checkpoints within the 10 s grace period and
# stops at 110; b2 runs 110-210; a1 resumes its remaining 890 s at 210 and ends at 1100.
sim "$WORK/rc.json" --config "$ONE" --trace "$S/reclaim.csv" -o json --no-timing
is "$(jv "$WORK/rc.json" '(d["preemptions"], d["makespan_s"])')" "(1, 1100)" "reclaim: one preemption, makespan 1100"
# (a1's wait counts to its last start: it waited again 110-210 after its preemption)
is "$(jv "$WORK/rc.json" '(d["teams"]["a"]["wait_mean_s"], d["teams"]["b"]["wait_mean_s"])')" "(100.0, 10.0)" \
  "reclaim: b waits only the grace period; a1 waits 100 s again after it"
is "$(jv "$WORK/rc.json" 'd["jct_s"]')" "{'mean': 605.0, 'p50': 110.0, 'p95': 1100.0, 'p99': 1100.0}" \
  "reclaim: the preempted job loses no work (ends at 1100)"
# GPU-s: 8x110 + 4x100 + 8x890 = 8400 over 8 x 1100
is "$(jv "$WORK/rc.json" 'd["gpu_utilization"]')" 0.9545 "reclaim: utilization 0.9545"
is "$(jv "$WORK/rc.json" 'd["unallocated_gpus_peak"]')" 4.0 "reclaim: 4 GPUs idle while a1 waits for 8"
for f in --no-preemption --no-quotas; do
  sim "$WORK/np.json" --config "$ONE" --trace "$S/reclaim.csv" -o json --no-timing $f
  is "$(jv "$WORK/np.json" '(d["preemptions"], d["teams"]["b"]["wait_mean_s"])')" "(0, 900.0)" \
    "$f: no preemption, b waits for a1 to end"
done

# ---- slurm-sacct (sacct.txt) -------------------------------------------------------------
# Job 10 (a, 8 GPUs, 1 h) and 11 (b, 4 GPUs, 30 min, submitted 10 min later); the step, the
# job never started, the one still running and the one without GPUs are skipped.
# Without preemption: 11 waits 50 min (3000 s): makespan 5400, 36000 GPU-s of 43200.
sim "$WORK/sa.json" --config "$ONE" --trace "$S/sacct.txt" --trace-format slurm-sacct -o json --no-timing --no-preemption
is "$rc" 0 "sacct: exit 0"
is "$(jv "$WORK/sa.json" '(d["jobs_total"], d["makespan_s"], d["gpu_utilization"], d["wait_s"]["mean"])')" \
  "(2, 5400, 0.8333, 1500.0)" "sacct: 2 jobs, makespan 5400, utilization 0.8333, mean wait 1500"
is "$(jv "$WORK/sa.json" '(d["teams"]["a"]["gpu_hours"], d["teams"]["b"]["gpu_hours"])')" "(8.0, 2.0)" \
  "sacct: Account is the team; GPU-hours 8 and 2"
is "$(jv "$WORK/sa.json" 'd["oracle"]')" False "sacct: Timelimit given, so no oracle"
like "$(jv "$WORK/sa.json" 'd["notes"]')" '1 job steps.*1 jobs never started.*1 jobs still running.*1 jobs without GPUs' \
  "sacct: skipped rows counted in the notes"
# With preemption (the default), b reclaims its quota 10 min in: 10 stops at 610 s, 11 runs
# 610-2410, 10 resumes its remaining 2990 s: 2410-5400.
sim "$WORK/sp.json" --config "$ONE" --trace "$S/sacct.txt" --trace-format slurm-sacct -o json --no-timing
is "$(jv "$WORK/sp.json" '(d["preemptions"], d["makespan_s"], d["jct_s"]["mean"])')" "(1, 5400, 3605.0)" \
  "sacct with preemption: 1 preemption, makespan 5400, mean JCT 3605"
# the format is guessed from the header too
sim "$WORK/sg.json" --config "$ONE" --trace "$S/sacct.txt" -o json --no-timing --no-preemption
cmp -s "$WORK/sa.json" "$WORK/sg.json"; ok $? "sacct: format guessed from the header gives the same result"

# ---- alibaba-openb (openb-pods.csv on openb-nodes.csv: one T4) ---------------------------
# Two half-GPU tasks share the T4 for 100 s; the whole-GPU task waits for them: 100-150.
# GPU time 0.5x100x2 + 50 = 150 over 1 GPU x 150 s: utilization 1.
o2="--config $ROOT/examples/alibaba-openb.yaml --nodes-format alibaba-openb --nodes $S/openb-nodes.csv"
sim "$WORK/ob.json" $o2 --trace "$S/openb-pods.csv" --trace-format alibaba-openb -o json --no-timing
is "$rc" 0 "alibaba-openb: exit 0"
is "$(jv "$WORK/ob.json" '(d["jobs_total"], d["capacity_gpus"], d["makespan_s"], d["gpu_utilization"])')" "(4, 1, 150, 1.0)" \
  "alibaba-openb: fractions share one GPU (makespan 150, utilization 1); the CPU-only task is a job"
is "$(jv "$WORK/ob.json" '(d["teams"]["LS"]["wait_mean_s"], d["teams"]["BE"]["wait_mean_s"])')" "(0.0, 50.0)" \
  "alibaba-openb: qos is the team; the whole-GPU task waits 100 s, the CPU-only one none (BE mean 50)"
like "$(jv "$WORK/ob.json" 'd["notes"]')" 'Skipped: 1 tasks never scheduled\.' "alibaba-openb: skipped tasks counted (CPU-only tasks are not skipped)"
# the slices of the real trace: jobs = tasks that were scheduled (CPU-only ones included)
want=$(awk -F, 'NR > 1 && $11 != "" { n++ } END { print n }' "$D/openb-pods-head200.csv")
is "$(jv "$WORK/a1.json" '(d["jobs_total"], d["jobs_completed"])')" "($want, $want)" "alibaba slice: $want tasks, all completed"
want=$(awk -F, 'NR > 1 { s += $4 } END { print s }' "$D/openb-nodes-head200.csv")
is "$(jv "$WORK/a1.json" 'int(d["capacity_gpus"])')" "$want" "alibaba slice: capacity from the node list ($want GPUs)"

# ---- bad input: exit 1, a message naming the line -------------------------------------
bad() { # bad FILE REGEX NAME [ARGS...]
  local f=$1 re=$2 name=$3; shift 3
  sim "$WORK/bad.out" --config "$ONE" --trace "$f" "$@"
  is "$rc" 1 "$name: exit 1"
  like "$(cat "$WORK/bad.out.err")" "$re" "$name: message"
  is "$(wc -c < "$WORK/bad.out")" 0 "$name: nothing on stdout"
}
printf 'id,submit,team,gpus,duration\n1,0,a,1,10\n2,5,a,x,10\n' > "$WORK/gpus.csv"
bad "$WORK/gpus.csv" "^gantry sim: .*gpus.csv: line 3, column gpus: 'x' is not a whole number" "csv: bad gpus"
printf 'id,submit,team,gpus,duration\n1,0,a,1,10\n\n2,5,a,1,forever\n' > "$WORK/dur.csv"
bad "$WORK/dur.csv" "line 4, column duration: 'forever' is not a duration; write seconds" "csv: bad duration (line counted past a blank line)"
printf 'id,submit,team,gpus,duration\n1,0,a,1,10\n2,5,a,1\n' > "$WORK/short.csv"
bad "$WORK/short.csv" 'line 3 has 4 fields; the header has 5' "csv: short row"
printf 'id,submit,team,gpus,duration,colour\n1,0,a,1,10,red\n' > "$WORK/col.csv"
bad "$WORK/col.csv" "line 1: unknown column 'colour'" "csv: unknown column"
printf 'id,submit,team,gpus,duration,priority\n1,0,a,1,10,normal\n2,0,a,1,10,vip\n' > "$WORK/prio.csv"
bad "$WORK/prio.csv" "line 3: priority class 'vip' is not in the config" "csv: unknown priority class"
{ head -2 "$S/sacct.txt"; echo '15|x|a|2024-13-01T10:00:00|2024-05-01T10:00:00|2024-05-01T11:00:00|gres/gpu=1|01:00:00|COMPLETED'; } > "$WORK/bad.sacct"
bad "$WORK/bad.sacct" "line 3, column Submit: '2024-13-01T10:00:00' is not a time" "sacct: bad date" --trace-format slurm-sacct
{ head -2 "$S/sacct.txt"; echo '16|x|a|2024-05-01T10:00:00|2024-05-01T10:00:00|2024-05-01T11:00:00|gres/gpu=1|soon|COMPLETED'; } > "$WORK/lim.sacct"
bad "$WORK/lim.sacct" "line 3, column Timelimit: 'soon' is not a time limit" "sacct: bad time limit"
{ head -3 "$S/openb-pods.csv"; echo 'bad,4000,8192,1,1000,,LS,Succeeded,0,-5x,0'; } > "$WORK/bad-pods.csv"
bad "$WORK/bad-pods.csv" "line 4, column deletion_time" "alibaba-openb: bad deletion_time" --trace-format alibaba-openb
bad "$WORK/missing.csv" "cannot read .*missing.csv" "missing trace file"
printf 'nodes:\n  - {name: n, gpus: 8, gpu_type: V100, colour: red}\n' > "$WORK/bad.yaml"
sim "$WORK/bad.out" --config "$WORK/bad.yaml" --trace "$S/fairshare.csv"
is "$rc" 1 "config with an unknown key: exit 1"
like "$(cat "$WORK/bad.out.err")" "bad.yaml: line 2: unknown key 'colour'" "config: message names the line and key"
printf 'sn,cpu_milli,memory_mib,gpu,model\nnode-1,32000,131072,two,T4\n' > "$WORK/bad-nodes.csv"
sim "$WORK/bad.out" $o2 --nodes "$WORK/bad-nodes.csv" --trace "$S/openb-pods.csv"
is "$rc" 1 "bad node list: exit 1"
like "$(cat "$WORK/bad.out.err")" "line 2, column gpu: 'two'" "bad node list: message names the line and column"
sim "$WORK/bad.out" --config "$ROOT/examples/alibaba-openb.yaml" --trace "$S/openb-pods.csv"
is "$rc" 1 "config without nodes and no --nodes: exit 1"
like "$(cat "$WORK/bad.out.err")" 'no nodes.*--nodes' "no nodes: says to give --nodes"

# a job bigger than the cluster is reported, not hung on
printf 'id,submit,team,gpus,duration\n1,0,a,64,10\n2,0,a,1,10\n' > "$WORK/huge.csv"
sim "$WORK/huge.json" --config "$ONE" --trace "$WORK/huge.csv" -o json --no-timing
is "$(jv "$WORK/huge.json" '(d["jobs_completed"], d["jobs_never_fit"])')" "(1, 1)" "a 64-GPU job on 8 GPUs never fits; the other completes"

# ---- usage errors: exit 2 ----------------------------------------------------------------
usage() { # usage REGEX NAME ARGS...
  local re=$1 name=$2; shift 2
  sim "$WORK/u.out" "$@"
  is "$rc" 2 "usage: $name: exit 2"
  like "$(cat "$WORK/u.out.err")" "$re" "usage: $name: message"
}
usage '--config and --trace are required' "no arguments"
usage '--config and --trace are required' "no --trace" --config "$ONE"
usage '-o takes json or table' "-o xml" --config "$ONE" --trace "$S/fairshare.csv" -o xml
usage 'unexpected argument' "extra argument" --config "$ONE" --trace "$S/fairshare.csv" extra
usage "unrecognized option '--bogus'" "unknown option" --config "$ONE" --trace "$S/fairshare.csv" --bogus
usage "--reservations: 'abc' is not an integer" "--reservations abc" --config "$ONE" --trace "$S/fairshare.csv" --reservations abc
usage "unknown --trace-format 'parquet'" "unknown trace format" --config "$ONE" --trace "$S/fairshare.csv" --trace-format parquet
usage "unknown --nodes-format 'xml'" "unknown nodes format" --config "$ONE" --trace "$S/fairshare.csv" --nodes x --nodes-format xml
usage "^gantry sim: unrecognized option" "getopt messages name the command" --config "$ONE" --trace "$S/fairshare.csv" --bogus
sim "$WORK/h.out" --help
is "$rc" 0 "--help: exit 0"
like "$(cat "$WORK/h.out")" '^usage: gantry sim --config' "--help prints the usage on stdout"
for f in --no-fairshare --no-quotas --no-backfill --no-preemption --no-timing --trace-format --nodes-format; do
  grep -q -- "$f" "$WORK/h.out"; ok $? "--help lists $f"
done
# --reservations reaches the policy
sim "$WORK/r.json" --config "$ONE" --trace "$S/fairshare.csv" -o json --no-timing --reservations 3
is "$(jv "$WORK/r.json" 'd["policy"]["reservations"]')" 3 "--reservations 3 reported in the policy"

echo "1..$n"
[ "$failed" = 0 ]
