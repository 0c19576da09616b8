#!/bin/sh
# fleetup node agent: uploaded by fleetup over SSH and run as `sh AGENT COMMAND [ARGS]` to
# report a node's inventory, stage and install packages and test ports. Plain POSIX sh
# (dash, busybox); the stdin/stdout protocol is described in docs/design.md, "Node agent".

D=${FLEETUP_DIR:-/var/tmp/fleetup}
case $D in /*) ;; *) D=$(pwd)/$D ;; esac
TAB=$(printf '\t')
UMASK0=$(umask)
umask 077 # what the agent writes is private: curl configs hold tokens, packages are run
has() { command -v "$1" >/dev/null 2>&1; }

# One awk for all text that leaves the node (run with LC_ALL=C, so it works on bytes).
# Invalid UTF-8 becomes '?' (fleetup's JSON parser rejects it); control characters are
# escaped in mode=json and dropped in the others. mode=json: the input as one JSON string;
# mode=line: the input as one line of at most 300 bytes; mode=log: the last 20 non-blank
# lines as "log LINE", what a terminal would show after carriage returns.
CLEAN='
BEGIN {
    for (i = 1; i < 256; i++) ord[sprintf("%c", i)] = i
    for (i = 1; i < 32; i++) { c = sprintf("%c", i); je[c] = sprintf("\\u%04x", i); le[c] = "" }
    je["\t"] = "\\t"; je["\n"] = "\\n"; je["\r"] = "\\r"; je["\""] = "\\\""; je["\\"] = "\\\\"
    c = sprintf("%c", 127); je[c] = "\\u007f"; le[c] = ""; le["\t"] = " "
}
function utf8(s, i, o,   n, j, b) {
    if (o >= 194 && o <= 223) n = 1; else if (o >= 224 && o <= 239) n = 2
    else if (o >= 240 && o <= 244) n = 3; else return 0
    b = ord[substr(s, i + 1, 1)]
    if ((o == 224 && b < 160) || (o == 237 && b > 159) || (o == 240 && b < 144) || (o == 244 && b > 143)) return 0
    for (j = 1; j <= n; j++) { b = ord[substr(s, i + j, 1)]; if (b < 128 || b > 191) return 0 }
    return n + 1
}
function clean(s, json, max,   out, n, i, k, c, o) {
    out = ""; n = length(s)
    for (i = 1; i <= n; i += k) {
        c = substr(s, i, 1); o = ord[c]; k = 1
        if (o >= 128) { k = utf8(s, i, o); if (k) c = substr(s, i, k); else { c = "?"; k = 1 } }
        else if (json) { if (c in je) c = je[c] }
        else if (c in le) c = le[c]
        if (length(out) + length(c) > max) break
        out = out c
    }
    return out
}
mode == "log" {
    sub(/\r+$/, ""); sub(/.*\r/, "")
    if ($0 ~ /[^ \t]/) keep[++n % 20] = $0
    next
}
{ s = s (NR > 1 ? "\n" : "") $0 }
END {
    if (mode == "json") printf "\"%s\"", clean(s, 1, 1000)
    else if (mode == "line") { gsub(/\n/, " ", s); print clean(s, 0, 300) }
    else for (i = (n > 20 ? n - 19 : 1); i <= n; i++) print "log " clean(keep[i % 20], 0, 300)
}'
# jstr S: S as a JSON string. Plain text (the usual version, OS name) is printed as is;
# only anything else pays for an awk (process creation is the agent's main cost).
jstr() {
    case $1 in
    *[!A-Za-z0-9\ ._:/+~@=,\(\)-]*) printf '%s' "$1" | LC_ALL=C awk -v mode=json "$CLEAN" ;;
    *) [ ${#1} -le 1000 ] && printf '"%s"' "$1" || printf '%s' "$1" | LC_ALL=C awk -v mode=json "$CLEAN" ;;
    esac
}
jval() { if [ -n "$1" ]; then jstr "$1"; else printf null; fi; }
oneline() { LC_ALL=C awk -v mode=line "$CLEAN"; }
# line LAST FILE: the first (LAST=0) or last (LAST=1) non-blank line of FILE, trimmed.
line() {
    LC_ALL=C awk -v last="$1" '{ sub(/^[ \t\r]+/, ""); sub(/[ \t\r]+$/, "") }
        $0 != "" { l = $0; if (!last) exit } END { print l }' "$2"
}
# The download URL carries the node's token (?t=): never let it reach a message.
redact() { sed 's/\([?&]t=\)[^&[:space:]]*/\1REDACTED/g'; }
cq() { printf '"%s"' "$(printf '%s' "$1" | sed 's/[\\"]/\\&/g')"; } # a curl config value
gnu_wget() { has wget && wget --version 2>/dev/null | grep -q 'GNU Wget'; }

