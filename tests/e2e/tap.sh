# tap.sh: TAP output for the end-to-end tests, shared by lib.sh and agent-lib.sh (sourced).
# ok STATUS DESC (0 = pass); is GOT WANT DESC; like / unlike TEXT ERE DESC; skip WHY;
# done_testing.
# A failure's diagnostics go to stderr too: prove shows stderr without -v, so a CI log names
# what a failing test got. With GANTRY_TEST_FAILLOG set (make test sets it), each failure is
# also appended there, named by its file, and make test prints that file after prove's summary:
# the end of a CI log, which is the part a CI keeps, says what failed and what it got.
T_N=0
T_FAIL=0
# t_failed DESC [DIAG]: count a failure, print it (DIAG also to stderr) and log it.
t_failed() {
  T_FAIL=$((T_FAIL + 1))
  echo "not ok $T_N - $1"
  [ -z "${2:-}" ] || { echo "$2"; echo "$2" >&2; }  # (not tee /dev/stderr: that truncates a log file)
  [ -z "${GANTRY_TEST_FAILLOG:-}" ] || {
    echo "$(t_file): not ok $T_N - $1"
    [ -z "${2:-}" ] || printf '%s\n' "$2" | head -c 600
  } >> "$GANTRY_TEST_FAILLOG"
}
# t_file: the test's name as prove shows it (a pg-e2e wrapper's run is marked so).
t_file() { echo "${0#"${GANTRY_ROOT:-}/"}${GANTRY_TEST_STORE:+ (store $GANTRY_TEST_STORE)}"; }
ok() { T_N=$((T_N + 1)); if [ "$1" = 0 ]; then echo "ok $T_N - $2"; else t_failed "$2"; fi; }
is() { T_N=$((T_N + 1)); if [ "$1" = "$2" ]; then echo "ok $T_N - $3"; else t_failed "$3" "#   got '$1', want '$2'"; fi; }
like() { T_N=$((T_N + 1)); if printf '%s' "$1" | grep -qE -- "$2"; then echo "ok $T_N - $3"; else t_failed "$3" "#   '$1' does not match /$2/"; fi; }
unlike() { T_N=$((T_N + 1)); if printf '%s' "$1" | grep -qE -- "$2"; then t_failed "$3" "#   '$1' matches /$2/"; else echo "ok $T_N - $3"; fi; }
skip() { T_N=$((T_N + 1)); echo "ok $T_N # skip $1"; }
# A command the test calls that does not exist (a helper function never defined, a tool not
# installed) fails the test, even inside $(...): bash would print an error and go on.
T_MISSING=${TMPDIR:-/tmp}/gantry-tap-missing.$$
command_not_found_handle() { echo "$1" >> "$T_MISSING"; echo "tap.sh: $1: command not found" >&2; return 127; }
done_testing() {
  if [ -s "$T_MISSING" ]; then
    T_N=$((T_N + 1))
    t_failed "every command the test calls exists (missing: $(sort -u "$T_MISSING" | tr '\n' ' '))"
  fi
  rm -f "$T_MISSING"
  echo "1..$T_N"; [ "$T_FAIL" = 0 ]
}
