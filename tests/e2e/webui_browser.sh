#!/bin/bash
# The web UI in a real browser (Debian chromium + npm playwright-core) while
# a client makes web requests through droverd:
#
#   ns C (client)            ns A (appliance)                  ns P (proxies)
#   198.18.0.2-201 ─ veth ── 198.18.0.1  droverd  198.18.1.1 ── veth ── 198.18.1.11-13
#   curl to 198.18.2.10:80   NFQUEUE → IPIP copies             TCP 3128 listener
#                            web UI 127.0.0.1:8080             (health probes: tcp)
#                            chromium runs here
#
# Prints "ok - ..." / "not ok - ..." lines; screenshots go to $DROVER_ARTIFACTS.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${DROVER_BUILD:-$root/build}
artifacts=${DROVER_ARTIFACTS:-$root/tests/artifacts}
tag=$$
nsc=drover-wbc-$tag
nsa=drover-wba-$tag
nsp=drover-wbp-$tag
tmp=$(mktemp -d /tmp/drover-webui-browser.XXXXXX)
pids=()
# How long droverd may take to start its web UI before the test calls it
# broken: generous, the wait ends as soon as it is up.
START_WAIT_S=120

cleanup() {
	local p
	# The client loop ends its round (and its curls) once the stop file is there.
	touch "$tmp/stop"
	[ -n "${traffic:-}" ] && wait "$traffic" 2>/dev/null
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	ip netns del "$nsc" 2>/dev/null
	ip netns del "$nsa" 2>/dev/null
	ip netns del "$nsp" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "not ok - $*"
	exit 1
}

mkdir -p "$artifacts"
[ -x /usr/bin/chromium ] || fail "Debian chromium is not installed (packaging/deps.sh installs it)"
command -v node >/dev/null || fail "node is not installed"
if [ ! -d "$root/tests/browser/node_modules/playwright-core" ]; then
	(cd "$root/tests/browser" && npm ci --no-audit --no-fund >"$tmp/npm.log" 2>&1) ||
		{ sed 's/^/# /' "$tmp/npm.log"; fail "npm ci in tests/browser"; }
fi

for ns in "$nsc" "$nsa" "$nsp"; do
	ip netns add "$ns" || fail "cannot create namespace $ns"
	ip -n "$ns" link set lo up
done
ip link add c0 netns "$nsc" type veth peer name a0 netns "$nsa"
ip link add a1 netns "$nsa" type veth peer name p0 netns "$nsp"
ip -n "$nsc" addr add 198.18.0.2/24 dev c0
# Client addresses: each round of requests comes from new ones, so clients
# placed after every proxy is up spread over all of them (those that arrived
# while only the first was up stay on it: affinity).
CLIENTS=200
for ((i = 3; i < 2 + CLIENTS; i++)); do echo "addr add 198.18.0.$i/24 dev c0"; done | ip -n "$nsc" -batch -
ip -n "$nsa" addr add 198.18.0.1/24 dev a0
ip -n "$nsa" addr add 198.18.1.1/24 dev a1
for i in 11 12 13; do ip -n "$nsp" addr add 198.18.1.$i/24 dev p0; done
ip -n "$nsc" link set c0 up
ip -n "$nsa" link set a0 up
ip -n "$nsa" link set a1 up
ip -n "$nsp" link set p0 up
ip -n "$nsc" route add default via 198.18.0.1
# The origin network is only a route: droverd takes the packets before it matters.
ip -n "$nsa" route add 198.18.2.0/24 dev a1
ip -n "$nsp" route add default via 198.18.1.1
ip netns exec "$nsa" sysctl -qw net.ipv4.ip_forward=1

ip netns exec "$nsp" python3 -m http.server 3128 --bind 0.0.0.0 >/dev/null 2>&1 &
pids+=($!)

ip netns exec "$nsa" "$build/droverd" --db "$tmp/drover.db" --socket "$tmp/drover.sock" \
	--manage-rules >"$tmp/droverd.log" 2>&1 &
pids+=($!)
for ((i = 0; i < START_WAIT_S * 10; i++)); do
	grep -q "web UI on" "$tmp/droverd.log" && break
	sleep 0.1
done
grep -q "web UI on" "$tmp/droverd.log" || { sed 's/^/# /' "$tmp/droverd.log"; fail "droverd web UI did not start"; }
ctl() { ip netns exec "$nsa" "$build/droverctl" --socket "$tmp/drover.sock" "$@" >/dev/null; }
ctl settings set client_subnets 198.18.0.0/24 &&
	ctl settings set probe_kind tcp &&
	ctl settings set probe_port 3128 &&
	ctl settings set probe_interval_ms 1000 &&
	ctl settings set probe_timeout_ms 500 ||
	fail "cannot configure droverd"
echo "ok - lab with droverd, a client and three proxy addresses"

# Client traffic until the test ends: each curl sends a SYN (and retries)
# that droverd tunnels. The loop is not killed (its curls would outlive it):
# it stops at the end of a round once the stop file is there.
(
	n=0
	while [ ! -e "$tmp/stop" ]; do
		for ((k = 0; k < 4; k++, n = (n + 1) % CLIENTS)); do
			ip netns exec "$nsc" curl -s -o /dev/null --connect-timeout 1 --max-time 5 \
				--interface 198.18.0.$((2 + n)) http://198.18.2.10/ &
		done
		wait
	done
) &
traffic=$!

t0=$SECONDS
ip netns exec "$nsa" node "$root/tests/browser/webui.test.mjs" http://127.0.0.1:8080/ \
	"$(cat "$tmp/initial-admin-password")" "$artifacts"
rc=$?
echo "# browser: $((SECONDS - t0)) s of $SECONDS s"
for f in webui-dashboard.png webui-dashboard-bypass.png webui-dashboard-details.png \
	webui-dashboard-squid.png webui-pool.png; do
	if [ -s "$artifacts/$f" ]; then echo "ok - screenshot $f saved"; else echo "not ok - screenshot $f missing"; rc=1; fi
done
if grep -qi "AddressSanitizer\|runtime error" "$tmp/droverd.log"; then
	echo "not ok - sanitizer reports in the droverd log"
	rc=1
fi
exit $rc
