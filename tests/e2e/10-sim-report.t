#!/usr/bin/env bash
# gantry sim's report of what matters (issue 10 item 6), on tiny traces whose answers are worked
# out by hand next to each check: per team guarantee attainment (within-quota demand served
# within the grace period), time lost to preemption (requeued wait, lost work), wait counted to
# the last start, the per-job CSV (--jobs-out), and the honest FIFO baseline (--policy fifo).
set -u
GANTRY=${GANTRY_BIN:-$(dirname "$0")/../../bin/gantry}
ROOT=${GANTRY_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
S=$ROOT/tests/data/sim
ONE=$S/one-node.yaml
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gantry-sim-report.XXXXXX")
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
  [ $s = 0 ] || printf '#   %s\n#   does not match /%s/\n' "$(printf '%s' "$1" | head -c 600)" "$2"
}
jv() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>&1; }
sim() { local out=$1; shift; "$GANTRY" sim "$@" >"$out" 2>"$out.err"; rc=$?; }

# ---- report.csv on one node of 8 GPUs; teams a and b have 4 guaranteed each (limit 8), grace
# 10 s, minimum runtime 50 s (tests/data/sim/one-node.yaml) ----------------------------------
# 1 a 8 GPUs 1000 s at 0 (4 of them borrowed): runs from 0.
# 2 b 4 GPUs 100 s at 100, within b's quota: reclaims job 1 (100 s old >= 50); 1 stops at 110
#   (grace 10); 2 runs 110-210: it waited 10 s = the grace period: served in time.
#   1 waits again 110-210 (requeued wait 100) and resumes its 890 s: 210-1100.
# 3 a 8 GPUs 500 s at 1100, class high (not preemptible): 1100-1600 (4 GPUs borrowed).
# 4 b 4 GPUs 100 s at 1200, within b's quota, but 3 may not be preempted: 1600-1700, waited
#   400 s > 10: late.
# 5 b 16 GPUs at 1300: never fits (16 > 8), b's demand 4 + 16 > quota: not within quota.
# Team b: within-quota GPUs 4 (in time) + 4 (late): attainment 0.5. Team a: never within its
# quota (8 > 4): no attainment (null).
# Waits to the last start: 100, 10, 0, 400 (mean 127.5, p50 10); first waits 0, 10, 0, 400
# (mean 102.5, p50 0).
sim "$WORK/r.json" --config "$ONE" --trace "$S/report.csv" -o json --no-timing --jobs-out "$WORK/r.csv"
is "$rc" 0 "report: exit 0"
is "$(jv "$WORK/r.json" '(d["jobs_completed"], d["jobs_never_fit"], d["makespan_s"], d["preemptions"])')" \
  "(4, 1, 1700, 1)" "report: 4 jobs end, 1 never fits, makespan 1700, one preemption"
is "$(jv "$WORK/r.json" 'd["wait_s"]')" "{'mean': 127.5, 'p50': 10.0, 'p95': 400.0, 'p99': 400.0}" \
  "wait_s counts to the last start: job 1's requeued 100 s included"
is "$(jv "$WORK/r.json" 'd["first_wait_s"]')" "{'mean': 102.5, 'p50': 0.0, 'p95': 400.0, 'p99': 400.0}" \
  "first_wait_s keeps submission to the first start"
is "$(jv "$WORK/r.json" '(d["teams"]["a"]["wait_mean_s"], d["teams"]["b"]["wait_mean_s"])')" "(50.0, 205.0)" \
  "team mean waits count to the last start (a: (100 + 0)/2, b: (10 + 400)/2)"
is "$(jv "$WORK/r.json" 'd["teams"]["b"]["guarantee_attainment"]')" 0.5 \
  "b: half of its within-quota GPUs started within the grace period"
is "$(jv "$WORK/r.json" '(d["teams"]["b"]["guarantee_jobs"], d["teams"]["b"]["guarantee_late"], d["teams"]["b"]["quota_gpus"])')" \
  "(2, 1, 4)" "b: 2 within-quota jobs, 1 late, quota 4"
is "$(jv "$WORK/r.json" '(d["teams"]["a"]["guarantee_attainment"], d["teams"]["a"]["guarantee_jobs"])')" "(None, 0)" \
  "a: never within its quota: attainment null"
