#!/usr/bin/env bash
# Storage quotas and uploads left unfinished (docs/artifacts.md "Storage quotas"): an upload
# no byte reached for the server's --upload-expiry is dropped (its bytes leave the disk and
# stop counting against its team's quota); an admin sets a team's storage quota at run time
# (PUT /v1/teams/NAME {"storage_quota"}, `gantry quota set TEAM --storage`), audited as
# team.set, kept across a restart; a member cannot.
. "$(dirname "$0")/lib.sh"
printf 'teams:\n  - name: research\n    storage_quota: 100Ki\n  - name: product\n' > "$WORK/cluster.yaml"
start_server --config "$WORK/cluster.yaml" --upload-expiry 2s
RES=$("$GANTRY" token create --user alice --role member --team research)
held() { api GET /v1/usage | jget '{storage}' | perl -MJSON::PP -e 'for (@{decode_json(<STDIN>)}) { print "$_->{storage_bytes}/", ($_->{storage_quota} // "none") if $_->{team} eq $ARGV[0] }' "$1"; }
upload() { TOK=$RES api POST /v1/artifacts/uploads "{\"sha256\":\"$(printf %064d "$1")\",\"size\":$2}"; }

# ---- an unfinished upload expires ----
r=$(upload 1 60000)
like "$r" '^201 ' "research starts an upload of 60,000 bytes"
uid=$(echo "$r" | jget '{id}')
head -c 1000 /dev/zero > "$WORK/k"
curl -s -o /dev/null -X PATCH -H "Authorization: Bearer $RES" --data-binary @"$WORK/k" "$GANTRY_SERVER/v1/artifacts/uploads/$uid?offset=0"
is "$(held research)" "60000/102400" "its declared bytes count against research's 100 KiB quota"
like "$(upload 2 60000)" '^403 .*quota_exceeded' "so a second one of 60,000 bytes is refused"
ok $([ -e "$WORK/data/blobs/uploads/$uid" ]; echo $?) "its bytes are on disk"
gone() { like_quiet=$(TOK=$RES api GET "/v1/artifacts/uploads/$uid"); [ "${like_quiet%% *}" = 404 ]; }
wait_for 15 gone
ok $? "once no byte reached it for 2 s (--upload-expiry 2s), the upload is gone (404)"
ok $([ ! -e "$WORK/data/blobs/uploads/$uid" ] && [ ! -e "$WORK/data/blobs/uploads/$uid.json" ]; echo $?) "with its files"
like "$(cat "$WORK/server.log")" "upload $uid of team research .* expired" "the server's log says so"
is "$(held research)" "0/102400" "it no longer counts against the quota"
like "$(upload 2 60000)" '^201 ' "and the second upload fits now"

# ---- an admin sets a team's storage quota ----
out=$(GANTRY_TOKEN=$RES "$GANTRY" quota set research --storage 1Mi 2>&1)
is "$?" 1 "a member cannot set a storage quota"
TA=$("$GANTRY" token create --user tina --role team-admin --team research)
like "$(TOK=$TA api PUT /v1/teams/rsub '{"parent":"research","quota":0}')" '^201 ' "research's team-admin creates a sub-team"
like "$(TOK=$TA api PUT /v1/teams/rsub '{"storage_quota":"1Ti"}')" '^403 .*only an admin sets' "but cannot give it a storage quota (only an admin)"
is "$(held rsub)" "0/none" "which has none"
out=$("$GANTRY" quota set research --storage 200Ki -o json 2>&1)
is "$?" 0 "an admin sets research's storage quota to 200 KiB"
is "$(echo "$out" | jget '{storage_quota}')" 204800 "the team's view shows it"
is "$(held research)" "60000/204800" "gantry usage's quota is the new one"
like "$(upload 3 100000)" '^201 ' "an upload the old quota refused fits"
a=$(api GET /v1/audit | jget '{audit}' | perl -MJSON::PP -e 'my @a = grep { $_->{action} eq "team.set" } @{decode_json(<STDIN>)}; my $e = $a[-1]; print "$e->{user} $e->{object} $e->{old}{storage_quota} $e->{new}{storage_quota}"')
is "$a" "admin research 102400 204800" "the change is audited: team.set with the old and new storage quota"
"$GANTRY" quota set research --storage lots > /dev/null 2> "$WORK/bad.err"
is "$?" 1 "a quota that is not a size is refused"
like "$(cat "$WORK/bad.err")" 'storage_quota must be bytes' "saying what it must be"
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
restart_server --config "$WORK/cluster.yaml" --upload-expiry 0
is "$(held research)" "160000/204800" "a restarted server keeps the admin's quota over the configuration's"
"$GANTRY" quota set research --weight 2 > /dev/null
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
restart_server --config "$WORK/cluster.yaml" --upload-expiry 0
is "$(held research)" "160000/204800" "another change of the team keeps its storage quota (after a restart too)"
"$GANTRY" quota set research --storage none > /dev/null
is "$(held research)" "160000/none" "--storage none removes it"
like "$(upload 4 5000000)" '^201 ' "an upload of 5 MB is then taken"
is "$(held product)" "0/none" "another team's is untouched"
done_testing
