#!/usr/bin/env bash
# Arrays and the global lock (issue 8): one member request of a 160 KB environment with
# `array: 0-9999` held the server's lock 18 s and took 1.6 GB; every node was declared lost.
# Now a request may create at most 64 MiB of job documents (tasks times size), refused with a
# 413 that says the cap; an array under it is built outside the lock and enters memory in
# batches, all its tasks there, in order, after the 201.
. "$(dirname "$0")/lib.sh"
start_server
"$GANTRY" quota set research --quota 8 >/dev/null
MEMBER=$("$GANTRY" token create --user alice --role member --team research)
big=$(head -c 120000 /dev/urandom | base64 -w0 | head -c 160000)
printf '{"team":"research","array":"0-9999","command":["true"],"env":{"BLOB":"%s"}}' "$big" > "$WORK/big.json"
code=$(curl -s -o "$WORK/big.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $MEMBER" \
  --data-binary @"$WORK/big.json" "$GANTRY_SERVER/v1/jobs")
is "$code" 413 "10,000 tasks of a 160 KB environment are refused (413)"
like "$(cat "$WORK/big.out")" "10000 tasks of about [0-9]+ bytes each are [0-9]+ MiB of job documents; one request may create at most 64 MiB" \
  "the answer says the size and the cap"
is "$(api GET '/v1/jobs?state=all' | jget '{jobs}')" "[]" "nothing was created"

# Under the cap: 400 tasks of the same environment (~62 MiB), and 5,000 small ones.
printf '{"team":"research","array":"0-399","command":["true"],"env":{"BLOB":"%s"}}' "$big" > "$WORK/mid.json"
r=$(curl -s -w ' %{http_code}' -X POST -H "Authorization: Bearer $MEMBER" --data-binary @"$WORK/mid.json" "$GANTRY_SERVER/v1/jobs")
is "${r##* }" 201 "400 tasks of a 160 KB environment are accepted"
is "$(echo "${r% *}" | jget '{array_count}')" 400 "array_count 400"
first=$(echo "${r% *}" | jget '{id}')
r=$(TOK=$MEMBER api POST /v1/jobs '{"team":"research","array":"0-4999","command":["true"]}')
is "${r%% *}" 201 "5,000 small tasks are accepted"
f2=$(echo "$r" | jget '{id}')
is "$f2" "$((first + 400))" "the second array's ids follow the first's"
is "$(api GET "/v1/jobs/$((first + 399))" | jget '{array_index}')" 399 "the big array's last task is there"
ids=$(api GET "/v1/jobs?state=all&limit=10000&after=$((f2 - 1))" | jget '{jobs}' | perl -MJSON::PP -e 'my @j = @{decode_json(<STDIN>)}; print scalar(@j), " ", join(",", map { $_->{array_index} } @j) eq join(",", 0..4999) ? "ordered" : "unordered"')
is "$ids" "5000 ordered" "every task is in memory once answered, with its index in order"
done_testing
