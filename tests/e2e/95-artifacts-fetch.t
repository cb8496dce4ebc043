#!/usr/bin/env bash
# A version kept in the blob store as a job's input (docs/artifacts.md "Jobs"), with a real
# server and agent: the node fetches its files with its own credential into its cache (keyed
# by the version's digest, verified), and the job reads them read-only at its input path; a
# second job reuses the cached copy (nothing fetched again); a file changed in the cache is
# found before the next job uses it, and fetched again. Access: a node's credential fetches
# only inputs of a job running on that node, only files of that input, and only while the
# job's team may read the version (made private since: the job fails to start).
. "$(dirname "$0")/agent-lib.sh"
if [ "$(id -u)" != 0 ]; then
  echo "1..0 # skip mounts need root"
  exit 0
fi
M=$WORK/mnt
mkdir -p "$M/data"
printf 'teams:\n  - {name: vision, quota: {gpus: 2}}\n  - {name: product, quota: {gpus: 2}}\n' > "$WORK/cluster.yaml"
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 2 "$WORK/n1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"
ALICE=$("$GANTRY" token create --user alice --role member --team vision)
BOB=$("$GANTRY" token create --user bob --role member --team product)
gt() { local tok=$1; shift; GANTRY_TOKEN=$tok "$GANTRY" "$@"; }
# tapi TOKEN METHOD PATH [BODY]: "STATUS BODY"; tsub TOKEN JOB: the new job's id
tapi() {
  local t=$1; shift
  curl -s -o "$WORK/tbody" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $t" ${3:+-d "$3"} \
    "$GANTRY_SERVER$2" > "$WORK/tstatus"
  echo "$(cat "$WORK/tstatus") $(cat "$WORK/tbody")"
}
tsub() { tapi "$1" POST /v1/jobs "$2" | sed 's/^[0-9]* //' | jget '{id}'; }
tcode() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" "$GANTRY_SERVER$2"; }
ended() { local s; s=$(job_state "$1"); [ "$s" = succeeded ] || [ "$s" = failed ]; }
events() { api GET "/v1/jobs/$1/events" | perl -MJSON::PP -e 'print join(" ", map { $_->{type} } @{decode_json(join "", <STDIN>)->{events}})'; }

