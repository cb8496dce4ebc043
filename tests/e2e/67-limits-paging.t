#!/usr/bin/env bash
# Paging (issue 8): GET /v1/jobs answers one page with the total matching and the next cursor;
# `gantry queue` shows a page and says when it shows a part, with the command for the next one
# (it used to show the oldest 1,000 jobs silently).
. "$(dirname "$0")/lib.sh"
start_server
"$GANTRY" quota set research --quota 4 >/dev/null
"$GANTRY" quota set vision --quota 4 >/dev/null
# 1,200 pending jobs (no node: they wait), one of another team.
"$GANTRY" submit --team research --gpus 1 --array 0-1199 -- true >/dev/null
other=$("$GANTRY" submit --team vision --gpus 1 -- true | awk '{print $3}')

r=$(api GET '/v1/jobs?limit=10')
is "$(echo "$r" | jget '{total}')" 1201 "GET /v1/jobs?limit=10: total is every matching job"
is "$(echo "$r" | jget '{jobs}' | perl -MJSON::PP -e 'print scalar @{decode_json(<STDIN>)}')" 10 "one page of 10"
is "$(echo "$r" | jget '{next_after}')" "$(echo "$r" | jget '{jobs}[9]{id}')" "next_after is the page's last id"
r=$(api GET "/v1/jobs?limit=10&after=$(echo "$r" | jget '{next_after}')")
is "$(echo "$r" | jget '{jobs}[0]{id}')" 11 "the next page starts after it"
r=$(api GET '/v1/jobs?team=vision')
is "$(echo "$r" | jget '{total}') $(echo "$r" | jget '{next_after}')" "1 null" "a whole list: total, no next_after"

"$GANTRY" queue >"$WORK/p1" 2>"$WORK/p1.err"
is "$(($(wc -l <"$WORK/p1") - 1))" 1000 "gantry queue shows a page of 1000"
like "$(cat "$WORK/p1.err")" '^showing 1000 of 1201 jobs; next: gantry queue --continue 1000$' "and says it is a part, with the next command"
"$GANTRY" queue --continue 1000 >"$WORK/p2" 2>"$WORK/p2.err"
is "$(($(wc -l <"$WORK/p2") - 1))" 201 "the next page: the other 201"
like "$(cat "$WORK/p2.err")" '^showing 201 of 1201 jobs \(after job 1000\)$' "says which part, and no next"
is "$(tail -n +2 "$WORK/p1" "$WORK/p2" | awk '/^[0-9]/ {print $1}' | sort -n | uniq | wc -l)" 1201 "together: every job once"
like "$(tail -n 1 "$WORK/p2")" "^$other " "the newest last (oldest first)"

# Small pages, filters kept in the next command.
n=0; pages=0; cmd=(queue --team research --limit 500)
while :; do
  "$GANTRY" "${cmd[@]}" >"$WORK/p" 2>"$WORK/p.err" || break
  n=$((n + $(wc -l <"$WORK/p") - 1)); pages=$((pages + 1))
  next=$(sed -n 's/.*; next: gantry //p' "$WORK/p.err")
  [ -n "$next" ] && [ $pages -lt 10 ] || break
  read -ra cmd <<<"$next"
done
is "$n $pages" "1200 3" "--team research --limit 500: 3 pages of that team's 1200 jobs, following the printed commands"
"$GANTRY" queue --team vision >"$WORK/p" 2>"$WORK/p.err"
is "$(cat "$WORK/p.err")" "" "a list shown whole says nothing more"
"$GANTRY" queue -o json --limit 5 >"$WORK/p" 2>"$WORK/p.err"
is "$(jget '' <"$WORK/p" | perl -MJSON::PP -e 'print scalar @{decode_json(<STDIN>)}')" 5 "-o json: stdout is still the list"
like "$(cat "$WORK/p.err")" '^showing 5 of 1201' "the note goes to stderr"
done_testing
