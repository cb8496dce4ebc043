# agent-lib.sh: helpers for the agent's end-to-end tests (sourced): TAP, a real server on
# loopback, real agents with declared GPUs, and cleanup of everything they leave.
set -u
GANTRY=${GANTRY_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/bin/gantry}
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
. "$(dirname "${BASH_SOURCE[0]}")/store.sh"
. "$(dirname "${BASH_SOURCE[0]}")/procs.sh"

# free_port: a port free on every address, below the kernel's ephemeral range (32768 and up
# here), so that no outgoing connection (of this suite or another running beside it) takes it
# between this choice and the server's bind: picked at random in 20000-32767 until one binds.
free_port() {
  perl -MIO::Socket::INET -e 'for (1 .. 200) { my $p = 20000 + int(rand(12768));
    if (IO::Socket::INET->new(Listen => 1, LocalAddr => "0.0.0.0", LocalPort => $p)) { print $p; exit } }
    exit 1'
}

WORK=$(mktemp -d /tmp/gantry-e2e-agent.XXXXXX)
chmod 755 "$WORK"
PIDS=()
CLEANUPS=()
# Everything the test started: agents, the server, the jobs' supervisors (found through the
# state directories under $WORK), namespaces and cgroups registered in CLEANUPS.
cleanup() {
  if [ "${T_FAIL:-0}" -gt 0 ]; then  # a failed test shows its logs' ends (CI keeps only stderr)
    for l in "$WORK"/*.log; do
      [ -f "$l" ] || continue
      echo "# --- the last lines of ${l##*/}" >&2; tail -n 15 "$l" | sed 's/^/#   /' >&2
      [ -z "${GANTRY_TEST_FAILLOG:-}" ] ||
        { echo "#log $(t_file): the last lines of ${l##*/}"; tail -n 4 "$l" | cut -c 1-240 | sed 's/^/#log   /'; } >> "$GANTRY_TEST_FAILLOG"
    done
  fi
  exec 2>/dev/null  # bash's "Killed" notices for what is killed below say nothing
  kill_children "${PIDS[@]}"
  for f in "$WORK"/*/jobs/*/state; do  # (procs.sh: never a pid reused since)
    [ -f "$f" ] || continue
    sp=$(sed -n 's/^supervisor_pid=//p' "$f" | tail -n 1); jp=$(sed -n 's/^pid=//p' "$f" | tail -n 1)
    kill_if_ours "$jp" group
    kill_if_ours "$sp"
  done
  for c in "${CLEANUPS[@]}"; do eval "$c" 2>/dev/null; done
  cgroups_cleanup
  wait 2>/dev/null
  store_drop
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# start_server [extra args]: gantry server on a free port, data in $WORK/data.
start_server() {
  use_test_store
  PORT=$(free_port)
  export GANTRY_SERVER="http://127.0.0.1:$PORT"
  "$GANTRY" server --data "$WORK/data" "${STORE_ARGS[@]}" --listen "${LISTEN_ADDR:-127.0.0.1}:$PORT" "$@" 2>>"$WORK/server.log" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_for 30 curl -sf "$GANTRY_SERVER/healthz" || { echo "Bail out! server did not start"; cat "$WORK/server.log" >&2; exit 1; }
  export GANTRY_TOKEN=$(cat "$WORK/data/admin.token")
  ADMIN=$GANTRY_TOKEN
}

