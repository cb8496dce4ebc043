#!/usr/bin/env bash
# Jobs consume and produce artifacts, end to end (a real server and agent, plain process jobs,
# volumes in the configuration, two teams): team vision's job produces dataset corpus@1 (its
# digest is the manifest's, recomputed here); its training job reads it (mounted read-only: a
# write fails with EROFS) and produces model clf@1; vision moves alias production to clf@1 and
# a later job makes clf@2; team product's job reads clf:production and gets version 1; lineage
# shows the chain both ways; a failed and a cancelled job register nothing; another team can
# neither write vision's artifacts nor read its private ones.
. "$(dirname "$0")/agent-lib.sh"
if [ "$(id -u)" != 0 ]; then
  echo "1..0 # skip mounts need root"
  exit 0
fi
V=$WORK/vol
M=$WORK/mnt
mkdir -p "$V/out" "$M/data" "$M/model"
cat > "$WORK/cluster.yaml" <<EOF
teams:
  - {name: vision, quota: {gpus: 2}}
  - {name: product, quota: {gpus: 2}}
volumes:
  - {name: outputs, path: $V/out, teams: ["*"], access: rw, kind: output}
EOF
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 2 "$WORK/n1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"
ALICE=$("$GANTRY" token create --user alice --role member --team vision)
BOB=$("$GANTRY" token create --user bob --role member --team product)

# as TOKEN METHOD PATH [BODY]: the body; the status in $WORK/status
as() {
  curl -s -o "$WORK/body" -w '%{http_code}' -X "$2" -H "Authorization: Bearer $1" \
    ${4:+-d "$4"} "$GANTRY_SERVER$3" > "$WORK/status"
  cat "$WORK/body"
}
status() { cat "$WORK/status"; }
ended() { local s; s=$(job_state "$1"); [ "$s" = succeeded ] || [ "$s" = failed ] || [ "$s" = cancelled ]; }
logs() { api GET "/v1/jobs/$1/logs${2:+?stream=$2}"; }
latest() { GANTRY_TOKEN=$ADMIN "$GANTRY" artifact lineage "$1" -o json | jget '{version}'; }

# ---- vision's job produces dataset corpus@1 ----
j1=$(as "$ALICE" POST /v1/jobs '{"gpus":1,"name":"prep","env":{"HF_TOKEN":"hunter2-secret"},"outputs":[{"artifact":"corpus","kind":"dataset","path":"/gantry/output/data"}],
  "command":["sh","-c","mkdir -p $GANTRY_OUTPUT_DIR/data/sub && echo one > $GANTRY_OUTPUT_DIR/data/a.txt && printf two > $GANTRY_OUTPUT_DIR/data/sub/b.txt"]}' | jget '{id}')
