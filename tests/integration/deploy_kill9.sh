#!/bin/sh
# The real binary, killed with -9 in the middle of a rollout, then resumed: the journal
# shows the rollout unfinished, the resume completes it, no node ends twice and no
# component is installed twice on the (persisted) simulated nodes.
# usage: deploy_kill9.sh FLEETUP SOURCE_DIR
set -u
FU=$1
command -v sqlite3 >/dev/null 2>&1 || { echo "SKIP: sqlite3 missing (tools/setup.sh installs it)"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
passes=0
check() { # check WHAT GOT WANT
    if [ "$2" = "$3" ]; then passes=$((passes + 1)); else echo "FAIL: $1: got '$2', want '$3'" >&2; fails=$((fails + 1)); fi
}

cat >"$work/fleet.yml" <<'YML'
fleetup: 1
defaults: {transport: sim}
nodes:
  node[001:120]:
    labels: {rack: r1}
baseline:
  components:
    - {name: bios, version: "2.10", reboot: true}
    - {name: nic, version: "22.41", after: [bios]}
rollout:
  waves: [1, 20%, 100%]
  concurrency: 20
sim:
  seed: 9
  spread: 0.3
  durations: {connect: 20ms, inventory: 50ms, stage: 100ms, install: 300ms, activate: 200ms, verify: 50ms}
  current: 10%
YML
st="$work/state"
"$FU" deploy "$work/fleet.yml" --state-dir "$st" --quiet >"$work/out1" 2>&1 &
pid=$!
sleep 2
kill -9 "$pid"
wait "$pid" 2>/dev/null
q() { sqlite3 "$st/$1" "$2"; }
check "rollout left unfinished" "$(q journal.db 'SELECT state FROM rollouts WHERE id = 1')" "running"
ended=$(q journal.db 'SELECT count(*) FROM rollout_nodes WHERE rollout = 1 AND state >= 4')
[ "$ended" -gt 0 ] && [ "$ended" -lt 120 ] && passes=$((passes + 1)) ||
    { echo "FAIL: the kill did not land mid-rollout ($ended of 120 nodes had ended)" >&2; fails=$((fails + 1)); }

"$FU" deploy --resume 1 --state-dir "$st" --quiet >"$work/out2" 2>&1
check "resume exit code" "$?" "0"
check "nodes not ended" "$(q journal.db 'SELECT count(*) FROM rollout_nodes WHERE rollout = 1 AND state < 4')" "0"
check "nodes ended twice" "$(q journal.db 'SELECT count(*) FROM (SELECT idx FROM transitions WHERE rollout = 1 AND to_state >= 4 GROUP BY idx HAVING count(*) > 1)')" "0"
check "components installed twice" "$(q sim-world.db 'SELECT count(*) FROM installed WHERE installs > 1')" "0"
check "components installed" "$(q sim-world.db 'SELECT count(*) FROM installed WHERE installs = 1')" \
    "$(q journal.db "SELECT 2 * count(*) FROM rollout_nodes WHERE rollout = 1 AND state = 4")"
check "rollout finished" "$(q journal.db 'SELECT state FROM rollouts WHERE id = 1')" "finished"
grep -q "rollout 1 finished" "$work/out2" && passes=$((passes + 1)) || { echo "FAIL: no summary" >&2; cat "$work/out2" >&2; fails=$((fails + 1)); }

# Reports of the resumed rollout.
"$FU" report 1 --state-dir "$st" --format junit >"$work/junit.xml"
check "junit exit" "$?" "0"
grep -q 'failures="0"' "$work/junit.xml" && passes=$((passes + 1)) || { echo "FAIL: junit failures" >&2; fails=$((fails + 1)); }
check "html report written" "$(test -s "$st/rollout-1.html" && echo yes)" "yes"
"$FU" history --state-dir "$st" --json >"$work/history.json"
grep -q '"state":"finished"' "$work/history.json" && passes=$((passes + 1)) || { echo "FAIL: history" >&2; fails=$((fails + 1)); }

echo "deploy_kill9: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
