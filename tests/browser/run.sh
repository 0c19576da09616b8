#!/bin/sh
# The dashboard's browser test against the mock API: installs playwright-core (npm ci)
# when node_modules is missing, starts mock_api.py on a free port in 18000-18499, runs
# the test (default dashboard_mock.js) with Debian's chromium, stops the mock.
# usage: tests/browser/run.sh [TEST.js]
# env: FLEETUP_ARTIFACTS (screenshots; default ./artifacts), FLEETUP_CHROMIUM.
# exit: 0 passed, 1 failed, 77 skipped (no chromium, node or python3).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
test_js=${1:-dashboard_mock.js}
chromium=${FLEETUP_CHROMIUM:-/usr/bin/chromium}

if [ ! -x "$chromium" ]; then echo "skip: no chromium at $chromium"; exit 77; fi
if ! command -v node >/dev/null 2>&1; then echo "skip: node is not installed"; exit 77; fi
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "skip: playwright-core needs Node.js 20 or later, not $(node -v)"; exit 77
fi
if ! command -v python3 >/dev/null 2>&1; then echo "skip: python3 is not installed"; exit 77; fi

if [ ! -d "$here/node_modules/playwright-core" ]; then
  if ! command -v npm >/dev/null 2>&1; then echo "skip: npm is not installed"; exit 77; fi
  echo "installing playwright-core (npm ci)"
  (cd "$here" && npm ci --no-audit --no-fund) || { echo "FAIL: npm ci in $here"; exit 1; }
fi

FLEETUP_ARTIFACTS=${FLEETUP_ARTIFACTS:-$PWD/artifacts}
mkdir -p "$FLEETUP_ARTIFACTS"
export FLEETUP_ARTIFACTS FLEETUP_CHROMIUM="$chromium"
FLEETUP_TOKEN=mock-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
export FLEETUP_TOKEN

mock_pid=
mock_log="$FLEETUP_ARTIFACTS/mock_api.log"
cleanup() {
  if [ -n "$mock_pid" ]; then
    kill "$mock_pid" 2>/dev/null || true
    wait "$mock_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# A free port: try random ones in 18000-18499 until the mock binds one (it exits 98 when
# the port is taken) and says it listens.
port=
tries=0
while [ -z "$port" ] && [ $tries -lt 25 ]; do
  tries=$((tries + 1))
  p=$((18000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 500))
  : >"$mock_log"
  python3 "$here/mock_api.py" "$p" --token "$FLEETUP_TOKEN" >"$mock_log" 2>&1 &
  mock_pid=$!
  i=0
  while [ $i -lt 100 ]; do
    if grep -q '^listening on' "$mock_log" 2>/dev/null; then port=$p; break; fi
    if ! kill -0 "$mock_pid" 2>/dev/null; then break; fi
    sleep 0.1
    i=$((i + 1))
  done
  if [ -z "$port" ]; then
    kill "$mock_pid" 2>/dev/null || true
    wait "$mock_pid" 2>/dev/null || true
    mock_pid=
  fi
done
if [ -z "$port" ]; then
  echo "FAIL: the mock API did not start on a port in 18000-18499"; cat "$mock_log"; exit 1
fi
echo "mock API on http://127.0.0.1:$port (pid $mock_pid)"

export FLEETUP_URL="http://127.0.0.1:$port"
status=0
timeout 150 node "$here/$test_js" || status=$?
if [ $status -ne 0 ]; then
  echo "browser test failed ($status); mock log: $mock_log; screenshots: $FLEETUP_ARTIFACTS"
  [ $status -eq 77 ] || status=1
fi
exit $status
