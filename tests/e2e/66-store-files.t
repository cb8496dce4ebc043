#!/usr/bin/env bash
# The store's files (issue 8): the data directory, the database and its WAL are for the
# server's user only, even when the directory existed before (it was 0644 database and WAL:
# any local user read a job's HF_TOKEN); modes found open are tightened at every start. An
# empty or damaged database is refused with a message, never taken for a first start (that
# made a new empty cluster and overwrote admin.token). The agent's state directory likewise.
# On PostgreSQL (GANTRY_TEST_STORE=pg) the store is a database, not files: what is about the
# data directory is checked the same; a damaged store is a copy of the test's database with a
# table dropped, and a first start is an empty database; SQLite's files are skipped.
. "$(dirname "$0")/lib.sh"
PG=${GANTRY_TEST_STORE:-}
[ "$PG" = pg ] || PG=
umask 022
mode() { stat -c %a "$1"; }

mkdir -m 0755 "$WORK/data"   # made beforehand by an operator, as in the finding
start_server
"$GANTRY" quota set research --quota 8 >/dev/null
id=$(api POST /v1/jobs '{"team":"research","command":["true"],"env":{"HF_TOKEN":"hf_secret"}}' | jget '{id}')
ok $([ "$id" -gt 0 ] 2>/dev/null && echo 0 || echo 1) "a job with a secret in its environment is stored ($id)"
is "$(mode "$WORK/data")" 700 "the data directory that existed with 0755 is 0700"
if [ -n "$PG" ]; then
  ok $([ ! -e "$WORK/data/gantry.db" ] && echo 0 || echo 1) "on PostgreSQL no gantry.db under the data directory"
  skip "SQLite only: the WAL's mode"
else
  is "$(mode "$WORK/data/gantry.db")" 600 "gantry.db is 0600"
  is "$(mode "$WORK/data/gantry.db-wal")" 600 "gantry.db-wal is 0600"
fi
is "$(mode "$WORK/data/logs")" 700 "logs/ is 0700"
is "$(mode "$WORK/data/admin.token")" 600 "admin.token is 0600"
if [ -n "$PG" ]; then
  skip "SQLite only: another user reading the WAL"
