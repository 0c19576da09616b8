#!/bin/sh
# fleetup serve as a service: rollouts submitted through the API run side by side; every
# operator command applies or says why not; nothing without the admin token; the live
# feed (SSE), node details and /metrics gauges; a restart resumes the rollouts it was
# running. Simulated nodes (transport sim, real time); loopback only.
# usage: serve_api.sh FLEETUP SOURCE_DIR
set -u
FU=$1
SRC=$2
work=$(mktemp -d)
pid=
H=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; [ -n "$H" ] && sshd_stop "$H"; rm -rf "$work"' EXIT
. "$SRC/tests/integration/lib/assert.sh"
. "$SRC/tests/integration/lib/serve.sh"
command -v curl >/dev/null || { echo "serve_api: curl missing: skipped"; exit 77; }

base=$((17000 + ($$ % 440) * 2))
P=$base
S=$((base + 1))
st="$work/state"
U="https://127.0.0.1:$S/api/v1"

start_serve() { serve_start "$st" $P $S; }

# api METHOD PATH [JSON]: the status in $code, the body in $work/body (admin token).
api() {
    code=$(curl -sk -o "$work/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $TOK" \
        ${3:+-H 'Content-Type: application/json' --data "$3"} "$U$2")
}
# jq_ EXPR: a Python expression over the last body (d); prints its value.
jq_() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($1)" "$work/body"; }
check() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; sed 's/^/    /' "$work/body" >&2; fi; }
# wait_for ID EXPR: polls the rollout until the Python expression over it holds (30 s).
wait_for() {
    i=0
    while :; do
        api GET "/rollouts/$1"
        [ "$(jq_ "$2")" = True ] && return 0
        i=$((i + 1))
        [ $i -gt 150 ] && { bad "rollout $1 never reached: $2"; sed 's/^/    /' "$work/body" | cut -c1-400 >&2; return 1; }
        sleep 0.2
    done
}
started() { jq_ "d['nodes'] - d['counts']['pending']"; }

# Fleet A: 40 nodes, a manual canary, some installs fail. Fleet B: 30 other nodes, slow.
cat >"$work/a.yml" <<'YML'
fleetup: 1
defaults: {transport: sim}
nodes:
  a-[01:40]: {}
baseline:
  components:
    - {name: fw, version: "2.0"}
rollout:
  waves: [1, 100%]
  canary: true
  promote: manual
  concurrency: 4
  retries: 0
  max_fail: 100%
sim:
  seed: 7
  durations: {connect: 20ms, inventory: 50ms, stage: 50ms, install: 300ms, verify: 50ms}
  fail: {install: 20%}
YML
head -c 8000000 /dev/urandom >"$work/fw.bin"
FWSHA=$(sha256sum "$work/fw.bin" | cut -d' ' -f1)
cat >"$work/b.yml" <<YML
fleetup: 1
defaults: {transport: sim}
nodes:
  b-[01:30]: {}
baseline:
  components:
    - {name: fw, version: "2.0", package: $work/fw.bin, sha256: $FWSHA}
rollout:
  waves: [100%]
  concurrency: 2
sim:
  seed: 8
  durations: {connect: 20ms, inventory: 50ms, stage: 50ms, install: 2s, verify: 50ms}
YML
printf 'fleetup: 1\nnodes:\n  x: {transport: sim}\nrollout:\n  waves: [1, 0%%]\n' >"$work/bad.yml"

start_serve
contains "$work/serve.log" "dashboard https://127.0.0.1:$S/"

# --- no admin token, no API: every route and every command
for r in "GET /rollouts" "POST /rollouts" "GET /rollouts/1" "GET /rollouts/1/events" \
         "POST /rollouts/1/pause" "POST /rollouts/1/resume" "POST /rollouts/1/abort" \
         "POST /rollouts/1/promote" "POST /rollouts/1/retry"; do
    set -- $r
    c=$(curl -sk -o /dev/null -w '%{http_code}' -X "$1" "$U$2")
    check "$r without a token" "$c" 401
    c=$(curl -sk -o /dev/null -w '%{http_code}' -X "$1" -H "Authorization: Bearer 0000" "$U$2")
    check "$r with a wrong token" "$c" 403
done
c=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOK" "http://127.0.0.1:$P/api/v1/rollouts")
check "the API is not on the plain port" "$c" 404

