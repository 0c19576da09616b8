#!/bin/sh
# Example smart component: network driver 5.2.1 build 17 for the example fleets.
# Exit codes: 0 installed, 1 installed and reboot needed, 3 already current, else failed.
set -eu
want="5.2.1 build 17"
state=${FLEETUP_COMPONENT_STATE:-/var/tmp/fleetup/state/mlnx-driver}
cur=$(cat "$state" 2>/dev/null || echo none)
[ "$cur" = "$want" ] && exit 3
mkdir -p "$(dirname "$state")"
echo "$want" > "$state"
exit 0
