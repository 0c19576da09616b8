#!/usr/bin/env python3
"""A stand-in for `fleetup serve`'s HTTP API (docs/api.md), with synthetic rollouts, for
testing the dashboard (src/dashboard) in a browser without the C service.

Rollout 1 is finished (300 nodes, a few failed). Rollout 2 is live: 10,000 nodes in four
barrier waves (1, 5%, 25%, 100%) that move pending -> active (through the phases) ->
done / failed / unreachable / skipped every few hundred ms. pause, resume, abort,
promote and retry change the simulation as the API says; rollout 2 waits for promote
after its canary wave (unless --auto-promote). The dashboard's files are served from
src/dashboard with the service's CSP. Test hook: POST /mock/drop-streams closes every
open event stream without `end` (the dashboard must reconnect).

usage: mock_api.py PORT [--token TOKEN] [--root DIR] [--speed X] [--nodes N]
Binds 127.0.0.1 only. Prints "listening on http://127.0.0.1:PORT" once ready; exits 98
when the port is taken. Standard library only."""

import argparse
import errno
import json
import os
import random
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATES = ["pending", "active", "waiting", "retry", "done", "skipped", "failed",
          "unreachable", "cancelled"]
PHASES = ["connect", "inventory", "plan", "stage", "install", "activate", "verify"]
ENDED = {"done", "skipped", "failed", "unreachable", "cancelled"}
IN_FLIGHT = {"active", "waiting", "retry"}
MODELS = ["ilo5", "idrac9", "xcc2"]
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
FILES = {"/": ("index.html", "text/html; charset=utf-8"),
         "/index.html": ("index.html", "text/html; charset=utf-8"),
         "/app.js": ("app.js", "text/javascript; charset=utf-8"),
         "/style.css": ("style.css", "text/css; charset=utf-8")}

LOCK = threading.RLock()


def now_ms():
    return int(time.time() * 1000)


