#!/bin/sh
# Runs every benchmark tests/bench/bench_*.sh in turn: `make bench` calls
#   tests/bench/run.sh BUILD_DIR
# Each script gets the build directory (absolute) as its only argument, prints its own
# table and updates its section of docs/benchmarks.md. A script that runs longer than
# BENCH_TIMEOUT seconds (default: the script's "# bench-timeout: N" line, else 900) is
# stopped and counts as failed.
#   BENCH_ONLY=fleet_load tests/bench/run.sh build    runs only bench_fleet_load.sh
# Exit status: 0 when every benchmark succeeded, 1 otherwise, 2 on bad usage.
set -eu

usage() {
    echo "usage: tests/bench/run.sh BUILD_DIR   (e.g. tests/bench/run.sh build)" >&2
    exit 2
}
[ $# -eq 1 ] || usage
case "$1" in -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac

[ -d "$1" ] || { echo "run.sh: build directory '$1' does not exist; run 'make build' first" >&2; exit 2; }
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)

command -v timeout >/dev/null 2>&1 ||
    { echo "run.sh: 'timeout' (coreutils) is missing" >&2; exit 2; }

failed=""
ran=0
start=$(date +%s)
for script in "$here"/bench_*.sh; do
    [ -e "$script" ] || continue
    name=$(basename "$script" .sh)
    name=${name#bench_}
    if [ -n "${BENCH_ONLY:-}" ] && [ "$name" != "$BENCH_ONLY" ]; then
        continue
    fi
    ran=$((ran + 1))
    # A script may ask for more time than the default: a "# bench-timeout: SECONDS" line.
    limit=${BENCH_TIMEOUT:-$(sed -n 's/^# bench-timeout: \([0-9][0-9]*\)$/\1/p' "$script" | head -n 1)}
    limit=${limit:-900}
    echo "== bench $name (limit ${limit}s)"
    t0=$(date +%s)
    rc=0
    # --kill-after: a benchmark that ignores SIGTERM is killed 10 s later.
    if [ -x "$script" ]; then
        timeout --kill-after=10 "$limit" "$script" "$build" || rc=$?
    else
        timeout --kill-after=10 "$limit" sh "$script" "$build" || rc=$?
    fi
    t1=$(date +%s)
    if [ "$rc" -eq 0 ]; then
        echo "== bench $name: ok in $((t1 - t0)) s"
    else
        [ "$rc" -eq 124 ] && echo "== bench $name: stopped after ${limit} s (BENCH_TIMEOUT)" >&2
        echo "== bench $name: FAILED (exit $rc) after $((t1 - t0)) s" >&2
        failed="$failed $name"
    fi
done

[ "$ran" -gt 0 ] || { echo "run.sh: no benchmark matched in $here" >&2; exit 1; }
echo "== $ran benchmark(s) in $(( $(date +%s) - start )) s"
if [ -n "$failed" ]; then
    echo "== failed:$failed" >&2
    exit 1
fi
