#!/usr/bin/env bash
# An agent refuses the tasks of a deposed leader (docs/agent-protocol.md, "leader_epoch"):
# once a server's answer carried epoch 5, a work answer of epoch 4 starts nothing, and one of
# epoch 5 starts its job. The servers here are a stand-in speaking the agent protocol, so
# that a deposed leader's answer can be sent at will.
. "$(dirname "$0")/agent-lib.sh"
PORT=$(free_port)
cat > "$WORK/fake.py" <<'PY'
import json, sys, time, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, work = int(sys.argv[1]), sys.argv[2]
state = {"polls": 0}
lock = threading.Lock()
def job(i):
    return {"type": "start", "job": {"id": i, "incarnation": 1, "name": "j%d" % i,
            "team": "research", "user": "root", "unix_user": "root",
            "command": ["sh", "-c", "touch %s/ran.$GANTRY_JOB_ID" % work],
            "gpus": [0], "gpu_milli": 1000, "cpus_milli": 1000, "memory_mib": 64,
            "time_limit_s": 60, "fence": False}}
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def answer(self, obj):
        b = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else "{}"
        with open(work + "/calls", "a") as f:
            f.write(self.path + " " + body + "\n")
        if self.path == "/v1/agent/register":
            self.answer({"epoch": 1, "heartbeat_s": 5, "lease_s": 10.0, "fence_grace_s": 5.0,
                         "kill": [], "leader_epoch": 5})
        else:
            self.answer({"kill": [], "leader_epoch": 5})
    def do_GET(self):
        with lock:
            state["polls"] += 1
            n = state["polls"]
        with open(work + "/calls", "a") as f:
            f.write("GET %s %d\n" % (self.path, n))
        if n == 1:     # a deposed leader's answer
            self.answer({"tasks": [job(101)], "seq": 1, "leader_epoch": 4})
        elif n == 2:   # the current leader's
            self.answer({"tasks": [job(102)], "seq": 2, "leader_epoch": 5})
        else:
            time.sleep(0.5)
            self.answer({"tasks": []})
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
python3 "$WORK/fake.py" "$PORT" "$WORK" 2>>"$WORK/fake.log" &
PIDS+=($!)
export GANTRY_SERVER="http://127.0.0.1:$PORT"
ADMIN=fake-token
wait_for 10 curl -sf -o /dev/null -X POST "$GANTRY_SERVER/ready"  # (a POST: the work answers stay in turn)
run_agent n1 1 "$WORK/n1" agent.log
wait_for 30 test -e "$WORK/ran.102"; ok $? "the task of the current leader (epoch 5) runs"
wait_for 10 grep -q '"job_id": *102.*"started"\|"started".*"job_id": *102' "$WORK/calls"; ok $? "and is reported"
grep -q "^GET /v1/agent/work.* 1$" "$WORK/calls"; ok $? "the agent was sent the deposed leader's answer first"
ok $([ ! -e "$WORK/ran.101" ] && echo 0 || echo 1) "the deposed leader's task (epoch 4) never ran"
ok $(grep -q '"job_id": *101' "$WORK/calls" && echo 1 || echo 0) "nor was reported"
grep -q "refused 1 tasks from a deposed leader (epoch 4, the newest is 5)" "$WORK/agent.log"; ok $? "the agent says why"
done_testing