# start_tls_server [extra args]: as start_server, on HTTPS: a CA and a certificate from
# `gantry tls-gen $WORK/tls` (TLS_HOSTS: more --host names for it), then GANTRY_SERVER is
# https://127.0.0.1:PORT, and GANTRY_CA_FILE (gantry) and CURL_CA_BUNDLE (curl) trust the CA.
start_tls_server() {
  local h hosts=()
  for h in ${TLS_HOSTS:-}; do hosts+=(--host "$h"); done
  "$GANTRY" tls-gen "$WORK/tls" "${hosts[@]}" >/dev/null || { echo "Bail out! gantry tls-gen failed"; exit 1; }
  export GANTRY_CA_FILE="$WORK/tls/ca.pem" CURL_CA_BUNDLE="$WORK/tls/ca.pem"
  use_test_store
  PORT=$(free_port)
  export GANTRY_SERVER="https://127.0.0.1:$PORT"
  "$GANTRY" server --data "$WORK/data" "${STORE_ARGS[@]}" --listen "${LISTEN_ADDR:-127.0.0.1}:$PORT" \
    --tls-cert "$WORK/tls/server.pem" --tls-key "$WORK/tls/server-key.pem" "$@" 2>>"$WORK/server.log" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_for 30 curl -sf "$GANTRY_SERVER/healthz" || { echo "Bail out! server did not start"; cat "$WORK/server.log" >&2; exit 1; }
  export GANTRY_TOKEN=$(cat "$WORK/data/admin.token")
  ADMIN=$GANTRY_TOKEN
}

# research_cluster: $WORK/cluster.yaml with one team, research, guaranteed 8 GPUs.
research_cluster() { printf 'teams:\n  - name: research\n    quota: {gpus: 8}\n' > "$WORK/cluster.yaml"; }
# run_agent NAME GPUS STATE_DIR LOG [args]: an agent in the background with GPUS declared
# H100-80GB GPUs, its jobs run as root, stderr appended to $WORK/LOG; its pid in AGENT_PID.
# Its cgroups are this test's (gantry-e2e-PID/NAME, cgroups_cleanup at the end) unless args say
# otherwise: under the default gantry/NAME, a test running beside another shares its jobs'
# cgroups (job-1.1 of node n1 in both), and one's job end kills the other's job.
run_agent() {
  local name=$1 gpus=$2 dir=$3 log=$4 cg=()
  shift 4
  case " $* " in
    *" --cgroup-parent "*|*" --no-cgroups "*) ;;
    *) cg=(--cgroup-parent "gantry-e2e-$$/$name") ;;
  esac
  "$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name "$name" --gpus "$gpus" \
    --gpu-type H100-80GB --state-dir "$dir" --job-user root --allow-root "${cg[@]}" "$@" \
    2>>"$WORK/$log" &
  AGENT_PID=$!
  PIDS+=("$AGENT_PID")
}

. "$(dirname "${BASH_SOURCE[0]}")/wait.sh"

# api METHOD PATH [BODY]: prints the body; the status goes to $WORK/status.
api() {
  curl -s -o "$WORK/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $ADMIN" \
    ${3:+-d "$3"} "$GANTRY_SERVER$2" > "$WORK/status"
  cat "$WORK/body"
}
# jget EXPR: reads JSON on stdin, prints the Perl expression $d->EXPR (e.g. '{state}').
jget() { perl -MJSON::PP -e 'my $t = join "", <STDIN>; my $d = decode_json($t); my $v = eval "\$d->$ARGV[0]"; print ref $v ? JSON::PP->new->canonical->encode($v) : (defined $v ? $v : "null")' -- "$1"; }
submit() { api POST /v1/jobs "$1" | jget '{id}'; }
job_state() { api GET "/v1/jobs/$1" | jget '{state}'; }
job_is() { [ "$(job_state "$1")" = "$2" ]; }

# cgroup v1 usable here (root, memory controller mounted)?
have_cgroup_v1() { [ "$(id -u)" = 0 ] && [ -w /sys/fs/cgroup/memory ] && [ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]; }

