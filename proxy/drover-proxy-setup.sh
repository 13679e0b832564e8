#!/bin/bash
# drover-proxy-setup.sh - prepares a proxy (Squid in intercept mode) to receive
# client traffic from a drover appliance, and undoes it.
#
# The appliance sends each client packet, untouched, inside an IPIP header.
# This host must:
#   1. decapsulate it: the kernel's tunl0 (--mode kernel, needs the ipip
#      module) or drover-decap writing into a TUN device (--mode decap);
#   2. accept only what the appliance sent, and only client packets: a filter
#      chain DROVER-IPIP, jumped to from INPUT for protocol 4, drops IPIP whose
#      outer source is not an appliance (tunl0 would otherwise take IPIP from
#      any host on the Internet and deliver whatever source it carries); a raw
#      chain DROVER-TUNNEL, jumped to from PREROUTING for packets arriving on
#      the tunnel device, drops inner sources outside the --clients ranges
#      (but for an ICMP echo request from an appliance: `droverctl
#      preflight' sends one through the tunnel, and this host answers it).
#      drover-decap makes the same two checks itself (--from, --clients);
#   3. accept a client packet although the route back to the client is not the
#      tunnel device: rp_filter 2 (loose) on the tunnel device only. The kernel
#      uses the larger of "all" and the device's value, so loose holds whatever
#      "all" is (0, 1 or 2); "all" and "default" are left alone, so every other
#      interface keeps the host's own reverse-path policy;
#   4. hand it to Squid: a nat chain DROVER-INTERCEPT, jumped to from
#      PREROUTING for packets arriving on the tunnel device, REDIRECTs the
#      intercepted ports to Squid's intercept port (REDIRECT rewrites to the
#      device's primary address, hence --tunnel-address);
#   5. answer the clients directly with segments that fit: the appliance adds
#      20 bytes, so the clients must send at most MTU - 20 (tunnel MTU), i.e.
#      an MSS of MTU - 60. Squid's SYN-ACK advertises the route's advmss, so
#      the route(s) back to the clients get advmss = (MTU - 20) - 40.
#
# IPv6 clients (IPv6 ranges in --clients) get the same five steps, with
# ip6tables, and only when such ranges are given (an IPv4-only set-up is
# exactly what it was). The appliance wraps an IPv6 client's packet with
# protocol 41: in IPv4 (6in4) from an IPv4 --appliance address, or in IPv6
# (IPv6-in-IPv6) from an IPv6 one.
#   1. --mode kernel: sit0 (sit module) takes 6in4, ip6tnl0 (ip6_tunnel
#      module) takes IPv6-in-IPv6; --mode decap: drover-decap takes both into
#      the same TUN device as IPIP;
#   2. the jump "INPUT -p 41 -j DROVER-IPIP" (iptables) applies the appliance
#      list to 6in4 too; ip6tables gets its own DROVER-IPIP (INPUT -p 41 and
#      -p 4, outer sources: the IPv6 appliance addresses) and DROVER-TUNNEL
#      (raw PREROUTING on the tunnel device(s), inner sources: the IPv6 client
#      ranges);
#   3. Linux has no rp_filter for IPv6: nothing drops a packet whose source
#      is routed through another device unless an ip6tables "rpfilter" match
#      is installed (firewalld's IPv6_rpfilter, for one), so nothing is needed
#      here. Against spoofing, DROVER-TUNNEL holds the inner sources to the
#      client ranges, which is stricter than a loose reverse-path check. A host
#      running a strict rpfilter rule must exempt the tunnel device from it;
#   4. ip6tables nat DROVER-INTERCEPT REDIRECTs the ports to Squid, which must
#      listen on IPv6 (`http_port [::]:PORT intercept' or just `PORT'). IPv6
#      REDIRECT rewrites to an address of the tunnel device: --tunnel-address6
#      (default fd64:d20f::TUNNEL-ADDRESS, a unique-local address never seen
#      on the wire: replies leave with the client's original destination);
#   5. the routes back to the IPv6 client ranges get advmss = MTU - outer -
#      60, the outer header being 40 bytes when an IPv6 appliance address is
#      given (IPv6-in-IPv6), else 20 (6in4); with MTU 1500, 1400 or 1420.
#
# HTTPS (port 443) is intercepted by Squid's `https_port' with ssl-bump, which
# this script writes into a configuration file of Squid's own (--squid-include,
# read through the `include /etc/squid/conf.d/*.conf' of Debian's squid.conf):
#   6. --tls splice (the default): Squid peeks at the TLS client hello (the
#      server name, SNI), logs it, and splices: the client's TLS session runs
#      through to the server untouched, so clients need no certificate;
#      --tls bump: Squid decrypts (bumps) the connection, sees and logs the
#      full URL, and re-encrypts it with a certificate it makes for each site,
#      signed by a CA this script generates (openssl) in --tls-dir: clients
#      must trust TLS-DIR/ca.crt. The certificate helper's database
#      (security_file_certgen) is made there too, in bump mode only;
#      --tls off: Squid's configuration is left alone, and 443 goes to the
#      intercept port like any other port (for a squid.conf of your own).
#      Port 443 (given in --ports without a target) is REDIRECTed to the
#      https_port (--https-port, default the intercept port + 1); the access
#      log (--access-log) gets format `drover': Squid's native one followed
#      by the SNI (`-' when none). Squid needs ssl-bump support: Debian's
#      package squid-openssl (plain `squid' is built without OpenSSL). The CA
#      is made once and kept (also by down): clients that trust it go on
#      trusting it. A running Squid is told to reload (squid -k reconfigure).
#
# With --squid-manager FILE, Squid's cache manager is opened to the appliances
# (and to them only), so that droverd may read Squid's own figures from it
# (a proxy's squid_stats): "up" writes a marked block into FILE, Squid's
# configuration, just before its first http_access line (so before Debian's
# `http_access deny manager'):
#     acl drover_appliances src APPLIANCE...
#     http_access allow drover_appliances manager
# checks FILE with `squid -k parse' (refused: FILE is put back as it was) and
# asks a running Squid to reconfigure; "down" takes the block out again.
# Without the option, Squid's configuration is not touched.
#
#   drover-proxy-setup.sh --appliance IP[,IP] --clients CIDR[,CIDR]
#       [--mode kernel|decap] [--tunnel-address IP] [--tunnel-address6 IP6]
#       [--intercept-port 3129] [--ports 80,443[:PORT]] [--mtu 1500] [--dev NAME]
#       [--decap-bin PATH] [--pidfile PATH] [--decap-log PATH]
#       [--tls splice|bump|off] [--https-port PORT] [--squid-conf FILE]
#       [--squid-include FILE] [--tls-dir DIR] [--access-log FILE|none]
#       [--squid-user USER] [--certgen PATH] [--squid-manager FILE]
#       [up|down|check]
#
#   --tls MODE         splice (default), bump or off (see 6. above)
#   --https-port PORT  Squid's `https_port PORT intercept ssl-bump' (default
#                      the intercept port + 1, 3130)
#   --squid-conf FILE  Squid's main configuration, for `squid -f FILE -k ...'
#                      (default /etc/squid/squid.conf); it must include
#                      --squid-include
#   --squid-include FILE  the file this script writes and removes (default
#                      /etc/squid/conf.d/drover.conf)
#   --tls-dir DIR      the CA (ca.pem: certificate and key; ca.crt: the
#                      certificate for clients) and the helper's database
#                      ssl_db (default /var/lib/drover-proxy)
#   --access-log FILE  where Squid logs with format `drover' (default
#                      /var/log/squid/access.log); `none': no access_log line
#                      (name the format in a line of your own). A squid.conf
#                      without access_log lines logs there in format `squid';
#                      this line takes its place
#   --squid-user USER  owner of --tls-dir (default proxy, Squid's
#                      cache_effective_user on Debian)
#   --certgen PATH     the certificate helper (default
#                      /usr/lib/squid/security_file_certgen), bump mode only
#
# "check" changes nothing: it prints, one line each, `ok' or what to fix for
# every step above (decapsulation running, the filters, the intercept rules
# and Squid listening on the intercept ports, rp_filter on the tunnel device,
# the routes back to the clients not through an appliance, their advmss),
# then a summary; exit status 0 when all is well, 1 when something must be
# fixed.
#
# Both "up" and "down" may be repeated: up replaces what an earlier up set,
# down removes only what is there (the chains DROVER-INTERCEPT, DROVER-IPIP
# and DROVER-TUNNEL and the jumps to them, in iptables and ip6tables, and
# the advmss of the client routes, and --squid-include when this script
# wrote it). The tunnel device's rp_filter is left at 2 by down (its earlier
# value is not known; drover-decap's device goes away with it); --tls-dir
# stays. Exit status: 0 done, 1 a step failed (check: something to fix), 2
# bad arguments.
set -u

