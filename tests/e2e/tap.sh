# tap.sh: TAP output for the end-to-end tests, shared by lib.sh and agent-lib.sh (sourced).
# ok STATUS DESC (0 = pass); is GOT WANT DESC; like TEXT ERE DESC; skip WHY; done_testing.
# A failure's diagnostics go to stderr too: prove shows stderr without -v, so a CI log names
# what a failing test got.
T_N=0
T_FAIL=0
ok() { T_N=$((T_N + 1)); if [ "$1" = 0 ]; then echo "ok $T_N - $2"; else T_FAIL=$((T_FAIL + 1)); echo "not ok $T_N - $2"; fi; }
is() { T_N=$((T_N + 1)); if [ "$1" = "$2" ]; then echo "ok $T_N - $3"; else T_FAIL=$((T_FAIL + 1)); echo "not ok $T_N - $3"; echo "#   got '$1', want '$2'" | tee /dev/stderr; fi; }
like() { T_N=$((T_N + 1)); if printf '%s' "$1" | grep -qE -- "$2"; then echo "ok $T_N - $3"; else T_FAIL=$((T_FAIL + 1)); echo "not ok $T_N - $3"; echo "#   '$1' does not match /$2/" | tee /dev/stderr; fi; }
skip() { T_N=$((T_N + 1)); echo "ok $T_N # skip $1"; }
# A command the test calls that does not exist (a helper function never defined, a tool not
# installed) fails the test, even inside $(...): bash would print an error and go on.
T_MISSING=${TMPDIR:-/tmp}/gantry-tap-missing.$$
command_not_found_handle() { echo "$1" >> "$T_MISSING"; echo "tap.sh: $1: command not found" >&2; return 127; }
done_testing() {
  if [ -s "$T_MISSING" ]; then
    T_N=$((T_N + 1)); T_FAIL=$((T_FAIL + 1))
    echo "not ok $T_N - every command the test calls exists (missing: $(sort -u "$T_MISSING" | tr '\n' ' '))"
  fi
  rm -f "$T_MISSING"
  echo "1..$T_N"; [ "$T_FAIL" = 0 ]
}