# workdir: makes $D (and pkg/, log/) private and ours, and a scratch directory $T for this
# run, removed at exit. Scratch directories of agents that died (kill -9) are removed too.
workdir() {
    for d in "$D" "$D/pkg" "$D/log"; do
        [ -d "$d" ] || mkdir -p "$d" 2>/dev/null || { why="cannot create $d"; return 1; }
        [ -O "$d" ] || { why="$d is not owned by this user: remove it or set FLEETUP_DIR"; return 1; }
    done
    chmod 700 "$D" "$D/pkg" "$D/log" || { why="cannot make $D private"; return 1; }
    for d in "$D"/tmp.*; do
        [ -d "$d" ] && ! kill -0 "${d##*.}" 2>/dev/null && rm -rf "$d"
    done
    T=$D/tmp.$$
    { [ ! -e "$T" ] || rm -rf "$T"; } && mkdir "$T" || { why="cannot create $T"; return 1; }
    trap 'cd /; rm -rf "$T"' EXIT
    trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM
}

# ---------------------------------------------------------------------------- inventory
# facts: from /proc and /etc/os-release with the shell's own read, no process started.
facts() {
    os="" osv=""
    for f in /etc/os-release /usr/lib/os-release; do
        [ -r "$f" ] || continue
        while IFS='=' read -r k v; do
            v=${v#[\"\']}; v=${v%[\"\']}
            case $k in NAME) os=$v ;; VERSION_ID) osv=$v ;; esac
        done <"$f"
        break
    done
    rd() { v=""; [ -r "$1" ] && IFS= read -r v <"$1"; }
    rd /proc/sys/kernel/hostname; host=$v
    rd /proc/sys/kernel/osrelease; kern=$v
    rd /proc/sys/kernel/arch; arch=$v
    [ -n "$host" ] || host=$(uname -n)
    [ -n "$kern" ] || kern=$(uname -r)
    [ -n "$arch" ] || arch=$(uname -m)
    [ -n "$os" ] || { os=$(uname -s); osv=$kern; }
    up=null
    if [ -r /proc/uptime ]; then
        read -r u _ </proc/uptime; u=${u%%.*}
        case $u in '' | *[!0-9]*) ;; *) up=$u ;; esac
    fi
    # Printed piece by piece: "$(jval ...)" would cost a fork each.
    printf '{"hostname":'; jval "$host"; printf ',"os":'; jval "$os"
    printf ',"os_version":'; jval "$osv"; printf ',"kernel":'; jval "$kern"
    printf ',"arch":'; jval "$arch"; printf ',"uptime_s":%s}' "$up"
}

