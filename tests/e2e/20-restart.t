#!/usr/bin/env bash
# kill -9 during a burst of submissions, restart: every acknowledged id is there, in its last
# committed state; ids are never reused.
. "$(dirname "$0")/lib.sh"
start_server
"$GANTRY" quota set research --quota 8 >/dev/null
cancelled=$("$GANTRY" submit --team research -- true | awk '{print $3}')
"$GANTRY" cancel "$cancelled" >/dev/null
# Idempotency keys (an index, not a scan): one job, one array, and another user's same key.
post_key() { curl -s -X POST -H "Authorization: Bearer $1" -H "Idempotency-Key: $2" -d "$3" "$GANTRY_SERVER/v1/jobs" | jget '{id}'; }
ALICE=$("$GANTRY" token create --user alice --role member --team research)
k1=$(post_key "$ADMIN" key-1 '{"team":"research","command":["true"]}')
arr=$(post_key "$ADMIN" key-arr '{"team":"research","array":"0-3","command":["true"]}')
ka=$(post_key "$ALICE" key-1 '{"team":"research","command":["true"]}')
ok $([ "$ka" != "$k1" ] && echo 0 || echo 1) "the same key from another user is another job ($ka, $k1)"
is "$(post_key "$ADMIN" key-arr '{"team":"research","array":"0-3","command":["true"]}')" "$arr" \
  "a retried array submission returns its first job"

# 4 clients submit in a loop and record each id the server acknowledged (201).
CLIENTS=()
for c in 1 2 3 4; do
  ( while :; do
      r=$(curl -s -w ' %{http_code}' -X POST -H "Authorization: Bearer $ADMIN" \
            -d '{"team":"research","command":["true"]}' "$GANTRY_SERVER/v1/jobs") || break
      case "$r" in *" 201") echo "$r" | head -1 | sed 's/^{"id":\([0-9]*\),.*/\1/' >> "$WORK/acked.$c";; *) break;; esac
    done ) &
  PIDS+=($!)
  CLIENTS+=($!)
done
wait_for 20 bash -c "[ \$(cat \"$WORK\"/acked.* 2>/dev/null | wc -l) -ge 100 ]"
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
# The clients stop on their first refused connection; wait so none reaches the new server.
for p in "${CLIENTS[@]}"; do wait "$p" 2>/dev/null; done
n=$(cat "$WORK"/acked.* | wc -l)
ok $([ "$n" -ge 100 ] && echo 0 || echo 1) "$n submissions acknowledged before kill -9"

restart_server
all=$(api GET '/v1/jobs?state=all&limit=10000' | jget '{jobs}' | perl -MJSON::PP -e 'print join "\n", map {$_->{id}} @{decode_json(<STDIN>)}')
missing=0
for id in $(cat "$WORK"/acked.*); do echo "$all" | grep -qx "$id" || { missing=$((missing + 1)); echo "# missing $id"; }; done
is "$missing" 0 "every acknowledged job is there after kill -9 and restart"
is "$(post_key "$ADMIN" key-1 '{"team":"research","command":["true"]}')" "$k1" \
  "after the restart a retried key still returns its job"
is "$(post_key "$ALICE" key-1 '{"team":"research","command":["true"]}')" "$ka" \
  "and another user's retry returns theirs"
is "$(post_key "$ADMIN" key-arr '{"team":"research","array":"0-3","command":["true"]}')" "$arr" \
  "and an array's retry its first job"
is "$(api GET /v1/jobs/$cancelled | jget '{state}')" cancelled "a cancelled job stays cancelled"
max=$(echo "$all" | sort -n | tail -1)
new=$("$GANTRY" submit --team research -- true | awk '{print $3}')
ok $([ "$new" -gt "$max" ] && echo 0 || echo 1) "ids are not reused after restart ($new > $max)"
is "$("$GANTRY" teams -o json | jget '[0]{quota}')" 8 "a quota set at run time survives the restart"
done_testing
