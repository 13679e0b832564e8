#!/bin/bash
# tests/lab/demo.sh - a running drover world to look at and play with.
#
#   tests/lab/demo.sh start BUILD_DIR     (make demo)
#   tests/lab/demo.sh stop [BUILD_DIR]    (make demo-stop)
#
# Namespaces drdemo-*, state in /run/drover-demo: 20 client addresses making
# a steady trickle of real requests, HTTP and HTTPS, 3 Squids, an nginx origin
# (TLS for two names as well) and droverd (see tests/lab/lib.sh for the
# topology). HTTPS is intercepted as the set-up script does by default
# (ssl-bump, peek at the SNI and splice) when Squid can ssl-bump (Debian's
# squid-openssl); DEMO_HTTPS=0 leaves it out, DEMO_TLS=bump bumps instead. "start" on a running demo stops it
# first; "stop" removes every namespace, process and file the demo made.
set -u

here=$(cd "$(dirname "$0")" && pwd)
action=${1:-}
build=${2:-build}

LAB=drdemo
LAB_STATE=${DEMO_STATE:-/run/drover-demo}
LAB_CLIENTS=${DEMO_CLIENTS:-20}
LAB_PROXIES=${DEMO_PROXIES:-3}
# The host end and the appliance end of the management link to the web UI.
DEMO_HOST_ADDR=198.18.250.1
DEMO_UI_ADDR=198.18.250.2
LAB_TLS=${DEMO_TLS:-splice}
if [ -z "${DEMO_HTTPS:-}" ]; then
	DEMO_HTTPS=0
	squid -v 2>/dev/null | grep -q -- '--with-openssl' && DEMO_HTTPS=1
fi
LAB_HTTPS=$DEMO_HTTPS
# The trickle stops by itself after this many seconds.
DEMO_DURATION=${DEMO_DURATION:-7200}
DROVER_BUILD=$(cd "$build" 2>/dev/null && pwd) || DROVER_BUILD=$build
if [ "$action" = start ] && [ ! -x "$DROVER_BUILD/droverd" ]; then
	echo "demo: no droverd in \`$build' (run make first)" >&2
	exit 2
fi
# shellcheck source=lib.sh
. "$here/lib.sh"

