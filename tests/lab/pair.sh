# shellcheck shell=bash
# tests/lab/pair.sh - an HA pair of appliances under keepalived, for the
# failover tests. Sourced after tests/lab/lib.sh, whose primitives it uses
# (namespaces, origin, Squids, process records, lab_down).
#
#                     client LAN 198.18.1.0/24 (bridge br0 in $LAB-sw)
#   +---------------+----------------+----------------+-------------+
#   $LAB-cli        $LAB-app (A)     $LAB-app2 (B)    $LAB-px1..N
#   default via     lan0 .2          lan0 .3          Squid, drover-decap
#   .1 (the VIP)    droverd,         droverd,         (IPIP from .2 and .3),
#                   keepalived       keepalived       default via .1
#                   wan0 .64.2       wan0 .64.3
#   +---------------+----------------+------ WAN 198.18.64.0/24 (br1)
#   $LAB-org eth0 198.18.64.10: nginx; route to 198.18.1.0/24 via .64.1
#
# The master holds both virtual addresses: 198.18.1.1 on lan0 (the clients'
# and proxies' gateway) and 198.18.64.1 on wan0 (the origin's way back).
# Each droverd pins its fast path in its own directory of a bpffs mounted
# under $LAB_STATE, so a killed droverd leaves it working, as under systemd.
# A is the configuration primary (its web API on https://198.18.1.2:8443),
# B its replica (tests/lab/cluster.sh); each sets its own ha_* settings.

LAB_PAIR_VIP=$LAB_APPLIANCE
LAB_PAIR_WAN_VIP=$LAB_APPLIANCE_WAN
LAB_PAIR_LAN=([1]=198.18.1.2 [2]=198.18.1.3)
LAB_PAIR_WAN=([1]=198.18.64.2 [2]=198.18.64.3)
LAB_PAIR_PIN=$LAB_STATE/bpf

# pair_ns NODE: the namespace suffix of node 1 (A) or 2 (B).
pair_ns() {
	[ "$1" = 1 ] && echo app || echo app2
}

pair_socket() {
	[ "$1" = 1 ] && echo "$LAB_STATE/drover.sock" || echo "$LAB_STATE/drover2.sock"
}

# pair_ctl NODE ARGS...: droverctl against node NODE's droverd.
pair_ctl() {
	lab_exec "$(pair_ns "$1")" "$DROVER_BUILD/droverctl" --socket "$(pair_socket "$1")" "${@:2}"
}

# pair_port NS DEV BRIDGE PEER: a veth DEV in $LAB-NS, its peer PEER on BRIDGE of $LAB-sw.
pair_port() {
	ip link add "$2" netns "$(lab_ns "$1")" type veth peer name "$4" netns "$(lab_ns sw)" ||
		return 1
	ip -n "$(lab_ns sw)" link set "$4" master "$3" up && ip -n "$(lab_ns "$1")" link set "$2" up
}

pair_up_network() {
	local i n ns a
	lab_add_ns sw || return 1
	ip -n "$(lab_ns sw)" link add br0 type bridge &&
		ip -n "$(lab_ns sw)" link add br1 type bridge || return 1
	ip -n "$(lab_ns sw)" link set br0 up
	ip -n "$(lab_ns sw)" link set br1 up
	for n in 1 2; do
		ns=$(pair_ns "$n")
		lab_add_ns "$ns" || return 1
		pair_port "$ns" lan0 br0 "p-$ns" && pair_port "$ns" wan0 br1 "w-$ns" || return 1
		ip -n "$(lab_ns "$ns")" addr add "${LAB_PAIR_LAN[$n]}/24" dev lan0
		ip -n "$(lab_ns "$ns")" addr add "${LAB_PAIR_WAN[$n]}/24" dev wan0
		lab_exec "$ns" sysctl -q -p "$LAB_ROOT/rules/99-drover.conf" >/dev/null || return 1
	done
	lab_add_ns org || return 1
	pair_port org eth0 br1 w-org || return 1
	ip -n "$(lab_ns org)" addr add "$LAB_ORIGIN/24" dev eth0
	ip -n "$(lab_ns org)" route add "$LAB_LAN_PREFIX.0/24" via "$LAB_PAIR_WAN_VIP"
	lab_add_ns cli || return 1
	lab_port_to_switch cli || return 1
	for a in $(lab_client_addresses); do
		ip -n "$(lab_ns cli)" addr add "$a/24" dev eth0 || return 1
	done
	ip -n "$(lab_ns cli)" route add default via "$LAB_PAIR_VIP"
	lab_exec cli ethtool -K eth0 tx off >/dev/null 2>&1
	for ((i = 1; i <= LAB_PROXIES; i++)); do
		lab_add_ns "px$i" || return 1
		lab_port_to_switch "px$i" || return 1
		ip -n "$(lab_ns "px$i")" addr add "$(lab_proxy_address "$i")/24" dev eth0
		ip -n "$(lab_ns "px$i")" route add default via "$LAB_PAIR_VIP"
	done
}

