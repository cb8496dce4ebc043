#!/usr/bin/env bash
# Node runtimes and the agent's image reports on the server, curl playing two agents
# (docs/agent-protocol.md): a job with an image waits with reason no_runtime while no node has
# "oci", goes only to a node that has it, shows its pull's progress, records the digest its
# node ran (kept over a restart); a failed pull ends the job image_pull and frees its GPUs.
. "$(dirname "$0")/lib.sh"
start_server --heartbeat 1
"$GANTRY" quota set research --quota 8 >/dev/null
JOIN=$("$GANTRY" token create --user agents --role agent)
register() { # NAME EXTRA-JSON: prints the node's credential
  local r
  r=$(TOK=$JOIN api POST /v1/agent/register "{\"name\":\"$1\",\"gpu_type\":\"H100\",\"address\":\"127.0.0.1\",\"gpus\":[{\"index\":0},{\"index\":1}],\"running\":[]$2}")
  echo "$r" | jget '{node_token}'
}
beat() { # NAME TOKEN: a heartbeat loop standing in for the agent's, epoch from $WORK/epoch.NAME
  echo 1 > "$WORK/epoch.$1"
  ( while :; do curl -s -o /dev/null -X POST -H "Authorization: Bearer $2" \
      -d "{\"name\":\"$1\",\"epoch\":$(cat "$WORK/epoch.$1"),\"running\":[]}" "$GANTRY_SERVER/v1/agent/heartbeat"; sleep 0.3; done ) &
  PIDS+=($!)
}
reregister() { # NAME TOKEN EPOCH EXTRA-JSON: the node registers again with its credential
  TOK=$2 api POST /v1/agent/register "{\"name\":\"$1\",\"gpu_type\":\"H100\",\"address\":\"127.0.0.1\",\"gpus\":[{\"index\":0},{\"index\":1}],\"running\":[]$4}" >/dev/null
  echo "$3" > "$WORK/epoch.$1"
}
N1=$(register n1 "")
beat n1 "$N1"
is "$(api GET /v1/nodes/n1 | jget '{runtimes}')" '["process"]' "a node that does not say has the process runtime only"

