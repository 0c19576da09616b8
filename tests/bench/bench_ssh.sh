#!/bin/sh
# SSH fan-out benchmark: the same inventory command on 1,000 nodes of a real OpenSSH sshd
# on loopback (tests/integration/lib/sshd.sh: one address per node, curve25519-sha256 and
# ed25519 pinned), by `fleetup inventory` (twice: the first run uploads the node agent,
# the second finds it) and, in the same run, by pdsh, parallel-ssh, clush and Ansible
# (`-m raw`) with 256 at once. Every tool opens one fresh connection per node with the
# same key, strict host key checking against the same known_hosts, and runs the
# baseline's probe `cat "$NODE_DIR/version"`; every node holds its own version.
#   tests/bench/bench_ssh.sh BUILD_DIR
# Measures per tool: wall time, its own CPU (user+sys of its whole process tree, ssh
# clients included), its peak memory (PSS of the tree, sampled every second), sshd's CPU
# during its run, the floor that sshd's CPU sets on 2 cores, and the nodes that answered
# their own version. Prints the table; writes it into docs/benchmarks.md between the ssh
# markers when fleetup ran and answered for every node.
# It takes about 20 minutes at 1,000 nodes on 2 cores (Ansible alone up to its 600 s
# bound); run.sh reads the limit below instead of its default 900 s.
# bench-timeout: 2700
#   make bench BENCH_ONLY=ssh
# Environment (defaults in brackets):
#   BENCH_SSH_NODES [1000]   BENCH_SSH_FANOUT [256]   BENCH_SSH_TIMEOUT [600] (per tool run)
#   BENCH_SSH_TOOLS ["fleetup pdsh pssh clush ansible"]   BENCH_SSH_PORT [19500 + PID % 500]
#   BENCH_SSH_FLEETUP_ARGS ["--concurrency 32"] (arguments for fleetup inventory)
#   FLEETUP_SKIP [0] (1: the peers only, docs/benchmarks.md is left alone)
#   BENCH_OUT [bench-out]   BENCH_DOC [docs/benchmarks.md]
set -eu

die() { echo "bench_ssh: $*" >&2; exit 1; }
log() { echo "ssh: $*" >&2; }

[ $# -eq 1 ] || { echo "usage: tests/bench/bench_ssh.sh BUILD_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
[ -d "$1" ] || die "build directory '$1' does not exist; run 'make build' first"
build=$(cd "$1" && pwd)

N=${BENCH_SSH_NODES:-1000}
F=${BENCH_SSH_FANOUT:-256}
LIMIT=${BENCH_SSH_TIMEOUT:-600}
TOOLS=${BENCH_SSH_TOOLS:-"fleetup pdsh pssh clush ansible"}
SKIP=${FLEETUP_SKIP:-0}
# 32 at once: here every node's sshd shares the 2 cores with fleetup, so more nodes in
# flight only lengthen each one's turn (the peers' 256 are their documented fan-out).
FU_ARGS=${BENCH_SSH_FLEETUP_ARGS---concurrency 32}
out=${BENCH_OUT:-$root/bench-out}/ssh
doc=${BENCH_DOC:-$root/docs/benchmarks.md}
PY=/usr/bin/python3
PROBE='cat "$NODE_DIR/version"'   # the baseline's probe (sshd_fleet writes the same)

# Thousands of connections: as many descriptors as allowed.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ]; then ulimit -n 1048576 2>/dev/null || true; else ulimit -n "$hard"; fi

# --- tools -----------------------------------------------------------------------
hint="install the benchmark peers with 'tools/setup.sh --bench' (or 'make bench')"
[ "$SKIP" = 1 ] && TOOLS=$(echo " $TOOLS " | sed 's/ fleetup / /')
need() { # need COMMAND PACKAGE: the absolute path, or die
    p=$(command -v "$1" 2>/dev/null) || die "$1 is missing; $hint (Debian package '$2')"
    echo "$p"
}
[ -x /usr/sbin/sshd ] || die "/usr/sbin/sshd is missing; $hint (Debian package 'openssh-server')"
SSH=$(need ssh openssh-client)
need ssh-keygen openssh-client >/dev/null
[ -x "$PY" ] || die "$PY is missing"
/usr/bin/time -f '%e' -o /dev/null true 2>/dev/null ||
    die "GNU time (/usr/bin/time with -f) is missing; $hint (Debian package 'time')"
for t in $TOOLS; do
    case "$t" in
    fleetup) [ -x "$build/fleetup" ] || die "$build/fleetup not found; build it with 'make build' (or FLEETUP_SKIP=1)" ;;
    pdsh)
        PDSH=$(need pdsh pdsh)
        "$PDSH" -V 2>&1 | grep -q 'rcmd modules:.*ssh' || die "pdsh has no ssh module; $hint (Debian package 'pdsh')" ;;
    pssh) PSSH=$(need parallel-ssh pssh) ;;
    clush) CLUSH=$(need clush clustershell) ;;
    ansible) ANSIBLE=$(need ansible ansible-core) ;;
    *) die "BENCH_SSH_TOOLS: unknown tool '$t' (fleetup pdsh pssh clush ansible)" ;;
    esac
