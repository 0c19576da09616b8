#!/bin/sh
# The fleetup binary as an operator uses it: exit codes, FILE:LINE:COL errors on stderr,
# --json that parses, --limit, secrets never printed, and the example fleets valid.
# usage: cli.sh FLEETUP SOURCE_DIR
set -u
FU=$1
SRC=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$SRC/tests/integration/lib/assert.sh"

for f in "$SRC"/inventories/*.yml; do
    # fleetsim.yml takes its nodes from the inventory fleetsim writes when it starts
    # (make run); redfish_e2e.sh validates it with one.
    [ "$(basename "$f")" = fleetsim.yml ] && continue
    expect 0 "$FU" validate "$f"
    contains "$work/out" "valid"
done

# A broken fleet: every error, each as FILE:LINE:COL, exit 2, nothing on stdout.
cat >"$work/bad.yml" <<'YML'
fleetup: 1
nodes:
  a:
    type: lnux
  b:
    port: 99999
YML
expect 2 "$FU" validate "$work/bad.yml"
contains "$work/err" "bad.yml:4:11: error: unknown node type 'lnux': did you mean 'linux'?"
contains "$work/err" "bad.yml:6:11: error: port must be a TCP port from 1 to 65535"
contains "$work/err" "2 errors"
[ -s "$work/out" ] && bad "validate printed on stdout for an invalid fleet" || ok
expect 2 "$FU" nodes "$work/bad.yml"
expect 2 "$FU" ports "$work/bad.yml"

expect 2 "$FU" validate --json "$work/bad.yml"
python3 - "$work/out" <<'PY' && ok || bad "validate --json output"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["valid"] is False and j["errors"] == 2, j
assert j["diagnostics"][0]["line"] == 4 and j["diagnostics"][0]["column"] == 11
PY

# nodes --json: an array with the documented keys, in inventory order.
expect 0 "$FU" nodes --json "$SRC/inventories/ansible-hosts.yml"
python3 - "$work/out" <<'PY' && ok || bad "nodes --json content"
import json, sys
nodes = json.load(open(sys.argv[1]))
assert len(nodes) == 25, len(nodes)
for key in ("name", "type", "address", "mgmt_address", "port", "user", "callback", "groups", "labels"):
    assert key in nodes[0], key
assert nodes[0]["name"] == "web01" and nodes[0]["labels"]["rack"] == "r01"
byname = {n["name"]: n for n in nodes}
assert byname["db-x.dc2"]["port"] == 2222
assert byname["rx2800-01"]["mgmt_address"] == "127.2.4.1"
assert byname["ilo-web06"]["type"] == "ilo" and byname["ilo-web06"]["user"] == "Administrator"
assert sorted(byname["web01"]["groups"]) == ["prod", "web"]
PY

expect 0 "$FU" nodes --limit 'prod:&rack=r03' --json "$SRC/inventories/ansible-hosts.yml"
python3 -c "import json,sys; n=json.load(open(sys.argv[1])); assert [x['name'] for x in n]==['db-a.dc2','db-b.dc2','db-c.dc2','db-x.dc2'], n" "$work/out" && ok || bad "--limit selection"
expect 2 "$FU" nodes --limit 'nosuchgroup' "$SRC/inventories/ansible-hosts.yml"
contains "$work/err" "matches no node"

# Secrets: a plain-text Ansible password is used but never printed.
cat >"$work/secret.yml" <<'YML'
all:
  hosts:
    s1:
      ansible_password: Sup3rS3cret
      ansible_port: nope
YML
expect 2 "$FU" validate "$work/secret.yml"
lacks "$work/err" "Sup3rS3cret"
sed -i 's/ansible_port: nope/ansible_port: 22/' "$work/secret.yml"
for cmd in "validate" "nodes" "nodes --json" "ports" "ports --json"; do
    # shellcheck disable=SC2086
    expect 0 "$FU" $cmd "$work/secret.yml"
    lacks "$work/out" "Sup3rS3cret"
    lacks "$work/err" "Sup3rS3cret"
done

# Usage errors are exit 2 with a hint; help is exit 0.
expect 2 "$FU"
expect 2 "$FU" frobnicate
contains "$work/err" "unknown command"
expect 2 "$FU" validate
expect 2 "$FU" validate --bogus "$SRC/inventories/lab.yml"
contains "$work/err" "fleetup validate --help"
expect 2 "$FU" validate "$work/does-not-exist.yml"
contains "$work/err" "does-not-exist.yml: error: cannot open"
expect 0 "$FU" --help
contains "$work/out" "validate"
for c in validate nodes ports; do
    expect 0 "$FU" "$c" --help
    contains "$work/out" "usage: fleetup $c"
done

finish cli
