#!/bin/sh
# Scheduler benchmark (issue: the rollout scheduler). Runs tests/bench/bench_sched.c:
#  - cost: 10k, 100k and 1M simulated nodes with zero-duration phases in virtual time,
#    without and with the journal: CPU per transition, transitions/s, bytes per node;
#    beside bare SQLite inserting the same number of transition rows (the journal's floor);
#  - makespan: drawn durations; the rollout's makespan against the ideal from a reference
#    model of the policy with no overhead (virtual time and real time).
# Rewrites the bench:scheduler section of docs/benchmarks.md.
# usage: bench_scheduler.sh BUILD_DIR
set -eu
build=$1
here=$(cd "$(dirname "$0")" && pwd)
doc="$here/../../docs/benchmarks.md"
out="$here/../../bench-out/scheduler"
bin="$build/bench_sched"
[ -x "$bin" ] || { echo "bench_scheduler: $bin missing: build first (make build)" >&2; exit 2; }
command -v sqlite3 >/dev/null && [ -x /usr/bin/time ] ||
    { echo "bench_scheduler: sqlite3 or GNU time missing: tools/setup.sh --bench" >&2; exit 2; }
mkdir -p "$out"
results="$out/results.txt"
: >"$results"

for n in ${BENCH_SCHED_SIZES:-10000 100000 1000000}; do
    for j in nojournal journal; do
        rm -rf "$out/state"
        "$bin" cost "$n" "$j" "$out/state" | tee -a "$results"
    done
    # The floor for the journal: bare SQLite, the same rows into the same table shape,
    # one transaction, the same pragmas.
    rows=$((n * 7))
    rm -f "$out/floor.db"
    /usr/bin/time -f %e -o "$out/floor.time" sqlite3 "$out/floor.db" "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;
        CREATE TABLE transitions(rollout INTEGER NOT NULL, seq INTEGER NOT NULL, idx INTEGER NOT NULL,
          at_ms INTEGER NOT NULL, from_state INTEGER, from_phase INTEGER, to_state INTEGER,
          to_phase INTEGER, reason TEXT, PRIMARY KEY(rollout, seq)) WITHOUT ROWID;
        BEGIN; INSERT INTO transitions SELECT 1, value, value / 7, 0, 1, value % 6, 1, (value + 1) % 6, NULL
          FROM generate_series(1, $rows); COMMIT;" >/dev/null
    echo "mode=sqlite_floor nodes=$n rows=$rows wall_s=$(cat "$out/floor.time")" | tee -a "$results"
done
rm -rf "$out/state" "$out/floor.db"
for c in 0 500; do
    "$bin" makespan 10000 "$c" virtual "$out/state" | tee -a "$results"
done
"$bin" makespan 2000 100 real "$out/state" | tee -a "$results"

python3 - "$results" "$doc" <<'PY'
import os, re, sys, subprocess, datetime
rows = [dict(kv.split("=", 1) for kv in line.split()) for line in open(sys.argv[1]) if "=" in line]
doc = sys.argv[2]
cost = [r for r in rows if r["mode"] == "cost"]
floor = {r["nodes"]: float(r["wall_s"]) for r in rows if r["mode"] == "sqlite_floor"}
mk = [r for r in rows if r["mode"] == "makespan"]
cpu = open("/proc/cpuinfo").read().split("model name")[1].split(":")[1].split("\n")[0].strip()
L = []
L.append("Measured %s on %d cores (%s), fleetup %s." % (
    datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"), os.cpu_count(), cpu,
    subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()))
L.append("")
L.append("| nodes | journal | transitions | CPU (s) | µs per transition | transitions/s | peak RSS (MB) | bytes per node | bare SQLite, same rows (s) | fleetup journal / bare SQLite |")
L.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in cost:
    n = r["nodes"]; j = r["journal"] == "1"
    fl = floor.get(n)
    L.append("| %s | %s | %s | %s | %s | %s | %.0f | %s | %s | %s |" % (
        format(int(n), ","), "on" if j else "off", format(int(r["transitions"]), ","), r["cpu_s"],
        r["us_per_transition"], format(int(float(r["transitions_per_s"])), ","),
        int(r["peak_rss_kb"]) / 1024, r["bytes_per_node"],
        "%.2f" % fl if j and fl else "", "%.1fx" % (float(r["wall_s"]) / fl) if j and fl else ""))
L.append("")
big = [r for r in cost if r["nodes"] == "1000000"]
if big:
    nj = [r for r in big if r["journal"] == "0"][0]; wj = [r for r in big if r["journal"] == "1"][0]
    def met(b): return "**met**" if b else "**not met**"
    L.append("Targets at 1M nodes: under 1 KiB per node: %s (%s B without the journal, %s B with it, "
             "peak RSS of the whole process over the node count); under 2 µs per transition without "
             "the journal: %s (%s µs); at least 200k transitions/s with the journal: %s (%s/s)." % (
        met(float(nj["bytes_per_node"]) < 1024 and float(wj["bytes_per_node"]) < 1024),
        nj["bytes_per_node"], wj["bytes_per_node"], met(float(nj["us_per_transition"]) < 2),
        nj["us_per_transition"], met(float(wj["transitions_per_s"]) >= 200000),
        format(int(float(wj["transitions_per_s"])), ",")))
L.append("")
L.append("| time | nodes | concurrency | fleetup makespan (s) | ideal (s) | ratio | fleetup CPU per node (µs) |")
L.append("|---|---:|---:|---:|---:|---:|---:|")
for r in mk:
    L.append("| %s | %s | %s | %s | %s | %s | %s |" % (r["time"], format(int(r["nodes"]), ","),
             r["concurrency"] if r["concurrency"] != "0" else "none", r["makespan_s"], r["ideal_s"],
             r["ratio"], r["cpu_us_per_node"]))
L.append("")
worst = max(float(r["ratio"]) for r in mk) if mk else 0
L.append("Target: makespan at most 1.02x the ideal: %s (worst %.4f)." % (
    "**met**" if worst <= 1.02 else "**not met**", worst))
body = "\n".join(L)
print(body)
begin, end = "<!-- bench:scheduler:begin -->", "<!-- bench:scheduler:end -->"
text = open(doc).read()
block = begin + "\n" + body + "\n" + end
if begin in text:
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, count=1, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n" + block + "\n"
open(doc + ".tmp", "w").write(text)
os.replace(doc + ".tmp", doc)
PY
