#!/bin/sh
# `fleetup ports FLEET --check` against a real sshd (lib/sshd.sh) on 127.1.0.1-6: every
# direction open (pull-mode SSH nodes reach fleetup's listener through the agent, a push
# node needs nothing back, a pull-mode BMC cannot be asked); an SSH port nobody listens
# on (refused); pull-mode nodes told to call back where nothing listens (blocked); the
# callback port already taken by another process; --json's shape; usage errors.
# usage: ports_check.sh FLEETUP SOURCE_DIR
set -u
FU=$1
SRC=$2
for tool in /usr/sbin/sshd ssh-keygen python3; do
    command -v $tool >/dev/null 2>&1 || { echo "SKIP: $tool missing (tools/setup.sh installs it)"; exit 77; }
done
# The agent's `reach` connects with curl, nc or wget: the nodes here are this machine.
command -v curl >/dev/null 2>&1 || command -v nc >/dev/null 2>&1 || command -v wget >/dev/null 2>&1 ||
    { echo "SKIP: no curl, nc or wget for the node agent"; exit 77; }
work=$(mktemp -d)
D=$work/sshd
busy=""
trap 'sshd_stop "$D"; [ -z "$busy" ] || kill "$busy" 2>/dev/null; rm -rf "$work"' EXIT
. "$SRC/tests/integration/lib/assert.sh"
. "$SRC/tests/integration/lib/sshd.sh"

# 19700-19799 is this test's: sshd on 19700-19739, fleetup's port and ssl_port above.
P=$((19700 + $$ % 40))
HP=$((19750 + $$ % 20 * 2))
SP=$((HP + 1))
sshd_start "$D" $P 6 || { echo "FAIL: sshd_start" >&2; exit 1; }
sshd_nodes_dirs "$D" 6

# fleet FILE [SERVER_YAML] [EXTRA_NODE_YAML]: node-1..5 (pull, https: ssl_port) on the
# sshd, a push node, a pull-mode iLO whose "Redfish port" is the sshd, and EXTRA.
fleet() {
    sshd_fleet "$D" $P 5 "$1" "  push-node:
    address: 127.1.0.6
    callback: push
  bmc-1:
    type: ilo
    address: 127.1.0.5
    port: $P
${3:-}"
    printf 'server:\n  port: %s\n  ssl_port: %s\n%s' $HP $SP "${2:-}" >>"$1"
}
fleet "$work/open.yml"
fleet "$work/far.yml" "  bind: 127.0.0.1
  callback_address: 127.0.0.3
"
fleet "$work/closed.yml" "" "  closed:
    address: 127.1.0.200"
expect 0 "$FU" validate "$work/closed.yml"

# Every direction open: the agent on each pull node connects to fleetup's ssl_port at the
# address the node sees fleetup on; the BMC's callback is reported, not checked.
expect 0 "$FU" ports "$work/open.yml" --check
contains "$work/out" "^7 nodes checked in .*, 0 with blocked ports$"
contains "$work/out" "^bmc-1  from node 127.1.0.5 -> port $HP  not checked (BMC: no agent)$"
lacks "$work/out" "node-"
lacks "$work/out" "push-node"
expect 0 "$FU" ports "$work/open.yml" --check --json --timeout 2
cp "$work/out" "$work/open.json"

# An SSH port nobody listens on: refused, and nothing to ask about the other direction.
expect 1 "$FU" ports "$work/closed.yml" --check --limit 'closed:node-1'
contains "$work/out" "^closed  to node 127.1.0.200:$P  refused$"
contains "$work/out" "^closed  from node 127.1.0.200 -> port $SP  not checked (the SSH port is not open)$"
contains "$work/out" "^2 nodes checked in .*, 1 with blocked ports$"
lacks "$work/out" "node-1"

# Pull-mode nodes told to call back at 127.0.0.3 while fleetup listens on 127.0.0.1 only.
expect 1 "$FU" ports "$work/far.yml" --check --limit 'node-1:node-2:push-node'
contains "$work/out" "^node-1  from node 127.1.0.1 -> 127.0.0.3:$SP  blocked: connection refused$"
contains "$work/out" "^node-2  from node 127.1.0.2 -> 127.0.0.3:$SP  blocked: connection refused$"
contains "$work/out" "^3 nodes checked in .*, 2 with blocked ports$"
lacks "$work/out" "to node"
lacks "$work/out" "push-node"
expect 1 "$FU" ports "$work/far.yml" --check --json --limit node-3
cp "$work/out" "$work/far.json"

