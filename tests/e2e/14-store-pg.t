#!/usr/bin/env bash
# The server's store on PostgreSQL (--store URL, the config's store:): jobs, tokens and
# settings live in the database, not the data directory: a server started on another data
# directory against the same database finds them; a store of a newer schema is refused; a
# URL's password never reaches the log.
. "$(dirname "$0")/lib.sh"
# This file picks its store itself, and it is PostgreSQL whatever the run's (make test
# STORE=pg): start_server and restart_server take no database of their own (STORE_ARGS stays
# empty), the restart below must find the config's store:.
GANTRY_TEST_STORE=
need_test_pg
own_pg_database "gantry_e2e14_$$"; url=$PG_DB_URL
# The same database, named with a user and a password (trust authentication ignores it).
secret_url=$(echo "$url" | sed -E 's#^postgresql://#postgresql://gantry:S3cretPw@#')

"$GANTRY" server --store "sqlite:$WORK/x" --data "$WORK/bad" >/dev/null 2>"$WORK/bad.log"
is $? 2 "--store takes a postgresql:// URL only"

start_server --store "$secret_url"
like "$(cat "$WORK/server.log")" "first start: a new store in postgresql://[^ ]*gantry_e2e14_$$" \
  "the first start says where the store is"
ok $(grep -q S3cretPw "$WORK/server.log" && echo 1 || echo 0) "the URL's password is not in the log"
ok $([ -e "$WORK/data/gantry.db" ] && echo 1 || echo 0) "no SQLite store under the data directory"
"$GANTRY" quota set research --quota 8 >/dev/null
BOB=$("$GANTRY" token create --user bob --role member --team research)
ids=()
for i in 1 2 3 4 5; do ids+=($("$GANTRY" submit --team research --name "j$i" -- true | awk '{print $3}')); done
"$GANTRY" cancel "${ids[0]}" >/dev/null
is "$(psql -X -At "$url" -c 'SELECT count(*) FROM jobs')" 5 "the jobs are rows of the database"
kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null

# Another data directory, the same database: the state is the database's.
mv "$WORK/data" "$WORK/data.first"
mkdir -m 0700 "$WORK/data"
cat > "$WORK/cluster.yaml" <<EOF
store: $url
EOF
restart_server --config "$WORK/cluster.yaml"
ok $([ -e "$WORK/data/admin.token" ] && echo 1 || echo 0) "an existing store is not a first start (no new admin token)"
like "$(cat "$WORK/server.log")" "store in postgresql:///gantry_e2e14_$$" "the config's store: is used"
n=0
for id in "${ids[@]}"; do
  api GET "/v1/jobs/$id" | jget '{name}' | grep -qx "j[1-5]" && n=$((n + 1))
done
is "$n" 5 "every job survives a restart on another data directory"
is "$(api GET "/v1/jobs/${ids[0]}" | jget '{state}')" cancelled "a cancelled job stays cancelled"
is "$(TOK=$BOB api GET /v1/jobs | cut -c1-3)" 200 "a token created before works after"
is "$("$GANTRY" teams -o json | jget '[0]{quota}')" 8 "a quota set at run time survives"
new=$("$GANTRY" submit --team research -- true | awk '{print $3}')
max=$(printf '%s\n' "${ids[@]}" | sort -n | tail -1)
ok $([ "$new" -gt "$max" ] && echo 0 || echo 1) "ids are not reused ($new > $max)"
like "$(api GET "/v1/jobs/${ids[1]}/events")" '"submitted"' "job events are read back from the database"
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null

# A store written by a newer gantry is refused, and left as it is.
psql -X -q "$url" -c 'UPDATE gantry_schema SET version = version + 1' >/dev/null
"$GANTRY" server --store "$url" --data "$WORK/data" --listen "127.0.0.1:$PORT" 2>"$WORK/newer.log" &
spid=$!; PIDS+=("$spid")
if wait_for 30 bash -c "! kill -0 $spid 2>/dev/null"; then wait "$spid"; rc=$?; else kill -9 "$spid"; wait "$spid" 2>/dev/null; rc=0; fi
ok $([ "$rc" -ne 0 ] && echo 0 || echo 1) "the server refuses a newer store (exit $rc)"
like "$(cat "$WORK/newer.log")" "newer than this gantry's" "and says why"
is "$(psql -X -At "$url" -c 'SELECT count(*) FROM jobs')" 6 "the refused store is untouched"
done_testing
