#!/usr/bin/env bash
# TLS: the server serves HTTPS with a pair from `gantry tls-gen`; the CLI and an agent verify it
# with --ca-file (or GANTRY_CA_FILE) and work over it; a server whose certificate another CA
# signed is refused before anything is sent (the server never sees the request); SIGHUP swaps
# the certificate for new connections and a bad new pair keeps the old one; a bad pair is
# refused at start; plain http:// to a non-loopback address is refused by the CLI and the agent.
. "$(dirname "$0")/agent-lib.sh"
cat > "$WORK/cluster.yaml" <<'Y'
teams:
  - name: research
    quota: {gpus: 4}
Y
start_tls_server --config "$WORK/cluster.yaml" --heartbeat 1

# ---- the pair tls-gen made ----
is "$(stat -c %a "$WORK/tls/server-key.pem")" 600 "tls-gen writes the server key 0600"
is "$(stat -c %a "$WORK/tls/ca-key.pem")" 600 "and the CA key 0600"
is "$(stat -c %a "$WORK/tls")" 700 "in a 0700 directory"
like "$(cat "$WORK/server.log")" "listening on 127\.0\.0\.1:$PORT \(https\)" "the server says it serves https"
serial() { curl -s -o /dev/null -w '%{certs}' "$GANTRY_SERVER/healthz" | sed -n 's/^Serial Number: *//p' | tr -d ':' | tr 'A-F' 'a-f'; }
s1=$(serial)
like "$s1" '^[0-9a-f]{16,}$' "curl verifies the server with the CA and sees serial $s1"
like "$(cat "$WORK/server.log")" "TLS certificate serial $s1" "the server logs the serial it serves"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")
is "$code" 000 "plain HTTP to the HTTPS port gets no answer"

# ---- the CLI over TLS ----
out=$("$GANTRY" submit --team research --gpus 1 --name over-tls -o json -- true 2>&1)
like "$out" '"id"' "gantry submit works over https with GANTRY_CA_FILE"
out=$(env -u GANTRY_CA_FILE "$GANTRY" queue -o json --ca-file "$WORK/tls/ca.pem" 2>&1)
like "$out" "over-tls" "gantry queue works with --ca-file"
out=$(env -u GANTRY_CA_FILE "$GANTRY" queue 2>&1); rc=$?
is "$rc" 1 "without the CA (the system store does not trust it) gantry queue fails"
like "$out" "cannot verify the Gantry server at https://127\.0\.0\.1:$PORT.*--ca-file" "and says how to trust the CA"

# ---- another CA: refused, nothing sent ----
"$GANTRY" tls-gen "$WORK/other" >/dev/null
out=$("$GANTRY" submit --ca-file "$WORK/other/ca.pem" --team research --gpus 1 --name wrong-ca -- true 2>&1); rc=$?
is "$rc" 1 "gantry submit trusting another CA is refused"
like "$out" "cannot verify .* nothing was sent" "with a TLS verification error"
out=$(GANTRY_CA_FILE="$WORK/other/ca.pem" "$GANTRY" queue 2>&1); rc=$?
is "$rc" 1 "GANTRY_CA_FILE of another CA: refused too"
jobs=$(api GET /v1/jobs)
like "$jobs" "over-tls" "the job list answers (right CA)"
ok $(printf '%s' "$jobs" | grep -q "wrong-ca" && echo 1 || echo 0) "the server never saw the submission sent with the wrong CA"

# ---- an agent over TLS ----
start_agent() { # NAME LOG [args]
  local n=$1 log=$2; shift 2
  env -u GANTRY_CA_FILE "$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name "$n" --gpus 2 \
    --gpu-type H100-80GB --state-dir "$WORK/$n" --job-user root --allow-root --no-cgroups "$@" 2>>"$log" &
  PIDS+=($!)
}
start_agent n1 "$WORK/agent1.log" --ca-file "$WORK/tls/ca.pem"
wait_for 20 grep -q "registered with epoch" "$WORK/agent1.log"
ok $? "an agent with --ca-file registers over https"
j=$(submit '{"team":"research","gpus":1,"command":["sh","-c","echo hello over tls"]}')
wait_for 20 job_is "$j" succeeded
ok $? "its job runs (long poll over https) and its end is reported"
wait_for 20 sh -c "'$GANTRY' logs $j | grep -q 'hello over tls'"
ok $? "and its output is shipped over https"

start_agent n2 "$WORK/agent2.log" --ca-file "$WORK/other/ca.pem"
wait_for 20 grep -q "cannot register" "$WORK/agent2.log"
ok $? "an agent trusting another CA cannot register"
like "$(cat "$WORK/agent2.log")" "cannot register .*(certificate|SSL)" "and says it is the certificate"
like "$(api GET /v1/nodes)" '"n1"' "the server knows n1"
ok $(api GET /v1/nodes | grep -q '"n2"' && echo 1 || echo 0) "and never saw n2"

