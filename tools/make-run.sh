#!/bin/sh
# `make run`, the main job: fleetsim with 1,000 simulated iLO BMCs on 127.2.x.y, then a
# rollout of inventories/fleetsim.yml in waves [1, 5%, 25%, 100%] through fleetup's
# scheduler and its own package server (the BMCs pull their images from it), with live
# progress, the summary and the HTML report. fleetsim is stopped afterwards, also on
# Ctrl-C or an error: nothing is left running.
#
# usage: tools/make-run.sh BUILD_DIR     (FLEETSIM_NODES, FLEETSIM_FLASH override)
set -u
BUILD=${1:-build}
NODES=${FLEETSIM_NODES:-1000}
FLASH=${FLEETSIM_FLASH:-3s}
FLEET=inventories/fleetsim.yml
SIMDIR=.fleetup/fleetsim
STATE=.fleetup/make-run

rm -rf "$SIMDIR" "$STATE"
mkdir -p "$SIMDIR"
echo "make run: starting fleetsim: $NODES simulated iLO BMCs (flash time $FLASH)"
"$BUILD/fleetsim" --nodes "$NODES" --baseline "$FLEET" --flash-time "$FLASH" \
    --state-dir "$SIMDIR/state" --write-inventory "$SIMDIR/bmcs.yml" 2>"$SIMDIR/fleetsim.log" &
sim=$!
stop_sim() {
    if kill -0 "$sim" 2>/dev/null; then
        kill -TERM "$sim" 2>/dev/null
        wait "$sim" 2>/dev/null
    fi
}
trap 'stop_sim' EXIT
trap 'stop_sim; exit 130' INT TERM

# fleetsim writes the inventory atomically once every BMC listens (bounded wait).
i=0
while [ ! -s "$SIMDIR/bmcs.yml" ]; do
    if ! kill -0 "$sim" 2>/dev/null || [ $i -ge 300 ]; then
        echo "make run: fleetsim did not start:" >&2
        cat "$SIMDIR/fleetsim.log" >&2
        exit 1
    fi
    i=$((i + 1))
    sleep 0.1
done

"$BUILD/fleetup" validate "$FLEET" || exit 2
echo "make run: fleetup deploy $FLEET --state-dir $STATE"
"$BUILD/fleetup" deploy "$FLEET" --state-dir "$STATE"
rc=$?
stop_sim
echo "make run: $(tail -n 1 "$SIMDIR/fleetsim.log")"
# 1 means some node failed: that is the rollout's result to read, not a broken run.
[ $rc -le 1 ] && exit 0
exit $rc
