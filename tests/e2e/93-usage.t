#!/usr/bin/env bash
# gantry usage (issue 11 item 7, docs/cli.md): -o table|csv|json, --by team|user|class|job,
# periods [--from, --to) with clear boundaries: a job that runs across a boundary counts only
# its GPU-seconds inside the period, so two consecutive periods add up to their union; a
# running job counts up to now; a period that ends before it begins is refused; a member sees
# only its team's usage.
. "$(dirname "$0")/agent-lib.sh"
printf 'teams:\n  - name: research\n    quota: {gpus: 4}\n  - name: vision\n    quota: {gpus: 4}\n' > "$WORK/cluster.yaml"
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 4 "$WORK/n1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"
G() { "$GANTRY" "$@"; }
sid() { awk '{print $3}'; }
ALICE=$(G token create --user alice --role member --team research)

a=$(G submit --team research -n two-gpus --gpus 2 -- sleep 2 | sid)
b=$(GANTRY_TOKEN=$ALICE G submit --team research -n alices --class experimental -- sleep 1 | sid)
c=$(G submit --team vision -n vis -- sleep 1 | sid)
for j in $a $b $c; do wait_for 30 job_is "$j" succeeded; ok $? "job $j succeeds"; done
t() { api GET "/v1/jobs/$1" | jget "{$2}"; }
sa=$(t "$a" start_time); ea=$(t "$a" end_time)
sb=$(t "$b" start_time); eb=$(t "$b" end_time)
sc=$(t "$c" start_time); ec=$(t "$c" end_time)
# same GOT WANT: the same CSV, numbers with decimals equal to 2e-6 (the times read through JSON
# carry microseconds: the last printed decimal may round either way). Prints 1 or a diff.
same() { perl -e 'my @g = split /\n/, $ARGV[0]; my @w = split /\n/, $ARGV[1];
  my $ok = @g == @w; for my $i (0 .. $#w) { my @a = split /,/, $g[$i] // ""; my @b = split /,/, $w[$i];
    $ok &&= @a == @b; for my $k (0 .. $#b) { my ($x, $y) = ($a[$k] // "", $b[$k]);
      $ok &&= ($x =~ /^\d+\.\d+$/ && $y =~ /^\d+\.\d+$/) ? abs($x - $y) < 2e-6 : $x eq $y } }
  print $ok ? 1 : "got: $ARGV[0]\nwant: $ARGV[1]"' -- "$1" "$2"; }
# calc EXPR: the Perl expression's value to 6 decimals.
calc() { perl -e "printf '%.6f', $1"; }
ra="($ea - $sa) * 2"; rb="($eb - $sb)"; rc="($ec - $sc)"   # GPU-seconds
ha=$(calc "$ra / 3600"); hb=$(calc "$rb / 3600"); hc=$(calc "$rc / 3600")

# ---- formats and groupings ----
out=$(G usage -o csv)
is "$(echo "$out" | head -n 1)" "team,gpu_hours,jobs,idle_gpu_hours" "-o csv: a header line"
is "$(same "$(echo "$out" | sed 1d)" "research,$(calc "($ra + $rb) / 3600"),2,0.000000
vision,$hc,1,0.000000")" 1 "-o csv: one line per team, GPU-hours from the jobs' own start and end times"
out=$(G usage -o csv --by user)
is "$(same "$out" "user,gpu_hours,jobs,idle_gpu_hours
admin,$(calc "($ra + $rc) / 3600"),2,0.000000
alice,$hb,1,0.000000")" 1 "--by user"
out=$(G usage -o csv --by class)
is "$(same "$out" "class,gpu_hours,jobs,idle_gpu_hours
experimental,$hb,1,0.000000
normal,$(calc "($ra + $rc) / 3600"),2,0.000000")" 1 "--by class (priority class)"
out=$(G usage -o csv --by job)
is "$(same "$out" "job,name,team,user,class,state,gpu_hours,jobs,idle_gpu_hours
$a,two-gpus,research,admin,normal,succeeded,$ha,1,0.000000
$b,alices,research,alice,experimental,succeeded,$hb,1,0.000000
$c,vis,vision,admin,normal,succeeded,$hc,1,0.000000")" 1 "--by job: each job with its team, user, class"
tab=$(G usage --by job)
like "$(echo "$tab" | sed -n 2p)" '^JOB +NAME +TEAM +USER +CLASS +STATE +GPU_HOURS +JOBS +IDLE_GPU_HOURS$' "the table's columns"
like "$(echo "$tab" | sed -n 3p)" "^$a +two-gpus +research +admin +normal +succeeded +[0-9]+\.[0-9]{3} +1 +0\.000\$" "a job's row"
js=$(G usage -o json --by team)
is "$(echo "$js" | jget '{by}') $(echo "$js" | jget '{usage}[0]{team}') $(echo "$js" | jget '{usage}[1]{jobs}')" "team research 1" \
  "-o json: by and the rows"
like "$(echo "$js" | jget '{to}')" '^[0-9]{10}' "-o json: the period's end (to)"
is "$(echo "$js" | jget '{from}')" 0 "-o json: from the start by default (0)"

# ---- boundaries: a job across one counts its part on each side ----
mid=$(perl -e "printf '%.3f', ($sa + $ea) / 2")   # the CLI sends milliseconds
near() { perl -e "print abs($1 - ($2)) < 2e-6 ? 1 : 0"; }
after=$(G usage -o csv --by job --from "$mid" | awk -F, -v j="$a" '$1 == j {print $7}')
before=$(G usage -o csv --by job --to "$mid" | awk -F, -v j="$a" '$1 == j {print $7}')
is "$(near "$after" "($ea - $mid) * 2 / 3600")" 1 "--from inside job $a's run: only its GPU-seconds after the boundary"
is "$(near "$before" "($mid - $sa) * 2 / 3600")" 1 "--to inside its run: only those before"
is "$(perl -e "print abs($before + $after - $ha) < 2e-6 ? 1 : 0")" 1 "the two periods add up to the whole run ($before + $after = $ha, to rounding)"
like "$(G usage -o csv --by job --from "$mid" --to "$mid")" '^job,name,team,user,class,state,gpu_hours,jobs,idle_gpu_hours$' \
  "an empty period: no job"
# A period that ends before job c started: c is not in it (jobs counts only jobs with usage).
first=$(perl -e "print $sc < $sb ? $sc : $sb")
out=$(G usage -o csv --to "$(calc "$first - 0.5")")
case "$out" in *vision*) ok 1 "a job that started after the period is not counted";; *) ok 0 "a job that started after the period is not counted";; esac
out=$(G usage --from "$(calc "$ec + 100")" --to "$(calc "$ec + 50")" 2>&1); rc=$?
is "$rc" 1 "a period that ends before it begins is refused"
like "$out" "the period ends .* before it begins" "saying so"

