#!/usr/bin/env bash
# A job's environment fields (docs/environments.md) on the server: image, mounts, environment,
# network. Submissions that break a rule are refused with a 400 naming the field or volume; the
# fields go round trip through gantry show -o json and a restart; an environment resolves into
# the job at submission; the start task carries the image, the mounts with their volumes' host
# paths, the output directory, the scratch root and the network (curl plays the agent).
. "$(dirname "$0")/lib.sh"
cat > "$WORK/cluster.yaml" <<'EOF'
teams:
  - {name: research, quota: {gpus: 4}}
  - {name: vision, quota: {gpus: 4}}
volumes:
  - {name: datasets, path: /mnt/datasets, teams: ["*"], access: ro, kind: dataset}
  - {name: research, path: /mnt/research/, teams: [research], access: rw}
  - {name: outputs, path: /mnt/outputs, kind: output}
  - {name: scratch, path: /local/scratch, kind: scratch}
environments:
  - name: pytorch
    image: docker://registry.example/pytorch:2.4
    env: {NCCL_DEBUG: INFO, MODE: stack}
    mounts: [{volume: datasets, sub_path: imagenet, path: /data}]
  - {name: research-only, image: "oci:/srv/images/r:1", teams: [research]}
  - {name: local-stack, image: "oci:/opt/stacks/s:1"}
image_paths: [/srv/images/]
EOF
start_server --config "$WORK/cluster.yaml" --heartbeat 1

# ---- the configuration's volumes and stacks are listed ----
v=$(api GET /v1/volumes)
is "$(echo "$v" | jget '{volumes}[1]{path}')" /mnt/research "GET /v1/volumes: a volume's path, normalized"
is "$(echo "$v" | jget '{volumes}[0]{access}')" ro "its access"
is "$(echo "$v" | jget '{volumes}[2]{teams}')" '["*"]' "teams default to every team"
like "$("$GANTRY" volumes)" 'research +rw +- +research +config +/mnt/research' "gantry volumes: a table"
like "$("$GANTRY" envs)" 'pytorch +\* +config +1 +docker://registry.example/pytorch:2.4' "gantry envs: a table"

# ---- submissions refused, each with a message naming what is wrong ----
refused() { # BODY NEEDLE DESC
  local r
  r=$(api POST /v1/jobs "$1")
  like "$r" "^400 .*$2" "$3"
}
base='"team":"vision","command":["true"]'
refused "{$base,\"mounts\":[{\"volume\":\"research\",\"path\":\"/r\"}]}" \
  "team 'vision' may not use volume 'research'" "a team without access is refused, naming the volume"
refused "{$base,\"mounts\":[{\"volume\":\"nope\",\"path\":\"/r\"}]}" \
  "volume 'nope' does not exist" "an unknown volume is refused"
refused "{$base,\"mounts\":[{\"volume\":\"datasets\",\"sub_path\":\"a/../../etc\",\"path\":\"/d\"}]}" \
  "sub_path 'a/../../etc' leaves volume 'datasets'" "a sub_path with .. is refused"
refused "{$base,\"mounts\":[{\"volume\":\"datasets\",\"sub_path\":\"..\",\"path\":\"/d\"}]}" \
  "leaves volume 'datasets'" "a sub_path of .. alone is refused"
refused "{$base,\"mounts\":[{\"volume\":\"datasets\",\"sub_path\":\"/etc\",\"path\":\"/d\"}]}" \
  "sub_path '/etc' is absolute" "an absolute sub_path is refused"
refused "{$base,\"mounts\":[{\"volume\":\"datasets\",\"path\":\"/d\",\"read_only\":false}]}" \
  "volume 'datasets' is read-only" "read_only: false on a read-only volume is refused"
refused "{$base,\"mounts\":[{\"volume\":\"datasets\",\"path\":\"data\"}]}" \
  "mounts\\[0\\].path must be an absolute path" "a relative mount path is refused"