# demo_trickle: one request about every 0.3 s, round-robin over the client
# addresses; now and then the 4 MB file, so the byte counters move; with
# HTTPS, every third request to one of the TLS names (trusting the origin's
# certificates, or the proxies' CA when they bump). Runs in the background
# until DEMO_DURATION or SIGTERM.
demo_trickle() {
	local addrs i=0 n=0 ok=0 url cpid end=$((SECONDS + DEMO_DURATION)) names tls=() name
	read -r -a addrs <<<"$(lab_client_addresses | tr '\n' ' ')"
	read -r -a names <<<"$LAB_TLS_NAMES"
	trap '[ -n "${cpid:-}" ] && kill "$cpid" 2>/dev/null; exit 0' TERM INT
	while [ $SECONDS -lt $end ]; do
		url=http://$LAB_ORIGIN/
		tls=()
		[ $((n % 25)) -eq 24 ] && url=http://$LAB_ORIGIN/big.bin
		if [ "$LAB_HTTPS" = 1 ] && [ $((n % 3)) -eq 1 ]; then
			name=${names[n % ${#names[@]}]}
			url=https://$name/
			tls=(--resolve "$name:443:$LAB_ORIGIN" --cacert "$(demo_trust)")
		fi
		ip netns exec "$(lab_ns cli)" curl --interface "${addrs[i]}" -sS -o /dev/null \
			--connect-timeout 5 --max-time 30 "${tls[@]}" "$url" &
		cpid=$!
		wait "$cpid" && ok=$((ok + 1))
		cpid=
		n=$((n + 1))
		i=$(((i + 1) % ${#addrs[@]}))
		[ $((n % 100)) -eq 0 ] && echo "$(date +%T) requests=$n ok=$ok"
		sleep 0.3
	done
}

# demo_trust: the certificates an HTTPS client of the demo trusts: the
# origin's own when Squid splices, the proxies' CA when it bumps (one CA for
# the pool: px1's, copied to the others by demo_start).
demo_trust() {
	if [ "$LAB_TLS" = bump ]; then
		echo "$LAB_STATE/px1/tls/ca.crt"
	else
		echo "$LAB_STATE/origin/tls-ca.pem"
	fi
}

# demo_share_ca: bump mode: every proxy presents px1's CA (each made its own
# at set-up), then reloads its Squid.
demo_share_ca() {
	local i dir
	for ((i = 2; i <= LAB_PROXIES; i++)); do
		dir=$LAB_STATE/px$i
		cp "$LAB_STATE/px1/tls/ca.pem" "$LAB_STATE/px1/tls/ca.crt" "$dir/tls/" &&
			chown proxy "$dir/tls/ca.pem" &&
			lab_exec "px$i" squid -f "$dir/squid.conf" -k reconfigure || return 1
	done
}

demo_stop() {
	if [ -e "$LAB_STATE" ] || ip netns list | grep -q "^$LAB-"; then
		lab_down
		echo "demo: stopped; namespaces $LAB-*, processes and $LAB_STATE removed"
	else
		echo "demo: not running"
	fi
}

demo_start() {
	local pid ctl
	demo_stop >/dev/null
	# A failed start leaves nothing behind.
	trap 'lab_down; exit 1' INT TERM
	if ! lab_up || ! lab_start_droverd || { [ "$LAB_HTTPS" = 1 ] && [ "$LAB_TLS" = bump ] &&
		! demo_share_ca; }; then
		echo "demo: start failed; removing what was made" >&2
		lab_down
		exit 1
	fi
	# The web UI, reachable from this host: a veth from here into the
	# appliance namespace (it goes when the namespace does).
	if ! ip link add "$LAB-mgmt" type veth peer name mgmt0 netns "$(lab_ns app)" ||
		! ip addr add "$DEMO_HOST_ADDR/30" dev "$LAB-mgmt" ||
		! ip link set "$LAB-mgmt" up ||
		! ip -n "$(lab_ns app)" addr add "$DEMO_UI_ADDR/30" dev mgmt0 ||
		! ip -n "$(lab_ns app)" link set mgmt0 up ||
		! lab_droverctl settings set http_listen "$DEMO_UI_ADDR:8080" >/dev/null ||
		! lab_wait 5 curl -sf -o /dev/null "http://$DEMO_UI_ADDR:8080/"; then
		echo "demo: the web UI did not come up; removing what was made" >&2
		lab_down
		exit 1
	fi
	demo_trickle </dev/null >>"$LAB_STATE/trickle.log" 2>&1 &
	pid=$!
	lab_record trickle "$pid" "$(cat "/proc/$pid/comm")"
	trap - INT TERM

	ctl="$DROVER_BUILD/droverctl --socket $LAB_STATE/drover.sock"
	cat <<-EOF
		drover demo is running: $LAB_CLIENTS client addresses, $LAB_PROXIES Squids, nginx origin, droverd

		  web UI           http://$DEMO_UI_ADDR:8080/
		  user / password  admin / $(cat "$LAB_STATE/initial-admin-password" 2>/dev/null) (you choose a new one at first sign-in)

		  state directory  $LAB_STATE (droverd.log, pxN/squid/access.log, pxN/decap.log, trickle.log)
		  namespaces       $(ip netns list | cut -d' ' -f1 | grep "^$LAB-" | sort | tr '\n' ' ')

		Try:
		  $ctl proxy list
		  $ctl --json stats
		  $ctl lookup $(lab_client_address 2)
		  $ctl proxy drain 1        # then watch clients move in the Squid logs
		  ip netns exec $LAB-cli curl --interface $(lab_client_address 0) http://$LAB_ORIGIN/
		  tail -f $LAB_STATE/px1/squid/access.log
		$(demo_https_lines)

		Stop it with: make demo-stop   (or $0 stop)
	EOF
}

# demo_https_lines: what to try with HTTPS, or why it is off.
demo_https_lines() {
	local name=${LAB_TLS_NAMES%% *}
	if [ "$LAB_HTTPS" != 1 ]; then
		echo "  (HTTPS interception is off: this Squid cannot ssl-bump; install squid-openssl)"
		return
	fi
	cat <<-EOF
		  ip netns exec $LAB-cli curl --interface $(lab_client_address 0) --resolve $name:443:$LAB_ORIGIN --cacert $(demo_trust) https://$name/
		  grep $name $LAB_STATE/px*/squid/access.log     # HTTPS ($LAB_TLS): the SNI is the last field
	EOF
}

case $action in
start) demo_start ;;
stop) demo_stop ;;
*)
	echo "usage: $0 start|stop [BUILD_DIR]" >&2
	exit 2
	;;
esac
