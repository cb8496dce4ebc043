#!/usr/bin/env bash
# Volumes and software stacks changed at run time (docs/environments.md): an admin adds,
# changes and removes them through /v1/volumes, /v1/environments and gantry volumes|envs; a
# member or team-admin may list them but not change them; what an admin sets is stored (a
# restart keeps it) and overrides the configuration's, a configuration's volume cannot be
# deleted (409) but an override is undone by DELETE; a job whose volume was closed to its team
# after its submission fails at its start with a message instead of mounting it.
. "$(dirname "$0")/lib.sh"
cat > "$WORK/cluster.yaml" <<'EOF'
teams:
  - {name: research, quota: {gpus: 4}}
  - {name: vision, quota: {gpus: 4}}
volumes:
  - {name: datasets, path: /mnt/datasets, access: ro}
EOF
start_server --config "$WORK/cluster.yaml" --heartbeat 1
ALICE=$("$GANTRY" token create --user alice --role member --team research)
CAROL=$("$GANTRY" token create --user carol --role team-admin --team research)

# ---- who may change them ----
for who in ALICE CAROL; do
  r=$(TOK=${!who} api PUT /v1/volumes/research '{"path":"/mnt/research","teams":["research"]}')
  like "$r" '^403 .*only an admin changes volumes' "a $(tr A-Z a-z <<<"$who") token may not add a volume (403)"
  r=$(TOK=${!who} api DELETE /v1/volumes/datasets)
  like "$r" '^403 ' "nor delete one ($who)"
  r=$(TOK=${!who} api PUT /v1/environments/e '{"image":"docker://a/b:1"}')
  like "$r" '^403 .*only an admin changes environments' "nor add an environment ($who)"
done
like "$(TOK=$ALICE api GET /v1/volumes)" '^200 .*"datasets"' "a member lists the volumes"
r=$(GANTRY_TOKEN=$ALICE "$GANTRY" volumes set x --path /x 2>&1)
like "$r" "only an admin changes volumes" "gantry volumes set as a member says why"
is "$(api GET /v1/volumes | jget '{volumes}')" '[{"access":"ro","name":"datasets","path":"/mnt/datasets","source":"config","teams":["*"]}]' \
  "refused changes changed nothing"

# ---- an admin adds and changes a volume ----
out=$("$GANTRY" volumes set research --path /mnt/research --teams research --access rw --kind checkpoint)
like "$out" 'research +rw +checkpoint +research +api +/mnt/research' "gantry volumes set adds a volume"
like "$(api PUT /v1/volumes/scratch '{"path":"/local/scratch","kind":"scratch"}')" '^201 ' "PUT of a new volume: 201"
like "$(api PUT /v1/volumes/scratch '{"path":"/local/scratch2","kind":"scratch"}')" '^200 .*/local/scratch2' "PUT of an existing one: 200, changed"
r=$(TOK=$ALICE api POST /v1/jobs '{"team":"research","command":["true"],"mounts":[{"volume":"research","path":"/r"}]}')
like "$r" '^201 ' "a research job may mount it"
r=$(api POST /v1/jobs '{"team":"vision","command":["true"],"mounts":[{"volume":"research","path":"/r"}]}')
like "$r" "^400 .*team 'vision' may not use volume 'research'" "a vision job may not"
"$GANTRY" volumes set research --path /mnt/research --teams research,vision >/dev/null
is "$(api GET /v1/volumes/research | jget '{teams}')" '["research","vision"]' "gantry volumes set changes a volume"
r=$(api POST /v1/jobs '{"team":"vision","command":["true"],"mounts":[{"volume":"research","path":"/r"}]}')
like "$r" '^201 ' "once opened to vision, a vision job may mount it"
like "$(api PUT /v1/volumes/bad '{"path":"relative"}')" "^400 .*volume 'bad': path must be an absolute" "a bad volume is refused (400)"
like "$(api PUT /v1/volumes/bad '{"name":"other","path":"/x"}')" "^400 .*must be 'bad'" "a body naming another volume is refused"
like "$(api PUT /v1/volumes/bad '{"path":"/x","size":"1T"}')" "^400 .*unknown field 'size'" "an unknown field is refused"
is "$(api GET /v1/volumes/bad | jget '{error}{code}')" not_found "refused volumes were not added"

# ---- the configuration's volume: overridden, restored, never deleted ----
like "$(api DELETE /v1/volumes/datasets)" "^409 .*defined by the server's configuration" "a configuration's volume cannot be deleted (409)"
r=$(api PUT /v1/volumes/datasets '{"path":"/mnt/datasets2","access":"rw"}')
is "$(echo "$r" | jget '{source}') $(echo "$r" | jget '{access}')" "api rw" "PUT overrides the configuration's volume"
r=$(api DELETE /v1/volumes/datasets)
is "$(echo "$r" | jget '{source}') $(echo "$r" | jget '{path}')" "config /mnt/datasets" "DELETE of the override brings the configuration's back"
like "$(api DELETE /v1/volumes/nope)" '^404 ' "DELETE of an unknown volume: 404"