is "$(jv "$WORK/r.json" 'd["guarantee_attainment_min"]')" 0.5 "the lowest team's attainment: 0.5"
is "$(jv "$WORK/r.json" 'd["teams"]["a"]["preempted"]')" "{'count': 1, 'requeued_wait_s': 100.0, 'lost_gpu_s': 0.0}" \
  "a: preempted once, waited 100 s in the queue again, no work lost (checkpoint at stop)"
is "$(jv "$WORK/r.json" 'd["teams"]["b"]["preempted"]')" "{'count': 0, 'requeued_wait_s': 0.0, 'lost_gpu_s': 0.0}" \
  "b: never preempted"
is "$(jv "$WORK/r.json" '(d["requeued_wait_s"], d["lost_gpu_s"], d["checkpoint_every_s"])')" "(100.0, 0.0, 0)" \
  "totals: 100 s requeued, no work lost, no checkpoint interval"
is "$(jv "$WORK/r.json" 'd["policy"]["name"]')" config "the policy is the config's"
# What woke the scheduler for each pass: submissions at 0, 100, 1100 (job 1 ends then too),
# 1200, 1300; ends or stops at 110 (1 stops), 210, 1600, 1700 (job 1's first end, at 1000, is
# stale: it was preempted; no pass); a follow-up a second after each deciding pass while jobs
# wait (101: 2 waits for 1 to stop; 111: 1 waits; 1601: 5 never fits); 1's backoff (60 s from
# the reclaim at 100) ends at 160 while it waits. 13 in all, each run (none skipped).
is "$(jv "$WORK/r.json" '(d["passes_by_cause"], d["cycles"], d["quiet_cycles"])')" \
  "({'submission': 5, 'end': 4, 'min_runtime': 0, 'backoff': 1, 'expected_end': 0, 'follow_up': 3, 'maintenance': 0}, 13, 0)" \
  "passes_by_cause: 5 submissions, 4 ends, 3 follow-ups, 1 backoff; no pass for the stale end"
is "$(cat "$WORK/r.csv")" "id,team,class,gpus,submit,first_start,last_start,end,wait_s,jct_s,preemptions,lost_gpu_s
1,a,normal,8,0,0,210,1100,100,1100,1,0.0
2,b,normal,4,100,110,110,210,10,110,0,0.0
3,a,high,8,1100,1100,1100,1600,0,500,0,0.0
4,b,normal,4,1200,1600,1600,1700,400,500,0,0.0
5,b,normal,16,1300,,,,,,0,0.0" "--jobs-out: one CSV line per job; what never happened is empty"
sim "$WORK/r.txt" --config "$ONE" --trace "$S/report.csv" --no-timing
t=$(cat "$WORK/r.txt")
like "$t" '^wait +mean 2m8s +p50 10s +p95 6m40s +p99 6m40s$' "table: wait to the last start"
like "$t" '^first wait +mean 1m43s +p50 0s +p95 6m40s +p99 6m40s$' "table: first wait"
like "$t" '^preempted +requeued jobs waited 1m40s in all; 0\.0 GPU-hours of work lost$' "table: time lost to preemption"
like "$t" '^guarantee +lowest team: 50\.0% of its within-quota GPUs started within the 10s grace period$' "table: guarantee line"
like "$t" '^passes +13 run, 0 skipped; woken by submissions 5, ends 4, follow-ups 3, minimum runtimes 0, backoffs 1, expected ends 0, maintenance windows 0$' "table: passes by cause"
like "$t" '^TEAM +GPU-HOURS +SHARE +MEAN WAIT +JOBS +QUOTA +GUARANTEE +PREEMPTED +REQUEUED +LOST GPU-H$' "table: team header"
like "$t" '^b +[0-9.]+ +[0-9.]+% +3m25s +3 +4 +50\.0% +0 +0s +0\.0$' "table: b's row"
like "$t" '^a +[0-9.]+ +[0-9.]+% +50s +2 +4 +- +1 +1m40s +0\.0$' "table: a's row (no attainment: -)"

