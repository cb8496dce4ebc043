#!/usr/bin/env python3
"""checkpoint-counter: a job that survives preemption without losing a completed step.

It counts to TARGET (env, default 100), one step every STEP_S seconds (default 0.1). Its
progress lives in $GANTRY_CHECKPOINT_DIR/counter.json, which Gantry keeps across preemptions:
on SIGTERM (Gantry's default checkpoint signal) it finishes the step in progress, saves, and
exits 0; started again, it resumes after the last saved step. It also saves every SAVE_EVERY
steps (default 10) so that a SIGKILL loses at most those.

Submit it with a checkpoint section so Gantry signals it and waits before killing, e.g. as
the JSON body of POST /v1/jobs:
  {"team": "research", "gpus": 1, "priority_class": "experimental",
   "checkpoint": {"signal": "SIGTERM", "grace": "30s"},
   "command": ["python3", "examples/jobs/checkpoint-counter.py"]}
Each completed step is printed ("step N"); with STEPS_LOG set, also appended to that file.
"""
import json
import os
import signal
import sys
import time

target = int(os.environ.get("TARGET", "100"))
step_s = float(os.environ.get("STEP_S", "0.1"))
save_every = int(os.environ.get("SAVE_EVERY", "10"))
ckdir = os.environ.get("GANTRY_CHECKPOINT_DIR", ".")
path = os.path.join(ckdir, "counter.json")
steps_log = os.environ.get("STEPS_LOG")

state = {"step": 0}
try:
    with open(path) as f:
        state = json.load(f)
except FileNotFoundError:
    pass


def save():
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)  # atomic: a kill mid-save keeps the previous checkpoint


stopping = False


def on_signal(signum, frame):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGUSR1, on_signal)
print(f"resuming after step {state['step']} (incarnation "
      f"{os.environ.get('GANTRY_INCARNATION', '?')})", flush=True)
while state["step"] < target and not stopping:
    time.sleep(step_s)  # one step of work
    state["step"] += 1
    print(f"step {state['step']}", flush=True)
    if steps_log:
        with open(steps_log, "a") as f:
            f.write(f"{state['step']} {os.environ.get('GANTRY_INCARNATION', '?')}\n")
    if state["step"] % save_every == 0:
        save()
save()
print(f"{'checkpointed' if stopping else 'done'} at step {state['step']}", flush=True)
sys.exit(0)