done
[ "$(id -u)" = 0 ] ||
    log "not root: sshd's session processes outlive their parents as a non-root sshd, so part of sshd's CPU is not counted"

rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
fu="$out/fleetup"
FU_VERSION="not run (FLEETUP_SKIP=1)"
if [ -x "$build/fleetup" ]; then
    # A private copy: other builds of the tree may replace build/fleetup during the run.
    cp "$build/fleetup" "$fu"
    git_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [ -n "$(git -C "$root" status --porcelain --untracked-files=no -- src CMakeLists.txt 2>/dev/null)" ]; then
        git_rev="$git_rev + uncommitted changes in src/"
    fi
    FU_VERSION="$("$fu" --version 2>&1 | head -n 1) (tree at git $git_rev; $(basename "$build")/fleetup built $(date -u -r "$build/fleetup" '+%Y-%m-%d %H:%M UTC'))"
fi

. "$root/tests/integration/lib/sshd.sh"
W=$out/nodes
samp=""
cleanup() {
    [ -n "$samp" ] && kill "$samp" 2>/dev/null
    sshd_stop "$W"
}
trap cleanup EXIT
trap 'cleanup; exit 143' INT TERM HUP

start=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the nodes ----------------------------------------------------------------------
# Below the ephemeral range (32768 up); a port some address is taken on: the next one.
port=${BENCH_SSH_PORT:-$((19500 + $$ % 500))}
tries=0
until sshd_start "$W" "$port" "$N" 2>"$out/sshd_start.err"; do
    tries=$((tries + 1))
    [ $tries -lt 5 ] || { cat "$out/sshd_start.err" >&2; die "sshd would not start (5 ports tried)"; }
    port=$((port + 1))
done
LISTENERS=$(sshd_pids "$W" | wc -l | tr -d ' ')
log "sshd: $N nodes on 127.1.x.y port $port ($LISTENERS sshd listeners)"
sshd_nodes_dirs "$W" "$N"
# Node K (1..N) answers 1.0.K, so that each answer can be checked.
awk -v n="$N" -v d="$W/nodes" 'BEGIN {
    for (i = 0; i < n; i++) {
        f = sprintf("%s/127.1.%d.%d/version", d, int(i / 250), i % 250 + 1)
        print "1.0." i + 1 > f; close(f)
    }
}'
sshd__addrs "$N" >"$out/hosts"
USER_NAME=$(id -un)
KEY=$W/ssh/id_ed25519
KH=$W/ssh/known_hosts
sshd_fleet "$W" "$port" "$N" "$out/fleet.yml"
if [ -x "$fu" ]; then
    "$fu" validate "$out/fleet.yml" >/dev/null || die "the generated fleet file does not validate"
fi

# The same client settings for every peer: no config files, this key only, strict host
# keys against the harness's known_hosts, never a prompt, no connection sharing.
SSHCOMMON="-F /dev/null -o IdentitiesOnly=yes -o UserKnownHostsFile=$KH -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -o ControlMaster=no -o ControlPath=none -o ConnectTimeout=60"
SSHOPTS="-p $port -i $KEY $SSHCOMMON"
last=$(sshd_node_addr $((N - 1)))
[ "$("$SSH" -n $SSHOPTS "$USER_NAME@$last" "$PROBE" 2>"$out/check.err")" = "1.0.$N" ] ||
    { cat "$out/check.err" >&2; die "ssh to the last node ($last) does not answer 1.0.$N"; }