# ---- SIGHUP: a new certificate for new connections ----
"$GANTRY" tls-gen "$WORK/tls" >/dev/null
kill -HUP "$SERVER_PID"
wait_for 20 grep -q "SIGHUP: new connections get the TLS certificate" "$WORK/server.log"
ok $? "SIGHUP: the server reloads its pair"
s2=$(serial)
like "$s2" '^[0-9a-f]{16,}$' "a new connection sees serial $s2"
ok $([ "$s2" != "$s1" ] && echo 0 || echo 1) "not the old one ($s1)"
like "$(grep 'SIGHUP: new connections' "$WORK/server.log")" "serial $s2" "the one the server logged"
kill -0 "$SERVER_PID"
ok $? "the server runs on"
j2=$(submit '{"team":"research","gpus":1,"command":["true"]}')
wait_for 20 job_is "$j2" succeeded
ok $? "the agent works on after the swap"

# ---- SIGHUP with a bad pair keeps the old one ----
cp "$WORK/tls/server.pem" "$WORK/server.pem.good"
echo "not a certificate" > "$WORK/tls/server.pem"
kill -HUP "$SERVER_PID"
wait_for 20 grep -q "SIGHUP: the TLS certificate was not reloaded" "$WORK/server.log"
ok $? "SIGHUP with a bad certificate: not reloaded"
like "$(grep 'was not reloaded' "$WORK/server.log")" "server\.pem: not a PEM certificate.*still serving serial $s2" "the log says why and what it still serves"
is "$(serial)" "$s2" "new connections still get serial $s2"
cp "$WORK/server.pem.good" "$WORK/tls/server.pem"
cp "$WORK/other/server-key.pem" "$WORK/tls/server-key.pem"
kill -HUP "$SERVER_PID"
wait_for 20 sh -c "[ \$(grep -c 'was not reloaded' '$WORK/server.log') -ge 2 ]"
ok $? "SIGHUP with a key of another pair: not reloaded"
like "$(grep 'was not reloaded' "$WORK/server.log" | tail -n 1)" "does not belong to the certificate" "the log says the key does not match"
is "$(serial)" "$s2" "and the old pair stays"

# ---- a bad pair at start ----
p2=$(free_port)
out=$(timeout 30 "$GANTRY" server --data "$WORK/d2" --listen "127.0.0.1:$p2" --tls-cert "$WORK/tls/nope.pem" --tls-key "$WORK/tls/server-key.pem" 2>&1); rc=$?
is "$rc" 1 "a missing certificate file: the server does not start"
like "$out" "cannot serve TLS: cannot read .*nope\.pem" "and says which file"
echo garbage > "$WORK/garbage.pem"
out=$(timeout 30 "$GANTRY" server --data "$WORK/d2" --listen "127.0.0.1:$p2" --tls-cert "$WORK/garbage.pem" --tls-key "$WORK/other/server-key.pem" 2>&1)
like "$out" "garbage\.pem: not a PEM certificate" "a file that is not a certificate: a clear error"
out=$(timeout 30 "$GANTRY" server --data "$WORK/d2" --listen "127.0.0.1:$p2" --tls-cert "$WORK/other/server.pem" --tls-key "$WORK/other/ca-key.pem" 2>&1)
like "$out" "does not belong to the certificate" "a key that does not match: a clear error"
out=$(timeout 30 "$GANTRY" server --data "$WORK/d2" --listen "127.0.0.1:$p2" --tls-cert "$WORK/other/server.pem" 2>&1); rc=$?
is "$rc" 2 "--tls-cert without --tls-key is a usage error"

# ---- plaintext beyond loopback (refused before any connection) ----
out=$("$GANTRY" queue --server "http://10.255.255.1:$PORT" 2>&1); rc=$?
is "$rc" 1 "gantry queue refuses http:// to a non-loopback address"
like "$out" "refusing plain http:// .*not a loopback address.*--allow-plaintext" "and says how to fix it"
out=$(GANTRY_SERVER="10.255.255.1:$PORT" "$GANTRY" queue 2>&1)
like "$out" "refusing plain http://" "a server without a scheme is http:// and refused as well"
out=$(http_proxy="http://10.255.255.1:3128" "$GANTRY" queue --server "http://127.0.0.1:$PORT" 2>&1)
like "$out" "refusing plain http:// .*connecting to 10\.255\.255\.1" "a plain proxy beyond loopback is refused at the socket"
out=$(timeout 60 "$GANTRY" agent --server "http://10.255.255.1:$PORT" --token "$ADMIN" --gpus 1 --state-dir "$WORK/n3" --no-cgroups 2>&1); rc=$?
is "$rc" 2 "gantry agent refuses http:// to a non-loopback address at start"
like "$out" "refusing plain http:// .*GANTRY_ALLOW_PLAINTEXT=1" "and says how to fix it"
done_testing
