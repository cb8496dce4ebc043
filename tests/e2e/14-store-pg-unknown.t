#!/usr/bin/env bash
# A lone server on PostgreSQL loses the answer to a submission's COMMIT and cannot ask what
# became of it (docs/store.md, "A commit whose answer was lost"): the client is told the
# outcome is unknown (503, never "nothing was changed"), the server executes itself again and
# loads its state from the store, and the submission asked again with the same
# Idempotency-Key finds the job the COMMIT made: one job, not two, not none.
# tests/e2e/pg-cut-proxy.py stands between the server and PostgreSQL: it lets that COMMIT
# through, drops its answer, and refuses connections until the server gives the outcome up.
. "$(dirname "$0")/lib.sh"
need_test_pg
DB=gantry_e2eunk_$$
own_pg_database "$DB"; url=$PG_DB_URL
pgdir=$(echo "$GANTRY_TEST_PG" | sed -nE 's/.*[?&]host=([^&]*).*/\1/p')
[ -S "$pgdir/.s.PGSQL.5432" ] || { echo "Bail out! no PostgreSQL socket at $pgdir (URL $GANTRY_TEST_PG)"; exit 1; }

mkdir -p "$WORK/pgp" "$WORK/ctl"
python3 "$(dirname "$0")/pg-cut-proxy.py" "$WORK/pgp" "$pgdir/.s.PGSQL.5432" "$WORK/ctl" \
  "$WORK/server.log" "the server reloads its state from the store" 2>"$WORK/proxy.log" &
PIDS+=($!)
wait_for 10 test -e "$WORK/ctl/ready"; ok $? "the proxy listens"
purl=$(echo "$url" | sed -E "s#host=[^&]*#host=$WORK/pgp#")

PORT=$(free_port)
export GANTRY_SERVER="http://127.0.0.1:$PORT"
"$GANTRY" server --data "$WORK/data" --store "$purl" --listen "127.0.0.1:$PORT" 2>>"$WORK/server.log" &
SERVER_PID=$!; PIDS+=("$SERVER_PID")
wait_for 30 curl -sf "$GANTRY_SERVER/healthz"; ok $? "a lone server on PostgreSQL, through the proxy"
export GANTRY_TOKEN=$(cat "$WORK/data/admin.token")
"$GANTRY" quota set research --quota 8 >/dev/null
before=$("$GANTRY" submit --team research --hold --label key=before -- true)
like "$before" '^Submitted job [0-9]+$' "a submission commits ($before)"

# A COMMIT's answer lost, the store reachable: the committer asks PostgreSQL (pg_xact_status),
# hears "committed", and the submission is acknowledged as if nothing had happened.
ASKED="asked-$$"
printf '%s' "$ASKED" > "$WORK/ctl/arm"
out=$("$GANTRY" submit --team research --hold --label "key=$ASKED" --idempotency-key "k-$ASKED" -- true 2>&1)
ok $([ -e "$WORK/ctl/arm.used" ] && echo 0 || echo 1) "the proxy dropped a COMMIT's answer"
like "$out" '^Submitted job [0-9]+$' "the committer asked what became of it: acknowledged ($out)"
asked=$(echo "$out" | awk '{print $3}')
like "$(cat "$WORK/server.log")" "the answer to a COMMIT was lost .*; PostgreSQL says transaction [0-9]+ committed: acknowledged" \
  "the server says so"
rm -f "$WORK/ctl/cut" "$WORK/ctl/arm.used"

# The next transaction that carries this marker loses its COMMIT's answer, and PostgreSQL
# cannot be reached to ask about it until the server gives it up.
MARK="lost-answer-$$"
touch "$WORK/ctl/refuse"
printf '%s' "$MARK" > "$WORK/ctl/arm"
out=$("$GANTRY" submit --team research --hold --label "key=$MARK" --idempotency-key "k-$MARK" -- true 2>&1)
rc=$?
ok $([ -e "$WORK/ctl/cut" ] && echo 0 || echo 1) "the proxy let the COMMIT through and dropped its answer"
is "$rc" 1 "the submission is not acknowledged"
like "$out" "may or may not have been saved; ask again with the same Idempotency-Key" \
  "the client is told the outcome is unknown, not that nothing changed ($out)"
like "$(cat "$WORK/server.log")" "the store lost the answer to the commit of this change \(the answer to its COMMIT was lost .* and PostgreSQL could not be asked what became of it\)" \
  "the server says why: it could not ask"
wait_for 30 grep -q "executing itself again to load its state from the store" "$WORK/server.log"
ok $? "the server executes itself again"
reloaded() { [ "$(grep -c 'listening on' "$WORK/server.log")" -ge 2 ] && curl -sf "$GANTRY_SERVER/healthz" >/dev/null; }
wait_for 30 reloaded; ok $? "and serves again, on the same port"
ok $(kill -0 "$SERVER_PID" 2>/dev/null && echo 0 || echo 1) "as the same process (pid $SERVER_PID)"

# The COMMIT was made: the reloaded server has the job, and asking again finds it.
labelled() { "$GANTRY" queue --all -o json 2>/dev/null | perl -MJSON::PP -e 'my $d = decode_json(join "", <STDIN>); my $j = ref $d eq "HASH" ? $d->{jobs} : $d; print join " ", map { $_->{id} } grep { ($_->{labels}{key} // "") eq $ARGV[0] } @$j' "$1"; }
made=$(labelled "$MARK")
like "$made" '^[0-9]+$' "the job the lost COMMIT made is in the reloaded server's memory (job $made)"
again=$("$GANTRY" submit --team research --hold --label "key=$MARK" --idempotency-key "k-$MARK" -- true 2>&1)
is "$again" "Submitted job $made" "asked again with the same Idempotency-Key: the same job"
is "$(labelled "$MARK")" "$made" "one job, not two"
is "$(psql -X -At "$url" -c "SELECT count(*) FROM jobs WHERE doc LIKE '%$MARK%'")" 1 "one row in the store"
after=$("$GANTRY" submit --team research --hold --label key=after -- true)
like "$after" '^Submitted job [0-9]+$' "and the next submission commits ($after)"
is "$(labelled before) $(labelled "$ASKED") $(labelled after)" \
  "$(echo "$before" | awk '{print $3}') $asked $(echo "$after" | awk '{print $3}')" \
  "the other jobs are there, once each"
done_testing
