#!/bin/sh
# fleetup inventory as an operator uses it:
#  1. refusals: bad flags and an invalid fleet exit 2 with a message, and contact nothing;
#  2. simulated nodes (sim transport): the table's counts and the JSON's agree with the
#     sim's draws (all current, all outdated, n/a by applies_to), unreachable nodes with
#     their reason, --limit, CSV quoting, --timeout, Ctrl-C (exit 130, what was gathered);
#  3. a bare Ansible inventory (no baseline): the facts table, a row per node;
#  4. real SSH nodes (an sshd on loopback, when there is one): the facts of this machine's
#     OS in the table and the JSON;
#  5. fleetsim's Redfish BMCs: current/outdated/newer/missing per component as each BMC
#     itself says (read back with curl), BMCs that refuse connections or logins
#     unreachable with their reason, and fleetsim's own inventory in facts mode.
# Loopback only; fleetsim on ports 19600-19689 and sshd on 19690-19699 (this test's
# range); every wait is bounded; fleetsim and sshd are stopped by their PIDs.
# usage: inventory_cli.sh FLEETUP SOURCE_DIR (fleetsim sits next to FLEETUP)
set -u
FU=$1
SRC=$2
SIM="$(dirname "$FU")/fleetsim"
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 missing"; exit 77; }

work=$(mktemp -d)
pid=""
sshd_dir=""
cleanup() {
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
    [ -n "$sshd_dir" ] && sshd_stop "$sshd_dir"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
. "$SRC/tests/integration/lib/assert.sh"
. "$SRC/tests/integration/lib/fleetsim.sh"
check() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }
# jq-like: py FILE EXPR prints EXPR over the JSON document d
py() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
# row NAME: the table row of component NAME from $work/out, its counts only
row() { sed -n "s/^$1  *[^ ].*  *\([0-9][0-9]*  *[0-9][0-9]*  *[0-9][0-9]*  *[0-9][0-9]*  *[0-9][0-9]*  *[0-9][0-9]*  *[0-9][0-9]*\)\$/\1/p" "$work/out" | tr -s ' '; }

# ---- 1. refusals
cat >"$work/sim.yml" <<'YML'
fleetup: 1
defaults: {transport: sim}
groups:
  db: {}
nodes:
  web[01:30]:
  db[1:10]:
    groups: [db]
baseline:
  name: b1
  components:
    - {name: bios, version: "2.0"}
    - name: "nic,fw"
      version: '1.0 "b"'
      applies_to: {groups: [db]}
sim:
  seed: 7
  durations: {connect: 20ms, inventory: 50ms}
  current: 0%
YML
expect 2 "$FU" inventory "$work/sim.yml" --bogus
contains "$work/err" "unknown option '--bogus'"
expect 2 "$FU" inventory "$work/sim.yml" --json
contains "$work/err" "'--json' needs a value"
expect 2 "$FU" inventory "$work/sim.yml" --concurrency 0
contains "$work/err" "--concurrency takes a whole number"
expect 2 "$FU" inventory "$work/sim.yml" --timeout soon
contains "$work/err" "--timeout takes seconds"
expect 2 "$FU" inventory "$work/sim.yml" --progress loud
contains "$work/err" "--progress is auto, tty, plain or none"
expect 2 "$FU" inventory "$work/sim.yml" --transport ssh
expect 2 "$FU" inventory "$work/sim.yml" --json - --csv -
expect 2 "$FU" inventory
contains "$work/err" "expects exactly one FLEET"
expect 2 "$FU" inventory "$work/sim.yml" --limit nosuch --json "$work/never.json"
contains "$work/err" "'nosuch' matches no node or group"
[ -e "$work/never.json" ] && bad "a refused inventory wrote its --json file" || ok
cat >"$work/bad.yml" <<'YML'
fleetup: 1
nodes:
  a: {transport: sim}
rollout:
  timeouts: {connect: never}
