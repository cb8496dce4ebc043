#!/usr/bin/env bash
# Hash requests survive a server restart (docs/artifacts.md "Registered in place"): the store
# keeps each request; a server restarted while its node has not hashed yet loads it, sends the
# node its task again at its next heartbeat, takes the answer and registers the version; the
# `gantry artifact push --in-place` that waited goes on waiting through the restart and prints
# the version; the answered request is still there after another restart.
. "$(dirname "$0")/agent-lib.sh"
V=$WORK/vol
mkdir -p "$V/out" "$V/ds/imagenet/train"
echo cat > "$V/ds/imagenet/train/0001.txt"
echo dog > "$V/ds/imagenet/train/0002.txt"
echo labels > "$V/ds/imagenet/labels.csv"
printf 'teams:\n  - {name: vision, quota: {gpus: 2}}\nvolumes:\n  - {name: datasets, path: %s, teams: [vision], access: rw, kind: dataset}\n' "$V/ds" > "$WORK/cluster.yaml"
start_server --config "$WORK/cluster.yaml" --heartbeat 1
# n0, first to register, does not have the volume: its agent runs in a mount namespace of its
# own where an empty tmpfs hides $V
unshare -m --propagation private sh -c 'mount -t tmpfs tmpfs "$1" && shift && exec "$@"' sh "$V" \
  "$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name n0 --gpus 2 --gpu-type H100-80GB \
  --state-dir "$WORK/n0" --job-user root --allow-root --no-cgroups 2>>"$WORK/agent0.log" &
PIDS+=($!)
wait_for 20 grep -q "registered with epoch" "$WORK/agent0.log"
ok $? "node n0 (without the volume) registers first"
run_agent n1 2 "$WORK/n1" agent.log --no-cgroups
AGENT=$AGENT_PID
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "node n1 (with it) registers"
ALICE=$("$GANTRY" token create --user alice --role member --team vision)
# ---- a hash goes to a node that has the volume ----
mkdir -p "$V/ds/small"; echo x > "$V/ds/small/x"
vols() { api GET /v1/nodes | perl -MJSON::PP -e 'my $d = decode_json(join "", <STDIN>); for (@{ref $d eq "HASH" ? $d->{nodes} : $d}) { print "$_->{name}:", scalar @{$_->{volumes} || []} if $_->{name} eq $ARGV[0] }' "$1"; }
n1_has() { [ "$(vols n1)" = "n1:1" ]; }
wait_for 20 n1_has
ok $? "n1's heartbeats say it has the volume"
is "$(vols n0)" "n0:0" "n0's that it has none"
out=$(GANTRY_TOKEN=$ALICE "$GANTRY" artifact push --in-place datasets:small small --wait 60 2>&1)
is "$?" 0 "push --in-place succeeds with a node up that lacks the volume"
like "$(grep 'hashes datasets:small' "$WORK/server.log")" 'node n1 hashes' "the node asked is one that has the volume (n1), not the first up (n0)"
restart_gantry() {
  "$GANTRY" server --data "$WORK/data" "${STORE_ARGS[@]}" --listen "127.0.0.1:$PORT" \
    --config "$WORK/cluster.yaml" --heartbeat 1 2>>"$WORK/server.log" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_for 30 curl -sf "$GANTRY_SERVER/healthz"
}

# the node's agent is gone: the task the server queues for it is never taken
kill -9 "$AGENT"; wait "$AGENT" 2>/dev/null
GANTRY_TOKEN=$ALICE "$GANTRY" artifact push --in-place datasets:imagenet imagenet --kind dataset \
  --wait 600 > "$WORK/push.out" 2> "$WORK/push.err" &
PUSH=$!
PIDS+=("$PUSH")
wait_for 20 grep -q "node n1 hashes datasets:imagenet (request" "$WORK/server.log"
ok $? "the server asks node n1 to hash it"
id=$(grep -o "node n1 hashes datasets:imagenet (request [^)]*" "$WORK/server.log" | sed 's/.*request //' | tail -n 1)
kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
restart_gantry
ok $? "the server restarts (its memory empty) before the node took the task"
waiting=$(api GET "/v1/artifact-requests/$id" | jget '{state}')
is "$waiting" hashing "while its node is not back, the loaded request waits (not failed as lost)"
run_agent n1 2 "$WORK/n1" agent.log --no-cgroups
wait_for 60 grep -q "asked again to hash datasets:imagenet (request $id" "$WORK/server.log"
ok $? "it loads the request from the store and sends the node's new agent its task again"
pushed() { ! kill -0 "$PUSH" 2>/dev/null; }
wait_for 300 pushed
wait "$PUSH"; rc=$?
is "$rc" 0 "gantry artifact push --in-place waited through the restart and succeeds"
[ "$rc" = 0 ] || sed "s/^/#   push: /" "$WORK/push.err" >&2
like "$(cat "$WORK/push.out")" '^imagenet@1 sha256:[0-9a-f]{64} \(3 files, 15 bytes, in place on datasets:imagenet\)' "it prints the version the node's hash registered"
is "$(api GET /v1/artifacts/imagenet | jget '{latest}')" 1 "the version is in the registry"
kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
restart_gantry
r=$(curl -s -H "Authorization: Bearer $ALICE" "$GANTRY_SERVER/v1/artifact-requests/$id")
is "$(echo "$r" | jget '{state}')" done "after another restart the answered request is still there"
is "$(echo "$r" | jget '{version}')" 1 "with the version it made"
done_testing