# first FILE: its first non-blank line, trimmed, in $v (builtins only).
first() {
    v=""
    while IFS= read -r l || [ -n "$l" ]; do
        l=${l#"${l%%[![:space:]]*}"}; l=${l%"${l##*[![:space:]]}"}
        [ -z "$l" ] || { v=$l; return; }
    done <"$1"
}

# probed PROBE: the version a probe prints, or its error. The probe runs in a subshell
# (a fork, no exec: the cheapest way to keep its cd, exit and variables to itself); a
# probe that hangs is ended by the inventory phase's timeout on fleetup's side.
probed() {
    (eval "$1") </dev/null >"$P.out" 2>"$P.err"
    rc=$?
    if [ "$rc" -ne 0 ]; then
        msg="probe exited $rc"
        e=$(line 1 "$P.err"); [ -z "$e" ] || msg="$msg: $e"
        printf '"error":'; jstr "$msg"
        return
    fi
    first "$P.out"
    if [ -n "$v" ]; then printf '"version":'; jstr "$v"; printf ',"source":"probe"'; else printf '"version":null'; fi
}

packaged() { # packaged NAME: the installed version from dpkg, else rpm
    if has dpkg-query; then
        # ${Status} too: a removed package whose config files remain still has a version.
        v=$(dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null </dev/null |
            awk '$3 == "installed" { print $4; exit }')
        [ -z "$v" ] || { printf '"version":'; jstr "$v"; printf ',"source":"dpkg"'; return; }
    fi
    if has rpm && v=$(rpm -q --qf '%{VERSION}-%{RELEASE}\n' "$1" 2>/dev/null </dev/null); then
        v=$(printf '%s\n' "$v" | tail -n 1) # several (kernels): the last installed
        [ -z "$v" ] || { printf '"version":'; jstr "$v"; printf ',"source":"rpm"'; return; }
    fi
    printf '"version":null'
}

fwupd() { # fwupdmgr's own JSON, embedded as is when it looks like one whole object
    if has fwupdmgr && $TMO fwupdmgr get-devices --json </dev/null >"$P.fw" 2>/dev/null &&
        [ "$(LC_ALL=C awk '{ s = s $0 } END { gsub(/[ \t\r]/, "", s); print substr(s, 1, 1) substr(s, length(s)) }' "$P.fw")" = "{}" ]; then
        cat "$P.fw"
    else
        printf null
    fi
}

# Inventory needs no scratch directory: its few scratch files ($P.*) sit in $D, are
# reused by the next run and never hold a secret.
inventory() {
    TMO=""
    has timeout && TMO="timeout 60"
    [ -d "$D" ] || mkdir -p "$D" || { echo "fleetup-agent: cannot create $D" >&2; exit 1; }
    [ -O "$D" ] || { echo "fleetup-agent: $D is not owned by this user: remove it or set FLEETUP_DIR" >&2; exit 1; }
    P=$D/.inventory
    printf '{"agent":1,\n "facts":'
    facts
    printf ',\n "components":['
    sep=""
    while IFS= read -r l || [ -n "$l" ]; do
        name=${l%%"$TAB"*}; probe=""
        case $l in *"$TAB"*) probe=${l#*"$TAB"} ;; esac
        [ -n "$name" ] || continue
        printf '%s{"name":' "$sep"; jstr "$name"; printf ','
        if [ -n "$probe" ]; then probed "$probe"; else packaged "$name"; fi
        printf '}'
        sep=',
  '
    done
    printf '],\n "fwupd":'
    fwupd
    printf '}\n'
}

# ---------------------------------------------------------------------- install, stage
# post STATE PERCENT MESSAGE [EXIT]: a best-effort status post to fleetup, the token in a
# private config file, never in argv. After one failure no more tries, so a blocked
# callback port costs an install at most 5 s (the result still goes back over SSH).
post() {
    [ "$posting" = 1 ] && [ -n "$status" ] && [ -n "$token" ] || return 0
    {
        printf '{"phase":"%s","state":"%s","percent":%s,"message":%s' "$cmd" "$1" "$2" "$(jstr "$3")"
        [ -z "${4:-}" ] || printf ',"exit_code":%s' "$4"
        printf '}\n'
    } >"$T/post.json"
    if has curl; then
        {
            printf 'url = %s\nheader = %s\n' "$(cq "$status")" "$(cq "Authorization: Bearer $token")"
            printf 'header = "Content-Type: application/json"\ndata-binary = %s\n' "$(cq "@$T/post.json")"
            printf 'output = "/dev/null"\nsilent\nfail\ngloboff\nconnect-timeout = 3\nmax-time = 5\n'
            [ -z "$pin" ] || printf 'pinnedpubkey = %s\ninsecure\n' "$(cq "$pin")"
        } >"$T/post.conf"
        curl -q -K "$T/post.conf" </dev/null >/dev/null 2>&1 || posting=0
    elif gnu_wget && [ "${status#https:}" = "$status" ]; then
        # GNU wget takes headers from a wgetrc; it cannot check the pin, so never https.
        printf 'header = Authorization: Bearer %s\nheader = Content-Type: application/json\npost_file = %s\ntimeout = 5\ntries = 1\n' \
            "$token" "$T/post.json" >"$T/post.rc"
        printf '%s\n' "$status" >"$T/post.url"
        wget -q --config="$T/post.rc" -O /dev/null -i "$T/post.url" </dev/null >/dev/null 2>&1 || posting=0
    else
        posting=0 # busybox wget takes headers only in argv, where other users could read them
    fi
    rm -f "$T/post.conf" "$T/post.rc" "$T/post.url"
}

progress() { pct=$1; printf 'progress %s %s\n' "$1" "$2"; post running "$1" "$2"; }
fail() {
    m=$(printf '%s' "$1" | redact | oneline)
    post failed "$pct" "$m"
    printf 'error %s\n' "$m"
    exit 2
}

# run OUT HOOK CMD...: runs CMD (stdin /dev/null, stdout and stderr to OUT) in the
# background and calls HOOK SECONDS every 30 s, because fleetup gives up on a node that
# stays silent for 10 minutes; sets rc to CMD's exit status. Polls every 50 ms for the
# first second (most commands are quick), then every second.
run() {
    out=$1 hook=$2; shift 2
    [ ! -e "$T/rc" ] || rm -f "$T/rc"
    ("$@" </dev/null >"$out" 2>&1; echo $? >"$T/rc") &
    pid=$! n=0 quick=20
    while [ ! -s "$T/rc" ] && kill -0 "$pid" 2>/dev/null; do
        # A sleep without fractions fails at once: then whole seconds only.
        if [ $quick -gt 0 ] && sleep 0.05 2>/dev/null; then quick=$((quick - 1)); continue; fi
        quick=0
        sleep 1; n=$((n + 1))
        [ $((n % 30)) -ne 0 ] || "$hook" "$n"
    done
    wait "$pid"; rc=$?
    [ ! -s "$T/rc" ] || read -r rc <"$T/rc"
}

sha256() {
    if has sha256sum; then sha256sum <"$1" | awk '{ print tolower($1) }'
    elif has openssl; then openssl dgst -sha256 <"$1" | awk '{ print tolower($NF) }'
    elif has shasum; then shasum -a 256 <"$1" | awk '{ print tolower($1) }'
    else return 1; fi
}

check() { # check FILE: size and SHA-256 as the header says; why says what is wrong
    got=$(wc -c <"$1" | tr -d ' ')
    [ "$got" = "$size" ] || { why="size mismatch: got $got bytes, want $size"; return 1; }
    got=$(sha256 "$1") || { why="no sha256sum, openssl or shasum on the node"; return 1; }
    [ "$got" = "$sha" ] || { why="checksum mismatch: got $got, want $sha"; return 1; }
}

room() { # fails early rather than filling the disk halfway
    avail=$(df -Pk "$D/pkg" 2>/dev/null | awk 'NR == 2 { print $4 }')
    case $avail in '' | *[!0-9]*) return 0 ;; esac
    need=$((size / 1024 + 1))
    [ "$avail" -ge "$need" ] || fail "no space for the package in $D/pkg: need $need KiB, $avail KiB free"
}