# ---- within quota counts the team's unended jobs before it -----------------------------------
# 1 a 8 GPUs high (not preemptible) 0-1000. 2 b 4 GPUs at 10: within b's quota (0 + 4), waits
# to 1000: late. 3 b 4 GPUs at 20: b's job 2 is pending, 4 + 4 > 4: not within quota. Both run
# 1000-1100. 4 b 4 GPUs at 1200: b's jobs have ended, 0 + 4: within quota, starts at once.
printf 'id,submit,team,gpus,duration,priority\n1,0,a,8,1000,high\n2,10,b,4,100,normal\n3,20,b,4,100,normal\n4,1200,b,4,100,normal\n' > "$WORK/quota.csv"
sim "$WORK/q.json" --config "$ONE" --trace "$WORK/quota.csv" -o json --no-timing
is "$(jv "$WORK/q.json" '[d["teams"]["b"][k] for k in ("guarantee_jobs", "guarantee_late", "guarantee_attainment")]')" \
  "[2, 1, 0.5]" "within quota: a pending job of the team counts; an ended one no longer does"

# ---- lost work: --checkpoint-every 30s on reclaim.csv ---------------------------------------
# a1 (8 GPUs, 1000 s) is reclaimed at 100 and stops at 110 after 110 s of running: its last
# checkpoint was at 90 s, so 20 s x 8 GPUs = 160 GPU-s are lost and 910 s remain; b2 runs
# 110-210, a1 resumes 210-1120.
sim "$WORK/c.json" --config "$ONE" --trace "$S/reclaim.csv" -o json --no-timing --checkpoint-every 30s --jobs-out "$WORK/c.csv"
is "$rc" 0 "checkpoint: exit 0"
is "$(jv "$WORK/c.json" '(d["teams"]["a"]["preempted"], d["lost_gpu_s"], d["checkpoint_every_s"], d["makespan_s"])')" \
  "({'count': 1, 'requeued_wait_s': 100.0, 'lost_gpu_s': 160.0}, 160.0, 30, 1120)" \
  "checkpoint every 30 s: 160 GPU-s lost, done again (the job ends at 1120, not 1100)"
is "$(sed -n 2p "$WORK/c.csv")" "1,a,normal,8,0,0,210,1120,100,1120,1,160.0" "checkpoint: the job's CSV line"
# GPU-s allocated: 8x110 + 4x100 + 8x910 = 8560 over 8 x 1120
is "$(jv "$WORK/c.json" 'd["gpu_utilization"]')" 0.9554 "checkpoint: the redone work is allocated GPU time"

# ---- the honest FIFO baseline ----------------------------------------------------------------
# One queue by submission time, one tier (job 3's class high is not used), no preemption, no
# quotas, no backfill: 1 runs 0-1000; 2 waits for it, 1000-1100; 3 1100-1600; 4 1600-1700.
# Waits 0, 900, 0, 400; b's within-quota jobs 2 and 4 are both late: attainment 0.
sim "$WORK/f.json" --config "$ONE" --trace "$S/report.csv" -o json --no-timing --policy fifo --jobs-out "$WORK/f.csv"
is "$rc" 0 "fifo: exit 0"
is "$(jv "$WORK/f.json" 'd["policy"]')" \
  "{'name': 'fifo', 'fairshare': False, 'half_life_s': 604800, 'quotas': False, 'backfill': False, 'reservations': 0, 'preemption': False, 'grace_s': 10, 'min_runtime_s': 50, 'reclaim_min_runtime_s': 10, 'order': 'fifo', 'placement': 'bestfit'}" \
  "fifo: the report names the policy; fair share, quotas, backfill, reservations, preemption off; FIFO order"
is "$(jv "$WORK/f.json" '(d["preemptions"], d["makespan_s"], d["wait_s"]["mean"], d["teams"]["b"]["guarantee_attainment"])')" \
  "(0, 1700, 325.0, 0.0)" "fifo: no preemption, job 2 waits for job 1: b's guarantee 0"
