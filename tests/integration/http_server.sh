#!/bin/sh
# fleetup serve against real clients (curl, openssl s_client, raw sockets from python3):
# every route and error code, keep-alive, pipelining, ranges and resumed downloads,
# HTTPS with the generated certificate, TLS 1.1 refused, IPv6, limits (414, 431, 413,
# 405, 408 for slow heads), 1,000 slow clients beside a fast one, the connection cap,
# and a graceful shutdown during a large download. Loopback only.
# usage: http_server.sh FLEETUP SOURCE_DIR
set -u
FU=$1
SRC=$2
for tool in curl openssl python3; do
    command -v $tool >/dev/null 2>&1 || { echo "SKIP: $tool missing (tools/setup.sh installs it)"; exit 77; }
done
work=$(mktemp -d)
pids=""
cleanup() { for p in $pids; do kill -9 "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
. "$SRC/tests/integration/lib/assert.sh"

# Below 32768, Linux's ephemeral ports: a TIME_WAIT socket of some client (the 1,000
# below, redfish_e2e.sh's thousands) on a port above keeps a listener off it.
# 28000-32767 here; fleetsim_sushy.sh takes 26000-27999, redfish_e2e.sh 20000-25999.
base=$((28000 + $$ % 4750))
P=$base; S=$((base + 1))
head -c 67108864 /dev/urandom >"$work/big.bin"
printf 'small package\n' >"$work/small.bin"
BIG=$(sha256sum "$work/big.bin" | cut -d' ' -f1)
SMALL=$(sha256sum "$work/small.bin" | cut -d' ' -f1)
cat >"$work/fleet.yml" <<YML
fleetup: 1
nodes:
  node[1:3]:
baseline:
  components:
    - {name: big, version: "1", package: big.bin, sha256: $BIG}
    - {name: small, version: "1", package: small.bin, sha256: $SMALL}
YML
st="$work/state"

start_server() { # start_server LOG ARGS...
    log=$1; shift
    "$FU" serve "$work/fleet.yml" --state-dir "$st" "$@" >"$log" 2>&1 &
    pid=$!
    pids="$pids $pid"
    i=0
    while ! grep -q "TLS certificate" "$log" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
            echo "FAIL: the server did not start:" >&2; cat "$log" >&2; exit 1
        fi
        sleep 0.1
    done
}
start_server "$work/serve.log" --port $P --ssl-port $S --bind 127.0.0.1 --bind ::1 --header-timeout 2s
SERVER=$pid
TOK=$("$FU" token node1 --rollout 7 --state-dir "$st")
ADMIN=$(cat "$st/admin.token")
H="http://127.0.0.1:$P"
HS="https://localhost:$S"
code() { curl -s -o "$work/body" -w '%{http_code}' "$@"; }
check() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }

# --- packages
check "state files private" "$(stat -c %a "$st/admin.token") $(stat -c %a "$st/server.secret") $(stat -c %a "$st/tls.key")" "600 600 600"
check "pkg with bearer" "$(code -H "Authorization: Bearer $TOK" "$H/pkg/$SMALL")" 200
check "pkg content" "$(sha256sum <"$work/body" | cut -d' ' -f1)" "$SMALL"
check "pkg with ?t=" "$(code "$H/pkg/$SMALL?t=$TOK")" 200
check "pkg HEAD" "$(curl -s -I -o "$work/head" -w '%{http_code}' -H "Authorization: Bearer $TOK" "$H/pkg/$BIG")" 200
contains "$work/head" "Content-Length: 67108864"
contains "$work/head" "ETag: \"$BIG\""
check "pkg without token" "$(code "$H/pkg/$SMALL")" 401
check "pkg with a bad token" "$(code -H "Authorization: Bearer 7:node1:$(printf '%064d' 0)" "$H/pkg/$SMALL")" 403
check "pkg token of an unknown node" "$(code -H "Authorization: Bearer $("$FU" token ghost --rollout 7 --state-dir "$st")" "$H/pkg/$SMALL")" 403
check "pkg with the admin token" "$(code -H "Authorization: Bearer $ADMIN" "$H/pkg/$SMALL")" 200
check "unknown package" "$(code -H "Authorization: Bearer $TOK" "$H/pkg/$(printf '%064d' 1)")" 404
check "no path to files" "$(code -H "Authorization: Bearer $TOK" "$H/pkg/../../etc/passwd")" 404
check "range" "$(code -H "Authorization: Bearer $TOK" -r 0-99 -D "$work/rh" "$H/pkg/$BIG")" 206
contains "$work/rh" "Content-Range: bytes 0-99/67108864"
check "range length" "$(wc -c <"$work/body" | tr -d ' ')" 100
check "range beyond the end" "$(code -H "Authorization: Bearer $TOK" -r 70000000-70000001 -D "$work/rh" "$H/pkg/$BIG")" 416
contains "$work/rh" "Content-Range: bytes \*/67108864"
check "if-none-match" "$(code -H "Authorization: Bearer $TOK" -H "If-None-Match: \"$SMALL\"" "$H/pkg/$SMALL")" 304
check "POST on a package" "$(code -X POST -H "Authorization: Bearer $TOK" "$H/pkg/$SMALL")" 405
# an interrupted download, resumed: the same SHA-256
curl -s -H "Authorization: Bearer $TOK" -r 0-5000000 -o "$work/part" "$H/pkg/$BIG"
curl -s -H "Authorization: Bearer $TOK" -C - -o "$work/part" "$H/pkg/$BIG"
check "resumed download" "$(sha256sum <"$work/part" | cut -d' ' -f1)" "$BIG"

