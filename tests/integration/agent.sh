#!/bin/sh
# The node agent (src/agent/fleetup-agent.sh) run as fleetup runs it over SSH, under dash
# and busybox sh: inventory JSON and its escaping, push installs (exit codes, log tail),
# checksum errors, package reuse, stage, pull over HTTP and pinned HTTPS from a local
# server with status posts (the token kept out of output and files), pull errors, reach;
# then nodes with only busybox tools, and busybox plus GNU wget. Loopback only.
# usage: agent.sh FLEETUP SOURCE_DIR
set -u
SRC=$2
AGENT=$SRC/src/agent/fleetup-agent.sh
for tool in dash python3 curl openssl sha256sum dpkg-query; do
    command -v $tool >/dev/null 2>&1 || { echo "SKIP: $tool missing (tools/setup.sh installs it)"; exit 77; }
done
work=$(mktemp -d)
PY=$(python3 -c 'import sys; print(sys.executable)') # past pyenv-style shims: they are slow
srv=""
cleanup() { [ -z "$srv" ] || kill -9 "$srv" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 1' INT TERM
. "$SRC/tests/integration/lib/assert.sh"
check() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }
# pycheck FILE: python3 reads checks on stdin; each prints PASS or FAIL lines about FILE.
pycheck() {
    "$PY" - "$1" >"$work/py" 2>&1
    while IFS= read -r l; do
        case $l in PASS*) ok ;; *) bad "$l" ;; esac
    done <"$work/py"
}

TOKEN=7:node1:5ecre7a5ecre7a5ecre7a
mkdir "$work/www"
cat >"$work/srv.py" <<'PY'
# Serves www/ (only with ?t=TOKEN) and records status posts, on HTTP (127.0.0.1 and ::1)
# and HTTPS; lives 4 minutes at most (the trap kills it sooner).
import http.server, os, socket, ssl, sys, threading, time
www, port, sport, cert, key, log, token = sys.argv[1:8]
class H(http.server.BaseHTTPRequestHandler):
    def rec(self, what):
        with open(log, "a") as f: f.write(what + "\n")
    def do_GET(self):
        name = os.path.join(www, os.path.basename(self.path.split("?")[0]))
        if not self.path.endswith("?t=" + token): return self.send_error(401)
        if not os.path.isfile(name): return self.send_error(404)
        data = open(name, "rb").read()
        self.send_response(200); self.send_header("Content-Length", str(len(data)))
        self.end_headers(); self.wfile.write(data)
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self.rec("POST %s %s %s" % (self.path, self.headers.get("Authorization"), body))
        self.send_response(204); self.end_headers()
    def log_message(self, *a): pass
class V6(http.server.ThreadingHTTPServer): address_family = socket.AF_INET6
servers = [http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), H)]
tls = http.server.ThreadingHTTPServer(("127.0.0.1", int(sport)), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)
tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
servers.append(tls)
try: servers.append(V6(("::1", int(port)), H))
except OSError: pass
for s in servers: threading.Thread(target=s.serve_forever, daemon=True).start()
print("ready", len(servers) == 3, flush=True)
time.sleep(240)
PY
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
    -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1
PIN="sha256//$(openssl x509 -in "$work/cert.pem" -pubkey -noout | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | openssl base64)"
# 19500-19599: below Linux's ephemeral ports and apart from the other tests' ranges
# (http_server.sh 28000-32767, fleetsim_sushy.sh 26000-27999, redfish_e2e.sh 20000-25999);
# three tries on different ports, in case one is taken.
for try in 1 2 3; do
    P=$((19500 + (($$ + try * 11) % 33) * 3)) # P: HTTP, PS: HTTPS, CLOSED: nobody
    PS=$((P + 1)) CLOSED=$((P + 2))
    "$PY" "$work/srv.py" "$work/www" $P $PS "$work/cert.pem" "$work/key.pem" "$work/posts" "$TOKEN" \
        >"$work/srv.out" 2>&1 &
    srv=$!
    i=0
    while [ ! -s "$work/srv.out" ] && kill -0 $srv 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    read -r ready v6 <"$work/srv.out"
    [ "$ready" = ready ] && break
    kill -9 $srv 2>/dev/null
done
[ "$ready" = ready ] || { echo "FAIL: the test server did not start:" >&2; cat "$work/srv.out" >&2; exit 1; }