# --json: every node, every direction, with its state (one python3 for both: it is slow
# to start on a loaded machine).
expect 0 python3 - "$work/open.json" "$work/far.json" "$HP" "$SP" "$P" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
hp, sp, p = (int(x) for x in sys.argv[3:6])
assert d["server"]["port"] == hp and d["server"]["ssl_port"] == sp, d["server"]
assert d["server"]["callback_address"] is None
lis = d["server"]["listeners"]
assert [l["port"] for l in lis if l["address"] == "0.0.0.0"] == [sp], lis
assert all(l["state"] in ("listening", "in_use", "error") for l in lis), lis
assert sum(l["accepted"] for l in lis) >= 5, lis
nodes = {n["name"]: n for n in d["nodes"]}
assert sorted(nodes) == ["bmc-1", "node-1", "node-2", "node-3", "node-4", "node-5", "push-node"], sorted(nodes)
for n in nodes.values():
    assert set(n) == {"name", "type", "transport", "callback", "to_node", "from_node", "blocked"}, n
    assert n["blocked"] is False, n
    assert [(t["port"], t["state"], t["error"]) for t in n["to_node"]] == [(p, "open", None)], n
    assert all(isinstance(t["ms"], int) for t in n["to_node"]), n
for i in range(1, 6):
    n = nodes["node-%d" % i]
    assert n["to_node"][0]["address"] == "127.1.0.%d" % i, n
    assert n["from_node"] == [{"from": "127.1.0.%d" % i, "to": "127.0.0.1", "port": sp,
                               "state": "open", "reason": None}], n
assert nodes["push-node"]["from_node"] == [], nodes["push-node"]
b = nodes["bmc-1"]["from_node"]
assert [(f["port"], f["state"], f["reason"], f["to"]) for f in b] == [(hp, "not_checked", "BMC: no agent", None)], b
s = d["summary"]
assert (s["checked"], s["blocked"], s["unchecked"], s["no_port"]) == (7, 0, 0, 0), s

far = json.load(open(sys.argv[2]))
assert far["server"]["callback_address"] == "127.0.0.3", far["server"]
assert [(l["address"], l["port"], l["state"]) for l in far["server"]["listeners"]] == [("127.0.0.1", sp, "listening")], far["server"]
n = far["nodes"][0]
f = n["from_node"][0]
assert n["blocked"] is True and n["to_node"][0]["state"] == "open", n
assert (f["from"], f["to"], f["port"], f["state"], f["reason"]) == ("127.1.0.3", "127.0.0.3", sp, "blocked", "connection refused"), f
assert far["summary"]["blocked"] == 1, far["summary"]
EOF

# The callback port already taken by a running `fleetup serve`: said, and checked against
# whatever listens there.
"$FU" serve "$work/open.yml" --state-dir "$work/state" >"$work/serve.out" 2>&1 &
busy=$!
i=0
while ! grep -q 'TLS certificate' "$work/serve.out" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
expect 0 "$FU" ports "$work/open.yml" --check --limit node-4
contains "$work/err" "0.0.0.0:$SP is already in use (fleetup serve running?)"
contains "$work/out" "^1 node checked in .*, 0 with blocked ports$"
kill "$busy" 2>/dev/null
wait "$busy" 2>/dev/null
busy=""

# Usage errors: exit 2, nothing contacted.
expect 2 "$FU" ports "$work/open.yml" --check --bogus
contains "$work/err" "unknown option '--bogus'"
expect 2 "$FU" ports "$work/open.yml" --timeout 2
contains "$work/err" "go with --check"
expect 2 "$FU" ports "$work/open.yml" --check --timeout never
expect 2 "$FU" ports "$work/open.yml" --check --concurrency 0
expect 2 "$FU" ports "$work/open.yml" --check --firewall nft
expect 2 "$FU" ports --check
printf 'fleetup: 1\nnodes: {a: {type: nope}}\n' >"$work/bad.yml"
expect 2 "$FU" ports "$work/bad.yml" --check

finish ports_check