refused "{$base,\"mounts\":[{\"volume\":\"datasets\",\"path\":\"/gantry/output\"}]}" \
  "is under /gantry" "a mount over the runtime's /gantry is refused"
refused "{$base,\"mounts\":[{\"volume\":\"datasets\",\"path\":\"/d\"},{\"volume\":\"outputs\",\"path\":\"/d/\"}]}" \
  "two mounts at /d" "two mounts at one path are refused"
refused "{$base,\"mounts\":[{\"volume\":\"datasets\",\"path\":\"/d\",\"mode\":\"ro\"}]}" \
  "unknown field 'mode'" "an unknown mount field is refused"
refused "{$base,\"image\":\"ubuntu:22.04\"}" "'image' ubuntu:22.04 has no transport" \
  "an image without a transport is refused"
refused "{$base,\"image\":\"oci:relative/layout\"}" "after oci: comes an absolute path" \
  "an oci: image needs an absolute path"
refused "{$base,\"network\":\"bridge\"}" "'network' must be" "an unknown network mode is refused"
refused "{$base,\"environment\":\"tensorflow\"}" "environment 'tensorflow' does not exist" \
  "an unknown environment is refused"
refused "{$base,\"environment\":\"research-only\"}" \
  "environment 'research-only' is not open to team 'vision'" "an environment limited to teams refuses others"
# local images: a job's own only under image_paths (component by component); a stack's anywhere
refused "{$base,\"image\":\"oci:/etc/layout:1\"}" "/etc/layout is not under the cluster's image_paths" \
  "a job's own local image outside image_paths is refused"
refused "{$base,\"image\":\"docker-archive:/srv/images2/a.tar\"}" "/srv/images2/a.tar is not under" \
  "/srv/images2 is not under /srv/images"
for ok_img in "oci-archive:/srv/images/a.tar" "oci:/srv/images/sub/l:2" "docker://reg.example/a:1"; do
  like "$(api POST /v1/jobs "{$base,\"image\":\"$ok_img\",\"after_ok\":[99999]}")" "^400 .*dependencies: job 99999" \
    "$ok_img passes the image checks"
done
like "$(api POST /v1/jobs "{$base,\"environment\":\"local-stack\",\"after_ok\":[99999]}")" "^400 .*dependencies: job 99999" \
  "a stack's local image outside image_paths is the administrator's: it passes"
r=$("$GANTRY" submit --team vision --mount research:/r -- true 2>&1)
like "$r" "team 'vision' may not use volume 'research'" "gantry submit says why"

# ---- a round trip through the CLI, show -o json and a restart ----
id=$("$GANTRY" submit --team research --environment pytorch --image oci:/srv/images/mine:1 \
  --mount research/runs/7:/ckpt --mount datasets/coco:/coco:ro --network none -e MODE=job \
  -- python train.py | awk '{print $3}')
like "$id" '^[0-9]+$' "a job with an environment, an image, mounts and a network is accepted"
"$GANTRY" show "$id" -o json > "$WORK/show.json"
j() { jget "$1" < "$WORK/show.json"; }
is "$(j '{environment}')" pytorch "show: its environment's name is kept"
is "$(j '{image}')" oci:/srv/images/mine:1 "show: its own image overrides the stack's"
is "$(j '{network}')" none "show: network"
is "$(j '{env}{MODE}')" job "show: its own env overrides the stack's"
is "$(j '{env}{NCCL_DEBUG}')" INFO "show: and the stack's env is added"
is "$(j '{mounts}')" '[{"path":"/data","read_only":true,"sub_path":"imagenet","volume":"datasets"},{"path":"/ckpt","read_only":false,"sub_path":"runs/7","volume":"research"},{"path":"/coco","read_only":true,"sub_path":"coco","volume":"datasets"}]' \
  "show: the stack's mounts then the job's, read_only from each volume"
is "$(j '{workdir}')" null "a job with an image gets no workdir from the CLI"
like "$("$GANTRY" show "$id")" 'image: "?oci:/srv/images/mine:1' "gantry show prints the image"
cat > "$WORK/job.yaml" <<'EOF'
team: research
command: [python, eval.py]
image: docker://registry.example/eval:3
network: none
mounts:
  - {volume: datasets, sub_path: imagenet/val, path: /val, read_only: true}
  - volume: research
    path: /out
