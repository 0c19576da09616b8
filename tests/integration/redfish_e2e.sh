#!/bin/sh
# End to end over Redfish: fleetup deploy against fleetsim's simulated iLOs.
#  1. pull: 200 BMCs download both baseline images from fleetup's server (SimpleUpdate),
#     all done; curl reads the new versions back from the BMCs; report and fleetsim agree.
#  2. push: 200 fresh BMCs get the images pushed (multipart), nothing is downloaded.
#  3. faults: every fault kind on a few of 80 BMCs under budgets that never halt: exactly
#     the faulty BMCs fail (or are unreachable), each with a reason naming its cause.
#  4. budgets: 5xx on 30% halts a rollout at max_fail, refusals at max_unreachable; the
#     next wave is never started (fleetsim sees no login from it).
# Loopback only; ports below the ephemeral range, derived from $$ and moved on when
# taken; every wait is bounded; fleetsim is always stopped by its PID.
# usage: redfish_e2e.sh FLEETUP SOURCE_DIR (fleetsim sits next to FLEETUP)
set -u
FU=$1
SRC=$2
SIM="$(dirname "$FU")/fleetsim"
[ -x "$SIM" ] || { echo "SKIP: $SIM not built"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl missing"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 missing"; exit 77; }

work=$(mktemp -d)
pid=""
# fleetsim runs under timeout(1), which passes our SIGTERM on and ends it at the latest
# after 150 s even if this script is killed with -9. --foreground: without it timeout
# sends the SIGTERM a second time to its process group, and fleetsim dies of a second
# signal before its summary line.
cleanup() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 1' INT TERM
. "$SRC/tests/integration/lib/assert.sh"
check() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }

# Below 32768, Linux's ephemeral ports: thousands of connections (this test's own too)
# leave TIME_WAIT sockets on ports above, and one of those keeps a listener off its port.
# 20000-25999 here, in blocks of 4 (see http_server.sh).
BASE=$((20000 + ($$ % 1500) * 4))
SIMPORT=$BASE
FUPORT=$((BASE + 1))
FUSSL=$((BASE + 2))
next_ports() {
    BASE=$((BASE + 4 * 997))
    [ $BASE -ge 25996 ] && BASE=$((BASE - 6000))
    SIMPORT=$BASE FUPORT=$((BASE + 1)) FUSSL=$((BASE + 2))
}

ILO_PKG=$SRC/inventories/packages/ilo5-3.10.fwpkg
ROM_PKG=$SRC/inventories/packages/system-rom-u46-2.10.fwpkg
MIB_PER_BMC=$(( $(wc -c <"$ILO_PKG") + $(wc -c <"$ROM_PKG") ))

# fleet NAME DEFAULTS ROLLOUT: a native fleet over fleetsim's inventory in $work/NAME/.
fleet() {
    mkdir -p "$work/$1"
    cat >"$work/$1/fleet.yml" <<YML
fleetup: 1
server: {bind: 127.0.0.1}
defaults: {$2}
inventory: $work/$1/bmcs.yml
baseline:
  name: e2e
  components:
    - name: ilo-firmware
      version: "3.10"
      match: 'iLO [0-9]+'
      applies_to: [ilo]
      package: $ILO_PKG
      sha256: b364cea20d39522d22ada6118e0756614e0fef45a22b0123d7b9694483b41b09
    - name: system-rom
      version: U46 v2.10 (03/01/2024)
      version_pattern: 'v([0-9]+\.[0-9]+)'
      match: 'System ROM'
      applies_to: [ilo]
      package: $ROM_PKG
      sha256: 8017ee7323489ea7f6e02f5406dfee64d2819f38df806dc2dd87cd1c3f4631c8
      after: [ilo-firmware]
rollout:
$3
YML
}

