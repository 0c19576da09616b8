# A real OpenSSH sshd on loopback for the SSH tests and the SSH benchmark: every node is
# an address 127.1.X.Y on one port, its state a folder DIR/nodes/ADDR; marker files there
# make single nodes misbehave. Sourced by POSIX sh scripts; runs as root or as any user
# with a login shell (sshd then runs as that user and only lets that user log in).
#   sshd_start DIR PORT NNODES       keys, config and sshd on NNODES addresses; DIR/ssh/known_hosts
#   sshd_stop DIR                    stop DIR's sessions, then its sshd (TERM, KILL after 3 s); reap
#   sshd_pids DIR                    the PIDs of DIR's sshd listeners, one a line
#   sshd_node_addr I                 node I's address (I from 0): 127.1.(I/250).(I%250+1)
#   sshd_nodes_dirs DIR NNODES [VERSION]     DIR/nodes/ADDR/version = VERSION (1.0) for each node
#   sshd_known_hosts DIR PORT NNODES FILE    known_hosts lines for every node into FILE
#   sshd_known_hosts_wrong DIR PORT ADDR FILE   ADDR's line in FILE gets another ed25519 key
#   sshd_fleet DIR PORT NNODES FILE [EXTRA_NODE_YAML]   a native fleet file for these nodes
#
# Files under DIR/ssh: host_ed25519 (host key), id_ed25519 (the user's key, authorized),
# bad_ed25519 (never authorized), authorized_keys, known_hosts, sshd-G.conf, sshd.log,
# sshd.pid, node-shell (the ForceCommand), fault-bin/ (curl and wget that corrupt), home/.
# sshd_start fails (status 1, a message on stderr) when any node address is taken on PORT:
# callers pick a port below 32768 (tests: 19000-19499, the benchmark 19500-19999).
#
# One sshd listens on at most 16 addresses (MAX_LISTEN_SOCKS in OpenSSH; more are
# dropped with only a log line), so there is one sshd per 16 nodes, all with the same
# settings: 63 for 1,000 nodes. sshd.pid lists them all.
#
# The ForceCommand node-shell picks the node from the connection's server address
# (SSH_CONNECTION), exports NODE_DIR=DIR/nodes/ADDR and FLEETUP_DIR=NODE_DIR/fleetup,
# sets HOME=NODE_DIR, enters it and runs the client's command with /bin/sh -c (no command:
# exit 1). sshd starts ForceCommand through the user's login shell, so that user needs a
# real shell (not nologin).
# Fault markers in NODE_DIR:
#   fault-disconnect-upload  holds a byte count K: once the command has been given K bytes
#                            of its standard input, the session's sshd processes are killed
#                            (SIGKILL), which drops the TCP connection mid-upload (OpenSSH's
#                            client: "closed by remote host", exit 255). Shorter inputs,
#                            and commands that never read, are not affected.
#   boot_id, reboots         the agent's reboot (FLEETUP_REBOOT_CMD) writes a new boot id
#                            to boot_id and adds a line to reboots: a reboot takes 1 s
#   fault-corrupt-download   curl and wget (fault-bin/, first on PATH) run the real tool,
#                            then flip the first byte of what they downloaded (-o/--output,
#                            -O/--output-document, or standard output).

SSHD_PER=16
SSHD_BIN=${SSHD_BIN:-/usr/sbin/sshd}

sshd_node_addr() {
    echo "127.1.$(($1 / 250)).$(($1 % 250 + 1))"
}

# The node addresses 0..N-1, one a line (awk: fast at thousands of nodes).
sshd__addrs() {
    awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "127.1.%d.%d\n", int(i / 250), i % 250 + 1 }'
}

sshd_pids() {
    cat "$1/ssh/sshd.pid" 2>/dev/null
}