EOF
fid=$("$GANTRY" submit -f "$WORK/job.yaml" --mount outputs:/o | awk '{print $3}')
"$GANTRY" show "$fid" -o json > "$WORK/file.json"
is "$(jget '{image}' < "$WORK/file.json") $(jget '{network}' < "$WORK/file.json")" \
  "docker://registry.example/eval:3 none" "a YAML file's image and network"
is "$(jget '{mounts}' < "$WORK/file.json")" '[{"path":"/o","read_only":false,"sub_path":"","volume":"outputs"}]' \
  "--mount flags replace the file's mounts (flags override the file)"
"$GANTRY" cancel "$fid" >/dev/null
sed -i '/^team:/a environment: research-only' "$WORK/job.yaml"
fid=$("$GANTRY" submit -f "$WORK/job.yaml" | awk '{print $3}')
"$GANTRY" show "$fid" -o json > "$WORK/file.json"
is "$(jget '{mounts}' < "$WORK/file.json")" '[{"path":"/val","read_only":true,"sub_path":"imagenet/val","volume":"datasets"},{"path":"/out","read_only":false,"sub_path":"","volume":"research"}]' \
  "a YAML file's mounts (block and flow style)"
is "$(jget '{environment}' < "$WORK/file.json") $(jget '{image}' < "$WORK/file.json")" \
  "research-only docker://registry.example/eval:3" "a YAML file's environment, its own image kept"
"$GANTRY" cancel "$fid" >/dev/null
plain=$("$GANTRY" submit --team research -- true | awk '{print $3}')
is "$(api GET /v1/jobs/$plain | jget '{network}')" host "network defaults to host"
is "$(api GET /v1/jobs/$plain | jget '{mounts}')" '[]' "mounts default to none"

kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
restart_server --config "$WORK/cluster.yaml" --heartbeat 1
"$GANTRY" show "$id" -o json > "$WORK/show2.json"
is "$(jget '{mounts}' < "$WORK/show2.json")" "$(j '{mounts}')" "after a restart: the mounts"
is "$(jget '{image}' < "$WORK/show2.json") $(jget '{environment}' < "$WORK/show2.json") $(jget '{network}' < "$WORK/show2.json")" \
  "oci:/srv/images/mine:1 pytorch none" "after a restart: the image, environment and network"
"$GANTRY" cancel "$plain" >/dev/null

# ---- the start task ----
AG=$("$GANTRY" token create --user n1 --role agent)
r=$(TOK=$AG api POST /v1/agent/register '{"name":"n1","gpu_type":"H100","address":"127.0.0.1","gpus":[{"index":0},{"index":1}],"runtimes":["process","oci"],"oci_runtime":"runc","running":[]}')
AG=$(echo "$r" | jget '{node_token}')
w=$(TOK=$AG api GET "/v1/agent/work?name=n1&epoch=1&wait=5")
t() { echo "$w" | jget "{tasks}[0]{job}$1"; }
is "$(t '{id}')" "$id" "the start task is for the job"
is "$(t '{image}')" oci:/srv/images/mine:1 "start task: the image"
is "$(t '{network}')" none "start task: the network"
is "$(t '{mounts}')" '[{"host_path":"/mnt/datasets","path":"/data","read_only":true,"sub_path":"imagenet"},{"host_path":"/mnt/research","path":"/ckpt","read_only":false,"sub_path":"runs/7"},{"host_path":"/mnt/datasets","path":"/coco","read_only":true,"sub_path":"coco"}]' \
  "start task: the mounts with their volumes' host paths"
is "$(t '{output_dir}')" "/mnt/outputs/research/$id" "start task: output_dir is <output volume>/<team>/<job id>"
is "$(t '{scratch_root}')" /local/scratch "start task: scratch_root is the scratch volume"
done_testing
