# Shared by the integration scripts (sourced, never run by ctest: it sits in lib/).
# Needs $work (a scratch directory). Counts into $passes and $fails.
passes=0
fails=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# expect RC CMD...: runs CMD with stdout in $work/out and stderr in $work/err.
expect() {
    want=$1; shift
    "$@" >"$work/out" 2>"$work/err"
    rc=$?
    if [ "$rc" -eq "$want" ]; then ok; else bad "exit $rc (want $want): $*"; sed 's/^/    /' "$work/err" >&2; fi
}
contains() { if grep -q -- "$2" "$1"; then ok; else bad "$1 lacks '$2'"; sed 's/^/    /' "$1" >&2; fi; }
lacks() { if grep -q -- "$2" "$1"; then bad "$1 shows '$2'"; else ok; fi; }

# finish NAME: the closing line test runners look for, and the exit status.
finish() {
    echo "$1: $passes passed, $fails failed"
    [ "$fails" -eq 0 ]
}

# need TOOL...: skips the test (exit 77) when a tool it needs is missing.
need() {
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t missing (tools/setup.sh installs it)"; exit 77; }
    done
}

# wait_file FILE PID LOG WHAT: waits until FILE is not empty, 10 s at most; when PID dies
# first or the time runs out the test ends with "WHAT did not start" and LOG.
wait_file() {
    i=0
    while [ ! -s "$1" ]; do
        i=$((i + 1))
        if [ $i -gt 100 ] || ! kill -0 "$2" 2>/dev/null; then
            echo "FAIL: $4 did not start:" >&2; cat "$3" >&2; exit 1
        fi
        sleep 0.1
    done
}
