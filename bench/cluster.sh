# bench/cluster.sh: sourced by the agent benchmarks. A real `gantry server` and N real
# `gantry agent`s with declared GPUs on loopback, as in production: cgroups on (v1 or v2, as
# mounted), jobs run as an unprivileged user (BENCH_JOB_USER, default nobody). Not a test.
#   start_cluster AGENTS GPUS   sets GANTRY_SERVER, GANTRY_TOKEN, AGENT_PIDS, BENCH_WORK
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${GANTRY_BIN:-$root/bin/gantry}
BENCH_WORK=$(mktemp -d /tmp/gantry-bench-agent.XXXXXX)
chmod 755 "$BENCH_WORK"
AGENT_PIDS=()
SERVER_PID=

stop_cluster() { # safe to call twice (set -e: every kill may find its process gone)
  local p f sp jp
  for p in "${AGENT_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  AGENT_PIDS=()
  SERVER_PID=
  for f in "$BENCH_WORK"/node-*/jobs/*/state; do # supervisors still running, if any
    [ -f "$f" ] || continue
    sp=$(sed -n 's/^supervisor_pid=//p' "$f" | tail -n 1); jp=$(sed -n 's/^pid=//p' "$f" | tail -n 1)
    [ -n "$jp" ] && [ "$jp" -gt 0 ] && { kill -9 -- "-$jp" 2>/dev/null || true; }
    [ -n "$sp" ] && [ "$sp" -gt 0 ] && { kill -9 "$sp" 2>/dev/null || true; }
  done
  for d in /sys/fs/cgroup/*/gantry/bench-* /sys/fs/cgroup/gantry/bench-*; do
    [ -d "$d" ] && { find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; }
  done
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$BENCH_WORK"
}

start_cluster() {
  local n=$1 g=$2 port i
  cat >"$BENCH_WORK/cluster.yaml" <<YAML
teams:
  - {name: research, quota: {gpus: $((n * g))}, limit: {gpus: $((n * g))}}
YAML
  port=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen=>1,LocalAddr=>"127.0.0.1")->sockport')
  "$bin" server --data "$BENCH_WORK/data" --listen "127.0.0.1:$port" \
    --config "$BENCH_WORK/cluster.yaml" 2>"$BENCH_WORK/server.log" &
  SERVER_PID=$!
  export GANTRY_SERVER=http://127.0.0.1:$port
  local deadline=$((SECONDS + 30))
  until curl -sf "$GANTRY_SERVER/healthz" >/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "server did not start" >&2; return 1; }
    sleep 0.05
  done
  export GANTRY_TOKEN=$(cat "$BENCH_WORK/data/admin.token")
  for ((i = 1; i <= n; i++)); do
    "$bin" agent --name "bench-$i" --gpus "$g" --gpu-type H100-80GB \
      --job-user "${BENCH_JOB_USER:-nobody}" --state-dir "$BENCH_WORK/node-$i" \
      ${BENCH_AGENT_ARGS:-} 2>"$BENCH_WORK/agent-$i.log" &
    AGENT_PIDS+=($!)
  done
  deadline=$((SECONDS + 30))
  until [ "$(curl -sf -H "Authorization: Bearer $GANTRY_TOKEN" "$GANTRY_SERVER/v1/nodes" |
             perl -MJSON::PP -e 'my $d = decode_json(join "", <STDIN>); $d = $d->{nodes} if ref $d eq "HASH"; print scalar grep { ($_->{state} // "") =~ /^(up|idle|ready)$/ || ($_->{up} // 0) } @$d')" = "$n" ]; do
    [ $SECONDS -lt $deadline ] || { echo "agents did not register" >&2; cat "$BENCH_WORK"/agent-*.log >&2; return 1; }
    sleep 0.05
  done
}