YML
expect 2 "$FU" inventory "$work/bad.yml" --json "$work/never.json"
contains "$work/err" "bad.yml:5:23: error: a timeout 'never' is not a duration"
[ -e "$work/never.json" ] && bad "an invalid fleet wrote its --json file" || ok
printf 'fleetup: 1\nnodes:\n  a: {transport: local}\n' >"$work/local.yml"
expect 2 "$FU" inventory "$work/local.yml"
contains "$work/err" "node 'a' uses the local transport, which this build cannot drive yet"

# ---- 2. simulated nodes
# every node outdated (current: 0%); nic,fw applies to the 10 db nodes only
expect 0 "$FU" inventory "$work/sim.yml" --progress none --json "$work/s.json" --csv "$work/s.csv"
contains "$work/out" "inventory of 40 nodes (.*sim.yml, baseline b1): 40 answered, 0 unreachable, 0 failed"
check "sim: bios row" "$(row bios)" "0 40 0 0 0 0 0"
check "sim: nic,fw row" "$(row 'nic,fw')" "0 10 0 0 30 0 0"
contains "$work/out" "^  bios 2.0: 40 outdated, 0 missing$"
contains "$work/out" "^    \.\.\. and 20 more$"
check "sim: json" "$(py "$work/s.json" "[[d['components'][0][k] for k in ('current', 'outdated', 'n/a', 'unreachable')], d['components'][1]['n/a'], d['nodes'][0]]")" \
    "[[0, 40, 0, 0], 30, {'name': 'web01', 'address': 'web01', 'type': 'linux', 'state': 'ok', 'reason': None, 'components': {'bios': {'installed': '0', 'baseline': '2.0', 'status': 'outdated'}, 'nic,fw': {'installed': '0', 'baseline': '1.0 \"b\"', 'status': 'n/a'}}, 'facts': None}]"
# CSV: the comma in the name and the quotes in the version are quoted, RFC 4180
contains "$work/s.csv" '^node,component,installed,baseline,status,state,reason$'
contains "$work/s.csv" '^db1,"nic,fw",0,"1.0 ""b""",outdated,ok,$'
check "sim: csv rows" "$(python3 -c 'import csv,sys; r=list(csv.reader(open(sys.argv[1]))); print(len(r), {len(x) for x in r}, r[-1])' "$work/s.csv")" \
    "81 {7} ['db10', 'nic,fw', '0', '1.0 \"b\"', 'outdated', 'ok', '']"

# all current, a share unreachable: the table, the JSON and the sim's draws agree
sed -e 's/current: 0%/current: 100%/' -e 's/seed: 7/seed: 7\n  unreachable: 25%/' "$work/sim.yml" >"$work/cur.yml"
expect 1 "$FU" inventory "$work/cur.yml" --progress none --json "$work/c.json"
unre=$(py "$work/c.json" "d['summary']['unreachable']")
[ "$unre" -gt 2 ] && [ "$unre" -lt 20 ] && ok || bad "sim: $unre of 40 unreachable at 25% (pick another seed)"
check "sim: bios row, all current" "$(row bios)" "$((40 - unre)) 0 0 0 0 $unre 0"
check "sim: json agrees, unreachable reasons" "$(py "$work/c.json" "(d['components'][0]['current'], d['components'][0]['unreachable'], d['summary']['ok'], {n['reason'] for n in d['nodes'] if n['state'] == 'unreachable'})")" \
    "($((40 - unre)), $unre, $((40 - unre)), {'connect: connection refused (simulated)'})"
contains "$work/out" "^unreachable or failed: $unre$"
contains "$work/out" "^  [a-z0-9]*  *unreachable  connect: connection refused (simulated)$"

# --limit: a group and a glob, the rest never asked
expect 0 "$FU" inventory "$work/sim.yml" --progress none --limit 'db:web0*' --json -
check "sim: --limit" "$(py "$work/out" "(d['summary']['nodes'], [n['name'] for n in d['nodes']][8:11])")" \
    "(19, ['web09', 'db1', 'db2'])"
lacks "$work/out" "inventory of"

