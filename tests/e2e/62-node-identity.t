#!/usr/bin/env bash
# Node identity (issue 8, item 4), tried as an attacker would: with curl and the credential of
# a second node (the join token where a server issues none). A join token registers a name once;
# the node then acts with its own credential, and only as itself: no reports, work or logs of
# another node's jobs, no takeover of its name, no epoch in the answers, no GPU-type slots used
# up by made-up types. Names are validated.
. "$(dirname "$0")/agent-lib.sh"
start_server --heartbeat 1
"$GANTRY" quota set research --quota 8 >/dev/null
JOIN=$("$GANTRY" token create --user joiner --role agent)
# call TOKEN METHOD PATH [BODY]: prints "STATUS BODY".
call() {
  curl -s -o "$WORK/cbody" -w '%{http_code}' -X "$2" -H "Authorization: Bearer $1" \
    ${4:+-d "$4"} "$GANTRY_SERVER$3" > "$WORK/cstatus"
  echo "$(cat "$WORK/cstatus") $(cat "$WORK/cbody")"
}
field() { sed 's/^[0-9]* //' | jget "$1"; }
body() { echo "{\"name\":\"$1\",\"gpu_type\":\"${2:-H100}\",\"cpus_milli\":8000,\"memory_mib\":65536,\"address\":\"127.0.0.1\",\"gpus\":${3:-[]},\"running\":[]${4:-}}"; }

# ---- node names: 1-63 of [A-Za-z0-9._-]; nothing that splits a log line or a table row ----
like "$(call "$JOIN" POST /v1/agent/register '{"name":"evil\nnode 7","gpus":[]}')" \
  '^400 .*node name is not valid' "a node name with a newline is refused (400)"
like "$(call "$JOIN" POST /v1/agent/register "{\"name\":\"$(printf 'x%.0s' $(seq 64))\",\"gpus\":[]}")" \
  '^400 .*node name' "a 64-character node name is refused"
like "$(call "$JOIN" POST /v1/agent/register '{"name":"a b","gpus":[]}')" '^400 ' \
  "a node name with a space is refused"
like "$(call "$JOIN" POST /v1/agent/register '{"name":"","gpus":[]}')" '^400 ' \
  "an empty node name is refused"
like "$(call "$JOIN" POST /v1/agent/register '{"name":"n9","gpu_type":"H100\nfake","gpus":[]}')" \
  '^400 .*gpu_type' "a GPU type with a newline is refused"
like "$(call "$JOIN" POST /v1/agent/register '{"name":"n9","topology":{"leaf":"l1\rx"},"gpus":[]}')" \
  '^400 .*leaf' "a topology label with a control character is refused"
is "$(api GET /v1/nodes | jget '{nodes}')" "[]" "none of them became a node"
like "$(call "$JOIN" POST /v1/agent/register "$(body gpu-001.rack_2-A)")" '^200 ' \
  "a name of letters, digits, '.', '_' and '-' registers"
is "$("$GANTRY" nodes | wc -l)" 2 "gantry nodes: a header and one line"
is "$(grep -c 'evil' "$WORK/server.log")" 0 "the server's log never printed the refused names"
like "$("$GANTRY" agent --server "$GANTRY_SERVER" --token "$JOIN" --name 'bad name' 2>&1)" \
  'node name is not valid.*--name' "gantry agent refuses an invalid --name before it starts"

# ---- the victim: a real agent n1 that joined with the join token, running a job ----
printf '%s\n' "$JOIN" > "$WORK/join.token"
"$GANTRY" agent --server "$GANTRY_SERVER" --token-file "$WORK/join.token" --name n1 --gpus 2 \
  --gpu-type H100 --state-dir "$WORK/n1" --job-user root --allow-root --no-cgroups \
  2>>"$WORK/agent-n1.log" &
PIDS+=($!)
wait_for 20 grep -q "registered with epoch" "$WORK/agent-n1.log"
ok $? "agent n1 joins with the join token"
wait_for 10 test -s "$WORK/n1/node.token"
ok $? "and keeps the node's own credential in its state directory"
is "$(stat -c %a "$WORK/n1/node.token")" 600 "node.token is mode 0600"
V1=$(jget '{token}' < "$WORK/n1/node.token")
like "$(api GET /v1/nodes/n1)" '"state":"up"' "n1 is up"
J1=$(submit '{"team":"research","gpus":1,"gpu_type":"H100","command":["sleep","300"]}')
wait_for 20 job_is "$J1" running
ok $? "a job of another team runs on n1"
E1=$(api GET /v1/nodes/n1 | jget '{epoch}')

