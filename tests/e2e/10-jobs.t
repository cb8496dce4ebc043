#!/usr/bin/env bash
# Submit, queue, show, cancel through the CLI and raw HTTP; validation errors; tokens and the
# authorization matrix (a member can't touch another team's jobs).
. "$(dirname "$0")/lib.sh"
start_server --config "${GANTRY_ROOT:-.}/examples/cluster.yaml"

out=$("$GANTRY" submit --team research --gpus 2 --time 4h --name train -- python train.py)
like "$out" '^Submitted job 1$' "gantry submit prints the id"
r=$(api GET /v1/jobs/1)
is "$(echo "$r" | jget '{state}')" pending "the job is pending (no agents)"
is "$(echo "$r" | jget '{time_limit_s}')" 14400 "time limit 4h stored as seconds"
is "$(echo "$r" | jget '{command}')" '["python","train.py"]' "command kept"
like "$(echo "$r" | jget '{pending_reason}')" '^(capacity|none)$' "pending job says why it waits"

cat > "$WORK/job.yaml" <<'Y'
name: finetune
team: product
gpus: 1
memory: 64Gi
time_limit: 1h
command: [bash, -c, "echo hi"]
env: {WANDB_MODE: offline}
Y
out=$("$GANTRY" submit -f "$WORK/job.yaml" -o json)
is "$(echo "$out" | jget '{memory_mib}')" 65536 "YAML job spec: memory 64Gi"
is "$(echo "$out" | jget '{env}{WANDB_MODE}')" offline "YAML job spec: env"

q=$("$GANTRY" queue)
like "$q" 'ID +NAME +TEAM +USER +STATE +GPUS +START +ELAPSED +REASON' "queue has its columns"
like "$q" '1 +train +research +admin +pending +2 ' "queue lists job 1"
is "$("$GANTRY" queue -o json | jget '[1]{name}')" finetune "queue -o json"
s=$("$GANTRY" show 1)
like "$s" 'state: pending' "show prints the state"
like "$s" '# waiting: ' "show says why it waits"

like "$("$GANTRY" cancel 1)" 'Cancelled job 1' "cancel"
is "$(api GET /v1/jobs/1 | jget '{state}')" cancelled "cancelled job's state"
r=$(api DELETE /v1/jobs/1)
like "$r" '^409 .*already ended' "cancelling twice: 409"
like "$("$GANTRY" queue --state cancelled)" '1 +train +research' "queue --state cancelled"

