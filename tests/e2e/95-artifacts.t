#!/usr/bin/env bash
# The artifact registry through the CLI and the API (issue 13, "Artifacts", "Access and
# limits"): a push and a pull give back the same files, verified against the digest; an
# upload cut mid-body resumes from the server's offset; aliases move; another team cannot push
# to an artifact, reads it only once it is public; a team's storage quota refuses a push that
# would pass it (and gantry usage shows what it holds); a version an input of recorded lineage
# uses is hidden, not deleted, by rm.
. "$(dirname "$0")/lib.sh"
cat > "$WORK/cluster.yaml" <<'YAML'
teams:
  - name: research
    storage_quota: 128Ki
  - name: product
YAML
start_server --config "$WORK/cluster.yaml"

RES=$("$GANTRY" token create --user alice --role member --team research)
PRO=$("$GANTRY" token create --user bob --role member --team product)
as() { local t=$1; shift; GANTRY_TOKEN=$t "$GANTRY" "$@"; }

# ---- push and pull: the same tree back, verified ----
D=$WORK/ds; mkdir -p "$D/train/a" "$D/empty-dir"
printf 'hello\n' > "$D/README"
head -c 20000 /dev/urandom > "$D/train/a/shard-0.bin"
printf 'hello\n' > "$D/train/copy-of-readme"      # the same bytes: one blob
: > "$D/train/zero"
ln -s README "$D/link-to-readme"
out=$(cd "$WORK" && as "$RES" artifact push imagenet-mini "$D" --kind dataset --meta source=web 2>&1)
like "$out" '^pushed imagenet-mini@1 sha256:[0-9a-f]{64} \(5 files, ' "push registers version 1 with its digest ($out)"
like "$out" '3 uploaded' "three distinct blobs were uploaded (the copy and the link are not)"
digest1=$(echo "$out" | grep -oE 'sha256:[0-9a-f]{64}')
out=$(cd "$WORK" && as "$RES" artifact pull imagenet-mini@1 "$WORK/back" 2>&1)
like "$out" "^pulled imagenet-mini@1 into .*: 5 files, .*digest $digest1 verified" "pull verifies the tree against the digest"
cmp -s "$D/train/a/shard-0.bin" "$WORK/back/train/a/shard-0.bin"; ok $? "the binary file came back byte for byte"
is "$(readlink "$WORK/back/link-to-readme")" README "the symbolic link came back as a link"
is "$(as "$RES" artifact show imagenet-mini -o json | jget '{metadata}{source}')" web "metadata kept"
is "$(as "$RES" artifact show imagenet-mini -o json | jget '{kind}')" dataset "kind kept"
# the same tree pushed again: a new version with the same digest, nothing uploaded
out=$(as "$RES" artifact push imagenet-mini "$D" 2>&1)
like "$out" "^pushed imagenet-mini@2 $digest1 .*0 uploaded" "an unchanged tree is version 2 with the same digest, nothing sent"

# bytes changed on the server's disk are caught by pull
shard=$(sha256sum "$D/train/a/shard-0.bin" | cut -d' ' -f1)
blob=$WORK/data/blobs/sha256/$shard
ok $([ -f "$blob" ]; echo $?) "the shard is stored under DATA/blobs/sha256 by its digest"
cp "$blob" "$WORK/blob.good"
# (the shard is random bytes: write a byte that differs from the one there, or one run in 256
# changes nothing and the checks below see an intact blob)
was=$(dd if="$blob" bs=1 skip=100 count=1 status=none)
byte=X; [ "$was" = X ] && byte=Y
printf '%s' "$byte" | dd of="$blob" bs=1 seek=100 conv=notrunc status=none
cmp -s "$blob" "$WORK/blob.good"; is $? 1 "the stored shard now differs from what was pushed"
out=$(as "$RES" artifact verify imagenet-mini@1 2>&1); rc=$?
is "$rc" 1 "gantry artifact verify exits 1 on a version whose stored blob changed"
like "$out" 'imagenet-mini@1 DAMAGED' "it says the version is damaged"
like "$out" '^  train/a/shard-0.bin$' "and names the damaged file"
out=$(as "$RES" artifact pull imagenet-mini@1 "$WORK/tampered" 2>&1); rc=$?
ok $([ $rc -ne 0 ]; echo $?) "a pull of a version whose blob changed on the server fails"
like "$out" 'does not match imagenet-mini@1' "it says the tree does not match the version"
like "$out" 'changed train/a/shard-0.bin' "and names the file"
cp "$WORK/blob.good" "$blob"
like "$(as "$RES" artifact verify imagenet-mini@1)" 'imagenet-mini@1 verified: 5 files' "once restored it verifies"
like "$(TOK=$RES api GET "/v1/artifacts/imagenet-mini/versions/1/blobs/$(printf nope | sha256sum | cut -d' ' -f1)")" '^404 ' \
  "a blob the version does not have is not served (404), even when asked by its version"