sshd_start() {
    _sd_dir=$1 _sd_port=$2 _sd_n=$3
    case "$_sd_n" in '' | *[!0-9]*) echo "sshd_start: NNODES must be a number, not '$_sd_n'" >&2; return 2 ;; esac
    [ "$_sd_n" -ge 1 ] && [ "$_sd_n" -le 64000 ] || { echo "sshd_start: NNODES from 1 to 64000" >&2; return 2; }
    [ -x "$SSHD_BIN" ] || { echo "sshd_start: $SSHD_BIN missing (Debian package openssh-server; tools/setup.sh installs it)" >&2; return 1; }
    command -v ssh-keygen >/dev/null 2>&1 || { echo "sshd_start: ssh-keygen missing (openssh-client)" >&2; return 1; }
    mkdir -p "$_sd_dir/ssh" "$_sd_dir/nodes" || return 1
    _sd_dir=$(cd "$_sd_dir" && pwd)
    _sd_ssh=$_sd_dir/ssh
    if [ -s "$_sd_ssh/sshd.pid" ]; then
        echo "sshd_start: $_sd_ssh/sshd.pid exists: sshd_stop $_sd_dir first" >&2
        return 1
    fi
    for _sd_k in host_ed25519 id_ed25519 bad_ed25519; do
        [ -f "$_sd_ssh/$_sd_k" ] ||
            ssh-keygen -q -t ed25519 -N '' -C "fleetup-test-$_sd_k" -f "$_sd_ssh/$_sd_k" || return 1
    done
    chmod 600 "$_sd_ssh/host_ed25519" "$_sd_ssh/id_ed25519" "$_sd_ssh/bad_ed25519"
    cp "$_sd_ssh/id_ed25519.pub" "$_sd_ssh/authorized_keys"
    sshd__node_shell "$_sd_dir" || return 1
    # As root sshd wants its privilege separation folder (Debian makes it at boot only).
    if [ "$(id -u)" = 0 ] && [ ! -d /run/sshd ]; then
        mkdir -p /run/sshd && chmod 755 /run/sshd || return 1
    fi

    # The settings every listener shares. No PAM (a non-root sshd cannot use it) and no
    # passwords: keys only. KEX and host key pinned, so every client pays the same. HOME
    # is an empty folder: bash, as a login shell run by sshd, would read ~/.bashrc (on a
    # developer's machine, hundreds of processes per session); node-shell then sets HOME
    # to the node's folder.
    mkdir -p "$_sd_ssh/home"
    _sd_sftp=""
    for _sd_f in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server /usr/libexec/sftp-server; do
        [ -x "$_sd_f" ] && { _sd_sftp="Subsystem sftp $_sd_f"; break; }
    done
    cat >"$_sd_ssh/sshd_common.conf" <<EOF
HostKey $_sd_ssh/host_ed25519
AuthorizedKeysFile $_sd_ssh/authorized_keys
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
MaxStartups 2000:100:2000
MaxSessions 100
LoginGraceTime 60
KexAlgorithms curve25519-sha256
HostKeyAlgorithms ssh-ed25519
UseDNS no
LogLevel ERROR
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
PermitUserEnvironment no
ForceCommand $_sd_ssh/node-shell
SetEnv HOME=$_sd_ssh/home
$_sd_sftp
EOF
    # PerSourceMaxStartups (OpenSSH 8.5 and later): every client here comes from 127.0.0.1.
    if "$SSHD_BIN" -T -f /dev/null -h "$_sd_ssh/host_ed25519" -o PerSourceMaxStartups=none >/dev/null 2>&1; then
        echo "PerSourceMaxStartups none" >>"$_sd_ssh/sshd_common.conf"
    fi

    : >"$_sd_ssh/sshd.log"
    : >"$_sd_ssh/sshd.pid.tmp"
    rm -f "$_sd_ssh"/sshd-*.conf "$_sd_ssh"/sshd-*.pid "$_sd_ssh"/sshd-*.listen
    sshd__addrs "$_sd_n" | awk -v per="$SSHD_PER" -v port="$_sd_port" -v d="$_sd_ssh" '{
        f = d "/sshd-" int((NR - 1) / per) ".listen"
        print "ListenAddress " $0 ":" port > f
        if (NR % per == 0) close(f)
    }'
    _sd_groups=$(((_sd_n + SSHD_PER - 1) / SSHD_PER))
    _sd_g=0
    while [ "$_sd_g" -lt "$_sd_groups" ]; do
        _sd_conf=$_sd_ssh/sshd-$_sd_g.conf
        {
            cat "$_sd_ssh/sshd-$_sd_g.listen"
            echo "PidFile $_sd_ssh/sshd-$_sd_g.pid"
            cat "$_sd_ssh/sshd_common.conf"
        } >"$_sd_conf"
        rm -f "$_sd_ssh/sshd-$_sd_g.listen"
        if [ "$_sd_g" = 0 ] && ! "$SSHD_BIN" -t -f "$_sd_conf" 2>"$_sd_ssh/sshd-t.err"; then
            echo "sshd_start: sshd rejects $_sd_conf:" >&2
            cat "$_sd_ssh/sshd-t.err" >&2
            return 1
        fi
        # -D: stays in the foreground, a child of this shell (sshd_stop reaps it).
        "$SSHD_BIN" -D -f "$_sd_conf" -E "$_sd_ssh/sshd.log" </dev/null >/dev/null 2>&1 &
        echo $! >>"$_sd_ssh/sshd.pid.tmp"
        _sd_g=$((_sd_g + 1))
    done
    mv "$_sd_ssh/sshd.pid.tmp" "$_sd_ssh/sshd.pid"

    # Ready when every sshd wrote its PidFile (after binding its addresses), 10 s at most.
    _sd_t=0
    while :; do
        _sd_ready=0
        _sd_g=0
        for _sd_p in $(cat "$_sd_ssh/sshd.pid"); do
            kill -0 "$_sd_p" 2>/dev/null || {
                echo "sshd_start: sshd $_sd_p (sshd-$_sd_g.conf) exited:" >&2
                tail -n 5 "$_sd_ssh/sshd.log" >&2
                sshd_stop "$_sd_dir"
                return 1
            }
            [ -s "$_sd_ssh/sshd-$_sd_g.pid" ] && _sd_ready=$((_sd_ready + 1))
            _sd_g=$((_sd_g + 1))
        done
        [ "$_sd_ready" -eq "$_sd_g" ] && break
        if [ "$_sd_t" -ge 100 ]; then
            echo "sshd_start: sshd not ready after 10 s ($_sd_ready of $_sd_g listening)" >&2
            sshd_stop "$_sd_dir"
            return 1
        fi
        _sd_t=$((_sd_t + 1))
        sleep 0.1
    done
    # An address already taken (another test on the same port) only logs a line.
    if grep -q -e 'Bind to port' -e 'Cannot bind' -e 'Too many listen' "$_sd_ssh/sshd.log"; then
        echo "sshd_start: sshd could not listen on every node address:" >&2
        grep -e 'Bind to port' -e 'Cannot bind' -e 'Too many listen' "$_sd_ssh/sshd.log" | head -n 5 >&2
        sshd_stop "$_sd_dir"
        return 1
    fi
    sshd_known_hosts "$_sd_dir" "$_sd_port" "$_sd_n" "$_sd_ssh/known_hosts"
}

