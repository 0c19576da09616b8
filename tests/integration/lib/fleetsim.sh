# Shared by the integration scripts that run fleetsim (sourced, never run by ctest: it
# sits in lib/). Needs $SIM (the fleetsim binary), $work and assert.sh. One fleetsim at a
# time: its PID in $pid (the caller's EXIT trap stops it too), its port in $PORT.

# fleetsim_start DIR LO HI FLAGS...: fleetsim with FLAGS on a port in LO..HI-1 (below
# 32768: the test's own range), its inventory in DIR/bmcs.yml, its log in DIR/sim.log,
# under timeout(1) so that it ends even if the test is killed with -9. Waits (bounded)
# for the inventory; a port in use moves it on. Sets $pid, $PORT and $PW.
fleetsim_start() {
    _d=$1 _lo=$2 _hi=$3
    shift 3
    PORT=$((_lo + $$ % (_hi - _lo)))
    _tries=0
    while :; do
        rm -f "$_d/bmcs.yml"
        # --foreground: timeout passes our SIGTERM on once, so fleetsim prints its summary
        timeout --foreground -k 5 120 "$SIM" --port "$PORT" --state-dir "$_d/fs" \
            --write-inventory "$_d/bmcs.yml" "$@" 2>"$_d/sim.log" &
        pid=$!
        _i=0
        while [ ! -s "$_d/bmcs.yml" ] && kill -0 "$pid" 2>/dev/null && [ $_i -lt 100 ]; do
            _i=$((_i + 1)); sleep 0.1
        done
        [ -s "$_d/bmcs.yml" ] && break
        kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""
        _tries=$((_tries + 1))
        if grep -q "Address already in use" "$_d/sim.log" && [ $_tries -lt 5 ]; then
            PORT=$((_lo + (PORT - _lo + 7) % (_hi - _lo))); continue
        fi
        echo "FAIL: fleetsim did not write its inventory:" >&2; cat "$_d/sim.log" >&2; exit 1
    done
    PW=$(cat "$_d/bmcs.yml.password")
}

# fleetsim_stop NAME: SIGTERM, a bounded wait, exit 0 checked; the summary line stays in
# the log.
fleetsim_stop() {
    kill -TERM "$pid"
    _i=0
    while kill -0 "$pid" 2>/dev/null && [ $_i -lt 100 ]; do _i=$((_i + 1)); sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        bad "$1: fleetsim still runs 10 s after SIGTERM"
        pkill -KILL -P "$pid"
    fi
    wait "$pid"
    if [ $? -eq 0 ]; then ok; else bad "$1: fleetsim did not exit 0 at SIGTERM"; fi
    pid=""
}