# ---- an upload cut mid-body resumes from the server's offset ----
R=$WORK/resume; mkdir -p "$R"; head -c 30000 /dev/urandom > "$R/big.bin"
sha=$(sha256sum "$R/big.bin" | cut -d' ' -f1)
r=$(TOK=$RES api POST /v1/artifacts/uploads "{\"sha256\":\"$sha\",\"size\":30000}")
like "$r" '^201 ' "an upload starts (201)"
uid=$(echo "$r" | jget '{id}')
# 12,000 bytes of a declared 30,000, then the client goes away mid-body: a client of our own
# sends the header and those bytes, and waits; once the server has written them (the offset
# says so) it is killed
perl -MIO::Socket::INET -e '
  my ($port, $tok, $uid, $file) = @ARGV;
  my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port) or die;
  open my $f, "<", $file or die; read $f, my $part, 12000;
  print $s "PATCH /v1/artifacts/uploads/$uid?offset=0 HTTP/1.1\r\nHost: x\r\n",
           "Authorization: Bearer $tok\r\nContent-Length: 30000\r\n\r\n", $part;
  sleep 120' "$PORT" "$RES" "$uid" "$R/big.bin" &
CUT_PID=$!
offset_is() { [ "$(TOK=$RES api GET "/v1/artifacts/uploads/$uid" | jget '{offset}')" = "$1" ]; }
wait_for 20 offset_is 12000; ok $? "the bytes of an unfinished body are on disk as they arrive"
kill "$CUT_PID"; wait "$CUT_PID" 2>/dev/null
# the server notices the closed connection: an empty PATCH at 12000 is then taken (200)
not_busy() { [ "$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -H "Authorization: Bearer $RES" \
  --data-binary '' "$GANTRY_SERVER/v1/artifacts/uploads/$uid?offset=12000")" = 200 ]; }
wait_for 20 not_busy; ok $? "once the client is gone the upload takes bytes again"
off=$(TOK=$RES api GET "/v1/artifacts/uploads/$uid" | jget '{offset}')
is "$off" 12000 "after the client went away, the server kept the 12,000 bytes that arrived"
r=$(curl -s -w ' %{http_code}' -X PATCH -H "Authorization: Bearer $RES" --data-binary @"$R/big.bin" \
  "$GANTRY_SERVER/v1/artifacts/uploads/$uid?offset=0")
like "$r" '409$' "sending from another offset is refused (409)"
like "$r" '"offset":12000' "and the answer says where to go on from"
r=$(TOK=$RES api POST "/v1/artifacts/uploads/$uid/commit")
like "$r" '^409 .*incomplete' "a commit of an incomplete upload is refused"
out=$(as "$RES" artifact push resumable "$R" 2>&1)
like "$out" 'resuming the upload of .*big.bin at byte 12000 of 30000' "gantry artifact push resumes it at byte 12000"
like "$out" '^pushed resumable@1 .*17.6 KiB sent, resumed\)' "and sends only the 18,000 bytes left ($out)"
as "$RES" artifact pull resumable "$WORK/resumed" >/dev/null 2>&1
cmp -s "$R/big.bin" "$WORK/resumed/big.bin"; ok $? "the resumed file pulls back whole"
# a body that does not hash to the declared digest is discarded at commit
r=$(TOK=$RES api POST /v1/artifacts/uploads "{\"sha256\":\"$(printf 'x' | sha256sum | cut -d' ' -f1)\",\"size\":1}")
bad=$(echo "$r" | jget '{id}')
curl -s -o /dev/null -X PATCH -H "Authorization: Bearer $RES" --data-binary y "$GANTRY_SERVER/v1/artifacts/uploads/$bad?offset=0"
r=$(TOK=$RES api POST "/v1/artifacts/uploads/$bad/commit")
like "$r" '^422 .*digest_mismatch' "bytes that do not hash to the declared sha256 are refused at commit (422)"
like "$(TOK=$RES api GET "/v1/artifacts/uploads/$bad")" '^404 ' "and the upload is discarded"

# ---- aliases move ----
like "$(as "$RES" artifact tag imagenet-mini@1 production)" 'imagenet-mini:production -> imagenet-mini@1' "tag production at version 1"
is "$(as "$RES" artifact show imagenet-mini:production -o json | jget '{version}')" 1 "production resolves to 1"
as "$RES" artifact tag imagenet-mini@2 production >/dev/null
is "$(as "$RES" artifact show imagenet-mini:production -o json | jget '{version}')" 2 "after the move it resolves to 2"
is "$(as "$RES" artifact show imagenet-mini -o json | jget '{aliases}{production}')" 2 "the artifact lists production=2"

