#!/usr/bin/env bash
# Plaintext and TLS across a real network hop: a client in a network namespace reaches the
# server at a veth address (not loopback). Plain http:// is refused by the CLI and the agent
# (the server never sees the request) unless plaintext is allowed explicitly; over https the
# server's certificate must name that address (host verification), and after the server gets
# one that does (SIGHUP) the same command works.
. "$(dirname "$0")/agent-lib.sh"
need_netns
research_cluster
netns_net || { echo "Bail out! no free 10.x subnet for the namespace"; exit 1; }
ns="gt$$-t1"
netns_pair "$ns" "gt$$ht" "gt$$nt" "10.$net.9"
host="10.$net.9.1"
in_ns() { ip netns exec "$ns" env -u GANTRY_SERVER "$@"; }

# ---- plain HTTP beyond loopback ----
LISTEN_ADDR=0.0.0.0 start_server --config "$WORK/cluster.yaml" --heartbeat 1
like "$(cat "$WORK/server.log")" "warning: plain HTTP on 0\.0\.0\.0:$PORT: tokens cross the network in clear" "the server warns that it serves plain HTTP beyond loopback"
out=$(in_ns "$GANTRY" submit --server "http://$host:$PORT" --team research --gpus 1 --name plain-refused -- true 2>&1); rc=$?
is "$rc" 1 "from the namespace, gantry submit to http://$host refuses"
like "$out" "refusing plain http://.*$host, not a loopback address.*--allow-plaintext" "and says how to fix it"
ok $(api GET /v1/jobs | grep -q plain-refused && echo 1 || echo 0) "the server never saw that submission"
out=$(in_ns "$GANTRY" submit --server "http://$host:$PORT" --allow-plaintext --team research --gpus 1 --name plain-allowed -o json -- true 2>&1)
like "$out" '"id"' "with --allow-plaintext the same submission is sent"
like "$(api GET /v1/jobs)" "plain-allowed" "and the server has it"
out=$(in_ns env GANTRY_ALLOW_PLAINTEXT=1 "$GANTRY" queue --server "http://$host:$PORT" -o json 2>&1)
like "$out" "plain-allowed" "GANTRY_ALLOW_PLAINTEXT=1 allows it too"

out=$(in_ns timeout 60 "$GANTRY" agent --server "http://$host:$PORT" --token "$ADMIN" --name pa \
  --gpus 1 --state-dir "$WORK/pa" --no-cgroups 2>&1); rc=$?
is "$rc" 2 "from the namespace, gantry agent to http://$host refuses to start"
like "$out" "refusing plain http://.*GANTRY_ALLOW_PLAINTEXT=1" "and says how to fix it"
ok $(api GET /v1/nodes | grep -q '"pa"' && echo 1 || echo 0) "the server never saw that agent"
ip netns exec "$ns" env GANTRY_ALLOW_PLAINTEXT=1 "$GANTRY" agent --server "http://$host:$PORT" --token "$ADMIN" \
  --name pb --gpus 1 --state-dir "$WORK/pb" --job-user root --allow-root --no-cgroups 2>>"$WORK/pb.log" &
PIDS+=($!)
wait_for 20 grep -q "registered with epoch" "$WORK/pb.log"
ok $? "with GANTRY_ALLOW_PLAINTEXT=1 the agent registers"

# ---- HTTPS: the certificate must name the address ----
"$GANTRY" tls-gen "$WORK/tls2" >/dev/null           # localhost, 127.0.0.1, ::1: not $host
p2=$(free_port)
"$GANTRY" server --data "$WORK/data2" --listen "0.0.0.0:$p2" --tls-cert "$WORK/tls2/server.pem" \
  --tls-key "$WORK/tls2/server-key.pem" 2>>"$WORK/server2.log" &
S2=$!
PIDS+=("$S2")
wait_for 30 curl -sf --cacert "$WORK/tls2/ca.pem" "https://127.0.0.1:$p2/healthz"
ok $? "a second server serves https on 0.0.0.0"
ok $(grep -q "warning: plain HTTP" "$WORK/server2.log" && echo 1 || echo 0) "and does not warn about plain HTTP"
tok2=$(cat "$WORK/data2/admin.token")
out=$(in_ns "$GANTRY" queue --server "https://$host:$p2" --ca-file "$WORK/tls2/ca.pem" --token "$tok2" 2>&1); rc=$?
is "$rc" 1 "a certificate that does not name $host is refused (right CA, wrong host)"
like "$out" "cannot verify the Gantry server at https://$host:$p2" "with a verification error"
"$GANTRY" tls-gen "$WORK/tls2" --host "$host" >/dev/null
kill -HUP "$S2"
wait_for 20 grep -q "SIGHUP: new connections get the TLS certificate" "$WORK/server2.log"
ok $? "the server takes a certificate naming $host on SIGHUP"
out=$(in_ns "$GANTRY" queue --server "https://$host:$p2" --ca-file "$WORK/tls2/ca.pem" --token "$tok2" -o json 2>&1); rc=$?
is "$rc $out" "0 []" "and the same command now works over https (an empty queue)"
done_testing
