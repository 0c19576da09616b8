#!/bin/sh
# Redfish rollout benchmark: `fleetup deploy` driving 10,000 BMCs simulated by fleetsim
# (inventory, SimpleUpdate of two firmware components one after the other with the
# images pulled from fleetup's own server, verify), beside Ansible's community.general
# Redfish modules doing the same rollout (tests/bench/bench_redfish_peer.yml) on a
# smaller fleetsim fleet, in the same run.
#   tests/bench/bench_redfish.sh BUILD_DIR
# Measures fleetup's makespan against the ideal of the policy and the simulated flash
# time, its CPU per node, its peak RSS and RSS per concurrently connected BMC, and its
# errors; the peer's wall time, CPU per node and memory per node; the ratios. Prints the
# tables and writes them into docs/benchmarks.md between the redfish markers.
# Environment (defaults in brackets):
#   BENCH_REDFISH_NODES [10000]   BENCH_REDFISH_FLASH [20s]   BENCH_REDFISH_WAVES ["1, 5%, 25%, 100%"]
#   BENCH_REDFISH_CONCURRENCY [0: no cap]   BENCH_REDFISH_CONNECT [200] (phase_concurrency connect)
#   BENCH_REDFISH_PEER_NODES [50]
#   BENCH_REDFISH_FORKS [50]   BENCH_REDFISH_PEER_DELAY [10] (seconds between the peer's polls)
#   BENCH_REDFISH_PEER [1] (0: fleetup only, docs/benchmarks.md is left alone)
#   BENCH_OUT [bench-out]   BENCH_DOC [docs/benchmarks.md]
set -eu

die() { echo "bench_redfish: $*" >&2; exit 1; }
log() { echo "redfish: $*" >&2; }

[ $# -eq 1 ] || { echo "usage: tests/bench/bench_redfish.sh BUILD_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
[ -d "$1" ] || die "build directory '$1' does not exist; run 'make build' first"
build=$(cd "$1" && pwd)

N=${BENCH_REDFISH_NODES:-10000}
FLASH=${BENCH_REDFISH_FLASH:-20s}
WAVES=${BENCH_REDFISH_WAVES:-"1, 5%, 25%, 100%"}
CONC=${BENCH_REDFISH_CONCURRENCY:-0}
CONNECT=${BENCH_REDFISH_CONNECT:-200}
PN=${BENCH_REDFISH_PEER_NODES:-50}
FORKS=${BENCH_REDFISH_FORKS:-50}
PDELAY=${BENCH_REDFISH_PEER_DELAY:-10}
PEER=${BENCH_REDFISH_PEER:-1}
out=${BENCH_OUT:-$root/bench-out}/redfish
doc=${BENCH_DOC:-$root/docs/benchmarks.md}
PY=/usr/bin/python3   # not a pyenv shim: the same interpreter Ansible runs on

# --- tools -----------------------------------------------------------------------
hint="install the benchmark peers with 'tools/setup.sh --bench' (or 'make bench')"
[ -x "$build/fleetup" ] || die "$build/fleetup not found; build it with 'make build'"
[ -x "$build/fleetsim" ] || die "$build/fleetsim not found; build it with 'make build'"
[ -x "$PY" ] || die "$PY is missing"
command -v ss >/dev/null 2>&1 || die "ss (iproute2) is missing"
/usr/bin/time -f '%e' -o /dev/null true 2>/dev/null ||
    die "GNU time (/usr/bin/time with -f) is missing; $hint (Debian package 'time')"
if [ "$PEER" = 1 ]; then
    command -v ansible-playbook >/dev/null 2>&1 ||
        die "ansible-playbook is missing; $hint (Debian package 'ansible')"
    CG=/usr/lib/python3/dist-packages/ansible_collections/community/general
    [ -f "$CG/plugins/modules/redfish_command.py" ] ||
        die "community.general's Redfish modules are missing; $hint (Debian package 'ansible')"
fi
case "$FLASH" in
*ms) FLASH_MS=${FLASH%ms} ;;
*s) FLASH_MS=$((${FLASH%s} * 1000)) ;;
*m) FLASH_MS=$((${FLASH%m} * 60000)) ;;
*) die "BENCH_REDFISH_FLASH: a duration like 20s, 1m or 500ms" ;;
esac

rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
# Private copies: other builds of the tree may replace build/fleetup during the run.
fu="$out/fleetup"
fs="$out/fleetsim"
cp "$build/fleetup" "$fu"
cp "$build/fleetsim" "$fs"
git_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no -- src tools/fleetsim CMakeLists.txt 2>/dev/null)" ]; then
    git_rev="$git_rev + uncommitted changes in src/ or tools/fleetsim/"
fi
FU_VERSION="$("$fu" --version 2>&1 | head -n 1) (tree at git $git_rev; $(basename "$build")/fleetup built $(date -u -r "$build/fleetup" '+%Y-%m-%d %H:%M UTC'))"

# Ports below the ephemeral range (32768 up): the rollout leaves tens of thousands of
# loopback connections in TIME_WAIT. fleetup deploy's package server, the two fleetsim
# fleets, fleetup serve for the peer.
base=$((20000 + $$ % 1000 * 12))
P_PKG=$base; P_PKGS=$((base + 1))
P_SIM=$((base + 2)); P_PSIM=$((base + 3))
P_SRV=$((base + 4)); P_SRVS=$((base + 5))

pids=""
cleanup() {
    for p in $pids; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in $pids; do
        wait "$p" 2>/dev/null || true
    done
    pids=""
}
trap cleanup EXIT
trap 'cleanup; exit 143' INT TERM HUP

# stop PID: SIGTERM (fleetsim prints its summary line), at most 30 s, then SIGKILL.
stop() {
    kill -TERM "$1" 2>/dev/null || return 0
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    pids=$(echo " $pids " | sed "s/ $1 / /")
}

# wait_for FILE PID WHAT: until FILE is non-empty (30 s at most, or PID dies).
wait_for() {
    i=0
    while [ ! -s "$1" ]; do
        kill -0 "$2" 2>/dev/null || die "$3 exited"
        [ $i -lt 300 ] || die "$3 did not start in 30 s"
        i=$((i + 1)); sleep 0.1
    done
}

# The sampler: every SECONDS, for the processes under ROOT (by name, or the whole tree),
# their summed RSS and PSS, descriptors, and the established TCP connections to PORT.
cat >"$out/sample.py" <<'PY'
import os, subprocess, sys, time
root, name, port, interval, limit = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
def tree():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit(): continue
        try:
            s = open("/proc/%s/stat" % d).read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        kids.setdefault(int(rest[1]), []).append((int(d), s[s.index("(") + 1:s.rindex(")")]))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        for c, comm in kids.get(p, []):
            out.append((c, comm)); todo.append(c)
    return out
def kib(path, key):
    try:
        for line in open(path):
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
def ticks(p):  # utime + stime of the process itself
    try:
        s = open("/proc/%d/stat" % p).read()
        f = s[s.rindex(")") + 2:].split()
        return int(f[11]) + int(f[12])
    except (OSError, IndexError, ValueError):
        return 0
t0 = time.time()
print("epoch\tprocs\trss_kib\tpss_kib\thwm_kib\tfds\tconns\tticks", flush=True)
while os.path.exists("/proc/%d" % root) and time.time() - t0 < limit:
    procs = [p for p, comm in tree() if name == "*" or comm == name]
    rss = pss = hwm = fds = cpu = conns = 0
    for p in procs:
        rss += kib("/proc/%d/status" % p, "VmRSS:")
        hwm = max(hwm, kib("/proc/%d/status" % p, "VmHWM:"))
        pss += kib("/proc/%d/smaps_rollup" % p, "Pss:")
        cpu += ticks(p)
        try:
            fds += len(os.listdir("/proc/%d/fd" % p)) if port else 0
        except OSError:
            pass
    if port:  # 0: CPU and memory only (the sampler's own cost stays small)
        conns = subprocess.run(["ss", "-Htn", "state", "established", "( dport = :%d )" % port],
                               capture_output=True, text=True).stdout.count("\n")
    if procs:
        print("%.2f\t%d\t%d\t%d\t%d\t%d\t%d\t%d" % (time.time(), len(procs), rss, pss, hwm, fds, conns, cpu), flush=True)
    time.sleep(interval)
