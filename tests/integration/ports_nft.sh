#!/bin/sh
# `fleetup ports --firewall nft` against the real nft parser: every generated ruleset must
# pass `nft -c -f`, and (in a private network namespace, when allowed) load twice in a row.
# Usage: ports_nft.sh FLEETUP_BINARY. Exit 77 (skipped) when nft -c cannot run here.
set -u

FLEETUP=${1:?usage: ports_nft.sh FLEETUP_BINARY}
NFT=$(command -v nft 2>/dev/null || echo /usr/sbin/nft)
if [ ! -x "$NFT" ]; then
    echo "SKIP: nft not installed (tools/setup.sh installs nftables)"
    exit 77
fi
# nft -c still talks to the kernel over netlink: without CAP_NET_ADMIN it fails.
if ! printf 'table inet fleetup_probe {}\n' | "$NFT" -c -f - >/dev/null 2>&1; then
    echo "SKIP: 'nft -c' cannot run here (needs root or CAP_NET_ADMIN and nf_tables)"
    exit 77
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# check NAME FILE: the ruleset is accepted by nft, alone and loaded twice in a row.
check() {
    if ! "$NFT" -c -f "$2" 2>"$TMP/nft.err"; then
        fail "$1: nft -c rejected the ruleset:"
        sed 's/^/    /' "$TMP/nft.err"
        sed 's/^/    | /' "$2"
        return
    fi
    cat "$2" "$2" >"$TMP/twice.nft"
    "$NFT" -c -f "$TMP/twice.nft" 2>/dev/null || fail "$1: loading twice is not idempotent"
}

expect() { grep -qF -- "$2" "$3" || fail "$1: missing '$2'"; }
refuse() { ! grep -qF -- "$2" "$3" || fail "$1: unexpected '$2'"; }

# --- a mixed fleet: IPv4, IPv6, a hostname, pull and push, a management address ---
cat >"$TMP/mixed.yml" <<'EOF'
fleetup: 1
nodes:
  web1: {type: linux, address: 127.0.0.2, callback: pull, callback_scheme: https}
  web2: {type: linux, address: 127.0.0.2, port: 2222, callback: pull, callback_scheme: http}
  web3: {type: linux, address: 127.0.0.3, callback: push}
  esx1: {type: vmware, address: "::1", callback: pull, callback_scheme: https}
  ilo1: {type: ilo, address: 127.0.0.4, mgmt_address: 127.0.1.4, callback: pull, callback_scheme: https}
  named: {type: linux, address: node.example.invalid, callback: pull, callback_scheme: https}
EOF
if ! "$FLEETUP" ports "$TMP/mixed.yml" --firewall nft >"$TMP/mixed.nft" 2>"$TMP/err"; then
    fail "mixed: fleetup ports exited non-zero"
    cat "$TMP/err"
fi
check mixed "$TMP/mixed.nft"
expect mixed "table inet fleetup {}" "$TMP/mixed.nft"
expect mixed "flush table inet fleetup" "$TMP/mixed.nft"
expect mixed "ip saddr { 127.0.0.2 } tcp dport 63001" "$TMP/mixed.nft"
expect mixed "ip saddr { 127.0.0.2, 127.0.1.4 } tcp dport 63002" "$TMP/mixed.nft"
expect mixed "ip6 saddr { ::1 } tcp dport 63002" "$TMP/mixed.nft"
expect mixed "ip daddr { 127.0.0.2, 127.0.0.3 } tcp dport 22" "$TMP/mixed.nft"
expect mixed "ip daddr { 127.0.1.4 } tcp dport 443" "$TMP/mixed.nft"
expect mixed "ip daddr { 127.0.0.2 } tcp dport 2222" "$TMP/mixed.nft"
expect mixed "#   named  node.example.invalid" "$TMP/mixed.nft"
grep -v '^#' "$TMP/mixed.nft" | grep -qF node.example.invalid &&
    fail "mixed: a hostname reached a rule"
refuse mixed "127.0.0.4 " "$TMP/mixed.nft" # Redfish goes to the mgmt_address only

# --- push only: no input rule at all, so no empty set ---
cat >"$TMP/push.yml" <<'EOF'
fleetup: 1
nodes:
  oa1: {type: oa, address: 127.0.0.5, callback: push}
  sw1: {type: fc-switch, address: 127.0.0.6, callback: push}
EOF
"$FLEETUP" ports "$TMP/push.yml" --firewall nft >"$TMP/push.nft" || fail "push: non-zero exit"
check push "$TMP/push.nft"
refuse push "saddr" "$TMP/push.nft"
expect push "ip daddr { 127.0.0.5, 127.0.0.6 } tcp dport 22" "$TMP/push.nft"

# --- only hostnames and local nodes: both chains empty, still valid ---
cat >"$TMP/names.yml" <<'EOF'
fleetup: 1
nodes:
  a: {type: linux, address: a.example.invalid, callback: pull}
  self: {type: linux, transport: local, callback: pull}
EOF
"$FLEETUP" ports "$TMP/names.yml" --firewall nft >"$TMP/names.nft" || fail "names: non-zero exit"
check names "$TMP/names.nft"
refuse names "addr {" "$TMP/names.nft"

# --- a larger fleet with shared addresses, and the port precedence through the binary ---
{
    echo "fleetup: 1"
    echo "server: {port: 7001, ssl_port: 7002}"
    echo "nodes:"
    i=0
    while [ $i -lt 300 ]; do
        echo "  n$i: {type: linux, address: 127.0.$((i % 100)).$((i % 7 + 1)), callback: pull, callback_scheme: https}"
        i=$((i + 1))
    done
} >"$TMP/big.yml"
FLEETUP_SSL_PORT=9443 "$FLEETUP" ports "$TMP/big.yml" --firewall nft >"$TMP/big.nft" ||
    fail "big: non-zero exit"
check big "$TMP/big.nft"
expect big "tcp dport 9443" "$TMP/big.nft"
expect big "ssl_port 9443 (env FLEETUP_SSL_PORT)" "$TMP/big.nft"
refuse big "tcp dport 7002" "$TMP/big.nft"
FLEETUP_SSL_PORT=9443 "$FLEETUP" ports "$TMP/big.yml" --ssl-port 9444 --firewall nft \
    >"$TMP/flag.nft" || fail "flag: non-zero exit"
expect flag "tcp dport 9444" "$TMP/flag.nft"

FLEETUP_PORT=70000 "$FLEETUP" ports "$TMP/big.yml" --firewall nft >/dev/null 2>"$TMP/err"
rc=$?
[ $rc -eq 2 ] || fail "bad FLEETUP_PORT: exit $rc, expected 2"
grep -q FLEETUP_PORT "$TMP/err" || fail "bad FLEETUP_PORT: the message does not name it"

# --- really load it, twice, in a network namespace of our own (never the host's) ---
if command -v unshare >/dev/null 2>&1 && unshare -n true 2>/dev/null; then
    if ! unshare -n sh -c "'$NFT' -f '$TMP/mixed.nft' && '$NFT' -f '$TMP/mixed.nft' &&
            '$NFT' list table inet fleetup" >"$TMP/listed" 2>"$TMP/err"; then
        fail "netns: loading the ruleset twice failed"
        cat "$TMP/err"
    fi
    [ "$(grep -c 'tcp dport 63002' "$TMP/listed")" = 2 ] ||
        fail "netns: the second load did not replace the first"
else
    echo "note: no private network namespace here; checked with nft -c only"
fi

if [ $failures -ne 0 ]; then
    echo "ports_nft: $failures failure(s)"
    exit 1
fi
echo "ports_nft: ok"
