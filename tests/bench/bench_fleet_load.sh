#!/bin/sh
# Fleet load benchmark: fleetup beside ansible-inventory on the same generated
# datacenter inventory (tests/bench/gen_inventory.py), in the same run.
#   tests/bench/bench_fleet_load.sh BUILD_DIR
# For each size it times `fleetup validate`, `fleetup nodes --json` and
# `ansible-inventory --list` with GNU time (wall, user+sys CPU, peak RSS), checks that
# both tools resolve the same hosts with the same address/port/user/type/labels/groups,
# prints a markdown table and writes it into docs/benchmarks.md between the
# fleet_load markers. Any mismatch or failed command exits non-zero.
# Environment (defaults in brackets):
#   BENCH_FLEET_SIZES ["10000 100000"]  BENCH_FLEETUP_RUNS [5]  BENCH_ANSIBLE_RUNS [2]
#   BENCH_SEED [20240601]  BENCH_OUT [bench-out]  BENCH_DOC [docs/benchmarks.md]
set -eu

die() { echo "bench_fleet_load: $*" >&2; exit 1; }
log() { echo "fleet_load: $*" >&2; }

[ $# -eq 1 ] || { echo "usage: tests/bench/bench_fleet_load.sh BUILD_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
[ -d "$1" ] || die "build directory '$1' does not exist; run 'make build' first"
build=$(cd "$1" && pwd)

sizes=${BENCH_FLEET_SIZES:-"10000 100000"}
fu_runs=${BENCH_FLEETUP_RUNS:-5}
ai_runs=${BENCH_ANSIBLE_RUNS:-2}
seed=${BENCH_SEED:-20240601}
out=${BENCH_OUT:-$root/bench-out}/fleet_load
doc=${BENCH_DOC:-$root/docs/benchmarks.md}

# --- tools -----------------------------------------------------------------------
hint="install the benchmark peers with 'tools/setup.sh --bench' (or 'make bench')"
[ -x "$build/fleetup" ] || die "$build/fleetup not found; build it with 'make build'"
command -v python3 >/dev/null 2>&1 || die "python3 is missing; $hint"
/usr/bin/time -f '%e' -o /dev/null true 2>/dev/null ||
    die "GNU time (/usr/bin/time with -f) is missing; $hint (Debian package 'time')"
command -v ansible-inventory >/dev/null 2>&1 ||
    die "ansible-inventory is missing; $hint (Debian package 'ansible-core')"

mkdir -p "$out"
out=$(cd "$out" && pwd)
# A private copy: other builds of the tree may replace build/fleetup during the run.
fu="$out/fleetup"
cp "$build/fleetup" "$fu"
# Identify what was copied now, not at the end: the tree may move on during the run.
git_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no -- src CMakeLists.txt 2>/dev/null)" ]; then
    git_rev="$git_rev + uncommitted changes in src/"
fi
FU_VERSION="$("$fu" --version 2>&1 | head -n 1) (tree at git $git_rev; $(basename "$build")/fleetup built $(date -u -r "$build/fleetup" '+%Y-%m-%d %H:%M UTC'))"

# ansible-inventory with its YAML plugin only (the one that reads this file; the default
# list would also try 'auto', which parses the file a second time), failing loudly on a
# file it cannot parse instead of printing an empty inventory.
ANSIBLE_INVENTORY_ENABLED=yaml
ANSIBLE_INVENTORY_UNPARSED_FAILED=true
ANSIBLE_HOME="$out/ansible-home"
ANSIBLE_LOCAL_TEMP="$out/ansible-home/tmp"
export ANSIBLE_INVENTORY_ENABLED ANSIBLE_INVENTORY_UNPARSED_FAILED ANSIBLE_HOME ANSIBLE_LOCAL_TEMP
unset ANSIBLE_CONFIG ANSIBLE_INVENTORY 2>/dev/null || true
mkdir -p "$ANSIBLE_LOCAL_TEMP"

results="$out/results.tsv"
printf 'nodes\tcommand\trun\twall_s\tuser_s\tsys_s\tmaxrss_kib\n' > "$results"
tf="$out/time.txt"

# measure NODES KEY RUN STDOUT_FILE CMD...: one timed run appended to results.tsv.
measure() {
    m_n=$1 m_key=$2 m_run=$3 m_out=$4
    shift 4
    if ! /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" > "$m_out" 2> "$out/stderr.txt"; then
        cat "$out/stderr.txt" >&2
        die "$m_key failed on $m_n nodes: $*"
    fi
    # GNU time writes the figures on the last line of its output file.
    # shellcheck disable=SC2046 # four numbers, split on purpose
    set -- $(tail -n 1 "$tf")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$m_n" "$m_key" "$m_run" "$1" "$2" "$3" "$4" >> "$results"
    log "$m_n nodes: $m_key run $m_run: wall $1 s, cpu $2+$3 s, peak $(($4 / 1024)) MiB"
}

