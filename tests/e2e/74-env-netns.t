#!/usr/bin/env bash
# Environments on a cluster of two agents in network namespaces (netns_node; TLS server on the
# host), driven through the CLI: what 72-container*.t and 72-mounts.t (one agent on loopback)
# do not cover.
# - GPUs in a container through CDI (a spec per node, YAML on n1 and JSON on n2, for fake device
#   nodes made with mknod under --dev-dir): the job sees exactly its GPU's device file and the
#   control device, CUDA_VISIBLE_DEVICES counts from 0, it runs as its user (nobody), not root;
# - network none in a container: only lo, the server's address unreachable (and reachable from
#   a container on the host network, so the check can fail);
# - a two-node gang in containers on the host network: both ranks run and see the same
#   MASTER_ADDR (a node's address) and their own NODE_RANK, and reach the server;
# - an over-limit container job (--memory 64Mi, its shell holding 256 MiB) ends oom;
# - a plain process job runs beside the containers, as before;
# - two jobs starting the same uncached image at once on one node: one `skopeo copy` (a
#   wrapper first in the agent's PATH logs each call and waits 2 s before a copy, so the two
#   starts overlap).
. "$(dirname "$0")/agent-lib.sh"
ROOT=${GANTRY_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
need_netns
for p in runc skopeo umoci busybox; do
  command -v "$p" >/dev/null || { echo "1..0 # skip no $p"; exit 0; }
done
REF=$("$ROOT/tests/oci/mkimage" "$WORK/img" 2>"$WORK/mkimage.log" | head -1)
[ -n "$REF" ] || { echo "1..0 # skip tests/oci/mkimage failed: $(tail -1 "$WORK/mkimage.log")"; exit 0; }
ARCHIVE="oci-archive:$WORK/img/busybox.oci.tar"   # used by the pull test only: uncached till then

# busybox with nc, for the network checks (the test image has no nc), on a read-only volume
mkdir -p "$WORK/tools" "$WORK/outputs"
cp "$(command -v busybox)" "$WORK/tools/busybox"
cat > "$WORK/cluster.yaml" <<Y
teams:
  - name: research
    quota: {gpus: 8}
volumes:
  - {name: tools, path: $WORK/tools, access: ro}
  - {name: outputs, path: $WORK/outputs, kind: output}
Y
chmod 755 "$WORK/tools" "$WORK/outputs"

# fake GPUs: nvidia0, nvidia1 and nvidiactl per node (major 195), and a CDI spec naming them
for i in 1 2; do
  mkdir -p "$WORK/dev$i" "$WORK/cdi$i"
  mknod "$WORK/dev$i/nvidia0" c 195 $((i * 10)) && mknod "$WORK/dev$i/nvidia1" c 195 $((i * 10 + 1)) &&
    mknod "$WORK/dev$i/nvidiactl" c 195 255 || { echo "1..0 # skip mknod failed"; exit 0; }
done
cat > "$WORK/cdi1/nvidia.yaml" <<Y
---
cdiVersion: 0.5.0
kind: nvidia.com/gpu
containerEdits:
  deviceNodes:
  - path: /dev/nvidiactl
    hostPath: $WORK/dev1/nvidiactl
devices:
- name: "0"
  containerEdits:
    deviceNodes:
    - {path: /dev/nvidia0, hostPath: $WORK/dev1/nvidia0}
- name: "1"
  containerEdits:
    deviceNodes:
    - {path: /dev/nvidia1, hostPath: $WORK/dev1/nvidia1}
Y
cat > "$WORK/cdi2/nvidia.json" <<J
{"cdiVersion": "0.5.0", "kind": "nvidia.com/gpu",
 "containerEdits": {"deviceNodes": [{"path": "/dev/nvidiactl", "hostPath": "$WORK/dev2/nvidiactl"}]},
 "devices": [
  {"name": "0", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia0", "hostPath": "$WORK/dev2/nvidia0"}]}},
  {"name": "1", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia1", "hostPath": "$WORK/dev2/nvidia1"}]}}]}
J

# skopeo wrapper per node: logs each call, waits 2 s before a copy, runs the real one
REAL_SKOPEO=$(command -v skopeo)
for i in 1 2; do
  mkdir -p "$WORK/bin$i"
  cat > "$WORK/bin$i/skopeo" <<S
#!/bin/sh
echo "\$*" >> $WORK/skopeo$i.log
case " \$* " in *" copy "*) sleep 2 ;; esac
exec $REAL_SKOPEO "\$@"
S
  chmod 755 "$WORK/bin$i/skopeo"
done

netns_net || { echo "Bail out! no free 10.x subnet for the namespaces"; exit 1; }
TLS_HOSTS="10.$net.1.1 10.$net.2.1" LISTEN_ADDR=0.0.0.0 start_tls_server --config "$WORK/cluster.yaml" --heartbeat 1
CG=(--no-cgroups)
if have_cgroup_v1; then
  CG=(--cgroup-parent "gantry-e2e-$$/NODE")
  CLEANUPS+=("for d in /sys/fs/cgroup/*/gantry-e2e-$$; do rmdir \$d/n*/*/ctr \$d/n*/* \$d/n* \$d; done")
fi
for i in 1 2; do
  AGENT_PATH="$WORK/bin$i:$PATH" netns_node e "$i" --gpus 2 --gpu-type H100-80GB --job-user nobody \
    --oci-runtime runc --dev-dir "$WORK/dev$i" --cdi-dir "$WORK/cdi$i" "${CG[@]/NODE/n$i}"
done
wait_for 20 grep -q "registered with epoch" "$WORK/agent1.log" &&
  wait_for 20 grep -q "registered with epoch" "$WORK/agent2.log"
ok $? "both agents register from their namespaces"
for i in 1 2; do
  like "$(api GET /v1/nodes/n$i | jget '{runtimes}')" oci "n$i offers the oci runtime"
done

g() { "$GANTRY" "$@"; }
sub() { g submit -t research "$@" | sed -n 's/^Submitted job \([0-9]*\)$/\1/p'; }   # prints the id
logs() { api GET "/v1/jobs/$1/logs"; }
field() { api GET "/v1/jobs/$1" | jget "$2"; }
ended() { local s; s=$(job_state "$1"); [ "$s" = succeeded ] || [ "$s" = failed ] || [ "$s" = cancelled ]; }
SRV="10.$net.1.1 $PORT"      # the server's address, reachable from both namespaces
NC='if /tools/busybox nc -w 3 '"$SRV"' </dev/null >/dev/null 2>&1; then echo server reached; else echo server unreachable; fi'

# ---- a container with one GPU, through CDI ----
# a plain gang holds one GPU of each node (GPU 0): the container gets GPU 1, which it must see
# as CUDA device 0
hold=$(sub -g 2 -N 2 --workdir /tmp -- sh -c 'while [ ! -f $GANTRY_OUTPUT_DIR/go ]; do sleep 0.1; done')
wait_for 30 job_is "$hold" running
ok $? "a plain gang holds one GPU on each node"
j=$(sub -g 1 --image "$REF" --mount tools:/tools -- sh -c 'ls /dev/nvidia*; echo CUDA=$CUDA_VISIBLE_DEVICES; echo NV=$NVIDIA_VISIBLE_DEVICES; echo uid=$(id -u)')
wait_for 60 ended "$j"
is "$(job_state "$j")" succeeded "a container job with one GPU succeeds"
k=$(field "$j" '{placement}[0]{gpus}[0]')
is "$k" 1 "it runs on GPU 1 of its node"
touch "$WORK/outputs/research/$hold/go"
wait_for 30 job_is "$hold" succeeded
ok $? "the plain gang ends"
out=$(logs "$j")
is "$(echo "$out" | grep '^/dev/' | tr '\n' ' ')" "/dev/nvidia$k /dev/nvidiactl " "it sees exactly its GPU's device file (nvidia$k) and nvidiactl"
like "$out" 'CUDA=0$' "CUDA_VISIBLE_DEVICES=0 inside"
like "$out" "NV=$k\$" "NVIDIA_VISIBLE_DEVICES keeps the node's index $k"
like "$out" 'uid=65534' "it runs as its user (nobody), not root"
j2=$(sub -g 2 --image "$REF" -- sh -c 'ls /dev/nvidia*; echo CUDA=$CUDA_VISIBLE_DEVICES')
wait_for 60 ended "$j2"
is "$(job_state "$j2")" succeeded "a container job with two GPUs succeeds"
out=$(logs "$j2")
is "$(echo "$out" | grep '^/dev/' | tr '\n' ' ')" "/dev/nvidia0 /dev/nvidia1 /dev/nvidiactl " "it sees both GPUs' device files"
like "$out" 'CUDA=0,1$' "CUDA_VISIBLE_DEVICES=0,1 inside"

# ---- network none in a container, and the host network beside it ----
NETSH='tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | sed "s/^/if /"; '"$NC"
nn=$(sub -g 1 --image "$REF" --network none --mount tools:/tools -- sh -c "$NETSH")
hn=$(sub -g 1 --image "$REF" --mount tools:/tools -- sh -c "$NETSH")
wait_for 60 ended "$nn"
wait_for 60 ended "$hn"
is "$(job_state "$nn")" succeeded "a container with network none runs"
out=$(logs "$nn")
is "$(echo "$out" | grep '^if ' | tr '\n' ' ')" "if lo " "its only interface is lo"
like "$out" 'server unreachable' "it cannot reach the server's address"
out=$(logs "$hn")
like "$out" 'server reached' "a container on the host network (default) reaches it"
like "$out" 'if gt' "and sees its node's veth"

# ---- a two-node gang in containers, host network ----
G='env | grep -E "^(MASTER_ADDR|NODE_RANK|WORLD_SIZE)=" | sort > /gantry/output/rank.$NODE_RANK; '"$NC"' >> /gantry/output/rank.$NODE_RANK'
gj=$(sub -g 4 -N 2 --image "$REF" --mount tools:/tools -- sh -c "$G")
wait_for 60 ended "$gj"
is "$(job_state "$gj")" succeeded "a two-node gang of containers succeeds"
R=$WORK/outputs/research/$gj
like "$(cat "$R/rank.0" 2>/dev/null)" "NODE_RANK=0" "rank 0 ran and sees NODE_RANK=0"
like "$(cat "$R/rank.1" 2>/dev/null)" "NODE_RANK=1" "rank 1 ran and sees NODE_RANK=1"
ma=$(grep MASTER_ADDR "$R/rank.0" 2>/dev/null)
like "$ma" "MASTER_ADDR=10\.$net\.[12]\.2\$" "MASTER_ADDR is a node's own address"
is "$(grep MASTER_ADDR "$R/rank.1" 2>/dev/null)" "$ma" "both ranks see the same MASTER_ADDR"
like "$(cat "$R/rank.0" "$R/rank.1" 2>/dev/null | grep -c 'server reached')" '^2$' "both ranks reach the server from their nodes"

# ---- over its memory limit ----
if have_cgroup_v1; then
  # the shell itself holds 256 MiB (a write to /dev/shm over the limit only fails with ENOMEM:
  # the kernel charges tmpfs pages without its OOM killer)
  o=$(sub -g 1 -m 64Mi --image "$REF" -- sh -c 'x=$(head -c 256m /dev/zero | tr "\\0" a); echo survived ${#x}')
  wait_for 60 ended "$o"
  is "$(job_state "$o")" failed "a container job holding 256 MiB with --memory 64Mi fails"
  is "$(field "$o" '{end_reason}')" oom "end_reason oom"
  like "$(field "$o" '{end_message}')" "memory limit of 64 MiB" "its end_message names the limit"
  is "$(logs "$o" | grep -c survived)" 0 "it did not get past its allocation"
else
  for t in 1 2 3 4; do skip "no cgroup v1 memory controller: the agents run without cgroups"; done
fi

# ---- a plain process job beside the containers; two jobs, one pull ----
p=$(sub -g 2 --workdir /tmp -- sh -c 'echo plain $(id -u) $GANTRY_JOB_ID; while [ ! -f $GANTRY_CHECKPOINT_DIR/go ]; do sleep 0.1; done')
wait_for 30 job_is "$p" running
ok $? "a plain process job runs"
pn=$(field "$p" '{placement}[0]{node}')
qn=n$((3 - ${pn#n}))
q=${qn#n}
before=$(grep -cw copy "$WORK/skopeo$q.log" 2>/dev/null)
a=$(sub -g 1 --image "$ARCHIVE" -- sh -c 'echo a; sleep 1')
b=$(sub -g 1 --image "$ARCHIVE" -- sh -c 'echo b; sleep 1')
wait_for 60 ended "$a"
wait_for 60 ended "$b"
is "$(job_state "$a") $(job_state "$b")" "succeeded succeeded" "two jobs of one uncached image both succeed"
is "$(field "$a" '{placement}[0]{node}') $(field "$b" '{placement}[0]{node}')" "$qn $qn" "both ran on $qn (the plain job holds $pn)"
is "$(( $(grep -cw copy "$WORK/skopeo$q.log") - ${before:-0} ))" 1 "one skopeo copy for the two"
is "$(field "$a" '{image_digest}')" "$(field "$b" '{image_digest}')" "both record the same digest"
touch "$WORK/$pn/checkpoints/$p/go"
wait_for 30 job_is "$p" succeeded
ok $? "the plain job succeeds"
like "$(logs "$p")" "^plain 65534 $p" "it ran as its user"
done_testing