# ---- another team: never writes; reads only what is shared ----
out=$(as "$PRO" artifact show imagenet-mini 2>&1); rc=$?
ok $([ $rc -ne 0 ]; echo $?) "product cannot read research's team-only artifact"
like "$out" 'not_found' "it is answered as one that does not exist"
out=$(as "$PRO" artifact push imagenet-mini "$D" 2>&1); rc=$?
ok $([ $rc -ne 0 ]; echo $?) "product cannot push to research's artifact"
like "$out" 'forbidden|not_found' "refused ($out)"
like "$(TOK=$RES api PATCH /v1/artifacts/imagenet-mini '{"visibility":"public"}')" '^200 ' "research makes it public"
is "$(as "$PRO" artifact show imagenet-mini:production -o json | jget '{version}')" 2 "product now reads imagenet-mini:production"
out=$(cd "$WORK" && as "$PRO" artifact pull imagenet-mini:production "$WORK/bob" 2>&1)
like "$out" "verified" "and pulls it, verified"
out=$(as "$PRO" artifact push imagenet-mini "$D" 2>&1); rc=$?
ok $([ $rc -ne 0 ]; echo $?) "product still cannot push to the public artifact"
like "$out" "may read it, not write it.*forbidden" "403: it may read it, not write it"
like "$(TOK=$PRO api PUT /v1/artifacts/imagenet-mini/aliases/production '{"version":1}')" '^403 ' "nor move its alias (403)"
like "$(TOK=$PRO api DELETE /v1/artifacts/imagenet-mini/versions/1)" '^403 ' "nor remove a version (403)"
like "$(TOK=$PRO api PATCH /v1/artifacts/imagenet-mini '{"visibility":"team"}')" '^403 ' "nor change its visibility (403)"
# knowing a blob's digest is not having it: product cannot name research's private bytes
P=$WORK/private; mkdir -p "$P"; head -c 5000 /dev/urandom > "$P/secret.bin"
as "$RES" artifact push private-model "$P" --kind model >/dev/null 2>&1
psha=$(sha256sum "$P/secret.bin" | cut -d' ' -f1)
r=$(TOK=$PRO api POST /v1/artifacts/stolen/versions "{\"manifest\":[{\"path\":\"secret.bin\",\"size\":5000,\"sha256\":\"$psha\"}]}")
like "$r" '^409 .*missing_blobs' "a version naming another team's private blob by digest is refused until the bytes are sent (409)"
r=$(TOK=$PRO api POST /v1/artifacts/uploads "{\"sha256\":\"$psha\",\"size\":5000}")
like "$r" '^201 ' "and the upload is not skipped as 'exists' for product (201)"

# ---- quota: research holds 128 KiB at most ----
U=$(as "$RES" usage -o json)
like "$U" '"storage_bytes":' "gantry usage reports the blob store bytes each team holds"
held=$(echo "$U" | jget '{teams}' 2>/dev/null)
Q=$WORK/quota; mkdir -p "$Q"; head -c 80000 /dev/urandom > "$Q/too-big.bin"
out=$(as "$RES" artifact push too-big "$Q" 2>&1); rc=$?
ok $([ $rc -ne 0 ]; echo $?) "a push past research's 128 KiB quota fails"
like "$out" 'quota_exceeded' "with quota_exceeded ($out)"
like "$(as "$RES" artifact show too-big 2>&1)" 'not_found' "and registers nothing"
out=$(as "$PRO" artifact push product-model "$Q" 2>&1)
like "$out" '^pushed product-model@1' "product, without a quota, pushes the same 80 KB"
# an upload is streamed to disk: one PATCH of 3 MiB, three times the 1 MiB limit on bodies
B=$WORK/big3m; mkdir -p "$B"; head -c $((3 << 20)) /dev/urandom > "$B/weights.bin"
out=$(as "$PRO" artifact push big-model "$B" 2>&1)
like "$out" '^pushed big-model@1 .*3.0 MiB sent' "a 3 MiB file goes up in one request, past the 1 MiB body limit ($out)"
as "$PRO" artifact pull big-model "$WORK/big3m-back" >/dev/null 2>&1
cmp -s "$B/weights.bin" "$WORK/big3m-back/weights.bin"; ok $? "and comes back whole"

# ---- rm: deleted when unused; hidden when recorded lineage uses it ----
like "$(as "$RES" artifact rm resumable@1)" 'resumable@1 deleted' "an unused version is deleted"
ok $([ ! -e "$WORK/data/blobs/sha256/$sha" ]; echo $?) "and its blob, used by no other version, is gone from disk"
like "$(as "$RES" artifact show resumable@1 2>&1)" 'not_found' "it no longer resolves"

done_testing
