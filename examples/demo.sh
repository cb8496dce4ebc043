#!/usr/bin/env bash
# demo.sh: jobs from two teams on a local cluster, one preempted and resumed from its checkpoint.
# Start the cluster first, in another terminal:
#   bin/gantry up --agents 2 --gpus 4 --config examples/local-cluster.yaml
# then:  examples/demo.sh          (GANTRY_SERVER, GANTRY_CA_FILE and GANTRY_TOKEN default to
#                                   gantry up's)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
g=${GANTRY_BIN:-$root/bin/gantry}
export GANTRY_SERVER=${GANTRY_SERVER:-https://127.0.0.1:8080}
if [ -z "${GANTRY_CA_FILE:-}" ] && [ -r "${GANTRY_UP_DIR:-gantry-up}/tls/ca.pem" ]; then
  export GANTRY_CA_FILE=${GANTRY_UP_DIR:-gantry-up}/tls/ca.pem   # gantry up's local CA
fi
if [ -z "${GANTRY_TOKEN:-}" ]; then
  tok=${GANTRY_UP_DIR:-gantry-up}/server/admin.token   # gantry up's --dir, from where it ran
  [ -r "$tok" ] || { echo "demo: set GANTRY_TOKEN (gantry up printed where the admin token is)" >&2; exit 1; }
  GANTRY_TOKEN=$(cat "$tok")
fi
export GANTRY_TOKEN
step() { printf '\n== %s\n' "$*"; }
state() { "$g" show "$1" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }

step "research fills the cluster: a checkpointing counter (experimental) and a training job"
counter=$("$g" submit --team research --gpus 4 --class experimental --checkpoint SIGTERM \
  --name counter -e TARGET=150 -e STEP_S=0.1 -o json -- python3 "$root/examples/jobs/checkpoint-counter.py" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
train=$("$g" submit --team research --gpus 4 --name train -o json -- sh -c 'echo training; sleep 40' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "counter is job $counter, training is job $train"
until [ "$(state "$counter")" = running ]; do sleep 0.5; done
sleep 3
"$g" queue

step "product submits a production job: it preempts the lowest class, the counter (SIGTERM, up to 15 s)"
prod=$("$g" submit --team product --gpus 4 --class production --name serve -o json -- sh -c 'echo serving; sleep 5' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "production is job $prod"
sleep 2
"$g" queue
"$g" show "$counter" | sed -n '1,12p'

step "the production job runs and ends; the counter resumes from its checkpoint"
until [ "$(state "$prod")" = succeeded ]; do sleep 0.5; done
until [ "$(state "$counter")" = running ]; do sleep 0.5; done
sleep 2
"$g" logs "$counter" | grep -E "resuming" | tail -n 2

step "waiting for the counter to finish"
until [ "$(state "$counter")" = succeeded ]; do sleep 1; done
"$g" logs "$counter" | tail -n 2
"$g" usage --by team
