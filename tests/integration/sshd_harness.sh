#!/bin/sh
# The real-sshd harness (lib/sshd.sh) checked with OpenSSH's own client: 50 nodes on
# 127.1.0.x, each command lands in its node's folder, strict host keys pass with the
# harness's known_hosts and fail with a wrong key, the unauthorized key is refused, both
# fault markers work, the fleet file validates, and stop leaves nothing running. As
# root, also the same as a non-root user (sshd as that user). Loopback only.
# usage: sshd_harness.sh FLEETUP SOURCE_DIR
set -u
FU=$1
SRC=$2
for tool in /usr/sbin/sshd ssh ssh-keygen; do
    command -v $tool >/dev/null 2>&1 || { echo "SKIP: $tool missing (tools/setup.sh installs it)"; exit 77; }
done
work=$(mktemp -d)
D=$work/t
trap 'sshd_stop "$D"; [ -n "${D2:-}" ] && sshd_stop "$D2"; rm -rf "$work"' EXIT
. "$SRC/tests/integration/lib/assert.sh"
. "$SRC/tests/integration/lib/sshd.sh"
check() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }

# 19000-19499: below Linux's ephemeral ports, apart from the other tests' ranges.
P=$((19000 + $$ % 500))
sshd_start "$D" $P 50 || { echo "FAIL: sshd_start" >&2; exit 1; }
sshd_nodes_dirs "$D" 50
check "listeners (16 addresses each)" "$(sshd_pids "$D" | wc -l | tr -d ' ')" 4
check "known_hosts lines" "$(wc -l <"$D/ssh/known_hosts" | tr -d ' ')" 50
contains "$D/ssh/known_hosts" "^\[127.1.0.50\]:$P ssh-ed25519 "
check "node address 0" "$(sshd_node_addr 0)" 127.1.0.1
check "node address 250" "$(sshd_node_addr 250)" 127.1.1.1
check "node address 999" "$(sshd_node_addr 999)" 127.1.3.250

O="-F /dev/null -p $P -o IdentitiesOnly=yes -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=10"
KH="-o UserKnownHostsFile=$D/ssh/known_hosts"
on() { # on ADDR CMD: the command on that node with the good key and known_hosts
    a=$1; shift
    ssh -n $O $KH -i "$D/ssh/id_ed25519" "$a" "$@"
}

expect 0 on 127.1.0.7 'echo "$NODE_DIR|$FLEETUP_DIR|$(pwd)"'
check "NODE_DIR" "$(cat "$work/out")" "$D/nodes/127.1.0.7|$D/nodes/127.1.0.7/fleetup|$D/nodes/127.1.0.7"
expect 0 on 127.1.0.50 'cat "$NODE_DIR/version"'
check "probe on the last node" "$(cat "$work/out")" 1.0
expect 0 on 127.1.0.17 'exit 0'
expect 3 on 127.1.0.8 'exit 3'
expect 1 on 127.1.0.8
contains "$work/err" "only runs commands"

# The wrong key is refused; a changed host key is refused under strict checking.
expect 255 ssh -n $O $KH -i "$D/ssh/bad_ed25519" 127.1.0.7 true
contains "$work/err" "Permission denied (publickey)"
cp "$D/ssh/known_hosts" "$work/kh-wrong"
sshd_known_hosts_wrong "$D" $P 127.1.0.7 "$work/kh-wrong"
check "wrong known_hosts keeps its lines" "$(wc -l <"$work/kh-wrong" | tr -d ' ')" 50
expect 255 ssh -n $O -o UserKnownHostsFile="$work/kh-wrong" -i "$D/ssh/id_ed25519" 127.1.0.7 true
contains "$work/err" "Host key verification failed"
expect 0 ssh -n $O -o UserKnownHostsFile="$work/kh-wrong" -i "$D/ssh/id_ed25519" 127.1.0.6 true
: >"$work/kh-empty"
expect 255 ssh -n $O -o UserKnownHostsFile="$work/kh-empty" -i "$D/ssh/id_ed25519" 127.1.0.6 true
contains "$work/err" "Host key verification failed"

# fault-disconnect-upload: after 64 KiB of a 1 MiB upload the connection drops; a shorter
# upload and a command that never reads (its input left open) are not affected.
echo 65536 >"$D/nodes/127.1.0.9/fault-disconnect-upload"
head -c 1048576 /dev/zero >"$work/1m"
expect 255 ssh $O $KH -i "$D/ssh/id_ed25519" 127.1.0.9 'cat >up.bin; echo stored' <"$work/1m"
lacks "$work/out" stored
sleep 1.5
up=$(wc -c <"$D/nodes/127.1.0.9/up.bin" | tr -d ' ')
[ "$up" -lt 1048576 ] && ok || bad "the upload was not cut ($up bytes arrived)"
head -c 1000 /dev/zero >"$work/1k"
expect 0 ssh $O $KH -i "$D/ssh/id_ed25519" 127.1.0.9 'cat >small.bin; wc -c <small.bin' <"$work/1k"
check "short upload" "$(tr -d ' ' <"$work/out")" 1000
t0=$(date +%s)
sleep 6 | { ssh $O $KH -i "$D/ssh/id_ed25519" 127.1.0.9 'cat version' >"$work/open" 2>&1; date +%s >"$work/open.t"; }
check "probe with the input left open" "$(cat "$work/open")" 1.0
[ $(($(cat "$work/open.t") - t0)) -le 4 ] && ok || bad "a command that never reads waited for its input"
expect 0 ssh $O $KH -i "$D/ssh/id_ed25519" 127.1.0.10 'cat >up.bin; wc -c <up.bin' <"$work/1m"
check "upload to a node without the fault" "$(tr -d ' ' <"$work/out")" 1048576