D=$WORK/ds; mkdir -p "$D/sub"
printf 'alpha\n' > "$D/a.txt"
head -c 3000000 /dev/urandom > "$D/sub/b.bin"
ln -s a.txt "$D/link"
out=$(gt "$ALICE" artifact push ds "$D" --kind dataset 2>&1)
like "$out" '^pushed ds@1 ' "vision pushes a dataset into the blob store (team-only)"
digest=$(echo "$out" | grep -oE 'sha256:[0-9a-f]{64}')
hex=${digest#sha256:}
bsum=$(sha256sum "$D/sub/b.bin" | cut -d' ' -f1)

# ---- a job reads it at its path, read-only ----
j1=$(tsub "$ALICE" '{"team":"vision","gpus":1,"inputs":[{"artifact":"ds@1","path":"'"$M"'/data"}],
  "command":["sh","-c","cat '"$M"'/data/a.txt; sha256sum '"$M"'/data/sub/b.bin; readlink '"$M"'/data/link; if touch '"$M"'/data/new 2>/dev/null; then echo WROTE; else echo read-only; fi"]}')
like "$j1" '^[0-9]+$' "a job naming a blob-store version is accepted (was refused at submission)"
is "$(api GET "/v1/jobs/$j1" | jget '{inputs}[0]{location}{type}')" blob "its input is recorded as in the blob store"
wait_for 60 ended "$j1"
is "$(job_state "$j1")" succeeded "the job succeeds"
logs=$(api GET "/v1/jobs/$j1/logs")
like "$logs" '^alpha' "it reads the version's file at its input path"
like "$logs" "$bsum" "the 3 MB file arrived byte for byte"
like "$logs" $'\na\\.txt\n' "the symbolic link is a link"
like "$logs" 'read-only' "and it cannot write there"
like "$(events "$j1")" 'fetching_inputs' "a job event says its node fetched the input"
C=$WORK/n1/inputs/sha256/$hex
ok $([ -f "$C/a.txt" ]; echo $?) "the node keeps it in its cache under the version's digest"
is "$(stat -c %a "$WORK/n1/inputs")" 711 "the cache's root cannot be listed by other accounts"
ok $([ -z "$(ls -A "$WORK/n1/inputs/tmp")" ]; echo $?) "nothing half-fetched is left"
like "$(grep "job $j1 " "$WORK/agent.log")" 'fetching its inputs' "the agent's log says it fetches"

# ---- a second job reuses the cache ----
ino=$(stat -c %i "$C")
j2=$(tsub "$ALICE" '{"team":"vision","gpus":1,"inputs":[{"artifact":"ds","path":"'"$M"'/data"}],
  "command":["cat","'"$M"'/data/a.txt"]}')
wait_for 60 ended "$j2"
is "$(job_state "$j2")" succeeded "a second job with the same version succeeds"
like "$(api GET "/v1/jobs/$j2/logs")" '^alpha' "and reads the same files"
is "$(stat -c %i "$C")" "$ino" "from the same cached copy"
unlike "$(events "$j2")" 'fetching_inputs' "nothing was fetched for it"

# ---- a file changed in the cache is found and fetched again ----
printf 'tampered\n' > "$C/a.txt"
j3=$(tsub "$ALICE" '{"team":"vision","gpus":1,"inputs":[{"artifact":"ds@1","path":"'"$M"'/data"}],
  "command":["cat","'"$M"'/data/a.txt"]}')
wait_for 60 ended "$j3"
like "$(api GET "/v1/jobs/$j3/logs")" '^alpha' "a job after the cache was tampered with reads the version's bytes"
like "$(grep "job $j3: " "$WORK/agent.log")" "cached copy of $digest did not match" "the agent found the change and says so"
like "$(events "$j3")" 'fetching_inputs' "and fetched the version again"
is "$(cat "$C/a.txt")" alpha "the cache holds the right bytes again"

# ---- access: only the node a job runs on, only that input's files ----
NT=$(jget '{token}' < "$WORK/n1/node.token")
r=$(api POST /v1/agent/register '{"name":"ghost","gpu_type":"none","cpus_milli":1000,"memory_mib":1024,"address":"127.0.0.1","gpus":[],"running":[]}')
GT=$(echo "$r" | jget '{node_token}')
like "$GT" '^gt_' "a second node (ghost) has its own credential"
j4=$(tsub "$ALICE" '{"team":"vision","gpus":1,"inputs":[{"artifact":"ds@1","path":"'"$M"'/data"}],
  "command":["sh","-c","while [ ! -e '"$WORK"'/go4 ]; do sleep 0.1; done"]}')
wait_for 60 job_is "$j4" running
wait_for 30 grep -q "job $j4 incarnation 1 started" "$WORK/agent.log"
like "$(tapi "$NT" GET "/v1/agent/inputs/$j4/1/0?name=n1")" "^200 .*\"digest\":\"$digest\"" "n1's credential reads the manifest of its job's input"
is "$(tcode "$NT" "/v1/agent/inputs/$j4/1/0/blobs/$bsum?name=n1")" 200 "and its files"
like "$(tapi "$GT" GET "/v1/agent/inputs/$j4/1/0?name=ghost")" '^404 .*does not run on node ghost' "another node cannot fetch for a job not placed on it"
like "$(tapi "$GT" GET "/v1/agent/inputs/$j4/1/0/blobs/$bsum?name=ghost")" '^404 ' "nor its files"
like "$(tapi "$GT" GET "/v1/agent/inputs/$j4/1/0?name=n1")" '^403 ' "nor act as the node the job is on"
like "$(tapi "$NT" GET "/v1/agent/inputs/$j4/2/0?name=n1")" '^404 ' "nor for another incarnation of it"
like "$(tapi "$BOB" GET "/v1/agent/inputs/$j4/1/0?name=n1")" '^403 ' "a user's token cannot use the node route"
# product's private file: the node runs a vision job, whose input does not have it
mkdir -p "$WORK/pds"; printf 'product secret\n' > "$WORK/pds/secret.txt"
gt "$BOB" artifact push pds "$WORK/pds" > /dev/null 2>&1
psum=$(sha256sum "$WORK/pds/secret.txt" | cut -d' ' -f1)
like "$(tapi "$NT" GET "/v1/agent/inputs/$j4/1/0/blobs/$psum?name=n1")" '^404 .*has no file' "a node cannot fetch another team's file through a job's input"
touch "$WORK/go4"
wait_for 30 ended "$j4"

# ---- the job's team must still read the version when its node fetches it ----
like "$(tapi "$BOB" POST /v1/jobs '{"team":"product","gpus":1,"inputs":[{"artifact":"ds@1","path":"/x"}],"command":["true"]}')" '^404 ' "another team cannot name a private version"
tapi "$ALICE" PATCH /v1/artifacts/ds '{"visibility":"public"}' > /dev/null
j5=$(GANTRY_TOKEN=$BOB "$GANTRY" submit -t product -g 1 --hold --input "ds@1:$M/data" -o json -- cat "$M/data/a.txt" | jget '{id}')
like "$j5" '^[0-9]+$' "product submits a held job reading vision's shared dataset"
tapi "$ALICE" PATCH /v1/artifacts/ds '{"visibility":"team"}' > /dev/null
rm -rf "$WORK/n1/inputs/sha256/$hex"
GANTRY_TOKEN=$BOB "$GANTRY" release "$j5" > /dev/null
wait_for 60 ended "$j5"
is "$(job_state "$j5")" failed "once vision made it private again, product's job cannot fetch it"
like "$(api GET "/v1/jobs/$j5")" 'could not be fetched' "its end says the input could not be fetched"
unlike "$(api GET "/v1/jobs/$j5/logs")" 'alpha' "it read nothing"

# ---- what a fetch cut off left behind is never used ----
mkdir -p "$WORK/n1/inputs/tmp/$hex.99999/sub"; printf 'half' > "$WORK/n1/inputs/tmp/$hex.99999/a.txt"
j6=$(tsub "$ALICE" '{"team":"vision","gpus":1,"inputs":[{"artifact":"ds@1","path":"'"$M"'/data"}],"command":["cat","'"$M"'/data/a.txt"]}')
wait_for 60 ended "$j6"
like "$(api GET "/v1/jobs/$j6/logs")" '^alpha' "a fetch that a crash cut off is not used: the files are fetched whole"
ok $([ ! -e "$WORK/n1/inputs/tmp/$hex.99999" ]; echo $?) "and what it left is swept"
done_testing