prog=drover-proxy-setup.sh
chain=DROVER-INTERCEPT
# filter: IPIP from anyone but the appliances is dropped (INPUT -p 4).
ipip_chain=DROVER-IPIP
# raw: from the tunnel device, sources outside the client ranges are dropped.
tunnel_chain=DROVER-TUNNEL
# Loose reverse-path filtering: the client is reached through eth0, not the tunnel.
rp_filter_loose=2
# Routes this script had to create (no route for exactly the client CIDR
# existed) carry this protocol number, so "down" deletes only those.
rtproto=201
# The IPv6 tunnel address when none is given: unique-local, the IPv4 one inside.
tunnel6_prefix=fd64:d20f::
ipv4_hlen=20
ipv6_hlen=40
tcp_hlen=20
ipv6_mtu_min=1280
# The HTTPS port REDIRECTed to Squid's https_port when --ports names no target.
https_dport=443
# First line of the file this script writes into Squid's configuration: down
# removes --squid-include only when it starts so.
squid_include_mark="# drover-proxy-setup.sh: intercepted HTTPS."
# The generated CA: lifetime, and the in-memory and on-disk certificate caches.
ca_days=3650
ca_bits=2048
certgen_db_size=4MB
certgen_children=5
cert_mem_cache=4MB
# How long a reloading Squid may take to open its https_port.
squid_reload_wait_s=30

appliances=
clients=
mode=kernel
tunnel_address=
tunnel_address6=
intercept_port=3129
ports=80,443
mtu=1500
dev=
decap_bin=
pidfile=
decap_log=
tls=splice
https_port=
squid_conf=/etc/squid/squid.conf
squid_include=/etc/squid/conf.d/drover.conf
tls_dir=/var/lib/drover-proxy
access_log=/var/log/squid/access.log
squid_user=proxy
certgen=/usr/lib/squid/security_file_certgen
squid_manager_conf=
action=up
# The block --squid-manager keeps in Squid's configuration, between these lines.
squid_begin='# BEGIN drover-proxy-setup.sh: the appliances may read the cache manager'
squid_end='# END drover-proxy-setup.sh'

usage() {
	sed -n '/^#   drover-proxy-setup.sh --appliance/,/^# fixed\.$/p' "$0" | sed 's/^#//'
}

die_usage() {
	echo "$prog: $*" >&2
	echo "Try \`$prog --help'." >&2
	exit 2
}

die() {
	echo "$prog: $*" >&2
	exit 1
}

# valid_ipv4 A.B.C.D: dotted quad, each part 0..255, no leading zeros.
valid_ipv4() {
	local IFS=. part parts
	[[ $1 =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || return 1
	read -r -a parts <<<"$1"
	for part in "${parts[@]}"; do
		[[ $part =~ ^(0|[1-9][0-9]*)$ ]] && [ "$part" -le 255 ] || return 1
	done
}

# valid_cidr A.B.C.D/N
valid_cidr() {
	[[ $1 == */* ]] || return 1
	valid_ipv4 "${1%/*}" || return 1
	[[ ${1#*/} =~ ^([0-9]|[12][0-9]|3[0-2])$ ]]
}

# valid_ipv6 X:X::X: hex groups of at most 4 digits, at most one "::", 8 groups
# without it, fewer with it; a dotted IPv4 tail counts two groups.
valid_ipv6() {
	local a=$1 groups=() g n=0 tail
	[[ $a =~ ^[0-9A-Fa-f:.]+$ ]] && [[ $a == *:* ]] || return 1
	[[ $a == *::*::* || $a == *:::* ]] && return 1
	if [[ $a == *.* ]]; then
		tail=${a##*:}
		valid_ipv4 "$tail" || return 1
		a=${a%"$tail"}0:0
	fi
	[[ $a == :[^:]* || $a == *[^:]: ]] && return 1
	IFS=: read -r -a groups <<<"${a/::/:}"
	for g in "${groups[@]}"; do
		[ -z "$g" ] && continue
		[[ $g =~ ^[0-9A-Fa-f]{1,4}$ ]] || return 1
		n=$((n + 1))
	done
	if [[ $a == *::* ]]; then
		[ $n -le 7 ]
	else
		[ $n -eq 8 ]
	fi
}

# valid_cidr6 X:X::X/N
valid_cidr6() {
	[[ $1 == */* ]] || return 1
	valid_ipv6 "${1%/*}" || return 1
	[[ ${1#*/} =~ ^([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8])$ ]]
}

valid_port() {
	[[ $1 =~ ^[1-9][0-9]{0,4}$ ]] && [ "$1" -le 65535 ]
}

need_value() {
	[ $# -ge 2 ] && [ -n "$2" ] || die_usage "option \`$1' needs a value"
}

while [ $# -gt 0 ]; do
	case $1 in
	--appliance | --clients | --mode | --tunnel-address | --tunnel-address6 | --intercept-port | \
		--ports | --mtu | --dev | --decap-bin | --pidfile | --decap-log | --tls | --https-port | \
		--squid-conf | --squid-include | --tls-dir | --access-log | --squid-user | --certgen | \
		--squid-manager)
		need_value "$@"
		opt=${1#--}
		val=$2
		shift 2
		case $opt in
		appliance) appliances=$val ;;
		clients) clients=$val ;;
		mode) mode=$val ;;
		tunnel-address) tunnel_address=$val ;;
		tunnel-address6) tunnel_address6=$val ;;
		intercept-port) intercept_port=$val ;;
		ports) ports=$val ;;
		mtu) mtu=$val ;;
		dev) dev=$val ;;
		decap-bin) decap_bin=$val ;;
		pidfile) pidfile=$val ;;
		decap-log) decap_log=$val ;;
		tls) tls=$val ;;
		https-port) https_port=$val ;;
		squid-conf) squid_conf=$val ;;
		squid-include) squid_include=$val ;;
		tls-dir) tls_dir=$val ;;
		access-log) access_log=$val ;;
		squid-user) squid_user=$val ;;
		certgen) certgen=$val ;;
		squid-manager) squid_manager_conf=$val ;;
		esac
		;;
	-h | --help)
		usage
		exit 0
		;;
	up | down | check)
		action=$1
		shift
		;;
	*) die_usage "unknown argument \`$1'" ;;
	esac
