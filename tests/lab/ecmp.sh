# shellcheck shell=bash
# tests/lab/ecmp.sh - two drover appliances side by side behind a router
# that spreads the clients' flows over both (ECMP, per-flow L4 hash).
# Sourced after tests/lab/lib.sh, whose primitives it builds with.
#
#   $LAB-cli eth0: clients 198.18.2.10 .. (ECMP_CLIENTS addresses)
#     |  default via 198.18.2.1
#   $LAB-rtr cli0 198.18.2.1/24, lan0 198.18.1.3/24
#     |  default nexthop via 198.18.1.1 nexthop via 198.18.1.2
#     |  (fib_multipath_hash_policy=1: per flow, L4)
#   ---+-------------+--------------+---------------+----- LAN 198.18.1.0/24 (br0)
#      $LAB-app      $LAB-app2      $LAB-px1..N
#      198.18.1.1    198.18.1.2     198.18.1.11 ..
#      droverd A     droverd B      Squid, drover-decap (IPIP from .1 and .2)
#      wan0 -> nginx default via A  default via A (to the origin);
#      198.18.64.10                 198.18.2.0/24 via the router: answers
#                                   go to the clients directly, never
#                                   through an appliance
#
# Both appliances route 198.18.2.0/24 back through the router; B sends what
# it does not wrap to A, which reaches the origin.

# The router's hash: 1 (L4). A packet that crossed veths keeps the hash its
# sender's kernel gave it (the socket's, random per connection and drawn
# again when TCP retransmits after a timeout), and with policy 1 the router
# uses that hash when present, not the headers: per flow all the same, as
# with a NIC's RSS hash on a real router. Policy 3 with ECMP_HASH_FIELDS
# (0x37: addresses, protocol, ports) hashes the headers themselves.
ECMP_HASH_POLICY=${ECMP_HASH_POLICY:-1}
ECMP_HASH_FIELDS=${ECMP_HASH_FIELDS:-0x0037}
ECMP_CLIENT_PREFIX=198.18.2
ECMP_CLIENT_FIRST=10
ECMP_CLIENTS=${ECMP_CLIENTS:-48}
ECMP_ROUTER_CLIENT_SIDE=198.18.2.1
ECMP_ROUTER=198.18.1.3
LAB_CLIENT_SUBNET=$ECMP_CLIENT_PREFIX.0/24

# ecmp_client_address I: the I-th client address (0-based).
ecmp_client_address() {
	echo "$ECMP_CLIENT_PREFIX.$((ECMP_CLIENT_FIRST + $1))"
}

ecmp_client_addresses() {
	local i
	for ((i = 0; i < ECMP_CLIENTS; i++)); do
		ecmp_client_address "$i"
	done
}