# --- submissions that are refused start nothing
api POST /rollouts '{"fleet": "relative.yml"}'
check "relative fleet path" "$code" 400
api POST /rollouts '{"fleet": "/x.yml", "colour": "red"}'
check "unknown field" "$code" 400
contains "$work/body" "unknown field 'colour'"
api POST /rollouts 'not json'
check "not JSON" "$code" 400
api POST /rollouts "{\"fleet\": \"$work/bad.yml\"}"
check "invalid fleet" "$code" 400
contains "$work/body" "bad.yml:5:14: error: a wave size '0%' must be"
api POST /rollouts "{\"fleet\": \"$work/a.yml\", \"limit\": \"zzz*\"}"
check "a limit that selects nothing" "$code" 400
api GET /rollouts
check "nothing was started" "$(jq_ "len(d['rollouts'])")" 0

# --- rollout 1 (A), submitted paused: nothing starts until resume
api POST /rollouts "{\"fleet\": \"$work/a.yml\", \"paused\": true}"
check "submit A" "$code" 201
A=$(jq_ "d['id']")
check "A starts paused" "$(jq_ "d['state']")" paused
sleep 1
api GET "/rollouts/$A"
check "paused: no node started" "$(started)" 0
api POST "/rollouts/$A/promote"
check "promote with no canary waiting" "$code" 409
contains "$work/body" "no canary wave is waiting for promote"
api POST "/rollouts/$A/resume"
check "resume A" "$code" 200
check "resume answer" "$(jq_ "d['state']")" running

# --- rollout 2 (B) beside it; the same nodes twice are refused
api POST /rollouts "{\"fleet\": \"$work/a.yml\"}"
check "A's nodes in a second rollout" "$code" 409
contains "$work/body" "is in rollout $A, which has not finished"
api POST /rollouts "{\"fleet\": \"$work/b.yml\"}"
check "submit B" "$code" 201
B=$(jq_ "d['id']")
api GET /rollouts
check "both listed, newest first" "$(jq_ "[r['id'] for r in d['rollouts']]")" "[$B, $A]"
check "both live" "$(jq_ "all(r['live'] for r in d['rollouts'])")" True

# --- abort B: nodes not past inventory are cancelled; a second abort is refused
api POST "/rollouts/$B/abort"
check "abort B" "$code" 200
wait_for "$B" "d['state'] == 'finished'"
check "B: cancelled nodes" "$(jq_ "d['counts']['cancelled'] > 20")" True
api POST "/rollouts/$B/abort"
check "abort a finished rollout" "$code" 409
api POST "/rollouts/$B/bogus"
check "an unknown command" "$code" 404

# --- the canary: A waits for promote, then runs on
wait_for "$A" "d['state'] == 'awaiting-promote'"
check "canary: one node ended" "$(jq_ "d['waves'][0]['ended']")" 1
api POST "/rollouts/$A/resume"
check "resume does not pass the canary gate" "$code" 409
api POST "/rollouts/$A/promote"
check "promote A" "$code" 200

# --- pause stops new starts, nodes in flight finish; resume
api POST "/rollouts/$A/pause"
check "pause A" "$code" 200
api POST "/rollouts/$A/pause"
check "pause twice" "$code" 409
sleep 1 # nodes in flight (300 ms installs) end
api GET "/rollouts/$A"
s1=$(started)
check "paused: nothing in flight" "$(jq_ "d['in_flight']")" 0
sleep 1.5
api GET "/rollouts/$A"
check "paused: no new start in 1.5 s" "$(started)" "$s1"
api POST "/rollouts/$A/resume"
check "resume A again" "$code" 200