img=$("$GANTRY" submit --team research --gpus 1 --image docker://registry.example/train:1 -- train | awk '{print $3}')
reason() { api GET "/v1/jobs/$1" | jget '{pending_reason}'; }
wait_for 10 sh -c "[ \"\$(curl -s -H 'Authorization: Bearer $ADMIN' $GANTRY_SERVER/v1/jobs/$img | grep -o '\"pending_reason\":\"[a-z_]*\"')\" = '\"pending_reason\":\"no_runtime\"' ]"
ok $? "a job with an image waits while no node has a container runtime"
is "$(reason "$img")" no_runtime "its pending_reason is no_runtime"
like "$(api GET /v1/jobs/$img | jget '{pending_message}')" "container runtime" "its message names the container runtime"
like "$("$GANTRY" show "$img")" "# waiting: no node with a container runtime" "gantry show says why it waits"
plain=$("$GANTRY" submit --team research --gpus 1 -- true | awk '{print $3}')
w=$(TOK=$N1 api GET "/v1/agent/work?name=n1&epoch=1&wait=5")
is "$(echo "$w" | jget '{tasks}[0]{job}{id}')" "$plain" "a plain job behind it starts on the process-only node"
is "$(echo "$w" | jget '{tasks}[1]')" null "and the image job does not go there"

N2=$(register n2 ',"runtimes":["process","oci"],"oci_runtime":"runc"')
beat n2 "$N2"
w=$(TOK=$N2 api GET "/v1/agent/work?name=n2&epoch=1&wait=5")
is "$(echo "$w" | jget '{tasks}[0]{job}{id}')" "$img" "once a node with oci registers, the image job starts there"
is "$(echo "$w" | jget '{tasks}[0]{job}{image}')" docker://registry.example/train:1 "with its image"
is "$(api GET /v1/nodes/n2 | jget '{runtimes}')" '["process","oci"]' "node JSON: runtimes"
is "$(api GET /v1/nodes/n2 | jget '{oci_runtime}')" runc "node JSON: oci_runtime"
like "$("$GANTRY" nodes -o wide)" 'n2 .* process,oci \(runc\)' "gantry nodes -o wide shows the runtimes"

# ---- pulling, then the digest ----
hb2() { TOK=$N2 api POST /v1/agent/heartbeat "{\"name\":\"n2\",\"epoch\":1,\"running\":[{\"job_id\":$img,\"incarnation\":1}]$1}"; }
like "$(hb2 ",\"pulling\":[{\"job\":$img,\"incarnation\":1,\"bytes\":123456},{\"job\":9999,\"incarnation\":1,\"bytes\":5}]")" '^200 ' "a heartbeat with pulling"
is "$(api GET /v1/jobs/$img | jget '{pull}{bytes}')" 123456 "the job shows its pull's bytes"
like "$("$GANTRY" show "$img")" "# pulling its image: 123456 bytes so far" "gantry show says it pulls"
hb2 ",\"pulling\":[{\"job\":$img,\"incarnation\":2,\"bytes\":999}]" >/dev/null
is "$(api GET /v1/jobs/$img | jget '{pull}')" null "a pull of another incarnation is old news (and the job is no longer shown pulling)"
hb2 ",\"pulling\":[{\"job\":$img,\"incarnation\":1,\"bytes\":200000}]" >/dev/null
D=sha256:$(printf '%064d' 7)
hb2 ",\"images\":[{\"job\":$img,\"incarnation\":1,\"digest\":\"sha256:NOTHEX\"}]" >/dev/null
is "$(api GET /v1/jobs/$img | jget '{image_digest}')" null "a digest that is not sha256:<64 hex> is not recorded"
hb2 ",\"images\":[{\"job\":$img,\"incarnation\":1,\"digest\":\"$D\"}]" >/dev/null
is "$(api GET /v1/jobs/$img | jget '{image_digest}')" "$D" "the digest its node runs is recorded"
is "$(api GET /v1/jobs/$img | jget '{pull}')" null "and it no longer shows a pull"
hb2 ",\"images\":[{\"job\":$img,\"incarnation\":1,\"digest\":\"sha256:$(printf '%064d' 8)\"}]" >/dev/null
is "$(api GET /v1/jobs/$img | jget '{image_digest}')" "$D" "the first digest is kept"
rep() { TOK=$N2 api POST /v1/agent/report "{\"name\":\"n2\",\"epoch\":1,\"events\":[$1]}"; }
rep "{\"job_id\":$img,\"incarnation\":1,\"event\":\"exited\",\"exit_code\":0,\"reason\":\"completed\",\"image_digest\":\"$D\"}" >/dev/null
is "$(api GET /v1/jobs/$img | jget '{state}')" succeeded "the container job succeeds"

# an exited event alone carries the digest too
img2=$("$GANTRY" submit --team research --gpus 1 --image oci:/srv/layout:2 -- x | awk '{print $3}')
w=$(TOK=$N2 api GET "/v1/agent/work?name=n2&epoch=1&wait=5")
is "$(echo "$w" | jget '{tasks}[0]{job}{id}')" "$img2" "a second image job starts"
D2=sha256:$(printf '%064d' 2)
rep "{\"job_id\":$img2,\"incarnation\":1,\"event\":\"exited\",\"exit_code\":0,\"reason\":\"completed\",\"image_digest\":\"$D2\"}" >/dev/null
is "$(api GET /v1/jobs/$img2 | jget '{image_digest}')" "$D2" "the exited event's image_digest is recorded"

