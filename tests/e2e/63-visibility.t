#!/usr/bin/env bash
# Jobs a caller may not see behave as jobs that do not exist, everywhere (issue 8):
# - Idempotency-Key is scoped to the token: a token of another team whose user has the same
#   name, sending the same key, gets a new job of its own, never the first one (nor its env);
# - after_ok naming another team's job is refused exactly as a nonexistent id is (same status,
#   same message), and GET, DELETE and logs of another team's job answer as a missing one.
. "$(dirname "$0")/lib.sh"
start_server --config "${GANTRY_ROOT:-.}/examples/cluster.yaml"

A_RES=$("$GANTRY" token create --user alice --role member --team research)
A_PRO=$("$GANTRY" token create --user alice --role member --team product)
like "$A_RES $A_PRO" '^gt_[^ ]+ gt_[^ ]+$' "two member tokens for users named alice, in research and in product"

post() { # TOKEN KEY BODY: prints "STATUS BODY"
  curl -s -o "$WORK/pbody" -w '%{http_code}' -X POST -H "Authorization: Bearer $1" \
    ${2:+-H "Idempotency-Key: $2"} -d "$3" "$GANTRY_SERVER/v1/jobs" > "$WORK/pstatus"
  echo "$(cat "$WORK/pstatus") $(cat "$WORK/pbody")"
}

# ---- Idempotency-Key: scoped to the token ----
r1=$(post "$A_RES" k-shared '{"command":["train"],"env":{"HF_TOKEN":"research-secret"}}')
like "$r1" '^201 ' "research alice submits with Idempotency-Key k-shared (201)"
id1=$(echo "$r1" | jget '{id}')
r2=$(post "$A_PRO" k-shared '{"command":["eval"]}')
like "$r2" '^201 ' "product alice, same user name and same key: a new job (201), not research's (200)"
id2=$(echo "$r2" | jget '{id}')
ok $([ "$id2" != "$id1" ]; echo $?) "the answer is another job ($id2, not $id1)"
is "$(echo "$r2" | jget '{team}')" product "and it is product's job"
ok $(echo "$r2" | grep -q research-secret; [ $? = 1 ]; echo $?) "research's environment (HF_TOKEN) is not in the answer"
r3=$(post "$A_RES" k-shared '{"command":["train"]}')
like "$r3" '^200 ' "research alice retrying with her token gets her first job back (200)"
is "$(echo "$r3" | jget '{id}')" "$id1" "the same job $id1"
is "$(echo "$r3" | jget '{idempotency_scope}')" null "the token id scoping the key is not shown"
A_RES2=$("$GANTRY" token create --user alice --role member --team research)
r4=$(post "$A_RES2" k-shared '{"command":["train"]}')
like "$r4" '^201 ' "another token of research alice: its own scope (201)"

# ---- after_ok: another team's job is answered as a nonexistent one ----
missing=$((id1 + 100000))
rm_id() { sed -E "s/\b($1)\b/ID/g"; }
rn=$(post "$A_PRO" "" "{\"command\":[\"x\"],\"after_ok\":[$missing]}")
ro=$(post "$A_PRO" "" "{\"command\":[\"x\"],\"after_ok\":[$id1]}")
like "$rn" "^400 .*dependencies: job $missing does not exist" "after_ok on a nonexistent job: 400"
is "$(echo "$ro" | rm_id "$id1")" "$(echo "$rn" | rm_id "$missing")" \
  "after_ok on research's job $id1 from product: the same status and message as a nonexistent id"
like "$(post "$A_RES" "" "{\"command\":[\"x\"],\"after_ok\":[$id1]}")" '^201 ' \
  "research may depend on its own job"
like "$(TOK=$ADMIN api POST /v1/jobs "{\"team\":\"product\",\"command\":[\"x\"],\"after_ok\":[$id1]}")" '^201 ' \
  "the admin may depend on any job"

# ---- GET, DELETE, logs: the same 404 as a nonexistent id ----
for m in "GET /v1/jobs/%s" "DELETE /v1/jobs/%s" "GET /v1/jobs/%s/logs"; do
  set -- $m
  a=$(TOK=$A_PRO api "$1" "$(printf "$2" "$id1")" | rm_id "$id1")
  b=$(TOK=$A_PRO api "$1" "$(printf "$2" "$missing")" | rm_id "$missing")
  like "$a" '^404 ' "$m of another team's job: 404"
  is "$a" "$b" "$m of another team's job answers exactly as a nonexistent id"
done
is "$(TOK=$A_RES api GET "/v1/jobs/$id1" | jget '{state}')" pending "research still sees its job"

# ---- blocked_by names a job only to those who may see it ----
# Without backfill, the first job that can't start blocks every job behind it (pending_reason
# priority, blocked_by its id). One registered node with 1 GPU, held by a product job.
for id in $(TOK=$ADMIN api GET '/v1/jobs?state=pending' | jget '{jobs}' | perl -MJSON::PP -e 'print join " ", map {$_->{id}} @{decode_json(<STDIN>)}'); do
  TOK=$ADMIN api DELETE "/v1/jobs/$id" >/dev/null
done
sed -e 's/^  backfill: .*/  backfill: false/' -e 's/^  preemption: .*/  preemption: false/' \
  "${GANTRY_ROOT:-.}/examples/cluster.yaml" > "$WORK/nobackfill.yaml"
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
restart_server --config "$WORK/nobackfill.yaml" --heartbeat 60
reg='{"name":"n1","gpu_type":"H100-80GB","cpus_milli":8000,"memory_mib":65536,"address":"127.0.0.1","gpus":[{"index":0}],"running":[]}'
like "$(TOK=$ADMIN api POST /v1/agent/register "$reg")" '^200 ' "a node n1 with one GPU registers"
holder=$(TOK=$A_PRO api POST /v1/jobs '{"command":["hold"],"gpus":1}' | jget '{id}')
is_running() { [ "$(TOK=$ADMIN api GET "/v1/jobs/$1" | jget '{state}')" = running ]; }
wait_for 10 is_running "$holder"
ok $? "product's job $holder runs on n1's GPU"
blocker=$(TOK=$A_RES api POST /v1/jobs '{"command":["train"],"gpus":1}' | jget '{id}')
behind=$(TOK=$A_PRO api POST /v1/jobs '{"command":["eval"],"gpus":1}' | jget '{id}')
blocked() { [ "$(TOK=$ADMIN api GET "/v1/jobs/$behind" | jget '{blocked_by}')" = "$blocker" ]; }
wait_for 10 blocked
ok $? "the admin sees product's job $behind blocked_by research's job $blocker"
v=$(TOK=$A_PRO api GET "/v1/jobs/$behind")
is "$(echo "$v" | jget '{pending_reason}')" priority "product sees its job wait (priority)"
is "$(echo "$v" | jget '{blocked_by}')" null "but not the id of research's job that blocks it"
is "$(TOK=$A_PRO api GET '/v1/jobs?state=pending' | jget '{jobs}[0]{blocked_by}')" null "nor in its queue"
done_testing
