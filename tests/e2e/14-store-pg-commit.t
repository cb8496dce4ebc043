#!/usr/bin/env bash
# Submissions on PostgreSQL with several write connections (docs/store.md, "Write
# connections"): the server commits on 1 session by default, on 4 with
# GANTRY_STORE_WRITERS=4; with 8 clients submitting at once and the server killed -9 among
# them, every job answered 201 is in the store after the restart (an answer means committed,
# whichever connection committed it), and ids are not reused.
. "$(dirname "$0")/lib.sh"
need_test_pg
db=gantry_e2e14c_$$
own_pg_database "$db"; url=$PG_DB_URL
sessions() { psql -X -At "$GANTRY_TEST_PG" -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db'"; }

# The default, one writer: a write session and its read session.
start_server --store "$url"
is "$(sessions)" 2 "by default one write connection (and its reader)"
"$GANTRY" quota set research --quota 8 >/dev/null # the team the clients submit to
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null

# 4 writers, each a write session and a reader.
GANTRY_STORE_WRITERS=4 restart_server --store "$url"
is "$(sessions)" 8 "GANTRY_STORE_WRITERS=4: the server commits on 4 connections"

# 8 clients submit at once until the server dies under them.
body='{"team":"research","gpus":1,"time_limit":"1h","command":["true"]}'
client() { # client N: submits until a submission fails; the ids answered 201, one a line
  for _ in $(seq 200); do
    out=$(curl -s -w '\n%{http_code}' -X POST -H "Authorization: Bearer $ADMIN" \
      -H 'Content-Type: application/json' -d "$body" "$GANTRY_SERVER/v1/jobs") || break
    [ "${out##*$'\n'}" = 201 ] || break
    echo "${out%$'\n'*}" | grep -o '"id": *[0-9]*' | head -1 | grep -o '[0-9]*$' >>"$WORK/acked.$1"
  done
}
cpids=()
for c in 1 2 3 4 5 6 7 8; do client "$c" & cpids+=($!); done
acked() { cat "$WORK"/acked.* 2>/dev/null | wc -l; }
enough() { [ "$(acked)" -ge 150 ]; }
wait_for 60 enough || echo "# only $(acked) acknowledged before the kill"
kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
wait "${cpids[@]}" 2>/dev/null
n=$(acked)
ok $([ "$n" -ge 150 ] && echo 0 || echo 1) "$n submissions acknowledged before the kill"

restart_server --store "$url"
stored=$(psql -X -At "$url" -c "SELECT id FROM jobs ORDER BY id")
missing=$(cat "$WORK"/acked.* | sort -n | comm -23 - <(echo "$stored" | sort -n) | wc -l)
is "$missing" 0 "every job answered 201 is in the store after kill -9 and a restart"
is "$(cat "$WORK"/acked.* | sort | uniq -d | wc -l)" 0 "no id was answered twice"
new=$("$GANTRY" submit --team research -- true | awk '{print $3}')
max=$(echo "$stored" | tail -1)
ok $([ "$new" -gt "$max" ] && echo 0 || echo 1) "ids are not reused after the restart ($new > $max)"
done_testing