# incarnations_apart FILE: FILE holds the lines "INCARNATION [WORD] UNIX_TIME" a job writes as
# it runs (tests 61-fence*). Prints each incarnation's first and last time and the gap between
# consecutive ones; succeeds when there are two or more and each one's last line comes before
# the next one's first (no two ran at once).
incarnations_apart() {
  perl -e 'my (%lo, %hi);
    while (<>) { my @f = split; next unless @f >= 2 && $f[0] =~ /^\d+$/ && $f[-1] =~ /^[\d.]+$/;
      my ($i, $t) = ($f[0], $f[-1]);
      $lo{$i} = $t if !defined $lo{$i} || $t < $lo{$i};
      $hi{$i} = $t if !defined $hi{$i} || $t > $hi{$i}; }
    my @i = sort { $a <=> $b } keys %lo; my $ok = @i >= 2;
    for my $k (0 .. $#i) {
      printf "incarnation %d: %.3f .. %.3f\n", $i[$k], $lo{$i[$k]}, $hi{$i[$k]};
      next unless $k;
      my $gap = $lo{$i[$k]} - $hi{$i[$k-1]};
      printf "incarnation %d started %.3f s after incarnation %d last wrote\n", $i[$k], $gap, $i[$k-1];
      $ok = 0 if $gap <= 0; }
    exit($ok ? 0 : 1)' "$1"
}