done

case $mode in
kernel) : "${dev:=tunl0}" ;;
decap) : "${dev:=drover0}" ;;
*) die_usage "invalid mode \`$mode' (kernel or decap)" ;;
esac
[[ $dev =~ ^[A-Za-z0-9_.-]{1,15}$ ]] || die_usage "invalid device name \`$dev'"
[ "$mode" = kernel ] && [ "$dev" != tunl0 ] &&
	die_usage "--mode kernel uses tunl0, not \`$dev'"
: "${pidfile:=/run/drover-decap-$dev.pid}"
: "${decap_log:=/run/drover-decap-$dev.log}"

[ -n "$clients" ] || die_usage "--clients CIDR[,CIDR] is required"
# client_list and appliance_list hold the IPv4 entries, client6_list and
# appliance6_list the IPv6 ones.
IFS=, read -r -a given <<<"$clients"
client_list=()
client6_list=()
for c in "${given[@]}"; do
	if valid_cidr "$c"; then
		client_list+=("$c")
	elif valid_cidr6 "$c"; then
		client6_list+=("$c")
	else
		die_usage "invalid client range \`$c' (want A.B.C.D/N or X:X::X/N)"
	fi
done

appliance_list=()
appliance6_list=()
if [ -n "$appliances" ]; then
	IFS=, read -r -a given <<<"$appliances"
	for a in "${given[@]}"; do
		if valid_ipv4 "$a"; then
			appliance_list+=("$a")
		elif valid_ipv6 "$a"; then
			appliance6_list+=("$a")
		else
			die_usage "invalid appliance address \`$a'"
		fi
	done
fi

[[ $mtu =~ ^[0-9]{1,5}$ ]] && [ "$mtu" -ge 576 ] && [ "$mtu" -le 65535 ] ||
	die_usage "invalid MTU \`$mtu' (576..65535)"
