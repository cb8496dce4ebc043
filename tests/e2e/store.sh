# store.sh: the test store, shared by lib.sh and agent-lib.sh (sourced).
# With GANTRY_TEST_STORE=pg (make test STORE=pg, and the files make test runs on PostgreSQL),
# servers started by start_server/restart_server keep their store in a database of their own
# (gantry_PID) on the test PostgreSQL (GANTRY_TEST_PG, from tests/pg/with), dropped when the
# test ends; otherwise in SQLite under $WORK/data, as always.
STORE_ARGS=()
STORE_URL=
# use_test_store: creates the test's database once (GANTRY_TEST_STORE=pg); sets STORE_ARGS.
use_test_store() {
  [ "${GANTRY_TEST_STORE:-}" = pg ] && [ -z "$STORE_URL" ] || return 0
  if [ -z "${GANTRY_TEST_PG:-}" ]; then
    echo "Bail out! GANTRY_TEST_STORE=pg but no PostgreSQL: ${GANTRY_TEST_PG_WHY:-GANTRY_TEST_PG is not set}"; exit 1
  fi
  STORE_URL=$("$(dirname "${BASH_SOURCE[0]}")/../pg/newdb" "$GANTRY_TEST_PG" "gantry_$$") \
    || { echo "Bail out! cannot create database gantry_$$ on $GANTRY_TEST_PG"; exit 1; }
  STORE_ARGS=(--store "$STORE_URL")
}
# need_test_pg: ends a test that needs PostgreSQL when there is none: a skip, or, under
# CI=true, a failure (CI must be able to start one: tests/pg/with).
need_test_pg() {
  [ -z "${GANTRY_TEST_PG:-}" ] || return 0
  local why="no PostgreSQL (${GANTRY_TEST_PG_WHY:-GANTRY_TEST_PG is not set: make test starts one with tests/pg/with})"
  if [ "${CI:-}" = true ]; then ok 1 "PostgreSQL is required under CI: $why"; else skip "$why"; fi
  done_testing; exit
}
# own_pg_database NAME: a database NAME of the test's own on the test PostgreSQL (need_test_pg
# first), dropped with store_drop at cleanup; its URL in PG_DB_URL.
OWN_PG_DBS=()
own_pg_database() {
  PG_DB_URL=$("$(dirname "${BASH_SOURCE[0]}")/../pg/newdb" "$GANTRY_TEST_PG" "$1") \
    || { echo "Bail out! cannot create database $1 on $GANTRY_TEST_PG"; exit 1; }
  OWN_PG_DBS+=("$1")
}
# store_drop: drops the test's databases (after its servers are gone).
store_drop() {
  local db
  for db in ${STORE_URL:+gantry_$$} "${OWN_PG_DBS[@]}"; do
    PGOPTIONS="-c client_min_messages=warning" psql -X -q "$GANTRY_TEST_PG" \
      -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
  done
  return 0
}
# store_fresh: an empty store in place of the test's, for "a new cluster" (its server stopped):
# on PostgreSQL the test's database is dropped and made again, empty; on SQLite nothing (the
# store is $WORK/data/gantry.db: the caller moves or replaces the data directory).
store_fresh() {
  [ -n "$STORE_URL" ] || return 0
  PGOPTIONS="-c client_min_messages=warning" psql -X -q "$GANTRY_TEST_PG" \
    -c "DROP DATABASE IF EXISTS gantry_$$ WITH (FORCE)" -c "CREATE DATABASE gantry_$$" >/dev/null \
    || { echo "Bail out! cannot make database gantry_$$ again on $GANTRY_TEST_PG"; exit 1; }
}
# store_sql SQL: runs SQL on the server's store, whichever it is; prints the rows' values
# separated by '|'. Write the column user as "user" (PostgreSQL reserves the word).
store_sql() {
  if [ -n "$STORE_URL" ]; then
    psql -X -q -At "$STORE_URL" -c "$1"
  else
    sqlite3 "$WORK/data/gantry.db" "$1"
  fi
}