started=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
for n in $sizes; do
    case "$n" in *[!0-9]*|'') die "bad size '$n' in BENCH_FLEET_SIZES" ;; esac
    inv="$out/fleet-$n.yml"
    python3 "$here/gen_inventory.py" "$n" --seed "$seed" -o "$inv"
    log "$n nodes: generated $inv ($(wc -c < "$inv") bytes, $(wc -l < "$inv") lines)"

    i=1
    while [ "$i" -le "$fu_runs" ]; do
        measure "$n" validate "$i" /dev/null "$fu" validate "$inv"
        i=$((i + 1))
    done
    i=1
    while [ "$i" -le "$fu_runs" ]; do
        measure "$n" nodes "$i" /dev/null "$fu" nodes "$inv" --json
        i=$((i + 1))
    done
    # Timed runs write to /dev/null, except the last ansible-inventory run: at 100k nodes
    # one run takes minutes, so its output (a few tens of MB to a file, well under 1% of
    # its time) is kept for the correctness check instead of paying for an extra run.
    i=1
    while [ "$i" -le "$ai_runs" ]; do
        dest=/dev/null
        [ "$i" -eq "$ai_runs" ] && dest="$out/ansible-$n.json"
        measure "$n" ansible "$i" "$dest" ansible-inventory -i "$inv" --list
        i=$((i + 1))
    done

    # Correctness, same run: an untimed fleetup nodes --json to a file, compared host by
    # host with ansible-inventory's output.
    "$fu" nodes "$inv" --json > "$out/fleetup-$n.json" || die "fleetup nodes --json failed on $n nodes"
    python3 - "$n" "$out/fleetup-$n.json" "$out/ansible-$n.json" <<'EOF' || die "$n nodes: fleetup and ansible-inventory disagree (see above)"
import json, random, sys

n = int(sys.argv[1])
fu = json.load(open(sys.argv[2]))
ai = json.load(open(sys.argv[3]))
hv = ai["_meta"]["hostvars"]
bad = []

def fail(msg):
    bad.append(msg)

# Every host ansible-inventory lists in a group, and each host's groups (transitively).
direct, children = {}, {}
for g, d in ai.items():
    if g == "_meta":
        continue
    direct[g] = d.get("hosts", [])
    children[g] = d.get("children", [])
member = {}
parents = {}
for g, cs in children.items():
    for c in cs:
        parents.setdefault(c, []).append(g)
def ancestors(g, memo={}):
    if g in memo:
        return memo[g]
    s = {g}
    for p in parents.get(g, []):
        s |= ancestors(p)
    memo[g] = s
    return s
for g, hs in direct.items():
    for h in hs:
        member.setdefault(h, set()).update(ancestors(g))

names = [o["name"] for o in fu]
if len(fu) != n:
    fail("fleetup nodes --json lists %d nodes, the generator wrote %d" % (len(fu), n))
if len(set(names)) != len(names):
    fail("fleetup lists %d duplicate node names" % (len(names) - len(set(names))))
if len(hv) != n:
    fail("ansible-inventory _meta.hostvars has %d hosts, the generator wrote %d" % (len(hv), n))
if set(member) != set(hv):
    fail("ansible-inventory: %d hosts in groups but %d in hostvars" % (len(member), len(hv)))
if set(names) != set(hv):
    only_fu = sorted(set(names) - set(hv))[:3]
    only_ai = sorted(set(hv) - set(names))[:3]
    fail("host names differ: only in fleetup %s, only in ansible %s" % (only_fu, only_ai))

# Every host, field by field, against ansible's merged host variables.
mismatch = {}
checked = 0
for o in fu:
    v = hv.get(o["name"])
    if v is None:
        continue
    checked += 1
    exp = {
        "address": v.get("ansible_host", o["name"]),
        "type": v.get("fleetup_type", "linux"),
        "user": v.get("ansible_user"),
        "labels": {k: str(x) for k, x in v.items()
                   if not k.startswith(("ansible_", "fleetup_"))},
        "groups": sorted(member.get(o["name"], set()) - {"all", "ungrouped"}),
    }
    got = {"address": o["address"], "type": o["type"], "user": o["user"],
           "labels": o["labels"], "groups": sorted(o["groups"])}
    if "ansible_port" in v:
        exp["port"], got["port"] = int(v["ansible_port"]), o["port"]
    if "fleetup_password_env" in v:
        exp["password_env"] = v["fleetup_password_env"]
        got["password_env"] = o["credentials"].get("password_env")
    for k in exp:
        if exp[k] != got[k]:
            mismatch.setdefault(k, []).append((o["name"], got[k], exp[k]))