# fault-corrupt-download: curl's download differs by one byte, to a file or to stdout.
if command -v curl >/dev/null 2>&1; then
    head -c 100000 /dev/urandom >"$work/pkg"
    sum=$(sha256sum "$work/pkg" | cut -d' ' -f1)
    touch "$D/nodes/127.1.0.11/fault-corrupt-download"
    expect 0 on 127.1.0.11 "curl -fsS -o dl.bin file://$work/pkg && curl -fsSodl2.bin file://$work/pkg && curl -fsS file://$work/pkg >dl3.bin; sha256sum dl.bin dl2.bin dl3.bin | cut -d' ' -f1 | sort -u"
    lacks "$work/out" "$sum"
    check "the three downloads, corrupted alike" "$(wc -l <"$work/out" | tr -d ' ')" 1
    check "one byte differs" "$(cmp -l "$D/nodes/127.1.0.11/dl.bin" "$work/pkg" | wc -l | tr -d ' ')" 1
    expect 0 on 127.1.0.12 "curl -fsS -o dl.bin file://$work/pkg && sha256sum dl.bin"
    contains "$work/out" "$sum"
fi

# The fleet file: valid, addresses in blocks of 250.
sshd_fleet "$D" $P 50 "$work/fleet.yml"
expect 0 "$FU" validate "$work/fleet.yml"
contains "$work/out" "50 nodes"
sshd_fleet "$D" $P 300 "$work/fleet300.yml" '  extra-node:
    address: 127.1.9.9'
expect 0 "$FU" nodes "$work/fleet300.yml" --json
contains "$work/out" '"name":"node-251","type":"linux","transport":"ssh","address":"127.1.1.1"'
contains "$work/out" '"name":"node-300","type":"linux","transport":"ssh","address":"127.1.1.50"'
contains "$work/out" "\"name\":\"extra-node\".*\"port\":$P,\"user\":\"$(id -un)\""
check "nodes in the 300 fleet" "$(grep -c '"name"' "$work/out")" 301

# Stop: no listener, no session left, the port free.
pids=$(sshd_pids "$D")
sshd_stop "$D"
left=""
for p in $pids; do [ -d "/proc/$p" ] && left="$left $p"; done
check "sshd processes left" "$left" ""
check "pid file removed" "$(ls "$D/ssh/sshd.pid" 2>/dev/null)" ""
if command -v ss >/dev/null 2>&1; then
    check "listening on $P after stop" "$(ss -Hltn "sport = :$P" | wc -l | tr -d ' ')" 0
fi
expect 255 on 127.1.0.7 true

# As root: the same harness as a user with a login shell (sshd runs as that user).
user=""
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
    user=$(getent passwd | awk -F: '$3 >= 1000 && $3 < 65534 { print $1 ":" $7 }' |
        while IFS=: read -r u sh; do grep -qx "$sh" /etc/shells 2>/dev/null && { echo "$u"; break; }; done)
fi
if [ -n "$user" ]; then
    chmod 711 "$work"
    D2=$work/u
    mkdir -p "$D2"
    # The user may not read the source tree (a clone in a 0700 folder): its own copy.
    cp "$SRC/tests/integration/lib/sshd.sh" "$D2/sshd.sh"
    chown "$user" "$D2" "$D2/sshd.sh"
    P2=$((19000 + ($$ + 250) % 500))
    HOME=$D2 setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups sh -c '
        . "$2/sshd.sh"
        sshd_start "$2" "$3" 3 || exit 1
        sshd_nodes_dirs "$2" 3
        o="-F /dev/null -p $3 -o IdentitiesOnly=yes -o GlobalKnownHostsFile=/dev/null -o UserKnownHostsFile=$2/ssh/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes -i $2/ssh/id_ed25519"
        ssh -n $o 127.1.0.3 "echo \$(id -un) \$NODE_DIR" || echo "own user refused"
        ssh -n $o root@127.1.0.3 true 2>/dev/null && echo "root let in"
        sshd_stop "$2"
    ' sh "$SRC" "$D2" "$P2" >"$work/user.out" 2>&1
    check "as $user" "$(cat "$work/user.out")" "$user $D2/nodes/127.1.0.3"
    D2=""
fi

finish sshd_harness