# --- measuring --------------------------------------------------------------------
TCK=$(getconf CLK_TCK)
NPROC=$(nproc)
sshd_ticks() { # CPU of the listeners and every session they reaped (utime stime cutime cstime)
    for p in $(sshd_pids "$W"); do cat "/proc/$p/stat"; done |
        awk '{ sub(/^.*\) /, ""); s += $12 + $13 + $14 + $15 } END { print s + 0 }'
}
machine_ticks() { # CPU busy on the whole machine: user nice system irq softirq steal
    awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}
quiesce() { # until no session is left under the listeners (60 s at most)
    i=0
    while [ -n "$(sshd__descendants $(sshd_pids "$W"))" ]; do
        [ $i -lt 120 ] || { log "sessions still open after 60 s"; return 0; }
        i=$((i + 1)); sleep 0.5
    done
}

# The sampler: every second, the summed PSS and RSS of the process tree under PID.
cat >"$out/sample.py" <<'PY'
import os, sys, time
root, interval, limit = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
def tree():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit(): continue
        try:
            s = open("/proc/%s/stat" % d).read()
        except OSError:
            continue
        kids.setdefault(int(s[s.rindex(")") + 2:].split()[1]), []).append(int(d))
    out, todo = [root], [root]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c); todo.append(c)
    return out
def kib(path, key):
    try:
        for line in open(path):
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
t0 = time.time()
print("epoch\tprocs\trss_kib\tpss_kib", flush=True)
while os.path.exists("/proc/%d" % root) and time.time() - t0 < limit:
    procs = tree()
    rss = sum(kib("/proc/%d/status" % p, "VmRSS:") for p in procs)
    pss = sum(kib("/proc/%d/smaps_rollup" % p, "Pss:") for p in procs)
    print("%.2f\t%d\t%d\t%d" % (time.time(), len(procs), rss, pss), flush=True)
    time.sleep(interval)
PY

