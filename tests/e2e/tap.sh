# tap.sh: TAP output for the end-to-end tests, shared by lib.sh and agent-lib.sh (sourced).
# ok STATUS DESC (0 = pass); is GOT WANT DESC; like TEXT ERE DESC; skip WHY; done_testing.
T_N=0
T_FAIL=0
ok() { T_N=$((T_N + 1)); if [ "$1" = 0 ]; then echo "ok $T_N - $2"; else T_FAIL=$((T_FAIL + 1)); echo "not ok $T_N - $2"; fi; }
is() { T_N=$((T_N + 1)); if [ "$1" = "$2" ]; then echo "ok $T_N - $3"; else T_FAIL=$((T_FAIL + 1)); echo "not ok $T_N - $3"; echo "#   got '$1', want '$2'"; fi; }
like() { T_N=$((T_N + 1)); if printf '%s' "$1" | grep -qE -- "$2"; then echo "ok $T_N - $3"; else T_FAIL=$((T_FAIL + 1)); echo "not ok $T_N - $3"; echo "#   '$1' does not match /$2/"; fi; }
skip() { T_N=$((T_N + 1)); echo "ok $T_N # skip $1"; }
done_testing() { echo "1..$T_N"; [ "$T_FAIL" = 0 ]; }
