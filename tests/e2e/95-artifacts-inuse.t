#!/usr/bin/env bash
# rm of an artifact version that is in use only hides it (issue 13, "Access and limits"): a
# version a running job reads, and a version that is an input of recorded lineage (a job read
# it and made another version), are hidden, not deleted: they stay for the job and for lineage,
# no longer resolve for new use. A version nothing uses is deleted.
# Needs jobs' inputs and outputs (server/lineage.c) and root for the read-only mounts.
. "$(dirname "$0")/agent-lib.sh"
if [ "$(id -u)" != 0 ]; then
  echo "1..0 # skip mounts need root"
  exit 0
fi
V=$WORK/vol
mkdir -p "$V/out"
# A plain process job shares the node's root: its input mounts on a directory that exists
# there (the test's own, not one the machine may lack).
M=$WORK/mnt
mkdir -p "$M/data"
cat > "$WORK/cluster.yaml" <<EOF
teams:
  - {name: vision, quota: {gpus: 2}}
volumes:
  - {name: outputs, path: $V/out, teams: ["*"], access: rw, kind: output}
EOF
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 2 "$WORK/n1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"
ALICE=$("$GANTRY" token create --user alice --role member --team vision)
# Jobs' inputs and outputs come with server/lineage.c: until a server takes them, say so.
if api POST /v1/jobs '{"team":"vision","inputs":[],"command":["true"]}' | grep -q "unknown field 'inputs'"; then
  skip "this server has no job inputs and outputs yet (server/lineage.c)"
  done_testing; exit
fi
as() { GANTRY_TOKEN=$ALICE "$GANTRY" "$@"; }
submit() { curl -s -X POST -H "Authorization: Bearer $ALICE" -d "$1" "$GANTRY_SERVER/v1/jobs" | jget '{id}'; }
ended() { local s; s=$(job_state "$1"); [ "$s" = succeeded ] || [ "$s" = failed ] || [ "$s" = cancelled ]; }
running() { [ "$(job_state "$1")" = running ]; }

# two versions of a dataset, each made by a job
for n in 1 2; do
  j=$(submit '{"gpus":1,"name":"prep","outputs":[{"artifact":"corpus","kind":"dataset","path":"/gantry/output/d"}],
    "command":["sh","-c","mkdir -p $GANTRY_OUTPUT_DIR/d && echo v'$n' > $GANTRY_OUTPUT_DIR/d/a.txt"]}')
  wait_for 30 ended "$j"
  is "$(job_state "$j")" succeeded "job $j makes corpus@$n"
done
is "$(as artifact show corpus:latest -o json | jget '{version}')" 2 "corpus has versions 1 and 2"

# ---- a running job reads corpus@1: rm hides it ----
reader=$(submit '{"gpus":1,"name":"reader","inputs":[{"artifact":"corpus@1","path":"'"$M"'/data"}],"command":["sleep","300"]}')
wait_for 30 running "$reader"; ok $? "job $reader reads corpus@1 and runs"
out=$(as artifact rm corpus@1 2>&1)
like "$out" "corpus@1 hidden, not deleted: running job $reader reads it" "rm of a version a running job reads hides it ($out)"
like "$(as artifact show corpus@1 -o json | jget '{hidden}')" '^(1|true)$' "it is kept, marked hidden"
is "$(submit '{"gpus":1,"inputs":[{"artifact":"corpus@1","path":"'"$M"'/data"}],"command":["true"]}')" null "a new job can no longer name it"
"$GANTRY" cancel "$reader" >/dev/null; wait_for 30 ended "$reader"

# ---- corpus@2 is an input of recorded lineage: rm hides it ----
train=$(submit '{"gpus":1,"name":"train","inputs":[{"artifact":"corpus@2","path":"'"$M"'/data"}],
  "outputs":[{"artifact":"model","kind":"model","path":"/gantry/output/m"}],
  "command":["sh","-c","mkdir -p $GANTRY_OUTPUT_DIR/m && cat '"$M"'/data/a.txt > $GANTRY_OUTPUT_DIR/m/w"]}')
wait_for 30 ended "$train"
is "$(job_state "$train")" succeeded "job $train reads corpus@2 and makes model@1"
out=$(as artifact rm corpus@2 2>&1)
like "$out" "corpus@2 hidden, not deleted: it is an input of model@1's lineage" "rm of an input of recorded lineage hides it ($out)"

# ---- nothing uses model@1: rm deletes it ----
like "$(as artifact rm model@1 2>&1)" "model@1 deleted" "a version nothing uses is deleted"
like "$(as artifact show model@1 2>&1)" "not_found" "and is gone"
like "$(api GET '/v1/artifacts/corpus?hidden=1' | jget '{versions}[1]{hidden}')" '^(1|true)$' "the hidden versions are listed with ?hidden=1"
done_testing