# ---- the attacker: a second node, n2, joined with the same join token ----
r=$(call "$JOIN" POST /v1/agent/register "$(body n2)")
like "$r" '^200 ' "the attacker's node n2 registers"
ATT=$(printf '%s' "$r" | field '{node_token}')
[ "$ATT" = null ] && ATT=$JOIN # a server without node credentials: the agent token is all
like "$ATT" '^gt_' "n2 got a credential of its own"
like "$(call "$JOIN" POST /v1/agent/heartbeat "{\"name\":\"n2\",\"epoch\":1,\"running\":[]}")" \
  '^403 .*join token' "a join token does nothing but register"
like "$(call "$ATT" GET /v1/jobs)" '^403 ' "a node credential cannot use the user API"
like "$(call "$ATT" GET /v1/nodes)" '^403 ' "nor list the nodes"

# (a) reports for another node's job
r=$(call "$ATT" POST /v1/agent/report "{\"name\":\"n1\",\"epoch\":$E1,\"events\":[{\"job_id\":$J1,\"incarnation\":1,\"event\":\"exited\",\"exit_code\":0,\"signal\":0,\"reason\":\"completed\"}]}")
like "$r" '^403 ' "(a) n2's credential reporting as n1: 403"
is "$(job_state "$J1")" running "(a) n1's job is not marked ended"
call "$ATT" POST /v1/agent/report "{\"name\":\"n2\",\"epoch\":1,\"events\":[{\"job_id\":$J1,\"incarnation\":1,\"event\":\"exited\",\"exit_code\":0,\"reason\":\"completed\"}]}" >/dev/null
is "$(job_state "$J1")" running "(a) nor when n2 reports it as its own"

# (b) another node's work (start tasks carry the jobs' environment)
r=$(call "$ATT" GET "/v1/agent/work?name=n1&epoch=$E1&wait=0")
like "$r" '^403 ' "(b) n2's credential polling n1's work: 403"
r3=$(call "$JOIN" POST /v1/agent/register "$(body n3 L4 '[{"index":0}]')")
N3=$(printf '%s' "$r3" | field '{node_token}')
[ "$N3" = null ] && N3=$JOIN
E3=$(printf '%s' "$r3" | field '{epoch}')
( while :; do curl -s -o /dev/null -X POST -H "Authorization: Bearer $N3" \
    -d "{\"name\":\"n3\",\"epoch\":$E3,\"running\":[]}" "$GANTRY_SERVER/v1/agent/heartbeat"; sleep 0.3; done ) &
HB3=$!
PIDS+=($HB3)
J3=$(submit '{"team":"research","gpus":1,"gpu_type":"L4","command":["true"],"env":{"HF_TOKEN":"s3cret-of-n3"}}')
wait_for 10 job_is "$J3" running
r=$(call "$ATT" GET "/v1/agent/work?name=n3&epoch=$E3&wait=1")
like "$r" '^403 ' "(b) n2 cannot take n3's start task"
ok "$(printf '%s' "$r" | grep -q s3cret; echo $((! $?)))" "(b) and sees none of its secrets"
r=$(call "$N3" GET "/v1/agent/work?name=n3&epoch=$E3&wait=5")
like "$r" 's3cret-of-n3' "n3's own credential gets the task, secret and all"

# (c) another node's job log, at any offset
r=$(call "$ATT" POST /v1/agent/logs "{\"job_id\":$J3,\"incarnation\":1,\"stream\":\"stdout\",\"offset\":1000000000000,\"data\":\"x\"}")
like "$r" '^404 ' "(c) n2 writing n3's job log: 404, as for a job that does not exist"
is "$(stat -c %s "$WORK/data/logs/$J3.1.stdout" 2>/dev/null || echo absent)" absent \
  "(c) no log file was made (an old server made a 1 TB sparse one)"
like "$(call "$ATT" POST /v1/agent/logs "{\"job_id\":$J1,\"incarnation\":1,\"stream\":\"stderr\",\"offset\":0,\"data\":\"forged\"}")" \
  '^404 ' "(c) nor n1's, at offset 0"
like "$(call "$N3" POST /v1/agent/logs "{\"job_id\":$J3,\"incarnation\":1,\"stream\":\"stdout\",\"offset\":0,\"data\":\"hello\\n\"}")" \
  '^200 ' "n3 writes its own job's log"
