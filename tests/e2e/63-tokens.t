#!/usr/bin/env bash
# Tokens (issue 8): listed (ids, never secrets), revoked at once (memory and store), expiring,
# rotated (the admin token: admin.token rewritten, the old one refused); a read-only viewer
# role; a team-admin mints tokens only for users the administrator mapped to its team.
. "$(dirname "$0")/lib.sh"
start_server --config "${GANTRY_ROOT:-.}/examples/cluster.yaml"
code() { TOK=$1 api "$2" "$3" ${4:+"$4"} | cut -c1-3; }

ALICE=$("$GANTRY" token create --user alice --role member --team research)
BOB=$("$GANTRY" token create --user bob --role member --team product)
j_res=$(TOK=$ALICE api POST /v1/jobs '{"command":["x"]}' | jget '{id}')
j_pro=$(TOK=$BOB api POST /v1/jobs '{"command":["y"]}' | jget '{id}')

# ---- list: ids, user, role, team, created, expires; never the secret ----
l=$("$GANTRY" token list)
like "$l" 'ID +USER +ROLE +TEAM +CREATED +EXPIRES' "gantry token list has its columns"
like "$l" '[0-9a-f]{16} +alice +member +research +20[0-9-]+T[0-9:]+ +never' "alice's token is listed (created: local ISO 8601)"
like "$l" '[0-9a-f]{16} +admin +admin +- ' "the admin token too"
json=$(api GET /v1/tokens)
is "$(echo "$json" | jget '{tokens}' | perl -MJSON::PP -e 'print scalar @{decode_json(<STDIN>)}')" 3 "three tokens"
ok $(echo "$json" | grep -qE 'gt_[0-9a-f]|[0-9a-f]{17}'; [ $? = 1 ]; echo $?) "no secret and no whole hash in the listing"
aid=$(echo "$json" | jget '{tokens}' | perl -MJSON::PP -e 'print map {$_->{user} eq "alice" ? $_->{id} : ()} @{decode_json(<STDIN>)}')
like "$aid" '^[0-9a-f]{16}$' "alice's token id: $aid"
like "$(TOK=$ALICE api GET /v1/tokens)" "^200 .*\"id\": *\"$aid\"" "a member lists its own token"
is "$(TOK=$ALICE api GET /v1/tokens | jget '{tokens}' | perl -MJSON::PP -e 'print scalar @{decode_json(<STDIN>)}')" 1 \
  "and only its own"

# ---- revoke: effective at once, and after a restart ----
is "$(code "$ALICE" GET /v1/jobs)" 200 "alice's token works"
like "$("$GANTRY" token revoke "$aid")" "Revoked token $aid \(member, user alice\)" "gantry token revoke"
is "$(code "$ALICE" GET /v1/jobs)" 401 "the very next request with it: 401"
is "$(code "$ALICE" POST /v1/jobs '{"command":["x"]}')" 401 "it can't submit either"
like "$(api DELETE "/v1/tokens/$aid")" '^404 .*does not exist' "revoking it again: 404"
is "$(store_sql "select count(*) from tokens where \"user\" = 'alice'")" 0 \
  "its row is gone from the store"

# ---- expiry ----
like "$(api POST /v1/tokens '{"user":"x","role":"member","team":"research","expires":"soon"}')" '^400 .*expires' \
  "expires must be a duration"
like "$(api POST /v1/tokens '{"user":"x","role":"member","team":"research","expires":0}')" '^400 ' "expires 0 refused"
SHORT=$("$GANTRY" token create --user carl --role member --team research --expires 4s)
is "$(code "$SHORT" GET /v1/jobs)" 200 "a token with --expires 4s works at first"
exp=$(api GET /v1/tokens | jget '{tokens}' | perl -MJSON::PP -e 'print map {$_->{user} eq "carl" ? $_->{expires} - $_->{created} : ()} @{decode_json(<STDIN>)}')
is "$exp" 4 "it is listed with expires = created + 4 s"
short_401() { [ "$(code "$SHORT" GET /v1/jobs)" = 401 ]; }
wait_for 15 short_401
ok $? "then it is refused (401) once expired"
like "$("$GANTRY" token list)" 'carl +member +research .*\(expired\)' "gantry token list marks it expired"
LONG=$("$GANTRY" token create --user dora --role member --team research --expires 30d)
is "$(code "$LONG" GET /v1/jobs)" 200 "a token with --expires 30d works"

# ---- viewer: read-only; a team's or the whole cluster's ----
VIEW=$("$GANTRY" token create --user auditor --role viewer)
TVIEW=$("$GANTRY" token create --user lead --role viewer --team product)
is "$(code "$VIEW" GET "/v1/jobs/$j_res") $(code "$VIEW" GET "/v1/jobs/$j_pro")" "200 200" \
  "a cluster-wide viewer sees every team's jobs"
is "$(TOK=$VIEW api GET '/v1/jobs?state=all' | jget '{jobs}' | perl -MJSON::PP -e 'print scalar @{decode_json(<STDIN>)}')" 2 \
  "and lists them all"
is "$(code "$VIEW" GET /v1/teams) $(code "$VIEW" GET /v1/nodes) $(code "$VIEW" GET /v1/usage)" "200 200 200" \
  "it reads teams, nodes, usage"
like "$(TOK=$VIEW api POST /v1/jobs '{"team":"research","command":["x"]}')" '^403 .*read-only' "it can't submit"
is "$(code "$VIEW" DELETE "/v1/jobs/$j_res")" 403 "nor cancel"
is "$(code "$VIEW" PUT /v1/teams/research '{"weight":3}')" 403 "nor change a team"
is "$(code "$VIEW" POST /v1/tokens '{"user":"v2","role":"viewer"}')" 403 "nor create tokens"
is "$(code "$TVIEW" GET "/v1/jobs/$j_pro") $(code "$TVIEW" GET "/v1/jobs/$j_res")" "200 404" \
  "product's viewer sees product's job; research's answers as nonexistent"