# ---- validation: each refused with 400 and a message, nothing stored ----
before=$(api GET '/v1/jobs?state=all' | jget '{jobs}' | perl -MJSON::PP -e 'print scalar @{decode_json(<STDIN>)}')
check() { local r; r=$(api POST /v1/jobs "$1"); like "$r" "^$2 .*$3" "rejected: $4"; }
check '{"team":"research","gpus":1}' 400 "command.*required" "no command"
check '{"team":"research","command":["x"],"gpus":-1}' 400 "negative" "negative gpus"
check '{"team":"research","command":["x"],"gpus":1e9}' 400 "gpus" "absurd gpus"
check '{"team":"research","command":["x"],"gpus":"100000000"}' 400 "too large" "absurd gpus as a string"
check '{"team":"research","command":["x"],"gpus":1.5}' 400 "gpus" "fraction above one"
check '{"team":"research","command":["x"],"bogus":1}' 400 "unknown field 'bogus'" "unknown field"
check '{"team":"research","command":"x","nodes":"two"}' 400 "nodes" "nodes of the wrong type"
check '{"team":"nobody","command":["x"]}' 400 "team 'nobody' does not exist" "unknown team"
check '{"team":"research","command":["x"],"priority_class":"vip"}' 400 "priority class 'vip'" "unknown priority class"
check '{"team":"research","command":["x"],"memory":"lots"}' 400 "memory" "bad memory"
check '{"team":"research","command":["x"],"time_limit":"soon"}' 400 "duration" "bad time limit"
check '{"team":"research","command":[]}' 400 "command" "empty command"
check '{"team":"research","command":["x"],"env":{"A":1}}' 400 "env" "env value not a string"
check '{"team":"research","command":["x"],"after_ok":[99999]}' 400 "99999" "unknown dependency"
check '{"team":"research","command":["x"],"array":"9-1"}' 400 "array" "bad array range"
check '{"team":"research","command":["x"],"gpus":3,"nodes":2}' 400 "." "gang that does not divide"
check '[1,2]' 400 "JSON object" "body not an object"
check '{"team":' 400 "not valid JSON" "malformed JSON"
r=$(head -c 1100000 /dev/zero | tr '\0' 'a' | curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $ADMIN" --data-binary @- "$GANTRY_SERVER/v1/jobs")
is "$r" 413 "a body over 1 MiB: 413"
after=$(api GET '/v1/jobs?state=all' | jget '{jobs}' | perl -MJSON::PP -e 'print scalar @{decode_json(<STDIN>)}')
is "$after" "$before" "nothing stored by rejected submissions"
err=$("$GANTRY" submit --team research --gpus -3 -- x 2>&1); rc=$?
is "$rc" 1 "CLI exits 1 on a refused job"
like "$err" "gantry submit: 'gpus' must not be negative" "CLI prints the server's message"

# ---- idempotency ----
a=$(curl -s -X POST -H "Authorization: Bearer $ADMIN" -H 'Idempotency-Key: k-1' -d '{"team":"research","command":["x"]}' "$GANTRY_SERVER/v1/jobs" | jget '{id}')
b=$(curl -s -X POST -H "Authorization: Bearer $ADMIN" -H 'Idempotency-Key: k-1' -d '{"team":"research","command":["x"]}' "$GANTRY_SERVER/v1/jobs" | jget '{id}')
is "$b" "$a" "a retried submission with the same Idempotency-Key returns the same job"

# ---- tokens and roles ----
r=$(curl -s -o /dev/null -w '%{http_code}' "$GANTRY_SERVER/v1/jobs")
is "$r" 401 "no token: 401"
r=$(TOK=gt_nope api GET /v1/jobs)
like "$r" '^401 .*token' "a wrong token: 401"
alice=$("$GANTRY" token create --user alice --role member --team research)
bob=$("$GANTRY" token create --user bob --role member --team product)
carol=$("$GANTRY" token create --user carol --role team-admin --team product)
dave=$("$GANTRY" token create --user dave --role member --team research)
agent=$("$GANTRY" token create --user node1 --role agent)
like "$alice" '^gt_[0-9a-f]{64}$' "token create prints a token"
like "$("$GANTRY" token create --user x --role member 2>&1)" 'needs a team' "member token without team refused"
like "$(GANTRY_TOKEN=$alice "$GANTRY" token create --user x --role admin 2>&1)" 'forbidden' "a member can't create tokens"
ls -l "$WORK/data/admin.token" | grep -q '^-rw-------'; ok $? "admin.token has mode 0600"
store_sql "select count(*) from tokens where hash like 'gt_%'" | grep -qx 0; ok $? "tokens are stored only as hashes"

ja=$(GANTRY_TOKEN=$alice "$GANTRY" submit --gpus 1 -- sleep 1 | awk '{print $3}')
jb=$(GANTRY_TOKEN=$bob "$GANTRY" submit --gpus 1 -- sleep 1 | awk '{print $3}')
like "$ja" '^[0-9]+$' "alice submits to her team by default"
is "$(api GET /v1/jobs/$ja | jget '{team}') $(api GET /v1/jobs/$ja | jget '{user}')" "research alice" "job records team and user"
r=$(TOK=$alice api POST /v1/jobs '{"team":"product","command":["x"]}')
like "$r" '^403 ' "member can't submit to another team"
r=$(TOK=$alice api GET /v1/jobs/$jb)
like "$r" '^404 ' "member can't see another team's job"
r=$(TOK=$alice api DELETE /v1/jobs/$jb)
like "$r" '^404 ' "member can't cancel another team's job"
is "$(api GET /v1/jobs/$jb | jget '{state}')" pending "bob's job untouched"
r=$(TOK=$alice api GET '/v1/jobs?team=product')
like "$r" '^403 ' "member can't list another team's queue"
ids=$(GANTRY_TOKEN=$alice "$GANTRY" queue -o json | jget '' | perl -MJSON::PP -e 'print join ",", sort map {$_->{team}} @{decode_json(<STDIN>)}')
like "$ids" '^(research,?)+$' "member's queue shows only their team"
r=$(TOK=$dave api DELETE /v1/jobs/$ja)
like "$r" '^403 ' "member can't cancel a teammate's job"
r=$(TOK=$carol api DELETE /v1/jobs/$ja)
like "$r" '^404 ' "team-admin can't touch another team's job"
r=$(TOK=$carol api DELETE /v1/jobs/$jb)
like "$r" '^200 ' "team-admin cancels a job of their team"
r=$(TOK=$alice api DELETE /v1/jobs/$ja)
like "$r" '^200 ' "member cancels their own job"
r=$(TOK=$agent api GET /v1/jobs)
like "$r" '^403 ' "agent token can't use the user API"
r=$(TOK=$alice api POST /v1/agent/register '{"name":"n1"}')
like "$r" '^403 ' "member can't use agent endpoints"

# ---- teams and quotas at run time ----
r=$(TOK=$bob api PUT /v1/teams/product '{"quota":100}')
like "$r" '^403 ' "member can't change quotas"
r=$(TOK=$carol api PUT /v1/teams/research '{"quota":1}')
like "$r" '^403 ' "team-admin can't change another team's quota"
r=$(TOK=$carol api PUT /v1/teams/product '{"quota":12}')
like "$r" '^403 .*only an admin' "team-admin can't change its own team's quota (an admin sets it)"
out=$("$GANTRY" quota set product --quota 12 --limit 20 -o json)
is "$(echo "$out" | jget '{quota}')" 12 "admin sets product's quota"
r=$(api PUT /v1/teams/product '{"quota":"lots"}')
like "$r" '^400 ' "bad quota refused"
like "$("$GANTRY" teams)" 'product +- +12 +20' "teams shows the new quota"
like "$("$GANTRY" quota set newteam --quota 4 -o json)" '"name": "newteam"' "admin creates a team"
like "$("$GANTRY" nodes)" 'NAME +STATE' "nodes lists"
like "$("$GANTRY" usage --since 1d)" 'TEAM +GPU_HOURS +JOBS' "usage prints"
# /v1/metrics: no node here, so every waiting job is counted under one scheduler reason or
# under dependency; the counts add up to the pending jobs.
m=$(curl -s -H "Authorization: Bearer $GANTRY_TOKEN" "$GANTRY_SERVER/v1/metrics")
pending=$(printf '%s\n' "$m" | sed -n 's/^gantry_jobs{state="pending"} //p')
waiting=$(printf '%s\n' "$m" | awk '/^gantry_pending_jobs\{/ {s += $2} END {print s + 0}')
ok $([ "${pending:-0}" -gt 0 ] && [ "$pending" = "$waiting" ] && echo 0 || echo 1) \
  "metrics: $pending pending jobs, all counted by reason ($waiting)"
like "$m" '^gantry_team_pending_jobs\{team="product"\} [0-9]' "metrics: per-team queue depth"

# ---- server down ----
err=$(GANTRY_SERVER=http://127.0.0.1:1 "$GANTRY" queue 2>&1); rc=$?
is "$rc" 1 "CLI exits 1 when the server is down"
like "$err" 'cannot reach the Gantry server at http://127.0.0.1:1' "and says so"
"$GANTRY" submit --help | grep -q 'usage: gantry submit'; ok $? "submit --help"
done_testing