# sim_start NAME FLAGS...: fleetsim for fleet NAME; waits (bounded) for its inventory.
sim_start() {
    d=$work/$1; shift
    tries=0
    while :; do
        rm -f "$d/bmcs.yml"
        timeout --foreground -k 15 150 "$SIM" --port "$SIMPORT" --baseline "$d/fleet.yml" --flash-time 300ms --flash-spread 0 \
            --state-dir "$d/sim" --write-inventory "$d/bmcs.yml" "$@" 2>"$d/sim.log" &
        pid=$!
        i=0
        while [ ! -s "$d/bmcs.yml" ] && kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
            i=$((i + 1)); sleep 0.1
        done
        [ -s "$d/bmcs.yml" ] && break
        kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""
        tries=$((tries + 1))
        if grep -q "Address already in use" "$d/sim.log" && [ $tries -lt 5 ]; then
            next_ports; continue
        fi
        echo "FAIL: fleetsim did not write its inventory:" >&2; cat "$d/sim.log" >&2; exit 1
    done
    PW=$(cat "$d/bmcs.yml.password")
}

# sim_stop NAME: SIGTERM, a bounded wait, exit 0; its summary line goes to $work/NAME/summary.
sim_stop() {
    kill -TERM "$pid"
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do i=$((i + 1)); sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        bad "$1: fleetsim still runs 10 s after SIGTERM"
        pkill -KILL -P "$pid"
    fi
    wait "$pid"
    check "$1: fleetsim exits 0 at SIGTERM" "$?" 0
    pid=""
    grep '^fleetsim: [0-9]* BMCs, ' "$work/$1/sim.log" >"$work/$1/summary"
    check "$1: one summary line" "$(wc -l <"$work/$1/summary" | tr -d ' ')" 1
}

# deploy NAME WANT_RC: the rollout (bounded), its JSON report in $work/NAME/report.json,
# the nodes with their labels in $work/NAME/nodes.json.
deploy() {
    d=$work/$1
    tries=0
    while :; do
        timeout 45 "$FU" deploy "$d/fleet.yml" --state-dir "$d/state" --port "$FUPORT" \
            --ssl-port "$FUSSL" --quiet >"$d/out" 2>"$d/err"
        rc=$?
        tries=$((tries + 1))
        # our package server's ports taken by someone else: nothing was recorded, move on
        if [ $rc -eq 2 ] && grep -q "package server cannot start" "$d/err" && [ $tries -lt 5 ]; then
            FUPORT=$((FUPORT + 4 * 991)) FUSSL=$((FUSSL + 4 * 991))
            [ $FUSSL -ge 25999 ] && FUPORT=$((FUPORT - 6000)) FUSSL=$((FUSSL - 6000))
            continue
        fi
        break
    done
    if [ $rc -eq "$2" ]; then ok; else
        bad "$1: deploy exited $rc (want $2)"; sed 's/^/    /' "$d/out" "$d/err" >&2
    fi
    "$FU" report 1 --format json --state-dir "$d/state" >"$d/report.json" 2>"$d/report.err"
    check "$1: report exits 0" "$?" 0
    "$FU" nodes "$d/fleet.yml" --json >"$d/nodes.json"
    check "$1: nodes exits 0" "$?" 0
}

# fw NAME BMC MEMBER: the Version of a firmware member, read by curl from the BMC itself.
fw() {
    curl -sk -m 5 -u "admin:$PW" \
        "https://127.2.0.$2:$SIMPORT/redfish/v1/UpdateService/FirmwareInventory/$3" |
        sed -n 's/.*"Version":"\([^"]*\)".*/\1/p'
}

# ---- 1. pull mode: 200 BMCs download their images from fleetup's server
fleet pull "" "  waves: [10, 100%]
  concurrency: 200
  timeouts: {connect: 10s, inventory: 20s, install: 30s, verify: 20s}"
sim_start pull --nodes 200
t0=$(date +%s)
deploy pull 0
contains "$work/pull/out" "200 done, 0 already current, 0 failed, 0 unreachable, 0 not started"
for b in 1 10 11 137 200; do
    check "pull: bmc $b iLO" "$(fw pull $b 1)" "3.10"
    check "pull: bmc $b System ROM" "$(fw pull $b 2)" "U46 v2.10 (03/01/2024)"
    check "pull: bmc $b NIC untouched" "$(fw pull $b 3)" "14.28.22"