# A package: installer NAME RC writes an installer script to $work/NAME that prints 25
# numbered lines, its environment and arguments, a long line and ANSI colours.
installer() {
    cat >"$work/$1" <<SH
#!/bin/sh
# installer $1
i=1; while [ \$i -le 25 ]; do echo "step \$i"; i=\$((i + 1)); done
printf '\033[31mred\033[0m\r\n'
printf 'x%.0s' \$(seq 1 400); echo
echo "env \$FLEETUP_COMPONENT \$FLEETUP_VERSION args \$*"
exit $2
SH
}
sha() { sha256sum <"$1" | cut -d' ' -f1; }
size() { wc -c <"$1" | tr -d ' '; }
# hdr FILE COMPONENT [KEY VALUE...]: the header for FILE (push mode unless given).
hdr() {
    f=$1 c=$2; shift 2
    printf 'component %s\nversion 1.%s\nsha256 %s\nsize %s\n' "$c" "$c" "$(sha "$f")" "$(size "$f")"
    while [ $# -ge 2 ]; do printf '%s %s\n' "$1" "$2"; shift 2; done
    printf '\n'
}

# One pass of the node-side cases under the shell "$sh" with PATH "$path"; node is the
# simulated node's FLEETUP_DIR.
agent() { FLEETUP_DIR=$node PATH=$path $sh "$AGENT" "$@"; }
dpkg_dash=$(dpkg-query -W -f='${Version}' dash)

inventory_cases() { # $1: 1 when dpkg-query is on the path
    printf 'a\tb"c\\d\n' >"$work/esc"
    printf '%s\t%s\n' bios 'echo " 2.1.0 "; echo second' \
        fails 'echo noise >&2; echo "no such device" >&2; exit 1' \
        empty 'true' esc "cat '$work/esc'" >"$work/inv.in"
    printf 'dash\nfleetup-no-such-package\n' >>"$work/inv.in"
    expect 0 agent inventory <"$work/inv.in"
    DPKG=$1 DV=$dpkg_dash pycheck "$work/out" <<'PY'
import json, os, sys
raw = open(sys.argv[1], "rb").read()
def t(name, cond, got=""): print(("PASS " if cond else "FAIL inventory: ") + name + ("" if cond else " got %r" % (got,)))
try: doc = json.loads(raw)
except ValueError as e: t("valid JSON", False, str(e) + " in " + raw.decode(errors="replace")); sys.exit()
t("no raw control bytes", not any(b < 32 and b not in (9, 10) for b in raw) and b"\t" not in raw)
f = doc.get("facts", {})
t("facts", doc.get("agent") == 1 and f.get("hostname") == os.uname().nodename and f.get("kernel") == os.uname().release
  and f.get("arch") == os.uname().machine and f.get("os") and isinstance(f.get("uptime_s"), int), f)
c = {x["name"]: x for x in doc.get("components", [])}
t("probe version", c.get("bios") == {"name": "bios", "version": "2.1.0", "source": "probe"}, c.get("bios"))
t("probe error", c.get("fails") == {"name": "fails", "error": "probe exited 1: no such device"}, c.get("fails"))
t("empty probe", c.get("empty") == {"name": "empty", "version": None}, c.get("empty"))
t("escaping", c.get("esc", {}).get("version") == 'a\tb"c\\d', c.get("esc"))
want = {"name": "dash", "version": os.environ["DV"], "source": "dpkg"} if os.environ["DPKG"] == "1" else {"name": "dash", "version": None}
t("dpkg version", c.get("dash") == want, c.get("dash"))
t("unknown package", c.get("fleetup-no-such-package") == {"name": "fleetup-no-such-package", "version": None})
t("fwupd", "fwupd" in doc and (doc["fwupd"] is None or isinstance(doc["fwupd"], dict)))
PY
}

push_cases() {
    for code in 0 1 3 7; do
        installer "inst$code" $code
        { hdr "$work/inst$code" "c$code" mode push args "-x  *"; cat "$work/inst$code"; } >"$work/in"
        expect 0 agent install <"$work/in"
        contains "$work/out" "^progress 60 verified$"
        check "install exit $code: result" "$(tail -n 1 "$work/out")" "result $code"
        check "install exit $code: log lines" "$(grep -c '^log ' "$work/out")" 20
        contains "$work/out" "^log env c$code 1.c$code args -x \*$"
        contains "$work/out" "^log step 25$"
        lacks "$work/out" "^log step 6$"
        contains "$work/out" "^log \[31mred\[0m$"
        check "log line cut at 300 bytes" "$(grep '^log xxx' "$work/out" | wc -c | tr -d ' ')" 305
        check "installer's full log kept" "$(grep -c '^step' "$node/log/c$code.log")" 25
    done
    # The same package again, header only: verified on the node, no bytes needed.
    hdr "$work/inst0" c0 >"$work/in"
    expect 0 agent install <"$work/in"
    contains "$work/out" "^progress 60 already on the node$"
    check "reused package: result" "$(tail -n 1 "$work/out")" "result 0"
    # A wrong checksum: refused, nothing kept.
    installer bad 0
    { hdr "$work/bad" cbad | sed "s/^sha256 .*/sha256 $(printf '%064d' 0)/"; cat "$work/bad"; } >"$work/in"
    expect 2 agent install <"$work/in"
    contains "$work/out" "^error checksum mismatch: got $(sha "$work/bad"), want $(printf '%064d' 0)$"
    check "nothing kept after a mismatch" "$(ls -A "$node/pkg" | wc -l | tr -d ' ')" 4 # inst0..7
    check "no scratch directory left" "$(ls -d "$node"/tmp.* 2>/dev/null | wc -l | tr -d ' ')" 0
    # Too few bytes.
    { hdr "$work/bad" cshort; head -c 10 "$work/bad"; } >"$work/in"
    expect 2 agent install <"$work/in"
    contains "$work/out" "^error size mismatch: got 10 bytes, want $(size "$work/bad")$"
    # Stage: kept and verified, not run.
    installer staged 0
    { hdr "$work/staged" cstaged; cat "$work/staged"; } >"$work/in"
    expect 0 agent stage <"$work/in"
    check "stage: result" "$(tail -n 1 "$work/out")" "result 0"
    check "stage: package kept" "$(sha "$node/pkg/$(sha "$work/staged")")" "$(sha "$work/staged")"
    [ ! -e "$node/log/cstaged.log" ] && ok || bad "stage ran the installer"
    # A kept package that no longer verifies is received again.
    printf 'junk' >>"$node/pkg/$(sha "$work/staged")"
    expect 0 agent stage <"$work/in"
    contains "$work/out" "^progress 10 receiving$"
    check "stage again: result" "$(tail -n 1 "$work/out")" "result 0"
    # No room: refused before reading the bytes.
    hdr "$work/staged" cbig | sed 's/^size .*/size 999999999999999/' >"$work/in"
    expect 2 agent stage <"$work/in"
    contains "$work/out" "^error no space for the package in $node/pkg: need 976562500000 KiB"
    # A status URL nobody answers costs nothing but the posts.
    hdr "$work/inst0" c0 status "http://127.0.0.1:$CLOSED/cb/7/node1" token "$TOKEN" >"$work/in"
    expect 0 agent install <"$work/in"
    check "install beside a dead status URL" "$(tail -n 1 "$work/out")" "result 0"
    printf 'component x\nsize 1\nfrobnicate yes\n\n' >"$work/in"
    expect 2 agent stage <"$work/in"
    contains "$work/out" "^error bad header: unknown key 'frobnicate'$"
}

pull_cases() { # $1: curl, wget or busybox (what the node downloads with)
    installer "pull$1" 3
    cp "$work/pull$1" "$work/www/pull$1"
    cb="status http://127.0.0.1:$P/cb/7/node1 token $TOKEN"
    : >"$work/posts"
    hdr "$work/pull$1" "p$1" mode pull url "http://127.0.0.1:$P/pull$1?t=$TOKEN" $cb >"$work/in"
    if [ "$1" = busybox ]; then
        expect 2 agent install <"$work/in"
        contains "$work/out" "^error pull needs curl or GNU wget on the node"
        return 0
    fi
    expect 0 agent install <"$work/in"
    contains "$work/out" "^progress 10 downloading$"
    check "pull ($1): result" "$(tail -n 1 "$work/out")" "result 3"
    lacks "$work/out" "$TOKEN"
    lacks "$work/err" "$TOKEN"
    check "pull ($1): token in no file on the node" "$(grep -rl "$TOKEN" "$node" | wc -l | tr -d ' ')" 0
    check "pull ($1): no scratch directory left" "$(ls -d "$node"/tmp.* 2>/dev/null | wc -l | tr -d ' ')" 0
    contains "$work/posts" "^POST /cb/7/node1 Bearer $TOKEN {\"phase\":\"install\",\"state\":\"running\",\"percent\":10,\"message\":\"downloading\"}$"
    contains "$work/posts" "\"state\":\"done\",\"percent\":100,\"message\":\"not required (already current)\",\"exit_code\":3}$"
    # A missing package: the HTTP failure is named, a failed status posted.
    : >"$work/posts"
    installer gone 0
    hdr "$work/gone" "gone" mode pull url "http://127.0.0.1:$P/missing?t=$TOKEN" $cb >"$work/in"
    expect 2 agent stage <"$work/in"
    case $1 in
    curl) contains "$work/out" "^error download failed: curl exit 22: .*404" ;;
    wget) contains "$work/out" "^error download failed: wget exit 8: .*404" ;;
    esac
    lacks "$work/out" "$TOKEN"
    contains "$work/posts" "\"phase\":\"stage\",\"state\":\"failed\",\"percent\":10,\"message\":\"download failed"
    # HTTPS with fleetup's pinned key; a wrong pin is refused.
    rm -rf "$node/pkg"
    hdr "$work/pull$1" "s$1" mode pull url "https://127.0.0.1:$PS/pull$1?t=$TOKEN" pin "$PIN" >"$work/in"
    if [ "$1" = wget ]; then
        expect 2 agent stage <"$work/in"
        contains "$work/out" "^error https pull needs curl on the node (or set callback_scheme: http)$"
        return 0
    fi
    expect 0 agent stage <"$work/in"
    check "https pull: result" "$(tail -n 1 "$work/out")" "result 0"
    rm -rf "$node/pkg"
    hdr "$work/pull$1" "s$1" mode pull url "https://127.0.0.1:$PS/pull$1?t=$TOKEN" \
        pin "sha256//$(printf '%043d=' 0)" >"$work/in"
    expect 2 agent stage <"$work/in"
    contains "$work/out" "^error download failed: curl exit 90"
}

