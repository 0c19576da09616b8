#!/bin/sh
# The dashboard in headless Chromium (Debian's chromium, driven by playwright-core from
# npm) during a running fleetsim rollout submitted to `fleetup serve`:
# tests/browser/dashboard_e2e.js checks live counts, a filter and the search, a failed
# node's reason, pause stopping new starts, resume and abort. Then the mock-backed test
# (tests/browser/dashboard_mock.js: 10,000 nodes, frame timing). Screenshots are kept in
# $FLEETUP_ARTIFACTS (default: artifacts/dashboard under ctest's working directory).
# Loopback only: fleetsim on ports 18600-18699, serve on 18700-18799.
# usage: dashboard_e2e.sh FLEETUP SOURCE_DIR (fleetsim sits next to FLEETUP)
set -u
FU=$1
SRC=$2
SIM="$(dirname "$FU")/fleetsim"
B="$SRC/tests/browser"
work=$(mktemp -d)
pid=
spid=
trap '[ -n "$spid" ] && kill -TERM $spid 2>/dev/null; [ -n "$pid" ] && kill -TERM $pid 2>/dev/null; sleep 0.5; rm -rf "$work"' EXIT
. "$SRC/tests/integration/lib/assert.sh"
. "$SRC/tests/integration/lib/fleetsim.sh"
. "$SRC/tests/integration/lib/serve.sh"

for tool in node curl python3; do
    command -v $tool >/dev/null || { echo "dashboard_e2e: $tool missing: skipped"; exit 77; }
done
[ -x "${FLEETUP_CHROMIUM:-/usr/bin/chromium}" ] || { echo "dashboard_e2e: no chromium: skipped"; exit 77; }
[ -x "$SIM" ] || { echo "dashboard_e2e: no fleetsim next to $FU: skipped"; exit 77; }
# playwright-core 1.65 needs Node.js 20 or later (Debian 12's own nodejs is 18).
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    echo "dashboard_e2e: Node.js $(node -v) is older than 20, which playwright-core needs: skipped"
    exit 77
fi
if [ ! -d "$B/node_modules/playwright-core" ]; then
    command -v npm >/dev/null || { echo "dashboard_e2e: npm missing: skipped"; exit 77; }
    (cd "$B" && npm ci --no-audit --no-fund --loglevel=error) || { echo "FAIL: npm ci in $B" >&2; exit 1; }
fi
FLEETUP_ARTIFACTS=${FLEETUP_ARTIFACTS:-$PWD/artifacts/dashboard}
mkdir -p "$FLEETUP_ARTIFACTS"
export FLEETUP_ARTIFACTS

# The fleet: fleetsim's 200 iLOs, the make-run baseline, six BMCs whose flash fails.
sed -n '/^baseline:/,/^rollout:/p' "$SRC/inventories/fleetsim.yml" | sed '$d' |
    sed "s|package: packages/|package: $SRC/inventories/packages/|" >"$work/baseline.yml"
{
    printf 'fleetup: 1\nserver: {bind: 127.0.0.1}\ninventory: bmcs.yml\n'
    cat "$work/baseline.yml"
    printf 'rollout:\n  waves: [1, 10%%, 100%%]\n  concurrency: 24\n  max_fail: 50%%\n'
    printf '  retries: 0\n  timeouts: {connect: 30s, install: 2m, verify: 2m}\n'
} >"$work/fleet.yml"
fleetsim_start "$work" 18600 18700 --nodes 200 --baseline "$work/fleet.yml" --flash-time 2s \
    --fault exception=6 --seed 5
spid=$pid

S=$((18700 + $$ % 99))
serve_start "$work/st" $((S + 1)) $S

# browse JS LOG WHAT: runs tests/browser/JS against the rollout $ID (170 s at most).
browse() {
    if FLEETUP_URL="https://127.0.0.1:$S" FLEETUP_TOKEN="$TOK" FLEETUP_ROLLOUT="$ID" \
        timeout -k 5 170 node "$B/$1" >"$work/$2" 2>&1; then ok; else bad "$3"; fi
    sed 's/^/    /' "$work/$2"
    lacks "$work/$2" "$TOK"
}
serve_submit $S "$work/fleet.yml"
browse dashboard_e2e.js e2e.log "the dashboard against a fleetsim rollout"

# 10,000 simulated nodes on the same service: the real snapshot and batches, smoothly.
cat >"$work/big.yml" <<'YML'
fleetup: 1
defaults: {transport: sim}
groups:
  web: {vars: {labels: {role: web}}}
nodes:
  n-r[01:40]-[0001:0250]: {groups: [web]}
baseline:
  components:
    - {name: fw, version: "2.0"}
rollout: {waves: [100%], concurrency: 400, max_fail: 100%, max_unreachable: 100%}
sim:
  seed: 3
  durations: {connect: 50ms, inventory: 200ms, stage: 300ms, install: 3s, verify: 200ms}
  fail: {install: 2%}
YML
serve_submit $S "$work/big.yml"
browse dashboard_10k.js 10k.log "the dashboard with 10,000 nodes on the real service"
curl -sk -o /dev/null -X POST -H "Authorization: Bearer $TOK" "https://127.0.0.1:$S/api/v1/rollouts/$ID/abort"
kill -TERM $pid
wait $pid
[ $? -eq 0 ] && ok || bad "serve did not exit 0 on SIGTERM"
pid=
pid=$spid
fleetsim_stop dashboard_e2e
spid=

# The dashboard alone with 10,000 nodes (mock API): smoothness and the rest of the UI.
if sh "$B/run.sh" >"$work/mock.log" 2>&1; then ok; else bad "the dashboard against the mock API (10,000 nodes)"; fi
sed 's/^/    /' "$work/mock.log" | tail -n 25
finish dashboard_e2e