wait_for 30 ended "$j1"
is "$(job_state "$j1")" succeeded "the producing job succeeds"
doc=$(api GET "/v1/jobs/$j1")
is "$(echo "$doc" | jget '{outputs}[0]{version}')" 1 "its output is registered as corpus@1"
d1=$(echo "$doc" | jget '{outputs}[0]{digest}')
# The digest, recomputed from the files the job left: SHA-256 of the canonical manifest.
want=$(cd "$V/out/vision/$j1/data" && perl -MDigest::SHA=sha256_hex -e '
  my @e; for my $f (sort @ARGV) { open my $h, "<", $f or die; local $/; my $c = <$h>;
    push @e, sprintf(q({"path":"%s","sha256":"%s","size":%d}), $f, sha256_hex($c), length $c) }
  print "sha256:", sha256_hex("[" . join(",", @e) . "]")' a.txt sub/b.txt)
is "$d1" "$want" "its digest is the SHA-256 of the canonical manifest of the files it wrote"
lin=$(GANTRY_TOKEN=$ALICE "$GANTRY" artifact lineage corpus@1 -o json)
is "$(echo "$lin" | jget '{lineage}{job}')" "$j1" "corpus@1's lineage is the job"
is "$(echo "$lin" | jget '{lineage}{user}')/$(echo "$lin" | jget '{lineage}{team}')" alice/vision "  with its user and team"
like "$(echo "$lin" | jget '{lineage}{command}')" 'mkdir -p' "  and its command"
ok $(echo "$lin" | perl -MJSON::PP -e 'my $l = decode_json(join "", <>)->{lineage}; exit !($l->{start} > 0 && $l->{end} >= $l->{start})' && echo 0 || echo 1) "  and its start and end"
is "$(echo "$lin" | jget '{lineage}{env_names}')" '["HF_TOKEN"]' "  and its environment's names"
ok $(echo "$lin" | grep -q hunter2 && echo 1 || echo 0) "  not their values (a shared version's lineage would publish a secret)"

# ---- its training job reads corpus@1 (read-only) and produces clf@1 ----
j2=$(as "$ALICE" POST /v1/jobs '{"gpus":1,"name":"train","inputs":[{"artifact":"corpus@1","path":"'"$M"'/data"}],
  "outputs":[{"artifact":"clf","kind":"model","path":"/gantry/output/model"}],
  "command":["sh","-c","mkdir -p $GANTRY_OUTPUT_DIR/model && cat '"$M"'/data/a.txt '"$M"'/data/sub/b.txt > $GANTRY_OUTPUT_DIR/model/w.bin && echo v1 >> $GANTRY_OUTPUT_DIR/model/w.bin; echo x > '"$M"'/data/new || true"]}' | jget '{id}')
wait_for 30 ended "$j2"
is "$(job_state "$j2")" succeeded "the training job succeeds"
doc=$(api GET "/v1/jobs/$j2")
is "$(echo "$doc" | jget '{inputs}[0]{version}')/$(echo "$doc" | jget '{inputs}[0]{digest}')" "1/$d1" "its input is recorded as corpus@1 with its digest"
like "$(logs "$j2" stderr)" 'Read-only file system' "the input is mounted read-only (EROFS)"
ok $([ ! -e "$V/out/vision/$j1/data/new" ] && echo 0 || echo 1) "nothing was written into corpus@1"
is "$(cat "$V/out/vision/$j2/model/w.bin" | tr '\n' ' ')" "one twov1 " "the job read corpus@1's files at its input path"
is "$(echo "$doc" | jget '{outputs}[0]{version}')" 1 "its model is registered as clf@1"

# ---- vision shares clf and moves alias production to clf@1; a later job makes clf@2 ----
set_alias() { as "$ALICE" PUT "/v1/artifacts/$1/aliases/$2" "{\"version\":$3}" >/dev/null; status; }
is "$(as "$ALICE" PATCH /v1/artifacts/clf '{"visibility":"public"}' >/dev/null; status)" 200 "vision shares clf"
is "$(set_alias clf production 1)" 200 "vision moves alias production to clf@1"
# (through the CLI's flags this time)
j3=$(GANTRY_TOKEN=$ALICE "$GANTRY" submit --gpus 1 --input "corpus:$M/data" \
  --output-artifact clf:model:/gantry/output/model -- sh -c 'mkdir -p $GANTRY_OUTPUT_DIR/model && echo v2 > $GANTRY_OUTPUT_DIR/model/w.bin' | awk '{print $NF}')
wait_for 30 ended "$j3"
is "$(api GET "/v1/jobs/$j3" | jget '{outputs}[0]{version}')" 2 "a later job makes clf@2"

# ---- product's job reads clf:production ----
jb=$(as "$BOB" POST /v1/jobs '{"gpus":1,"name":"deploy","inputs":[{"artifact":"clf:production","path":"'"$M"'/model"}],
  "command":["sh","-c","cat '"$M"'/model/w.bin"]}' | jget '{id}')
wait_for 30 ended "$jb"
is "$(job_state "$jb")" succeeded "product's job reading clf:production succeeds"
doc=$(api GET "/v1/jobs/$jb")
is "$(echo "$doc" | jget '{inputs}[0]{artifact}')@$(echo "$doc" | jget '{inputs}[0]{version}')" clf@1 "the alias resolved to clf@1 at submission, not the latest"
is "$(echo "$doc" | jget '{inputs}[0]{ref}')" clf:production "  the reference as given is kept"
like "$(logs "$jb")" 'v1' "the job read clf@1's files"

# ---- lineage shows the chain ----
lin=$(GANTRY_TOKEN=$ADMIN "$GANTRY" artifact lineage clf@1 -o json)
is "$(echo "$lin" | jget '{upstream}[0]{artifact}')@$(echo "$lin" | jget '{upstream}[0]{version}')" corpus@1 "clf@1's upstream is corpus@1"
is "$(echo "$lin" | jget '{upstream}[0]{job}{id}')" "$j1" "  made by the producing job"
is "$(echo "$lin" | jget '{job}{id}')" "$j2" "clf@1 was made by the training job"
reads() { perl -MJSON::PP -e 'my $d = decode_json(join "", <STDIN>); exit !grep { !ref $_->{job} && ($_->{job} // 0) == $ARGV[0] } @{$d->{downstream}}' "$1"; }
ok $(echo "$lin" | reads "$jb" && echo 0 || echo 1) "its downstream has product's job (seen by an admin)"
ok $(GANTRY_TOKEN=$BOB "$GANTRY" artifact lineage clf:production -o json | reads "$jb" && echo 0 || echo 1) "  and by product's member"
ok $(GANTRY_TOKEN=$ALICE "$GANTRY" artifact lineage clf@1 -o json | reads "$jb" && echo 1 || echo 0) "  not by vision's: another team's job is not revealed"
is "$(GANTRY_TOKEN=$BOB "$GANTRY" artifact lineage clf@1 -o json | jget '{upstream}[0]{hidden}')" true "product sees clf@1's upstream as a version it may not read"
lin=$(GANTRY_TOKEN=$ADMIN "$GANTRY" artifact lineage corpus@1)
like "$lin" "clf@1 model" "corpus@1's tree shows clf@1 downstream"
like "$lin" "job $jb \\(bob, team product\\)" "  and, under it, product's job"
lin=$(GANTRY_TOKEN=$ALICE "$GANTRY" artifact lineage clf@2 -o json)
is "$(echo "$lin" | jget '{upstream}[0]{artifact}')@$(echo "$lin" | jget '{upstream}[0]{version}')" corpus@1 "clf@2's upstream: the latest corpus when its job was submitted"

# ---- a failed or cancelled job registers nothing ----
jf=$(as "$ALICE" POST /v1/jobs '{"gpus":1,"outputs":[{"artifact":"corpus","kind":"dataset","path":"/gantry/output/data"}],
  "command":["sh","-c","mkdir -p $GANTRY_OUTPUT_DIR/data && echo bad > $GANTRY_OUTPUT_DIR/data/a.txt; exit 3"]}' | jget '{id}')
wait_for 30 ended "$jf"
is "$(job_state "$jf")" failed "a job that exits 3 fails"
is "$(api GET "/v1/jobs/$jf" | jget '{outputs}[0]{version}')" null "  and has no version"
jc=$(as "$ALICE" POST /v1/jobs '{"gpus":1,"outputs":[{"artifact":"corpus","kind":"dataset","path":"/gantry/output/data"}],
  "command":["sh","-c","mkdir -p $GANTRY_OUTPUT_DIR/data && echo c > $GANTRY_OUTPUT_DIR/data/a.txt; sleep 600"]}' | jget '{id}')
wait_for 30 job_is "$jc" running
wait_for 10 test -e "$V/out/vision/$jc/data/a.txt"
as "$ALICE" DELETE "/v1/jobs/$jc" >/dev/null
wait_for 30 ended "$jc"
is "$(job_state "$jc")" cancelled "a cancelled job ends cancelled"
is "$(latest corpus)" 1 "corpus has one version still: neither registered anything"
ok $(grep -q "job $jf .*made\|job $jc .*made" "$WORK/server.log" && echo 1 || echo 0) "the server's log shows no version made by them"
ok $(grep -Eq "job ($jf|$jc) incarnation [0-9]+ succeeded: hashing" "$WORK/agent.log" && echo 1 || echo 0) "the node hashed neither's outputs"
# The server's own rule, whatever a node sends: hashes of a run that then fails, or is
# cancelled, register nothing (sent here by hand for running jobs).
epoch=$(sed -n 's/.*registered with epoch \([0-9]*\).*/\1/p' "$WORK/agent.log" | tail -n 1)
forge() { # JOB ARTIFACT: a node's hashes of JOB's output ARTIFACT, as its agent would send
  api POST /v1/agent/outputs '{"name":"n1","epoch":'"$epoch"',"job_id":'"$1"',"incarnation":1,"outputs":[{"artifact":"'"$2"'","digest":"sha256:'"$(printf '%064d' 0)"'","size":1,"files":1}]}' >/dev/null
  cat "$WORK/status"
}
jx=$(as "$ALICE" POST /v1/jobs '{"gpus":1,"outputs":[{"artifact":"corpus","kind":"dataset","path":"/gantry/output/data"}],
  "command":["sh","-c","while [ ! -e '"$WORK"'/go ]; do sleep 0.1; done; exit 3"]}' | jget '{id}')
jy=$(as "$ALICE" POST /v1/jobs '{"gpus":1,"outputs":[{"artifact":"corpus","kind":"dataset","path":"/gantry/output/data"}],"command":["sleep","600"]}' | jget '{id}')
wait_for 30 job_is "$jx" running
wait_for 30 job_is "$jy" running
is "$(forge "$jx" corpus)" 200 "the server takes a node's hashes of a running job's outputs"
is "$(forge "$jx" other)" 400 "  but not of an artifact the job did not declare (400)"
is "$(forge "$jy" corpus)" 200 "  (and of a second job's)"
touch "$WORK/go"
as "$ALICE" DELETE "/v1/jobs/$jy" >/dev/null
wait_for 30 ended "$jx"
wait_for 30 ended "$jy"
is "$(job_state "$jx")/$(job_state "$jy")" failed/cancelled "then one fails and the other is cancelled"
is "$(latest corpus)" 1 "neither registers anything though their node sent hashes"

# ---- another team cannot write vision's artifacts, nor read its private ones ----
as "$BOB" POST /v1/jobs '{"gpus":1,"outputs":[{"artifact":"corpus","path":"/gantry/output"}],"command":["true"]}' >/dev/null
is "$(status)" 403 "product's job may not make a version of vision's corpus (403)"
as "$BOB" POST /v1/jobs '{"gpus":1,"inputs":[{"artifact":"corpus@1","path":"/mnt"}],"command":["true"]}' >/dev/null
is "$(status)" 404 "nor read vision's private corpus (404, as if it did not exist)"
as "$ALICE" POST /v1/jobs '{"gpus":1,"outputs":[{"artifact":"x","path":"/data"}],"command":["true"]}' >/dev/null
is "$(status)" 400 "an output outside /gantry/output is refused (400)"
like "$(cat "$WORK/body")" 'outputs\[0\].path must be /gantry/output' "  saying where outputs go"

# ---- the dashboard draws the graph (a real headless Chromium) ----
. "$(dirname "$0")/browser.sh"
browser_run lineage.js URL="$GANTRY_SERVER" TOKEN="$ADMIN" VERSION=clf@1 UP=corpus@1 \
  DOWN_JOB="$jb" MADE_BY="$j2" OUT="$BROWSER_ROOT/build/test-artifacts/96-lineage"

done_testing