dl_beat() {
    got=$(wc -c <"$part" 2>/dev/null | tr -d ' ')
    [ "$size" -gt 0 ] && p=$((10 + ${got:-0} * 50 / size)) || p=10
    [ "$p" -le 59 ] || p=59
    progress "$p" "downloading ($got of $size bytes)"
}

download() { # pull mode: the URL (it holds the token) goes into a private file, not argv
    progress 10 downloading
    if has curl; then
        {
            printf 'url = %s\noutput = %s\n' "$(cq "$url")" "$(cq "$part")"
            printf 'fail\nsilent\nshow-error\ngloboff\nconnect-timeout = 30\nmax-time = 21600\n'
            printf 'speed-limit = 1\nspeed-time = 120\n' # a stalled transfer ends in 2 minutes
            [ -z "$pin" ] || printf 'pinnedpubkey = %s\ninsecure\n' "$(cq "$pin")"
        } >"$T/dl.conf"
        tool=curl
        run "$T/dl.err" dl_beat curl -q -K "$T/dl.conf"
        rm -f "$T/dl.conf"
    elif [ "${url#https:}" != "$url" ]; then
        fail "https pull needs curl on the node (or set callback_scheme: http)"
    elif gnu_wget; then
        printf '%s\n' "$url" >"$T/dl.url"
        tool=wget
        run "$T/dl.err" dl_beat wget -nv -O "$part" -T 30 -t 1 -i "$T/dl.url"
        rm -f "$T/dl.url"
    else
        fail "pull needs curl or GNU wget on the node (busybox wget would show the token to other users): use mode push"
    fi
    [ "$rc" = 0 ] && return
    rm -f "$part"
    fail "download failed: $tool exit $rc: $(line 1 "$T/dl.err" | sed 's/^curl: ([0-9]*) //')"
}