done
python3 - "$work/pull/report.json" <<'PY' && ok || bad "pull: report.json"
import json, sys
r = json.load(open(sys.argv[1]))
n = r["nodes"]
assert r["state"] == "finished" and r["reason"] is None, (r["state"], r["reason"])
assert r["summary"]["done"] == 200 and len(n) == 200, r["summary"]
bad = [x for x in n if x["state"] != "done" or x["phase"] != "verify" or x["reason"]]
assert not bad, bad[:3]
assert [x["wave"] for x in n].count(1) == 10 and [x["wave"] for x in n].count(2) == 190
PY
sim_stop pull
mib=$(awk -v b=$MIB_PER_BMC 'BEGIN { printf "%.1f", b * 200 / 1048576 }')
contains "$work/pull/summary" "^fleetsim: 200 BMCs, [0-9]* requests, 200 logins, updates: 400 started 400 done 0 failed, 0 resets, $mib MiB downloaded 0.0 MiB pushed, faults: none$"

# ---- 2. push mode: the same over MultipartHttpPushUri, nothing downloaded
fleet push "callback: push" "  waves: [10, 100%]
  concurrency: 200
  timeouts: {connect: 10s, inventory: 20s, install: 30s, verify: 20s}"
sim_start push --nodes 200
deploy push 0
contains "$work/push/out" "200 done, 0 already current, 0 failed, 0 unreachable, 0 not started"
check "push: bmc 1 iLO" "$(fw push 1 1)" "3.10"
check "push: bmc 200 System ROM" "$(fw push 200 2)" "U46 v2.10 (03/01/2024)"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["summary"]["done"]==200 and all(x["state"]=="done" for x in r["nodes"])' \
    "$work/push/report.json" && ok || bad "push: every node done in report.json"
sim_stop push
contains "$work/push/summary" "^fleetsim: 200 BMCs, [0-9]* requests, 200 logins, updates: 400 started 400 done 0 failed, 0 resets, 0.0 MiB downloaded $mib MiB pushed, faults: none$"

# ---- 3. every fault kind, budgets that never halt, no retries
# "slow" is merely slow: every answer 250 ms late keeps each phase well within its
# timeout (connect: 4 requests in 1 s of 3 s), so a slow BMC must end done, not failed.
# "hang" never answers: the connect phase times out (3 s) and the BMC is unreachable.
# "refuse": in address mode fleetsim's one listener accepts and resets at once (a real
# ECONNREFUSED needs --ports): the reset reaches fleetup at connect or during the TLS
# handshake (then writing the ClientHello may see EPIPE first); every variant must be a
# "connect to ADDR:PORT" failure that makes the BMC unreachable, never a TLS failure.
fleet faults "" "  waves: 100%
  max_fail: {total: 100%}
  max_unreachable: 100%
  retries: 0
  timeouts: {connect: 3s, inventory: 10s, install: 20s, verify: 10s}"
sim_start faults --nodes 80 --seed 3 --slow-delay 250ms \
    --fault refuse=3 --fault hang=3 --fault slow=3 --fault 5xx=3 --fault auth=3 \
    --fault corrupt=3 --fault exception=3 --fault nochange=3
"$FU" nodes "$work/faults/fleet.yml" --limit fleetsim_fault=hang >"$work/out" 2>&1
check "faults: --limit fleetsim_fault=hang" "$(grep -c '^bmc-' "$work/out")" \
    "$(grep -c 'fleetsim_fault: hang}' "$work/faults/bmcs.yml")"