like "$(call "$N3" POST /v1/agent/logs "{\"job_id\":$J3,\"incarnation\":1,\"stream\":\"stdout\",\"offset\":0,\"data\":\"hello\\n\"}")" \
  '^200 ' "a retried chunk at an earlier offset lands on itself"
r=$(call "$N3" POST /v1/agent/logs "{\"job_id\":$J3,\"incarnation\":1,\"stream\":\"stdout\",\"offset\":1000000000000,\"data\":\"x\"}")
like "$r" '^416 ' "(c) its own log beyond the end: 416"
is "$(printf '%s' "$r" | field '{error}{size}')" 6 "the answer says where the log ends"
like "$(call "$ADMIN" POST /v1/agent/logs "{\"job_id\":$J3,\"incarnation\":1,\"stream\":\"stdout\",\"offset\":7,\"data\":\"x\"}")" \
  '^416 ' "no caller leaves a hole, an admin neither"
is "$(stat -c %s "$WORK/data/logs/$J3.1.stdout")" 6 "(c) the log is its 6 bytes, no hole"
perl -e 'print "{\"job_id\":'"$J3"',\"incarnation\":1,\"stream\":\"stdout\",\"offset\":6,\"data\":\"", "a" x 300000, "\"}"' > "$WORK/big.json"
like "$(curl -s -w ' %{http_code}' -X POST -H "Authorization: Bearer $N3" --data-binary @"$WORK/big.json" "$GANTRY_SERVER/v1/agent/logs")" \
  '413$' "(c) a chunk over 256 KiB is refused (413)"
like "$(call "$N3" POST /v1/agent/logs "{\"job_id\":$J3,\"incarnation\":1,\"stream\":\"stdout\",\"offset\":6,\"data\":\"world\\n\"}")" \
  '^200 ' "a chunk at the end is taken"
is "$(curl -s --max-time 10 -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/jobs/$J3/logs" | head -c 100)" "$(printf 'hello\nworld')" \
  "the log holds what n3 sent, in order"
# n3 goes quiet: its (preemptible) job returns to the queue; n3 may still ship that run's end
kill "$HB3"
wait_for 20 job_is "$J3" pending
ok $? "n3 is lost, its job is requeued"
like "$(call "$N3" POST /v1/agent/logs "{\"job_id\":$J3,\"incarnation\":1,\"stream\":\"stdout\",\"offset\":12,\"data\":\"late\\n\"}")" \
  '^200 ' "n3 ships the rest of incarnation 1's output after the requeue (where that run ran)"
like "$(call "$ATT" POST /v1/agent/logs "{\"job_id\":$J3,\"incarnation\":1,\"stream\":\"stdout\",\"offset\":17,\"data\":\"x\"}")" \
  '^404 ' "(c) n2 still cannot"

# (d) taking over n1's name
r=$(call "$JOIN" POST /v1/agent/register "$(body n1 H100 '[{"index":0},{"index":1}]')")
like "$r" '^409 .*already has a credential.*gantry node reset n1' \
  "(d) the join token cannot register n1 again: 409, saying what the operator does"
like "$(call "$ATT" POST /v1/agent/register "$(body n1 H100 '[{"index":0},{"index":1}]')")" '^403 ' \
  "(d) nor can n2's credential"
is "$(job_state "$J1") $(api GET /v1/jobs/$J1 | jget '{incarnation}')" "running 1" \
  "(d) n1's job runs on, incarnation 1"
is "$(api GET /v1/nodes/n1 | jget '{epoch}')" "$E1" "(d) n1's epoch did not move"
P=gt_$(printf '%064d' 7)
like "$(call "$JOIN" POST /v1/agent/register "$(body n4 H100 '[]' ",\"node_token\":\"$P\"")")" \
  "^200 .*\"node_token\":\"$P\"" "a join binds the credential the agent proposed"
like "$(call "$JOIN" POST /v1/agent/register "$(body n4 H100 '[]' ",\"node_token\":\"$P\"")")" \
  '^200 ' "a retry with the same proposal (the answer was lost) registers"
like "$(call "$JOIN" POST /v1/agent/register "$(body n4 H100 '[]' ",\"node_token\":\"gt_$(printf '%064d' 8)\"")")" \
  '^409 ' "another proposal for a bound name is a takeover: 409"
