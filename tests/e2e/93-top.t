#!/usr/bin/env bash
# gantry top (issue 11 item 6, docs/cli.md): a live view of nodes with a map of their GPUs,
# teams and the queue, refreshed in place on a terminal (cursor home, lines cleared, the rest
# of the screen cleared) and frame after frame into a pipe; --iterations bounds it; a later
# frame shows what changed; a viewer token is enough.
. "$(dirname "$0")/agent-lib.sh"
printf 'teams:\n  - name: research\n    quota: {gpus: 2}\n    limit: {gpus: 8}\n  - name: vision\n    quota: {gpus: 2}\n' > "$WORK/cluster.yaml"
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 4 "$WORK/n1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"
G() { "$GANTRY" "$@"; }
sid() { awk '{print $3}'; }
VIEW=$(G token create --user watcher --role viewer)

a=$(G submit --team research -n trainer --gpus 3 --time 1h -- sleep 300 | sid)
wait_for 20 job_is "$a" running; ok $? "job $a runs on 3 GPUs"
b=$(G submit --team vision -n waiter --gpus 2 -- sleep 300 | sid)
has_reason() { [ "$(api GET "/v1/jobs/$b" | jget '{pending_reason}')" = capacity ]; }
wait_for 20 has_reason; ok $? "job $b waits for capacity"

# ---- two frames into a pipe, with a viewer token ----
out=$(GANTRY_TOKEN=$VIEW G top --iterations 2 --interval 0.2); rc=$?
is "$rc" 0 "gantry top --iterations 2 exits 0"
is "$(echo "$out" | grep -c '^gantry top ')" 2 "two frames"
case "$out" in *$'\033'*) ok 1 "no escape sequences into a pipe";; *) ok 0 "no escape sequences into a pipe";; esac
frame=$(echo "$out" | awk '/^gantry top / {n++} n == 2')
like "$frame" "Nodes: 1 up, 0 down +GPUs of up nodes: 4 total, 3 allocated, 1 free +Jobs: 1 running, 1 pending" "the summary line"
like "$(echo "$frame" | grep -E '^NODE ')" '^NODE +STATE +TYPE +GPUS +FREE +UTIL +GPU MAP' "the nodes table's columns"
# The GPU map: job a on the GPUs its placement names, '.' on the free one.
map=$(api GET "/v1/jobs/$a" | perl -MJSON::PP -e 'my $j = decode_json(join "", <STDIN>); my @m = (".") x 4;
  $m[$_] = $j->{id} for @{$j->{placement}[0]{gpus}}; print join " ", @m')
like "$(echo "$frame" | grep -E '^n1 ')" "^n1 +up +H100-80GB +4 +1 +- +$map\$" "n1's row: its GPUs, and the job on each ($map)"
like "$(echo "$frame" | grep -E '^TEAM ')" '^TEAM +QUOTA +LIMIT +ALLOCATED +BORROWED +RUNNING +PENDING$' "the teams table's columns"
like "$(echo "$frame" | grep -E '^research ')" '^research +2 +8 +3 +1 +1 +0$' "research: quota 2, limit 8, 3 allocated, 1 borrowed, 1 running"
like "$(echo "$frame" | grep -E '^vision ')" '^vision +2 +none +0 +0 +0 +1$' "vision: no limit, 1 pending"
like "$(echo "$frame" | grep -E "^$a ")" "^$a +trainer +research +admin +running +3 +[0-9]{2}:[0-9]{2}:[0-9]{2}\$" "the running job with its elapsed time"
like "$(echo "$frame" | grep -E "^$b ")" "^$b +waiter +vision +admin +pending +2 +- +capacity\$" "the pending job with why it waits"
out=$(G top --iterations 1 --team vision)
is "$(echo "$out" | grep -cE "^$a ")$(echo "$out" | grep -cE "^$b ")" "01" "--team vision: only vision's jobs in the queue"

# ---- on a terminal: redrawn in place; a later frame shows the change ----
script -qfec "$GANTRY top --iterations 600 --interval 0.1" /dev/null > "$WORK/tty.out" 2>&1 &
TOP=$!
PIDS+=("$TOP")
frames() { grep -o 'gantry top  ' "$WORK/tty.out" | wc -l; }
two() { [ "$(frames)" -ge 2 ]; }
wait_for 20 two; ok $? "frames are drawn on a pseudo-terminal"
G cancel "$a" >/dev/null
b_runs() { job_is "$b" running && tail -c 4000 "$WORK/tty.out" | grep -qE "$b +waiter +vision +admin +running"; }
wait_for 30 b_runs; ok $? "a later frame shows job $b running once job $a is cancelled"
kill "$TOP" 2>/dev/null; wait "$TOP" 2>/dev/null
is "$(head -c 20 "$WORK/tty.out" | perl -0777 -ne 'print /\e\[\?25l/ ? 1 : 0')" 1 "the cursor is hidden while it runs"
homes=$(grep -o $'\033\[H' "$WORK/tty.out" | wc -l)
clears=$(grep -o $'\033\[J' "$WORK/tty.out" | wc -l)
is "$([ "$homes" -ge 2 ] && [ "$homes" = "$clears" ] && echo yes)" yes "each frame goes home and clears what is below it ($homes frames)"
lines=$(grep -o $'\033\[K' "$WORK/tty.out" | wc -l)
is "$([ "$lines" -ge $((homes * 10)) ] && echo yes)" yes "each line is cleared to its end ($lines lines)"
# A bounded run on a terminal restores the cursor at its end.
script -qfec "$GANTRY top --iterations 1" /dev/null > "$WORK/tty1.out" 2>&1
is "$(tail -c 10 "$WORK/tty1.out" | perl -0777 -ne 'print /\e\[\?25h\s*$/ ? 1 : 0')" 1 "the cursor is shown again at the end"

# ---- errors ----
out=$(G top --iterations 0 2>&1); rc=$?
is "$rc" 2 "--iterations 0: a usage error"
out=$(G top --interval 0 2>&1); rc=$?
is "$rc" 2 "--interval 0: a usage error"
out=$(GANTRY_SERVER=http://127.0.0.1:$(free_port) G top --iterations 1 2>&1); rc=$?
is "$rc" 1 "a server that does not answer: exit 1"
like "$out" "cannot read the cluster" "saying so in the frame"

done_testing