# --timeout over hanging nodes: failed with the reason, within the time
sed 's/current: 0%/hang: {inventory: 100%}/' "$work/sim.yml" >"$work/hang.yml"
t0=$(date +%s)
expect 1 "$FU" inventory "$work/hang.yml" --progress plain --timeout 0.4 --limit 'db'
[ $(($(date +%s) - t0)) -le 5 ] && ok || bad "--timeout 0.4 took $(($(date +%s) - t0)) s"
check "sim: bios row, timed out" "$(row bios)" "0 0 0 0 0 0 10"
contains "$work/out" "^  db1  *failed  *inventory: timed out after 400 ms (--timeout)$"
contains "$work/err" "inventory: done 0  unreachable 0  failed 10  in flight 0  pending 0"

# Ctrl-C: nodes in flight cancelled, what was gathered printed, exit 130
sed 's/inventory: 50ms/inventory: 3s/' "$work/sim.yml" >"$work/slow.yml"
"$FU" inventory "$work/slow.yml" --concurrency 5 --progress none --json "$work/i.json" >"$work/out" 2>"$work/err" &
fu=$!
sleep 4.5 # the first five answer at 3 s, the next five would at 6 s
kill -INT $fu
wait $fu
check "sim: SIGINT exit" "$?" 130
contains "$work/err" "Interrupt: stopping; 5 nodes in flight cancelled"
check "sim: SIGINT json" "$(py "$work/i.json" "(d['summary']['interrupted'], d['summary']['ok'], d['summary']['cancelled'], d['nodes'][5]['reason'], d['nodes'][39]['reason'])")" \
    "(True, 5, 35, 'interrupted before it answered', 'interrupted before it was asked')"
contains "$work/out" "5 answered, 0 unreachable, 0 failed, 35 not inventoried (interrupted)"

# ---- 3. a bare Ansible inventory: no baseline, the facts table
cat >"$work/hosts.yml" <<'YML'
all:
  children:
    web:
      hosts:
        w[1:3]:
        "db,1": {ansible_host: 127.0.0.9}
YML
expect 0 "$FU" inventory "$work/hosts.yml" --transport sim --progress none --csv "$work/h.csv"
contains "$work/out" "inventory of 4 nodes (.*hosts.yml, no baseline: facts): 4 answered"
contains "$work/out" "^NODE  STATE  OS  VERSION  KERNEL  ARCH  UPTIME  FWUPD$"
check "facts: a row per node" "$(grep -c '^[a-z0-9,]*  *ok  *-  *-  *-  *-  *-  *-$' "$work/out")" 4
contains "$work/out" "^        4  (no facts)$"
check "facts: csv" "$(cat "$work/h.csv")" 'node,component,installed,baseline,status,state,reason
w1,,,,,ok,
w2,,,,,ok,
w3,,,,,ok,
"db,1",,,,,ok,'

# ---- 4. real SSH nodes (lib/sshd.sh, one sshd on loopback): the facts each OS gives
if [ -x "${SSHD_BIN:-/usr/sbin/sshd}" ] && command -v ssh-keygen >/dev/null 2>&1; then
    . "$SRC/tests/integration/lib/sshd.sh"
    sshd_dir=$work/ssh
    SSHPORT=$((19690 + $$ % 10))
    if sshd_start "$sshd_dir" "$SSHPORT" 3 >"$work/sshd.out" 2>&1; then
        sshd_nodes_dirs "$sshd_dir" 3 1.0
        sshd_fleet "$sshd_dir" "$SSHPORT" 3 "$work/ssh.yml"
        sed '/^baseline:/,$d' "$work/ssh.yml" >"$work/ssh-bare.yml"
        expect 0 timeout 30 "$FU" inventory "$work/ssh-bare.yml" --progress none --json "$work/ssh.json"
        sshd_stop "$sshd_dir"
        os=$(. /etc/os-release && echo "$NAME $VERSION_ID")
        check "ssh: facts" "$(py "$work/ssh.json" "sorted({(n['state'], n['facts']['os'] + ' ' + n['facts']['os_version'], n['facts']['kernel'], n['facts']['arch']) for n in d['nodes']})")" \
            "[('ok', '$os', '$(uname -r)', '$(uname -m)')]"
        row_re=$(. /etc/os-release && echo "^node-[1-3]  ok  *$NAME  *$VERSION_ID  *$(uname -r)  *$(uname -m)  ")
        check "ssh: facts rows" "$(grep -c "$row_re" "$work/out")" 3
        contains "$work/out" "^        3  $os$"
    else
        bad "ssh: sshd did not start"; sed 's/^/    /' "$work/sshd.out" >&2
    fi
    sshd_dir=""
