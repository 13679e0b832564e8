# tests/lab/lib.sh - builds and removes a drover world in network namespaces.
# Sourced by the end-to-end tests and the demo; needs root.
#
#                     client LAN 198.18.1.0/24 (bridge br0 in $LAB-sw)
#   +-----------------+--------------+--------------+------ ... ----+
#   |                 |              |              |               |
#   $LAB-cli          $LAB-app       $LAB-px1       $LAB-px2  ...   $LAB-pxN
#   eth0              lan0           eth0           eth0            eth0
#   .128 .. .177      198.18.1.1     198.18.1.11    198.18.1.12     198.18.1.(10+N)
#   (LAB_CLIENTS      droverd        drover-decap -> TUN drover0 198.19.255.1/32
#    addresses)       (NFQUEUE,      REDIRECT :80,:443 -> Squid :3129 (intercept)
#   default via .1    IPIP out       Squid :3128 (plain); default via .1
#                     lan0)          replies to clients go straight over the LAN
#                     wan0
#                     198.18.64.1/24
#                       |
#                     $LAB-org eth0 198.18.64.10/24: nginx :80
#                     (route to 198.18.1.0/24 via 198.18.64.1)
#
# Client web traffic: cli -> app (default route) -> droverd wraps it in IPIP
# -> pxN eth0 -> drover-decap -> drover0 -> REDIRECT -> Squid -> (via app)
# -> nginx; Squid's answer goes pxN -> cli directly, never through app.
#
# Settings (set before sourcing or before lab_up):
#   LAB            name prefix of the namespaces (default drt)
#   LAB_STATE      state directory: configs, logs, pids (default /tmp/$LAB-lab)
#   LAB_CLIENTS    number of client addresses, from 198.18.1.128 (default 50, max 120)
#   LAB_PROXIES    number of Squid proxies (default 3, max 9)
#   LAB_CLIENT_SUBNET the clients' subnet: droverd's client_subnets and the
#                  Squids' ACL (default the LAN, 198.18.1.0/24)
#   DROVER_BUILD   directory with droverd, droverctl, drover-decap (default build)
#   DROVER_WRAP    command droverd runs under, e.g. "valgrind --leak-check=full"
#                  (empty: droverd itself); give its stop more time with LAB_KILL_WAIT_S
#   LAB_KILL_WAIT_S seconds a process gets to exit after TERM before KILL (default 5)
#   LAB_IPV6       1: IPv6 as well (dual stack), opt-in: clients 2001:db8:1::80..
#                  (the I-th client 2001:db8:1::80+I in hex, as .128+I), proxies
#                  2001:db8:1::11.. (as .11..), appliance 2001:db8:1::1 (the
#                  clients' and proxies' IPv6 default gateway, forwarding on),
#                  WAN 2001:db8:64::1, origin 2001:db8:64::10 (nginx listens
#                  there too); Squid's intercept port takes both families
#                  (default 0)
#   LAB_HTTPS      1: HTTPS as well, opt-in: the origin serves TLS on :443 for
#                  two names (LAB_TLS_NAMES, each its own self-signed
#                  certificate, made here, in $LAB_STATE/origin/tls-NAME.crt;
#                  both in origin/tls-ca.pem), and the set-up script prepares
#                  each Squid for intercepted HTTPS (ssl-bump, mode LAB_TLS:
#                  splice, the default, or bump) in files of the lab's own
#                  (pxN/squid.d/drover.conf, CA in pxN/tls); Squid then needs
#                  OpenSSL (Debian's squid-openssl). Without it the set-up
#                  script runs with --tls off and leaves Squid alone (default 0)
#   LAB_WAIT_S     how long a wait for something that must happen (a daemon
#                  listening, a proxy up) may take before the test calls it
#                  missing (default 120). Generous on purpose: the waits end
#                  as soon as the thing happens, and a busy machine is slow,
#                  not broken. No test asserts how long anything took.
#
# Everything lab_up makes is recorded under $LAB_STATE, so lab_down removes it
# all even after a partial lab_up, and kills only processes it started.

LAB=${LAB:-drt}
LAB_STATE=${LAB_STATE:-/tmp/$LAB-lab}
LAB_CLIENTS=${LAB_CLIENTS:-50}
LAB_PROXIES=${LAB_PROXIES:-3}
LAB_WAIT_S=${LAB_WAIT_S:-120}
LAB_CLIENT_SUBNET=${LAB_CLIENT_SUBNET:-198.18.1.0/24}
LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DROVER_BUILD=${DROVER_BUILD:-$LAB_ROOT/build}

