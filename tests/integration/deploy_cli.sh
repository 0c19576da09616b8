#!/bin/sh
# plan, deploy, history and report as an operator uses them: exit codes, refusals that
# change nothing, a failing rollout's reports, a manual canary promoted by --resume.
# usage: deploy_cli.sh FLEETUP SOURCE_DIR
set -u
FU=$1
SRC=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$SRC/tests/integration/lib/assert.sh"

# plan touches nothing and shows the waves.
expect 0 "$FU" plan "$SRC/inventories/datacenter.yml"
contains "$work/out" "71 nodes in 4 waves (barrier mode, at most 64 in flight, at most 8 per rack)"
contains "$work/out" "wave 1: 1 node (canary)"
contains "$work/out" "ilo-firmware -> 3.10, system-rom -> U46 v2.10 (03/01/2024), then reboot"
expect 0 "$FU" plan --json --limit ilo "$SRC/inventories/datacenter.yml"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert sum(len(w['nodes']) for w in d['waves'])==32" "$work/out" && ok || bad "plan --json"

# Refusals: an invalid policy, a transport this build cannot drive; nothing is created.
cat >"$work/badpolicy.yml" <<'YML'
fleetup: 1
nodes:
  a: {transport: sim}
rollout:
  waves: [1, 0%]
YML
expect 2 "$FU" deploy "$work/badpolicy.yml" --state-dir "$work/st0"
contains "$work/err" "badpolicy.yml:5:14: error: a wave size '0%' must be a percentage above 0% and at most 100%"
[ -e "$work/st0" ] && bad "a refused deploy created its state directory" || ok
printf 'fleetup: 1\nnodes:\n  a: {transport: local}\n' >"$work/local.yml"
expect 2 "$FU" deploy "$work/local.yml" --state-dir "$work/st0"
contains "$work/err" "uses the local transport, which this build cannot drive yet"
expect 2 "$FU" deploy --resume 7 --state-dir "$work/st0"
expect 2 "$FU" history --state-dir "$work/nowhere"
contains "$work/err" "no journal"
expect 2 "$FU" deploy
expect 2 "$FU" deploy --resume x

# A rollout with failures: exit 1, failures in the reports, halted by its budget.
cat >"$work/faulty.yml" <<'YML'
fleetup: 1
defaults: {transport: sim}
nodes:
  n[01:40]:
baseline:
  components:
    - {name: bios, version: "2.0"}
rollout:
  waves: 10
  max_fail: 2
sim:
  seed: 4
  time: virtual
  fail: {install: 0.5}
YML
expect 1 "$FU" deploy "$work/faulty.yml" --state-dir "$work/st1" --quiet
contains "$work/out" "stopped: max_fail for the rollout exceeded: 3 failed of 40 nodes"
expect 0 "$FU" report 1 --state-dir "$work/st1" --format junit
# the ten nodes of wave 1 were all in flight: the two beyond the budget finish and count
contains "$work/out" 'failures="5"'
expect 0 "$FU" report 1 --state-dir "$work/st1" --format csv
contains "$work/out" "^node,wave,state,phase,attempts,finished_at_ms,reason"
contains "$work/out" "failed,install,0,.*installer exited 2"
expect 0 "$FU" report 1 --state-dir "$work/st1" --format html -o "$work/r.html"
contains "$work/r.html" "<svg"
contains "$work/r.html" "max_fail for the rollout exceeded"
expect 2 "$FU" report 1 --state-dir "$work/st1" --format pdf
expect 2 "$FU" report 9 --state-dir "$work/st1"

# A manual canary: the CLI stops after wave 1; --resume --promote finishes.
cat >"$work/canary.yml" <<'YML'
fleetup: 1
defaults: {transport: sim}
nodes:
  c[1:9]:
baseline:
  components:
    - {name: bios, version: "2.0"}
rollout:
  waves: [1, 100%]
  canary: true
  promote: manual
sim: {time: virtual}
YML
expect 1 "$FU" deploy "$work/canary.yml" --state-dir "$work/st2" --quiet
contains "$work/out" "fleetup deploy --resume 1 --promote"
expect 0 "$FU" deploy --resume 1 --promote --state-dir "$work/st2" --quiet
contains "$work/out" "rollout 1 finished"
contains "$work/out" "9 done"

# A rollout started with --transport sim --virtual-time resumes the same way: the hint
# deploy prints works as printed.
sed -e '/^defaults:/d' -e '/^sim:/d' "$work/canary.yml" >"$work/canary2.yml"
expect 1 "$FU" deploy "$work/canary2.yml" --transport sim --virtual-time --state-dir "$work/st3" --quiet
contains "$work/out" "fleetup deploy --resume 1 --promote"
expect 0 "$FU" deploy --resume 1 --promote --state-dir "$work/st3" --quiet
contains "$work/out" "9 done"
expect 2 "$FU" deploy --resume 1 --limit c1 --state-dir "$work/st3"
contains "$work/err" "takes no --limit"

# One process per state directory.
cat >"$work/slow.yml" <<'YML'
fleetup: 1
defaults: {transport: sim}
nodes:
  s[1:4]:
baseline:
  components:
    - {name: bios, version: "2.0"}
sim:
  spread: 0
  durations: {connect: 0, inventory: 0, stage: 0, install: 3s, activate: 0, verify: 0}
YML
"$FU" deploy "$work/slow.yml" --state-dir "$work/st4" --quiet >/dev/null 2>&1 &
first=$!
sleep 0.5
expect 2 "$FU" deploy "$work/slow.yml" --state-dir "$work/st4" --quiet
contains "$work/err" "another fleetup (pid $first) is running a rollout"
wait "$first"
check_rc=$?
[ "$check_rc" -eq 0 ] && ok || bad "the first deploy ended with $check_rc"

finish deploy_cli