# pair_up: the world of lib.sh's lab_up, with two appliances; no droverd yet.
pair_up() {
	local i
	lab_check_tools || return 1
	command -v keepalived >/dev/null || {
		lab_log "missing tool: keepalived"
		return 1
	}
	if [ -e "$LAB_STATE" ] && [ ! -e "$LAB_STATE/$LAB_STAMP" ]; then
		lab_log "$LAB_STATE exists and is not a lab state directory"
		return 1
	fi
	mkdir -p "$LAB_STATE" && touch "$LAB_STATE/$LAB_STAMP" && chmod 0755 "$LAB_STATE" ||
		return 1
	mkdir -p "$LAB_PAIR_PIN" && mount -t bpf bpf "$LAB_PAIR_PIN" || return 1
	head -c 18 /dev/urandom | base64 >"$LAB_STATE/password" && chmod 0600 "$LAB_STATE/password" ||
		return 1
	pair_up_network || return 1
	lab_up_origin || return 1
	for ((i = 1; i <= LAB_PROXIES; i++)); do
		lab_up_proxy "$i" || return 1
	done
}

# pair_start_droverd NODE: droverd of node NODE on its own database and pin directory.
pair_start_droverd() {
	local n=$1 pid db=$LAB_STATE/drover.db
	[ "$n" = 1 ] || db=$LAB_STATE/drover2.db
	rm -f "$(pair_socket "$n")"
	ip netns exec "$(lab_ns "$(pair_ns "$n")")" "$DROVER_BUILD/droverd" --db "$db" \
		--socket "$(pair_socket "$n")" --manage-rules --log-level info \
		--admin-password-file "$LAB_STATE/password" --bpf-pin-dir "$LAB_PAIR_PIN/node$n" </dev/null >>"$LAB_STATE/droverd$n.log" 2>&1 &
	pid=$!
	disown "$pid" # killed on purpose: no job notice
	lab_record "droverd$n" "$pid" droverd
	echo "$pid" >"$LAB_STATE/droverd$n.pid"
	lab_wait "$LAB_WAIT_S" test -S "$(pair_socket "$n")" || {
		lab_log "droverd $n did not open its socket: $(tail -n 5 "$LAB_STATE/droverd$n.log")"
		return 1
	}
}

# pair_settings NODE KEY=VALUE...: settings of node NODE.
pair_settings() {
	local n=$1 kv
	shift
	for kv in "$@"; do
		pair_ctl "$n" settings set "${kv%%=*}" "${kv#*=}" >/dev/null || {
			lab_log "node $n refused $kv"
			return 1
		}
	done
}

# pair_all_up NODE: every proxy node NODE knows passes its probes.
pair_all_up() {
	pair_ctl "$1" --json proxy list |
		python3 -c 'import json, sys
p = json.load(sys.stdin)["proxies"]
sys.exit(0 if p and all(x.get("health") == "up" for x in p) else 1)'
}

# pair_node_settings NODE PRIORITY: this node's ha_* settings (node-scoped: set on each).
pair_node_settings() {
	local n=$1 peer=$((3 - $1))
	pair_settings "$n" ha_interface=lan0 "ha_vip=$LAB_PAIR_VIP" ha_upstream_interface=wan0 \
		"ha_upstream_vip=$LAB_PAIR_WAN_VIP" "ha_peers=${LAB_PAIR_LAN[$peer]}" \
		"ha_priority=$2" "ha_advert_ms=${PAIR_ADVERT_MS:-1000}" ha_router_id=51
}

# pair_ctl1, pair_ctl2: droverctl of A, of B (for tests/lab/cluster.sh).
pair_ctl1() { pair_ctl 1 "$@"; }
pair_ctl2() { pair_ctl 2 "$@"; }

# pair_start_droverds PRIORITY_A PRIORITY_B: A configured, made the
# configuration primary, and its proxies set up with the scripts it generates
# (which accept IPIP from both, through ha_peers); B made its replica: it
# takes A's configuration (hash key included, live) by replication, and sets
# only its own node settings. The proxies reach the origin through the VIP,
# so they come up only once keepalived runs (pair_start_keepalived).
pair_start_droverds() {
	local i dir id
	pair_start_droverd 1 || return 1
	# The Squids fetch probe_url through the pair's own gateway: probe_fall
	# failures must outlast the moment a failover leaves it nowhere, or the
	# failover would take proxies down (droverctl ha keepalived-config warns).
	pair_settings 1 "client_subnets=$LAB_LAN_PREFIX.0/24" "probe_url=http://$LAB_ORIGIN/" \
		probe_port=3128 probe_timeout_ms=500 probe_interval_ms=1000 probe_fall=6 || return 1
	pair_node_settings 1 "$1" || return 1
	cluster_primary pair_ctl1 app "${LAB_PAIR_LAN[1]}" "$LAB_STATE/password" "$LAB_STATE" || {
		lab_log "A did not become the primary"
		return 1
	}
	for ((i = 1; i <= LAB_PROXIES; i++)); do
		dir=$LAB_STATE/px$i
		id=$(pair_ctl 1 --json proxy add "$(lab_proxy_address "$i")" --name "squid$i" |
			python3 -c 'import json, sys; print(json.load(sys.stdin)["proxy"]["id"])') ||
			return 1
		pair_ctl 1 proxy setup-script "$id" --mode decap --tunnel-address "$LAB_TUNNEL_ADDRESS" \
			>"$dir/setup.sh" || return 1
		lab_exec "px$i" bash "$dir/setup.sh" --decap-bin "$DROVER_BUILD/drover-decap" \
			--dev drover0 --pidfile "$dir/decap.pid" --decap-log "$dir/decap.log" --tls off up >/dev/null || {
			lab_log "the generated set-up script failed on px$i"
			return 1
		}
	done
	pair_start_droverd 2 || return 1
	cluster_replica pair_ctl2 "${LAB_PAIR_LAN[1]}" "$LAB_STATE" || return 1
	pair_node_settings 2 "$2"
}