PY

# The fleet file: fleetsim's BMCs, the baseline of inventories/fleetsim.yml (two iLO
# components, the System ROM after the iLO firmware, no reboot), the policy under test.
# retries: 0, so that any error shows in the summary instead of being retried away.
fleet() { # fleet FILE INVENTORY
    {
        echo "fleetup: 1"
        echo "server:"
        echo "  bind: 127.0.0.1"
        echo "inventory: $2"
        sed -n '/^baseline:/,/^rollout:/p' "$root/inventories/fleetsim.yml" | sed '$d' |
            sed "s#package: packages/#package: $root/inventories/packages/#"
        echo "rollout:"
        echo "  waves: [$WAVES]"
        [ "$CONC" -gt 0 ] && echo "  concurrency: $CONC"
        [ "$CONNECT" -gt 0 ] && echo "  phase_concurrency: {connect: $CONNECT}"
        echo "  retries: 0"
        echo "  timeouts: {connect: 1m, inventory: 2m, install: 10m, verify: 5m}"
    } >"$1"
}
ILO_SHA=$(sed -n '/name: ilo-firmware/,/sha256/s/.*sha256: *//p' "$root/inventories/fleetsim.yml")
ROM_SHA=$(sed -n '/name: system-rom/,/sha256/s/.*sha256: *//p' "$root/inventories/fleetsim.yml")
ILO_V=$(sed -n '/name: ilo-firmware/,/version:/s/.*version: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$root/inventories/fleetsim.yml")
ROM_V=$(sed -n '/name: system-rom/,/ version:/s/^ *version: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$root/inventories/fleetsim.yml")
[ ${#ILO_SHA} -eq 64 ] && [ ${#ROM_SHA} -eq 64 ] && [ -n "$ILO_V" ] && [ -n "$ROM_V" ] ||
    die "could not read the baseline of inventories/fleetsim.yml"

start=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# --- fleetup ----------------------------------------------------------------------
mkdir -p "$out/fu"
fleet "$out/fu/fleet.yml" "$out/fu/bmcs.yml"
log "fleetsim: $N BMCs, flash time $FLASH exactly (--flash-spread 0), port $P_SIM"
"$fs" --nodes "$N" --port "$P_SIM" --baseline "$out/fu/fleet.yml" --flash-time "$FLASH" \
    --flash-spread 0 --state-dir "$out/fu/sim" --write-inventory "$out/fu/bmcs.yml" \
    2>"$out/fu/fleetsim.log" &
SIM=$!
pids="$pids $SIM"
wait_for "$out/fu/bmcs.yml" $SIM fleetsim
"$fu" validate "$out/fu/fleet.yml" >/dev/null || die "the generated fleet file does not validate"
log "fleetup deploy: $N BMCs in waves [$WAVES]$([ "$CONC" -gt 0 ] && echo ", concurrency $CONC")"
# deploy under GNU time (wall, user+sys, peak RSS); the sampler watches it meanwhile.
/usr/bin/time -v -o "$out/fu/time.txt" timeout -k 10 1800 \
    "$fu" deploy "$out/fu/fleet.yml" --state-dir "$out/fu/state" --port $P_PKG --ssl-port $P_PKGS --json \
    >"$out/fu/summary.json" 2>"$out/fu/deploy.log" &
DEP=$!
pids="$pids $DEP"
"$PY" "$out/sample.py" $DEP fleetup $P_SIM 1 1900 >"$out/fu/samples.tsv" &
SMP=$!
pids="$pids $SMP"
"$PY" "$out/sample.py" $$ fleetsim 0 1 1900 >"$out/fu/sim-samples.tsv" &
SMP2=$!
pids="$pids $SMP2"
rc=0
wait $DEP || rc=$?
pids=$(echo " $pids " | sed "s/ $DEP / /")
# fleetsim's CPU before it is stopped (its own, for the record: the BMCs' side).
SIM_CPU=$(awk '{ print ($14 + $15) / '"$(getconf CLK_TCK)"' }' "/proc/$SIM/stat")
stop $SIM
stop $SMP2
wait $SMP 2>/dev/null || true
pids=$(echo " $pids " | sed "s/ $SMP / /")
[ $rc -le 1 ] || { tail -n 20 "$out/fu/deploy.log" >&2; die "fleetup deploy exited $rc"; }
log "$(tail -n 1 "$out/fu/fleetsim.log")"
"$PY" - "$out/fu/state/journal.db" >"$out/fu/waves.tsv" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
# Per wave, from the journal (ms since the rollout started, and the start in epoch ms):
# its size, start, end (barrier: the next wave's start, or the end of the rollout), when
# its last node started installing (phase 3), and its longest install.
t0 = db.execute("select started_ms from rollouts order by id desc limit 1").fetchone()[0]
sizes = dict(db.execute("select wave, count(*) from rollout_nodes group by wave"))
starts = {0: 0}
starts.update({w: t for t, w in db.execute("select at_ms, wave from events where message = 'wave started'")})
end = db.execute("select max(at_ms) from events where kind in ('finished', 'halted', 'aborted')").fetchone()[0]
per = {}
for w, ins, dur in db.execute("""
        with s as (select t.idx, min(case when t.to_phase = 3 then t.at_ms end) ins,
                          min(case when t.to_phase = 5 then t.at_ms end) ver
                   from transitions t group by t.idx)
        select n.wave, max(s.ins), max(s.ver - s.ins) from s join rollout_nodes n using (idx)
        group by n.wave"""):
    per[w] = (ins or 0, dur or 0)
for w in sorted(sizes):
    print(w, sizes[w], starts.get(w, 0), starts.get(w + 1, end), per.get(w, (0, 0))[0], per.get(w, (0, 0))[1], t0, sep="\t")
PY

# --- the peer: Ansible's community.general Redfish modules ----------------------
if [ "$PEER" = 1 ]; then
    mkdir -p "$out/peer/tmp"
    fleet "$out/peer/fleet.yml" "$out/peer/bmcs.yml"
    log "fleetsim: $PN BMCs for the peer, flash time $FLASH exactly, port $P_PSIM"
    "$fs" --nodes "$PN" --port "$P_PSIM" --baseline "$out/peer/fleet.yml" --flash-time "$FLASH" \
        --flash-spread 0 --state-dir "$out/peer/sim" --write-inventory "$out/peer/bmcs.yml" \
        2>"$out/peer/fleetsim.log" &
    PSIM=$!
    pids="$pids $PSIM"
    wait_for "$out/peer/bmcs.yml" $PSIM fleetsim
    # The peer's BMCs pull the same images from fleetup's server (fleetup serve on the
    # same fleet file), each with its own node token in the ImageURI.
    "$fu" serve "$out/peer/fleet.yml" --state-dir "$out/peer/state" --port $P_SRV --ssl-port $P_SRVS \
        --bind 127.0.0.1 >"$out/peer/serve.log" 2>&1 &
    SRV=$!
    pids="$pids $SRV"
    i=0
    until grep -q "TLS certificate" "$out/peer/serve.log"; do
        kill -0 $SRV 2>/dev/null || { cat "$out/peer/serve.log" >&2; die "fleetup serve exited"; }
        [ $i -lt 300 ] || die "fleetup serve did not start in 30 s"
        i=$((i + 1)); sleep 0.1
    done
    {
        echo "rf_user: admin"
        echo "rf_password: '$(cat "$out/peer/bmcs.yml.password")'"
        echo "pkg_base: http://127.0.0.1:$P_SRV"
        echo "ilo_sha: $ILO_SHA"
        echo "rom_sha: $ROM_SHA"
        echo "ilo_version: '$ILO_V'"
        echo "rom_version: '$ROM_V'"
        echo "wait_delay: $PDELAY"
        echo "wait_retries: $((FLASH_MS / 1000 / PDELAY * 10 + 30))"
        echo "pkg_tokens:"
        for h in $(sed -n 's/^ *\(bmc-[0-9]*\):.*/\1/p' "$out/peer/bmcs.yml"); do
            echo "  $h: $("$fu" token "$h" --rollout 1 --state-dir "$out/peer/state")"
        done
    } >"$out/peer/vars.yml"
    # Settings that favour the peer: pipelining, no interpreter discovery (the Debian
    # python3 given), no retry files; its own temporary folder; no proxy.
    log "ansible-playbook: $PN BMCs, $FORKS forks, polls every $PDELAY s"
    rc=0
    (
        cd "$out/peer"
        export ANSIBLE_HOME="$out/peer/home" ANSIBLE_LOCAL_TEMP="$out/peer/tmp" \
            ANSIBLE_PIPELINING=True ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_RETRY_FILES_ENABLED=False \
            ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 ANSIBLE_NOCOLOR=1 \
            ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks no_proxy='*' NO_PROXY='*'
        unset ANSIBLE_CONFIG ANSIBLE_INVENTORY
        exec /usr/bin/time -v -o "$out/peer/time.txt" timeout -k 10 1500 \
            ansible-playbook -i "$out/peer/bmcs.yml" -f "$FORKS" -e @"$out/peer/vars.yml" \
            "$here/bench_redfish_peer.yml"
    ) >"$out/peer/playbook.log" 2>&1 &
    AP=$!
    pids="$pids $AP"
    "$PY" "$out/sample.py" $AP '*' $P_PSIM 0.5 1600 >"$out/peer/samples.tsv" &
    SMP=$!
    pids="$pids $SMP"
    wait $AP || rc=$?
    pids=$(echo " $pids " | sed "s/ $AP / /")
    stop $SRV
    stop $PSIM
    wait $SMP 2>/dev/null || true
    pids=$(echo " $pids " | sed "s/ $SMP / /")
    log "$(tail -n 1 "$out/peer/fleetsim.log")"
    grep -A $((PN + 2)) '^PLAY RECAP' "$out/peer/playbook.log" >"$out/peer/recap.txt" || true
    [ $rc -eq 0 ] || { tail -n 30 "$out/peer/playbook.log" >&2; die "ansible-playbook exited $rc"; }
fi
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
took=$(( $(date +%s) - start ))

# --- figures ------------------------------------------------------------------------
ANSIBLE_V=""
CG_V=""
if [ "$PEER" = 1 ]; then
    ANSIBLE_V=$(ansible --version 2>/dev/null | head -n 1 | tr -d '[]')
    CG_V=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$CG/MANIFEST.json" | head -n 1)
fi
CPU_NAME=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
OS_NAME=$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release 2>/dev/null)
MEM_KIB=$(awk '/^MemTotal/ { print $2 }' /proc/meminfo)
NOFILE=$(ulimit -Hn)

export N FLASH FLASH_MS WAVES CONC CONNECT PN FORKS PDELAY PEER SIM_CPU took LOAD0 LOAD1 ANSIBLE_V CG_V \
    CPU_NAME OS_NAME MEM_KIB NOFILE FU_VERSION
"$PY" - "$out" "$doc" <<'PY'
import bisect, datetime, json, math, os, re, sys
out, doc = sys.argv[1], sys.argv[2]
E = os.environ
N, PN, FORKS = int(E["N"]), int(E["PN"]), int(E["FORKS"])
F = int(E["FLASH_MS"]) / 1000.0
peer = E["PEER"] == "1"
HZ = os.sysconf("SC_CLK_TCK")

def gnu_time(path):
    t = {}
    for line in open(path):
        k, _, v = line.strip().rpartition(": ")
        t[k] = v
    wall = t["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":")
    secs = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
    return {"wall": secs, "cpu": float(t["User time (seconds)"]) + float(t["System time (seconds)"]),
            "maxrss_kib": int(t["Maximum resident set size (kbytes)"])}

def samples(path):
    rows = []
    for line in open(path):
        f = line.split()
        if len(f) != 8 or f[0] == "epoch":
            continue
        rows.append(dict(zip(("t", "procs", "rss", "pss", "hwm", "fds", "conns", "ticks"),
                             [float(f[0])] + [int(x) for x in f[1:]])))
    return rows

def busy(rows, t0, t1):
    """Share of one core a process used between epoch times t0 and t1 (from its samples)."""
    ts = [r["t"] for r in rows]
    i, j = max(bisect.bisect_right(ts, t0) - 1, 0), min(bisect.bisect_left(ts, t1), len(rows) - 1)
    if j <= i:
        return float("nan")
    return (rows[j]["ticks"] - rows[i]["ticks"]) / HZ / (rows[j]["t"] - rows[i]["t"])

# fleetup
s = json.load(open(os.path.join(out, "fu/summary.json")))
ft = gnu_time(os.path.join(out, "fu/time.txt"))
S = samples(os.path.join(out, "fu/samples.tsv"))
SIM = samples(os.path.join(out, "fu/sim-samples.tsv"))
W = [[int(x) for x in l.split()] for l in open(os.path.join(out, "fu/waves.tsv")) if l.strip()]
waves = [w[1] for w in W]
conc = int(E["CONC"])
batches = [math.ceil(w / conc) if conc > 0 else 1 for w in waves]
ideal = sum(batches) * 2 * F
makespan = s["elapsed_ms"] / 1000.0
errors = s["failed"] + s["unreachable"] + s["cancelled"] + s["pending"] + s["waiting"]
progress = open(os.path.join(out, "fu/deploy.log")).read()
inflight_progress = max([int(x) for x in re.findall(r"in flight (\d+)", progress)] or [0])
peak_conns = max(r["conns"] for r in S)
peak_fds = max(r["fds"] for r in S)
peak_rss = ft["maxrss_kib"]
peak_pss = max(r["pss"] for r in S)
one = [r["rss"] for r in S if r["conns"] <= 1]
idle_kib = max(one) if one else 0
per_conn = peak_rss / peak_conns
per_conn_marginal = (peak_rss - idle_kib) / max(peak_conns - 1, 1)
fu_cpu_node = ft["cpu"] * 1000.0 / N
simlog = open(os.path.join(out, "fu/fleetsim.log")).read().strip().splitlines()[-1].replace("fleetsim: ", "")

# peer
if peer:
    pt = gnu_time(os.path.join(out, "peer/time.txt"))
    P = samples(os.path.join(out, "peer/samples.tsv"))
    recap = open(os.path.join(out, "peer/recap.txt")).read()
    p_err = sum(int(x) for x in re.findall(r"(?:failed|unreachable)=(\d+)", recap))
    p_hosts = len(re.findall(r"^bmc-\S+\s+:", recap, re.M))
    p_pss = max(r["pss"] for r in P)
    p_rss = max(r["rss"] for r in P)
    p_procs = max(r["procs"] for r in P)
    p_inflight = min(FORKS, PN)
    p_cpu_node = pt["cpu"] * 1000.0 / PN
    p_mem = p_pss / p_inflight
    psim = open(os.path.join(out, "peer/fleetsim.log")).read().strip().splitlines()[-1].replace("fleetsim: ", "")
    p_ideal = math.ceil(PN / FORKS) * 2 * F

def f(x, d=1):
    return "{:,.{d}f}".format(x, d=d)
def n(x):
    return "{:,}".format(int(x))
def pct(x):
    return "n/a" if x != x else "%d %%" % round(100 * x)

L = []
now = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")
ver = E["FU_VERSION"]
if peer:
    ver += "; %s, community.general %s" % (E["ANSIBLE_V"], E["CG_V"])
L.append("Last run %s on %d x %s (nproc %d), %.1f GiB RAM, %s, open files %s; %s. "
         "The whole benchmark took %d min %02d s; load average %s at the start, %s at the end." % (
    now, os.cpu_count(), E["CPU_NAME"], os.cpu_count(), int(E["MEM_KIB"]) / 2**20, E["OS_NAME"], E["NOFILE"], ver,
    int(E["took"]) // 60, int(E["took"]) % 60, E["LOAD0"], E["LOAD1"]))
L.append("")
pol = "waves [%s], %s%s" % (E["WAVES"], "concurrency %d" % conc if conc > 0 else "no concurrency cap",
                             ", phase_concurrency {connect: %s}" % E["CONNECT"] if int(E["CONNECT"]) > 0 else "")
L.append("Policy: %s; waves of %s BMCs; flash time %g s exactly (`--flash-spread 0`), two components each. "
         "Ideal makespan = %s x 2 x %g s = **%s s**%s." % (
    pol, " / ".join(n(w) for w in waves), F,
    "(" + " + ".join(str(b) for b in batches) + ") batches" if conc > 0 else "%d waves" % len(waves),
    F, f(ideal, 0), "" if conc > 0 else " (concurrency at least the largest wave: one batch per wave)"))
L.append("")
L.append("| tool | BMCs | BMCs in flight (peak) | makespan (s) | ideal (s) | makespan / ideal | CPU user+sys (s) | CPU / BMC (ms) | peak memory (MiB) | memory / BMC in flight (KiB) | errors |")
L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
L.append("| `fleetup deploy` | %s | %s | %s | %s | %.3fx | %s | %s | %s | %s | %d |" % (
    n(N), n(peak_conns), f(makespan, 1), f(ideal, 0), makespan / ideal, f(ft["cpu"], 2), f(fu_cpu_node, 2),
    f(peak_rss / 1024, 1), f(per_conn, 1), errors))
if peer:
    L.append("| Ansible `redfish_info` / `redfish_command` | %s | %s (forks) | %s | %s | %.2fx | %s | %s | %s | %s | %d |" % (
        n(PN), n(p_inflight), f(pt["wall"], 1), f(p_ideal, 0), pt["wall"] / p_ideal, f(pt["cpu"], 1),
        f(p_cpu_node, 0), f(p_pss / 1024, 1), f(p_mem, 0), p_err))
    L.append("")
    L.append("| per BMC | fleetup | Ansible | Ansible / fleetup |")
    L.append("|---|---:|---:|---:|")
    L.append("| CPU (ms) | %s | %s | %sx |" % (f(fu_cpu_node, 2), f(p_cpu_node, 0), f(p_cpu_node / fu_cpu_node, 0)))
    L.append("| memory per BMC in flight (KiB) | %s | %s | %sx |" % (f(per_conn, 1), f(p_mem, 0), f(p_mem / per_conn, 0)))
L.append("")
L.append("Per wave (times from the journal; busy = share of one core during the wave's start-up storm, from wave start until its last BMC started installing):")
L.append("")
L.append("| wave | BMCs | duration (s) | ideal (s) | ratio | last BMC installing after (s) | longest install (s; ideal %g) | fleetup busy | fleetsim busy |" % (2 * F))
L.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for (w, size, t0, t1, ins, dur, start_ms), b in zip(W, batches):
    a0, a1 = (start_ms + t0) / 1000.0, (start_ms + ins) / 1000.0
    L.append("| %d | %s | %s | %s | %.3fx | %s | %s | %s | %s |" % (
        w + 1, n(size), f((t1 - t0) / 1000, 1), f(b * 2 * F, 0), (t1 - t0) / 1000 / (b * 2 * F),
        f((ins - t0) / 1000, 2), f(dur / 1000, 2), pct(busy(S, a0, a1)), pct(busy(SIM, a0, a1))))
L.append("")
L.append("How each figure was taken:")
L.append("")
L.append("- fleetup: GNU time of the whole `fleetup deploy` process (user+sys CPU; peak memory = its VmHWM; its peak PSS was %s MiB); the process ran %s s in all (package hashing, start-up, logout). Makespan: the rollout's own `elapsed_ms` (`deploy --json`), first connect to last verify." % (
    f(peak_pss / 1024, 1), f(ft["wall"], 1)))
L.append("- BMCs in flight: the most established TCP connections from fleetup to the BMCs' port at once (`ss`, sampled every second): %s; fleetup's progress lines say at most %s in flight; its open descriptors peaked at %s (BMC connections plus the BMCs' downloads from its package server)." % (
    n(peak_conns), n(inflight_progress), n(peak_fds)))
L.append("- Memory per BMC in flight: peak RSS / peak BMCs connected (the table). Without what fleetup holds with the fleet loaded and one BMC connected (%s MiB during wave 1): (%s - %s) MiB / %s = %s KiB." % (
    f(idle_kib / 1024, 1), f(peak_rss / 1024, 1), f(idle_kib / 1024, 1), n(peak_conns - 1), f(per_conn_marginal, 1)))
L.append("- CPU per BMC: CPU seconds / BMCs in the fleet. fleetsim (the BMCs' side, not counted) used %s CPU s." % f(float(E["SIM_CPU"]), 1))
L.append("- Errors: failed + unreachable + not finished in fleetup's summary (%s done). fleetsim: %s" % (n(s["done"]), simlog))
if peer:
    L.append("- The peer: `ansible-playbook -f %d tests/bench/bench_redfish_peer.yml` on %s other fleetsim BMCs with the same flash time: inventory (`redfish_info` GetFirmwareInventory), then per component `redfish_command` SimpleUpdate with an ImageURI on `fleetup serve` (node token in `?t=`) and GetFirmwareInventory `until` the version changed (`delay: %s`), then a verify. CPU: GNU time of ansible-playbook with every worker and module it ran. Memory: the highest sum of PSS over ansible-playbook and all processes under it, sampled every 0.5 s (up to %d processes; their summed RSS peaked at %s MiB, the largest single one at %s MiB), over its %d forks. Its ideal: ceil(%d / %d) x 2 x %g s. Errors: failed + unreachable in the play recap (%d hosts). fleetsim: %s" % (
        FORKS, n(PN), E["PDELAY"], p_procs, f(p_rss / 1024, 1), f(pt["maxrss_kib"] / 1024, 1), p_inflight, PN, FORKS, F, p_hosts, psim))
L.append("")
pre = sum((w[4] - w[2]) / 1000.0 for w in W)
last = W[-1]
storm_ms = busy(S, (last[6] + last[2]) / 1000.0, (last[6] + last[4]) / 1000.0) * (last[4] - last[2]) / max(last[1], 1)
L.append("Where the time beyond the ideal goes: of the %s s, %s s pass between the start of each wave and the moment its last BMC starts installing (connect with its TLS handshake, login, discovery and inventory of the whole wave at once: in the last wave fleetup spent %s ms of CPU per BMC on it), and %s s go to following the flashes to their end and verifying." % (
    f(makespan - ideal, 1), f(pre, 1), f(storm_ms, 2), f(makespan - ideal - pre, 1)))
L.append("")
L.append("Targets: at most 40 KiB RSS per concurrently connected BMC: %s (%s KiB); makespan at most 1.05x the ideal: %s (%.3fx, %s s against %s s); zero errors without fault injection: %s (%d)." % (
    "**met**" if per_conn <= 40 else "**not met**", f(per_conn, 1),
    "**met**" if makespan <= 1.05 * ideal else "**not met**", makespan / ideal, f(makespan, 1), f(ideal, 0),
    "**met**" if errors == 0 else "**not met**", errors))
body = "\n".join(L)
print(body)
if peer:
    begin, end = "<!-- bench:redfish:begin -->", "<!-- bench:redfish:end -->"
    text = open(doc).read()
    block = begin + "\n" + body + "\n" + end
    if begin in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, count=1, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    open(doc + ".tmp", "w").write(text)
    os.replace(doc + ".tmp", doc)
PY