for k, l in sorted(mismatch.items()):
    fail("%s differs on %d hosts, e.g. %s: fleetup %r, ansible %r" % ((k, len(l)) + l[0]))

# The spot check the log shows: a few seeded hosts, both addresses side by side.
fuby = {o["name"]: o for o in fu}
for h in random.Random(7).sample(sorted(set(names) & set(hv)), min(5, len(hv))):
    print("fleet_load: %d nodes: spot check %-22s fleetup %-15s ansible %s"
          % (n, h, fuby[h]["address"], hv[h].get("ansible_host", h + " (DNS name)")),
          file=sys.stderr)
for b in bad:
    print("fleet_load: %d nodes: MISMATCH: %s" % (n, b), file=sys.stderr)
if bad:
    sys.exit(1)
print("fleet_load: %d nodes: correctness ok: %d hosts in both, address/port/user/type/"
      "labels/groups equal on all %d" % (n, n, checked), file=sys.stderr)
open(sys.argv[2] + ".ok", "w").write("%d\n" % checked)
EOF
done
elapsed=$(( $(date +%s) - started ))

# --- report ---------------------------------------------------------------------------
AI_VERSION=$(ansible-inventory --version 2>&1 | awk '
    NR == 1 { sub(/^ansible-inventory \[/, ""); sub(/\]$/, ""); v = "ansible-" $0 }
    /python version =/ { p = "Python " $4 }
    /libyaml =/ { y = "libyaml = " $3 }
    END { print v " (" p ", " y ")" }')
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
NPROC=$(nproc)
MEM_KIB=$(awk '/^MemTotal/ { print $2 }' /proc/meminfo)
OS_NAME=$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release 2>/dev/null)
[ -n "$OS_NAME" ] || OS_NAME=$(uname -sr)
RUN_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
export FU_VERSION AI_VERSION CPU_MODEL NPROC MEM_KIB OS_NAME RUN_DATE LOAD_START LOAD_END

python3 - "$results" "$doc" "$elapsed" "$fu_runs" "$ai_runs" "$seed" <<'EOF'
import os, re, statistics, sys

results, doc, elapsed, fu_runs, ai_runs, seed = sys.argv[1:]
E = os.environ
rows = {}
for line in open(results).read().splitlines()[1:]:
    n, key, run, wall, user, sys_, rss = line.split("\t")
    rows.setdefault((int(n), key), []).append(
        (float(wall), float(user) + float(sys_), int(rss) * 1024))
sizes = sorted({n for n, _ in rows})
label = {"validate": "`fleetup validate`", "nodes": "`fleetup nodes --json`",
         "ansible": "`ansible-inventory --list`"}

def stat(n, key):
    r = rows[(n, key)]
    return (statistics.median(x[0] for x in r), statistics.median(x[1] for x in r),
            max(x[2] for x in r))

def num(x):
    return "{:,}".format(x)

def ratio(a, b):
    if not b:
        return "-"  # under GNU time's 10 ms resolution
    x = a / b
    return "%.0fx" % x if x >= 10 else "%.1fx" % x

MB = 1e6
L = []
L.append("Last run %s on %s x %s (nproc %s), %.1f GiB RAM, %s; %s; %s. "
         "The whole benchmark took %d min %02d s; load average %s at the start, %s at the end."
         % (E["RUN_DATE"], E["NPROC"], E["CPU_MODEL"], E["NPROC"], int(E["MEM_KIB"]) / 2**20,
            E["OS_NAME"], E["AI_VERSION"], E["FU_VERSION"], int(elapsed) // 60,
            int(elapsed) % 60, E["LOAD_START"], E["LOAD_END"]))
L.append("")
L.append("Wall and CPU (user+sys) are the median of %s runs for fleetup and %s for "
         "ansible-inventory; peak RSS is the highest of those runs. MB = 10^6 bytes. Per-node "
         "figures divide the whole process by the node count, start-up included. The ratio "
         "columns are ansible-inventory's figure divided by that fleetup command's."
         % (fu_runs, ai_runs))
L.append("")
L.append("| nodes | command | wall median (s) | CPU (s) | peak RSS (MB) | CPU / node (µs) "
         "| RSS / node (bytes) | time ratio ansible-inventory / fleetup "
         "| memory ratio ansible-inventory / fleetup |")