# --- A finishes with failures; retry puts the failed nodes back
wait_for "$A" "d['state'] == 'finished'"
failed=$(jq_ "d['counts']['failed']")
[ "$failed" -gt 0 ] && ok || bad "fleet A was meant to have failed installs"
api GET "/rollouts/$A/nodes"
fnode=$(jq_ "[n[0] for n in d['nodes'] if n[1] == 'failed'][0]")
check "node rows carry the reason" "$(jq_ "all(n[7] for n in d['nodes'] if n[1] == 'failed')")" True
# A's failed nodes in another rollout (A2, allowed: A has finished): A's retry waits
api POST /rollouts "{\"fleet\": \"$work/a.yml\"}"
check "A's fleet again once A finished" "$code" 201
A2=$(jq_ "d['id']")
api POST "/rollouts/$A/retry"
check "retry while another rollout drives the nodes" "$code" 409
contains "$work/body" "is now in rollout $A2, which has not finished"
api POST "/rollouts/$A2/abort"
wait_for "$A2" "d['state'] == 'finished'"
api POST "/rollouts/$A/retry"
check "retry A" "$code" 200
contains "$work/body" "retry applied"
wait_for "$A" "d['state'] == 'finished'"
api GET "/rollouts/$A/nodes/$fnode"
check "node detail" "$code" 200
contains "$work/body" "retried by the operator"
check "the node was tried again" "$(jq_ "sum(1 for t in d['transitions'] if t['to'] == 'active/install') >= 2")" True
api GET "/rollouts/$A/nodes/nobody"
check "an unknown node" "$code" 404
api GET /rollouts/999
check "an unknown rollout" "$code" 404

# --- a node token gets its own rollout's packages, not another rollout's
TA=$("$FU" token a-01 --rollout "$A" --state-dir "$st")
TB=$("$FU" token b-01 --rollout "$B" --state-dir "$st")
c=$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TA" "https://127.0.0.1:$S/pkg/$FWSHA")
check "rollout A's token for B's package" "$c" 404
c=$(curl -sk -o "$work/dl0" -w '%{http_code}' -H "Authorization: Bearer $TB" "https://127.0.0.1:$S/pkg/$FWSHA")
check "rollout B's token for B's package" "$c" 200
cmp -s "$work/dl0" "$work/fw.bin" && ok || bad "B's package downloaded whole"

# --- the live feed: a rollout event, then a snapshot of every node
curl -sk -N -m 2 -H "Authorization: Bearer $TOK" "$U/rollouts/$A/events" >"$work/sse" 2>/dev/null
contains "$work/sse" "^event: rollout"
contains "$work/sse" "^event: nodes"
python3 - "$work/sse" <<'PY' && ok || bad "the snapshot holds all 40 nodes"
import json, sys
rows = []
ev = None
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("event: "): ev = line[7:]
    elif line.startswith("data: ") and ev == "nodes": rows += json.loads(line[6:])["rows"]
assert len({r[0] for r in rows}) == 40, len(rows)
PY

# --- metrics: rollout, wave and node-state gauges
curl -sk -H "Authorization: Bearer $TOK" "https://127.0.0.1:$S/metrics" >"$work/metrics"
contains "$work/metrics" "fleetup_rollout_state{rollout=\"$A\",state=\"finished\"} 1"
contains "$work/metrics" "fleetup_rollout_nodes{rollout=\"$A\",state=\"done\"}"
contains "$work/metrics" "fleetup_wave_nodes{rollout=\"$A\",wave=\"2\",state=\"done\"}"
contains "$work/metrics" "fleetup_rollouts{state=\"finished\"} 3"

# --- SSH nodes through the service: a failed installer's reason and the agent's log tail
if [ -x /usr/sbin/sshd ] && command -v ssh-keygen >/dev/null 2>&1; then
    . "$SRC/tests/integration/lib/sshd.sh"
    H=$work/h
    SP=$((17900 + $$ % 100))
    if sshd_start "$H" $SP 2; then
        sshd_nodes_dirs "$H" 2 1.0
        echo 7 >"$H/nodes/127.1.0.2/exit-code"
        cat >"$work/app.sh" <<'SH'
#!/bin/sh
code=0
[ -f "$NODE_DIR/exit-code" ] && read -r code <"$NODE_DIR/exit-code"
if [ "$code" = 7 ]; then
    echo "checking the device"
    echo "error: firmware image rejected by the device (code 0x2a)"
    exit 7
fi
echo "$FLEETUP_VERSION" >"$NODE_DIR/version"
SH
        cat >"$work/ssh.yml" <<YML
fleetup: 1
defaults: {user: $(id -un), port: $SP, key_file: $H/ssh/id_ed25519, known_hosts: $H/ssh/known_hosts}
nodes:
  s-[1:2]: {address: '127.1.0.[1:2]'}