tunnel_mtu=$((mtu - 20))
advmss=$((tunnel_mtu - 40))
# IPv6: the outer header is 40 bytes when the appliance may send IPv6-in-IPv6.
outer6_hlen=$ipv4_hlen
[ ${#appliance6_list[@]} -gt 0 ] && outer6_hlen=$ipv6_hlen
tunnel6_mtu=$((mtu - outer6_hlen))
advmss6=$((tunnel6_mtu - ipv6_hlen - tcp_hlen))
if [ ${#client6_list[@]} -gt 0 ] && [ $((mtu - ipv6_hlen)) -lt $ipv6_mtu_min ]; then
	die_usage "MTU \`$mtu' too small for IPv6 clients (the tunnel must carry $ipv6_mtu_min)"
fi

valid_port "$intercept_port" || die_usage "invalid intercept port \`$intercept_port'"

case $tls in
splice | bump | off) ;;
*) die_usage "invalid TLS mode \`$tls' (splice, bump or off)" ;;
esac
: "${https_port:=$((intercept_port + 1))}"
valid_port "$https_port" || die_usage "invalid HTTPS port \`$https_port'"
[ "$tls" = off ] || [ "$https_port" != "$intercept_port" ] ||
	die_usage "--https-port and --intercept-port are both $https_port"
# Squid's configuration splits words at blanks and reads quotes: paths without them.
valid_path() {
	[[ $1 =~ ^/[^[:space:]\"\'\\]+$ ]]
}
for p in "squid-conf:$squid_conf" "squid-include:$squid_include" "tls-dir:$tls_dir" \
	"certgen:$certgen"; do
	valid_path "${p#*:}" || die_usage "--${p%%:*}: \`${p#*:}' is not an absolute path without blanks or quotes"
done
[ "$access_log" = none ] || valid_path "$access_log" ||
	die_usage "--access-log: \`$access_log' is not \`none' or an absolute path without blanks or quotes"
[[ $squid_user =~ ^[a-z_][a-z0-9_-]*$ ]] || die_usage "invalid user name \`$squid_user'"

# --ports: comma list of PORT or PORT:TARGET (TARGET defaults to the intercept port).
redirects=()
IFS=, read -r -a port_list <<<"$ports"
[ ${#port_list[@]} -gt 0 ] || die_usage "invalid port list \`$ports'"
for p in "${port_list[@]}"; do
	src=${p%%:*}
	dst=$intercept_port
	# HTTPS goes to Squid's https_port, unless Squid is left alone.
	[ "$src" = "$https_dport" ] && [ "$tls" != off ] && dst=$https_port
	[[ $p == *:* ]] && dst=${p#*:}
	valid_port "$src" && valid_port "$dst" || die_usage "invalid port \`$p' in \`$ports'"
	redirects+=("$src:$dst")
done

if [ "$action" = up ]; then
	[ $((${#appliance_list[@]} + ${#appliance6_list[@]})) -gt 0 ] ||
		die_usage "--appliance IP is required"
	[ -n "$tunnel_address" ] ||
		die_usage "--tunnel-address IP is required (REDIRECT needs an address on $dev)"
	valid_ipv4 "$tunnel_address" || die_usage "invalid tunnel address \`$tunnel_address'"
fi
if [ ${#client6_list[@]} -gt 0 ] && [ -z "$tunnel_address6" ] && [ -n "$tunnel_address" ]; then
	tunnel_address6=$tunnel6_prefix$tunnel_address
fi
if [ -n "$tunnel_address6" ]; then
	valid_ipv6 "$tunnel_address6" || die_usage "invalid IPv6 tunnel address \`$tunnel_address6'"
fi

run() {
	"$@" || die "failed: $*"
}

# decap_pid: prints the pid in the pidfile when that process is a live drover-decap.
decap_pid() {
	local pid comm
	[ -r "$pidfile" ] || return 1
	read -r pid <"$pidfile" || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	[ "$comm" = drover-decap ] || return 1
	echo "$pid"
}

tunnel_up_kernel() {
	if ! ip link show tunl0 >/dev/null 2>&1; then
		modprobe ipip 2>/dev/null
		ip link show tunl0 >/dev/null 2>&1 ||
			die "no tunl0: this kernel has no ipip support; use --mode decap"
	fi
	run ip link set tunl0 mtu "$tunnel_mtu" up
	run ip addr replace "$tunnel_address/32" dev tunl0
}

tunnel_up_decap() {
	local bin pid i
	bin=${decap_bin:-$(command -v drover-decap)} ||
		die "drover-decap not found in PATH; give --decap-bin PATH"
	[ -x "$bin" ] || die "\`$bin' is not executable"
	local args=(--dev "$dev" --address "$tunnel_address" --mtu "$tunnel_mtu") a
	if [ ${#client6_list[@]} -gt 0 ]; then
		args+=(--address "$tunnel_address6/128")
	fi
	for a in "${appliance_list[@]}" "${appliance6_list[@]}"; do
		args+=(--from "$a")
	done
	args+=(--clients "$clients")
	if pid=$(decap_pid); then
		# Already running with the same arguments: nothing to do; else restart.
		if [ "$(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -d' ' -f2-)" = "${args[*]} " ] &&
			ip link show "$dev" >/dev/null 2>&1; then
			return 0
		fi
		tunnel_down_decap
	fi
	ip link show "$dev" >/dev/null 2>&1 && die "device \`$dev' exists and is not ours"
	setsid "$bin" "${args[@]}" </dev/null >>"$decap_log" 2>&1 &
	pid=$!
	echo "$pid" >"$pidfile" || die "cannot write pidfile \`$pidfile'"
	for i in $(seq 50); do
		ip link show "$dev" 2>/dev/null | grep -q ',UP' && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	rm -f "$pidfile"
	kill "$pid" 2>/dev/null
	die "drover-decap did not bring up \`$dev'; see $decap_log: $(tail -n 3 "$decap_log" 2>/dev/null)"
}

tunnel_down_decap() {
	local pid i
	pid=$(decap_pid) || {
		rm -f "$pidfile"
		return 0
	}
	kill "$pid"
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && die "drover-decap (pid $pid) did not exit"
	rm -f "$pidfile"
}

tunnel_down_kernel() {
	ip link show tunl0 >/dev/null 2>&1 || return 0
	if [ -n "$tunnel_address" ]; then
		ip addr del "$tunnel_address/32" dev tunl0 2>/dev/null
	fi
	ip link set tunl0 down
}

# Only the tunnel device's value: "all" and "default" stay as the host has them.
rp_filter_tunnel() {
	run sysctl -qw "net.ipv4.conf.$dev.rp_filter=$rp_filter_loose"
}

# filter_chain TABLE CHAIN: creates CHAIN in TABLE, or empties it when it is there.
filter_chain() {
	iptables -t "$1" -N "$2" 2>/dev/null || run iptables -t "$1" -F "$2"
}

# filter_jump TABLE HOOK RULE...: the jump RULE at the top of HOOK, once.
filter_jump() {
	local table=$1 hook=$2
	shift 2
	iptables -t "$table" -C "$hook" "$@" 2>/dev/null || run iptables -t "$table" -I "$hook" "$@"
}

# The chains are filled before the jumps go in, so no packet meets a half-built chain.
filters_up() {
	local a c
	filter_chain filter "$ipip_chain"
	for a in "${appliance_list[@]}"; do
		run iptables -t filter -A "$ipip_chain" -s "$a/32" -j RETURN
	done
	run iptables -t filter -A "$ipip_chain" -j DROP
	filter_jump filter INPUT -p 4 -j "$ipip_chain"

	filter_chain raw "$tunnel_chain"
	# The appliances' tunnel probe (droverctl preflight): an echo request to this host.
	for a in "${appliance_list[@]}"; do
		run iptables -t raw -A "$tunnel_chain" -s "$a/32" -p icmp --icmp-type echo-request \
			-j RETURN
	done
	for c in "${client_list[@]}"; do
		run iptables -t raw -A "$tunnel_chain" -s "$c" -j RETURN
	done
	run iptables -t raw -A "$tunnel_chain" -j DROP
	filter_jump raw PREROUTING -i "$dev" -j "$tunnel_chain"
}

# chain_down TABLE HOOK CHAIN: removes every jump from HOOK to CHAIN, then CHAIN.
chain_down() {
	local table=$1 hook=$2 name=$3 line
	iptables -t "$table" -S "$hook" 2>/dev/null | grep -- "-j $name\$" | while read -r line; do
		# shellcheck disable=SC2086 # the rule text is iptables' own words
		iptables -t "$table" ${line/-A /-D }
	done
	iptables -t "$table" -F "$name" 2>/dev/null
	iptables -t "$table" -X "$name" 2>/dev/null
	return 0
}

filters_down() {
	chain_down raw PREROUTING "$tunnel_chain"
	chain_down filter INPUT "$ipip_chain"
}

intercept_up() {
	local r c
	iptables -t nat -N "$chain" 2>/dev/null || run iptables -t nat -F "$chain"
	for c in "${client_list[@]}"; do
		for r in "${redirects[@]}"; do
			run iptables -t nat -A "$chain" -s "$c" -p tcp --dport "${r%%:*}" \
				-j REDIRECT --to-ports "${r#*:}"
		done
	done
	iptables -t nat -C PREROUTING -i "$dev" -j "$chain" 2>/dev/null ||
		run iptables -t nat -I PREROUTING -i "$dev" -j "$chain"
}

# Removes every jump to the chain, whatever device it names.
intercept_down() {
	chain_down nat PREROUTING "$chain"
}

# route_args CIDR: the current route for exactly CIDR in the main table,
# as words "ip route replace" accepts, without advmss; empty when none.
route_args() {
	local words out=() i w
	read -r -a words <<<"$(ip -4 -o route show exact "$1" table main | head -n 1)"
	for ((i = 0; i < ${#words[@]}; i++)); do
		w=${words[i]}
		case $w in
		advmss) i=$((i + 1)) ;;
		linkdown | dead | offload | trap | rt_offload | rt_trap | pervasive | notify | '\') ;;
		*) out+=("$w") ;;
		esac
	done
	echo "${out[*]}"
}

routes_up() {
	local c args nh via devn
	for c in "${client_list[@]}"; do
		args=$(route_args "$c")
		if [ -z "$args" ]; then
			# Clients reached through a wider route: pin CIDR to the same nexthop.
			nh=$(ip -4 -o route get "${c%/*}" 2>/dev/null) ||
				die "no route to the clients \`$c'"
			via=$(sed -n 's/.* via \([0-9.]*\).*/\1/p' <<<"$nh")
			devn=$(sed -n 's/.* dev \([^ ]*\).*/\1/p' <<<"$nh")
			[ -n "$devn" ] || die "no route to the clients \`$c'"
			args="$c ${via:+via $via }dev $devn proto $rtproto"
		fi
		# shellcheck disable=SC2086 # args are ip(8)'s own words
		run ip route replace $args advmss "$advmss"
	done
}

routes_down() {
	local c args
	for c in "${client_list[@]}"; do
		args=$(route_args "$c")
		[ -n "$args" ] || continue
		if [[ " $args " == *" proto $rtproto "* ]]; then
			# shellcheck disable=SC2086
			ip route del $args 2>/dev/null
		elif ip -4 -o route show exact "$c" table main | grep -q ' advmss '; then
			# shellcheck disable=SC2086
			run ip route replace $args
		fi
	done
}

# ---- IPv6 clients: the same steps with ip6tables, only when IPv6 ranges are given ----

# tunnel6_devs: the devices IPv6 client packets arrive on. In kernel mode sit0
# takes 6in4 (from IPv4 appliances), ip6tnl0 IPv6-in-IPv6 (from IPv6 ones).
tunnel6_devs() {
	if [ "$mode" = decap ]; then
		echo "$dev"
		return
	fi
	[ ${#appliance_list[@]} -gt 0 ] && echo sit0
	[ ${#appliance6_list[@]} -gt 0 ] && echo ip6tnl0
	return 0
}

# ip6_chain TABLE CHAIN: creates CHAIN in ip6tables' TABLE, or empties it.
ip6_chain() {
	ip6tables -t "$1" -N "$2" 2>/dev/null || run ip6tables -t "$1" -F "$2"
}

# ip6_jump TABLE HOOK RULE...: the jump RULE at the top of HOOK, once.
ip6_jump() {
	local table=$1 hook=$2
	shift 2
	ip6tables -t "$table" -C "$hook" "$@" 2>/dev/null || run ip6tables -t "$table" -I "$hook" "$@"
}

# ip6_chain_down TABLE HOOK CHAIN: removes every jump from HOOK to CHAIN, then CHAIN.
ip6_chain_down() {
	local table=$1 hook=$2 name=$3 line
	ip6tables -t "$table" -S "$hook" 2>/dev/null | grep -- "-j $name\$" | while read -r line; do
		# shellcheck disable=SC2086 # the rule text is ip6tables' own words
		ip6tables -t "$table" ${line/-A /-D }
	done
	ip6tables -t "$table" -F "$name" 2>/dev/null
	ip6tables -t "$table" -X "$name" 2>/dev/null
	return 0
}

# Kernel mode: sit0 and ip6tnl0 as tunl0 is for IPv4 (the fallback devices take
# their protocol from any host: the ip6tables filters are what limits them).
tunnel6_up_kernel() {
	local d m
	for d in $(tunnel6_devs); do
		m=sit
		[ "$d" = ip6tnl0 ] && m=ip6_tunnel
		if ! ip link show "$d" >/dev/null 2>&1; then
			modprobe "$m" 2>/dev/null
			ip link show "$d" >/dev/null 2>&1 ||
				die "no $d: this kernel has no $m support; use --mode decap"
		fi
		if [ "$d" = sit0 ]; then
			run ip link set sit0 mtu "$((mtu - ipv4_hlen))" up
		else
			run ip link set ip6tnl0 mtu "$((mtu - ipv6_hlen))" up
		fi
		run ip -6 addr replace "$tunnel_address6/128" dev "$d" nodad
	done
}

tunnel6_down_kernel() {
	local d
	for d in sit0 ip6tnl0; do
		ip link show "$d" >/dev/null 2>&1 || continue
		[ -n "$tunnel_address6" ] && ip -6 addr del "$tunnel_address6/128" dev "$d" 2>/dev/null
		ip link set "$d" down
	done
	return 0
}

# 6in4 meets the appliance list of IPIP (one chain); IPv6-outer tunnels an
# ip6tables chain of their own; inner IPv6 sources the client ranges.
filters6_up() {
	local a c d
	filter_jump filter INPUT -p 41 -j "$ipip_chain"

	ip6_chain filter "$ipip_chain"
	for a in "${appliance6_list[@]}"; do
		run ip6tables -t filter -A "$ipip_chain" -s "$a/128" -j RETURN
	done
	run ip6tables -t filter -A "$ipip_chain" -j DROP
	ip6_jump filter INPUT -p 41 -j "$ipip_chain"
	ip6_jump filter INPUT -p 4 -j "$ipip_chain"

	ip6_chain raw "$tunnel_chain"
	for c in "${client6_list[@]}"; do
		run ip6tables -t raw -A "$tunnel_chain" -s "$c" -j RETURN
	done
	run ip6tables -t raw -A "$tunnel_chain" -j DROP
	for d in $(tunnel6_devs); do
		ip6_jump raw PREROUTING -i "$d" -j "$tunnel_chain"
	done
}

filters6_down() {
	while iptables -t filter -C INPUT -p 41 -j "$ipip_chain" 2>/dev/null; do
		iptables -t filter -D INPUT -p 41 -j "$ipip_chain"
	done
	command -v ip6tables >/dev/null || return 0
	ip6_chain_down raw PREROUTING "$tunnel_chain"
	ip6_chain_down filter INPUT "$ipip_chain"
}

intercept6_up() {
	local r c d
	ip6_chain nat "$chain"
	for c in "${client6_list[@]}"; do
		for r in "${redirects[@]}"; do
			run ip6tables -t nat -A "$chain" -s "$c" -p tcp --dport "${r%%:*}" \
				-j REDIRECT --to-ports "${r#*:}"
		done
	done
	for d in $(tunnel6_devs); do
		ip6_jump nat PREROUTING -i "$d" -j "$chain"
	done
}

intercept6_down() {
	command -v ip6tables >/dev/null || return 0
	ip6_chain_down nat PREROUTING "$chain"
}

# route6_args CIDR: as route_args, for an IPv6 route.
route6_args() {
	local words out=() i w
	read -r -a words <<<"$(ip -6 -o route show exact "$1" table main | head -n 1)"
	for ((i = 0; i < ${#words[@]}; i++)); do
		w=${words[i]}
		case $w in
		advmss | expires) i=$((i + 1)) ;;
		linkdown | dead | offload | trap | rt_offload | rt_trap | notify | '\') ;;
		*) out+=("$w") ;;
		esac
	done
	echo "${out[*]}"
}

routes6_up() {
	local c args nh via devn
	for c in "${client6_list[@]}"; do
		args=$(route6_args "$c")
		if [ -z "$args" ]; then
			nh=$(ip -6 -o route get "${c%/*}" 2>/dev/null) ||
				die "no route to the clients \`$c'"
			via=$(sed -n 's/.* via \([0-9A-Fa-f:.]*\).*/\1/p' <<<"$nh")
			devn=$(sed -n 's/.* dev \([^ ]*\).*/\1/p' <<<"$nh")
			[ -n "$devn" ] || die "no route to the clients \`$c'"
			args="$c ${via:+via $via }dev $devn proto $rtproto"
		fi
		# shellcheck disable=SC2086 # args are ip(8)'s own words
		run ip -6 route replace $args advmss "$advmss6"
	done
}

routes6_down() {
	local c args
	for c in "${client6_list[@]}"; do
		args=$(route6_args "$c")
		[ -n "$args" ] || continue
		if [[ " $args " == *" proto $rtproto "* ]]; then
			# shellcheck disable=SC2086
			ip -6 route del $args 2>/dev/null
		elif ip -6 -o route show exact "$c" table main | grep -q ' advmss '; then
			# shellcheck disable=SC2086
			run ip -6 route replace $args
		fi
	done
}

ipv6_wanted() {
	[ ${#client6_list[@]} -gt 0 ]
}

# ---- Squid's cache manager for the appliances (--squid-manager FILE) ----

# squid_block_strip: FILE without our block, on stdout.
squid_block_strip() {
	awk -v b="$squid_begin" -v e="$squid_end" '
		$0 == b { skip = 1; next }
		skip && $0 == e { skip = 0; next }
		!skip { print }' "$squid_manager_conf"
}

# squid_block_insert: FILE without our block, then with the new one before
# the first http_access line (at the end when there is none), on stdout.
squid_block_insert() {
	local sources=("${appliance_list[@]}" "${appliance6_list[@]}")
	squid_block_strip | awk -v b="$squid_begin" -v e="$squid_end" -v src="${sources[*]}" '
		function block() {
			print b
			print "acl drover_appliances src " src
			print "http_access allow drover_appliances manager"
			print e
			done = 1
		}
		!done && /^[ \t]*http_access[ \t]/ { block() }
		{ print }
		END { if (!done) block() }'
}

# squid_conf_write CMD: FILE replaced by what CMD prints (owner and mode kept);
# refused by `squid -k parse', FILE is put back and the script fails.
squid_conf_write() {
	local tmp keep
	[ -f "$squid_manager_conf" ] || die "no Squid configuration \`$squid_manager_conf'"
	tmp=$(mktemp "$squid_manager_conf.drover.XXXXXX") || die "cannot write beside \`$squid_manager_conf'"
	keep=$(mktemp "$squid_manager_conf.drover.XXXXXX") || die "cannot write beside \`$squid_manager_conf'"
	cp -p "$squid_manager_conf" "$keep" && "$1" >"$tmp" && chmod --reference="$squid_manager_conf" "$tmp" &&
		chown --reference="$squid_manager_conf" "$tmp" && mv "$tmp" "$squid_manager_conf" || {
		rm -f "$tmp" "$keep"
		die "cannot rewrite \`$squid_manager_conf'"
	}
	if command -v squid >/dev/null && ! squid -k parse -f "$squid_manager_conf" >/dev/null 2>&1; then
		mv "$keep" "$squid_manager_conf"
		die "Squid refuses \`$squid_manager_conf' with the cache manager block; left as it was"
	fi
	rm -f "$keep"
	# A Squid that is not running takes it at its start.
	command -v squid >/dev/null && squid -k reconfigure -f "$squid_manager_conf" >/dev/null 2>&1
	return 0
}

squid_manager_up() {
	[ -n "$squid_manager_conf" ] || return 0
	squid_conf_write squid_block_insert
}

squid_manager_down() {
	[ -n "$squid_manager_conf" ] || return 0
	grep -qxF "$squid_begin" "$squid_manager_conf" 2>/dev/null || return 0
	squid_conf_write squid_block_strip
}

# ---- check: what is in place, one line per step, nothing changed ----

check_ok=0
check_fix=0
check_skip=0

# report ok|fix|skip NAME TEXT: one line, counted for the summary.
report() {
	printf '%-4s %-26s %s\n' "$1" "$2" "$3"
	case $1 in
	ok) check_ok=$((check_ok + 1)) ;;
	fix) check_fix=$((check_fix + 1)) ;;
	*) check_skip=$((check_skip + 1)) ;;
	esac
}

# The fix for anything this script sets up.
fix_up="run this script with \`up'"

check_decap() {
	local pid args a missing=
	if [ "$mode" = kernel ]; then
		if ip link show tunl0 2>/dev/null | grep -q ',UP'; then
			report ok decapsulation "tunl0 (kernel ipip) is up"
		else
			report fix decapsulation "tunl0 is missing or down: $fix_up"
		fi
		return
	fi
	if ! pid=$(decap_pid); then
		report fix decapsulation "drover-decap is not running (pidfile $pidfile): $fix_up"
		return
	fi
	if ! ip link show "$dev" 2>/dev/null | grep -q ',UP'; then
		report fix decapsulation "drover-decap (pid $pid) runs but $dev is not up: $fix_up"
		return
	fi
	args=" $(tr '\0' ' ' <"/proc/$pid/cmdline") "
	for a in "${appliance_list[@]}" "${appliance6_list[@]}"; do
		[[ $args == *" --from $a "* ]] || missing="$missing $a"
	done
	if [ -n "$missing" ]; then
		report fix decapsulation \
			"drover-decap (pid $pid) does not accept the appliance(s)$missing: $fix_up"
	else
		a="${appliance_list[*]} ${appliance6_list[*]}"
		report ok decapsulation "drover-decap (pid $pid) into $dev, IPIP from ${a% }"
	fi
}

check_tunnel_address() {
	[ -n "$tunnel_address" ] || {
		report skip "tunnel address" "no --tunnel-address given: not checked"
		return
	}
	if ip -4 -o addr show dev "$dev" 2>/dev/null | grep -q " $tunnel_address/"; then
		report ok "tunnel address" "$tunnel_address on $dev (REDIRECT needs it)"
	else
		report fix "tunnel address" "$dev has no address $tunnel_address (REDIRECT needs one): $fix_up"
	fi
}

# check_rules NAME TEXT RULE...: every RULE is "TABLE CHAIN SPEC..." joined by "|".
check_rules() {
	local name=$1 text=$2 rule words missing=
	shift 2
	for rule in "$@"; do
		read -r -a words <<<"$rule"
		iptables -w -t "${words[0]}" -C "${words[@]:1}" 2>/dev/null || {
			missing="${words[*]:1}"
			break
		}
	done
	if [ -n "$missing" ]; then
		report fix "$name" "missing \`$missing': $fix_up"
	else
		report ok "$name" "$text"
	fi
}

check_filters() {
	local rules=() a c r
	for a in "${appliance_list[@]}"; do
		rules+=("filter $ipip_chain -s $a/32 -j RETURN")
	done
	rules+=("filter $ipip_chain -j DROP" "filter INPUT -p 4 -j $ipip_chain")
	check_rules "ipip filter" "IPIP accepted from ${appliance_list[*]} only ($ipip_chain)" \
		"${rules[@]}"
	rules=()
	for a in "${appliance_list[@]}"; do
		rules+=("raw $tunnel_chain -s $a/32 -p icmp --icmp-type echo-request -j RETURN")
	done
	for c in "${client_list[@]}"; do
		rules+=("raw $tunnel_chain -s $c -j RETURN")
	done
	rules+=("raw $tunnel_chain -j DROP" "raw PREROUTING -i $dev -j $tunnel_chain")
	check_rules "tunnel filter" \
		"from $dev only the clients ${client_list[*]} and the appliances' echo ($tunnel_chain)" \
		"${rules[@]}"
	rules=()
	for c in "${client_list[@]}"; do
		for r in "${redirects[@]}"; do
			rules+=("nat $chain -s $c -p tcp --dport ${r%%:*} -j REDIRECT --to-ports ${r#*:}")
		done
	done
	rules+=("nat PREROUTING -i $dev -j $chain")
	check_rules redirect "ports ${ports} from $dev redirected to Squid ($chain)" "${rules[@]}"
}

check_squid() {
	local r port seen=" "
	for r in "${redirects[@]}"; do
		port=${r#*:}
		[[ $seen == *" $port "* ]] && continue
		seen="$seen$port "
		if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
			report ok "squid :$port" "listening (intercept port)"
		else
			report fix "squid :$port" "nothing listens on the intercept port $port: start Squid with \`http_port $port intercept'"
		fi
	done
}

check_rp_filter() {
	local all devv eff
	all=$(sysctl -n net.ipv4.conf.all.rp_filter 2>/dev/null) || all=0
	devv=$(sysctl -n "net.ipv4.conf.$dev.rp_filter" 2>/dev/null) || {
		report fix "rp_filter $dev" "no device $dev: $fix_up"
		return
	}
	eff=$((all > devv ? all : devv))
	if [ "$eff" = 1 ]; then
		report fix "rp_filter $dev" "1 (strict; all=$all, $dev=$devv): the clients are not routed through $dev, so strict drops every decapsulated packet; sysctl -w net.ipv4.conf.$dev.rp_filter=2 and net.ipv4.conf.all.rp_filter at most 2"
	else
		report ok "rp_filter $dev" "$eff (all=$all, $dev=$devv): decapsulated client packets accepted"
	fi
}

# The replies go to the clients directly: never through an appliance or the tunnel.
check_routes() {
	local c nh via devn a i words mss
	for c in "${client_list[@]}"; do
		nh=$(ip -4 -o route get "${c%/*}" 2>/dev/null) || {
			report fix "route $c" "no route back to the clients $c: add one (not via the appliance)"
			continue
		}
		via=$(sed -n 's/.* via \([0-9.]*\).*/\1/p' <<<"$nh")
		devn=$(sed -n 's/.* dev \([^ ]*\).*/\1/p' <<<"$nh")
		for a in "${appliance_list[@]}"; do
			if [ "$via" = "$a" ]; then
				report fix "route $c" "the replies to $c go via the appliance $a: route the clients through their own router, so that replies return directly"
				continue 2
			fi
		done
		if [ "$devn" = "$dev" ]; then
			report fix "route $c" "the replies to $c would go into the tunnel device $dev: route them out of the LAN interface"
			continue
		fi
		read -r -a words <<<"$(ip -4 -o route show exact "$c" table main | head -n 1)"
		mss=
		for ((i = 0; i < ${#words[@]}; i++)); do
			[ "${words[i]}" = advmss ] && mss=${words[i + 1]}
		done
		if [ "$mss" != "$advmss" ]; then
			report fix "route $c" "via ${via:-the link} dev $devn, but advmss is ${mss:-unset}, not $advmss (tunnel MTU $tunnel_mtu - 40): $fix_up"
		else
			report ok "route $c" "via ${via:-the link} dev $devn, not through the appliance; advmss $advmss"
		fi
	done
}

check_ipv6() {
	local t
	ipv6_wanted || return 0
	for t in "filter $ipip_chain" "raw $tunnel_chain" "nat $chain"; do
		if ip6tables -w -t "${t% *}" -S "${t#* }" >/dev/null 2>&1; then
			report ok "ip6tables ${t#* }" "chain in the ${t% *} table"
		else
			report fix "ip6tables ${t#* }" "no ip6tables chain ${t#* } (${t% *}): $fix_up"
		fi
	done
}

check_all() {
	check_decap
	check_tunnel_address
	check_filters
	check_squid
	check_rp_filter
	check_routes
	check_ipv6
	echo "check: $check_ok ok, $check_fix to fix, $check_skip skipped"
	[ "$check_fix" -eq 0 ]
}

# ---- HTTPS: Squid's https_port with ssl-bump (--tls splice|bump) ----

squid_bin=

# squid_find: the Squid binary, and whether it can ssl-bump at all.
squid_find() {
	squid_bin=$(command -v squid) ||
		die "no squid in PATH: install Debian's squid-openssl (or give --tls off)"
	"$squid_bin" -v 2>/dev/null | grep -q -- '--with-openssl' ||
		die "$squid_bin has no ssl-bump support (built without OpenSSL; Debian's package \`squid' is): install the package squid-openssl, which replaces it, or give --tls off and intercept HTTPS with a squid.conf of your own"
	[ -r "$squid_conf" ] || die "cannot read Squid's configuration \`$squid_conf' (give --squid-conf FILE)"
}

# squid_running: Squid (of --squid-conf) runs: it answers a signal 0.
squid_running() {
	"$squid_bin" -f "$squid_conf" -k check >/dev/null 2>&1
}

# tls_ca_up: the CA Squid presents and, in bump mode, signs with. Made once,
# then kept: the clients that trust it keep trusting it.
tls_ca_up() {
	local key crt
	id "$squid_user" >/dev/null 2>&1 || die "no user \`$squid_user' (give --squid-user, Squid's cache_effective_user)"
	run mkdir -p "$tls_dir"
	if [ ! -s "$tls_dir/ca.pem" ]; then
		command -v openssl >/dev/null || die "openssl is needed to make the CA (package openssl)"
		key=$tls_dir/ca.key.new
		crt=$tls_dir/ca.crt.new
		(
			umask 077
			openssl req -x509 -new -newkey "rsa:$ca_bits" -sha256 -nodes -days "$ca_days" \
				-subj "/CN=drover proxy CA $(hostname)" \
				-addext "basicConstraints=critical,CA:TRUE" \
				-addext "keyUsage=critical,keyCertSign,cRLSign" \
				-keyout "$key" -out "$crt" >/dev/null 2>&1 &&
				cat "$crt" "$key" >"$tls_dir/ca.pem.new"
		) || {
			rm -f "$key" "$crt" "$tls_dir/ca.pem.new"
			die "openssl could not make the CA in \`$tls_dir'"
		}
		run chown "$squid_user" "$tls_dir/ca.pem.new"
		run chmod 0644 "$crt"
		run mv "$crt" "$tls_dir/ca.crt"
		run mv "$tls_dir/ca.pem.new" "$tls_dir/ca.pem"
		rm -f "$key"
		echo "$prog: made the CA $tls_dir/ca.crt (clients of --tls bump must trust it)"
	fi
	if [ "$tls" = bump ] && [ ! -d "$tls_dir/ssl_db" ]; then
		[ -x "$certgen" ] ||
			die "no certificate helper \`$certgen' (package squid-openssl; or give --certgen PATH)"
		"$certgen" -c -s "$tls_dir/ssl_db" -M "$certgen_db_size" >/dev/null 2>&1 || {
			rm -rf "$tls_dir/ssl_db"
			die "$certgen could not make its database \`$tls_dir/ssl_db'"
		}
		run chown -R "$squid_user" "$tls_dir/ssl_db"
	fi
}

# squid_include_text: the lines Squid reads for intercepted HTTPS.
squid_include_text() {
	local certs=generate-host-certificates=off
	[ "$tls" = bump ] &&
		certs="generate-host-certificates=on dynamic_cert_mem_cache_size=$cert_mem_cache"
	echo "$squid_include_mark"
	echo "# Written by \`$prog up' (--tls $tls) and removed by \`down'; edits here are lost."
	echo "https_port $https_port intercept ssl-bump tls-cert=$tls_dir/ca.pem $certs"
	if [ "$tls" = bump ]; then
		echo "sslcrtd_program $certgen -s $tls_dir/ssl_db -M $certgen_db_size"
		echo "sslcrtd_children $certgen_children"
	fi
	echo "# Step 1 reads the client's hello (the server name, SNI) without answering it."
	echo "acl drover_tls_step1 at_step SslBump1"
	echo "ssl_bump peek drover_tls_step1"
	if [ "$tls" = bump ]; then
		echo "ssl_bump bump all"
	else
		echo "ssl_bump splice all"
	fi
	echo "# Squid's native format, then the server name the client asked for."
	echo "logformat drover %ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt %ssl::>sni"
	[ "$access_log" = none ] || echo "access_log stdio:$access_log drover"
}

# squid_include_ours: --squid-include is absent or was written by this script.
squid_include_ours() {
	local first
	[ -e "$squid_include" ] || return 0
	read -r first <"$squid_include"
	[ "$first" = "$squid_include_mark" ]
}

# listener_inode PORT: the inode of the socket listening on TCP PORT, or nothing.
listener_inode() {
	ss -Hltne "sport = :$1" 2>/dev/null | grep -o -m 1 'ino:[0-9]*'
}

# squid_reload [PORT]: a running Squid rereads its configuration; with PORT,
# until that port listens again. Squid closes its listening sockets when it
# rereads and opens new ones once done: a new socket (inode) on PORT says it
# has finished, and takes connections again.
squid_reload() {
	local port=${1:-} i before now
	squid_running || {
		echo "$prog: Squid is not running: it reads $squid_include when it starts"
		return 0
	}
	[ -n "$port" ] && before=$(listener_inode "$port")
	run "$squid_bin" -f "$squid_conf" -k reconfigure
	[ -n "$port" ] || return 0
	for ((i = 0; i < squid_reload_wait_s * 10; i++)); do
		now=$(listener_inode "$port")
		[ -n "$now" ] && [ "$now" != "$before" ] && return 0
		sleep 0.1
	done
	die "Squid did not open its https_port $port within ${squid_reload_wait_s} s: see its cache.log"
}

squid_tls_up() {
	local new=$squid_include.new old=$squid_include.old out rc
	squid_include_ours || die "\`$squid_include' exists and was not written by $prog"
	tls_ca_up
	run mkdir -p "$(dirname "$squid_include")"
	squid_include_text >"$new" || die "cannot write \`$new'"
	if [ -e "$squid_include" ] && cmp -s "$new" "$squid_include"; then
		rm -f "$new"
		return 0
	fi
	[ -e "$squid_include" ] && run cp -p "$squid_include" "$old"
	run chmod 0644 "$new"
	run mv "$new" "$squid_include"
	# Check before a running Squid reads it: a reload with a bad line stops Squid.
	out=$("$squid_bin" -f "$squid_conf" -k parse 2>&1)
	rc=$?
	if [ $rc -ne 0 ] || ! grep -q "Processing Configuration File: $squid_include " <<<"$out"; then
		if [ -e "$old" ]; then
			mv "$old" "$squid_include"
		else
			rm -f "$squid_include"
		fi
		grep -q "Processing Configuration File: $squid_include " <<<"$out" ||
			die "$squid_conf does not include $squid_include: add \`include $(dirname "$squid_include")/*.conf' to it (Debian's squid.conf has it), or give --squid-include"
		die "Squid refuses the HTTPS lines: $(grep -E 'FATAL|ERROR' <<<"$out" | head -n 3)"
	fi
	rm -f "$old"
	squid_reload "$https_port"
}

squid_tls_down() {
	[ -e "$squid_include" ] || return 0
	squid_include_ours || return 0
	run rm -f "$squid_include"
	squid_bin=$(command -v squid) || return 0
	squid_reload
}

case $action in
check)
	check_all
	exit
	;;
up)
	# Before anything changes: a Squid that cannot ssl-bump stops the set-up.
	[ "$tls" = off ] || squid_find
	# The filters first: tunl0 takes IPIP from anyone the moment it is up.
	filters_up
	if ipv6_wanted; then
		command -v ip6tables >/dev/null || die "IPv6 client ranges need ip6tables"
		filters6_up
	else
		filters6_down
	fi
	if [ "$mode" = kernel ]; then
		tunnel_up_kernel
		ipv6_wanted && tunnel6_up_kernel
	else
		tunnel_up_decap
	fi
	rp_filter_tunnel
	intercept_up
	if ipv6_wanted; then
		intercept6_up
		routes6_up
	else
		intercept6_down
	fi
	routes_up
	# Squid last: the https_port it opens gets traffic at once.
	[ "$tls" = off ] || squid_tls_up
	squid_manager_up
	;;
down)
	squid_manager_down
	[ "$tls" = off ] || squid_tls_down
	intercept_down
	intercept6_down
	routes_down
	routes6_down
	if [ "$mode" = kernel ]; then
		tunnel_down_kernel
		tunnel6_down_kernel
	else
		tunnel_down_decap
	fi
	filters6_down
	filters_down
	;;
esac
exit 0