# --- status callbacks
post() { code -X POST -H "Content-Type: application/json" "$@"; }
check "callback" "$(post -H "Authorization: Bearer $TOK" -d '{"phase":"install","state":"running","percent":40,"message":"flashing"}' "$H/cb/7/node1")" 204
check "callback, bare MAC" "$(post -H "Authorization: Bearer ${TOK##*:}" -d '{"phase":"install","state":"done","exit_code":0}' "$H/cb/7/node1")" 204
check "callback, malformed JSON" "$(post -H "Authorization: Bearer $TOK" -d '{"phase":' "$H/cb/7/node1")" 400
contains "$work/body" "malformed JSON"
check "callback, bad field" "$(post -H "Authorization: Bearer $TOK" -d '{"phase":"x","state":"y","percent":140}' "$H/cb/7/node1")" 400
contains "$work/body" "'percent' must be a whole number from 0 to 100"
check "callback, unknown field" "$(post -H "Authorization: Bearer $TOK" -d '{"phase":"x","state":"y","colour":1}' "$H/cb/7/node1")" 400
check "callback, another node's token" "$(post -H "Authorization: Bearer $TOK" -d '{}' "$H/cb/7/node2")" 403
check "callback, another rollout" "$(post -H "Authorization: Bearer $TOK" -d '{}' "$H/cb/8/node1")" 403
check "callback, unknown node" "$(post -H "Authorization: Bearer $ADMIN" -d '{"phase":"x","state":"y"}' "$H/cb/7/ghost")" 404
head -c 70000 /dev/zero | tr '\0' ' ' >"$work/big.json"
check "callback over 64 KiB" "$(post -H "Authorization: Bearer $TOK" --data-binary @"$work/big.json" "$H/cb/7/node1")" 413
check "GET on a callback" "$(code -H "Authorization: Bearer $TOK" "$H/cb/7/node1")" 405
check "chunked callback" "$(post -H "Authorization: Bearer $TOK" -H "Transfer-Encoding: chunked" -d '{"phase":"verify","state":"done"}' "$H/cb/7/node1")" 204

# --- API and metrics: admin token, HTTPS port, the generated certificate
check "api over https" "$(code --cacert "$st/tls.crt" -H "Authorization: Bearer $ADMIN" "$HS/api/v1/callbacks")" 200
python3 -c "import json,sys; c=json.load(open(sys.argv[1])); assert len(c)==3 and c[0]['percent']==40 and c[0]['message']=='flashing', c" "$work/body" && ok || bad "api callbacks content"
check "api info" "$(code --cacert "$st/tls.crt" -H "Authorization: Bearer $ADMIN" "$HS/api/v1/info")" 200
check "api without token" "$(code --cacert "$st/tls.crt" "$HS/api/v1/info")" 401
check "api with a node token" "$(code --cacert "$st/tls.crt" -H "Authorization: Bearer $TOK" "$HS/api/v1/info")" 403
check "api on the plain port" "$(code -H "Authorization: Bearer $ADMIN" "$H/api/v1/info")" 404
check "metrics" "$(code --cacert "$st/tls.crt" -H "Authorization: Bearer $ADMIN" "$HS/metrics")" 200
contains "$work/body" 'fleetup_http_requests_total{route="pkg",status="200"}'
contains "$work/body" 'fleetup_callbacks_total 3'
check "unknown route" "$(code "$H/nothing")" 404
check "https without the CA" "$(curl -s -o /dev/null -w '%{http_code}' "$HS/api/v1/info"; echo " $?")" "000 60"
check "tls 1.2 works" "$(code --cacert "$st/tls.crt" --tlsv1.2 --tls-max 1.2 -H "Authorization: Bearer $ADMIN" "$HS/api/v1/info")" 200
echo | openssl s_client -connect 127.0.0.1:$S -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' >"$work/s11" 2>&1
grep -q -i "alert protocol version\|no protocols available\|wrong version\|unsupported protocol" "$work/s11" && ok || { bad "TLS 1.1 was not refused"; cat "$work/s11" >&2; }
check "IPv6 loopback" "$(code -H "Authorization: Bearer $TOK" "http://[::1]:$P/pkg/$SMALL")" 200

# keep-alive: two requests on one connection
before=$(curl -s --cacert "$st/tls.crt" -H "Authorization: Bearer $ADMIN" "$HS/metrics" | sed -n 's/^fleetup_http_connections_total //p')
curl -s -o /dev/null -o /dev/null -H "Authorization: Bearer $TOK" "$H/pkg/$SMALL" "$H/pkg/$SMALL"
after=$(curl -s --cacert "$st/tls.crt" -H "Authorization: Bearer $ADMIN" "$HS/metrics" | sed -n 's/^fleetup_http_connections_total //p')
check "keep-alive reuses the connection" "$((after - before))" 2  # the curl pair + this metrics call

# --- raw HTTP: pipelining, HTTP/1.0, limits, slow heads
python3 - "$P" "$TOK" "$SMALL" >"$work/raw" 2>&1 <<'PY'
import socket, sys, time
port, tok, small = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def talk(data, wait=3.0):
    s = socket.create_connection(("127.0.0.1", port)); s.settimeout(wait)
    s.sendall(data); out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b: break
            out += b
    except socket.timeout:
        pass
    s.close(); return out.decode("latin-1")
get = "GET /pkg/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % (small, tok)
r = talk((get * 3).encode(), 1.0)
print("pipelined", r.count("HTTP/1.1 200 OK"), r.count("small package"))
r = talk(("GET /pkg/%s HTTP/1.0\r\nAuthorization: Bearer %s\r\n\r\n" % (small, tok)).encode())
print("http10", r.split("\r\n")[0], "close" if "Connection: close" in r else "keep")
print("url", talk(("GET /" + "a" * 9000 + " HTTP/1.1\r\nHost: x\r\n\r\n").encode()).split("\r\n")[0])
print("head", talk(("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + "b" * 17000 + "\r\n\r\n").encode()).split("\r\n")[0])
print("headers", talk(("GET / HTTP/1.1\r\n" + "".join("X-H%d: v\r\n" % i for i in range(70)) + "\r\n").encode()).split("\r\n")[0])
print("method", talk(b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n").split("\r\n")[0])
print("put", talk(b"PUT /pkg/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").split("\r\n")[0])
print("garbage", talk(b"\x00\x01\x02 nonsense\r\n\r\n").split("\r\n")[0])
t0 = time.time(); r = talk(b"GET /pkg/x HTTP/1.1\r\nHost:", 5.0)
print("slow", r.split("\r\n")[0], "closed" if time.time() - t0 < 4.5 else "still-open")
PY
contains "$work/raw" "pipelined 3 3"
contains "$work/raw" "http10 HTTP/1.1 200 OK close"
contains "$work/raw" "url HTTP/1.1 414 URI Too Long"
contains "$work/raw" "head HTTP/1.1 431 Request Header Fields Too Large"
contains "$work/raw" "headers HTTP/1.1 431 Request Header Fields Too Large"
contains "$work/raw" "method HTTP/1.1 405 Method Not Allowed"
contains "$work/raw" "put HTTP/1.1 405 Method Not Allowed"
contains "$work/raw" "garbage HTTP/1.1 400 Bad Request"
contains "$work/raw" "slow HTTP/1.1 408 Request Timeout closed"

# --- 1,000 slow clients do not starve a fast one
python3 - "$P" "$TOK" "$SMALL" >"$work/crowd" 2>&1 <<'PY'
import resource, socket, subprocess, sys, time
port, tok, small = int(sys.argv[1]), sys.argv[2], sys.argv[3]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
slow = []
for i in range(1000):
    s = socket.create_connection(("127.0.0.1", port)); s.sendall(b"GET /pkg/"); slow.append(s)
t0 = time.time()
out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                      "Authorization: Bearer " + tok, "http://127.0.0.1:%d/pkg/%s" % (port, small)],
                     capture_output=True, text=True, timeout=20).stdout
print("fast", out, "%.2f" % (time.time() - t0))
for s in slow: s.close()
PY
python3 -c "import sys; w=open(sys.argv[1]).read().split(); assert w[0]=='fast' and w[1]=='200' and float(w[2]) < 1.0, w" "$work/crowd" && ok || { bad "a fast client beside 1,000 slow ones"; cat "$work/crowd" >&2; }

# --- the connection cap
# (each server its own state directory: one serve holds a state directory's lock; the
# copied secrets keep the node token valid)
for d in cap idle; do
    mkdir -m 700 "$work/state-$d" && cp "$st/server.secret" "$st/admin.token" "$work/state-$d/"
done
start_server "$work/cap.log" --port $((base + 2)) --ssl-port $((base + 3)) --bind 127.0.0.1 --max-connections 3 \
    --state-dir "$work/state-cap"
CAP=$pid
python3 - "$((base + 2))" >"$work/cap" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
time.sleep(0.3)
s = socket.create_connection(("127.0.0.1", port)); s.settimeout(3)
try:
    print("fourth", "closed" if s.recv(100) == b"" else "open")
except Exception as e:
    print("fourth", "error", e)
PY
contains "$work/cap" "fourth closed"
contains "$work/cap.log" "connections open (limit 3)"
kill "$CAP"

# --- regressions from review: pipelined downloads read slowly, a refused connection is
# answered once, a stalled reader is cut, a trailer is no header
python3 - "$P" "$TOK" "$BIG" "$SMALL" >"$work/rev" 2>&1 <<'PY'
import hashlib, socket, sys, time
port, tok, big, small = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
s = socket.create_connection(("127.0.0.1", port)); s.settimeout(20)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
req = "GET /pkg/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % (big, tok)
s.sendall((req * 2).encode())
data = bytearray(); deadline = time.time() + 30
want = None  # two answers with the same head: 2 * (head + body)
while want is None or len(data) < want:
    if want is None and b"\r\n\r\n" in data:
        want = 2 * (data.index(b"\r\n\r\n") + 4 + 67108864)
    b = s.recv(1 << 20)
    if not b or time.time() > deadline: break
    data += b
    if len(data) < 4 << 20: time.sleep(0.0005)   # slow at first: sendfile must wait
heads = [i for i in (data.find(b"HTTP/1.1 200"), data.find(b"HTTP/1.1 200", 67108864)) if i >= 0]
print("pipelined-big", len(heads), len(data) > 2 * 67108864)
s.close()
c = socket.create_connection(("127.0.0.1", port)); c.settimeout(3)
c.sendall(b"\x01BAD\r\n\r\n")
for i in range(50):
    try: c.sendall(b"x")
    except OSError: break
    time.sleep(0.002)
got = b""
try:
    while True:
        b = c.recv(65536)
        if not b: break
        got += b
except socket.timeout:
    pass
print("refused", got.count(b"HTTP/1.1 400"))
c = socket.create_connection(("127.0.0.1", port)); c.settimeout(5)
body = b'{"phase":"x","state":"y"}'
c.sendall(b"POST /cb/7/node1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
          b"%x\r\n" % len(body) + body + b"\r\n0\r\nAuthorization: Bearer " + tok.encode() + b"\r\n\r\n")
print("trailer", c.recv(200).split(b"\r\n")[0].decode())
PY
contains "$work/rev" "pipelined-big 2 True"
contains "$work/rev" "refused 1"
contains "$work/rev" "trailer HTTP/1.1 401 Unauthorized"
kill -0 "$SERVER" 2>/dev/null && ok || bad "the server died"

# --- an idle keep-alive connection is closed after --idle-timeout
start_server "$work/idle.log" --port $((base + 4)) --ssl-port $((base + 5)) --bind 127.0.0.1 --idle-timeout 1s \
    --state-dir "$work/state-idle"
IDLE=$pid
python3 - "$((base + 4))" "$TOK" "$SMALL" >"$work/idle" <<'PY'
import socket, sys, time
port, tok, small = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port)); s.settimeout(5)
s.sendall(("GET /pkg/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % (small, tok)).encode())
first = b""
while not first.endswith(b"small package\n"):
    b = s.recv(65536)
    if not b: break
    first += b
t0 = time.time(); rest = s.recv(100)
print("idle", "200" if b" 200 " in first else "?", "closed" if rest == b"" else "open", "%.1f" % (time.time() - t0))
PY
python3 -c "import sys; w=open(sys.argv[1]).read().split(); assert w[:3]==['idle','200','closed'] and 0.5 < float(w[3]) < 3, w" "$work/idle" && ok || { bad "idle timeout"; cat "$work/idle" >&2; }
# a client that stops reading a download is cut after the idle timeout
python3 - "$((base + 4))" "$TOK" "$BIG" >"$work/stall" <<'PY'
import socket, sys, time
port, tok, big = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", port)); s.settimeout(10)
s.sendall(("GET /pkg/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % (big, tok)).encode())
time.sleep(4)
n = 0
try:
    while True:
        b = s.recv(1 << 20)
        if not b: break
        n += len(b)
except Exception:
    pass
print("stalled", "cut" if n < 67108864 else "complete")
PY
contains "$work/stall" "stalled cut"
contains "$work/idle.log" "read nothing for 1000 ms"
kill "$IDLE"
wait "$IDLE"
check "idle server exit code" "$?" 0

# --- SIGTERM with a keep-alive connection open, and while packages are hashed
truncate -s 3G "$work/huge.bin"
HUGE=0000000000000000000000000000000000000000000000000000000000000000
cat >"$work/fleet3.yml" <<YML
fleetup: 1
nodes:
  node1:
baseline:
  components:
    - {name: huge, version: "1", package: huge.bin, sha256: $HUGE}
YML
"$FU" serve "$work/fleet3.yml" --state-dir "$work/state-huge" --port $((base + 8)) --ssl-port $((base + 9)) --bind 127.0.0.1 >"$work/huge.log" 2>&1 &
hp=$!
# Until its SIGTERM handler is in place (SigCgt bit 15), a busy machine would see the
# default action kill it: wait for the handler (5 s at most), not a fixed time.
for _ in $(seq 50); do
    cgt=$(sed -n 's/^SigCgt:\t*//p' "/proc/$hp/status" 2>/dev/null)
    [ -n "$cgt" ] && [ $(( 0x$cgt >> 14 & 1 )) -eq 1 ] && break
    sleep 0.1
done
kill -TERM $hp
wait $hp
check "SIGTERM while hashing" "$?" 0

# --- a package that is not the one the fleet file names stops the start
cp "$work/fleet.yml" "$work/fleet2.yml"
printf 'tampered\n' >"$work/small.bin.2"
sed -i "s|package: small.bin|package: small.bin.2|" "$work/fleet2.yml"
"$FU" serve "$work/fleet2.yml" --state-dir "$work/state-bad" --port $((base + 6)) --ssl-port $((base + 7)) --bind 127.0.0.1 >"$work/bad.log" 2>&1
check "serve refuses a package with another SHA-256" "$?" 2
contains "$work/bad.log" "component 'small': package 'small.bin.2' has SHA-256"

# --- graceful shutdown during a large download
curl -s --limit-rate 40M -H "Authorization: Bearer $TOK" -o "$work/during" "$H/pkg/$BIG" &
dl=$!
sleep 0.5
kill -TERM "$SERVER"
wait "$dl"
check "download finished across the shutdown" "$(sha256sum <"$work/during" | cut -d' ' -f1)" "$BIG"
wait "$SERVER"
check "server exit code" "$?" 0
contains "$work/serve.log" "no new connections"
check "no longer accepting" "$(code "$H/pkg/$SMALL")" "000"

finish http_server