reach_cases() {
    expect 0 agent reach 127.0.0.1 $P 127.0.0.1 $CLOSED localhost $PS
    contains "$work/out" "^open 127.0.0.1 $P$"
    contains "$work/out" "^blocked 127.0.0.1 $CLOSED connection refused$"
    contains "$work/out" "^open localhost $PS$"
    if [ "$v6" = True ]; then
        expect 0 agent reach ::1 $P ::1 $CLOSED
        check "reach over IPv6" "$(cat "$work/out")" "open ::1 $P
blocked ::1 $CLOSED connection refused"
    fi
    expect 64 agent reach 127.0.0.1
}

shells="dash"
command -v busybox >/dev/null 2>&1 && shells="dash busybox"
for s in $shells; do
    sh=$s path=$PATH node=$work/node-$s
    [ "$s" = busybox ] && sh="busybox sh"
    before=$passes.$fails
    inventory_cases 1
    push_cases
    pull_cases curl
    reach_cases
    expect 64 agent frobnicate
    contains "$work/err" "unknown command 'frobnicate'"
    expect 0 agent version
    check "version" "$(cat "$work/out")" "fleetup-agent 1"
    check "node directory private" "$(stat -c %a "$node" "$node/pkg")" "700
700"
    echo "agent under $sh: $((passes - ${before%.*})) passed, $((fails - ${before#*.})) failed"
done

# Nodes with only busybox's tools (no curl, dpkg, nc -z), then with GNU wget beside them.
if command -v busybox >/dev/null 2>&1; then
    mkdir "$work/bb" "$work/bbwget"
    busybox --install -s "$work/bb"
    kinds=busybox
    if wget --version 2>/dev/null | grep -q 'GNU Wget'; then
        ln -s "$(command -v wget)" "$work/bbwget/wget"
        kinds="busybox bbwget"
    fi
    for s in $kinds; do
        sh="$work/bb/sh" node=$work/node-$s path=$work/bb
        [ "$s" = bbwget ] && path=$work/bbwget:$work/bb
        before=$passes.$fails
        if [ "$s" = busybox ]; then
            inventory_cases 0
            pull_cases busybox
        else
            pull_cases wget
        fi
        reach_cases
        echo "agent with $s tools: $((passes - ${before%.*})) passed, $((fails - ${before#*.})) failed"
    done
fi
finish agent