is "$(cat "$WORK/f.csv")" "id,team,class,gpus,submit,first_start,last_start,end,wait_s,jct_s,preemptions,lost_gpu_s
1,a,normal,8,0,0,0,1000,0,1000,0,0.0
2,b,normal,4,100,1000,1000,1100,900,1000,0,0.0
3,a,normal,8,1100,1100,1100,1600,0,500,0,0.0
4,b,normal,4,1200,1600,1600,1700,400,500,0,0.0
5,b,normal,16,1300,,,,,,0,0.0" "fifo: every job in submission order, in one class"
sim "$WORK/f.txt" --config "$ONE" --trace "$S/report.csv" --no-timing --policy fifo
like "$(cat "$WORK/f.txt")" '^policy +fifo: one queue by submission time, nothing else$' "fifo: the table names it"
# FIFO means no job passes an earlier one: without --policy fifo, --no-fairshare --no-backfill
# still lets the high job 3 go first by its tier and preempt
printf 'id,submit,team,gpus,duration,priority\n1,0,a,8,100,normal\n2,10,b,8,100,normal\n3,20,a,8,100,high\n' > "$WORK/tier.csv"
sim "$WORK/t.csv.json" --config "$ONE" --trace "$WORK/tier.csv" -o json --no-timing --policy fifo --jobs-out "$WORK/t.csv"
is "$(cut -d, -f1,6 "$WORK/t.csv" | tail -3 | paste -sd' ')" "1,0 2,100 3,200" "fifo: a later higher-class job does not pass"
# nor does a later job start first by backfill or because an earlier one is over its team's
# limit: 1 (a, 4 GPUs) 0-1000; 2 (a, 8 GPUs, over a's limit of 8 while 1 runs; no room either)
# 1000-1100; 3 (b, 4 GPUs, 10 s: it would fit at once, and end before 1000) 1100-1110
printf 'id,submit,team,gpus,duration\n1,0,a,4,1000\n2,10,a,8,100\n3,20,b,4,10\n' > "$WORK/hol.csv"
sim "$WORK/hol.json" --config "$ONE" --trace "$WORK/hol.csv" -o json --no-timing --policy fifo --jobs-out "$WORK/hol.csv.out"
is "$(cut -d, -f1,6 "$WORK/hol.csv.out" | tail -3 | paste -sd' ')" "1,0 2,1000 3,1100" "fifo: no backfill, no passing by limits"
sim "$WORK/t2.json" --config "$ONE" --trace "$WORK/tier.csv" -o json --no-timing --policy config --no-fairshare --no-backfill --jobs-out "$WORK/t2.csv"
is "$(cut -d, -f1,6 "$WORK/t2.csv" | tail -3 | paste -sd' ')" "1,0 2,200 3,100" "--policy config --no-fairshare --no-backfill: the high tier goes first"

# ---- determinism, errors ---------------------------------------------------------------------
sim "$WORK/r2.json" --config "$ONE" --trace "$S/report.csv" -o json --no-timing --jobs-out "$WORK/r2.csv"
cmp -s "$WORK/r.json" "$WORK/r2.json" && cmp -s "$WORK/r.csv" "$WORK/r2.csv"; ok $? "two runs: byte-identical report and CSV"
sim "$WORK/e.out" --config "$ONE" --trace "$S/report.csv" --policy lifo
is "$rc" 2 "--policy lifo: exit 2"
like "$(cat "$WORK/e.out.err")" "--policy takes fifo or config, not 'lifo'" "--policy lifo: message"
sim "$WORK/e.out" --config "$ONE" --trace "$S/report.csv" --checkpoint-every 0
is "$rc" 2 "--checkpoint-every 0: exit 2"
like "$(cat "$WORK/e.out.err")" "^gantry sim: --checkpoint-every: " "--checkpoint-every 0: message"
sim "$WORK/e.out" --config "$ONE" --trace "$S/report.csv" --jobs-out "$WORK/no/such/dir/j.csv"
is "$rc" 1 "--jobs-out in a missing directory: exit 1"
like "$(cat "$WORK/e.out.err")" "--jobs-out: cannot write .*j.csv: No such file or directory" "--jobs-out: message"
is "$(wc -c < "$WORK/e.out")" 0 "--jobs-out unwritable: no report either"
printf 'id,submit,team,gpus,duration,priority\n1,0,a,1,10,vip\n' > "$WORK/vip.csv"
sim "$WORK/e.out" --config "$ONE" --trace "$WORK/vip.csv" --jobs-out "$WORK/gone.csv"
is "$rc" 1 "a run that fails (unknown class) with --jobs-out: exit 1"
[ ! -e "$WORK/gone.csv" ]; ok $? "a failed run leaves no CSV behind"
sim "$WORK/h.out" --help
for f in --policy --jobs-out --checkpoint-every; do
  grep -q -- "$f" "$WORK/h.out"; ok $? "--help lists $f"
done

echo "1..$n"
[ "$failed" = 0 ]