# pair_generation NODE: node NODE's configuration generation.
pair_generation() {
	cluster_field pair_ctl"$1" "c['config_generation']"
}

# pair_vrrp NODE: the VRRP state node NODE's droverd was told (droverctl cluster).
pair_vrrp() {
	cluster_field pair_ctl"$1" "c['vrrp']"
}

# pair_start_keepalived NODE: keepalived (VRRP only) in node NODE's namespace,
# on the configuration its droverd generates.
pair_start_keepalived() {
	local n=$1 ns conf=$LAB_STATE/keepalived$1.conf pid
	ns=$(pair_ns "$n")
	pair_ctl "$n" ha keepalived-config --notify "$LAB_ROOT/packaging/drover-ha-notify" \
		>"$conf" 2>"$LAB_STATE/keepalived$n.conf.err" || return 1
	rm -f "$LAB_STATE/keepalived$n.pid" "$LAB_STATE/vrrp$n.pid"
	ip netns exec "$(lab_ns "$ns")" keepalived -n -l -D -P -f "$conf" \
		-p "$LAB_STATE/keepalived$n.pid" -r "$LAB_STATE/vrrp$n.pid" \
		</dev/null >>"$LAB_STATE/keepalived$n.log" 2>&1 &
	pid=$!
	disown "$pid"
	lab_record "keepalived$n" "$pid" keepalived
	echo "$pid" >"$LAB_STATE/keepalived$n.ppid"
	lab_wait "$LAB_WAIT_S" test -s "$LAB_STATE/vrrp$n.pid" || {
		lab_log "keepalived $n did not start: $(tail -n 5 "$LAB_STATE/keepalived$n.log")"
		return 1
	}
	lab_record "vrrp$n" "$(cat "$LAB_STATE/vrrp$n.pid")" keepalived
}

# pair_holds NODE: node NODE has the clients' gateway address.
pair_holds() {
	ip -n "$(lab_ns "$(pair_ns "$1")")" -4 -o addr show dev lan0 | grep -q " $LAB_PAIR_VIP/"
}

# pair_state NODE: keepalived's last state of node NODE, from its log.
pair_state() {
	grep -o 'Entering [A-Z]* STATE' "$LAB_STATE/keepalived$1.log" 2>/dev/null | tail -n 1 |
		cut -d' ' -f2
}

# pair_kill9_droverd NODE: SIGKILL to node NODE's droverd alone.
pair_kill9_droverd() {
	local pid
	read -r pid <"$LAB_STATE/droverd$1.pid" && kill -KILL "$pid" 2>/dev/null
	return 0
}

# pair_kill9 NODE: SIGKILL to node NODE's droverd and keepalived (both processes).
pair_kill9() {
	local n=$1 pid
	for f in "droverd$n.pid" "keepalived$n.ppid" "vrrp$n.pid"; do
		read -r pid <"$LAB_STATE/$f" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	done
	return 0
}

# pair_down: ends keepalived (by PID, its VRRP child too) and droverd, takes
# the pinned fast paths away, unmounts the bpffs, then lab_down.
pair_down() {
	local n pid
	for n in 1 2; do
		for f in "keepalived$n.ppid" "vrrp$n.pid"; do
			[ -r "$LAB_STATE/$f" ] && read -r pid <"$LAB_STATE/$f" && lab_kill "$pid" keepalived
		done
	done
	lab_stop_droverd
	local label comm
	if [ -r "$LAB_STATE/pids" ]; then
		while read -r label pid comm; do
			[[ $label == droverd* ]] && lab_kill "$pid" "$comm"
		done <"$LAB_STATE/pids"
	fi
	if mountpoint -q "$LAB_PAIR_PIN" 2>/dev/null; then
		for n in 1 2; do
			ip netns exec "$(lab_ns "$(pair_ns "$n")")" "$DROVER_BUILD/droverd" --cleanup \
				--bpf-pin-dir "$LAB_PAIR_PIN/node$n" >/dev/null 2>&1
		done
		umount "$LAB_PAIR_PIN"
	fi
	lab_down
}
