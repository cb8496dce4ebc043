#!/usr/bin/env bash
# Versions registered in place on a volume, end to end (a real server and agent): `gantry
# artifact push --in-place VOLUME:PATH NAME` has a node hash the files where they are (nothing
# copied; the digest is the manifest's), a job mounts the version read-only; `gantry artifact
# verify` finds nothing changed, then a file changed, one added and one removed under it; a
# path that leaves its volume (a symlink, '..') is refused by the node; a team that may not use
# the volume, or write the artifact, is refused.
. "$(dirname "$0")/agent-lib.sh"
if [ "$(id -u)" != 0 ]; then
  echo "1..0 # skip mounts need root"
  exit 0
fi
V=$WORK/vol
M=$WORK/mnt
mkdir -p "$V/out" "$V/ds/imagenet/train" "$M/data"
echo cat > "$V/ds/imagenet/train/0001.txt"
echo dog > "$V/ds/imagenet/train/0002.txt"
echo labels > "$V/ds/imagenet/labels.csv"
echo secret > "$WORK/secret"
ln -s "$WORK" "$V/ds/escape"
cat > "$WORK/cluster.yaml" <<EOF
teams:
  - {name: vision, quota: {gpus: 2}}
  - {name: product, quota: {gpus: 2}}
volumes:
  - {name: outputs, path: $V/out, teams: ["*"], access: rw, kind: output}
  - {name: datasets, path: $V/ds, teams: [vision], access: rw, kind: dataset}
EOF
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 2 "$WORK/n1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"
ALICE=$("$GANTRY" token create --user alice --role member --team vision)
BOB=$("$GANTRY" token create --user bob --role member --team product)
ended() { local s; s=$(job_state "$1"); [ "$s" = succeeded ] || [ "$s" = failed ]; }
gt() { local tok=$1; shift; GANTRY_TOKEN=$tok "$GANTRY" "$@"; }

# ---- registered in place ----
out=$(gt "$ALICE" artifact push --in-place datasets:imagenet imagenet --kind dataset 2>&1)
is $? 0 "push --in-place registers the directory"
like "$out" '^imagenet@1 sha256:[0-9a-f]{64} \(3 files, 15 bytes, in place on datasets:imagenet\)' "it prints the version, digest, files and bytes"
want=$(cd "$V/ds/imagenet" && perl -MDigest::SHA=sha256_hex -e '
  my @e; for my $f (sort @ARGV) { open my $h, "<", $f or die; local $/; my $c = <$h>;
    push @e, sprintf(q({"path":"%s","sha256":"%s","size":%d}), $f, sha256_hex($c), length $c) }
  print "sha256:", sha256_hex("[" . join(",", @e) . "]")' labels.csv train/0001.txt train/0002.txt)
like "$out" "${want#sha256:}" "its digest is the SHA-256 of the canonical manifest of the files"
ok $([ -z "$(find "$WORK/data/blobs" -type f 2>/dev/null)" ] && echo 0 || echo 1) "nothing was copied into the blob store"
grep -q "hashing $V/ds/imagenet" "$WORK/agent.log"
ok $? "the node hashed it (the agent's log says so)"

# ---- a job mounts it read-only ----
j=$(api POST /v1/jobs '{"team":"vision","gpus":1,"inputs":[{"artifact":"imagenet","path":"'"$M"'/data"}],
  "command":["sh","-c","cat '"$M"'/data/train/0002.txt; rm '"$M"'/data/labels.csv"]}' | jget '{id}')
wait_for 30 ended "$j"
like "$(api GET "/v1/jobs/$j/logs")" '^dog' "a job reads the in-place version at its input path"
ok $([ -e "$V/ds/imagenet/labels.csv" ] && echo 0 || echo 1) "and cannot remove its files (read-only)"

# ---- verify ----
out=$(gt "$ALICE" artifact verify imagenet@1 2>&1)
is $? 0 "verify: unchanged files pass (exit 0)"
like "$out" 'imagenet@1: OK' "  and it says OK"
echo cow > "$V/ds/imagenet/train/0001.txt"
echo new > "$V/ds/imagenet/train/0003.txt"
rm "$V/ds/imagenet/labels.csv"
out=$(gt "$ALICE" artifact verify imagenet@1 2>&1)
is $? 1 "verify: a changed file fails it (exit 1)"
like "$out" 'CHANGED' "  it says CHANGED"
like "$out" 'changed train/0001.txt' "  naming the changed file"
like "$out" 'added train/0003.txt' "  the added one"
like "$out" 'missing labels.csv' "  and the removed one"
json=$(gt "$ALICE" artifact verify imagenet@1 -o json)
is "$(echo "$json" | jget '{ok}')" false "verify -o json: ok is false"

# ---- what a node refuses, and who may not ----
out=$(gt "$ALICE" artifact push --in-place datasets:escape evil 2>&1)
ok $([ $? -ne 0 ] && echo 0 || echo 1) "a symlink out of the volume is refused"
like "$out" 'leaves the volume' "  by the node, saying it leaves the volume"
out=$(gt "$ALICE" artifact push --in-place datasets:../.. evil 2>&1)
ok $([ $? -ne 0 ] && echo 0 || echo 1) "a '..' out of the volume is refused"
out=$(gt "$BOB" artifact push --in-place datasets:imagenet theirs 2>&1)
like "$out" "may not use volume 'datasets'.*403" "a team that may not use the volume is refused (403)"
out=$(gt "$BOB" artifact verify imagenet@1 2>&1)
like "$out" '404' "another team cannot verify vision's private version (404)"

done_testing
