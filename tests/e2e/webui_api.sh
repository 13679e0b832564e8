#!/bin/bash
# The web server's JSON API, auth, CSRF, limits and /metrics, against a real
# droverd in a network namespace of its own:
#
#   netns drover-webui-$$ (lo only)
#   ┌──────────────────────────────────────────────┐
#   │ droverd --db $tmp/drover.db (NFQUEUE 0..n)   │
#   │   web UI on 127.0.0.1:8080                   │
#   │ webui_api.py ── http://127.0.0.1:8080 ──┘    │
#   │   (and from 127.0.0.2 for throttling)        │
#   └──────────────────────────────────────────────┘
#
# Then droverd is restarted with https=true and the TLS checks run.
# Prints "ok - ..." / "not ok - ..." lines.
set -u

here=$(cd "$(dirname "$0")" && pwd)
build=${DROVER_BUILD:-$here/../../build}
ns=drover-webui-$$
tmp=$(mktemp -d /tmp/drover-webui-api.XXXXXX)
pid=
# How long droverd may take to start its web UI before the test calls it
# broken: generous, the wait ends as soon as it is up.
START_WAIT_S=120

cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

start_droverd() {
	# The log is appended to across restarts: wait for one more "web UI on"
	# line than it held before, not for any.
	local before
	before=$(grep -c "web UI on" "$tmp/droverd.log" 2>/dev/null)
	ip netns exec "$ns" "$build/droverd" --db "$tmp/drover.db" --socket "$tmp/drover.sock" \
		--admin-password-file "$tmp/first-password" >>"$tmp/droverd.log" 2>&1 &
	pid=$!
	for ((i = 0; i < START_WAIT_S * 10; i++)); do
		(($(grep -c "web UI on" "$tmp/droverd.log") > before)) && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "not ok - droverd did not start its web UI"
	sed 's/^/# /' "$tmp/droverd.log"
	return 1
}

stop_droverd() {
	kill "$pid"
	wait "$pid" 2>/dev/null
	pid=
}

ip netns add "$ns" || { echo "not ok - cannot create namespace $ns"; exit 1; }
ip -n "$ns" link set lo up
# A link towards the proxies' addresses, so droverd can tell the tunnel source
# for their set-up scripts (nothing is ever sent over it).
ip -n "$ns" link add lan0 type veth peer name lan1
ip -n "$ns" addr add 198.18.1.1/24 dev lan0
ip -n "$ns" link set lan0 up
ip -n "$ns" link set lan1 up
echo "initial password 1" >"$tmp/first-password"
cp "$tmp/first-password" "$tmp/admin-password"
start_droverd || exit 1
echo "ok - droverd starts with its web UI in a namespace"

ip netns exec "$ns" python3 "$here/webui_api.py" "$tmp" main
rc=$?
ip netns exec "$ns" "$build/droverctl" --socket "$tmp/drover.sock" settings set https true >/dev/null
stop_droverd
start_droverd || exit 1
ip netns exec "$ns" python3 "$here/webui_api.py" "$tmp" https || rc=1
# Stopped first, so that what the sanitizers find at exit (leaks) is read too.
stop_droverd
if grep -qi "AddressSanitizer\|runtime error" "$tmp/droverd.log"; then
	echo "not ok - sanitizer reports in the droverd log"
	sed 's/^/# /' "$tmp/droverd.log" | head -40
else
	echo "ok - no sanitizer reports"
fi
exit $rc