# Every process's CPU with its reaped children (ticks), to name what else ran on the
# machine during a run. Left out: this script and its ancestors (their children's CPU is
# the tool's) and the sshd listeners.
cat >"$out/procs.py" <<'PY'
import os, sys
skip, p = set(int(x) for x in sys.argv[2:]), int(sys.argv[1])
while p > 1:
    skip.add(p)
    try:
        p = int(open("/proc/%d/stat" % p).read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        break
for d in os.listdir("/proc"):
    if not d.isdigit() or int(d) in skip: continue
    try:
        s = open("/proc/%s/stat" % d).read()
    except OSError:
        continue
    f = s[s.rindex(")") + 2:].split()
    print("%s\t%s\t%s\t%d" % (d, f[19], s[s.index("(") + 1:s.rindex(")")].replace("\t", " "),
                               sum(int(x) for x in f[11:15])))
PY

# run NAME CMD...: CMD under GNU time (wall, user+sys and peak RSS of its whole tree, as
# every tool here waits for its children) and timeout; sshd's CPU before and after, with
# every session of the run ended and reaped.
printf 'name\trc\tsshd_ticks\tmachine_ticks\n' >"$out/runs.tsv"
run() {
    name=$1; shift
    d=$out/$name
    mkdir -p "$d"
    quiesce
    s0=$(sshd_ticks)
    "$PY" "$out/procs.py" $$ $(sshd_pids "$W") >"$d/procs0.tsv"
    m0=$(machine_ticks)
    log "$name: $N nodes"
    /usr/bin/time -f '%e %U %S %M' -o "$d/time.txt" timeout -k 10 "$LIMIT" "$@" >"$d/stdout" 2>"$d/stderr" &
    tp=$!
    "$PY" "$out/sample.py" $tp 1 $((LIMIT + 30)) >"$d/samples.tsv" &
    samp=$!
    rc=0
    wait $tp || rc=$?
    m1=$(machine_ticks)
    "$PY" "$out/procs.py" $$ $(sshd_pids "$W") >"$d/procs1.tsv"
    wait $samp 2>/dev/null || true
    samp=""
    quiesce
    s1=$(sshd_ticks)
    printf '%s\t%s\t%s\t%s\n' "$name" "$rc" $((s1 - s0)) $((m1 - m0)) >>"$out/runs.tsv"
    [ $rc -ne 124 ] || log "$name: stopped after $LIMIT s (BENCH_SSH_TIMEOUT)"
    [ $rc -eq 0 ] || { log "$name exited $rc; its stderr:"; tail -n 5 "$d/stderr" >&2; }
}

for t in $TOOLS; do
    case "$t" in
    fleetup)
        # The first run finds no agent on the nodes and uploads it; the second reuses it.
        run fleetup-1 "$fu" inventory "$out/fleet.yml" --json "$out/fleetup-1/out.json" --progress none $FU_ARGS
        run fleetup-2 "$fu" inventory "$out/fleet.yml" --json "$out/fleetup-2/out.json" --progress none $FU_ARGS ;;
    pdsh)
        run pdsh env PDSH_SSH_ARGS="$SSHOPTS -l%u %h" PDSH_SSH_ARGS_APPEND= \
            "$PDSH" -R ssh -f "$F" -t 60 -u "$LIMIT" -l "$USER_NAME" -w "^$out/hosts" "$PROBE" ;;
    pssh)
        run pssh "$PSSH" -h "$out/hosts" -l "$USER_NAME" -p "$F" -t "$LIMIT" -x "$SSHOPTS" \
            -o "$out/pssh/answers" -e "$out/pssh/errors" "$PROBE" ;;
    clush)
        # -o replaces clush.conf's ssh_options; clush adds BatchMode and ConnectTimeout (-t).
        run clush "$CLUSH" -f "$F" -l "$USER_NAME" -t 60 -u "$LIMIT" -o "$SSHOPTS" --color=never \
            --hostfile "$out/hosts" "$PROBE" ;;
    ansible)
        mkdir -p "$out/ansible/home" "$out/ansible/tmp"
        {
            echo "[nodes]"
            cat "$out/hosts"
            echo "[nodes:vars]"
            echo "ansible_port=$port"
            echo "ansible_user=$USER_NAME"
            echo "ansible_ssh_private_key_file=$KEY"
        } >"$out/ansible/inventory.ini"
        # Host keys checked; no tty (-tt) for raw, like the other tools' exec channels;
        # every node a fresh connection (ControlMaster=no). Run from $out: no ansible.cfg.
        (
            cd "$out/ansible"
            unset ANSIBLE_CONFIG ANSIBLE_INVENTORY
            run ansible env ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_SSH_ARGS="$SSHCOMMON" \
                ANSIBLE_SSH_USETTY=False ANSIBLE_TIMEOUT=60 ANSIBLE_SSH_RETRIES=0 \
                ANSIBLE_HOME="$out/ansible/home" ANSIBLE_LOCAL_TEMP="$out/ansible/tmp" \
                ANSIBLE_RETRY_FILES_ENABLED=False ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 \
                ANSIBLE_DEPRECATION_WARNINGS=False \
                "$ANSIBLE" all -i "$out/ansible/inventory.ini" -m raw -a "$PROBE" -f "$F" -o
        ) ;;
    esac
done

LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
took=$(($(date +%s) - start))

# --- versions and machine -----------------------------------------------------------
ver() { "$@" 2>&1 | head -n 1 | tr -d '\r'; }
V_SSH=$(ver "$SSH" -V)
V_PDSH=$( [ -n "${PDSH:-}" ] && ver "$PDSH" -V || echo "")
V_PSSH=$( [ -n "${PSSH:-}" ] && echo "parallel-ssh $(ver "$PSSH" --version)" || echo "")
V_CLUSH=$( [ -n "${CLUSH:-}" ] && ver "$CLUSH" --version || echo "")
V_ANSIBLE=$( [ -n "${ANSIBLE:-}" ] && ver "$ANSIBLE" --version || echo "")
CPU_NAME=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
MEM_KIB=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)
OS_NAME=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME" || uname -sr)
export FU_ARGS LIMIT out doc N F port LISTENERS TCK NPROC SKIP FU_VERSION V_SSH V_PDSH V_PSSH V_CLUSH V_ANSIBLE \
    CPU_NAME MEM_KIB OS_NAME LOAD0 LOAD1 took USER_NAME