# ---- a failed pull: image_pull, the message, its GPUs free at once ----
bad=$("$GANTRY" submit --team research --gpus 2 --image docker://registry.example/nope:1 -- x | awk '{print $3}')
w=$(TOK=$N2 api GET "/v1/agent/work?name=n2&epoch=1&wait=5")
is "$(echo "$w" | jget '{tasks}[0]{job}{id}')" "$bad" "a job whose image does not exist starts (its pull will fail)"
is "$(api GET /v1/nodes/n2 | jget '{gpus_free}')" 0 "it holds both GPUs of n2"
rep "{\"job_id\":$bad,\"incarnation\":1,\"event\":\"exited\",\"exit_code\":125,\"reason\":\"image_pull\",\"message\":\"skopeo: reading manifest 1 in registry.example/nope: manifest unknown\"}" >/dev/null
is "$(api GET /v1/jobs/$bad | jget '{state}')" failed "a failed pull fails the job"
is "$(api GET /v1/jobs/$bad | jget '{end_reason}')" image_pull "end_reason image_pull"
like "$(api GET /v1/jobs/$bad | jget '{end_message}')" "manifest unknown" "with skopeo's own message"
is "$(api GET /v1/nodes/n2 | jget '{gpus_free}')" 2 "its GPUs are free at once"

# ---- runtimes change when a node registers again ----
reregister n2 "$N2" 2 ',"runtimes":["process"]'
is "$(api GET /v1/nodes/n2 | jget '{runtimes}')" '["process"]' "n2 registers again without oci"
late=$("$GANTRY" submit --team research --gpus 1 --image oci:/srv/layout:3 -- x | awk '{print $3}')
wait_for 10 sh -c "curl -s -H 'Authorization: Bearer $ADMIN' $GANTRY_SERVER/v1/jobs/$late | grep -q '\"pending_reason\":\"no_runtime\"'"
ok $? "with no node offering oci (a node saying [\"process\"] does not), an image job waits no_runtime"
reregister n1 "$N1" 2 ',"runtimes":["process","oci"],"oci_runtime":"crun"'
# (the plain job it never reported comes back too: the node registered without it)
wait_for 10 sh -c "curl -s -H 'Authorization: Bearer $ADMIN' $GANTRY_SERVER/v1/jobs/$late | grep -q '\"state\":\"running\"'"
ok $? "once n1 registers again with oci, the image job starts"
is "$(api GET /v1/jobs/$late | jget '{placement}[0]{node}')" n1 "there"

kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
restart_server --heartbeat 1
is "$(api GET /v1/jobs/$img | jget '{image_digest}')" "$D" "after a restart: the digest is kept"
is "$(api GET /v1/nodes/n1 | jget '{runtimes}')" '["process","oci"]' "after a restart: a node's runtimes are kept"
# cancel_all: cancels every job; the node of a running one reports its exit (frees its GPUs)
cancel_all() {
  local id node inc tok
  for id in $(api GET '/v1/jobs?state=pending,running' | jget '{jobs}' | grep -o '"id":[0-9]*' | cut -d: -f2); do
    node=$(api GET "/v1/jobs/$id" | jget '{placement}[0]{node}')
    inc=$(api GET "/v1/jobs/$id" | jget '{incarnation}')
    "$GANTRY" cancel "$id" >/dev/null
    [ "$node" = null ] && continue
    tok=$N1; [ "$node" = n2 ] && tok=$N2
    TOK=$tok api POST /v1/agent/report "{\"name\":\"$node\",\"epoch\":$(cat "$WORK/epoch.$node"),\"events\":[{\"job_id\":$id,\"incarnation\":$inc,\"event\":\"exited\",\"exit_code\":0,\"signal\":15,\"reason\":\"cancelled\"}]}" >/dev/null
  done
}
cancel_all
after=$("$GANTRY" submit --team research --gpus 1 --image oci:/srv/layout:4 -- x | awk '{print $3}')
wait_for 10 sh -c "curl -s -H 'Authorization: Bearer $ADMIN' $GANTRY_SERVER/v1/jobs/$after | grep -q '\"state\":\"running\"'"
ok $? "after a restart an image job starts (its node has oci without registering again)"
is "$(api GET /v1/jobs/$after | jget '{placement}[0]{node}')" n1 "on the node with oci"

# The same with nodes declared in the configuration (their stored runtimes are used too).
cancel_all
printf 'nodes:\n  - {name: n1, gpus: 2, gpu_type: H100}\n  - {name: n2, gpus: 2, gpu_type: H100}\n' > "$WORK/nodes.yaml"
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
restart_server --heartbeat 1 --config "$WORK/nodes.yaml"
is "$(api GET /v1/nodes/n1 | jget '{runtimes}')" '["process","oci"]' "a declared node: its stored runtimes after a restart"
is "$(api GET /v1/nodes/n2 | jget '{runtimes}')" '["process"]' "and another's"
decl=$("$GANTRY" submit --team research --gpus 1 --image oci:/srv/layout:5 -- x | awk '{print $3}')
wait_for 10 sh -c "curl -s -H 'Authorization: Bearer $ADMIN' $GANTRY_SERVER/v1/jobs/$decl | grep -q '\"state\":\"running\"'"
ok $? "an image job starts on a declared node with oci after a restart"
is "$(api GET /v1/jobs/$decl | jget '{placement}[0]{node}')" n1 "on n1"
done_testing