# ---- a running job counts up to now ----
d=$(G submit --team vision -n runner -- sleep 300 | sid)
wait_for 20 job_is "$d" running; ok $? "job $d runs"
g1=$(G usage -o csv --by job | awk -F, -v j="$d" '$1 == j {print $7}')
sleep 1.2   # time must pass for its usage to grow (not a synchronisation)
g2=$(G usage -o csv --by job | awk -F, -v j="$d" '$1 == j {print $7, $6}')
like "$g1" '^0\.[0-9]+$' "a running job is counted"
is "$(perl -e "print ${g2% *} > $g1 ? 1 : 0") ${g2#* }" "1 running" "and its usage grows while it runs (to now)"

# ---- who sees what; usage errors ----
out=$(GANTRY_TOKEN=$ALICE G usage -o csv)
is "$(same "$out" "team,gpu_hours,jobs,idle_gpu_hours
research,$(calc "($ra + $rb) / 3600"),2,0.000000")" 1 "a member sees only its team's usage"
out=$(G usage --by node 2>&1); rc=$?
is "$rc" 2 "--by node: a usage error"
like "$out" "use team, user, class or job" "naming the groupings"
out=$(G usage -o wide 2>&1); rc=$?
is "$rc" 2 "-o wide is refused"
like "$(G usage --help)" "GPU-seconds inside the period" "--help says how boundaries count"
is "$(api GET '/v1/usage?by=class' | jget '{usage}[0]{class}')" experimental "the API: by=class"

done_testing
