#!/bin/bash
# tests/e2e/signin.sh - the web UI's sign-in under attack, against a real
# droverd in the appliance namespace of tests/lab/lib.sh (no proxies needed):
#
#   netns $LAB-app (lo, lan0 198.18.1.1/24)
#   ┌────────────────────────────────────────────────────────────┐
#   │ droverd --db ... (NOTIFY_SOCKET, WATCHDOG_USEC=1 s)        │
#   │   web UI 127.0.0.1:8080    control socket                  │
#   │ signin.py ── 100 parallel wrong sign-ins, droverctl stats, │
#   │              watchdog pings, throttling from 127.0.x.y,    │
#   │              a user name with control characters           │
#   └────────────────────────────────────────────────────────────┘
#
#   1. 100 parallel sign-ins with wrong passwords: `droverctl stats' calls
#      complete while sign-ins are outstanding, the watchdog keeps being
#      fed, every sign-in ends in 401, 429 or 503 (none hangs). Latencies
#      are printed as figures, not asserted.
#   2. Throttling per (source, user): 12 failures from 127.0.1.1..12 are one
#      source; the right password still signs in after many failures; other
#      users' failures do not slow admin down below the global ceiling.
#   3. A user name with a newline, "<3>" and an escape sequence: one log
#      line, escaped; an escaped audit entry; `droverctl audit' prints no raw
#      control byte.
#   4. Failed sign-ins are folded into one audit row per (source, user) and
#      minute that says how many.
# Prints "ok - ..." / "not ok - ..." lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-dsi}
LAB_STATE=/tmp/drover-e2e-signin.$$
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"

trap lab_down EXIT
trap 'exit 1' INT TERM

[ -x "$DROVER_BUILD/droverd" ] && [ -x "$DROVER_BUILD/droverctl" ] || {
	echo "not ok - no droverd/droverctl in $DROVER_BUILD"
	exit 1
}
mkdir -p "$LAB_STATE" && touch "$LAB_STATE/$LAB_STAMP" || exit 1
lab_add_ns app || {
	echo "not ok - cannot create namespace $(lab_ns app)"
	exit 1
}
# A link towards a LAN, so that droverd finds a route for its tunnel source.
ip link add lan0 netns "$(lab_ns app)" type veth peer name lan1 netns "$(lab_ns app)" &&
	ip -n "$(lab_ns app)" addr add "$LAB_APPLIANCE/24" dev lan0 &&
	ip -n "$(lab_ns app)" link set lan0 up &&
	ip -n "$(lab_ns app)" link set lan1 up || {
	echo "not ok - cannot build the appliance namespace"
	exit 1
}

# signin.py starts droverd itself (it owns the notify socket) and records
# its pid in $LAB_STATE/pids, so lab_down ends it if the script could not.
lab_exec app python3 "$here/signin.py" --state "$LAB_STATE" --build "$DROVER_BUILD" \
	--wait "$LAB_WAIT_S"
rc=$?
if grep -qi "AddressSanitizer\|runtime error" "$LAB_STATE/droverd.log" 2>/dev/null; then
	echo "not ok - sanitizer reports in the droverd log"
	sed 's/^/# /' "$LAB_STATE/droverd.log" | grep -v "^# <6>" | head -40
	rc=1
fi
exit $rc