L.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
for n in sizes:
    aw, ac, am = stat(n, "ansible") if (n, "ansible") in rows else (None, None, None)
    for key in ("validate", "nodes", "ansible"):
        if (n, key) not in rows:
            continue
        w, c, m = stat(n, key)
        if key == "ansible":
            tr = mr = "1 (peer)"
        else:
            tr = ratio(aw, w) if aw else "-"
            mr = ratio(am, m) if am else "-"
        L.append("| %s | %s | %.2f | %.2f | %.1f | %.1f | %s | %s | %s |"
                 % (num(n), label[key], w, c, m / MB, c / n * 1e6, num(round(m / n)), tr, mr))
L.append("")
if len(sizes) >= 2:
    a, b = sizes[0], sizes[-1]
    L.append("Cost of each added node from %s to %s nodes (the difference between the two "
             "sizes, so start-up cancels out):" % (num(a), num(b)))
    L.append("")
    L.append("| command | CPU / added node (µs) | peak RSS / added node (bytes) "
             "| wall growth for %.0fx the nodes |" % (b / a))
    L.append("|---|---:|---:|---:|")
    for key in ("validate", "nodes", "ansible"):
        if (a, key) in rows and (b, key) in rows:
            wa, ca, ma = stat(a, key)
            wb, cb, mb = stat(b, key)
            L.append("| %s | %.1f | %s | %s |" % (label[key], (cb - ca) / (b - a) * 1e6,
                                                num(round((mb - ma) / (b - a))), ratio(wb, wa)))
    L.append("")
L.append("Correctness, checked in the same run for every size: `fleetup nodes --json` and "
         "`ansible-inventory --list` list exactly the generated number of hosts, with the same "
         "names, and for every host the same address (`ansible_host`, else the name), port, "
         "user, type (`fleetup_type`), labels (the other variables) and groups.")
L.append("")

big = 100000 if 100000 in sizes else None
if big is None:
    L.append("Targets (at 100,000 nodes): **not evaluated**, this run did not measure "
             "100,000 nodes (BENCH_FLEET_SIZES=%s)." % " ".join(map(str, sizes)))
else:
    v, j, a = stat(big, "validate"), stat(big, "nodes"), stat(big, "ansible")
    def met(ok):
        return "**met**" if ok else "**NOT met**"
    L.append("Targets at 100,000 nodes:")
    L.append("")
    L.append("- Load in under 1 s: %s by `fleetup validate` (%.2f s). `fleetup nodes --json`, "
             "which also writes every node as JSON, takes %.2f s: %s."
             % (met(v[0] < 1.0), v[0], j[0],
                "also under 1 s" if j[0] < 1.0 else "over 1 s"))
    L.append("- Peak memory under 200 MB: %s: `fleetup validate` %.1f MB, "
             "`fleetup nodes --json` %.1f MB (ansible-inventory: %.1f MB)."
             % (met(v[2] < 200 * MB and j[2] < 200 * MB), v[2] / MB, j[2] / MB, a[2] / MB))
    L.append("- At least 20x faster than ansible-inventory: %s: `ansible-inventory --list` "
             "takes %.1f s, %s the time of `fleetup validate` and %s that of "
             "`fleetup nodes --json`."
             % (met(a[0] / v[0] >= 20 and a[0] / j[0] >= 20), a[0], ratio(a[0], v[0]),
                ratio(a[0], j[0])))
L.append("")
L.append("Runs (wall s): " + "; ".join(
    "%s %s: %s" % (num(n), key, " ".join("%.2f" % x[0] for x in rows[(n, key)]))
    for n in sizes for key in ("validate", "nodes", "ansible") if (n, key) in rows) + ".")
body = "\n".join(L)
print(body)

begin, end = "<!-- bench:fleet_load:begin -->", "<!-- bench:fleet_load:end -->"
block = begin + "\n" + body + "\n" + end
text = open(doc).read() if os.path.exists(doc) else None
if text is not None and begin in text and end in text:
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, count=1,
                  flags=re.S)
else:
    if text is None:
        text = ("# Benchmarks\n\nEvery benchmark puts fleetup beside its peer in the same run "
                "and reports ratios, CPU and memory per node. Run them all with `make bench`.\n")
    text = text.rstrip("\n") + ("\n\n## Fleet load: 100,000-node Ansible inventory\n\n"
                                "Reproduce: `make bench` (or `tests/bench/run.sh build`).\n\n"
                                + block + "\n")
os.makedirs(os.path.dirname(os.path.abspath(doc)), exist_ok=True)
with open(doc + ".tmp", "w") as f:
    f.write(text)
os.replace(doc + ".tmp", doc)
print("\nfleet_load: wrote %s" % doc, file=sys.stderr)
EOF