else
    echo "note: no sshd: part 4 (SSH facts) not run"
fi

# ---- 5. fleetsim: Redfish BMCs
[ -x "$SIM" ] || { echo "SKIP (part 5): $SIM not built"; finish inventory_cli; exit; }
command -v curl >/dev/null 2>&1 || { echo "SKIP (part 5): curl missing"; finish inventory_cli; exit; }
cat >"$work/rf.yml" <<YML
fleetup: 1
inventory: $work/bmcs.yml
baseline:
  name: rf
  components:
    - {name: ilo-firmware, version: "3.10", match: 'iLO [0-9]+', sha256: $(printf '1%.0s' $(seq 64))}
    - name: system-rom
      version: U46 v2.10 (03/01/2024)
      version_pattern: 'v([0-9]+\.[0-9]+)'
      match: 'System ROM'
      sha256: $(printf '2%.0s' $(seq 64))
    - {name: nic, version: "14.0", match: 'HPE Ethernet.*', sha256: $(printf '3%.0s' $(seq 64))}
    - {name: gpu, version: "1.0", match: 'GPU.*', sha256: $(printf '4%.0s' $(seq 64))}
    - {name: generic-bmc, version: "9.9", applies_to: [bmc], sha256: $(printf '5%.0s' $(seq 64))}
YML
fleetsim_start "$work" 19600 19690 --nodes 24 --baseline "$work/rf.yml" --current 0.5 \
    --fault refuse=3 --fault auth=2 --seed 2

expect 1 timeout 30 "$FU" inventory "$work/rf.yml" --progress plain --json "$work/rf.json" --csv "$work/rf.csv"
cp "$work/out" "$work/rf.out"
"$FU" nodes "$work/rf.yml" --json >"$work/nodes.json"
# every reachable BMC's own versions, read by curl, decide what each status must be
for b in $(seq 1 24); do
    v=$(curl -sk -m 5 -u "admin:$PW" "https://127.2.0.$b:$PORT/redfish/v1/UpdateService/FirmwareInventory/1" |
        sed -n 's/.*"Version":"\([^"]*\)".*/\1/p')
    echo "bmc-$(printf %05d "$b") ${v:-none}"
done >"$work/versions"
python3 - "$work" "$PORT" <<'PY' >"$work/check" 2>&1 && ok || { bad "fleetsim: inventory against the BMCs"; sed 's/^/    /' "$work/check" >&2; }
import json, re, sys
w, port = sys.argv[1], sys.argv[2]
d = json.load(open(w + "/rf.json"))
labels = {n["name"]: n["labels"] for n in json.load(open(w + "/nodes.json"))}
seen = dict(l.split(" ", 1) for l in open(w + "/versions").read().splitlines())
err = []
count = {}
for n in d["nodes"]:
    name = n["name"]
    faults = labels[name].get("fleetsim_fault", "").split("+")
    # a failed connect, refused or refused a login, is unreachable
    if "refuse" in faults or "auth" in faults:
        want = r"^connect: connect to 127\.2\.0\.\d+:%s: " % port if "refuse" in faults else \
               r"^connect: auth: login: HTTP 401"
        if n["state"] != "unreachable" or not re.match(want, n["reason"] or ""):
            err.append(f"{name} {faults}: {n['state']} {n['reason']}")
        continue
    c = n["components"]
    cur = seen[name] == "3.10"
    want = {"ilo-firmware": ("current" if cur else "outdated", "3.10" if cur else "2.90 Jan 01 2025"),
            "system-rom": ("current" if cur else "outdated", "U46 v2.10 (03/01/2024)" if cur else "U46 v2.00 (01/01/2024)"),
            "nic": ("current" if cur else "newer", "14.0" if cur else "14.28.22"),
            "gpu": ("missing", None), "generic-bmc": ("n/a", None)}
    for k, (st, inst) in want.items():
        if (c[k]["status"], c[k]["installed"]) != (st, inst):
            err.append(f"{name} {k}: {c[k]}, want {st} {inst}")
    if n["state"] != "ok" or n["reason"] is not None or n["facts"] is not None:
        err.append(f"{name}: {n['state']} {n['reason']} {n['facts']}")
    count[cur] = count.get(cur, 0) + 1