# ---- environments ----
like "$(api PUT /v1/environments/pt '{"image":"docker://a/b:1","mounts":[{"volume":"nope","path":"/d"}]}')" \
  "^400 .*volume 'nope' does not exist" "a stack mounting an unknown volume is refused"
like "$(api PUT /v1/environments/pt '{"mounts":[{"volume":"datasets","path":"/d","read_only":false}]}')" \
  "^400 .*volume 'datasets' is read-only" "a stack mounting a read-only volume read-write is refused"
out=$("$GANTRY" envs set pt --image docker://a/b:1 -e A=1 --mount datasets/x:/d --teams research --description "PyTorch")
like "$out" 'pt +research +api +1 +docker://a/b:1' "gantry envs set adds a stack"
is "$(api GET /v1/environments/pt | jget '{mounts}[0]{read_only}')" true "its mount of a read-only volume is read-only"
printf 'image: "oci:/srv/img:2"\nenv: {B: "2"}\nteams: ["*"]\n' > "$WORK/env.yaml"
"$GANTRY" envs set pt2 -f "$WORK/env.yaml" >/dev/null
is "$(api GET /v1/environments/pt2 | jget '{image}')" oci:/srv/img:2 "gantry envs set -f FILE"
r=$(api POST /v1/jobs '{"team":"vision","command":["true"],"environment":"pt"}')
like "$r" "^400 .*environment 'pt' is not open to team 'vision'" "a stack limited to research refuses vision"
r=$(api POST /v1/jobs '{"team":"research","command":["true"],"environment":"pt"}')
like "$r" '^201 ' "research may use it"
is "$(echo "$r" | jget '{env}{A}') $(echo "$r" | jget '{image}')" "1 docker://a/b:1" "the job got the stack's env and image"

# a stack whose volume was removed after it was set: the message says it is the stack's
"$GANTRY" volumes set tmpvol --path /mnt/tmp >/dev/null
"$GANTRY" envs set uses-tmp --mount tmpvol:/t >/dev/null
"$GANTRY" volumes rm tmpvol >/dev/null
r=$(api POST /v1/jobs '{"team":"research","command":["true"],"environment":"uses-tmp"}')
like "$r" "^400 .*environment 'uses-tmp' mounts: volume 'tmpvol' does not exist" "a stack's removed volume: 400 naming the stack and the volume"
r=$(api POST /v1/jobs '{"team":"research","command":["true"],"environment":"uses-tmp","mounts":[{"volume":"datasets","path":"/t"}]}')
like "$r" '^201 ' "a job's own mount at the stack's path replaces the stack's"
is "$(echo "$r" | jget '{mounts}')" '[{"path":"/t","read_only":true,"sub_path":"","volume":"datasets"}]' "and only the job's is kept"
"$GANTRY" envs rm uses-tmp >/dev/null

# an array whose stack's env makes it too large: the cap counts the stack's part
big=$(head -c 60000 /dev/zero | tr '\0' x)
api PUT /v1/environments/big "{\"env\":{\"BIG\":\"$big\"}}" >/dev/null
r=$(api POST /v1/jobs '{"team":"research","command":["true"],"array":"0-1999","environment":"big"}')
like "$r" '^413 .*payload_too_large' "an array made too large by its stack's env is refused (413)"
"$GANTRY" envs rm big >/dev/null

# ---- a restart keeps what the admin set ----
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
restart_server --config "$WORK/cluster.yaml" --heartbeat 1
is "$(api GET /v1/volumes/research | jget '{teams}')" '["research","vision"]' "after a restart: the volume set at run time"
is "$(api GET /v1/environments/pt | jget '{description}')" PyTorch "after a restart: the stack set at run time"
like "$("$GANTRY" envs rm pt2)" 'environment pt2 removed' "gantry envs rm removes a stack"
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
restart_server --config "$WORK/cluster.yaml" --heartbeat 1
is "$(api GET /v1/environments/pt2 | jget '{error}{code}')" not_found "a removed stack stays removed after a restart"

# ---- a volume closed to a team after a job's submission: the job fails at its start ----
for id in $(api GET '/v1/jobs?state=pending' | jget '{jobs}' | grep -o '"id":[0-9]*' | cut -d: -f2); do
  "$GANTRY" cancel "$id" >/dev/null
done
late=$("$GANTRY" submit --team research --mount research:/r -- true | awk '{print $3}')
"$GANTRY" volumes set research --path /mnt/research --teams vision >/dev/null
AG=$("$GANTRY" token create --user n1 --role agent)
TOK=$AG api POST /v1/agent/register '{"name":"n1","gpu_type":"H100","address":"127.0.0.1","gpus":[{"index":0}],"running":[]}' >/dev/null
wait_for 10 sh -c "curl -s -H 'Authorization: Bearer $ADMIN' $GANTRY_SERVER/v1/jobs/$late | grep -q '\"state\":\"failed\"'"
ok $? "the job fails instead of starting"
like "$(api GET /v1/jobs/$late | jget '{end_message}')" "volume 'research' was closed to its team since the job was submitted" "its end_message says why"
is "$(api GET /v1/nodes/n1 | jget '{gpus_free}')" 1 "and holds no GPU"
done_testing