# The PIDs of every process below PIDS (a session's sshd processes and its commands).
sshd__descendants() {
    cat /proc/[0-9]*/stat 2>/dev/null | sed -n 's/^\([0-9]*\) .*) . \([0-9]*\) .*/\1 \2/p' | awk -v roots="$*" '
        BEGIN { n = split(roots, r, " ") }
        { kids[$2] = kids[$2] " " $1 }
        END {
            for (i = 1; i <= n; i++) todo[++t] = r[i]
            while (t > 0) {
                p = todo[t--]; m = split(kids[p], k, " ")
                for (j = 1; j <= m; j++) { print k[j]; todo[++t] = k[j] }
            }
        }'
}

# stop: first everything below the listeners (a listener leaves its sessions running when
# it ends), while the listeners live to reap them, then the listeners. TERM, KILL what is
# left after 3 s; wait reaps the listeners this shell started.
sshd_stop() {
    _sd_ssh=$1/ssh
    [ -s "$_sd_ssh/sshd.pid" ] || return 0
    _sd_pids=$(cat "$_sd_ssh/sshd.pid")
    sshd__end $(sshd__descendants $_sd_pids)
    sshd__end $_sd_pids
    for _sd_p in $_sd_pids; do
        wait "$_sd_p" 2>/dev/null
    done
    rm -f "$_sd_ssh/sshd.pid" "$_sd_ssh"/sshd-*.pid
    return 0
}