# need_netns: ends the test as skipped unless it runs as root and `ip netns` works.
need_netns() {
  if [ "$(id -u)" != 0 ] || ! ip netns add "gt$$-probe" 2>/dev/null; then
    echo "1..0 # skip needs root and ip netns"
    exit 0
  fi
  ip netns del "gt$$-probe"
}
# netns_pair NS VETH_HOST VETH_NS NET: namespace NS joined to the host by a veth pair, the host
# side NET.1/24, the namespace side NET.2/24 (default route through the host side), lo up;
# removed at cleanup. NET is three octets, e.g. 10.42.1.
netns_pair() {
  local ns=$1 vh=$2 vn=$3 net=$4
  CLEANUPS+=("ip netns del $ns" "ip link del $vh")
  ip netns add "$ns"
  ip link add "$vh" type veth peer name "$vn"
  ip link set "$vn" netns "$ns"
  ip addr add "$net.1/24" dev "$vh"
  ip link set "$vh" up
  ip -n "$ns" addr add "$net.2/24" dev "$vn"
  ip -n "$ns" link set "$vn" up
  ip -n "$ns" link set lo up
  ip -n "$ns" route add default via "$net.1"
}
# netns_agents TAG [server args]: a TLS server listening on every address (its certificate names
# the host ends of the veths) with the config in $WORK/cluster.yaml, and agents n1 and n2 (2
# GPUs each), each in namespace gt$$-TAG<i> behind the veth gt$$TAGh<i>: 10.$net.<i>.1 on the
# host, .2 inside. `ip link set "$(node_link I)" down` cuts node I off. Sets net; returns once
# both agents registered (1 otherwise).
netns_agents() {
  local tag=$1 i ns; shift
  netns_net || return 1
  NETNS_TAG=$tag
  TLS_HOSTS="10.$net.1.1 10.$net.2.1" LISTEN_ADDR=0.0.0.0 start_tls_server --config "$WORK/cluster.yaml" "$@"
  for i in 1 2; do
    ns="gt$$-$tag$i"
    netns_pair "$ns" "$(node_link "$i")" "gt$$${tag}n$i" "10.$net.$i"
    ip netns exec "$ns" "$GANTRY" agent --server "https://10.$net.$i.1:$PORT" --token "$ADMIN" \
      --ca-file "$WORK/tls/ca.pem" \
      --name "n$i" --gpus 2 --gpu-type H100-80GB --state-dir "$WORK/n$i" --job-user root \
      --allow-root --no-cgroups 2>>"$WORK/agent$i.log" &
    PIDS+=($!)
  done
  wait_for 20 grep -q "registered with epoch" "$WORK/agent1.log" &&
    wait_for 20 grep -q "registered with epoch" "$WORK/agent2.log"
}
# node_link I: the host end of node I's veth (netns_agents).
node_link() { echo "gt$$${NETNS_TAG}h$1"; }
# netns_node TAG I [agent args]: node I in namespace gt$$-TAG<I> behind the veth gt$$TAGh<I>
# (10.$net.<I>.1 on the host, .2 inside; net as netns_agents sets it, which netns_net does
# alone), and agent n<I> in it reaching the TLS server that start_tls_server started (its
# TLS_HOSTS naming 10.$net.<I>.1), state in $WORK/n<I>, stderr to $WORK/agent<I>.log, the
# agent args after the fixed ones; AGENT_PATH, when set, is the agent's PATH. Pid in AGENT_PID.
# Unlike netns_agents, the job user, cgroups and GPUs are the caller's (the args), and the agent
# enters only the network namespace (nsenter): `ip netns exec` mounts a fresh /sys, without
# the node's cgroups.
# netns_net: sets net to a 10.<net>.0.0/16 this test alone uses: one no interface here has an
# address in (a test killed before its cleanup leaves its veths behind) and that this test
# reserved (a directory under $NETNS_LOCKS holding its pid, removed at cleanup), so tests
# running side by side never share one whatever their pids. Namespaces a killed test left
# (gt<PID>-..., that PID gone or our own) are removed first, and their veths with them. 1 if none is free.
NETNS_LOCKS=${NETNS_LOCKS:-/run/gantry-e2e-nets}
netns_sweep() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    case $ns in gt[0-9]*-*) pid=${ns#gt}; pid=${pid%%-*} ;; *) continue ;; esac
    # ours too: none is made before netns_net, so one named for our pid is a dead test's
    [ "$pid" != $$ ] && kill -0 "$pid" 2>/dev/null || ip netns del "$ns" 2>/dev/null
  done
}
netns_reserve() {
  local d="$NETNS_LOCKS/$1" holder
  if ! mkdir "$d" 2>/dev/null; then
    holder=$(cat "$d/pid" 2>/dev/null)
    [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null || return 1
    rm -rf "$d"                   # its holder died without cleaning up
    mkdir "$d" 2>/dev/null || return 1
  fi
  echo $$ >"$d/pid"
  CLEANUPS+=("rm -rf '$d'")
}
netns_net() {
  local k n used
  netns_sweep
  mkdir -p "$NETNS_LOCKS"
  used=$(ip -o -4 addr show | awk '{print $4}')
  for k in $(seq 0 199); do
    n=$(( (($$ + k) % 200) + 20 ))
    grep -q "^10\.$n\." <<<"$used" && continue
    netns_reserve "$n" && { net=$n; return 0; }
  done
  echo "# netns_net: every 10.20-219 subnet is in use or reserved under $NETNS_LOCKS" >&2
  return 1
}
netns_node() {
  local tag=$1 i=$2 ns="gt$$-$1$2"
  shift 2
  NETNS_TAG=$tag
  netns_pair "$ns" "$(node_link "$i")" "gt$$${tag}n$i" "10.$net.$i"
  nsenter "--net=/run/netns/$ns" env "PATH=${AGENT_PATH:-$PATH}" "$GANTRY" agent \
    --server "https://10.$net.$i.1:$PORT" --token "$ADMIN" --ca-file "$WORK/tls/ca.pem" \
    --name "n$i" --state-dir "$WORK/n$i" "$@" 2>>"$WORK/agent$i.log" &
  AGENT_PID=$!
  PIDS+=("$AGENT_PID")
}

# Several servers on one store (docs/ha.md). start_ha_server I [args]: server I on its own
# port (kept across restarts) with --advertise, data in $WORK/data, stderr to
# $WORK/serverI.log; HA_URL[I], HA_PID[I]. Does not wait: see ha_is.
HA_PORT=(); HA_URL=(); HA_PID=()
start_ha_server() {
  local i=$1; shift
  [ -n "${HA_PORT[$i]:-}" ] || HA_PORT[$i]=$(free_port)
  HA_URL[$i]="http://127.0.0.1:${HA_PORT[$i]}"
  "$GANTRY" server --data "$WORK/data" --listen "127.0.0.1:${HA_PORT[$i]}" \
    --advertise "${HA_URL[$i]}" "$@" 2>>"$WORK/server$i.log" &
  HA_PID[$i]=$!
  PIDS+=("${HA_PID[$i]}")
}
# ha_role I: what server I says it is (GET /v1/leader): leader, standby, or nothing.
ha_role() { curl -s --max-time 2 "${HA_URL[$1]}/v1/leader" 2>/dev/null | jget '{role}' 2>/dev/null; }
ha_is() { [ "$(ha_role "$1")" = "$2" ]; }

# tmux, for the tests that drive a terminal (99-interactive.t, 99-interactive-reattach.t,
# 99-exec-reattach.t). TARGET is SESSION:WINDOW.
# tmux_pane TARGET: the pane's text with its history (-S -200) and its wrapped lines joined
# (-J). Without -J a line longer than the window is cut where it wraps, and where that falls
# depends on the lengths of the paths, ports and pids printed before it: the shell's "Killed"
# message for a killed client names its whole command line, and the client's raw mode (left
# on by kill -9) does not return the cursor to column 0 after it, so "RUN-EXIT=137" came out
# as "RUN-EXIT=13" and "7" where the gantry path is 33 characters long (never where it is 27).
tmux_pane() { tmux capture-pane -p -J -t "$1" -S -200; }
# tmux_client TARGET: the pid of the gantry client the pane runs: the pane's shell's child
# whose argv[0] is "$GANTRY", compared as a string (pgrep -f would read the path as a regex).
tmux_client() {
  local pp c
  pp=$(tmux list-panes -t "$1" -F '#{pane_pid}' 2>/dev/null | head -n 1)
  [ -n "$pp" ] || return 1
  for c in $(pgrep -P "$pp"); do
    [ "$(tr '\0' '\n' < "/proc/$c/cmdline" 2>/dev/null | head -n 1)" = "$GANTRY" ] && echo "$c"
  done
  return 0
}
# tmux_show TARGET WHY: a failed check's diagnostics on stderr (prove shows stderr): WHY, the
# pane's shell and its children, and the pane's text; their short form (the processes, the
# text's last 8 lines) also goes to make test's failure report (GANTRY_TEST_FAILLOG, tap.sh).
tmux_show() {
  local pp ps text
  pp=$(tmux list-panes -t "$1" -F '#{pane_pid}' 2>/dev/null | head -n 1)
  ps=$([ -n "$pp" ] && ps -o pid=,ppid=,stat=,args= -p "$pp" --ppid "$pp" | cut -c 1-200)
  text=$(tmux_pane "$1" | perl -0pe 's/\s+\z/\n/')
  {
    echo "# --- $2"
    echo "# pane $1: its shell is pid ${pp:-(no such pane)}; it and its children:"
    printf '%s\n' "$ps" | sed 's/^/#   /'
    echo "# its text (tmux capture-pane -J -S -200, less its blank end), each line after '|':"
    printf '%s\n' "$text" | sed 's/^/#   |/'
  } >&2
  [ -z "${GANTRY_TEST_FAILLOG:-}" ] || {
    echo "#log $(t_file): $2: pane $1's shell ${pp:-(none)} and its children:"
    printf '%s\n' "$ps" | sed 's/^/#log   /'
    echo "#log $(t_file): the last lines of pane $1's text:"
    printf '%s\n' "$text" | tail -n 8 | cut -c 1-240 | sed 's/^/#log   |/'
  } >> "$GANTRY_TEST_FAILLOG"
}
# tmux_kill_client TARGET: kill -9 the gantry client the pane runs (tmux_client); 1, with
# tmux_show's diagnostics, unless there is exactly one.
tmux_kill_client() {
  local c
  c=$(tmux_client "$1")
  echo "# killing the gantry client of $1: pid(s) '$(echo $c)'"
  if [ "$(echo $c | wc -w)" != 1 ]; then
    tmux_show "$1" "not one gantry client in $1 (found '$(echo $c)')"
    return 1
  fi
  kill -9 "$c"
}
