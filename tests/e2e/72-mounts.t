#!/usr/bin/env bash
# Storage mounts and network none for plain process jobs, end to end (a real server and agent,
# volumes in the configuration): a read-only mount cannot be written (EROFS in the job's
# stderr), a read-write one is written and the node sees the file on the volume, the node's own
# directory under the mount path stays untouched, a sub_path whose symlink leaves the volume
# and a mount path missing on the node end the job with a message saying so, and a job with
# network none sees only lo and cannot reach the server on the node's loopback.
. "$(dirname "$0")/agent-lib.sh"
if [ "$(id -u)" != 0 ]; then
  echo "1..0 # skip mounts need root"
  exit 0
fi
V=$WORK/vol
M=$WORK/mnt
mkdir -p "$V/datasets/imagenet" "$V/research" "$M/data" "$M/out" "$M/evil"
echo hello > "$V/datasets/imagenet/train.txt"
ln -s /etc "$V/datasets/evil"                  # a symlink out of the volume
ln -s ../research "$V/datasets/sibling"        # a relative one that climbs out of it
cat > "$WORK/cluster.yaml" <<EOF
teams:
  - {name: research, quota: {gpus: 8}}
volumes:
  - {name: datasets, path: $V/datasets, teams: ["*"], access: ro, kind: dataset}
  - {name: research, path: $V/research, teams: [research], access: rw}
EOF
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 2 "$WORK/n1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"

logs() { api GET "/v1/jobs/$1/logs${2:+?stream=$2}"; }
end_message() { api GET "/v1/jobs/$1" | jget '{end_message}'; }
ended() { local s; s=$(job_state "$1"); [ "$s" = succeeded ] || [ "$s" = failed ]; }

# ---- read-only: the job sees the dataset and cannot write it ----
ro=$(submit '{"team":"research","gpus":1,"mounts":[{"volume":"datasets","sub_path":"imagenet","path":"'"$M"'/data","read_only":true}],
  "command":["sh","-c","cat '"$M"'/data/train.txt; echo x > '"$M"'/data/new"]}')
wait_for 30 ended "$ro"
is "$(job_state "$ro")" failed "a job writing to its read-only mount fails"
like "$(logs "$ro" stdout)" '^hello' "it read the dataset's file at its mount path"
like "$(logs "$ro" stderr)" 'Read-only file system' "its stderr says Read-only file system (EROFS)"
ok $([ ! -e "$V/datasets/imagenet/new" ] && echo 0 || echo 1) "nothing was written to the volume"
ok $(grep -q "$M" /proc/self/mountinfo && echo 1 || echo 0) "the node's mount table has none of the job's mounts"

# ---- read-write: written by the job, seen on the node's volume ----
rw=$(submit '{"team":"research","gpus":1,"mounts":[{"volume":"research","sub_path":"","path":"'"$M"'/out"}],
  "command":["sh","-c","echo result-$GANTRY_JOB_ID > '"$M"'/out/result; test -z \"$(ls '"$M"'/data)\""]}')
wait_for 30 ended "$rw"
is "$(job_state "$rw")" succeeded "a job writing to its read-write mount succeeds (and sees no other job's mount)"
is "$(cat "$V/research/result" 2>/dev/null)" "result-$rw" "the node sees the job's file on the volume"
ok $([ ! -e "$M/out/result" ] && echo 0 || echo 1) "the node's own directory under the mount path is untouched"

# ---- sub_path escapes, found by the agent ----
for sub in evil evil/passwd sibling; do
  e=$(submit '{"team":"research","gpus":1,"mounts":[{"volume":"datasets","sub_path":"'"$sub"'","path":"'"$M"'/evil","read_only":true}],"command":["sh","-c","cat '"$M"'/evil/passwd"]}')
  wait_for 30 ended "$e"
  is "$(job_state "$e")" failed "sub_path $sub (a symlink leaving the volume): the job fails"
  like "$(end_message "$e")" "sub_path '$sub' of volume $V/datasets leaves the volume" "its end_message says why"
  is "$(logs "$e" stdout)" "" "and the job printed nothing (it never ran)"
done

# ---- a mount path the node does not have ----
mp=$(submit '{"team":"research","gpus":1,"mounts":[{"volume":"research","path":"'"$M"'/missing"}],"command":["true"]}')
wait_for 30 ended "$mp"
is "$(job_state "$mp")" failed "a mount path missing on the node fails the job"
like "$(end_message "$mp")" "mount path $M/missing does not exist on the node" "its end_message names the path"
ok $([ ! -e "$M/missing" ] && echo 0 || echo 1) "the agent did not create it on the node"

# ---- network none ----
cat > "$WORK/net.sh" <<EOF
tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sed 's/^/if /'
ip -o link show lo | grep -q '[<,]UP[,>]' && echo lo up
curl -s -m 5 $GANTRY_SERVER/healthz >/dev/null && echo server reached || echo server unreachable
EOF
nn=$(submit '{"team":"research","gpus":1,"network":"none","command":["sh","'"$WORK"'/net.sh"]}')
wait_for 30 ended "$nn"
is "$(job_state "$nn")" succeeded "a job with network none runs"
out=$(logs "$nn" stdout)
is "$(echo "$out" | grep '^if ' | tr '\n' ' ')" "if lo " "its only interface is lo"
like "$out" 'lo up' "lo is up"
like "$out" 'server unreachable' "the server on the node's 127.0.0.1 is not reachable"
host=$(submit '{"team":"research","gpus":1,"command":["sh","'"$WORK"'/net.sh"]}')
wait_for 30 ended "$host"
out=$(logs "$host" stdout)
like "$out" 'server reached' "a job with the default network reaches it"
like "$out" 'if [^l]' "and sees the node's other interfaces"
done_testing
