#!/bin/sh
# fleetsim against a real Redfish client: python3-sushy reads the service root, the update
# service (SimpleUpdate and its transfer protocols) and the firmware inventory of simulated
# iLOs; curl checks a 401 without credentials, a session login and logout, and a faulty
# BMC. Loopback only; every wait is bounded; fleetsim is always stopped.
# usage: fleetsim_sushy.sh FLEETUP SOURCE_DIR (fleetsim sits next to FLEETUP)
set -u
FU=$1
SRC=$2
SIM="$(dirname "$FU")/fleetsim"
[ -x "$SIM" ] || { echo "SKIP: $SIM not built"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl missing"; exit 77; }
# sushy may be in the system's python3 only (Debian python3-sushy) when another python3
# comes first in PATH.
PY=""
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sushy' >/dev/null 2>&1; then PY=$p; break; fi
done
[ -n "$PY" ] || { echo "SKIP: python3 with sushy missing (Debian: apt-get install python3-sushy)"; exit 77; }

work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 1' INT TERM
. "$SRC/tests/integration/lib/assert.sh"
check() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }

# A port of our own, so parallel runs do not collide; below 32768, Linux's ephemeral
# ports, where a TIME_WAIT socket of some client (redfish_e2e.sh makes thousands) would
# keep fleetsim off it. 26000-27999 (see http_server.sh).
PORT=$((26000 + $$ % 2000))
"$SIM" --nodes 4 --port $PORT --seed 7 --fault auth=1 --state-dir "$work/state" \
    --write-inventory "$work/bmcs.yml" >"$work/sim.log" 2>&1 &
pid=$!
wait_file "$work/bmcs.yml" "$pid" "$work/sim.log" fleetsim
PW=$(cat "$work/bmcs.yml.password")

# --- the inventory
contains "$work/bmcs.yml" "bmc-00001: {ansible_host: 127.2.0.1, ansible_port: $PORT}"
contains "$work/bmcs.yml" "bmc-00004: {ansible_host: 127.2.0.4, ansible_port: $PORT, fleetsim_fault: auth}"
contains "$work/bmcs.yml" "fleetup_tls_fingerprint: \"[0-9A-F:]\{95\}\""
contains "$work/bmcs.yml" "fleetup_password_file: \"$work/bmcs.yml.password\""
check "password file private" "$(stat -c %a "$work/bmcs.yml.password")" 600

# Which BMC has the auth fault (exactly one, by hash): the one whose Basic login fails.
good=""; authbad=""
for n in 1 2 3 4; do
    c=$(curl -sk -m 5 -o /dev/null -w '%{http_code}' -u "admin:$PW" "https://127.2.0.$n:$PORT/redfish/v1/Systems/1")
    if [ "$c" = 200 ]; then good="${good:-$n}"; else authbad="$authbad$n:$c "; fi
done
check "exactly one BMC refuses logins" "$(echo "$authbad" | wc -w | tr -d ' ')" 1
check "it answers 401" "${authbad#*:}" "401 "
H="https://127.2.0.$good:$PORT"

# --- sushy: service root, update service, firmware inventory
cat >"$work/client.py" <<'PY'
import sys, warnings
warnings.filterwarnings("ignore")
import sushy
url, pw = sys.argv[1], sys.argv[2]
s = sushy.Sushy(url + "/redfish/v1", username="admin", password=pw, verify=False)
print("redfish_version", s.redfish_version)
print("uuid_len", len(s.uuid or ""))
us = s.get_update_service()
print("update_name", us.name)
print("simple_update", us._actions.simple_update.target_uri)
print("protocols", ",".join(sorted(p.value for p in us.get_allowed_transfer_protocols())))
print("allowable", ",".join(us.json["Actions"]["#UpdateService.SimpleUpdate"]["TransferProtocol@Redfish.AllowableValues"]))
print("push_uri", us.http_push_uri)
fw = us.firmware_inventory
for m in sorted(fw.get_members(), key=lambda m: m.identity):
    print("fw", m.identity, m.name, "|", m.version, "|", m.updateable)