deploy faults 1
sim_stop faults
contains "$work/faults/summary" "faults: refuse=3 hang=3 slow=3 5xx=3 auth=3 corrupt=3 exception=3 nochange=3$"
python3 - "$work/faults" "$SIMPORT" <<'PY' >"$work/faults/check" 2>&1 && ok || { bad "faults: report against the injected faults"; sed 's/^/    /' "$work/faults/check" >&2; }
import json, re, sys
d, port = sys.argv[1], sys.argv[2]
report = json.load(open(d + "/report.json"))
nodes = {n["name"]: n for n in json.load(open(d + "/nodes.json"))}
# A BMC may have several kinds; the first that bites decides (fleetsim's own order:
# accept, answer, login, SimpleUpdate, download, flash, version).
order = ["refuse", "hang", "auth", "5xx", "corrupt", "exception", "nochange", "slow"]
want = {
    "refuse": ("unreachable", "connect", r"^connect: connect to {addr}:{port}: (connection reset by peer|connection refused|broken pipe)( during the TLS handshake)?$"),
    "hang": ("unreachable", "connect", r"^connect: timed out after 3000 ms$"),
    "auth": ("failed", "connect", r"^connect: auth: login: HTTP 401: .*Base\.1\.8\.ResourceAtUriUnauthorized: Login failed"),
    "5xx": ("failed", "install", r"^install: ilo-firmware: SimpleUpdate: HTTP 500: .*Base\.1\.8\.InternalError: "),
    "corrupt": ("failed", "install", r"^install: ilo-firmware: update task failed: Image checksum mismatch: the image is corrupted \(SHA-256 b364cea20d39522d"),
    "exception": ("failed", "install", r"^install: ilo-firmware: update task failed: Flash failed: write error on iLO 5"),
    "nochange": ("failed", "verify", r"^verify: ilo-firmware is 2\.90 Jan 01 2025 after install, want 3\.10$"),
    "slow": ("done", "verify", None),
    None: ("done", "verify", None),
}
seen = {k: 0 for k in order}
errors = []
for r in report["nodes"]:
    n = nodes[r["name"]]
    kinds = n["labels"].get("fleetsim_fault", "").split("+")
    kind = next((k for k in order if k in kinds), None)
    if kind:
        seen[kind] += 1
    state, phase, reason = want[kind]
    got = (r["state"], r["phase"])
    if got != (state, phase):
        errors.append(f"{r['name']} ({kind}): {got}, want {(state, phase)}: {r['reason']}")
    elif reason is None and r["reason"]:
        errors.append(f"{r['name']} ({kind}): a reason when done: {r['reason']}")
    elif reason and not re.search(reason.format(addr=re.escape(n["address"]), port=port), r["reason"] or ""):
        errors.append(f"{r['name']} ({kind}): reason {r['reason']!r} does not match {reason!r}")
missing = [k for k in order if seen[k] == 0]
if missing:
    errors.append(f"no BMC shows {missing} (masked by other kinds: pick another --seed)")
s = report["summary"]
fails = sum(seen[k] for k in ("auth", "5xx", "corrupt", "exception", "nochange"))
unre = seen["refuse"] + seen["hang"]
if (s["failed"], s["unreachable"], s["done"]) != (fails, unre, 80 - fails - unre):
    errors.append(f"summary {s}, want failed {fails} unreachable {unre}")
if len(report["nodes"]) != 80:
    errors.append(f"{len(report['nodes'])} nodes in the report")
print("\n".join(errors) if errors else f"ok {seen}")
print(f"{80 - fails - unre} done, 0 already current, {fails} failed, {unre} unreachable, 0 not started",
      file=open(d + "/want", "w"))
sys.exit(1 if errors else 0)
PY
want=$(cat "$work/faults/want" 2>/dev/null)
if [ -n "$want" ]; then contains "$work/faults/out" "$want"; else bad "faults: no expected summary"; fi
lacks "$work/faults/out" "stopped:"
"$FU" report 1 --format csv --state-dir "$work/faults/state" >"$work/faults/csv"
contains "$work/faults/csv" '^bmc-[0-9]*,1,failed,verify,0,[0-9]*,"verify: ilo-firmware is 2.90 Jan 01 2025 after install, want 3.10"$'
contains "$work/faults/csv" '^bmc-[0-9]*,1,unreachable,connect,0,[0-9]*,connect: timed out after 3000 ms$'

# ---- 4. the budgets count them: 5xx on 30% halts at max_fail 5%, wave 2 never starts
fleet budget "" "  waves: [40, 100%]
  max_fail: {total: 5%}
  retries: 0
  timeouts: {connect: 3s, inventory: 10s, install: 20s, verify: 10s}"
