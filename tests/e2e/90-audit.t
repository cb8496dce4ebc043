#!/usr/bin/env bash
# The audit log (issue 11 item 4): every administrative change, who made it, when, with its
# old and new values: quotas and teams, tokens (by id, never the secret), volumes,
# environments, users' mappings, node control (drain, cordon, resume, reset) and maintenance
# windows; GET /v1/audit and `gantry audit` for admins only (a team-admin, a member and a
# viewer are refused); kept across a restart.
. "$(dirname "$0")/lib.sh"
cat > "$WORK/cluster.yaml" <<'Y'
teams:
  - name: research
    quota: {gpus: 4}
  - name: vision
    quota: {gpus: 2}
Y
start_server --config "$WORK/cluster.yaml" --heartbeat 1
as() { # as TOKEN METHOD PATH [BODY]: "STATUS BODY"
  local tok=$1; shift
  TOK=$tok api "$@"
}
# entry ACTION OBJECT EXPR: EXPR ($e->...) of the last audit entry of ACTION on OBJECT
entry() { api GET /v1/audit | perl -MJSON::PP -e '
  my $t = join "", <STDIN>; $t =~ s/^\d{3} //; my ($a, $o, $x) = @ARGV;
  my ($e) = grep { $_->{action} eq $a && $_->{object} eq $o } reverse @{decode_json($t)->{audit}};
  my $v = $e ? eval "\$e->$x" : undef; print ref $v ? JSON::PP->new->canonical->encode($v) : $v // "null"' "$1" "$2" "$3"; }

is "$(api GET /v1/audit)" '200 {"audit":[],"next":0}' "a new cluster's audit log is empty"

# ---- teams: old and new quota ----
is "$(api PUT /v1/teams/research '{"quota":6,"limit":8}' | cut -c1-3)" 200 "admin sets research's quota and limit"
is "$(entry team.set research '{user}')" admin "team.set research: by admin"
is "$(entry team.set research '{old}{quota}')" 4 "old quota 4"
is "$(entry team.set research '{old}{limit}')" null "old limit: none"
is "$(entry team.set research '{new}{quota}')" 6 "new quota 6"
is "$(entry team.set research '{new}{limit}')" 8 "new limit 8"
t0=$(entry team.set research '{time}')
perl -e 'exit !(abs($ARGV[0] - time) < 60)' "$t0"; ok $? "with its time ($t0)"
is "$(api PUT /v1/teams/newteam '{"quota":1}' | cut -c1-3)" 201 "admin creates newteam"
is "$(entry team.set newteam '{old}')" null "a new team: old is null"

# ---- tokens: by id, never the secret ----
tok=$("$GANTRY" token create --user alice --role member --team research)
tid=$(api GET /v1/tokens | perl -MJSON::PP -e 'my $t = join "", <STDIN>; $t =~ s/^\d{3} //;
  my ($x) = grep { $_->{user} eq "alice" } @{decode_json($t)->{tokens}}; print $x->{id}')
is "$(entry token.create "$tid" '{new}{user}')" alice "token.create $tid: for alice"
is "$(entry token.create "$tid" '{new}{role}')" member "as a member"
api GET /v1/audit | grep -qF "$tok"; ok $((!$?)) "the token's secret is nowhere in the log"
ta=$("$GANTRY" token create --user tina --role team-admin --team research)
viewer=$("$GANTRY" token create --user graf --role viewer)
"$GANTRY" token revoke "$tid" >/dev/null
is "$(entry token.revoke "$tid" '{old}{user}')" alice "token.revoke: the revoked token's owner"
is "$(entry token.revoke "$tid" '{new}')" null "and new is null"

# ---- users, volumes, environments ----
api PUT /v1/users/bob '{"unix_user":"bob","team":"vision"}' >/dev/null
api PUT /v1/users/bob '{"unix_user":"bobby","team":"vision"}' >/dev/null
is "$(entry user.set bob '{old}{unix_user}')" bob "user.set bob: old account bob"
is "$(entry user.set bob '{new}{unix_user}')" bobby "new account bobby"
api DELETE /v1/users/bob >/dev/null
is "$(entry user.delete bob '{old}{unix_user}')" bobby "user.delete: the mapping removed"
mkdir -p "$WORK/vol"
api PUT /v1/volumes/scratch '{"path":"'"$WORK/vol"'"}' >/dev/null
is "$(entry volume.set scratch '{new}{path}')" "$WORK/vol" "volume.set: its path"
api DELETE /v1/volumes/scratch >/dev/null
is "$(entry volume.delete scratch '{old}{path}')" "$WORK/vol" "volume.delete: the old path"

# ---- node control (a node the server knows: an agent registers it) ----
"$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name n1 --gpus 1 \
  --state-dir "$WORK/n1" --job-user root --allow-root --no-cgroups 2>>"$WORK/agent.log" &
AG=$!; PIDS+=($AG)
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"; ok $? "node n1 registers"
"$GANTRY" drain n1 --reason "bad fan" >/dev/null
is "$(entry node.drain n1 '{new}{reason}')" "bad fan" "node.drain n1: the reason"
is "$(entry node.drain n1 '{old}')" null "old: schedulable"
"$GANTRY" resume n1 >/dev/null
is "$(entry node.resume n1 '{old}{state}')" drain "node.resume: old state drain"
is "$(entry node.resume n1 '{new}')" null "new: schedulable"
"$GANTRY" cordon n1 >/dev/null
is "$(entry node.cordon n1 '{new}{state}')" cordon "node.cordon"
api POST /v1/maintenance '{"name":"m1","nodes":["n1"],"start":'"$(( $(date +%s) + 3600 ))"',"duration":"1h"}' >/dev/null
is "$(entry maintenance.create m1 '{new}{nodes}')" '["n1"]' "maintenance.create m1"
api DELETE /v1/maintenance/m1 >/dev/null
is "$(entry maintenance.delete m1 '{old}{duration}')" 3600 "maintenance.delete m1: the old window"

# ---- only admins read it ----
like "$(as "$ta" GET /v1/audit)" '^403 .*only an admin' "a team-admin: 403"
tok2=$("$GANTRY" token create --user carol --role member --team vision)
like "$(as "$tok2" GET /v1/audit)" '^403 ' "a member: 403"
like "$(as "$viewer" GET /v1/audit)" '^403 ' "a viewer: 403"
out=$(GANTRY_TOKEN=$tok2 "$GANTRY" audit 2>&1); rc=$?
is "$rc" 1 "gantry audit as a member exits 1"
like "$out" "only an admin may read the audit log" "and says why"

# ---- gantry audit ----
out=$("$GANTRY" audit)
like "$out" "TIME +USER +ACTION +OBJECT +OLD +NEW" "gantry audit: a table"
like "$out" "admin +team.set +research +\\{.*\"quota\":4" "the team change with its old value"
like "$out" "admin +node.drain +n1 +- +\\{.*bad fan" "the drain: old -, new with the reason"
is "$("$GANTRY" audit -o json | jget '{audit}->[0]{action}')" team.set "gantry audit -o json"
n=$(api GET /v1/audit | jget '{audit}' | perl -MJSON::PP -e 'print scalar @{decode_json(join "", <STDIN>)}')
since=$(api GET /v1/audit | jget '{audit}->[2]{seq}')
m=$("$GANTRY" audit --since "$since" -o json | jget '{audit}' | perl -MJSON::PP -e 'print scalar @{decode_json(join "", <STDIN>)}')
is "$m" "$((n - 3))" "gantry audit --since SEQ: the entries after it"

# ---- kept across a restart ----
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
restart_server --config "$WORK/cluster.yaml" --heartbeat 1
is "$(api GET /v1/audit | jget '{audit}' | perl -MJSON::PP -e 'print scalar @{decode_json(join "", <STDIN>)}')" "$n" "after a restart: the same $n entries"
api PUT /v1/teams/vision '{"weight":3}' >/dev/null
s=$(entry team.set vision '{seq}')
[ "$s" -gt "$n" ]; ok $? "a new entry's seq ($s) goes on above them"
done_testing