header() { # reads KEY VALUE lines up to an empty line; the package bytes stay on stdin
    comp="" ver="" sha="" size="" mode=push url="" pin="" status="" token="" args=""
    while IFS= read -r l || [ -n "$l" ]; do
        [ -n "$l" ] || break
        k=${l%% *}; v=${l#"$k"}; v=${v# }
        case $k in
        component) comp=$v ;; version) ver=$v ;; sha256) sha=$v ;; size) size=$v ;;
        mode) mode=$v ;; url) url=$v ;; pin) pin=$v ;; status) status=$v ;;
        token) token=$v ;; args) args=$v ;;
        *) fail "bad header: unknown key '$k'" ;;
        esac
    done
    case $comp in '' | . | .. | */*) fail "bad header: component '$comp' is missing or not a file name" ;; esac
    case $sha in *[!0-9a-f]*) sha=bad ;; esac
    [ ${#sha} -eq 64 ] || fail "bad header: sha256 must be 64 lowercase hex digits"
    case $size in '' | *[!0-9]* | 0?*) fail "bad header: size must be a byte count" ;; esac
    case $mode in
    push) ;;
    pull) [ -n "$url" ] || fail "bad header: pull mode needs a url" ;;
    *) fail "bad header: mode must be push or pull" ;;
    esac
    case $pin in '' | sha256//*) ;; *) fail "bad header: pin must be sha256//BASE64" ;; esac
}

install_beat() { progress 70 "installing ($1 s)"; }

deploy() { # deploy install|stage
    cmd=$1 pct=0 posting=0
    header
    workdir || fail "$why"
    posting=1
    pkg=$D/pkg/$sha part=$T/pkg
    if [ -f "$pkg" ] && check "$pkg"; then
        # Verified before: the C side may stop sending bytes when it reads this line.
        progress 60 "already on the node"
        [ "$mode" = pull ] || cat >/dev/null
    else
        [ ! -e "$pkg" ] || rm -f "$pkg"
        room
        if [ "$mode" = push ]; then
            progress 10 receiving
            cat >"$part" 2>"$T/err" || fail "writing the package to $D/pkg failed: $(line 1 "$T/err")"
        else
            download
        fi
        check "$part" || { rm -f "$part"; fail "$why"; }
        mv -f "$part" "$pkg" || fail "cannot move the package to $pkg"
        progress 60 verified
    fi
    if [ "$cmd" = stage ]; then
        post "done" 100 staged 0
        printf 'result 0\n'
        exit 0
    fi
    chmod 700 "$pkg"
    [ -x "$pkg" ] || fail "cannot execute $pkg: is $D on a noexec mount? (set FLEETUP_DIR)"
    # A fresh working directory, kept if the agent dies while the installer still runs.
    wd=$D/work/$comp
    { [ ! -e "$wd" ] || rm -rf "$wd"; } && mkdir -p "$wd" && cd "$wd" || fail "cannot create $wd"
    FLEETUP_COMPONENT=$comp FLEETUP_VERSION=$ver
    export FLEETUP_COMPONENT FLEETUP_VERSION
    progress 70 installing
    set -f # args are split on spaces, never globbed
    umask "$UMASK0" # files the installer creates get the node's usual modes
    run "$D/log/$comp.log" install_beat "$pkg" $args
    umask 077
    set +f
    cd "$D" && rm -rf "$wd"
    tail -n 200 "$D/log/$comp.log" | tr -d '\000' | LC_ALL=C awk -v mode=log "$CLEAN"
    case $rc in
    0) post "done" 100 installed 0 ;;
    1) post "done" 100 "installed, reboot required" 1 ;;
    3) post "done" 100 "not required (already current)" 3 ;;
    *) post failed 100 "installer failed with exit $rc" "$rc" ;;
    esac
    printf 'result %s\n' "$rc"
    exit 0
}

# --------------------------------------------------------------------------------- reach
reason() { # reason FILE: why a connection failed, from the tool's own message
    case $(cat "$1") in
    *[Rr]efused*) echo "connection refused" ;;
    *[Tt]imed\ out* | *[Tt]imeout*) echo "timed out" ;;
    *"No route"*) echo "no route to host" ;;
    *[Uu]nreachable*) echo "network unreachable" ;;
    *[Rr]esolv* | *"bad address"* | *"nodename nor servname"*) echo "cannot resolve the host" ;;
    *) return 1 ;;
    esac
}

reach_one() { # reach_one HOST PORT: prints open or blocked
    h=$1 p=$2
    case $p in '' | *[!0-9]*) echo "blocked $h $p invalid port"; return ;; esac
    [ "$p" -ge 1 ] && [ "$p" -le 65535 ] || { echo "blocked $h $p invalid port"; return; }
    case $h in '' | -* | *[!A-Za-z0-9.:%_-]*) echo "blocked $h $p invalid host"; return ;; esac
    u=$h
    case $h in *:*) u="[$(printf '%s' "$h" | sed 's/%/%25/')]" ;; esac
    : >"$T/err"
    if has curl; then
        # Any answer, even an HTTP or TLS error, means the port is open. A timeout after
        # the TCP connection was made (time_connect > 0) is a silent service: open too.
        t=$(curl -q -g -s -v -k -o /dev/null -w '%{time_connect}' --connect-timeout 3 \
            --max-time 5 "http://$u:$p/" </dev/null 2>"$T/err")
        case $?:$t in
        6:*) r="cannot resolve the host" ;;
        7:*) r=$(reason "$T/err") || r="cannot connect" ;;
        28:*[1-9]*) r="" ;;
        28:*) r="timed out" ;;
        *) r="" ;;
        esac
    elif has nc && nc -h 2>&1 | grep -q -- '-z'; then
        if nc -z -w 3 "$h" "$p" </dev/null >/dev/null 2>"$T/err"; then r=""
        else r=$(reason "$T/err") || r="cannot connect"; fi
    elif has wget; then
        # busybox 1.35's wget -T crashes: bound it with timeout(1) instead.
        if gnu_wget; then wget -nv -T 3 -t 1 -O /dev/null "http://$u:$p/" </dev/null >/dev/null 2>"$T/err"
        else $TMO5 wget -O /dev/null "http://$u:$p/" </dev/null >/dev/null 2>"$T/err"; fi
        rc=$?
        r=$(reason "$T/err") || r=""
        case $r:$rc in :124 | :143) [ -z "$TMO5" ] || r="timed out" ;; esac
    else
        r="no curl, wget or nc on the node"
    fi
    if [ -z "$r" ]; then echo "open $h $p"; else echo "blocked $h $p $r"; fi
}

reach() {
    if [ $# -eq 0 ] || [ $(($# % 2)) -ne 0 ]; then
        echo "fleetup-agent: usage: reach HOST PORT [HOST PORT ...]" >&2
        exit 64
    fi
    TMO5=""
    if has timeout && timeout 5 true 2>/dev/null; then TMO5="timeout 5"; fi
    while [ $# -ge 2 ]; do reach_one "$1" "$2"; shift 2; done
}

# ------------------------------------------------------------------------ reboot, bootid
# The boot id changes with every boot: fleetup compares it across a reboot to know the
# node really went down and came back. FLEETUP_BOOT_ID_FILE and FLEETUP_REBOOT_CMD are
# set by test harnesses that simulate nodes; a real node has neither.
bootid() {
    IFS= read -r b <"${FLEETUP_BOOT_ID_FILE:-/proc/sys/kernel/random/boot_id}" ||
        { echo "fleetup-agent: no boot id on this node" >&2; exit 1; }
    printf '%s\n' "$b"
}

reboot_node() {
    printf 'boot %s\n' "$(bootid)"
    # Detached and 2 s late, so this command's answer gets back over SSH first.
    (
        trap '' HUP
        sleep 2
        if [ -n "${FLEETUP_REBOOT_CMD:-}" ]; then sh -c "$FLEETUP_REBOOT_CMD"
        elif has shutdown; then shutdown -r now
        elif has systemctl; then systemctl reboot
        else reboot; fi
    ) </dev/null >/dev/null 2>&1 &
}

# ----------------------------------------------------------------------------------- main
case ${1:-} in
inventory) inventory ;;
reach)
    workdir || { echo "fleetup-agent: $why" >&2; exit 1; }
    shift
    reach "$@" ;;
install | stage) deploy "$1" ;;
version) echo "fleetup-agent 1" ;;
bootid) bootid ;;
reboot) reboot_node ;;
*)
    echo "fleetup-agent: unknown command '${1:-}' (inventory, install, stage, reach, bootid, reboot, version)" >&2
    exit 64 ;;
esac