sim_start budget --nodes 100 --fault 5xx=30%
deploy budget 1
contains "$work/budget/out" "stopped: max_fail for the rollout exceeded: 6 failed of 100 nodes"
sim_stop budget
# no BMC of wave 2 was ever logged into; the failed ones never started an update
contains "$work/budget/summary" "^fleetsim: 100 BMCs, [0-9]* requests, 40 logins, updates: \([0-9]*\) started \1 done 0 failed"
python3 - "$work/budget" <<'PY' >"$work/budget/check" 2>&1 && ok || { bad "budget: report"; sed 's/^/    /' "$work/budget/check" >&2; }
import json, sys
d = sys.argv[1]
r = json.load(open(d + "/report.json"))
faulty = {n["name"] for n in json.load(open(d + "/nodes.json")) if "5xx" in n["labels"].get("fleetsim_fault", "")}
w1 = [n for n in r["nodes"] if n["wave"] == 1]
w2 = [n for n in r["nodes"] if n["wave"] == 2]
assert len(w1) == 40 and len(w2) == 60, (len(w1), len(w2))
f1 = {n["name"] for n in w1 if n["name"] in faulty}
assert len(f1) > 5, f"only {len(f1)} 5xx BMCs in wave 1: the budget cannot be exceeded (pick another --seed)"
assert r["reason"].startswith("max_fail for the rollout exceeded"), r["reason"]
failed = {n["name"] for n in r["nodes"] if n["state"] == "failed"}
assert failed == f1, (sorted(failed ^ f1))
assert all("SimpleUpdate: HTTP 500" in n["reason"] for n in w1 if n["name"] in f1)
assert all(n["state"] == "done" for n in w1 if n["name"] not in f1)
bad = [n for n in w2 if n["state"] != "cancelled" or n["reason"] != "not started: the rollout halted"]
assert not bad, bad[:3]
assert r["summary"]["failed"] == len(f1) and r["summary"]["cancelled"] == 60, r["summary"]
PY

# ... and refusals count against max_unreachable, apart from failures
fleet unreach "" "  waves: [40, 100%]
  max_fail: {total: 100%}
  max_unreachable: 5%
  retries: 0
  timeouts: {connect: 3s, inventory: 10s, install: 20s, verify: 10s}"
sim_start unreach --nodes 100 --fault refuse=30%
deploy unreach 1
contains "$work/unreach/out" "stopped: max_unreachable exceeded: 6 unreachable of 100 nodes"
contains "$work/unreach/out" ", 0 failed, [0-9]* unreachable, 60 not started"
sim_stop unreach
contains "$work/unreach/summary" "^fleetsim: 100 BMCs, [0-9]* requests, [0-9]* logins, updates: \([0-9]*\) started \1 done 0 failed"
python3 - "$work/unreach" <<'PY' >"$work/unreach/check" 2>&1 && ok || { bad "unreach: report"; sed 's/^/    /' "$work/unreach/check" >&2; }
import json, sys
d = sys.argv[1]
r = json.load(open(d + "/report.json"))
refused = {n["name"] for n in json.load(open(d + "/nodes.json")) if "refuse" in n["labels"].get("fleetsim_fault", "")}
w1 = {n["name"]: n for n in r["nodes"] if n["wave"] == 1}
unre = {k for k, n in w1.items() if n["state"] == "unreachable"}
assert unre == refused & set(w1), sorted(unre ^ (refused & set(w1)))
assert len(unre) > 5, f"only {len(unre)} refusing BMCs in wave 1 (pick another --seed)"
assert all(n["reason"].startswith("connect: connect to ") for k, n in w1.items() if k in unre)
assert all(n["state"] == "done" for k, n in w1.items() if k not in unre)
assert all(n["state"] == "cancelled" for n in r["nodes"] if n["wave"] == 2)
assert r["summary"]["unreachable"] == len(unre) and r["summary"]["failed"] == 0, r["summary"]
PY

echo "redfish_e2e: $(($(date +%s) - t0)) s of rollouts"
finish redfish_e2e