NOFILE=$(ulimit -n)
export NOFILE

"$PY" - <<'PY'
import datetime, json, os, re
E = os.environ
out, doc, N, F = E["out"], E["doc"], int(E["N"]), int(E["F"])
TCK, NPROC = int(E["TCK"]), int(E["NPROC"])

def addr(i):  # node i from 0, as tests/integration/lib/sshd.sh numbers them
    return "127.1.%d.%d" % (i // 250, i % 250 + 1)
want = {addr(k - 1): "1.0.%d" % k for k in range(1, N + 1)}
by_name = {"node-%d" % k: addr(k - 1) for k in range(1, N + 1)}

# --- each tool's answers: {address: the version it printed} -------------------------
def fleetup_answers(name):
    # The layout of `fleetup inventory --json` read here: nodes[].name and
    # nodes[].components.app.installed. Adjust these lines if the command writes otherwise.
    j = json.load(open(os.path.join(out, name, "out.json")))
    got = {}
    for n in j["nodes"]:
        comp = n.get("components") or {}
        app = comp.get("app") if isinstance(comp, dict) else None
        if app is not None:
            got[by_name.get(n["name"], n["name"])] = str(app.get("installed"))
    return got

def prefixed_lines(name):  # pdsh and clush: "ADDRESS: OUTPUT LINE"
    got = {}
    for line in open(os.path.join(out, name, "stdout"), errors="replace"):
        m = re.match(r"^(\S+?): (.*)$", line.rstrip("\r\n"))
        if m:
            got[m.group(1)] = m.group(2).strip()
    return got

def pssh_answers(name):  # -o DIR: one file per host
    got, d = {}, os.path.join(out, "pssh", "answers")
    for h in os.listdir(d) if os.path.isdir(d) else []:
        got[h] = open(os.path.join(d, h), errors="replace").read().strip()
    return got

def ansible_answers(name):  # -o: "ADDRESS | CHANGED | rc=0 | (stdout) OUTPUT"
    got = {}
    for line in open(os.path.join(out, name, "stdout"), errors="replace"):
        m = re.match(r"^(\S+) \| (?:CHANGED|SUCCESS) \| rc=0 \| \(stdout\) (.*)$", line.rstrip("\r\n"))
        if m:
            got[m.group(1)] = m.group(2).replace("\\r", "").replace("\\n", "").strip()
    return got

parsers = {"fleetup-1": fleetup_answers, "fleetup-2": fleetup_answers, "pdsh": prefixed_lines,
           "clush": prefixed_lines, "pssh": pssh_answers, "ansible": ansible_answers}
labels = {
    "fleetup-1": "`fleetup inventory%s` (agent uploaded)" % (" " + E["FU_ARGS"] if E["FU_ARGS"] else ""),
    "fleetup-2": "`fleetup inventory%s` (agent in place)" % (" " + E["FU_ARGS"] if E["FU_ARGS"] else ""),
    "pdsh": "pdsh -R ssh -f %d" % F,
    "pssh": "parallel-ssh -p %d" % F,
    "clush": "clush -f %d" % F,
    "ansible": "ansible -m raw -f %d" % F,
}

rows = []
for line in open(os.path.join(out, "runs.tsv")).read().splitlines()[1:]:
    name, rc, ticks, mticks = line.split("\t")
    t = open(os.path.join(out, name, "time.txt")).read().strip().splitlines()[-1].split()
    wall, cpu, maxrss = float(t[0]), float(t[1]) + float(t[2]), int(t[3])
    pss = 0
    for s in open(os.path.join(out, name, "samples.tsv")).read().splitlines()[1:]:
        pss = max(pss, int(s.split("\t")[3]))
    try:
        got = parsers[name](name)
    except (OSError, ValueError, KeyError, TypeError) as e:
        print("ssh: %s: cannot read its answers: %s" % (name, e))
        got = {}
    correct = sum(1 for a, v in want.items() if got.get(a) == v)
    sshd = int(ticks) / TCK
    # A run stopped by its timeout did not reach every node: per-node figures over the
    # nodes it answered for.
    done = N if int(rc) == 0 else max(correct, 1)
    others = max(0.0, int(mticks) / TCK - cpu - sshd)
    # The largest other consumers alive at both ends of the run (pid and start time match).
    before = {}
    for l in open(os.path.join(out, name, "procs0.tsv")).read().splitlines():
        pid, st, comm, t = l.split("\t")
        before[(pid, st)] = int(t)
    top = {}
    for l in open(os.path.join(out, name, "procs1.tsv")).read().splitlines():
        pid, st, comm, t = l.split("\t")
        if (pid, st) in before:
            top[comm] = top.get(comm, 0) + int(t) - before[(pid, st)]
    top = sorted(((v / TCK, k) for k, v in top.items() if v >= TCK), reverse=True)[:3]
    rows.append(dict(name=name, rc=int(rc), wall=wall, cpu=cpu, maxrss=maxrss, pss=pss, correct=correct,
                     sshd=sshd, floor=sshd / NPROC, done=done, others=others, top=top))
R = {r["name"]: r for r in rows}
ref = R.get("fleetup-2")

def f(x, d=1):
    return "{:,.{d}f}".format(x, d=d)
def ratio(x, y):
    return "n/a" if not y else "%.2fx" % (x / y)

L = []
now = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")
L.append("## SSH fan-out: 1,000 nodes on a real sshd" if N == 1000 else "## SSH fan-out: %s nodes on a real sshd" % f(N, 0))
L.append("")
L.append("Every tool runs the baseline's probe `cat \"$NODE_DIR/version\"` on every node, one fresh SSH "
         "connection per node, %d at once for the peers, and each node answers its own version (node K: "
         "`1.0.K`), so every answer is checked. The nodes are one real OpenSSH sshd on loopback "
         "(`tests/integration/lib/sshd.sh`): one address 127.1.x.y per node on one port, `curve25519-sha256` "
         "and an ed25519 host key pinned, an ed25519 user key, no PAM; its ForceCommand picks the node from "
         "the connection's address and runs the command in the node's folder. OpenSSH listens on at most 16 "
         "addresses per process, so the sshd is %d listener processes with one configuration." % (F, int(E["LISTENERS"])))
L.append("")
L.append("Reproduce: `make bench BENCH_ONLY=ssh` (about 20 minutes at 1,000 nodes, most of it Ansible; "
         "the script asks run.sh for 2,700 s), or `BENCH_ONLY=ssh tests/bench/run.sh build` after "
         "`tools/setup.sh --bench`. `BENCH_SSH_NODES`, `BENCH_SSH_FANOUT`, "
         "`BENCH_SSH_TOOLS`, `BENCH_SSH_TIMEOUT` (600 s per tool run) and `BENCH_SSH_FLEETUP_ARGS` change the "
         "defaults; work files and raw samples are in `bench-out/ssh/`.")
L.append("")
L.append("Last run %s on %d x %s (nproc %d), %.1f GiB RAM, %s, open files %s; %s; %s. The whole benchmark "
         "took %d min %02d s; load average %s at the start, %s at the end." % (
    now, NPROC, E["CPU_NAME"], NPROC, int(E["MEM_KIB"]) / 2**20, E["OS_NAME"], E["NOFILE"], E["FU_VERSION"],
    "; ".join(v for v in (E["V_SSH"], E["V_PDSH"], E["V_PSSH"], E["V_CLUSH"], E["V_ANSIBLE"]) if v),
    int(E["took"]) // 60, int(E["took"]) % 60, E["LOAD0"], E["LOAD1"]))
L.append("")
L.append("| tool | wall (s) | wall / fleetup | own CPU / node (ms) | CPU / fleetup | peak memory (MiB) | sshd CPU (s) | sshd floor (s) | wall / floor | correct / %s | other processes' CPU (s) |" % f(N, 0))
L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    cut = r["done"] != N
    L.append("| %s | %s%s | %s | %s%s | %s | %s | %s | %s | %s | %s%s | %s |" % (
        labels.get(r["name"], r["name"]), f(r["wall"], 1), " (stopped)" if r["rc"] == 124 else "",
        "1 (reference)" if r is ref else ratio(r["wall"], ref and ref["wall"]),
        f(r["cpu"] * 1000 / r["done"], 2), " *" if cut else "",
        "1 (reference)" if r is ref else ratio(r["cpu"] / r["done"], ref and ref["cpu"] / ref["done"]),
        f(r["pss"] / 1024, 1), f(r["sshd"], 1), f(r["floor"], 1), ratio(r["wall"], r["floor"]),
        f(r["correct"], 0), "" if r["rc"] == 0 else " (exit %d)" % r["rc"], f(r["others"], 1)))
L.append("")
L.append("How each figure was taken:")
L.append("")
L.append("- wall, own CPU: GNU time around the tool (user+sys of its whole process tree: every ssh client, "
         "worker and fork it waited for). Ratios divide by `fleetup inventory` with the agent in place.")
L.append("- peak memory: the highest sum of PSS over the tool and every process under it, sampled every "
         "second; the largest single process reached %s." % ", ".join(
    "%s %s MiB" % (r["name"], f(r["maxrss"] / 1024, 1)) for r in rows))
L.append("- sshd CPU: utime+stime+cutime+cstime of the %s listeners before and after the run, with every "
         "session ended and reaped: the key exchanges, authentication and sessions on the server side, and "
         "the node's shell and probe (about %s ms per node). sshd floor = sshd CPU / %d cores: no tool can "
         "finish sooner while sharing the machine with the sshd." % (
    E["LISTENERS"], f(sum(r["sshd"] for r in rows) * 1000 / max(len(rows), 1) / N, 0), NPROC))
L.append("- correct: nodes whose answer was exactly their own version. * a run stopped by its %s s bound "
         "(`BENCH_SSH_TIMEOUT`): its CPU per node is over the nodes it answered for." % E["LIMIT"])
L.append("- other processes' CPU: the machine's busy time (`/proc/stat`) during the run less the tool's and "
         "sshd's: anything else running on the 2 cores (the memory sampler included). Where it is large, "
         "wall times are stretched by that share. Largest other consumers seen: %s." % "; ".join(
    "%s: %s" % (r["name"], ", ".join("%s %s s" % (k, f(v, 1)) for v, k in r["top"]) or "none over 1 s")
    for r in rows))
L.append("- Client settings shared by the peers: `-F /dev/null`, the same key (`IdentitiesOnly`), "
         "`StrictHostKeyChecking=yes` against the harness's known_hosts, `BatchMode=yes`, `ControlMaster=no`, "
         "`ConnectTimeout=60`. Ansible: `ANSIBLE_HOST_KEY_CHECKING=True`, no tty for `raw` "
         "(`ANSIBLE_SSH_USETTY=False`), the same options as `ANSIBLE_SSH_ARGS`.")
body = "\n".join(L)
print(body)
open(os.path.join(out, "table.md"), "w").write(body + "\n")

fu = [r for r in rows if r["name"].startswith("fleetup")]
if E["SKIP"] != "1" and fu and all(r["correct"] == N and r["rc"] == 0 for r in fu):
    begin, end = "<!-- bench:ssh:begin -->", "<!-- bench:ssh:end -->"
    text = open(doc).read()
    block = begin + "\n" + body + "\n" + end
    if begin in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, count=1, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    open(doc + ".tmp", "w").write(text)
    os.replace(doc + ".tmp", doc)
else:
    print("\n(%s left as it is: %s)" % (os.path.relpath(doc), "FLEETUP_SKIP=1" if E["SKIP"] == "1" else
          "fleetup did not answer for every node"))
PY

# Exit 1 when a tool did not run to its end (timeout, crash) or fleetup missed a node.
awk -F'\t' 'NR > 1 && ($2 == 124 || $2 == 137 || $2 >= 128) { bad = 1 } END { exit bad }' "$out/runs.tsv" ||
    die "a tool was stopped or crashed (see $out/runs.tsv)"
