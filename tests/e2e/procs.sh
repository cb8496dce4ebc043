# procs.sh: killing what a test started, and only that (sourced by lib.sh and agent-lib.sh).
# Pids are reused quickly (a full suite wraps them several times, and tests run side by side
# on a developer's machine): a pid recorded long ago may belong to another test's job, a
# PostgreSQL backend or the tmux server by now. So a recorded pid is killed only while it is
# still this shell's child (kill_children), or while the process still names the
# test's $WORK in its command line or environment (kill_if_ours: agents' supervisors, jobs).

# kill_children PID...: SIGKILL to each PID that is still a child of this shell (a pid reused
# by another process has another parent; `jobs -p` would miss the last command of a pipeline).
kill_children() {
  local p
  for p in "$@"; do
    [ "$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $2}')" = "$$" ] &&
      kill -9 "$p" 2>/dev/null
  done
  return 0
}
# ours PID: whether the process PID, or one of its first ancestors (a job's supervisor, a
# container's runtime), names $WORK in its command line or environment.
ours() {
  local p=$1 n
  for n in 1 2 3 4 5 6; do
    [ -n "$p" ] && [ "$p" -gt 1 ] 2>/dev/null || return 1
    tr '\0' '\n' < "/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$WORK" && return 0
    tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qF -- "$WORK" && return 0
    p=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $2}')  # (after "(comm)": state, ppid)
  done
  return 1
}
# kill_if_ours PID [group]: SIGKILL to PID (to its process group with "group") when it is ours.
kill_if_ours() {
  ours "$1" || return 0
  if [ "${2:-}" = group ]; then kill -9 -- "-$1" 2>/dev/null; else kill -9 "$1" 2>/dev/null; fi
}

# cgroups_cleanup: the test's own cgroups (every hierarchy's gantry-e2e-$$, where run_agent
# and the cgroup tests put their agents' jobs) emptied of what a killed test left running
# (SIGKILL, a few rounds) and removed, deepest first. Names carry the test's pid, and pids
# come round again: a leftover would be the next test's of that pid.
cgroups_cleanup() {
  local d p n
  for d in /sys/fs/cgroup/*/gantry-e2e-$$; do
    [ -d "$d" ] || continue
    for n in 1 2 3 4 5 6 7 8 9 10; do
      p=$(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null)
      [ -n "$p" ] || break
      kill -9 $p 2>/dev/null
      sleep 0.1  # (a bounded pause for the kernel to reap them; no test result rides on it)
    done
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
}