# end PIDS: TERM, then KILL what is still there after 3 s. A zombie counts as gone only
# after 1 s (its parent, a live listener, reaps it).
sshd__end() {
    [ $# -gt 0 ] || return 0
    kill -TERM "$@" 2>/dev/null
    _sd_t=0
    while :; do
        _sd_alive=""
        for _sd_p in "$@"; do
            _sd_st=$(sed 's/.*) \(.\).*/\1/' "/proc/$_sd_p/stat" 2>/dev/null) || continue
            [ "$_sd_st" = Z ] && [ "$_sd_t" -ge 10 ] && continue
            _sd_alive="$_sd_alive $_sd_p"
        done
        [ -z "$_sd_alive" ] && return 0
        if [ "$_sd_t" -ge 30 ]; then
            kill -KILL $_sd_alive 2>/dev/null
            return 0
        fi
        _sd_t=$((_sd_t + 1))
        sleep 0.1
    done
}

sshd_nodes_dirs() {
    _sd_ver=${3:-1.0}
    sshd__addrs "$2" | while read -r _sd_a; do
        mkdir -p "$1/nodes/$_sd_a" && printf '%s\n' "$_sd_ver" >"$1/nodes/$_sd_a/version" || exit 1
    done
}

sshd_known_hosts() {
    _sd_key=$(cut -d' ' -f1,2 "$1/ssh/host_ed25519.pub") || return 1
    sshd__addrs "$3" | awk -v p="$2" -v k="$_sd_key" '{ print (p == 22 ? $0 : "[" $0 "]:" p) " " k }' >"$4"
}

sshd_known_hosts_wrong() {
    [ -f "$1/ssh/wrong_host_ed25519" ] ||
        ssh-keygen -q -t ed25519 -N '' -C fleetup-test-wrong-host -f "$1/ssh/wrong_host_ed25519" || return 1
    _sd_key=$(cut -d' ' -f1,2 "$1/ssh/wrong_host_ed25519.pub")
    _sd_h="[$3]:$2"
    [ "$2" = 22 ] && _sd_h=$3
    awk -v h="$_sd_h" -v k="$_sd_key" '$1 == h { print h " " k; next } { print }' "$4" >"$4.tmp" &&
        mv "$4.tmp" "$4"
}

# fleet: nodes node-1..node-N in blocks of 250 (one per third address byte), the user
# this runs as, the keys and known_hosts of DIR/ssh; one component 'app' at 2.0 whose
# probe reads the node's version file and whose package (a sh script) writes 2.0 there.
sshd_fleet() {
    _sd_dir=$(cd "$1" && pwd) _sd_port=$2 _sd_n=$3 _sd_file=$4 _sd_extra=${5:-}
    mkdir -p "$_sd_dir/packages"
    _sd_pkg=$_sd_dir/packages/app-2.0.sh
    printf '#!/bin/sh\n# fleetup test package: app 2.0\nprintf '"'"'2.0\\n'"'"' >"$NODE_DIR/version"\n' >"$_sd_pkg"
    _sd_sum=$(sha256sum "$_sd_pkg" | cut -d' ' -f1)
    {
        echo "fleetup: 1"
        echo "defaults:"
        echo "  user: $(id -un)"
        echo "  port: $_sd_port"
        echo "  key_file: $_sd_dir/ssh/id_ed25519"
        echo "  known_hosts: $_sd_dir/ssh/known_hosts"
        echo "  host_key_check: strict"
        echo "nodes:"
        awk -v n="$_sd_n" 'BEGIN {
            for (b = 0; b * 250 < n; b++) {
                c = n - b * 250; if (c > 250) c = 250
                printf "  node-[%d:%d]:\n    address: 127.1.%d.[1:%d]\n", b * 250 + 1, b * 250 + c, b, c
            }
        }'
        [ -n "$_sd_extra" ] && printf '%s\n' "$_sd_extra"
        echo "baseline:"
        echo "  name: ssh-test"
        echo "  components:"
        echo "    - name: app"
        echo "      version: \"2.0\""
        echo "      probe: 'cat \"\$NODE_DIR/version\"'"
        echo "      package: $_sd_pkg"
        echo "      sha256: $_sd_sum"
        echo "rollout:"
        echo "  waves: [100%]"
    } >"$_sd_file"
}