elif [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  setpriv --reuid=65534 --regid=65534 --clear-groups cat "$WORK/data/gantry.db-wal" >/dev/null 2>&1
  ok $([ $? != 0 ] && echo 0 || echo 1) "another user cannot read the WAL"
else
  skip "not root or no setpriv: cannot try as another user"
fi

# Modes loosened while the server was down are tightened at the next start, and it says so.
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
chmod 0755 "$WORK/data"; chmod 0644 "$WORK/data/admin.token"; chmod 0755 "$WORK/data/logs"
if [ -n "$PG" ]; then
  restart_server
  is "$(mode "$WORK/data"):$(mode "$WORK/data/admin.token"):$(mode "$WORK/data/logs")" \
    700:600:700 "loosened modes are tightened at start"
  like "$(cat "$WORK/server.log")" "admin.token had mode 0644 \(open to other users\); it is now 0600" \
    "the server says which file it tightened"
else
  chmod 0644 "$WORK/data/gantry.db"
  restart_server
  is "$(mode "$WORK/data"):$(mode "$WORK/data/gantry.db"):$(mode "$WORK/data/admin.token"):$(mode "$WORK/data/logs")" \
    700:600:600:700 "loosened modes are tightened at start"
  like "$(cat "$WORK/server.log")" "gantry.db had mode 0644 \(open to other users\); it is now 0600" \
    "the server says which file it tightened"
fi
is "$(api GET /v1/jobs/$id | jget '{state}')" pending "the store is the same one (job $id is there)"
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
[ -n "$PG" ] || cp "$WORK/data/gantry.db" "$WORK/good.db"   # the server stopped: the WAL is checkpointed

# refuse NAME SETUP MESSAGE: a data directory with an old admin.token and a gantry.db made by
# SETUP; the server must exit with MESSAGE, leave admin.token and gantry.db as they were.
refuse() {
  local d="$WORK/$1"; mkdir -m 0700 "$d"; echo OLD-TOKEN > "$d/admin.token"; chmod 600 "$d/admin.token"
  ( cd "$d" && eval "$2" )
  local before=$(md5sum < "$d/gantry.db")
  timeout $((10 * ${GANTRY_DEADLINE_SCALE:-3})) "$GANTRY" server --data "$d" \
    --listen "127.0.0.1:$(free_port)" 2> "$WORK/$1.log"
  local rc=$?
  is "$rc" 1 "$1: the server refuses to start (exit 1; 124 means it started)"
  like "$(cat "$WORK/$1.log")" "$3" "$1: it says what is wrong"
  like "$(cat "$WORK/$1.log")" "never replaces an existing store.*(backup|move)|run the gantry that wrote it" \
    "$1: and what to do"
  is "$(cat "$d/admin.token")" OLD-TOKEN "$1: admin.token is not overwritten"
  is "$(md5sum < "$d/gantry.db")" "$before" "$1: gantry.db is not replaced"
}
# On PostgreSQL: refuse_pg NAME SQL MESSAGE: a copy of the test's database (its server is
# stopped), SQL run on it, a data directory with an old admin.token; the server must exit with
# MESSAGE and leave admin.token and the database's tables as they were.
PGDBS=()   # the databases made here, dropped at exit
[ -z "$PG" ] || trap 'cleanup; for d in "${PGDBS[@]}"; do
  psql -X -q "$GANTRY_TEST_PG" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1; done' EXIT
refuse_pg() {
  local d="$WORK/$1" db="gantry_$$_$1"; mkdir -m 0700 "$d"; echo OLD-TOKEN > "$d/admin.token"; chmod 600 "$d/admin.token"
  PGDBS+=("$db")
  psql -X -q "$GANTRY_TEST_PG" -c "CREATE DATABASE $db TEMPLATE gantry_$$" >/dev/null
  local url=$(echo "$STORE_URL" | sed -E "s#^(postgresql://[^/]*/)[^?]*#\\1$db#")
  psql -X -q "$url" -c "$2" >/dev/null
  local tables="SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'"
  local before=$(psql -X -At "$url" -c "$tables")
  timeout $((10 * ${GANTRY_DEADLINE_SCALE:-3})) "$GANTRY" server --data "$d" --store "$url" \
    --listen "127.0.0.1:$(free_port)" 2> "$WORK/$1.log"
  local rc=$?
  is "$rc" 1 "$1: the server refuses to start (exit 1; 124 means it started)"
  like "$(cat "$WORK/$1.log")" "$3" "$1: it says what is wrong"
  like "$(cat "$WORK/$1.log")" "never replaces an existing store.*(backup|empty database)|run the gantry that wrote it" \
    "$1: and what to do"
  is "$(cat "$d/admin.token")" OLD-TOKEN "$1: admin.token is not overwritten"
  is "$(psql -X -At "$url" -c "$tables")" "$before" "$1: the database is not replaced"
}
if [ -n "$PG" ]; then
  skip "SQLite only: an empty gantry.db (on PostgreSQL an empty database is a first start)"
  skip "SQLite only: a gantry.db that is not SQLite"
  refuse_pg noschema 'DROP TABLE gantry_schema' "holds no Gantry store \(no gantry_schema table\)"
  refuse_pg notokens 'DROP TABLE tokens' "has no 'tokens' table"
  refuse_pg nojobs 'DROP TABLE jobs' "has no 'jobs' table"
  refuse_pg newer 'UPDATE gantry_schema SET version = 99' "schema version 99, newer"
else
  refuse empty ': > gantry.db' 'gantry.db is empty \(0 bytes\)'
  refuse notsqlite 'head -c 8192 /dev/urandom > gantry.db' 'is not a readable SQLite database'
  refuse notokens "cp '$WORK/good.db' gantry.db && sqlite3 gantry.db 'DROP TABLE tokens'" "has no 'tokens' table"
  refuse nojobs "cp '$WORK/good.db' gantry.db && sqlite3 gantry.db 'DROP TABLE jobs'" "has no 'jobs' table"
  refuse newer "cp '$WORK/good.db' gantry.db && sqlite3 gantry.db 'PRAGMA user_version = 99'" "schema version 99, newer"
fi

# A first start is a directory without gantry.db (on PostgreSQL: an empty database): it writes
# admin.token; its own store then starts again without writing one.
FRESH=()
if [ -n "$PG" ]; then
  PGDBS+=("gantry_$$_fresh")
  FRESH=(--store "$("$(dirname "$0")/../pg/newdb" "$GANTRY_TEST_PG" "gantry_$$_fresh")")
fi
mkdir -m 0700 "$WORK/fresh"
P2=$(free_port)
"$GANTRY" server --data "$WORK/fresh" "${FRESH[@]}" --listen "127.0.0.1:$P2" 2>>"$WORK/fresh.log" &
F=$!; PIDS+=("$F")
wait_for 30 curl -sf "http://127.0.0.1:$P2/healthz"; ok $? "a first start serves"
t1=$(cat "$WORK/fresh/admin.token")
kill "$F"; wait "$F" 2>/dev/null
"$GANTRY" server --data "$WORK/fresh" "${FRESH[@]}" --listen "127.0.0.1:$P2" 2>>"$WORK/fresh.log" &
F=$!; PIDS+=("$F")
wait_for 30 curl -sf "http://127.0.0.1:$P2/healthz"; ok $? "and starts again"
is "$(cat "$WORK/fresh/admin.token")" "$t1" "the second start keeps admin.token"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $t1" "http://127.0.0.1:$P2/v1/jobs")" 200 \
  "and the first start's token still works"
is "$(grep -c 'first start' "$WORK/fresh.log")" 1 "only the first start says it is one"
kill "$F"; wait "$F" 2>/dev/null

# The agent's state directory: made, or found, open to others -> 0711 (jobs' users pass
# through to their checkpoints), jobs/ (specs with their environments) 0700.
restart_server
mkdir -m 0755 -p "$WORK/agent/jobs"
"$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name n1 --gpus 1 --gpu-type T1 \
  --state-dir "$WORK/agent" --no-cgroups 2>>"$WORK/agent.log" &
PIDS+=($!)
wait_for 20 grep -q registered "$WORK/agent.log"; ok $? "the agent registers"
is "$(mode "$WORK/agent"):$(mode "$WORK/agent/jobs"):$(mode "$WORK/agent/checkpoints")" 711:700:711 \
  "the agent's state directory is 0711, jobs/ 0700, checkpoints/ 0711"
done_testing
