#!/bin/sh
# The service's command-line client (status, submit, pause, resume, abort, promote,
# retry) against a stand-in of the API (lib/mock_service.py: HTTPS, self-signed, every
# request recorded): the exact method, path and Authorization header sent, the status
# table and one rollout's view, --json as is, each operator command, 409/404/401/403,
# a wrong pin refused before anything is sent, no serve.json, a refused port, --timeout,
# and the token never printed. Loopback only; ports 18500-18999.
# usage: client_cli.sh FLEETUP SOURCE_DIR
set -u
FU=$1
SRC=$2
. "$SRC/tests/integration/lib/assert.sh"
need openssl python3 timeout
work=$(mktemp -d)
mock=""
cleanup() { [ -n "$mock" ] && kill "$mock" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 1' INT TERM

st="$work/state"
mkdir -m 700 "$st"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=fleetup-mock \
    -keyout "$st/tls.key" -out "$st/tls.crt" 2>"$work/openssl.err" || { cat "$work/openssl.err"; exit 1; }
FP=$(openssl x509 -in "$st/tls.crt" -noout -fingerprint -sha256 | sed 's/.*=//')
TOKEN=$(openssl rand -hex 32)
printf '%s\n' "$TOKEN" >"$st/admin.token"
chmod 600 "$st/admin.token"

# 18500-18999 is this test's; the mock takes the first free port from a start that
# differs between runs, so two runs side by side do not collide.
base=$((18500 + $$ % 40 * 10))
log="$work/requests.jsonl"
: >"$log"
timeout 120 python3 "$SRC/tests/integration/lib/mock_service.py" --cert "$st/tls.crt" --key "$st/tls.key" \
    --token-file "$st/admin.token" --log "$log" --ready "$work/ready" --ports "$base-18999" \
    --force "$work/force.json" 2>"$work/mock.err" &
mock=$!
wait_file "$work/ready" "$mock" "$work/mock.err" "the mock service"
PORT=$(cat "$work/ready")
serve_json() { # serve_json DIR PID SSL_PORT FINGERPRINT
    printf '{"pid": %s, "port": 1, "ssl_port": %s, "bind": ["0.0.0.0", "::"], "tls_sha256": "%s"}\n' \
        "$2" "$3" "$4" >"$1/serve.json"
}
serve_json "$st" "$mock" "$PORT" "$FP"

# Every client run is bounded and its output kept, to show at the end that no output
# ever held the token.
fu() { timeout 30 "$FU" "$@"; }
run() { expect "$@"; cat "$work/out" "$work/err" >>"$work/all"; }
nreq() { wc -l <"$log" | tr -d ' '; }
# req N METHOD PATH [BODY_JSON]: the Nth recorded request (1-based; -1 the last) was
# METHOD PATH with the admin token as bearer (and, for a body, that JSON as application/json).
req() {
    python3 - "$log" "$TOKEN" "$@" <<'PY' && ok || bad "request $2 $3 $4 ${5:-}"
import json, sys
log, token, n, method, path = sys.argv[1:6]
reqs = [json.loads(l) for l in open(log)]
r = reqs[int(n) - 1 if int(n) > 0 else int(n)]
assert (r["method"], r["path"]) == (method, path), r
assert r["authorization"] == "Bearer " + token, "authorization header"
if len(sys.argv) > 6:
    assert r["content_type"] == "application/json", r
    assert json.loads(r["body"]) == json.loads(sys.argv[6]), r["body"]
else:
    assert r["body"] == "", r
PY
}

# --- status: the table, then --json as the server sent it
run 0 fu status --state-dir "$st"
req 1 GET /api/v1/rollouts
contains "$work/out" "^ *ID  STATE  *LIVE  *NODES  *DONE  *FAILED  *UNREACH  *ACTIVE  *PENDING  *WAVE  *FLEET$"
contains "$work/out" "^ *3  running  *yes  *120  *47  *20  *5  *8  *40  *2/3  */srv/fleets/dc1.yml$"
contains "$work/out" "^ *4  finished  *no  *2  *2  *0  *0  *0  *0  *1/1  */srv/fleets/lab.yml$"
run 0 fu status --json --state-dir "$st"
python3 - "$SRC/tests/integration/lib" "$work/out" <<'PY' && ok || bad "status --json is not the server's answer as is"
import json, sys
sys.path.insert(0, sys.argv[1])
import mock_service as m
assert open(sys.argv[2]).read() == json.dumps({"rollouts": [m.ROLLOUT, m.FINISHED]}) + "\n"
PY

# --- one rollout: counts, waves, failed nodes (the first 20, then how many more)
n=$(nreq)
run 0 fu status 3 --state-dir "$st"
req $((n + 1)) GET /api/v1/rollouts/3
req $((n + 2)) GET /api/v1/rollouts/3/nodes
contains "$work/out" "^rollout 3  running$"
contains "$work/out" "^fleet: */srv/fleets/dc1.yml  --limit rack1\*$"
contains "$work/out" "^counts: *done 40, skipped 7, failed 20, unreachable 5, active 5, waiting 2, retry 1, pending 40$"
contains "$work/out" "^nodes: *120 in 3 waves, wave 2 now, 8 in flight$"
contains "$work/out" "^time: *started .*, elapsed 2m05s$"
contains "$work/out" "^policy: *mode barrier, concurrency 512, promote manual, waves 1, 5%, 100%$"
contains "$work/out" "^  wave 1/3  done  *1 node   done 1$"
contains "$work/out" "^  wave 2/3  open  *59 nodes  done 46, failed 20, unreachable 5, active 5$"
contains "$work/out" "^  wave 3/3  pending  *60 nodes  pending 60$"
contains "$work/out" "^  bmc-f00  *failed  *install  *HTTP 500 on node 0$"
contains "$work/out" "^  bmc-f19  *failed  *install  *HTTP 500 on node 19$"
lacks "$work/out" "bmc-u00"
lacks "$work/out" "bmc-0001"
contains "$work/out" "^  \.\.\. and 5 more"
n=$(nreq)
run 0 fu status 3 --json --state-dir "$st"
[ "$(nreq)" -eq $((n + 1)) ] && ok || bad "status ID --json asked more than the rollout"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["id"] == 3 and j["policy"]["mode"] == "barrier"' \
    "$work/out" && ok || bad "status 3 --json"
n=$(nreq)
run 0 fu status 4 --state-dir "$st"
[ "$(nreq)" -eq $((n + 1)) ] && ok || bad "status of a rollout without failures asked for its nodes"
contains "$work/out" "^reason: *every node ended$"
contains "$work/out" "^nodes: *2 in 1 wave$"
contains "$work/out" "^time: *started .*, finished "
lacks "$work/out" "no process drives it"
run 0 fu status 6 --state-dir "$st"
contains "$work/out" "^rollout 6  interrupted (no process drives it)$"
contains "$work/out" "'fleetup deploy --resume 6"
run 2 fu status 9 --state-dir "$st"
req -1 GET /api/v1/rollouts/9
contains "$work/err" "no rollout 9 (HTTP 404"

# --- submit: the absolute path, --limit, --paused; the server's diagnostics on 400
printf 'fleetup: 1\nnodes:\n  a:\n' >"$work/dc.yml"
cp "$work/dc.yml" "$work/bad.yml"
ABS=$(cd "$work" && pwd -P)/dc.yml
run 0 sh -c 'cd "$1" && timeout 30 "$2" submit dc.yml --limit "rack1*" --paused --state-dir state' sh "$work" "$FU"
req -1 POST /api/v1/rollouts "{\"fleet\": \"$ABS\", \"limit\": \"rack1*\", \"paused\": true}"
contains "$work/out" "^rollout 7 submitted: 120 nodes in 3 waves, paused"
run 0 fu submit "$work/dc.yml" --state-dir "$st" --json
req -1 POST /api/v1/rollouts "{\"fleet\": \"$ABS\", \"paused\": false}"
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["id"] == 7' "$work/out" && ok || bad "submit --json"
run 2 fu submit "$work/bad.yml" --state-dir "$st"
contains "$work/err" "the fleet file does not load"
contains "$work/err" "bad.yml:4:11: error: unknown node type 'lnux'"
n=$(nreq)
run 2 fu submit "$work/nothing.yml" --state-dir "$st"
contains "$work/err" "nothing.yml: No such file or directory"
[ "$(nreq)" -eq "$n" ] && ok || bad "submit of a missing file reached the server"

# --- operator commands: each one's path, no body, the server's message; 409 is exit 1
for c in pause resume abort promote retry; do
    run 0 fu $c 3 --state-dir "$st"
    req -1 POST /api/v1/rollouts/3/$c
    contains "$work/out" "^rollout 3: $c applied; now [a-z]*$"
done
run 1 fu promote 4 --state-dir "$st"
req -1 POST /api/v1/rollouts/4/promote
contains "$work/err" "refused: rollout 4 is finished: promote does not apply"
run 0 fu retry 4 --state-dir "$st" --json
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["command"] == "retry"' "$work/out" && ok || bad "retry --json"
run 2 fu pause 12 --state-dir "$st"
contains "$work/err" "no rollout 12"

# --- the token: another state dir's is refused (403), none (401) says what to do
other="$work/other"
mkdir -m 700 "$other"
openssl rand -hex 32 >"$other/admin.token"
chmod 600 "$other/admin.token"
serve_json "$other" "$mock" "$PORT" "$FP"
run 1 fu status --state-dir "$other"
contains "$work/err" "refused the admin token (HTTP 403: wrong admin token)"
contains "$work/err" "--state-dir"
printf '{"status": 401, "body": {"error": "no admin token: send Authorization: Bearer TOKEN"}}' >"$work/force.json"
run 1 fu pause 3 --state-dir "$st"
contains "$work/err" "refused the admin token (HTTP 401: no admin token"
rm -f "$work/force.json"
chmod 644 "$st/admin.token"
run 0 fu status --state-dir "$st"
contains "$work/err" "warning: .*admin.token is open to other users (mode 0644): chmod 600"
chmod 600 "$st/admin.token"
notoken="$work/notoken"
mkdir -m 700 "$notoken"
serve_json "$notoken" "$mock" "$PORT" "$FP"
run 2 fu status --state-dir "$notoken"
contains "$work/err" "cannot read the admin token $notoken/admin.token: No such file or directory"

# --- pinning: a wrong fingerprint is refused before any request; the right one as an
# override (lower-case hex) works without serve.json
n=$(nreq)
run 1 fu status --state-dir "$st" --fingerprint "$(printf '00:%.0s' $(seq 31))00"
contains "$work/err" "does not match the pinned one"
contains "$work/err" "Nothing was sent"
serve_json "$other" "$mock" "$PORT" "$(printf 'AB:%.0s' $(seq 31))AB"
run 1 fu pause 3 --state-dir "$other"
contains "$work/err" "does not match the pinned one"
[ "$(nreq)" -eq "$n" ] && ok || bad "a request reached a server whose certificate is not the pinned one"
bare="$work/bare"
mkdir -m 700 "$bare"
cp "$st/admin.token" "$bare/"
run 2 fu status --state-dir "$bare"
contains "$work/err" "no $bare/serve.json: 'fleetup serve' is not running with --state-dir $bare"
contains "$work/err" "--server HOST\[:PORT\] and --fingerprint SHA256"
HEX=$(printf '%s' "$FP" | tr -d : | tr 'A-F' 'a-f')
run 0 fu status 4 --state-dir "$bare" --server "127.0.0.1:$PORT" --fingerprint "$HEX"
req -1 GET /api/v1/rollouts/4
run 2 fu status --state-dir "$bare" --fingerprint nothex
contains "$work/err" "no SHA-256 fingerprint"

# --- nobody listening (serve.json of a serve that died), and a server that does not answer
sh -c 'exit 0' &
dead=$!
wait $dead
closed=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
serve_json "$bare" "$dead" "$closed" "$FP"
run 1 fu status --state-dir "$bare"
contains "$work/err" "connect to 127.0.0.1:$closed: connection refused"
contains "$work/err" "names process $dead, which is not running"
start=$(date +%s)
run 1 fu status 5 --state-dir "$st" --timeout 1s
contains "$work/err" "timeout"
contains "$work/err" "--timeout D waits longer"
[ $(($(date +%s) - start)) -lt 5 ] && ok || bad "--timeout 1s took $(($(date +%s) - start)) s"

# --- usage
run 2 fu pause --state-dir "$st"
contains "$work/err" "expects one rollout ID"
run 2 fu resume x --state-dir "$st"
run 2 fu status 3 4 --state-dir "$st"
run 2 fu status --paused --state-dir "$st"
contains "$work/err" "--paused is an option of 'fleetup submit'"
run 2 fu status --state-dir "$st" --server '[::1'
run 0 fu help submit
contains "$work/out" "admin.token"
contains "$work/out" "serve.json"
run 0 fu --help
contains "$work/out" "promote"

lacks "$work/all" "$TOKEN"
finish client_cli
