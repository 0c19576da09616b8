#!/bin/sh
# Installs fleetup's build and test dependencies from Debian packages.
# Idempotent: prints nothing and exits 0 when everything is already present.
#   tools/setup.sh           build + test dependencies
#   tools/setup.sh --bench   also the peers the benchmarks compare against
#   tools/setup.sh --check   only report what is missing (exit 1 if anything is)
set -eu

BUILD="cmake make gcc clang pkg-config libuv1-dev libssh2-1-dev node-llhttp libssl-dev \
libyaml-dev libjansson-dev libsqlite3-dev libcmocka-dev libclang-rt-14-dev"
TEST="curl nftables openssh-server openssh-client python3-sushy sqlite3 busybox chromium nodejs"
BENCH="ansible-core ansible time nginx wrk pdsh pssh clustershell iproute2"

want="$BUILD $TEST"
# The browser tests drive chromium with playwright-core from npm (tests/browser, npm ci
# at test time; Node.js 20 or later, else those tests skip and say so). Debian packages npm
# apart; a NodeSource nodejs carries its own.
command -v npm >/dev/null 2>&1 || want="$want npm"
check_only=0
for arg in "$@"; do
    case "$arg" in
    --bench) want="$want $BENCH" ;;
    --check) check_only=1 ;;
    -h|--help)
        sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
        exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup.sh: this script needs a Debian-based system (dpkg and apt-get)." >&2
    echo "setup.sh: install these packages by hand instead: $want" >&2
    exit 1
fi

missing=""
for p in $want; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = "installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$check_only" = 1 ]; then
    echo "setup.sh: missing:$missing" >&2
    exit 1
fi

if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "setup.sh: these packages are missing:$missing" >&2
    echo "setup.sh: run this script as root, or give this user password-less sudo, or install them by hand:" >&2
    echo "    apt-get install$missing" >&2
    exit 1
fi

echo "setup.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
# A machine that has never run 'apt-get update' has no package lists.
if ! $SUDO apt-get install -y -q --no-install-recommends $missing >"$log" 2>&1; then
    $SUDO apt-get update -q >>"$log" 2>&1 || true
    if ! $SUDO apt-get install -y -q --no-install-recommends $missing >>"$log" 2>&1; then
        tail -n 20 "$log" >&2
        echo "setup.sh: apt-get install failed (full log: $log)" >&2
        exit 1
    fi
fi
rm -f "$log"
# Services pulled in as dependencies are started by the tests themselves, never left running.
for svc in nginx ssh; do
    if [ -x /usr/sbin/service ] && [ -n "$SUDO$(id -u | grep -x 0)" ]; then
        $SUDO service "$svc" stop >/dev/null 2>&1 || true
    fi
done
echo "setup.sh: done" >&2
