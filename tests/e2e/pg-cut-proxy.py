#!/usr/bin/env python3
"""pg-cut-proxy.py LISTEN_DIR TARGET_SOCKET CTL_DIR LOG TEXT: a PostgreSQL Unix-socket proxy that
can lose one COMMIT's answer (tests/e2e/14-store-pg-unknown.t).

It forwards LISTEN_DIR/.s.PGSQL.5432 to TARGET_SOCKET. Once CTL_DIR/arm holds a marker (bytes a
transaction's statements carry, e.g. a job's label), the first connection that sends the marker
and then a COMMIT has that COMMIT forwarded, so the database commits, but never hears its
answer: the proxy passes what the database answers up to the COMMIT's CommandComplete, drops
that and the rest, and closes the connection 0.3 s later. The arm file is then renamed arm.used
and CTL_DIR/cut written. If CTL_DIR/refuse existed when the COMMIT passed, every connection is
refused from then on (accepted and closed), until the file LOG contains TEXT (the server's word
that it gave the outcome up; the server reloads its state a second after that and must find its
store again): the committer can then neither hear the COMMIT's outcome nor ask about it.
Without it, the committer may connect again and ask."""
import os, socket, struct, sys, threading, time

listen_dir, target, ctl, log, text = sys.argv[1:6]
state = {"refusing": False}
lock = threading.Lock()


def ctl_path(name):
    return os.path.join(ctl, name)


def marker():
    try:
        with open(ctl_path("arm"), "rb") as f:
            return f.read().strip() or None
    except OSError:
        return None


def watch_log():
    while True:
        if state["refusing"]:
            try:
                with open(log, "rb") as f:
                    if text.encode() in f.read():
                        state["refusing"] = False
                        with open(ctl_path("open"), "w") as o:
                            o.write("open\n")
            except OSError:
                pass
        time.sleep(0.01)


def shut(conn):
    for s in (conn["client"], conn["server"]):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def close_later(conn):
    time.sleep(0.3)  # the database has the COMMIT by then
    shut(conn)


def client_to_server(conn):
    c, s = conn["client"], conn["server"]
    seen = b""
    try:
        while True:
            data = c.recv(65536)
            if not data:
                break
            m = None if conn["lost"] else marker()
            cut = False
            if m:
                seen = (seen + data)[-262144:]
                at = seen.find(m)
                with lock:
                    if at >= 0 and b"COMMIT\x00" in seen[at:] and marker() == m:
                        conn["lost"] = cut = True
                        state["refusing"] = os.path.exists(ctl_path("refuse"))
                        os.rename(ctl_path("arm"), ctl_path("arm.used"))
                        with open(ctl_path("cut"), "w") as f:
                            f.write("cut\n")
            s.sendall(data)  # (what follows the COMMIT, a Sync, goes on: its answers do not)
            if cut:
                threading.Thread(target=close_later, args=(conn,), daemon=True).start()
    except OSError:
        pass


def server_to_client(conn):
    """Whole backend messages (type byte, then a length that counts itself): once the COMMIT
    has passed, its CommandComplete and everything after are dropped."""
    c, s = conn["client"], conn["server"]
    buf = b""
    dropping = False
    try:
        while True:
            data = s.recv(65536)
            if not data:
                break
            if dropping:
                continue
            buf += data
            out = b""
            while len(buf) >= 5:
                n = struct.unpack("!I", buf[1:5])[0]
                if len(buf) < 1 + n:
                    break
                msg, buf = buf[:1 + n], buf[1 + n:]
                if conn["lost"] and msg[:1] == b"C" and msg[5:].startswith(b"COMMIT"):
                    dropping = True
                    break
                out += msg
            if out:
                c.sendall(out)
    except OSError:
        pass
    shut(conn)


def main():
    path = os.path.join(listen_dir, ".s.PGSQL.5432")
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(64)
    threading.Thread(target=watch_log, daemon=True).start()
    with open(ctl_path("ready"), "w") as f:
        f.write("ready\n")
    while True:
        c, _ = srv.accept()
        if state["refusing"]:
            c.close()
            continue
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(target)
        except OSError:
            c.close()
            continue
        conn = {"client": c, "server": s, "lost": False}
        threading.Thread(target=client_to_server, args=(conn,), daemon=True).start()
        threading.Thread(target=server_to_client, args=(conn,), daemon=True).start()


main()
