# wait.sh: wait_for, shared by lib.sh and agent-lib.sh (sourced).
# wait_for SECONDS CMD...: retries CMD until it succeeds; 1 when the deadline passes.
# Deadlines are generous (times GANTRY_DEADLINE_SCALE, 3 by default): a loaded machine or a
# sanitizer build is slow, and a passing condition returns as soon as it holds.
wait_for() {
  local deadline=$((SECONDS + $1 * ${GANTRY_DEADLINE_SCALE:-3})); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.05
  done
}
