#!/bin/sh
# Example smart component: NIC firmware 22.41 for the example fleets.
# Exit codes follow the smart-component convention: 0 installed, 1 installed and a
# reboot is needed, 3 not required (already current), anything else failed.
set -eu
want=22.41
state=${FLEETUP_COMPONENT_STATE:-/var/tmp/fleetup/state/nic-firmware}
cur=$(cat "$state" 2>/dev/null || echo none)
[ "$cur" = "$want" ] && exit 3
mkdir -p "$(dirname "$state")"
echo "$want" > "$state"
exit 1