ecmp_up_network() {
	local i ns a
	# Appliance A, with the origin behind its WAN side.
	lab_up_lan_origin || return 1
	ip -n "$(lab_ns org)" route add "$LAB_CLIENT_SUBNET" via "$LAB_APPLIANCE_WAN"

	# Appliance B (default route via A).
	lab_up_appliance2 || return 1
	ip -n "$(lab_ns app)" route add "$LAB_CLIENT_SUBNET" via "$ECMP_ROUTER" || return 1
	ip -n "$(lab_ns app2)" route add "$LAB_CLIENT_SUBNET" via "$ECMP_ROUTER" || return 1

	# The router: clients on one side, the LAN on the other. Until the
	# appliances agree, its default route is A alone (ecmp_route sets both).
	lab_add_ns rtr || return 1
	lab_port_to_switch rtr lan0 || return 1
	ip -n "$(lab_ns rtr)" addr add "$ECMP_ROUTER/24" dev lan0
	lab_exec rtr sysctl -qw net.ipv4.ip_forward=1 \
		net.ipv4.fib_multipath_hash_policy="$ECMP_HASH_POLICY" >/dev/null || return 1
	if [ "$ECMP_HASH_POLICY" = 3 ]; then
		lab_exec rtr sysctl -qw net.ipv4.fib_multipath_hash_fields="$ECMP_HASH_FIELDS" \
			>/dev/null || return 1
	fi
	ip -n "$(lab_ns rtr)" route add default via "$LAB_APPLIANCE" || return 1

	# Clients: one namespace, many addresses, behind the router.
	lab_add_ns cli || return 1
	ip link add cli0 netns "$(lab_ns rtr)" type veth peer name eth0 netns "$(lab_ns cli)" ||
		return 1
	ip -n "$(lab_ns rtr)" addr add "$ECMP_ROUTER_CLIENT_SIDE/24" dev cli0
	ip -n "$(lab_ns rtr)" link set cli0 up
	ip -n "$(lab_ns cli)" link set eth0 up
	for a in $(ecmp_client_addresses); do
		ip -n "$(lab_ns cli)" addr add "$a/24" dev eth0 || return 1
	done
	ip -n "$(lab_ns cli)" route add default via "$ECMP_ROUTER_CLIENT_SIDE"

	# Proxies: the origin through A, the clients through the router.
	for ((i = 1; i <= LAB_PROXIES; i++)); do
		ns=px$i
		lab_add_ns "$ns" || return 1
		lab_port_to_switch "$ns" || return 1
		ip -n "$(lab_ns "$ns")" addr add "$(lab_proxy_address "$i")/24" dev eth0
		ip -n "$(lab_ns "$ns")" route add default via "$LAB_APPLIANCE"
		ip -n "$(lab_ns "$ns")" route add "$LAB_CLIENT_SUBNET" via "$ECMP_ROUTER" || return 1
	done
}

# ecmp_up: the whole world except the two droverds.
ecmp_up() {
	local i
	lab_check_tools || return 1
	if [ -e "$LAB_STATE" ] && [ ! -e "$LAB_STATE/$LAB_STAMP" ]; then
		lab_log "$LAB_STATE exists and is not a lab state directory"
		return 1
	fi
	mkdir -p "$LAB_STATE" && touch "$LAB_STATE/$LAB_STAMP" || return 1
	chmod 0755 "$LAB_STATE"
	ecmp_up_network || return 1
	lab_up_origin || return 1
	for ((i = 1; i <= LAB_PROXIES; i++)); do
		lab_up_proxy "$i" || return 1
	done
}

# ecmp_route APPLIANCE...: the router's default route, one next hop per appliance.
ecmp_route() {
	local a args=()
	for a in "$@"; do
		args+=(nexthop via "$a" dev lan0)
	done
	if [ $# -eq 1 ]; then
		ip -n "$(lab_ns rtr)" route replace default via "$1" dev lan0
	else
		ip -n "$(lab_ns rtr)" route replace default "${args[@]}"
	fi
}


# ecmp_squid_clients N: the distinct client addresses in proxy N's access log
# (the appliances' probes are not clients).
ecmp_squid_clients() {
	awk -v p="$ECMP_CLIENT_PREFIX." 'index($3, p) == 1 { print $3 }' \
		"$LAB_STATE/px$1/squid/access.log" 2>/dev/null | sort -u
}

# ecmp_flows_start NAME: watches which appliance carries each client
# connection (tests/lab/ecmp_flows.py on the switch ports), until ecmp_flows_stop.
ecmp_flows_start() {
	local pid out=$LAB_STATE/flows.$1.json ready=$LAB_STATE/flows.$1.ready
	rm -f "$out" "$ready"
	ip netns exec "$(lab_ns sw)" python3 "$LAB_ROOT/tests/lab/ecmp_flows.py" \
		--clients "$ECMP_CLIENT_PREFIX." --out "$out" --ready "$ready" \
		A=p-app B=p-app2 </dev/null >>"$LAB_STATE/flows.log" 2>&1 &
	pid=$!
	lab_record "flows.$1" "$pid" python3
	echo "$pid" >"$LAB_STATE/flows.$1.pid"
	lab_wait "$LAB_WAIT_S" test -s "$ready"
}

# ecmp_flows_stop NAME: ends the watch; its result is $LAB_STATE/flows.NAME.json.
ecmp_flows_stop() {
	lab_kill "$(cat "$LAB_STATE/flows.$1.pid")" python3
	lab_wait "$LAB_WAIT_S" test -s "$LAB_STATE/flows.$1.json"
}
