#!/usr/bin/env bash
# Governance of teams (issue 8): only an admin sets a team's quota, limit and weight; a
# team-admin manages sub-teams of its own team, within its quota; a parent change is refused
# with a reason, never silently ignored; children's quotas add up within their parent's.
. "$(dirname "$0")/lib.sh"
start_server --config "${GANTRY_ROOT:-.}/examples/cluster.yaml"
# research: quota 24, limit 40, children vision (8) and nlp (16); product: quota 24, limit 48.
CAROL=$("$GANTRY" token create --user carol --role team-admin --team research)
team() { api GET "/v1/teams/$1" | jget "{$2}"; }

# ---- a team-admin can't raise its own team ----
for body in '{"quota":1000}' '{"limit":1000}' '{"weight":1000000}' '{"limit":"none"}'; do
  r=$(TOK=$CAROL api PUT /v1/teams/research "$body")
  like "$r" "^403 .*only an admin sets the quota, limit and weight of team 'research'" \
    "team-admin PUT research $body: 403"
done
is "$(team research quota) $(team research limit) $(team research weight)" "24 40 2" \
  "research's quota, limit and weight are unchanged"
like "$(GANTRY_TOKEN=$CAROL "$GANTRY" quota set research --quota 48 2>&1)" 'only an admin' \
  "gantry quota set says why"
like "$(TOK=$CAROL api PUT /v1/teams/product '{"quota":1}')" '^403 ' "nor another team's"

# ---- a team-admin manages its sub-teams, within its quota ----
r=$(TOK=$CAROL api PUT /v1/teams/vision '{"weight":3,"limit":20}')
like "$r" '^200 ' "team-admin of research changes its sub-team vision's weight and limit"
is "$(team vision weight)" 3 "vision's weight is 3"
r=$(TOK=$CAROL api PUT /v1/teams/vision '{"quota":9}')
like "$r" "^400 .*sub-teams would add up to 25 GPUs, above its own quota of 24" \
  "a sub-team's quota above what the parent has left (8+16 of 24): refused with the sums"
is "$(team vision quota)" 8 "vision's quota is unchanged"
r=$(TOK=$CAROL api PUT /v1/teams/nlp '{"quota":10}')
like "$r" '^200 ' "lowering nlp to 10 frees 6 GPUs of research's quota"
like "$(TOK=$CAROL api PUT /v1/teams/vision '{"quota":14}')" '^200 ' "which vision may then take (8 -> 14)"
r=$(TOK=$CAROL api PUT /v1/teams/speech '{"parent":"research","quota":1}')
like "$r" '^400 .*add up to 25 GPUs' "a new sub-team over the parent's quota: refused"
r=$(TOK=$CAROL api PUT /v1/teams/speech '{"parent":"research","quota":0,"limit":4}')
like "$r" '^201 ' "team-admin creates sub-team speech under research"
is "$(team speech parent)" research "speech's parent is research"
like "$(TOK=$CAROL api PUT /v1/teams/asr '{"parent":"speech"}')" '^201 ' "and a sub-team of its sub-team"
like "$(TOK=$CAROL api PUT /v1/teams/rogue '{"quota":1}')" '^403 .*only under its own team' \
  "a team-admin can't create a top-level team"
like "$(TOK=$CAROL api PUT /v1/teams/rogue '{"parent":"product"}')" '^403 ' \
  "nor one under another team"

like "$(api PUT '/v1/teams/bad%0Aname' '{"quota":0}')" "^400 .*team name 'bad" \
  "a new team's name with a newline is refused"
like "$(api PUT '/v1/teams/a%20b' '{"quota":0}')" '^400 ' "one with a space too"

# ---- the hierarchy's sums hold for the admin too ----
r=$(api PUT /v1/teams/nlp '{"quota":100}')
like "$r" "^400 .*above its own quota of 24" "admin: a child's quota above its parent's is refused"
r=$(api PUT /v1/teams/research '{"quota":10}')
like "$r" "^400 .*team 'research''s sub-teams hold quotas of 24 GPUs in all" \
  "admin: a parent's quota below its children's sum is refused"
like "$(api PUT /v1/teams/research '{"quota":30}')" '^200 ' "admin raises research to 30"
like "$(api PUT /v1/teams/nlp '{"quota":16}')" '^200 ' "then nlp fits at 16 (14+16 = 30)"

# ---- a parent change is refused, never ignored ----
r=$(api PUT /v1/teams/nlp '{"parent":"product"}')
like "$r" "^400 .*team 'nlp' is under 'research': a team's parent can't change" \
  "admin: moving nlp under product is refused with the reason"
is "$(team nlp parent)" research "nlp is still under research"
r=$(api PUT /v1/teams/product '{"parent":"research"}')
like "$r" "^400 .*a top-level team" "moving a top-level team under another: refused"
r=$(api PUT /v1/teams/nlp '{"parent":null}')
like "$r" '^400 ' "making nlp top-level (parent null): refused"
like "$(api PUT /v1/teams/nlp '{"parent":"research","weight":2}')" '^200 ' \
  "naming the parent it already has is accepted"
r=$(TOK=$CAROL api PUT /v1/teams/asr '{"parent":"research"}')
like "$r" '^400 .*parent can.t change' "a team-admin moving its sub-sub-team: refused too"

# ---- stored: after a restart the same ----
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
restart_server --config "${GANTRY_ROOT:-.}/examples/cluster.yaml"
is "$(team research quota) $(team vision quota) $(team nlp quota) $(team asr parent)" "30 14 16 speech" \
  "after a restart: the quotas and the sub-teams are as set"
done_testing