sw = us.software_inventory
print("sw_count", len(sw.get_members()))
sys_ = s.get_system("/redfish/v1/Systems/1")
print("bios", sys_.bios_version)
print("power", getattr(sys_.power_state, "value", sys_.power_state))
print("reset_types", ",".join(sorted(getattr(v, "value", str(v)) for v in sys_.get_allowed_reset_system_values())))
PY
# requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's verify=False.
env -u REQUESTS_CA_BUNDLE -u CURL_CA_BUNDLE "$PY" "$work/client.py" "$H" "$PW" >"$work/sushy.out" 2>"$work/sushy.err"
check "sushy ran" "$?" 0
sed 's/^/    /' "$work/sushy.err" | head -20 >&2
contains "$work/sushy.out" "redfish_version 1.13.0"
contains "$work/sushy.out" "uuid_len 36"
contains "$work/sushy.out" "update_name Update Service"
contains "$work/sushy.out" "simple_update /redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate"
contains "$work/sushy.out" "protocols .*HTTP,HTTPS"
contains "$work/sushy.out" "allowable HTTP,HTTPS$"
contains "$work/sushy.out" "push_uri /redfish/v1/UpdateService/update"
contains "$work/sushy.out" "fw 1 iLO 5 | 2.90 Jan 01 2025 | True"
contains "$work/sushy.out" "fw 2 System ROM | U46 v2.00 (01/01/2024) | True"
contains "$work/sushy.out" "fw 3 HPE Ethernet 10/25Gb 2-port 640SFP28 Adapter | 14.28.22 | True"
contains "$work/sushy.out" "fw 4 HPE Smart Array P408i-a SR Gen10 | 4.11 | True"
contains "$work/sushy.out" "sw_count 4"
contains "$work/sushy.out" "bios U46 v2.00 (01/01/2024)"
contains "$work/sushy.out" "power [Oo]n"
contains "$work/sushy.out" "reset_types .*ForceRestart"

# --- curl: no credentials, a session, the action info
code() { curl -sk -m 5 -o "$work/body" -w '%{http_code}' "$@"; }
check "service root without auth" "$(code "$H/redfish/v1/")" 200
check "update service without auth" "$(code "$H/redfish/v1/UpdateService")" 401
contains "$work/body" '"MessageId":"Base.1.8.NoValidSession"'
check "bad password" "$(code -u admin:nope "$H/redfish/v1/UpdateService")" 401
check "login" "$(curl -sk -m 5 -D "$work/hdr" -o "$work/body" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d "{\"UserName\":\"admin\",\"Password\":\"$PW\"}" "$H/redfish/v1/SessionService/Sessions")" 201
TOKEN=$(sed -n 's/^X-Auth-Token: *//p' "$work/hdr" | tr -d '\r')
LOC=$(sed -n 's/^Location: *//p' "$work/hdr" | tr -d '\r')
case "$LOC" in /redfish/v1/SessionService/Sessions/[0-9]*) ok ;; *) bad "session location: '$LOC'" ;; esac
check "token" "$(printf %s "$TOKEN" | wc -c | tr -d ' ')" 32
check "with the token" "$(code -H "X-Auth-Token: $TOKEN" "$H/redfish/v1/UpdateService/SimpleUpdateActionInfo")" 200
contains "$work/body" '"Name":"ImageURI","Required":true'
check "logout" "$(code -X DELETE -H "X-Auth-Token: $TOKEN" "$H$LOC")" 204
check "token gone" "$(code -H "X-Auth-Token: $TOKEN" "$H/redfish/v1/UpdateService")" 401
check "SimpleUpdate without ImageURI" "$(code -u "admin:$PW" -H 'Content-Type: application/json' -d '{}' \
    "$H/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate")" 400
contains "$work/body" "Base.1.8.ActionParameterMissing"
check "the faulty BMC refuses a session too" "$(code -H 'Content-Type: application/json' \
    -d "{\"UserName\":\"admin\",\"Password\":\"$PW\"}" "https://127.2.0.${authbad%%:*}:$PORT/redfish/v1/SessionService/Sessions")" 401
check "no BMC beyond --nodes" "$(code -u "admin:$PW" "https://127.2.0.9:$PORT/redfish/v1/")" 404

# --- the summary at SIGTERM
kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do i=$((i + 1)); sleep 0.1; done
wait "$pid"
check "fleetsim exits 0 at SIGTERM" "$?" 0
pid=""
contains "$work/sim.log" "fleetsim: 4 BMCs, [0-9]* requests, [1-9][0-9]* logins"
contains "$work/sim.log" "faults: auth=1"

finish fleetsim_sushy
