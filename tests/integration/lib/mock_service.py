#!/usr/bin/env python3
"""A stand-in for `fleetup serve`'s API (docs/api.md) for client_cli.sh: HTTPS on
127.0.0.1, canned answers, every request recorded as one JSON line (method, path,
authorization, content_type, body) in --log before it is answered.

usage: mock_service.py --cert CRT --key KEY --token-file F --log F --ready F
                       --ports FIRST-LAST [--force F]

Takes the first free port of FIRST-LAST and writes it to --ready. Answers 401 without an
Authorization header and 403 with a token other than the first line of --token-file.
When --force names a file holding {"status": N, "body": {...}}, every request gets that
answer instead (the test writes and removes it). Rollouts: 3 running with 25 failed or
unreachable nodes, 4 finished (every command but retry is 409), 6 interrupted (only in
its own answer), 5 answers after 5 s (for --timeout), anything else is 404. A fleet path ending in bad.yml is a 400 with
diagnostics."""
import argparse
import http.server
import json
import ssl
import sys
import threading
import time

ROLLOUT = {
    "id": 3, "fleet": "/srv/fleets/dc1.yml", "limit": "rack1*", "state": "running",
    "live": True, "reason": None, "nodes": 120, "waves": 3, "current_wave": 1,
    "counts": {"pending": 40, "active": 5, "waiting": 2, "retry": 1, "done": 40,
               "skipped": 7, "failed": 20, "unreachable": 5, "cancelled": 0},
    "in_phase": {"connect": 1, "inventory": 1, "plan": 0, "stage": 1, "install": 2,
                 "activate": 0, "verify": 0},
    "in_flight": 8, "started_ms": 1796000000000, "finished_ms": 0, "elapsed_ms": 125000,
}
FINISHED = dict(ROLLOUT, id=4, fleet="/srv/fleets/lab.yml", limit=None, state="finished",
                live=False, reason="every node ended", nodes=2, waves=1, current_wave=0,
                counts={"done": 2, "pending": 0}, in_flight=0, finished_ms=1796000125000)
INTERRUPTED = dict(FINISHED, id=6, state="interrupted", reason=None, finished_ms=0,
                   counts={"done": 1, "pending": 1})


def detail(r):
    d = dict(r)
    d["policy"] = {"mode": "barrier", "concurrency": 512, "promote": "manual",
                   "waves": "1, 5%, 100%"}
    d["waves"] = [
        {"index": 0, "size": 1, "state": "done", "counts": {"done": 1}},
        {"index": 1, "size": 59, "state": "open",
         "counts": {"done": 46, "failed": 20, "unreachable": 5, "active": 5}},
        {"index": 2, "size": 60, "state": "pending", "counts": {"pending": 60}},
    ][: r["waves"]]
    d["events"] = [{"at_ms": 10, "kind": "running", "wave": 0, "message": "wave started"}]
    d["timeline"] = []
    return d


def nodes():
    rows = [["bmc-%04d" % i, "done", "verify", 0, [], {}, 0, None] for i in range(1, 48)]
    for i in range(20):
        rows.append(["bmc-f%02d" % i, "failed", "install", 1, [], {}, 3, "HTTP 500 on node %d" % i])
    for i in range(5):
        rows.append(["bmc-u%02d" % i, "unreachable", "connect", 1, [], {}, 3, "connect refused"])
    return {"fields": ["name", "state", "phase", "wave", "groups", "labels", "attempts", "reason"],
            "nodes": rows}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, obj, extra=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def record(self, body):
        rec = {"method": self.command, "path": self.path,
               "authorization": self.headers.get("Authorization"),
               "content_type": self.headers.get("Content-Type"),
               "body": body.decode("utf-8", "replace")}
        with self.server.lock, open(self.server.opts.log, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        self.record(body)
        try:
            with open(self.server.opts.force) as f:
                forced = json.load(f)
            return self.answer(forced["status"], forced["body"])
        except (TypeError, OSError, ValueError):
            pass
        auth = self.headers.get("Authorization")
        if auth is None:
            return self.answer(401, {"error": "no admin token: send Authorization: Bearer TOKEN"})
        if auth != "Bearer " + self.server.token:
            return self.answer(403, {"error": "wrong admin token"})
        self.route(body)

    def route(self, body):
        p = self.path.split("/")[1:]
        if self.command == "GET" and self.path == "/api/v1/rollouts":
            return self.answer(200, {"rollouts": [ROLLOUT, FINISHED]})
        if self.command == "POST" and self.path == "/api/v1/rollouts":
            return self.submit(body)
        if len(p) < 4 or p[:3] != ["api", "v1", "rollouts"]:
            return self.answer(404, {"error": "no such route"})
        rid = p[3]
        if rid == "5":
            time.sleep(5)
        r = {"3": ROLLOUT, "4": FINISHED, "6": INTERRUPTED}.get(rid)
        if r is None:
            return self.answer(404, {"error": "no rollout %s" % rid})
        if self.command == "GET" and len(p) == 4:
            return self.answer(200, detail(r))
        if self.command == "GET" and p[4:] == ["nodes"]:
            return self.answer(200, nodes())
        if self.command == "POST" and len(p) == 5:
            return self.command_(r, p[4])
        return self.answer(404, {"error": "no such route"})

    def submit(self, body):
        req = json.loads(body)
        if req["fleet"].endswith("bad.yml"):
            return self.answer(400, {"error": "the fleet file does not load",
                                     "diagnostics": [req["fleet"] + ":4:11: error: unknown node type 'lnux'"]})
        new = dict(ROLLOUT, id=7, fleet=req["fleet"], limit=req.get("limit"),
                   state="paused" if req.get("paused") else "running")
        return self.answer(201, new, {"Location": "/api/v1/rollouts/7"})

    def command_(self, r, cmd):
        if cmd not in ("pause", "resume", "abort", "promote", "retry"):
            return self.answer(404, {"error": "no such command"})
        if r["state"] == "finished" and cmd != "retry":
            return self.answer(409, {"error": "rollout %d is finished: %s does not apply" % (r["id"], cmd)})
        state = {"pause": "paused", "abort": "aborting"}.get(cmd, "running")
        return self.answer(200, {"id": r["id"], "command": cmd, "state": state,
                                 "message": "rollout %d: %s applied; now %s" % (r["id"], cmd, state)})

    do_GET = handle_any
    do_POST = handle_any


def main():
    ap = argparse.ArgumentParser()
    for a in ("--cert", "--key", "--token-file", "--log", "--ready", "--ports"):
        ap.add_argument(a, required=True)
    ap.add_argument("--force")
    o = ap.parse_args()
    first, last = (int(x) for x in o.ports.split("-"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(o.cert, o.key)
    srv = None
    for port in range(first, last + 1):
        try:
            srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
            break
        except OSError:
            continue
    if srv is None:
        sys.exit("no free port in %s" % o.ports)
    srv.daemon_threads = True
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.opts = o
    srv.lock = threading.Lock()
    with open(o.token_file) as f:
        srv.token = f.readline().strip()
    with open(o.ready, "w") as f:
        f.write("%d\n" % port)
    srv.serve_forever()


if __name__ == "__main__":
    main()