baseline:
  components:
    - name: app
      version: "2.0"
      probe: cat "\$NODE_DIR/version"
      package: $work/app.sh
      sha256: $(sha256sum "$work/app.sh" | cut -d' ' -f1)
rollout: {waves: [100%], max_fail: 100%, timeouts: {connect: 20s, install: 60s}}
YML
        api POST /rollouts "{\"fleet\": \"$work/ssh.yml\"}"
        check "submit the SSH fleet" "$code" 201
        SSHR=$(jq_ "d['id']")
        wait_for "$SSHR" "d['state'] == 'finished'"
        check "SSH: one done, one failed" "$(jq_ "(d['counts']['done'], d['counts']['failed'])")" "(1, 1)"
        api GET "/rollouts/$SSHR/nodes/s-2"
        contains "$work/body" "installer exited 7"
        check "the agent's log tail" "$(jq_ "'error: firmware image rejected by the device (code 0x2a)' in d['log_tail']")" True
        check "the node's last status post" "$(jq_ "(d['last_status'] or {}).get('phase')")" install
        cat "$H/nodes/127.1.0.1/version" >"$work/v1"
        contains "$work/v1" "^2.0$"
        sshd_stop "$H"
    else
        bad "sshd did not start on port $SP"
    fi
    H=
fi

# --- a restart resumes the rollouts the service was running
# (the simulated nodes keep their versions by fleet index: C asks for a newer one)
sed -e 's/b-\[01:30\]/c-[01:30]/' -e 's/"2.0"/"3.0"/' "$work/b.yml" >"$work/c.yml"
api POST /rollouts "{\"fleet\": \"$work/c.yml\"}"
check "submit C" "$code" 201
C=$(jq_ "d['id']")
sleep 1
api POST "/rollouts/$C/pause"
check "pause C before the restart" "$code" 200
# D: a canary waiting for promote, paused by the operator meanwhile
sed -e 's/a-\[01:40\]/d-[01:20]/' -e 's/"2.0"/"4.0"/' "$work/a.yml" >"$work/d.yml"
api POST /rollouts "{\"fleet\": \"$work/d.yml\"}"
check "submit D" "$code" 201
D=$(jq_ "d['id']")
wait_for "$D" "d['state'] == 'awaiting-promote'"
api POST "/rollouts/$D/pause"
check "pause D at its canary gate" "$code" 200
# a slow download of B's package (4 s) is in progress when serve is told to stop
curl -sk --limit-rate 2M -o "$work/dl1" -w '%{http_code}' -H "Authorization: Bearer $TB" \
    "https://127.0.0.1:$S/pkg/$FWSHA" >"$work/dlcode" &
cpid=$!
sleep 1
kill -TERM $pid
wait $pid
check "serve exits 0 on SIGTERM" "$?" 0
wait $cpid
check "a download in progress at SIGTERM" "$(cat "$work/dlcode")" 200
cmp -s "$work/dl1" "$work/fw.bin" && ok || bad "the download across SIGTERM is whole"
pid=
[ -e "$st/serve.json" ] && bad "serve.json left behind" || ok
start_serve
# (a resumed rollout starts once its packages are hashed, after serve.json is written)
wait_for "$C" "d['live']"
contains "$work/serve.log" "rollout $C resumed"
check "C is live again, still paused" "$(jq_ "(d['live'], d['state'])")" "(True, 'paused')"
s1=$(started)
sleep 1
api GET "/rollouts/$C"
check "paused C starts nothing after the restart" "$(started)" "$s1"
# after the restart D is paused (the operator's pause), and its canary gate still holds
wait_for "$D" "d['live'] and d['state'] == 'paused'"
api POST "/rollouts/$D/resume"
check "resume D after the restart" "$code" 200
check "D's canary gate held over the restart" "$(jq_ "d['state']")" awaiting-promote
api POST "/rollouts/$D/promote"
check "promote D" "$(jq_ "(d['state'])")" running
api POST "/rollouts/$D/abort"
api GET "/rollouts/$B"
check "B (finished) is journaled only" "$(jq_ "(d['live'], d['state'])")" "(False, 'finished')"
api POST "/rollouts/$B/retry"
check "a command on a rollout not live" "$code" 409
api POST "/rollouts/$C/abort"
check "abort C" "$code" 200
kill -TERM $pid
wait $pid
pid=
lacks "$work/serve.log" "$TOK"
finish serve_api