# The ForceCommand and the fault wrappers, with DIR and the real curl/wget written in.
sshd__node_shell() {
    _sd_ssh=$1/ssh
    cat >"$_sd_ssh/node-shell" <<EOF
#!/bin/sh
# ForceCommand of the test sshd (tests/integration/lib/sshd.sh): the connection's server
# address picks the node; its folder stands for the node's disk.
SSHD_DIR='$1'
EOF
    cat >>"$_sd_ssh/node-shell" <<'EOF'
set -f
set -- ${SSH_CONNECTION:-}
addr=${3:-}
set +f
[ -n "$addr" ] || { echo "node-shell: no SSH_CONNECTION" >&2; exit 1; }
NODE_DIR=$SSHD_DIR/nodes/$addr
FLEETUP_DIR=$NODE_DIR/fleetup
HOME=$NODE_DIR
# A node's boot: its boot id is a file, and a reboot writes a new one a second later.
FLEETUP_BOOT_ID_FILE=$NODE_DIR/boot_id
FLEETUP_REBOOT_CMD='sleep 1; echo "boot-$$" >"$FLEETUP_BOOT_ID_FILE"; echo x >>"$NODE_DIR/reboots"'
[ -f "$FLEETUP_BOOT_ID_FILE" ] || echo boot-0 >"$FLEETUP_BOOT_ID_FILE"
export NODE_DIR FLEETUP_DIR HOME FLEETUP_BOOT_ID_FILE FLEETUP_REBOOT_CMD
cd "$NODE_DIR" 2>/dev/null || { echo "node-shell: no node at $addr ($NODE_DIR missing: sshd_nodes_dirs)" >&2; exit 1; }
[ -n "${SSH_ORIGINAL_COMMAND:-}" ] || { echo "node-shell: this test sshd only runs commands" >&2; exit 1; }
if [ -f "$NODE_DIR/fault-corrupt-download" ]; then
    PATH=$SSHD_DIR/ssh/fault-bin:$PATH
    export PATH
fi
[ -f "$NODE_DIR/fault-disconnect-upload" ] || exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"

# The upload fault. Standard input goes to the command through a fifo, relayed by dd:
# after K bytes the relay kills this session's sshd processes (every sshd above this
# shell, below the listener), holding the fifo open so the command never sees an end.
k=$(tr -dc 0-9 <"$NODE_DIR/fault-disconnect-upload")
[ -n "$k" ] && [ "$k" -gt 0 ] || { echo "node-shell: fault-disconnect-upload must hold a byte count" >&2; exit 1; }
fifo=$NODE_DIR/.upload-fifo.$$
rm -f "$fifo" "$fifo.dd"
mkfifo "$fifo" || exit 1
exec 3<&0
(
    exec 4>"$fifo"
    if dd bs="$k" count=1 iflag=fullblock <&3 >&4 2>"$fifo.dd" && grep -q '^1+0 records in' "$fifo.dd"; then
        listeners=" $(tr '\n' ' ' <"$SSHD_DIR/ssh/sshd.pid") "
        victims=""
        p=$$
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            p=$(sed 's/.*) . \([0-9]*\) .*/\1/' "/proc/$p/stat" 2>/dev/null) || break
            case "$listeners" in *" $p "*) break ;; esac
            [ "$p" -gt 1 ] || break
            [ "$(cat "/proc/$p/comm" 2>/dev/null)" = sshd ] && victims="$victims $p"
        done
        kill -KILL $victims
        sleep 1
    fi
) >/dev/null 2>&1 &
relay=$!
/bin/sh -c "$SSH_ORIGINAL_COMMAND" <"$fifo" 3<&-
rc=$?
kill "$relay" 2>/dev/null
rm -f "$fifo" "$fifo.dd"
exit $rc
EOF
    chmod 755 "$_sd_ssh/node-shell"

    mkdir -p "$_sd_ssh/fault-bin"
    for _sd_tool in curl wget; do
        _sd_real=$(command -v "$_sd_tool" 2>/dev/null || echo "/usr/bin/$_sd_tool")
        _sd_letter=o
        [ "$_sd_tool" = wget ] && _sd_letter=O
        cat >"$_sd_ssh/fault-bin/$_sd_tool" <<EOF
#!/bin/sh
# $_sd_tool on a node with fault-corrupt-download: the real one, then the first byte of the
# download flipped (tests/integration/lib/sshd.sh).
real='$_sd_real'
L=$_sd_letter
EOF
        cat >>"$_sd_ssh/fault-bin/$_sd_tool" <<'EOF'
flip() { # flip FILE: XOR its first byte with 1
    [ -s "$1" ] || return 0
    b=$(od -An -tu1 -N1 "$1" | tr -d ' ')
    printf "\\$(printf %03o $((b ^ 1)))" | dd of="$1" bs=1 count=1 conv=notrunc 2>/dev/null
}
out=""
want=0
cfg=""
for a in "$@"; do
    if [ "$want" = 1 ]; then out=$a; want=0; continue; fi
    if [ "$want" = K ]; then cfg=$a; want=0; continue; fi
    case "$a" in
    -K | --config) want=K ;;
    --output | --output-document) want=1 ;;
    --output-document=*) out=${a#--output-document=} ;;
    --*) ;;
    -*"$L"*)
        rest=${a#*"$L"}
        if [ -z "$rest" ]; then want=1; else out=$rest; fi ;;
    esac
done
# curl -K FILE: the output may be named in the config file (the agent does so).
[ -z "$out" ] && [ -n "$cfg" ] && out=$(sed -n 's/^output = "\(.*\)"$/\1/p' "$cfg")
if [ -n "$out" ] && [ "$out" != - ]; then
    "$real" "$@"
    rc=$?
    [ "$rc" = 0 ] && flip "$out"
    exit $rc
fi
tmp=$(mktemp) || exit 1
"$real" "$@" >"$tmp"
rc=$?
flip "$tmp"
cat "$tmp"
rm -f "$tmp"
exit $rc
EOF
        chmod 755 "$_sd_ssh/fault-bin/$_sd_tool"
    done
}