LAB_LAN_PREFIX=198.18.1
LAB_APPLIANCE=198.18.1.1
LAB_APPLIANCE_WAN=198.18.64.1
LAB_ORIGIN=198.18.64.10
LAB_TUNNEL_ADDRESS=198.19.255.1
LAB_CLIENT_FIRST=128
LAB_CLIENT_RANGE=198.18.1.128/25
LAB_IPV6=${LAB_IPV6:-0}
LAB_LAN6_PREFIX=2001:db8:1
LAB_APPLIANCE6=2001:db8:1::1
LAB_APPLIANCE_WAN6=2001:db8:64::1
LAB_ORIGIN6=2001:db8:64::10
LAB_CLIENT_RANGE6=2001:db8:1::/64
LAB_MARKER=drover-origin-marker-7f3a
LAB_HTTPS=${LAB_HTTPS:-0}
LAB_TLS=${LAB_TLS:-splice}
LAB_TLS_NAMES="a.drover.test b.drover.test"
# Recorded in every file the lab owns, so lab_down never removes a stranger's directory.
LAB_STAMP=.drover-lab

lab_log() {
	echo "# lab: $*" >&2
}

lab_ns() {
	echo "$LAB-$1"
}

lab_proxy_address() {
	echo "$LAB_LAN_PREFIX.$((10 + $1))"
}

# lab_client_address I: the I-th client address (0-based).
lab_client_address() {
	echo "$LAB_LAN_PREFIX.$((LAB_CLIENT_FIRST + $1))"
}

# lab_proxy_address6 I / lab_client_address6 I: the IPv6 twins (LAB_IPV6=1).
lab_proxy_address6() {
	echo "$LAB_LAN6_PREFIX::$((10 + $1))"
}

lab_client_address6() {
	printf '%s::%x\n' "$LAB_LAN6_PREFIX" $((LAB_CLIENT_FIRST + $1))
}

lab_client_addresses() {
	local i
	for ((i = 0; i < LAB_CLIENTS; i++)); do
		lab_client_address "$i"
	done
}

lab_exec() {
	local ns=$1
	shift
	ip netns exec "$(lab_ns "$ns")" "$@"
}

# lab_record LABEL PID COMM: remembers a process lab_down may kill, with the
# name it will have (so a recycled pid is never killed). Background the real
# command with "ip netns exec ... &", never a shell function, so that $! is
# the process itself (ip netns exec replaces itself with the command).
lab_record() {
	echo "$1 $2 $3" >>"$LAB_STATE/pids"
}

# lab_add_ns NAME: creates namespace $LAB-NAME and records it.
lab_add_ns() {
	local ns
	ns=$(lab_ns "$1")
	echo "$ns" >>"$LAB_STATE/netns"
	ip netns add "$ns" || return 1
	ip -n "$ns" link set lo up
}