like "$(call "$P" POST /v1/agent/heartbeat '{"name":"n4","epoch":2,"running":[]}')" '^200 ' \
  "the proposed credential acts as n4"
is "$(store_sql "select count(*) from nodes where doc like '%gt_%'") $(store_sql "select count(*) from tokens where hash like 'gt_%'")" \
  "0 0" "node credentials are stored only as hashes, never in the node's document"
is "$(store_sql "select role from tokens where \"user\" = 'n4'")" node \
  "n4's credential is a token of role node"

# (f) no epoch in answers to other nodes, nor in a 409
r=$(call "$ATT" POST /v1/agent/heartbeat "{\"name\":\"n1\",\"epoch\":77,\"running\":[]}")
like "$r" '^403 ' "(f) n2 heartbeating as n1: 403"
# no number in it but the status, the epoch sent (77) and the names
no_epoch() { printf '%s' "$1" | sed 's/^[0-9]* //; s/77//g; s/n[12]//g' | grep -qE '[0-9]|current'; echo $((! $?)); }
ok "$(no_epoch "$r")" "(f) the answer does not carry n1's epoch"
r=$(call "$V1" POST /v1/agent/heartbeat "{\"name\":\"n1\",\"epoch\":77,\"running\":[]}")
like "$r" '^409 .*stale_epoch' "n1's own stale epoch: 409"
ok "$(no_epoch "$r")" "(f) and even that 409 does not say the current epoch"

# (e) GPU-type slots: an agent's registrations stop short of the ones kept for the admin
taken=0; refused=""
for i in $(seq 1 64); do
  r=$(call "$JOIN" POST /v1/agent/register "$(body "fake-$i" "FAKE-$i")")
  case "$r" in 200*) taken=$((taken + 1)) ;; *) refused=$r; break ;; esac
done
like "$refused" '^403 .*kept for an admin' "(e) made-up GPU types are refused before the reserve"
is "$taken" "$((64 - 16 - 2))" "(e) 46 made-up types fit (64 slots, 16 reserved, H100 and L4 known)"
like "$(call "$JOIN" POST /v1/agent/register "$(body n5 H100)")" '^200 ' \
  "(e) a node of a known type still joins"
like "$(call "$ADMIN" POST /v1/agent/register "$(body b200-1 B200 '[{"index":0}]')")" '^200 ' \
  "(e) an admin still registers a real new type"

# ---- gantry node reset: the admin frees a name; the agent joins again by itself ----
like "$(GANTRY_TOKEN=$V1 "$GANTRY" node reset n1 2>&1)" 'forbidden' "only an admin resets a node"
like "$("$GANTRY" node reset n1)" '1 credential' "gantry node reset n1 revokes its credential"
# (the agent proposes the same credential when it joins again: it may be valid again already)
wait_for 20 grep -q "refused node n1's credential.*registering with the configured token" "$WORK/agent-n1.log"
ok $? "n1's credential is refused at once: its agent registers with its join token"
n1_registered_again() { [ "$(api GET /v1/nodes/n1 | jget '{epoch}')" -gt "$E1" ]; }
wait_for 20 n1_registered_again
ok $? "n1 registered again"
wait_for 20 job_is "$J1" running
ok $? "its job runs on (unless the reset outlasted the node's lease: then it runs again)"
like "$(call "$V1" POST /v1/agent/heartbeat "{\"name\":\"n1\",\"epoch\":1,\"running\":[]}")" '^(200|409) ' \
  "it proposed the same credential again, so node.token stays right"

# ---- a server whose log lost its end: the agent sends again from where it stops ----
J5=$(submit '{"team":"research","gpus":1,"gpu_type":"H100","command":["sh","-c","echo part1; while [ ! -e '"$WORK"'/go ]; do sleep 0.1; done; echo part2"]}')
wait_for 20 sh -c "grep -q part1 '$WORK/data/logs/$J5.1.stdout'"
ok $? "the first part of a job's output reaches the server"
: > "$WORK/data/logs/$J5.1.stdout"  # as if the server's disk had lost it
touch "$WORK/go"
wait_for 20 job_is "$J5" succeeded
ok $? "the job's end is reported"
is "$(curl -s --max-time 10 -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/jobs/$J5/logs" | head -c 100)" \
  "$(printf 'part1\npart2')" "the log is whole again: told where it ends (416), the agent sent it all again"
grep -q "sending again from there" "$WORK/agent-n1.log"
ok $? "and said so"
done_testing