class Node:
    __slots__ = ("idx", "name", "address", "transport", "groups", "labels", "wave", "state",
                 "phase", "attempts", "reason", "seq", "next_at", "transitions", "log",
                 "fate")

    def __init__(self, idx, name, wave, rack, model):
        self.idx = idx
        self.name = name
        self.address = "127.2.%d.%d" % (idx // 250, idx % 250 + 1)
        self.transport = "redfish"
        self.groups = [model, "rack%d" % rack]
        self.labels = {"rack": "r%d" % rack, "model": model}
        self.wave = wave
        self.state = "pending"
        self.phase = "connect"
        self.attempts = 0
        self.reason = None
        self.seq = 0
        self.next_at = 0.0
        self.transitions = []
        self.log = []
        self.fate = None

    def row(self):
        return [self.idx, self.state, self.phase, self.attempts, self.reason]

    def compact(self):
        return [self.name, self.state, self.phase, self.wave, self.groups, self.labels,
                self.attempts, self.reason]


class Rollout:
    def __init__(self, rid, fleet, n, wave_spec, concurrency, speed, seed):
        self.id = rid
        self.fleet = fleet
        self.limit = None
        self.live = True
        self.state = "running"
        self.reason = None
        self.concurrency = concurrency
        self.speed = speed
        self.rng = random.Random(seed)
        self.t0 = time.monotonic()
        self.started_ms = now_ms()
        self.finished_ms = 0
        self.frozen_elapsed = None
        self.seq = 0
        self.events = []          # (seq, event dict)
        self.timeline = []
        self.last_sample = -1.0
        self.sample_key = None
        self.policy = {"mode": "barrier", "concurrency": concurrency, "promote": "auto",
                       "waves": wave_spec}
        self.promoted = False
        self.drops = 0            # bumped by POST /mock/drop-streams
        # wave boundaries from "1, 5%, 25%, 100%"
        bounds = []
        for part in wave_spec.split(","):
            part = part.strip()
            if part.endswith("%"):
                b = int(n * float(part[:-1]) / 100)
            else:
                b = int(part)
            b = max(b, (bounds[-1] + 1) if bounds else 1)
            bounds.append(min(b, n))
        bounds[-1] = n
        self.bounds = []
        lo = 0
        for b in bounds:
            if b > lo:
                self.bounds.append((lo, b))
                lo = b
        self.nodes = []
        for i in range(n):
            wave = next(w for w, (a, b) in enumerate(self.bounds) if a <= i < b)
            rack = i % 20 + 1
            model = MODELS[(i // 20) % len(MODELS)]
            self.nodes.append(Node(i, "bmc-%05d" % (i + 1), wave, rack, model))
        self.by_name = {nd.name: nd for nd in self.nodes}
        self.current_wave = 0
        self.event("running", 0, "wave 1 started (%d nodes)" % self.wave_size(0))

    # -- clock and bookkeeping
    def elapsed(self):
        if self.frozen_elapsed is not None:
            return self.frozen_elapsed
        return int((time.monotonic() - self.t0) * 1000)

    def wave_size(self, w):
        a, b = self.bounds[w]
        return b - a

    def event(self, kind, wave, message):
        self.seq += 1
        self.events.append((self.seq, {"at_ms": self.elapsed(), "kind": kind, "wave": wave,
                                       "message": message}))
        if len(self.events) > 1000:
            del self.events[:200]

    def set_node(self, nd, state, phase=None, reason=None, keep_reason=False):
        frm = "%s/%s" % (nd.state, nd.phase)
        if phase is not None:
            nd.phase = phase
        if not keep_reason:
            nd.reason = reason
        nd.state = state
        self.seq += 1
        nd.seq = self.seq
        at = self.elapsed()
        nd.transitions.append({"at_ms": at, "from": frm, "to": "%s/%s" % (nd.state, nd.phase),
                               "reason": reason})
        if len(nd.transitions) > 40:
            del nd.transitions[:10]
        line = "%8.3f %s %s: %s" % (at / 1000.0, nd.name, nd.phase,
                                   reason or {"active": "running",
                                              "waiting": "waiting for the BMC to come back",
                                              "done": "firmware 2.81 verified",
                                              "skipped": "already at 2.81",
                                              "pending": "queued",
                                              "cancelled": "cancelled by abort"}.get(state, state))
        nd.log.append(line)
        if len(nd.log) > 30:
            del nd.log[:10]

    def counts(self):
        c = dict.fromkeys(STATES, 0)
        inp = dict.fromkeys(PHASES, 0)
        for nd in self.nodes:
            c[nd.state] += 1
            if nd.state == "active":
                inp[nd.phase] += 1
        return c, inp

    def to_json(self):
        c, inp = self.counts()
        return {"id": self.id, "fleet": self.fleet, "limit": self.limit, "state": self.state,
                "live": self.live, "reason": self.reason, "nodes": len(self.nodes),
                "waves": len(self.bounds), "current_wave": self.current_wave, "counts": c,
                "in_phase": inp, "in_flight": c["active"] + c["waiting"] + c["retry"],
                "started_ms": self.started_ms, "finished_ms": self.finished_ms,
                "elapsed_ms": self.elapsed()}

    def detail(self):
        j = self.to_json()
        waves = []
        for w, (a, b) in enumerate(self.bounds):
            wc = dict.fromkeys(STATES, 0)
            for nd in self.nodes[a:b]:
                wc[nd.state] += 1
            ended = sum(wc[s] for s in ENDED)
            st = "done" if ended == b - a else ("open" if w <= self.current_wave else "pending")
            waves.append({"index": w, "size": b - a, "state": st, "counts": wc})
        j["policy"] = self.policy
        j["waves"] = waves
        j["events"] = [e for _, e in self.events[-200:]]
        j["timeline"] = self.timeline
        return j

    def node_detail(self, nd):
        return {"name": nd.name, "idx": nd.idx, "address": nd.address,
                "transport": nd.transport, "state": nd.state, "phase": nd.phase,
                "wave": nd.wave, "groups": nd.groups, "labels": nd.labels,
                "attempts": nd.attempts, "reason": nd.reason, "log_tail": nd.log[-20:],
                "transitions": nd.transitions}

    def sample(self, force=False):
        t = self.elapsed()
        if not force and t - self.last_sample < 1000:
            return
        c, _ = self.counts()
        key = (c["done"], c["failed"], c["unreachable"], c["active"] + c["waiting"] + c["retry"])
        if key == self.sample_key and not force:
            return
        self.sample_key = key
        self.last_sample = t
        self.timeline.append({"t_ms": t, "done": key[0], "failed": key[1],
                              "unreachable": key[2], "in_flight": key[3]})
        if len(self.timeline) > 600:
            self.timeline = self.timeline[::2]

    # -- the simulation
    def dur(self, lo, hi):
        return self.rng.uniform(lo, hi) / self.speed

    def start_node(self, nd, now):
        nd.attempts = max(nd.attempts, 1)
        self.set_node(nd, "active", "connect")
        nd.next_at = now + self.dur(0.05, 0.3)

    def step(self, nd, now):
        r = self.rng.random()
        if nd.state == "retry":
            nd.attempts += 1
            self.set_node(nd, "active", nd.phase)
            nd.next_at = now + self.dur(0.1, 0.5)
            return
        if nd.state == "waiting":
            self.set_node(nd, "active", "verify")
            nd.next_at = now + self.dur(0.1, 0.4)
            return
        p = nd.phase
        if p == "connect" and r < 0.012:
            self.set_node(nd, "unreachable", reason="connect: no answer from %s:443 after 10 s"
                          % nd.address)
        elif p == "inventory" and r < 0.01:
            self.set_node(nd, "skipped", "inventory")
        elif p == "install" and r < 0.03:
            self.set_node(nd, "failed", reason="install: HTTP 500 from "
                          "/redfish/v1/UpdateService/Actions/SimpleUpdate (task aborted)")
        elif p == "install" and r < 0.07 and nd.attempts < 2:
            self.set_node(nd, "retry", reason="install: task timed out, retrying")
            nd.next_at = now + self.dur(0.5, 1.0)
        elif p == "activate":
            self.set_node(nd, "waiting", "activate")
            nd.next_at = now + self.dur(0.3, 1.2)
        elif p == "verify":
            if r < 0.006:
                self.set_node(nd, "failed", reason="verify: version still 2.70 after reboot")
            else:
                self.set_node(nd, "done", "verify")
        else:
            nxt = PHASES[PHASES.index(p) + 1]
            self.set_node(nd, "active", nxt, keep_reason=True)
            nd.next_at = now + self.dur(0.05, 0.35)

    def tick(self):
        if not self.live or self.state == "finished":
            return
        now = time.monotonic()
        in_flight = 0
        for nd in self.nodes:
            if nd.state in IN_FLIGHT:
                if nd.next_at <= now:
                    self.step(nd, now)
                if nd.state in IN_FLIGHT:
                    in_flight += 1
        if self.state == "running":
            # barrier waves: the next opens when every node of the current one ended
            while True:
                a, b = self.bounds[self.current_wave]
                if any(nd.state not in ENDED for nd in self.nodes[a:b]):
                    break
                if self.current_wave + 1 >= len(self.bounds):
                    break
                if self.current_wave == 0 and self.policy["promote"] == "manual" and \
                        not self.promoted:
                    # the canary wave is done: wait for an operator's promote
                    self.state = "awaiting-promote"
                    self.event("awaiting-promote", 0, "canary done: waiting for promote")
                    break
                self.event("wave-done", self.current_wave, "wave %d done" % (self.current_wave + 1))
                self.current_wave += 1
                self.event("running", self.current_wave, "wave %d started (%d nodes)"
                           % (self.current_wave + 1, self.wave_size(self.current_wave)))
            free = self.concurrency - in_flight
            if free > 0:
                for nd in self.nodes[:self.bounds[self.current_wave][1]]:
                    if free <= 0:
                        break
                    if nd.state == "pending":
                        self.start_node(nd, now)
                        free -= 1
        if self.state in ("running", "aborting") and in_flight == 0 and \
                all(nd.state in ENDED for nd in self.nodes):
            self.finish()
        self.sample()

    def finish(self):
        c, _ = self.counts()
        if self.state != "aborting":
            self.event("wave-done", self.current_wave, "wave %d done" % (self.current_wave + 1))
        self.state = "finished"
        self.finished_ms = now_ms()
        self.frozen_elapsed = self.elapsed()
        self.event("finished", None, "rollout finished: %d done, %d failed, %d unreachable"
                   % (c["done"], c["failed"], c["unreachable"]))
        self.sample(force=True)

    # -- operator commands: (status, body)
    def command(self, cmd):
        if not self.live:
            return 409, {"error": "rollout %d is not live: no process drives it" % self.id}
        if self.state == "finished" and cmd != "retry":
            return 409, {"error": "rollout %d is finished; only retry applies" % self.id}
        if cmd == "pause":
            if self.state != "running":
                return 409, {"error": "rollout %d is %s, not running" % (self.id, self.state)}
            self.state = "paused"
            self.event("paused", self.current_wave, "paused by the operator")
            msg = "rollout %d paused: no node starts; nodes in flight go on" % self.id
        elif cmd == "resume":
            if self.state != "paused":
                return 409, {"error": "rollout %d is not paused" % self.id}
            self.state = "running"
            self.event("resumed", self.current_wave, "resumed by the operator")
            msg = "rollout %d resumed" % self.id
        elif cmd == "promote":
            if self.state != "awaiting-promote":
                return 409, {"error": "no canary waits for promotion in rollout %d" % self.id}
            self.state = "running"
            self.promoted = True
            self.event("promoted", self.current_wave, "promoted by the operator")
            msg = "rollout %d promoted" % self.id
        elif cmd == "abort":
            if self.state == "aborting":
                return 409, {"error": "rollout %d is already aborting" % self.id}
            n = 0
            for nd in self.nodes:
                if nd.state == "pending" or (nd.state in IN_FLIGHT and
                                              nd.phase in ("connect", "inventory")):
                    self.set_node(nd, "cancelled", reason="aborted by the operator")
                    n += 1
            self.state = "aborting"
            self.event("aborting", self.current_wave, "aborted by the operator: %d nodes cancelled" % n)
            msg = "rollout %d aborting: %d nodes cancelled, the rest finish" % (self.id, n)
        elif cmd == "retry":
            bad = [nd for nd in self.nodes if nd.state in ("failed", "unreachable")]
            if not bad:
                return 409, {"error": "rollout %d has no failed or unreachable node" % self.id}
            for nd in bad:
                nd.attempts = 0
                self.set_node(nd, "pending", "connect")
            if self.state in ("finished", "halted"):
                self.state = "running"
                self.finished_ms = 0
                if self.frozen_elapsed is not None:
                    self.t0 = time.monotonic() - self.frozen_elapsed / 1000.0
                    self.frozen_elapsed = None
            self.event("retry", None, "retry: %d failed and unreachable nodes start again" % len(bad))
            msg = "rollout %d: %d nodes start again" % (self.id, len(bad))
        else:
            return 404, {"error": "no such command: %s" % cmd}
        return 200, {"id": self.id, "command": cmd, "state": self.state, "message": msg}


def finished_rollout(speed):
    """Rollout 1: 300 nodes, finished an hour ago, with failures."""
    r = Rollout(1, "/srv/fleets/lab.yml", 300, "1, 10%, 100%", 64, speed, 1)
    r.policy["promote"] = "manual"
    r.limit = "rack1*"
    t = 0
    base = r.t0
    for i, nd in enumerate(r.nodes):
        r.t0 = base - t / 1000.0
        nd.attempts = 1
        r.set_node(nd, "active", "connect")
        if i in (17, 230):
            r.set_node(nd, "failed", "install", reason="install: image signature rejected by the BMC")
        elif i == 99:
            r.set_node(nd, "unreachable", "connect", reason="connect: TLS handshake timed out")
        else:
            r.set_node(nd, "done", "verify")
        t += 180
    r.t0 = base
    r.current_wave = len(r.bounds) - 1
    r.frozen_elapsed = t + 1500
    r.started_ms = now_ms() - 3600 * 1000
    r.finished_ms = r.started_ms + r.frozen_elapsed
    r.events = []
    for w, (a, b) in enumerate(r.bounds):
        r.seq += 1
        r.events.append((r.seq, {"at_ms": a * 180, "kind": "running", "wave": w,
                                 "message": "wave %d started (%d nodes)" % (w + 1, b - a)}))
    r.seq += 1
    r.events.append((r.seq, {"at_ms": r.frozen_elapsed, "kind": "finished", "wave": None,
                             "message": "rollout finished: 297 done, 2 failed, 1 unreachable"}))
    r.timeline = []
    for s in range(0, r.frozen_elapsed + 1, 1000):
        k = min(300, s // 180)
        r.timeline.append({"t_ms": s, "done": max(0, k - 3), "failed": 2 if k > 230 else (1 if k > 17 else 0),
                           "unreachable": 1 if k > 99 else 0, "in_flight": 0 if k >= 300 else 12})
    r.state = "finished"
    return r


class Service:
    def __init__(self, args):
        self.token = args.token
        self.root = args.root
        live = Rollout(2, "/srv/fleets/dc1.yml", args.nodes, "1, 5%, 25%, 100%",
                       args.concurrency, args.speed, 2)
        live.policy["promote"] = "auto" if args.auto_promote else "manual"
        self.rollouts = {1: finished_rollout(args.speed), 2: live}

    def loop(self):
        while True:
            time.sleep(0.1)
            with LOCK:
                for r in self.rollouts.values():
                    r.tick()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fleetup-mock/1"
    svc = None

    def log_message(self, fmt, *a):
        if os.environ.get("MOCK_VERBOSE"):
            sys.stderr.write("mock: " + (fmt % a) + "\n")

    def send_json(self, status, obj, extra=None):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, msg):
        self.send_json(status, {"error": msg})

    def authed(self):
        h = self.headers.get("Authorization", "")
        if not h.startswith("Bearer "):
            self.error(401, "this needs the admin token: Authorization: Bearer "
                            "$(cat STATE_DIR/admin.token)")
            return False
        if h[7:].strip() != self.svc.token:
            self.error(403, "wrong admin token: use the one in STATE_DIR/admin.token")
            return False
        return True

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 65536:
            return None
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path in FILES:
            return self.serve_file(path)
        if not (path.startswith("/api/v1/") or path == "/metrics"):
            return self.error(404, "no such path: %s" % path)
        if not self.authed():
            return None
        parts = [urllib.parse.unquote(p) for p in path.split("/")[3:]]
        with LOCK:
            if parts == ["info"]:
                return self.send_json(200, {"version": "0.1.0-mock", "fleet": "/srv/fleets/dc1.yml",
                                            "ports": {"port": 63001, "ssl_port": 63002},
                                            "tls_sha256": "00" * 32,
                                            "counts": {"rollouts": len(self.svc.rollouts)}})
            if parts == ["rollouts"]:
                lst = sorted(self.svc.rollouts.values(), key=lambda r: -r.id)
                return self.send_json(200, {"rollouts": [r.to_json() for r in lst]})
            if path == "/metrics":
                return self.metrics()
            if len(parts) >= 2 and parts[0] == "rollouts":
                r = self.svc.rollouts.get(int(parts[1])) if parts[1].isdigit() else None
                if r is None:
                    return self.error(404, "no rollout %s" % parts[1])
                if len(parts) == 2:
                    return self.send_json(200, r.detail())
                if parts[2:] == ["nodes"]:
                    return self.send_json(200, {"fields": ["name", "state", "phase", "wave", "groups",
                                                           "labels", "attempts", "reason"],
                                                "nodes": [nd.compact() for nd in r.nodes]})
                if len(parts) == 4 and parts[2] == "nodes":
                    nd = r.by_name.get(parts[3])
                    if nd is None:
                        return self.error(404, "no node %s in rollout %d" % (parts[3], r.id))
                    return self.send_json(200, r.node_detail(nd))
                if parts[2:] == ["events"]:
                    pass  # below, outside the lock
                else:
                    return self.error(404, "no such path: %s" % path)
            else:
                return self.error(404, "no such path: %s" % path)
        return self.events(r)

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        body = self.read_body()
        if path == "/mock/drop-streams":
            # test hook: every open event stream closes without `end`, as when the
            # service drops a client that fell behind
            with LOCK:
                for r in self.svc.rollouts.values():
                    r.drops += 1
            return self.send_json(200, {"dropped": True})
        if not path.startswith("/api/v1/"):
            return self.error(404, "no such path: %s" % path)
        if not self.authed():
            return None
        if body is None:
            return self.error(413, "body too large")
        parts = path.split("/")[3:]
        if len(parts) == 3 and parts[0] == "rollouts":
            with LOCK:
                r = self.svc.rollouts.get(int(parts[1])) if parts[1].isdigit() else None
                if r is None:
                    return self.error(404, "no rollout %s" % parts[1])
                if parts[2] not in ("pause", "resume", "abort", "promote", "retry"):
                    return self.error(404, "no such command: %s" % parts[2])
                status, obj = r.command(parts[2])
            return self.send_json(status, obj)
        if parts == ["rollouts"]:
            return self.error(400, "the mock does not take submissions")
        return self.error(404, "no such path: %s" % path)

    def serve_file(self, path):
        name, ctype = FILES[path]
        try:
            with open(os.path.join(self.svc.root, name), "rb") as f:
                body = f.read()
        except OSError as e:
            return self.error(500, "cannot read %s: %s" % (name, e))
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(body)
        return None

    def metrics(self):
        lines = []
        for r in self.svc.rollouts.values():
            c, inp = r.counts()
            lines.append('fleetup_rollout_state{rollout="%d",state="%s"} 1' % (r.id, r.state))
            for s in STATES:
                lines.append('fleetup_rollout_nodes{rollout="%d",state="%s"} %d' % (r.id, s, c[s]))
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def sse(self, event, obj):
        """Writes one event. The framing varies within what SSE allows, so that every run
        exercises the dashboard's parser: rollout events with CRLF line ends, a comment
        first, and split in two writes mid-line; run events with no space after
        `data:`; the rest plain."""
        data = json.dumps(obj, separators=(",", ":"))
        if event == "rollout":
            raw = (": tick\r\nevent: rollout\r\ndata: %s\r\n\r\n" % data).encode()
            half = len(raw) // 2
            self.wfile.write(raw[:half])
            self.wfile.flush()
            time.sleep(0.003)
            self.wfile.write(raw[half:])
        elif event == "run":
            self.wfile.write(("event: run\ndata:%s\n\n" % data).encode())
        else:
            self.wfile.write(("event: %s\ndata: %s\n\n" % (event, data)).encode())

    def events(self, r):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            with LOCK:
                roll = r.to_json()
                drops = r.drops
                last_seq = r.seq
                ev_seq = r.events[-1][0] if r.events else 0
                snap = [nd.row() for nd in r.nodes]
            self.sse("rollout", roll)
            # the snapshot over several data: lines (1,000 rows each), which the client
            # joins with newlines: whitespace between JSON tokens
            lines = []
            for i in range(0, len(snap), 1000):
                part = ",".join(json.dumps(x, separators=(",", ":")) for x in snap[i:i + 1000])
                lines.append(("{\"rows\":[" if i == 0 else ",") + part)
            lines.append("]}")
            if len(lines) == 1:
                lines = ['{"rows":[]}']
            self.wfile.write(b"event: nodes\n" +
                             b"".join(b"data: " + ln.encode() + b"\n" for ln in lines) + b"\n")
            last_roll = json.dumps(dict(roll, elapsed_ms=0), sort_keys=True)
            last_keepalive = time.monotonic()
            while True:
                with LOCK:
                    rows = [nd.row() for nd in r.nodes if nd.seq > last_seq]
                    new_events = [e for s, e in r.events if s > ev_seq]
                    if r.events:
                        ev_seq = max(ev_seq, r.events[-1][0])
                    last_seq = r.seq
                    roll = r.to_json()
                    finished = r.state == "finished"
                    dropped = r.drops != drops
                if dropped:
                    return
                if rows:
                    self.sse("nodes", {"rows": rows})
                for e in new_events:
                    self.sse("run", e)
                key = json.dumps(dict(roll, elapsed_ms=0), sort_keys=True)
                if key != last_roll or rows:
                    self.sse("rollout", roll)
                    last_roll = key
                if finished:
                    self.wfile.write(b"event: end\ndata: {}\n\n")
                    return
                if time.monotonic() - last_keepalive > 15:
                    self.wfile.write(b": keepalive\n\n")
                    last_keepalive = time.monotonic()
                time.sleep(0.5)
        except (BrokenPipeError, ConnectionResetError, OSError):
            return


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("port", type=int)
    ap.add_argument("--token", default=os.environ.get("FLEETUP_TOKEN", "mock-admin-token"))
    ap.add_argument("--root", default=os.path.join(here, "..", "..", "src", "dashboard"))
    ap.add_argument("--speed", type=float, default=1.0, help="simulation speed factor")
    ap.add_argument("--nodes", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=160)
    ap.add_argument("--auto-promote", action="store_true",
                    help="no canary gate (by default rollout 2 waits for promote after wave 1)")
    args = ap.parse_args()
    svc = Service(args)
    Handler.svc = svc
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    try:
        srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            print("port %d is taken" % args.port, file=sys.stderr)
            sys.exit(98)
        raise
    threading.Thread(target=svc.loop, daemon=True).start()
    print("listening on http://127.0.0.1:%d" % args.port, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