# lab_wait TIMEOUT_S CMD...: polls CMD every 0.1 s until it succeeds.
lab_wait() {
	local deadline=$((SECONDS + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.1
	done
}

lab_listening() {
	lab_exec "$1" ss -Hltn "sport = :$2" | grep -q .
}

# lab_xdp_peer NS DEV: with LAB_FAST_PATH_MODE=xdp, GRO on for DEV in NS, a
# veth the appliance's XDP sends frames to, as a NIC takes frames whatever
# sent them: a veth hands frames from XDP only to a peer with GRO on (or an
# XDP program of its own), and learns that the peer has it only when GRO
# comes on while the peer is up.
lab_xdp_peer() {
	[ "${LAB_FAST_PATH_MODE:-}" = xdp ] || return 0
	lab_exec "$1" ethtool -K "$2" gro on >/dev/null 2>&1
	return 0
}

# lab_port_to_switch NS: veth eth0 (or $2) in $LAB-NS, its peer p-NS on br0.
lab_port_to_switch() {
	local ns=$1 dev=${2:-eth0}
	ip link add "$dev" netns "$(lab_ns "$ns")" type veth peer name "p-$ns" netns "$(lab_ns sw)" ||
		return 1
	ip -n "$(lab_ns sw)" link set "p-$ns" master br0 up &&
		ip -n "$(lab_ns "$ns")" link set "$dev" up || return 1
	lab_xdp_peer sw "p-$ns"
}

lab_check_tools() {
	local t
	for t in ip iptables squid nginx curl ss sha256sum ethtool; do
		command -v "$t" >/dev/null || {
			lab_log "missing tool: $t"
			return 1
		}
	done
	[ -x "$DROVER_BUILD/drover-decap" ] || {
		lab_log "no $DROVER_BUILD/drover-decap (make build/drover-decap)"
		return 1
	}
	[ "$LAB_CLIENTS" -ge 1 ] && [ "$LAB_CLIENTS" -le 120 ] &&
		[ "$LAB_PROXIES" -ge 1 ] && [ "$LAB_PROXIES" -le 9 ]
}

# lab_up_lan_origin: the switch, the appliance on it (lan0), and the origin
# behind the appliance's WAN side (wan0), routing the LAN back through it.
lab_up_lan_origin() {
	lab_add_ns sw || return 1
	ip -n "$(lab_ns sw)" link add br0 type bridge || return 1
	ip -n "$(lab_ns sw)" link set br0 up

	# Appliance.
	lab_add_ns app || return 1
	lab_port_to_switch app lan0 || return 1
	ip -n "$(lab_ns app)" addr add "$LAB_APPLIANCE/24" dev lan0
	lab_exec app sysctl -q -p "$LAB_ROOT/rules/99-drover.conf" >/dev/null || return 1

	# Origin, behind the appliance's WAN side.
	lab_add_ns org || return 1
	ip link add wan0 netns "$(lab_ns app)" type veth peer name eth0 netns "$(lab_ns org)" ||
		return 1
	ip -n "$(lab_ns app)" addr add "$LAB_APPLIANCE_WAN/24" dev wan0
	ip -n "$(lab_ns app)" link set wan0 up
	ip -n "$(lab_ns org)" addr add "$LAB_ORIGIN/24" dev eth0
	ip -n "$(lab_ns org)" link set eth0 up
	lab_xdp_peer org eth0
	ip -n "$(lab_ns org)" route add "$LAB_LAN_PREFIX.0/24" via "$LAB_APPLIANCE_WAN"
}

lab_up_network() {
	local i ns a
	lab_up_lan_origin || return 1

	# Clients: one namespace, many addresses (curl --interface picks one).
	lab_add_ns cli || return 1
	lab_port_to_switch cli || return 1
	for a in $(lab_client_addresses); do
		ip -n "$(lab_ns cli)" addr add "$a/24" dev eth0 || return 1
	done
	ip -n "$(lab_ns cli)" route add default via "$LAB_APPLIANCE"
	# The clients keep their veth's offloads on: their packets leave with
	# partial checksums, which drover-decap completes on the proxies.

	# Proxies.
	for ((i = 1; i <= LAB_PROXIES; i++)); do
		ns=px$i
		lab_add_ns "$ns" || return 1
		lab_port_to_switch "$ns" || return 1
		ip -n "$(lab_ns "$ns")" addr add "$(lab_proxy_address "$i")/24" dev eth0
		ip -n "$(lab_ns "$ns")" route add default via "$LAB_APPLIANCE"
	done
	if [ "$LAB_IPV6" = 1 ]; then
		lab_up_network6 || return 1
	fi
}

# lab_up_network6: the IPv6 addresses and routes of LAB_IPV6=1 on the links
# lab_up_network made ("nodad": usable at once, the lab owns the prefixes).
lab_up_network6() {
	local i a ns
	lab_exec app sysctl -qw net.ipv6.conf.all.forwarding=1 >/dev/null || return 1
	ip -n "$(lab_ns app)" addr add "$LAB_APPLIANCE6/64" dev lan0 nodad || return 1
	ip -n "$(lab_ns app)" addr add "$LAB_APPLIANCE_WAN6/64" dev wan0 nodad || return 1
	ip -n "$(lab_ns org)" addr add "$LAB_ORIGIN6/64" dev eth0 nodad || return 1
	ip -n "$(lab_ns org)" route add "$LAB_CLIENT_RANGE6" via "$LAB_APPLIANCE_WAN6" || return 1
	for ((i = 0; i < LAB_CLIENTS; i++)); do
		a=$(lab_client_address6 "$i")
		ip -n "$(lab_ns cli)" addr add "$a/64" dev eth0 nodad || return 1
	done
	ip -n "$(lab_ns cli)" -6 route add default via "$LAB_APPLIANCE6" || return 1
	for ((i = 1; i <= LAB_PROXIES; i++)); do
		ns=px$i
		ip -n "$(lab_ns "$ns")" addr add "$(lab_proxy_address6 "$i")/64" dev eth0 nodad ||
			return 1
		ip -n "$(lab_ns "$ns")" -6 route add default via "$LAB_APPLIANCE6" || return 1
	done
}

lab_up_origin() {
	local dir=$LAB_STATE/origin pid listen6=
	mkdir -p "$dir/www/upload" "$dir/tmp" || return 1
	[ "$LAB_IPV6" = 1 ] && listen6="listen [$LAB_ORIGIN6]:80; listen [$LAB_ORIGIN6]:8080;"
	local tls_servers=
	if [ "$LAB_HTTPS" = 1 ]; then
		tls_servers=$(lab_origin_tls "$dir") || return 1
	fi
	printf '<html><body>%s</body></html>\n' "$LAB_MARKER" >"$dir/www/index.html"
	head -c $((4 << 20)) /dev/urandom >"$dir/www/big.bin"
	sha256sum <"$dir/www/big.bin" | cut -d' ' -f1 >"$dir/big.sha256"
	# nginx workers run as nobody: they write uploads and request bodies.
	chown nobody:nogroup "$dir/www/upload" "$dir/tmp"
	cat >"$dir/nginx.conf" <<-EOF
		daemon off;
		worker_processes 1;
		pid $dir/nginx.pid;
		error_log $dir/error.log warn;
		user nobody nogroup;
		events { worker_connections 1024; }
		http {
		    access_log $dir/access.log;
		    client_body_temp_path $dir/tmp/body;
		    proxy_temp_path $dir/tmp/proxy;
		    fastcgi_temp_path $dir/tmp/fastcgi;
		    uwsgi_temp_path $dir/tmp/uwsgi;
		    scgi_temp_path $dir/tmp/scgi;
		    default_type application/octet-stream;
		    server {
		        listen $LAB_ORIGIN:80;
		        listen $LAB_ORIGIN:8080;
		        $listen6
		        root $dir/www;
		        location /upload/ {
		            dav_methods PUT;
		            client_max_body_size 64m;
		        }
		        # Long downloads for the lifecycle tests: 4 MB take about 4 s.
		        location /slow/ {
		            alias $dir/www/;
		            limit_rate 1m;
		        }
		        # Slower still: 4 MB take about 26 s.
		        location /crawl/ {
		            alias $dir/www/;
		            limit_rate 160k;
		        }
		        # Paced by the origin itself (no buffer on the way fills
		        # ahead): 4 MB take about 40 s, every segment of them late.
		        location /paced/ {
		            alias $dir/www/;
		            limit_rate 100k;
		        }
		    }
		    $tls_servers
		}
	EOF
	ip netns exec "$(lab_ns org)" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
		</dev/null >>"$dir/nginx.out" 2>&1 &
	pid=$!
	lab_record nginx "$pid" nginx
	lab_wait "$LAB_WAIT_S" lab_listening org 80 || {
		lab_log "nginx did not start: $(tail -n 5 "$dir/error.log" "$dir/nginx.out" 2>/dev/null)"
		return 1
	}
}

# lab_origin_tls DIR: for LAB_HTTPS=1, a self-signed certificate and a
# document root per name in LAB_TLS_NAMES (a page naming it, and a 1 MB file
# with its sha256 in DIR/NAME.sha256); prints nginx's server blocks, one per
# name on the same address (the client's SNI picks the block).
lab_origin_tls() {
	local dir=$1 name
	: >"$dir/tls-ca.pem"
	for name in $LAB_TLS_NAMES; do
		openssl req -x509 -new -newkey rsa:2048 -sha256 -nodes -days 30 -subj "/CN=$name" \
			-addext "subjectAltName=DNS:$name" -keyout "$dir/tls-$name.key" \
			-out "$dir/tls-$name.crt" >/dev/null 2>&1 || {
			lab_log "openssl could not make a certificate for $name"
			return 1
		}
		cat "$dir/tls-$name.crt" >>"$dir/tls-ca.pem"
		mkdir -p "$dir/tls-www/$name" || return 1
		printf '<html><body>%s %s</body></html>\n' "$LAB_MARKER" "$name" \
			>"$dir/tls-www/$name/index.html"
		head -c $((1 << 20)) /dev/urandom >"$dir/tls-www/$name/mid.bin"
		sha256sum <"$dir/tls-www/$name/mid.bin" | cut -d' ' -f1 >"$dir/$name.sha256"
		echo "server { listen $LAB_ORIGIN:443 ssl; server_name $name;" \
			"ssl_certificate $dir/tls-$name.crt; ssl_certificate_key $dir/tls-$name.key;" \
			"root $dir/tls-www/$name; }"
	done
}

# lab_proxy_tls_args I [MODE]: the set-up script's options for proxy I's
# Squid: HTTPS in mode MODE (default LAB_TLS) in the lab's own files with
# LAB_HTTPS=1, else --tls off.
lab_proxy_tls_args() {
	local dir=$LAB_STATE/px$1
	if [ "$LAB_HTTPS" != 1 ]; then
		echo --tls off
		return
	fi
	echo --tls "${2:-$LAB_TLS}" --squid-conf "$dir/squid.conf" \
		--squid-include "$dir/squid.d/drover.conf" --tls-dir "$dir/tls" \
		--access-log "$dir/squid/access.log"
}

# lab_up_proxy I: Squid in $LAB-pxI. Its tunnel and intercept rules come
# later, from the script droverd generates for it (lab_add_proxy).
lab_up_proxy() {
	local i=$1 ns=px$1 dir=$LAB_STATE/px$1 addr pid acl=$LAB_LAN_PREFIX.0/24
	addr=$(lab_proxy_address "$i")
	[ "$LAB_CLIENT_SUBNET" = "$acl" ] || acl="$acl $LAB_CLIENT_SUBNET"
	[ "$LAB_IPV6" = 1 ] && acl="$acl $LAB_CLIENT_RANGE6"
	# With IPv6, the plain port on the IPv6 address too: droverd probes a
	# proxy given its IPv6 address over IPv6 as well.
	local port6=
	[ "$LAB_IPV6" = 1 ] && port6="http_port [$(lab_proxy_address6 "$i")]:3128"
	mkdir -p "$dir/squid" || return 1
	# LAB_HTTPS=1: the set-up script adds its lines (and its access.log in
	# format drover, with the SNI); until then Squid logs to boot.log, and
	# both after. Squid checks the origin's certificates when it bumps, and
	# finds the names in a hosts file of the lab's own.
	local log=access.log https= name
	if [ "$LAB_HTTPS" = 1 ]; then
		log=boot.log
		mkdir -p "$dir/squid.d" || return 1
		# Squid refuses an include that matches no file (Debian's conf.d has debian.conf).
		echo "# the lab's own; the set-up script adds drover.conf" >"$dir/squid.d/lab.conf"
		for name in $LAB_TLS_NAMES; do
			echo "$LAB_ORIGIN $name"
		done >"$dir/hosts"
		https="include $dir/squid.d/*.conf
hosts_file $dir/hosts
tls_outgoing_options cafile=$LAB_STATE/origin/tls-ca.pem"
	fi
	cat >"$dir/squid.conf" <<-EOF
		http_port $addr:3128
		$port6
		http_port 3129 intercept
		acl lab_clients src $acl
		http_access allow lab_clients
		http_access allow localhost
		http_access deny all
		cache deny all
		cache_mem 8 MB
		dns_nameservers 127.0.0.1
		visible_hostname squid$i
		access_log stdio:$dir/squid/$log squid
		$https
		cache_log $dir/squid/cache.log
		cache_store_log none
		pid_filename $dir/squid/squid.pid
		coredump_dir $dir/squid
		netdb_filename none
		icp_port 0
		htcp_port 0
		cache_effective_user proxy
		shutdown_lifetime 1 seconds
		forwarded_for on
	EOF
	# Squid drops to user proxy before it opens its logs.
	chown -R proxy:proxy "$dir/squid"
	ip netns exec "$(lab_ns "$ns")" squid -N -n "${LAB}squid$i" -f "$dir/squid.conf" \
		</dev/null >>"$dir/squid.out" 2>&1 &
	pid=$!
	lab_record "squid$i" "$pid" squid
	lab_wait "$LAB_WAIT_S" lab_listening "$ns" 3129 || {
		lab_log "squid$i did not start: $(tail -n 5 "$dir/squid/cache.log" "$dir/squid.out" 2>/dev/null)"
		return 1
	}
}

# lab_up: the whole world except droverd. Returns non-zero at the first failure
# (call lab_down to clean up what was made).
lab_up() {
	local i
	lab_check_tools || return 1
	if [ -e "$LAB_STATE" ] && [ ! -e "$LAB_STATE/$LAB_STAMP" ]; then
		lab_log "$LAB_STATE exists and is not a lab state directory"
		return 1
	fi
	mkdir -p "$LAB_STATE" && touch "$LAB_STATE/$LAB_STAMP" || return 1
	# Squid (user proxy) and nginx (nobody) must reach their files.
	chmod 0755 "$LAB_STATE"
	lab_up_network || return 1
	lab_up_origin || return 1
	for ((i = 1; i <= LAB_PROXIES; i++)); do
		lab_up_proxy "$i" || return 1
	done
}

lab_droverctl() {
	lab_exec app "$DROVER_BUILD/droverctl" --socket "$LAB_STATE/drover.sock" "$@"
}

# lab_start_droverd: runs droverd in the appliance namespace and registers
# the client subnet and every proxy.
lab_start_droverd() {
	local pid i wrap=()
	[ -x "$DROVER_BUILD/droverd" ] && [ -x "$DROVER_BUILD/droverctl" ] || {
		lab_log "no droverd/droverctl in $DROVER_BUILD"
		return 1
	}
	if [ -n "${DROVER_WRAP:-}" ]; then
		read -r -a wrap <<<"$DROVER_WRAP"
	fi
	ip netns exec "$(lab_ns app)" "${wrap[@]}" "$DROVER_BUILD/droverd" --db "$LAB_STATE/drover.db" \
		--socket "$LAB_STATE/drover.sock" --manage-rules --log-level info \
		</dev/null >>"$LAB_STATE/droverd.log" 2>&1 &
	pid=$!
	lab_record droverd "$pid" droverd
	echo "$pid" >"$LAB_STATE/droverd.pid"
	lab_wait "$LAB_WAIT_S" test -S "$LAB_STATE/drover.sock" || {
		lab_log "droverd did not open its socket: $(tail -n 5 "$LAB_STATE/droverd.log")"
		return 1
	}
	# A wrapper (valgrind) runs under its own process name: record that one too.
	[ ${#wrap[@]} -gt 0 ] && lab_record droverd "$pid" "$(cat "/proc/$pid/comm" 2>/dev/null)"
	lab_droverctl settings set client_subnets "$LAB_CLIENT_SUBNET" >/dev/null || return 1
	# LAB_FAST_PATH_MODE: the suite's fast_path_mode (xdp puts XDP on the veths).
	if [ -n "${LAB_FAST_PATH_MODE:-}" ]; then
		lab_droverctl settings set fast_path_mode "$LAB_FAST_PATH_MODE" >/dev/null || return 1
	fi
	# Probes fetch the origin's page through each Squid's plain port, once a
	# second, so the world is ready (every proxy up) within a few seconds.
	lab_droverctl settings set probe_url "http://$LAB_ORIGIN/" >/dev/null &&
		lab_droverctl settings set probe_port 3128 >/dev/null &&
		lab_droverctl settings set probe_timeout_ms 500 >/dev/null &&
		lab_droverctl settings set probe_interval_ms 1000 >/dev/null || return 1
	for ((i = 1; i <= LAB_PROXIES; i++)); do
		lab_add_proxy "$i" || return 1
	done
	lab_wait "$LAB_WAIT_S" lab_all_up || {
		lab_log "not every proxy came up: $(lab_droverctl proxy list)"
		return 1
	}
}

# lab_add_proxy I: registers proxy I with droverd, then prepares the proxy
# with the set-up script droverd generates for it (drover-decap here: this
# kernel has no ipip module).
lab_add_proxy() {
	local i=$1 dir=$LAB_STATE/px$1 id
	id=$(lab_droverctl --json proxy add "$(lab_proxy_address "$i")" --name "squid$i" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["proxy"]["id"])') || return 1
	lab_droverctl proxy setup-script "$id" --mode decap --tunnel-address "$LAB_TUNNEL_ADDRESS" \
		>"$dir/setup.sh" || return 1
	# shellcheck disable=SC2046 # words of our own, no blanks in them
	lab_exec "px$i" bash "$dir/setup.sh" --decap-bin "$DROVER_BUILD/drover-decap" \
		--dev drover0 --pidfile "$dir/decap.pid" --decap-log "$dir/decap.log" \
		$(lab_proxy_tls_args "$i") up || {
		lab_log "the generated set-up script failed on px$i"
		return 1
	}
}

# lab_all_up: every proxy droverd knows passes its probes.
lab_all_up() {
	lab_droverctl --json proxy list |
		python3 -c 'import json, sys
p = json.load(sys.stdin)["proxies"]
sys.exit(0 if p and all(x.get("health") == "up" for x in p) else 1)'
}

# lab_kill PID COMM: SIGTERM, then SIGKILL after 5 s; only if PID is still COMM.
# (A process killed right after it was started may still be "ip", before
# ip netns exec replaced itself with COMM.)
lab_kill() {
	local pid=$1 comm=$2 i now
	now=$(cat "/proc/$pid/comm" 2>/dev/null)
	[ "$now" = "$comm" ] || [ "$now" = ip ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < ${LAB_KILL_WAIT_S:-5} * 10; i++)); do
		[ -e "/proc/$pid" ] || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
}

lab_stop_droverd() {
	local label pid comm
	[ -r "$LAB_STATE/pids" ] || return 0
	while read -r label pid comm; do
		[ "$label" = droverd ] && lab_kill "$pid" "$comm"
	done <"$LAB_STATE/pids"
}

# lab_down: kills the recorded processes (newest first), deletes the
# namespaces and the state directory. Safe to call at any point, and twice.
lab_down() {
	local label pid comm ns i
	if [ -r "$LAB_STATE/pids" ]; then
		tac "$LAB_STATE/pids" | while read -r label pid comm; do
			lab_kill "$pid" "$comm"
		done
	fi
	# drover-decap was started by drover-proxy-setup.sh, which wrote its pid.
	for ((i = 1; i <= LAB_PROXIES; i++)); do
		if [ -r "$LAB_STATE/px$i/decap.pid" ]; then
			read -r pid <"$LAB_STATE/px$i/decap.pid" && lab_kill "$pid" drover-decap
		fi
	done
	for ns in $( (cat "$LAB_STATE/netns" 2>/dev/null; ip netns list | cut -d' ' -f1) |
		grep -E "^$LAB-(sw|cli|app[0-9]*|org|px[0-9]+|rtr)\$" | sort -u); do
		ip netns del "$ns" 2>/dev/null
	done
	if [ -e "$LAB_STATE/$LAB_STAMP" ]; then
		rm -rf "$LAB_STATE"
	fi
}

# lab_client_curl ADDR URL [CURL_ARGS...]: curl from client address ADDR.
lab_client_curl() {
	local addr=$1
	shift
	lab_exec cli curl --interface "$addr" -sS --connect-timeout 10 --max-time 60 "$@"
}

# lab_squid_clients N: the distinct client addresses in proxy N's access log
# (droverd's health probes come from the appliance and are not clients).
lab_squid_clients() {
	awk -v a="$LAB_APPLIANCE" '$3 != a { print $3 }' "$LAB_STATE/px$1/squid/access.log" \
		2>/dev/null | sort -u
}

# lab_squid_requests N [CLIENT]: client requests proxy N logged (from CLIENT only).
lab_squid_requests() {
	# The appliance's own health probes (over IPv4, and IPv6 where a proxy has
	# an IPv6 address) are no client's requests.
	awk -v c="${2:-}" -v a="$LAB_APPLIANCE" -v a6="$LAB_APPLIANCE6" \
		'$3 != a && $3 != a6 && (c == "" || $3 == c) { n++ }
		END { print n + 0 }' "$LAB_STATE/px$1/squid/access.log" 2>/dev/null
}

# lab_decap_counters N: asks proxy N's drover-decap for its counters line.
lab_decap_counters() {
	local pid log=$LAB_STATE/px$1/decap.log
	read -r pid <"$LAB_STATE/px$1/decap.pid" || return 1
	kill -USR1 "$pid" || return 1
	sleep 0.2
	grep 'received=' "$log" | tail -n 1
}

# lab_decap_counter N NAME: one of proxy N's drover-decap counters (0 if absent).
lab_decap_counter() {
	lab_decap_counters "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { v = $2 } END { print v + 0 }'
}

# lab_proxy_id N: droverd's id of proxy N.
lab_proxy_id() {
	lab_droverctl --json proxy list | python3 -c "import json,sys
print([p['id'] for p in json.load(sys.stdin)['proxies'] if p['address'] == '$(lab_proxy_address "$1")'][0])"
}

# lab_counter NAME: one of droverd's global counters ("none" if it has none
# of that name).
lab_counter() {
	lab_droverctl --json stats | python3 -c "import json,sys; print(json.load(sys.stdin)['global'].get('$1', 'none'))"
}

# lab_proxies_setup_again: every proxy prepared again by the script droverd
# generates for it now (after a change it carries, such as IPv6 clients or a
# proxy's IPv6 address); "up" again only adds what is new.
lab_proxies_setup_again() {
	local i id dir
	for ((i = 1; i <= LAB_PROXIES; i++)); do
		dir=$LAB_STATE/px$i
		id=$(lab_proxy_id "$i") || return 1
		lab_droverctl proxy setup-script "$id" --mode decap \
			--tunnel-address "$LAB_TUNNEL_ADDRESS" >"$dir/setup.sh" || return 1
		lab_exec "px$i" bash "$dir/setup.sh" --decap-bin "$DROVER_BUILD/drover-decap" \
			--dev drover0 --pidfile "$dir/decap.pid" --decap-log "$dir/decap.log" \
			$(lab_proxy_tls_args "$i") up >/dev/null || return 1
	done
}

# ---- A second appliance on the same client LAN (tests of identical mapping) ----
#
#   $LAB-app2 lan0 198.18.1.2/24 on br0, no WAN side of its own: it wraps
#   clients' web packets to the proxies, and forwards what it does not wrap
#   to $LAB-app (its default route), which reaches the origin. It needs that
#   route to accept the clients' packets at all: the kernel routes a packet
#   (to the origin) before the rules see it. Its droverd has its own database,
#   socket and log under $LAB_STATE (drover2.*).

LAB_APPLIANCE2=198.18.1.2

lab_up_appliance2() {
	lab_add_ns app2 || return 1
	lab_port_to_switch app2 lan0 || return 1
	ip -n "$(lab_ns app2)" addr add "$LAB_APPLIANCE2/24" dev lan0
	ip -n "$(lab_ns app2)" route add default via "$LAB_APPLIANCE" || return 1
	lab_exec app2 sysctl -q -p "$LAB_ROOT/rules/99-drover.conf" >/dev/null
}

lab_droverctl2() {
	lab_exec app2 "$DROVER_BUILD/droverctl" --socket "$LAB_STATE/drover2.sock" "$@"
}

# lab_start_droverd2: runs a second droverd in $LAB-app2, on an empty
# database of its own (configure it, e.g. by restoring the first one's backup).
lab_start_droverd2() {
	local pid
	ip netns exec "$(lab_ns app2)" "$DROVER_BUILD/droverd" --db "$LAB_STATE/drover2.db" \
		--socket "$LAB_STATE/drover2.sock" --manage-rules --log-level info \
		</dev/null >>"$LAB_STATE/droverd2.log" 2>&1 &
	pid=$!
	lab_record droverd2 "$pid" droverd
	echo "$pid" >"$LAB_STATE/droverd2.pid"
	lab_wait "$LAB_WAIT_S" test -S "$LAB_STATE/drover2.sock" || {
		lab_log "second droverd did not open its socket: $(tail -n 5 "$LAB_STATE/droverd2.log")"
		return 1
	}
}

# lab_all_up2: every proxy the second droverd knows passes its probes.
lab_all_up2() {
	lab_droverctl2 --json proxy list |
		python3 -c 'import json, sys
p = json.load(sys.stdin)["proxies"]
sys.exit(0 if p and all(x.get("health") == "up" for x in p) else 1)'
}

# lab_proxies_accept APPLIANCE...: sets every proxy up again so that its
# tunnel accepts IPIP from all these appliances (the generated script names
# only the appliance that generated it).
lab_proxies_accept() {
	local i dir list
	list=$(
		IFS=,
		echo "$*"
	)
	for ((i = 1; i <= LAB_PROXIES; i++)); do
		dir=$LAB_STATE/px$i
		# shellcheck disable=SC2046 # words of our own, no blanks in them
		lab_exec "px$i" bash "$dir/setup.sh" --decap-bin "$DROVER_BUILD/drover-decap" \
			--dev drover0 --pidfile "$dir/decap.pid" --decap-log "$dir/decap.log" \
			$(lab_proxy_tls_args "$i") down >/dev/null 2>&1
		# shellcheck disable=SC2046
		lab_exec "px$i" bash "$dir/setup.sh" --decap-bin "$DROVER_BUILD/drover-decap" \
			--dev drover0 --pidfile "$dir/decap.pid" --decap-log "$dir/decap.log" \
			--appliance "$list" $(lab_proxy_tls_args "$i") up >/dev/null || {
			lab_log "proxy px$i refused appliances $list"
			return 1
		}
	done
}
