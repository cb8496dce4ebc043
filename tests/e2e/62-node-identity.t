#!/usr/bin/env bash
# Node identity, as an attacker holding another node's credential would try it with curl
# (issue 8, item 4): names are validated, a 409 does not tell the node's epoch.
. "$(dirname "$0")/lib.sh"
start_server --heartbeat 2
"$GANTRY" quota set research --quota 4 >/dev/null
AG=$("$GANTRY" token create --user joiner --role agent)
body() { echo "{\"name\":\"$1\",\"gpu_type\":\"${2:-H100}\",\"cpus_milli\":8000,\"memory_mib\":65536,\"address\":\"127.0.0.1\",\"gpus\":[{\"index\":0},{\"index\":1}],\"running\":[]}"; }

# ---- node names: 1-63 of [A-Za-z0-9._-]; nothing that splits a log line or a table row ----
r=$(TOK=$AG api POST /v1/agent/register '{"name":"evil\nnode 7","gpus":[]}')
like "$r" '^400 .*node name is not valid' "a node name with a newline is refused (400)"
r=$(TOK=$AG api POST /v1/agent/register "{\"name\":\"$(printf 'x%.0s' $(seq 64))\",\"gpus\":[]}")
like "$r" '^400 .*node name' "a 64-character node name is refused"
r=$(TOK=$AG api POST /v1/agent/register '{"name":"a b","gpus":[]}')
like "$r" '^400 ' "a node name with a space is refused"
r=$(TOK=$AG api POST /v1/agent/register '{"name":"","gpus":[]}')
like "$r" '^400 ' "an empty node name is refused"
r=$(TOK=$AG api POST /v1/agent/register '{"name":"n9","gpu_type":"H100\nfake","gpus":[]}')
like "$r" '^400 .*gpu_type' "a GPU type with a newline is refused"
r=$(TOK=$AG api POST /v1/agent/register '{"name":"n9","topology":{"leaf":"l1\rx"},"gpus":[]}')
like "$r" '^400 .*leaf' "a topology label with a control character is refused"
is "$(api GET /v1/nodes | jget '{nodes}' )" "[]" "none of them became a node"
r=$(TOK=$AG api POST /v1/agent/register "$(body gpu-001.rack_2-A)")
like "$r" '^200 ' "a name of letters, digits, '.', '_' and '-' registers"
is "$("$GANTRY" nodes | wc -l)" 2 "gantry nodes: a header and one line"
ok "$(grep -c 'evil' "$WORK/server.log" | grep -qx 0; echo $?)" "the server's log never printed the refused names"
like "$("$GANTRY" agent --server "$GANTRY_SERVER" --token "$AG" --name 'bad name' 2>&1)" \
  'node name is not valid.*--name' "gantry agent refuses an invalid --name before it starts"

# ---- (f) a 409 does not tell the node's current epoch ----
for i in 1 2 3; do TOK=$AG api POST /v1/agent/register "$(body n1)" >/dev/null; done
r=$(TOK=$ADMIN api POST /v1/agent/heartbeat '{"name":"n1","epoch":77,"running":[]}')
like "$r" '^409 .*stale_epoch' "a stale epoch is answered 409"
ok "$(printf '%s' "$r" | grep -qE '(^|[^0-9n])3([^0-9]|$)|current [0-9]'; echo $((! $?)))" \
  "and the answer does not carry the node's epoch (3)"
r=$(TOK=$ADMIN api GET '/v1/agent/work?name=n1&epoch=78&wait=0')
ok "$(printf '%s' "$r" | grep -qE '(^|[^0-9n])3([^0-9]|$)|current [0-9]'; echo $((! $?)))" \
  "nor does the long poll's 409"
done_testing
