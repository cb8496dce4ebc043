#!/usr/bin/env bash
# Views of jobs, with a real server and agent (docs/cli.md): gantry history (sacct) after jobs
# succeed, fail, are killed by a signal or cancelled, with each filter and format; since/until
# boundaries (GET /v1/jobs since/until on end_time); gantry queue's columns (START, ELAPSED,
# REASON for pending jobs only, nodes in -o wide), -o wide aligned, -o name; labels (submit -l,
# validation) and each selector form (-l on queue and history, selector= in the API).
. "$(dirname "$0")/agent-lib.sh"
printf 'teams:\n  - name: research\n    quota: {gpus: 8}\n  - name: vision\n    quota: {gpus: 8}\n' > "$WORK/cluster.yaml"
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 2 "$WORK/n1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"
G() { "$GANTRY" "$@"; }
sid() { awk '{print $3}'; }   # "Submitted job N"

# ---- jobs that end in each way ----
a=$(G submit --team research -n ok-job -l kind=ok -l tier=gold -- true | sid)
wait_for 20 job_is "$a" succeeded; ok $? "job $a succeeds"
# The local-ISO checks of history below have one-second resolution: every later job must end in
# a later second than job $a (on a fast machine they all could end within its second).
end_a_s=$(api GET "/v1/jobs/$a" | perl -ne 'print int($1) if /"end_time": *([0-9.eE+-]+)/')
past_end_a() { [ "$(date +%s)" -gt "$end_a_s" ]; }
wait_for 5 past_end_a; ok $? "the clock passed the second job $a ended in"
b=$(G submit --team research -n fail-job -l kind=fail -- sh -c 'exit 3' | sid)
wait_for 20 job_is "$b" failed; ok $? "job $b fails (exit 3)"
c=$(G submit --team vision -n sig-job -l kind=sig -- sh -c 'kill -KILL $$' | sid)
wait_for 20 job_is "$c" failed; ok $? "job $c is killed by a signal"
d=$(G submit --team research -n long-job -l kind=long --time 1h -- sleep 300 | sid)
wait_for 20 job_is "$d" running; ok $? "job $d runs"

# ---- queue: a running job and a pending one ----
p=$(G submit --team research -n waiter -l kind=wait --after "$d" -- true | sid)
q=$(G queue)
like "$(echo "$q" | head -n 1)" '^ID +NAME +TEAM +USER +STATE +GPUS +START +ELAPSED +REASON$' "queue: its columns (squeue: JOBID NAME ... TIME NODELIST(REASON))"
rrow=$(echo "$q" | awk -v id="$d" '$1 == id')
like "$rrow" "^$d +long-job +research +admin +running +1 +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2} +[0-9]{2}:[0-9]{2}:[0-9]{2}\$" \
  "a running job: START in local ISO 8601, ELAPSED as HH:MM:SS, no REASON"
start_epoch=$(api GET "/v1/jobs/$d" | jget '{start_time}')
is "$(echo "$rrow" | awk '{print $7}')" "$(date -d "@${start_epoch%.*}" +%Y-%m-%dT%H:%M:%S)" "START is the job's start_time in local time"
case "$rrow" in *n1*) ok 1 "no node name in a running job's REASON";; *) ok 0 "no node name in a running job's REASON";; esac
like "$(echo "$q" | awk -v id="$p" '$1 == id')" "^$p +waiter +research +admin +pending +1 +- +- +dependency\$" "a pending job: its REASON"
# A job that waits for GPUs: its START is the estimated start, marked ~ (squeue --start).
e=$(G submit --team research -n big --gpus 2 -- true | sid)
has_est() { [ "$(api GET "/v1/jobs/$e" | jget '{estimated_start}')" != null ]; }
if wait_for 20 has_est; then
  est=$(api GET "/v1/jobs/$e" | jget '{estimated_start}')
  like "$(G queue | awk -v id="$e" '$1 == id')" "^$e +big +research +admin +pending +2 +~$(date -d "@$est" +%Y-%m-%dT%H:%M:%S) +- +[a-z]+\$" \
    "a pending job with an estimated start: START ~LOCAL-ISO"
  like "$(G show "$e")" "expected to start at $(date -d "@$est" +%Y-%m-%dT%H:%M:%S)" "gantry show: the same, in local ISO 8601"