is "$(code "$TVIEW" GET '/v1/jobs?team=research')" 403 "and may not list research's queue"
is "$(api GET "/v1/jobs/$j_res" | jget '{state}')" pending "research's job is untouched"

# ---- a team-admin mints tokens only for users mapped to its team ----
CAROL=$("$GANTRY" token create --user carol --role team-admin --team research)
like "$(GANTRY_TOKEN=$CAROL "$GANTRY" token create --user root --role member --team research 2>&1)" \
  "user 'root' is not mapped to team 'research'" "team-admin: a token for user root is refused"
is "$(code "$CAROL" POST /v1/tokens '{"user":"erin","role":"member","team":"research"}')" 403 \
  "so is one for an unmapped user erin"
"$GANTRY" user set erin --team product --unix erin >/dev/null
is "$(code "$CAROL" POST /v1/tokens '{"user":"erin","role":"member","team":"research"}')" 403 \
  "and for erin mapped to another team"
like "$("$GANTRY" user set erin --team research --unix erin)" 'erin +erin +research +no +api' \
  "the admin maps erin to research (gantry user set)"
ERIN=$(GANTRY_TOKEN=$CAROL "$GANTRY" token create --user erin --role member --team research)
like "$ERIN" '^gt_[0-9a-f]{64}$' "then the team-admin mints erin's token"
like "$(GANTRY_TOKEN=$CAROL "$GANTRY" token create --user erin --role viewer --team research)" '^gt_' \
  "and a viewer token for her"
is "$(code "$CAROL" POST /v1/tokens '{"user":"erin","role":"member","team":"product"}')" 403 "not for another team"
is "$(code "$CAROL" POST /v1/tokens '{"user":"erin","role":"team-admin","team":"research"}')" 403 "nor a team-admin token"
is "$(code "$ERIN" GET /v1/jobs)" 200 "erin's token works"
users=$(GANTRY_TOKEN=$CAROL "$GANTRY" token list)
like "$users" 'erin +member +research' "the team-admin lists its team's member tokens"
ok $(echo "$users" | grep -qE ' (bob|admin|auditor|lead) '; [ $? = 1 ]; echo $?) "and no other team's, admin or cluster tokens"
eid=$(TOK=$CAROL api GET /v1/tokens | jget '{tokens}' | perl -MJSON::PP -e 'print map {$_->{user} eq "erin" && $_->{role} eq "member" ? $_->{id} : ()} @{decode_json(<STDIN>)}')
bid=$(api GET /v1/tokens | jget '{tokens}' | perl -MJSON::PP -e 'print map {$_->{user} eq "bob" ? $_->{id} : ()} @{decode_json(<STDIN>)}')
is "$(code "$CAROL" DELETE "/v1/tokens/$bid")" 404 "a team-admin can't revoke another team's token (not found)"
is "$(code "$BOB" GET /v1/jobs)" 200 "bob's token still works"
is "$(code "$CAROL" DELETE "/v1/tokens/$eid")" 200 "it revokes erin's"
is "$(code "$ERIN" GET /v1/jobs)" 401 "which is refused at once"

# ---- names are one printable word (they go into log lines and tables as is) ----
like "$(api POST /v1/tokens '{"user":"eve\nsecond line","role":"member","team":"research"}')" \
  '^400 .*user name is not valid' "a user name with a newline is refused"
like "$(api POST /v1/tokens '{"user":"two words","role":"viewer"}')" '^400 ' "one with a space too"
like "$(api PUT /v1/users/eve%0Aroot '{"unix_user":"eve"}')" '^400 .*user name is not valid' \
  "and a mapping for such a name"

# ---- rotation of the admin token ----
old_admin=$ADMIN
new=$("$GANTRY" token rotate 2>"$WORK/rotate.err")
like "$new" '^gt_[0-9a-f]{64}$' "gantry token rotate prints a new token"
like "$(cat "$WORK/rotate.err")" "admin.token holds it" "and says admin.token was rewritten"
is "$(cat "$WORK/data/admin.token")" "$new" "admin.token holds the new token"
ls -l "$WORK/data/admin.token" | grep -q '^-rw-------'; ok $? "still mode 0600"
is "$(code "$old_admin" GET /v1/jobs)" 401 "the old admin token is refused"
ADMIN=$new
is "$(code "$new" GET /v1/tokens)" 200 "the new one works"
R2=$(GANTRY_TOKEN=$BOB "$GANTRY" token rotate 2>/dev/null)
is "$(code "$BOB" GET /v1/jobs) $(code "$R2" GET /v1/jobs)" "401 200" "a member rotates its own token"
is "$(cat "$WORK/data/admin.token")" "$new" "admin.token is untouched by another's rotation"

# ---- after a restart: revocations and expiries hold ----
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
restart_server --config "${GANTRY_ROOT:-.}/examples/cluster.yaml"
is "$(code "$ALICE" GET /v1/jobs) $(code "$ERIN" GET /v1/jobs) $(code "$SHORT" GET /v1/jobs) $(code "$old_admin" GET /v1/jobs)" \
  "401 401 401 401" "after a restart: revoked, expired and rotated tokens stay refused"
is "$(code "$new" GET /v1/jobs) $(code "$LONG" GET /v1/jobs) $(code "$R2" GET /v1/jobs)" "200 200 200" \
  "the others still work"
like "$(GANTRY_TOKEN=$new "$GANTRY" token list)" 'dora +member +research +20[0-9-]+T[0-9:]+ +20[0-9-]+T[0-9:]+' \
  "expiry times are kept"
done_testing
