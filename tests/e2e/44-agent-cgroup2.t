#!/usr/bin/env bash
# GPU device isolation on cgroup v2, for real: an agent on this machine's cgroup2 hierarchy
# (--cgroup-version 2: here it holds no controllers, beside v1; on most GPU nodes it is the only
# one) attaches its device filter to each job's cgroup; the job opens /dev/null but not a device
# outside its list (/dev/kmsg), which the same root shell opens outside the job.
. "$(dirname "$0")/agent-lib.sh"
CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts) # as cgroup_v2_mount() finds it
if [ "$(id -u)" != 0 ] || [ -z "$CG2" ] || [ ! -w "$CG2" ] || [ ! -e /dev/kmsg ]; then
  skip "needs root, a writable cgroup2 mount and /dev/kmsg"
  done_testing
  exit
fi
true </dev/kmsg 2>/dev/null
ok $? "control: this shell opens /dev/kmsg outside any job"
cat > "$WORK/cluster.yaml" <<'Y'
teams:
  - name: research
    quota: {gpus: 4}
Y
start_server --config "$WORK/cluster.yaml" --heartbeat 1
PARENT=gantry-e2e-$$
CLEANUPS+=("find '$CG2/$PARENT' -depth -type d -exec rmdir {} +")
"$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name n1 --gpus 2 \
  --state-dir "$WORK/n1" --cgroup-root "$CG2" --cgroup-version 2 --cgroup-parent "$PARENT" \
  --job-user root --allow-root 2>>"$WORK/agent-n1.log" &
PIDS+=($!)
wait_for 20 grep -q "registered with epoch" "$WORK/agent-n1.log"
ok $? "agent on $CG2 (v2) registers"
grep -q "not restricted" "$WORK/agent-n1.log"
ok $((! $?)) "no warning that device access is unrestricted"
id=$(submit '{"team":"research","gpus":1,"command":["sh","-c","if true </dev/kmsg; then echo kmsg-opened; else echo kmsg-denied; fi; if true </dev/null; then echo null-opened; fi; grep ^0:: /proc/self/cgroup"]}')
wait_for 20 job_is "$id" succeeded
ok $? "job $id ran"
wait_for 10 bash -c "\"$GANTRY\" logs $id | grep -q null-opened"
out=$("$GANTRY" logs "$id" 2>&1)
like "$out" "kmsg-denied" "inside the job, /dev/kmsg (not its device) does not open"
like "$("$GANTRY" logs --stderr "$id" 2>&1)" "Operation not permitted" \
  "the kernel's answer is EPERM (the filter), on the job's stderr"
like "$out" "null-opened" "/dev/null (a basic device) opens"
like "$out" "^0::/$PARENT/job-$id\.1\$" "the job ran in its own v2 cgroup"
is "$(ls "$CG2/$PARENT" 2>/dev/null | grep -c '^job-')" 0 "the job's cgroup is gone after its end"
done_testing