else
  ok 1 "the scheduler gave job $e an estimated start"; ok 1 "(so no START ~ to check)"
fi
G cancel "$e" >/dev/null
w=$(G queue -o wide)
like "$(echo "$w" | head -n 1)" '^ID +NAME +TEAM +USER +STATE +GPUS +START +ELAPSED +CLASS +NODES +LABELS +REASON$' "queue -o wide: its columns"
like "$(echo "$w" | awk -v id="$d" '$1 == id')" " normal +n1 +kind=long\$" "-o wide: the running job's NODES (n1), its labels"
# Every row's columns start where the header's do (whatever the widths).
aligned() {
  perl -e 'my @l = <STDIN>; chomp @l; my $h = shift @l; my @off; while ($h =~ /(\S+)/g) { push @off, $-[0] }
    for my $r (@l) { my @o; while ($r =~ /(\S+)/g) { push @o, $-[0] }
      for my $i (0 .. $#o) { if ($o[$i] != $off[$i]) { print "row <$r> column $i at $o[$i], header at $off[$i]\n"; exit 1 } } }
    print scalar(@l), " rows aligned\n"'
}
ln=$(G submit --team research -n a-much-longer-job-name-than-the-others -l app=x --after "$d" -- true | sid)
out=$(G queue -o wide | aligned); ok $? "queue -o wide: every row's columns start at the header's offsets ($out)"
out=$(G queue | aligned); ok $? "queue: aligned too ($out)"
is "$(G queue -o name | tr '\n' ' ')" "job/$d job/$p job/$ln " "queue -o name: job/ID a line (kubectl get -o name)"

# ---- labels and selectors ----
is "$(api GET "/v1/jobs/$a" | jget '{labels}')" '{"kind":"ok","tier":"gold"}' "submit -l k=v -l k2=v2: the job's labels"
sel() { api GET "/v1/jobs?state=all&selector=$1" | jget '{jobs}' | perl -MJSON::PP -e 'print join " ", map {$_->{id}} @{decode_json(<STDIN>)}'; }
is "$(sel kind=ok)" "$a" "selector k=v"
is "$(sel kind==fail)" "$b" "selector k==v"
is "$(sel 'kind!=ok,kind')" "$b $c $d $p" "selector k!=v,k (has kind, not ok)"
is "$(sel tier)" "$a" "selector k (has the label)"
is "$(sel '!kind')" "$e $ln" "selector !k (has not the label)"
is "$(sel 'kind!=long')" "$a $b $c $p $e $ln" "selector k!=v matches a job without k too (as Kubernetes)"
is "$(sel 'kind=ok,tier=silver')" "" "every term must hold"
api GET '/v1/jobs?selector=kind=a=b' >/dev/null; is "$(cat "$WORK/status")" 400 "a bad selector: 400"
like "$(cat "$WORK/body")" "not a label value" "saying which term"
api GET '/v1/jobs?selector=,' >/dev/null; is "$(cat "$WORK/status")" 400 "an empty term: 400"
is "$(G queue -l kind=long -o name)" "job/$d" "gantry queue -l k=v"
is "$(G queue -l '!kind' -o name)" "job/$ln" "gantry queue -l '!k'"
r=$(api POST /v1/jobs '{"team":"research","command":["true"],"labels":{"bad key":"x"}}')
is "$(cat "$WORK/status")" 400 "a label key with a space: refused"
like "$r" "key 'bad key' is not a label key" "saying which"
r=$(api POST /v1/jobs "{\"team\":\"research\",\"command\":[\"true\"],\"labels\":{\"k\":\"$(printf 'v%.0s' $(seq 64))\"}}")
is "$(cat "$WORK/status")" 400 "a 64-character label value: refused"
r=$(api POST /v1/jobs '{"team":"research","command":["true"],"labels":{"k":1}}')
is "$(cat "$WORK/status")" 400 "a label value that is not a string: refused"
many=$(perl -e 'print "{", join(",", map {"\"k$_\":\"v\""} 1..65), "}"')
r=$(api POST /v1/jobs "{\"team\":\"research\",\"command\":[\"true\"],\"labels\":$many,\"after_ok\":[$d]}")
is "$(cat "$WORK/status")" 400 "65 labels: refused (at most 64)"
r=$(api POST /v1/jobs '{"team":"research","command":["true"],"after_ok":['"$d"'],"labels":{"example.com/team-a":"","a.b_c-d":"X.y-1"}}')
is "$(cat "$WORK/status")" 201 "a prefixed key, an empty value, dots, dashes and underscores: accepted"
pre=$(echo "$r" | jget '{id}')
is "$(sel example.com/team-a)" "$pre" "selector on a prefixed key"
G cancel "$pre" >/dev/null

# ---- end the rest: cancel the running one (its dependants are cancelled) and a pending one
# of another user ----
ALICE=$(G token create --user alice --role member --team research)
al=$(GANTRY_TOKEN=$ALICE G submit --team research -n alice-job --after "$d" -- true | sid)
G cancel "$d" >/dev/null
wait_for 20 job_is "$d" cancelled; ok $? "job $d is cancelled while it runs"
wait_for 20 job_is "$al" cancelled; ok $? "alice's dependent job is cancelled with it"
ended() { for j in "$@"; do job_state "$j" | grep -qE 'succeeded|failed|cancelled' || return 1; done; }
wait_for 20 ended "$p" "$ln"

# ---- history ----
h=$(G history)
like "$(echo "$h" | head -n 1)" '^ID +NAME +TEAM +USER +STATE +EXIT +START +END +ELAPSED +NODES +GPU-HOURS$' "history: its columns (sacct: JobID JobName Account User State ExitCode Start End Elapsed NNodes)"
is "$(echo "$h" | awk 'NR > 1 {print $1}' | tr '\n' ' ')" "$a $b $c $d $p $e $ln $pre $al " "history lists every ended job, oldest first, not the others"
row() { echo "$h" | awk -v id="$1" '$1 == id'; }
T='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}'
like "$(row "$a")" "^$a +ok-job +research +admin +succeeded +0 +$T +$T +00:00:0[0-9] +1 +0\.[0-9]{3}\$" "a job that succeeded: exit 0, start, end, elapsed, 1 node"
like "$(row "$b")" "^$b +fail-job +research +admin +failed +3 " "a job that failed: its exit code"
like "$(row "$c")" "^$c +sig-job +vision +admin +failed +SIGKILL " "a job killed by a signal: the signal"
like "$(row "$d")" "^$d +long-job +research +admin +cancelled +[0-9]+ +$T +$T +[0-9]{2}:[0-9]{2}:[0-9]{2} +1 +[0-9.]+\$" "a running job cancelled: start, end, elapsed"
like "$(row "$p")" "^$p +waiter +research +admin +cancelled +0 +- +$T +- +0 +0\.000\$" "a pending job cancelled: no start, no elapsed, no GPU-hours"
end_d=$(api GET "/v1/jobs/$d" | jget '{end_time}')
is "$(row "$d" | awk '{print $8}')" "$(date -d "@${end_d%.*}" +%Y-%m-%dT%H:%M:%S)" "END is end_time in local time"
gh=$(api GET "/v1/jobs/$d" | perl -MJSON::PP -e 'my $j = decode_json(join "", <STDIN>); printf "%.3f", ($j->{end_time} - $j->{start_time}) / 3600'); \
is "$(row "$d" | awk '{print $11}')" "$gh" "GPU-HOURS = GPUs x elapsed ($gh)"
ids() { awk 'NR > 1 {print $1}' | tr '\n' ' '; }
is "$(G history --state failed | ids)" "$b $c " "history --state failed"
is "$(G history --state succeeded,cancelled -o name | tr '\n' ' ')" "job/$a job/$d job/$p job/$e job/$ln job/$pre job/$al " "history --state S,S -o name"
is "$(G history --team vision | ids)" "$c " "history --team vision"
is "$(G history --user alice | ids)" "$al " "history --user alice"
is "$(G history --name fail-job | ids)" "$b " "history --name"
is "$(G history -l kind=fail | ids)" "$b " "history -l kind=fail"
is "$(G history -l 'kind,kind!=ok,kind!=fail' | ids)" "$c $d $p " "history -l with k, k!=v terms"
out=$(G history --state running 2>&1); rc=$?
is "$rc" 2 "history --state running: a usage error"
like "$out" "history lists jobs that ended" "saying why"

# Formats: csv (a header and one row per job, every row as many fields), json, yaml, wide.
G history -o csv > "$WORK/h.csv"
out=$(python3 -c '
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
assert rows[0][:6] == ["ID", "NAME", "TEAM", "USER", "STATE", "EXIT"], rows[0]
assert all(len(r) == len(rows[0]) for r in rows), "ragged"
print(len(rows[0]), " ".join(r[0] for r in rows[1:]), rows[1][rows[0].index("REASON")])' "$WORK/h.csv")
is "$out" "14 $a $b $c $d $p $e $ln $pre $al completed" "history -o csv: parses (Python's csv): 14 columns, a row per job"
is "$(G history -o json | perl -MJSON::PP -e 'print join " ", map {$_->{id}} @{decode_json(join "", <STDIN>)}')" "$a $b $c $d $p $e $ln $pre $al" "history -o json"
is "$(G history -o yaml | python3 -c 'import yaml, sys; print(" ".join(str(j["id"]) for j in yaml.safe_load(sys.stdin)))')" "$a $b $c $d $p $e $ln $pre $al" "history -o yaml (read back by PyYAML)"
out=$(G history -o wide | aligned); ok $? "history -o wide: aligned ($out)"
like "$(G history -o wide | awk -v id="$c" '$1 == id')" " normal +n1 +failed\$" "history -o wide: CLASS, NODELIST, REASON"

# since/until: the end_time window [since, until), epoch seconds or RFC 3339, in the API.
# (end_time as the server wrote it: a Perl number would lose digits)
end_a=$(api GET "/v1/jobs/$a" | perl -ne 'print $1 if /"end_time": *([0-9.eE+-]+)/')
win() { api GET "/v1/jobs?state=all&$1" | jget '{jobs}' | perl -MJSON::PP -e 'print join " ", map {$_->{id}} @{decode_json(<STDIN>)}'; }
like "$(win "since=$end_a")" "^$a " "since = a job's end_time: it is in"
like "$(win "since=$(perl -e "printf '%.6f', $end_a + 0.001")")" "^$b " "since just after: it is out"
is "$(win "until=$end_a")" "" "until = its end_time: it is out (until is exclusive; the first job to end)"
is "$(win "until=$(perl -e "printf '%.6f', $end_a + 0.001")")" "$a" "until just after: only it"
iso=$(date -u -d "@$(perl -e "print int($end_a)")" +%Y-%m-%dT%H:%M:%SZ)
like "$(win "since=$iso")" "^$a " "since in RFC 3339 (the second it ended, UTC): it is in"
isoplus=$(date -d "@$(perl -e "print int($end_a) + 1")" +%Y-%m-%dT%H:%M:%S%:z | sed 's/+/%2B/')
is "$(win "until=$isoplus&since=$iso")" "$(win "until=$(perl -e "print int($end_a) + 1")&since=$(perl -e "print int($end_a)")")" "RFC 3339 with an offset reads as the same instant as epoch seconds"
is "$(win "since=$(perl -e "print int($end_a) + 100000")")" "" "since in the future: nothing"
api GET '/v1/jobs?since=yesterday-ish' >/dev/null; is "$(cat "$WORK/status")" 400 "a since that is not a time: 400"
like "$(cat "$WORK/body")" "is not a time" "saying so"
is "$(api GET "/v1/jobs?state=all&since=0" | jget '{total}')" 9 "since: only jobs that ended (the pending and running ones have no end)"
# The CLI: local ISO 8601, today, durations ago.
next_s=$(date -d "@$(perl -e "print int($end_a) + 1")" +%Y-%m-%dT%H:%M:%S)
like "$(G history --since "$next_s" | ids)" "$d " "history --since LOCAL-ISO (the second after job $a ended): job $a is out, the later $d in"
case " $(G history --since "$next_s" | ids)" in *" $a "*) ok 1 "job $a is out";; *) ok 0 "job $a is out";; esac
like "$(G history --until "$next_s" | ids)" "^$a " "history --until LOCAL-ISO: job $a is in"
case " $(G history --until "$next_s" | ids)" in *" $al "*) ok 1 "the last job ($al) is out";; *) ok 0 "the last job ($al) is out";; esac
is "$(G history --since 1h | ids)" "$a $b $c $d $p $e $ln $pre $al " "history --since 1h (an hour ago)"
is "$(G history --until 2d | ids)" "" "history --until 2d (two days ago): none"
[ "$(date +%H%M)" -gt 0005 ] && is "$(G history --since today | ids)" "$a $b $c $d $p $e $ln $pre $al " "history --since today" || skip "just after midnight"
out=$(G history --since 'next tuesday' 2>&1); rc=$?
is "$rc" 2 "history --since garbage: a usage error"
like "$out" "is not a time: use a local date or time such as 2026-11-30" "saying which forms it takes"