s = d["summary"]
down = sum(1 for f in labels.values() if {"refuse", "auth"} & set(f.get("fleetsim_fault", "").split("+")))
if (s["ok"], s["unreachable"], s["failed"]) != (24 - down, down, 0) or down < 3:
    err.append(f"summary {s}, want {down} unreachable")
if not count.get(True) or not count.get(False):
    err.append(f"current/outdated split {count}: pick another --seed")
comp = {c["name"]: c for c in d["components"]}
if (comp["ilo-firmware"]["current"], comp["ilo-firmware"]["outdated"], comp["nic"]["newer"]) != (count.get(True), count.get(False), count.get(False)):
    err.append(f"component counts {comp['ilo-firmware']} {comp['nic']}, want {count}")
print("\n".join(err) if err else f"ok {count}")
open(w + "/want", "w").write(f"{count.get(True, 0)} {count.get(False, 0)} {down}")
sys.exit(1 if err else 0)
PY
set -- $(cat "$work/want" 2>/dev/null)
if [ $# -eq 3 ]; then
    cp "$work/rf.out" "$work/out"
    check "fleetsim: ilo-firmware row" "$(row ilo-firmware)" "$1 $2 0 0 0 $3 0"
    check "fleetsim: nic row" "$(row nic)" "$1 0 $2 0 0 $3 0"
    check "fleetsim: gpu row" "$(row gpu)" "0 0 0 $((24 - $3)) 0 $3 0"
    check "fleetsim: generic-bmc row" "$(row generic-bmc)" "0 0 0 0 24 0 0"
    contains "$work/rf.out" "^unreachable or failed: $3$"
else
    bad "fleetsim: no expected counts"; set -- 0 0 0
fi
contains "$work/rf.csv" "^bmc-[0-9]*,ilo-firmware,,3.10,unreachable,unreachable,connect: connect to 127.2.0.[0-9]*:$PORT: "
contains "$work/rf.csv" '^bmc-[0-9]*,system-rom,U46 v2.00 (01/01/2024),U46 v2.10 (03/01/2024),outdated,ok,$'

# fleetsim's own inventory is a bare Ansible inventory: facts mode, '-' for what a BMC
# does not say, the refused ones listed with their reason; --limit on a label
expect 1 timeout 30 "$FU" inventory "$work/bmcs.yml" --progress none
contains "$work/out" "inventory of 24 nodes (.*bmcs.yml, no baseline: facts): $((24 - $3)) answered, $3 unreachable, 0 failed"
check "fleetsim facts: rows" "$(grep -c '^bmc-[0-9]*  *\(ok\|unreachable\)  *-  *-  *-  *-  *-  *-$' "$work/out")" 24
contains "$work/out" "^ *$((24 - $3))  (no facts)$"
check "fleetsim facts: unreachable listed" "$(grep -c '^  bmc-[0-9]*  *unreachable  connect: ' "$work/out")" "$3"
expect 1 "$FU" inventory "$work/bmcs.yml" --progress none --limit 'fleetsim_fault=*refuse*'
contains "$work/out" "inventory of 3 nodes .*: 0 answered, 3 unreachable"

fleetsim_stop fleetsim
contains "$work/sim.log" "^fleetsim: 24 BMCs, [0-9]* requests, .*faults: refuse=3 auth=2$"
finish inventory_cli