# usage: the period in local ISO 8601; --since takes local times too.
u=$(G usage --since today)
like "$(echo "$u" | head -n 1)" "^GPU-hours from $(date +%Y-%m-%d)T00:00:00 to $(date +%Y-%m-%d)T[0-9:]{8}\$" "gantry usage --since today: the period in local time"
like "$u" "research +[0-9.]+ +[0-9]+" "and the rows"
like "$(G usage --since "$(date +%Y-%m-%d)T00:00")" "^GPU-hours from $(date +%Y-%m-%d)T00:00:00 " "gantry usage --since LOCAL-ISO"

# Paging, as queue's: a part says so, and the printed command shows the next part.
G history --limit 3 >"$WORK/p" 2>"$WORK/p.err"
is "$(ids <"$WORK/p")" "$a $b $c " "history --limit 3: the first 3"
like "$(cat "$WORK/p.err")" "^showing 3 of 9 jobs; next: gantry history --limit 3 --continue $c\$" "says more exist, and how to see them"
G history -l kind --limit 2 --continue "$b" >"$WORK/p" 2>"$WORK/p.err"
is "$(ids <"$WORK/p")" "$c $d " "the next part keeps the filter"
like "$(cat "$WORK/p.err")" "^showing 2 of 5 jobs \(after job $b\); next: gantry history -l kind --limit 2 --continue $d\$" "with the filter in the next command"
# Other lists print through the same table: aligned whatever the widths.
G volumes set short --path /mnt/s >/dev/null
G volumes set a-volume-name-longer-than-sixteen-characters --path /mnt/a-long-path --teams research,vision >/dev/null
out=$(G volumes | aligned); ok $? "gantry volumes: aligned ($out)"
G envs set a-stack-name-longer-than-twenty-characters --image docker://r/x:1 --teams research,vision --description "two words" >/dev/null
G envs set s --image docker://r/y:1 >/dev/null
out=$(G envs | aligned); ok $? "gantry envs: aligned ($out)"
G user set a-user-name-longer-than-twenty --unix nobody --team research >/dev/null
G user set b --unix daemon >/dev/null
out=$(G user list | aligned); ok $? "gantry user list: aligned ($out)"
out=$(G token list | aligned); ok $? "gantry token list: aligned ($out)"
done_testing
