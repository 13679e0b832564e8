#!/bin/bash
# bench.sh - packet rates through drover against plain kernel forwarding on
# the same namespace topology, three paths alternating A N B A N B in one run:
#
#   A  drover as shipped: the FORWARD → NFQUEUE rule and fast_path true. A
#      client's first packet goes through NFQUEUE to droverd, which records
#      the client; its later packets are wrapped in the kernel (tc BPF at
#      gen0's ingress) and sent to the proxy.
#   N  drover with fast_path false: every packet through NFQUEUE and droverd.
#   B  plain kernel forwarding: no NFQUEUE rule, fast_path false.
#   X  drover with the XDP fast path: A's rule and fast_path true with
#      fast_path_mode xdp (native XDP on gen0, a veth, which auto leaves to
#      tc: the client's later packets are wrapped in the driver, before the
#      stack sees them). A runs fast_path_mode tc, the tc program alone.
#
# X, A, N and B alternate in one more comparison (paths.md, and the end of
# results.md): flat out and at half of B's flat-out delivery, --reps times,
# delivered pps and the whole machine's busy CPU (every core, softirq
# included, from /proc/stat) per delivered packet. --paths-only measures
# that comparison alone (a few minutes).
#
#   $P-gen                      $P-app                         $P-px1 .. $P-pxN
#   eth0 198.18.30.2 ──veth── gen0 198.18.30.1                eth0 198.18.(60+i).2
#   drover-bench-gen            droverd (A, N: FORWARD →       raw PREROUTING counts and
#   sources 198.18.32.0/20      NFQUEUE, IPIP copy to a proxy; drops: proto 4 (A, N),
#   (4,094 clients) → dst       A: tc BPF wraps known clients) dst 198.19.0.0/16 (B); a
#   198.19.0.0/16 :80           ── px<i> 198.18.(60+i).1 ──    TCP listener on 3128 for
#                               B: the same packets routed,    droverd's health probes
#                               ECMP over the proxies
#
# The paths differ only in one iptables rule in $P-app and in droverd's
# fast_path setting, both switched between trials. droverd keeps running
# (idle) during B; its fast path is off then, so the kernel does not wrap the
# packets of clients it learned in A. Everything stays inside the namespaces
# made here.
#
#   tests/bench/bench.sh [--build DIR] [--out DIR] [--quick] [--sizes "64 1400"]
#                        [--duration S] [--reps N] [--proxies N] [--queues N]
#                        [--profile RATE] [--no-ipv6] [--paths-only]
#
# IPv6 next to IPv4: the generator also sends IPv6 packets (TCP to port 80
# from 4,094 clients in 2001:db8:32::/116 to 2001:db8:ff::/112); droverd
# wraps them in IPv4 (6in4, protocol 41) to the proxies' IPv4 addresses, the
# proxies count protocol 41 (A, N) and the routed IPv6 destinations (B). On
# path A an IPv6 client's first packets go through NFQUEUE, then the kernel fast
# path wraps the rest in 6in4 itself (the proxies are IPv4-only). After the IPv4
# measurements, for each size: IPv4 and IPv6 A, N, B alternating, flat out and at half
# IPv4 N's zero-loss rate, --reps times; medians in a second table. An IPv6
# packet of "size S" is the IPv4 packet of size S with the IPv6 header's 20
# more bytes: the same TCP segment (64 -> 84, 1400 -> 1420 bytes IP length).
# --no-ipv6 leaves it out.
#
# Writes OUT/results.md (the table), OUT/delivered.png (delivered vs offered
# load, when gnuplot is installed), OUT/sweep-SIZE.dat, OUT/runs.log (every
# run), OUT/micro.txt. --quick is the smoke-test scale: well under a minute.
# --profile RATE only records droverd with perf during one N trial of 64-byte
# packets at RATE pps, then runs one A trial at the same rate for the sender's
# CPU per packet, and writes OUT/profile-droverd.txt (symbols, then shared
# objects).
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build
out=
quick=0
sizes="64 1400"
duration=2
reps=3
proxies=2
queues=2
profile_rate=
ipv6=1
paths_only=0
search_steps=7
# A trial "passes" (RFC 2544) when at most this fraction of packets is lost and
# the generator offered at least gen_keepup of the load asked for.
loss_tol=0.001
gen_keepup=0.95

while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--quick) quick=1; shift ;;
	--sizes) sizes=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--reps) reps=$2; shift 2 ;;
	--proxies) proxies=$2; shift 2 ;;
	--queues) queues=$2; shift 2 ;;
	--profile) profile_rate=$2; shift 2 ;;
	--no-ipv6) ipv6=0; shift ;;
	--paths-only) paths_only=1; shift ;;
	*) echo "usage: $0 [--build DIR] [--out DIR] [--quick] [--sizes LIST] [--duration S]" \
		"[--reps N] [--proxies N] [--queues N] [--profile RATE] [--no-ipv6] [--paths-only]" >&2; exit 2 ;;
	esac
done
case $build in /*) ;; *) build=$root/$build ;; esac
out=${out:-$build/bench}
if [ "$quick" -eq 1 ]; then
	duration=0.2
	reps=1
	search_steps=4
fi
[ "$proxies" -ge 2 ] && [ "$proxies" -le 8 ] || { echo "bench: --proxies 2..8" >&2; exit 2; }
[ "$queues" -ge 1 ] && [ "$queues" -le 2 ] || { echo "bench: --queues 1..2" >&2; exit 2; }

gen=$build/bench/drover-bench-gen
sink=$build/bench/drover-bench-sink
micro=$build/bench/drover-bench-micro
for f in "$build/droverd" "$build/droverctl" "$gen" "$sink" "$micro"; do
	[ -x "$f" ] || { echo "bench: no $f (make bench builds it)" >&2; exit 1; }
done
for t in ip iptables ip6tables python3 awk; do
	command -v "$t" >/dev/null || { echo "bench: missing tool $t" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (network namespaces)" >&2; exit 1; }

P=dbn$$
state=$(mktemp -d /tmp/drover-bench.XXXXXX)
pids=()
namespaces=()
mkdir -p "$out" || exit 1
runs=$out/runs.log
: >"$runs"

log() { echo "# bench: $*" >&2; }

cleanup() {
	local p ns
	trap - EXIT TERM INT
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	# droverd needs a few hundred ms to stop (its threads' receive timeout): up to 3 s.
	local i
	for ((i = 0; i < 30; i++)); do
		local alive=0
		for p in "${pids[@]}"; do
			kill -0 "$p" 2>/dev/null && alive=1
		done
		[ "$alive" -eq 0 ] && break
		sleep 0.1
	done
	for p in "${pids[@]}"; do
		kill -9 "$p" 2>/dev/null
	done
	for ns in "${namespaces[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

in_ns() { # in_ns NAME CMD...
	local ns=$1
	shift
	ip netns exec "$P-$ns" "$@"
}

add_ns() {
	namespaces+=("$P-$1")
	ip netns add "$P-$1" && ip -n "$P-$1" link set lo up
}

# ---- float helpers (awk) ----
calc() { awk "BEGIN { printf \"%.10g\", ($*) }"; }
fmt() { awk -v v="$1" -v f="$2" 'BEGIN { printf f, v }'; }
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2];
		else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

# ---- the world ----
NET6=2001:db8
# An IPv6 header is 20 bytes longer than an IPv4 one without options: IPv6
# packets of "size S" carry the TCP segment of S-byte IPv4 packets.
IP6_EXTRA=20
SRC6=$NET6:32::/116
DST6=$NET6:ff::/112
build_world() {
	local i ecmp= ecmp6=
	add_ns gen && add_ns app || return 1
	ip link add eth0 netns "$P-gen" type veth peer name gen0 netns "$P-app" || return 1
	ip -n "$P-gen" addr add 198.18.30.2/24 dev eth0
	ip -n "$P-gen" link set eth0 up
	ip -n "$P-gen" route add 198.19.0.0/16 via 198.18.30.1
	ip -n "$P-app" addr add 198.18.30.1/24 dev gen0
	ip -n "$P-app" link set gen0 up
	ip -n "$P-app" route add 198.18.32.0/20 via 198.18.30.2
	in_ns app sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0
	# IPv6 beside it: the same link, sources and destinations of the
	# documentation prefix (addresses without duplicate detection: up at once).
	ip -n "$P-gen" addr add "$NET6:30::2/64" dev eth0 nodad
	ip -n "$P-gen" route add "$DST6" via "$NET6:30::1"
	ip -n "$P-app" addr add "$NET6:30::1/64" dev gen0 nodad
	ip -n "$P-app" route add "$SRC6" via "$NET6:30::2"
	in_ns app sysctl -qw net.ipv6.conf.all.forwarding=1
	for ((i = 1; i <= proxies; i++)); do
		add_ns "px$i" || return 1
		ip link add eth0 netns "$P-px$i" type veth peer name "px$i" netns "$P-app" || return 1
		ip -n "$P-app" addr add "198.18.$((60 + i)).1/24" dev "px$i"
		ip -n "$P-app" link set "px$i" up
		ip -n "$P-px$i" addr add "198.18.$((60 + i)).2/24" dev eth0
		ip -n "$P-px$i" link set eth0 up
		# GRO on: a veth takes frames the appliance's XDP redirects to it only
		# then (or with an XDP program of its own), as a NIC takes any frame.
		# Switched on while up: only then does its peer learn that it may.
		in_ns "px$i" ethtool -K eth0 gro on >/dev/null 2>&1
		ip -n "$P-px$i" route add default via "198.18.$((60 + i)).1"
		# Count, then drop before routing: nothing answers, nothing comes back.
		in_ns "px$i" iptables -t raw -A PREROUTING -i eth0 -p 4 -j DROP || return 1
		in_ns "px$i" iptables -t raw -A PREROUTING -i eth0 -d 198.19.0.0/16 -j DROP
		# IPv6: 6in4 from droverd (N), the routed IPv6 packets (B).
		in_ns "px$i" iptables -t raw -A PREROUTING -i eth0 -p 41 -j DROP || return 1
		ip -n "$P-app" addr add "$NET6:$((60 + i))::1/64" dev "px$i" nodad
		ip -n "$P-px$i" addr add "$NET6:$((60 + i))::2/64" dev eth0 nodad
		in_ns "px$i" ip6tables -t raw -A PREROUTING -i eth0 -d "$DST6" -j DROP || return 1
		# Backgrounded as "ip netns exec", not through in_ns: $! must be the
		# process itself (ip execs it), not a subshell around it.
		ip netns exec "$P-px$i" python3 -c 'import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 3128))
s.listen(128)
while True:
    c, _ = s.accept()
    c.close()' &
		pids+=($!)
		ecmp="$ecmp nexthop via 198.18.$((60 + i)).2"
		ecmp6="$ecmp6 nexthop via $NET6:$((60 + i))::2 dev px$i"
	done
	# B: the kernel spreads the destinations over the proxies (L3 hash).
	ip -n "$P-app" route add 198.19.0.0/16 $ecmp || return 1
	ip -n "$P-app" -6 route add "$DST6" $ecmp6 || return 1
}

ctl() { in_ns app "$build/droverctl" --socket "$state/drover.sock" "$@"; }

# global_stats KEY...: droverd's global counters (ctl --json stats) named, on
# one line in that order; nothing when droverd does not answer.
global_stats() {
	ctl --json stats 2>/dev/null | python3 -c 'import json, sys
g = json.load(sys.stdin).get("global", {})
print(" ".join(str(g.get(k, 0)) for k in sys.argv[1:]))' "$@" 2>/dev/null
}

start_droverd() {
	local i
	ip netns exec "$P-app" "$build/droverd" --db "$state/drover.db" --socket "$state/drover.sock" \
		--log-level info </dev/null >"$state/droverd.log" 2>&1 &
	dpid=$!
	pids+=($dpid)
	for ((i = 0; i < 100; i++)); do
		[ -S "$state/drover.sock" ] && break
		sleep 0.1
	done
	ctl settings set client_subnets "198.18.32.0/20,$SRC6" >/dev/null &&
		ctl settings set ports 80 >/dev/null &&
		ctl settings set assume_up_at_start true >/dev/null &&
		ctl settings set probe_kind tcp >/dev/null &&
		ctl settings set probe_port 3128 >/dev/null &&
		ctl settings set fail_open false >/dev/null &&
		ctl settings set queues "$queues" >/dev/null || return 1
	for ((i = 1; i <= proxies; i++)); do
		ctl proxy add "198.18.$((60 + i)).2" --name "px$i" >/dev/null || return 1
	done
	for ((i = 0; i < 100; i++)); do
		ctl --json proxy list | python3 -c 'import json, sys
p = json.load(sys.stdin)["proxies"]
sys.exit(0 if p and all(x.get("health") == "up" for x in p) else 1)' && return 0
		sleep 0.1
	done
	return 1
}

# ---- A / N / B ----
# What is in place now: the FORWARD rule ("none" or its queue count) and
# droverd's fast_path setting; empty until first set.
rule=
fast=
xmode=
set_mode() { # set_mode X|A|N|B [QUEUES]
	local q=${2:-$queues} want_rule want_fast want_xmode=$xmode target
	case $1 in
	X) want_rule=$q want_fast=true want_xmode=xdp ;;
	A) want_rule=$q want_fast=true want_xmode=tc ;;
	N) want_rule=$q want_fast=false ;;
	B) want_rule=none want_fast=false ;;
	*) log "no path $1"; return 1 ;;
	esac
	if [ "$xmode" != "$want_xmode" ]; then
		xmode=
		ctl settings set fast_path_mode "$want_xmode" >/dev/null || return 1
		sleep 0.2 # XDP attached to (or detached from) the interfaces
		xmode=$want_xmode
	fi
	if [ "$rule" != "$want_rule" ]; then
		rule=
		in_ns app iptables -F FORWARD || return 1
		in_ns app ip6tables -F FORWARD || return 1
		if [ "$want_rule" != none ]; then
			if [ "$q" -eq 1 ]; then
				target="--queue-num 0"
			else
				target="--queue-balance 0:$((q - 1))"
			fi
			in_ns app iptables -A FORWARD -s 198.18.32.0/20 -p tcp --dport 80 \
				-j NFQUEUE $target --queue-bypass || return 1
			in_ns app ip6tables -A FORWARD -s "$SRC6" -p tcp --dport 80 \
				-j NFQUEUE $target --queue-bypass || return 1
		fi
		rule=$want_rule
	fi
	if [ "$fast" != "$want_fast" ]; then
		fast=
		ctl settings set fast_path "$want_fast" >/dev/null || return 1
		sleep 0.2 # the program attached to (or detached from) the interfaces
		fast=$want_fast
	fi
}

# The whole machine's busy time, every core (user, nice, system, irq, softirq,
# steal), in ns.
machine_cpu_ns() {
	awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { printf "%.0f\n", ($2 + $3 + $4 + $7 + $8 + $9) * 1e9 / hz }' /proc/stat
}

droverd_cpu_ns() {
	cat /proc/"$dpid"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

droverd_switches() {
	cat /proc/"$dpid"/task/*/status 2>/dev/null |
		awk '/ctxt_switches/ { s += $2 } END { printf "%.0f\n", s }'
}

# Packets the kernel dropped at droverd's queues: "QUEUE_FULL SOCKET_FULL".
queue_drops() {
	in_ns app cat /proc/net/netfilter/nfnetlink_queue 2>/dev/null |
		awk '{ q += $6; u += $7 } END { printf "%.0f %.0f\n", q, u }'
}

px_counts() { # prints "ipip plain" summed over the proxies, and zeroes the counters
	local i
	for ((i = 1; i <= proxies; i++)); do
		in_ns "px$i" ip6tables -t raw -Z PREROUTING
		in_ns "px$i" iptables -t raw -L PREROUTING -v -x -n -Z
	done | awk '$3 == "DROP" && $4 == "4" { a += $1 } $3 == "DROP" && $4 == "0" { b += $1 }
		END { printf "%.0f %.0f\n", a, b }'
}

px_counts6() { # prints "6in4 plain6" summed over the proxies, and zeroes the counters
	local i
	for ((i = 1; i <= proxies; i++)); do
		in_ns "px$i" iptables -t raw -L PREROUTING -v -x -n -Z | sed 's/^/4 /'
		in_ns "px$i" ip6tables -t raw -L PREROUTING -v -x -n -Z | sed 's/^/6 /'
	done | awk '$1 == 4 && $4 == "DROP" && $5 == "41" { a += $2 }
		$1 == 6 && $4 == "DROP" { b += $2 }
		END { printf "%.0f %.0f\n", a, b }'
}

# run MODE SIZE RATE [BURST [QUEUES [LATENCY_TAG]]]: one trial; sets the R_* variables and
# appends a line to runs.log. R_FAST: packets the fast path wrapped during the
# trial, R_NFQ: packets droverd received from its queues (droverd's counters,
# read after each trial; stats_fast and stats_nfq hold the last reading).
run_id=0
# The family of the trials run() makes: 4, or 6 (IPv6, mode logged as A6, N6, B6).
fam=4
fam_tag=
stats_fast=0
stats_nfq=0
stats_xdp=0
fast_leaks=0
# stats_baseline: takes droverd's counters as they are now for the next
# trial's deltas (droverd drops a queue thread's counters with the thread
# when the queue count shrinks).
stats_baseline() {
	local f n
	local x
	read -r f n x < <(global_stats fast_packets packets fast_xdp_packets)
	stats_fast=${f:-$stats_fast}
	stats_nfq=${n:-$stats_nfq}
	stats_xdp=${x:-$stats_xdp}
}
run() {
	local m=$1 size=$2 rate=$3 burst=${4:-32} q=${5:-$queues} lat=${6:-} line c0 c1 s0 s1 q0 q1 counts i c
	local f1 n1 x1 m0 m1
	local sinks=()
	run_id=$((run_id + 1))
	set_mode "$m" "$q" || return 1
	px_counts >/dev/null
	local famarg=()
	[ "$fam" -eq 6 ] && famarg=(--ipv6)
	if [ -n "$lat" ]; then
		for ((i = 1; i <= proxies; i++)); do
			ip netns exec "$P-px$i" "$sink" --dev eth0 --run "$run_id" --max-seconds 60 \
				--out "$state/lat-$lat-$run_id-$i.bin" >"$state/sink-$i.out" 2>&1 &
			sinks+=($!)
			pids+=($!)
		done
		for ((i = 1; i <= proxies; i++)); do
			for ((c = 0; c < 50; c++)); do
				grep -q ready "$state/sink-$i.out" && break
				sleep 0.05
			done
		done
	fi
	c0=$(droverd_cpu_ns)
	s0=$(droverd_switches)
	q0=$(queue_drops)
	m0=$(machine_cpu_ns)
	line=$(in_ns gen "$gen" --rate "$rate" --duration "$duration" --size "$size" \
		--burst "$burst" --run "$run_id" "${famarg[@]}")
	sleep 0.15 # the queues and the veths drain
	m1=$(machine_cpu_ns)
	c1=$(droverd_cpu_ns)
	s1=$(droverd_switches)
	q1=$(queue_drops)
	if [ "$fam" -eq 6 ]; then counts=$(px_counts6); else counts=$(px_counts); fi
	for i in "${sinks[@]}"; do
		kill -TERM "$i" 2>/dev/null
		wait "$i" 2>/dev/null
	done
	read -r f1 n1 x1 < <(global_stats fast_packets packets fast_xdp_packets)
	f1=${f1:-$stats_fast}
	n1=${n1:-$stats_nfq}
	x1=${x1:-$stats_xdp}
	R_FAST=$((f1 - stats_fast))
	R_NFQ=$((n1 - stats_nfq))
	R_XDP=$((x1 - stats_xdp))
	R_MCPU_NS=$((m1 - m0))
	stats_fast=$f1
	stats_nfq=$n1
	stats_xdp=$x1
	if [ "$m" != A ] && [ "$m" != X ] && [ "$R_FAST" -ne 0 ]; then
		fast_leaks=$((fast_leaks + 1))
		log "WARNING: the fast path wrapped $R_FAST packets during a $m trial (run $run_id):" \
			"that trial did not measure path $m"
	fi
	R_SENT=$(echo "$line" | sed -n 's/.*sent=\([0-9]*\).*/\1/p')
	R_ELAPSED=$(echo "$line" | sed -n 's/.*elapsed=\([0-9.]*\).*/\1/p')
	R_OFFERED=$(echo "$line" | sed -n 's/.* rate=\([0-9]*\).*/\1/p')
	R_GENCPU=$(echo "$line" | sed -n 's/.*cpu=\([0-9.]*\).*/\1/p')
	if [ "$m" != B ]; then
		R_DELIVERED=${counts% *}
	else
		R_DELIVERED=${counts#* }
	fi
	R_SENT=${R_SENT:-0}
	R_ELAPSED=${R_ELAPSED:-1}
	R_OFFERED=${R_OFFERED:-0}
	R_GENCPU=${R_GENCPU:-0}
	R_RATE=$(calc "$R_DELIVERED / $R_ELAPSED")
	R_LOSS=$(calc "$R_SENT > 0 ? ($R_SENT - $R_DELIVERED) / $R_SENT : 1")
	R_CPU_NS=$((c1 - c0))
	R_PASS=0
	if ge "$loss_tol" "$R_LOSS" && ge "$R_OFFERED" "$(calc "$rate * $gen_keepup")"; then
		R_PASS=1
	fi
	printf '%s size=%s mode=%s queues=%s target=%s burst=%s sent=%s elapsed=%s offered=%s delivered=%s ipip_plain="%s" rate=%s loss=%s pass=%s droverd_cpu_ns=%s droverd_switches=%s queue_full/socket_full=%s gen_cpu_s=%s fast_packets=%s nfq_packets=%s xdp_packets=%s machine_cpu_ns=%s\n' \
		"$run_id" "$size" "$m$fam_tag" "$q" "$rate" "$burst" "$R_SENT" "$R_ELAPSED" "$R_OFFERED" \
		"$R_DELIVERED" "$counts" "$R_RATE" "$R_LOSS" "$R_PASS" "$R_CPU_NS" "$((s1 - s0))" \
		"$((${q1% *} - ${q0% *}))/$((${q1#* } - ${q0#* }))" "$R_GENCPU" "$R_FAST" "$R_NFQ" \
		"$R_XDP" "$R_MCPU_NS" >>"$runs"
}

# ---- the measurements of one packet size ----
# search SIZE: binary search for each path's highest passing rate, A, N and
# B trials alternating. Sets ZL_A, ZL_N and ZL_B.
search() {
	local size=$1 step m lo hi lo_A=0 lo_N=0 lo_B=0 hi_A=$gen_max hi_N=$gen_max hi_B=$gen_max mid
	for ((step = 0; step < search_steps; step++)); do
		for m in A N B; do
			eval "lo=\$lo_$m hi=\$hi_$m"
			# Converged (passed at the top, or within 2%): no more trials for this path.
			[ "$step" -gt 0 ] && ge "$lo" "$(calc "$hi * 0.98")" && continue
			# The first trial is at the top: a path that passes there needs no search.
			if [ "$step" -eq 0 ]; then mid=$hi; else mid=$(calc "int(($lo + $hi) / 2)"); fi
			run "$m" "$size" "$mid"
			if [ "$R_PASS" -eq 1 ]; then lo=$mid; else hi=$mid; fi
			[ "$step" -eq 0 ] && [ "$R_PASS" -eq 1 ] && hi=$mid
			eval "lo_$m=\$lo hi_$m=\$hi"
			log "size $size search $m: $mid pps -> loss $(fmt "$R_LOSS" %.4f)" \
				"offered $R_OFFERED pass=$R_PASS"
		done
	done
	ZL_A=$lo_A
	ZL_N=$lo_N
	ZL_B=$lo_B
}

# sweep SIZE: delivered vs offered at fractions of kernel forwarding's
# zero-loss rate, each load A N B alternating reps times; medians to
# sweep-SIZE.dat. Columns 1-11 are A against B, 12-17 add N (its ratio is N/B).
sweep() {
	local size=$1 f rate r m dat=$out/sweep-$size.dat fractions
	if [ "$quick" -eq 1 ]; then fractions="0.25 1.0 1.5"; else
		fractions="0.1 0.25 0.5 0.75 0.9 1.0 1.25 1.5"; fi
	echo "# target_pps offered_A delivered_A offered_B delivered_B ratio cpu_us_per_pkt_A gen_cpu_us_per_pkt_A gen_cpu_us_per_pkt_B loss_A loss_B" \
		"offered_N delivered_N ratio_N cpu_us_per_pkt_N gen_cpu_us_per_pkt_N loss_N" >"$dat"
	for f in $fractions; do
		rate=$(calc "int($ZL_B * $f)")
		ge "$rate" 1000 || rate=1000
		ge "$gen_max" "$rate" || continue
		local oa=() da=() ca=() ga=() la=() on=() dn=() cn=() gn=() ln=() ob=() db=() gb=() lb=()
		local cpu gcpu
		for ((r = 0; r < reps; r++)); do
			for m in A N B; do
				run "$m" "$size" "$rate"
				cpu=$(calc "$R_DELIVERED > 0 ? $R_CPU_NS / 1000 / $R_DELIVERED : 0")
				gcpu=$(calc "$R_SENT > 0 ? $R_GENCPU * 1e6 / $R_SENT : 0")
				case $m in
				A) oa+=("$R_OFFERED"); da+=("$R_RATE"); la+=("$R_LOSS"); ca+=("$cpu"); ga+=("$gcpu") ;;
				N) on+=("$R_OFFERED"); dn+=("$R_RATE"); ln+=("$R_LOSS"); cn+=("$cpu"); gn+=("$gcpu") ;;
				B) ob+=("$R_OFFERED"); db+=("$R_RATE"); lb+=("$R_LOSS"); gb+=("$gcpu") ;;
				esac
			done
		done
		local mda mdn mdb
		mda=$(median "${da[@]}")
		mdn=$(median "${dn[@]}")
		mdb=$(median "${db[@]}")
		echo "$rate $(median "${oa[@]}") $mda $(median "${ob[@]}") $mdb" \
			"$(calc "$mdb > 0 ? $mda / $mdb : 0")" "$(median "${ca[@]}")" \
			"$(median "${ga[@]}")" "$(median "${gb[@]}")" \
			"$(median "${la[@]}")" "$(median "${lb[@]}")" \
			"$(median "${on[@]}") $mdn $(calc "$mdb > 0 ? $mdn / $mdb : 0")" \
			"$(median "${cn[@]}")" "$(median "${gn[@]}")" "$(median "${ln[@]}")" >>"$dat"
		log "size $size load $rate: A $mda N $mdn B $mdb delivered pps"
	done
}

# latency SIZE RATE: A, N and B alternating at RATE with one packet per send,
# so each packet carries its own send time; the sinks' samples merged per path.
latency() {
	local size=$1 rate=$2 r m
	for ((r = 0; r < reps; r++)); do
		for m in A N B; do
			run "$m" "$size" "$rate" 1 "$queues" "$size-$m"
		done
	done
	for m in A N B; do
		python3 - "$state"/lat-"$size-$m"-*.bin <<'PY' >"$state/lat-$size-$m.txt"
import array, sys
a = array.array("I")
for f in sys.argv[1:]:
    with open(f, "rb") as fh:
        a.frombytes(fh.read())
s = sorted(a)
q = lambda p: s[min(len(s) - 1, int(p * len(s)))] / 1000.0 if s else float("nan")
print(len(s), "%.1f" % q(0.5), "%.1f" % q(0.99))
PY
	done
	read -r LAT_NA LAT_A50 LAT_A99 <"$state/lat-$size-A.txt"
	read -r LAT_NN LAT_N50 LAT_N99 <"$state/lat-$size-N.txt"
	read -r LAT_NB LAT_B50 LAT_B99 <"$state/lat-$size-B.txt"
}

# queue_compare SIZE RATE: delivered with 1 and with 2 queues, alternating, on
# path N (every packet through the queues: where their number matters).
queue_compare() {
	local size=$1 rate=$2 r q d1=() d2=()
	for ((r = 0; r < reps; r++)); do
		for q in 1 2; do
			ctl settings set queues "$q" >/dev/null || return 1
			sleep 0.3
			stats_baseline
			run N "$size" "$rate" 32 "$q"
			if [ "$q" -eq 1 ]; then d1+=("$R_RATE"); else d2+=("$R_RATE"); fi
		done
	done
	ctl settings set queues "$queues" >/dev/null
	sleep 0.3
	stats_baseline
	QC_1=$(median "${d1[@]}")
	QC_2=$(median "${d2[@]}")
}

# family_compare SIZE ZL_N: IPv4 and IPv6 A, N, B alternating, --reps
# times, flat out (the generator's ceiling) and at half of ZL_N (IPv4 N's
# zero-loss rate, where the NFQUEUE path delivers everything and its CPU per
# packet compares). One line per trial to $state/family.rows:
# "SIZE FAMILY MODE LOAD_KIND OFFERED DELIVERED_PPS LOSS DROVERD_US GEN_US FAST".
family_compare() {
	local size=$1 zln=$2 half kind rate r m f spec
	half=$(calc "int($zln / 2)")
	ge "$half" 1000 || half=1000
	for kind in max half; do
		if [ "$kind" = max ]; then rate=$gen_max; else rate=$half; fi
		for ((r = 0; r < reps; r++)); do
			for spec in A4 A6 N4 N6 B4 B6; do
				m=${spec%?}
				f=${spec#?}
				fam=$f
				fam_tag=
				[ "$f" -eq 6 ] && fam_tag=6
				if [ "$f" -eq 6 ]; then
					run "$m" "$((size + IP6_EXTRA))" "$rate"
				else
					run "$m" "$size" "$rate"
				fi
				echo "$size $f $m $kind $R_OFFERED $R_RATE $R_LOSS" \
					"$(calc "$R_DELIVERED > 0 ? $R_CPU_NS / 1000 / $R_DELIVERED : 0")" \
					"$(calc "$R_SENT > 0 ? $R_GENCPU * 1e6 / $R_SENT : 0")" "$R_FAST" >>"$state/family.rows"
			done
		done
	done
	fam=4
	fam_tag=
	log "size $size IPv4/IPv6 alternated: flat out at $gen_max pps, half at $half pps"
}

# ---- main ----
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# paths_compare: X, A, N and B alternating, for each size flat out (the
# generator's ceiling) and at half of B's median flat-out delivery (a load
# every path carries, so CPU per packet compares), --reps times. One row per
# trial to $state/paths.rows; medians to $out/paths.md.
paths_compare() {
	local size kind rate r m rows=$state/paths.rows bmax
	: >"$rows"
	for size in $sizes; do
		bmax=()
		for kind in max half; do
			if [ "$kind" = max ]; then
				if [ "$size" -ge 1000 ]; then rate=$gen_max1400; else rate=$gen_max64; fi
			else
				rate=$(calc "int($(median "${bmax[@]}") / 2)")
				ge "$rate" 1000 || rate=1000
			fi
			for ((r = 0; r < reps; r++)); do
				for m in X A N B; do
					run "$m" "$size" "$rate"
					[ "$kind" = max ] && [ "$m" = B ] && bmax+=("$R_RATE")
					echo "$size $kind $m $rate $R_OFFERED $R_RATE $R_LOSS $R_MCPU_NS $R_DELIVERED" \
						"$R_XDP $R_FAST" >>"$rows"
					log "size $size $kind $m: offered $R_OFFERED delivered $R_RATE pps," \
						"machine $(calc "$R_DELIVERED > 0 ? $R_MCPU_NS / $R_DELIVERED : 0") ns/pkt," \
						"XDP $R_XDP of fast $R_FAST"
				done
			done
		done
	done
	python3 - "$rows" "$reps" "$duration" >"$out/paths.md" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    size, kind, mode, rate, offered, pps, loss, mcpu, delivered, xdp, fast = line.split()
    d = float(delivered)
    rows.setdefault((int(size), kind, mode), []).append(
        (float(offered), float(pps), float(loss), float(mcpu) / d if d > 0 else float("nan"),
         float(xdp) / d if d > 0 else 0.0, float(rate)))
med = lambda xs: statistics.median(xs) if xs else float("nan")
print("## X (XDP) beside A (tc), N (NFQUEUE) and B (forwarding)")
print()
print("X, A, N, B alternating in one run, %s trials of %s s each per cell; medians. Machine CPU:" % (sys.argv[2], sys.argv[3]))
print("every core's busy time (user, system, irq, softirq) from /proc/stat during the trial,")
print("per delivered packet: the generator's sending, the appliance's forwarding or wrapping")
print("and the proxies' counting all included, and anything else the machine ran meanwhile.")
print()
print("| size | load | path | asked pps | offered pps | delivered pps | vs B | loss | machine ns/pkt | vs B | by XDP |")
print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
names = {"X": "X XDP", "A": "A tc", "N": "N NFQUEUE", "B": "B kernel"}
for size in sorted({k[0] for k in rows}):
    for kind in ("max", "half"):
        b = rows.get((size, kind, "B"), [])
        bp, bc = med([r[1] for r in b]), med([r[3] for r in b])
        for mode in "XANB":
            rs = rows.get((size, kind, mode), [])
            if not rs:
                continue
            pps, cpu = med([r[1] for r in rs]), med([r[3] for r in rs])
            print("| %d | %s | %s | %.0f | %.0f | %.0f | %.2f | %.4f | %.0f | %.2f | %.0f%% |" % (
                size, "flat out" if kind == "max" else "half of B", names[mode], med([r[5] for r in rs]),
                med([r[0] for r in rs]), pps, pps / bp if bp else 0, med([r[2] for r in rs]), cpu,
                cpu / bc if bc else 0, 100 * med([r[4] for r in rs])))
print()
PY
}

log "load before: $load_before"
ps -eo pid,ni,pcpu,comm --sort=-pcpu | head -n 6 >"$state/load-before.txt"
build_world || { log "cannot build the namespaces"; exit 1; }
start_droverd || { log "droverd did not come up: $(tail -n 5 "$state/droverd.log")"; exit 1; }
stats_baseline

# Warm-up: neighbours resolved, droverd's affinity table filled, caches warm.
# A first and with at least two packets per client (4,094 of them): every
# client's first packet goes through NFQUEUE and droverd records it, so the
# fast path knows them all before anything is measured.
warm=20000
ge "$(calc "$warm * $duration")" 8188 || warm=$(calc "int(8188 / $duration) + 1")
run A 64 "$warm"
run N 64 20000
run B 64 20000
read -r warm_fast warm_learned warm_nfq < <(global_stats fast_packets fast_learned packets)
fast_why=
if [ "${warm_fast:-0}" -gt 0 ]; then
	fast_ok=1
	log "fast path running: after the warm-up fast_packets $warm_fast, fast_learned $warm_learned," \
		"packets through NFQUEUE $warm_nfq"
else
	fast_ok=0
	fast_why=$(sed -n 's/.*\(fast path unavailable.*\)/\1/p' "$state/droverd.log" | tail -n 1)
	log "****************************************************************"
	log "WARNING: the kernel fast path is NOT running: fast_packets ${warm_fast:-unknown} after the warm-up."
	log "droverd: ${fast_why:-no reason in its log}"
	log "Path A below is NFQUEUE with fast_path true, NOT the fast path:"
	log "A's figures say nothing about the fast path."
	log "****************************************************************"
fi
measured_from=$((run_id + 1))
# What this bench can offer at all: the generator flat out (plain forwarding).
run B 64 3000000
if [ -n "$profile_rate" ]; then
	command -v perf >/dev/null || { log "perf is not installed (apt-get install linux-perf)"; exit 1; }
	set_mode N || exit 1
	perf record -q -F 1999 -g -p "$dpid" -o "$state/perf.data" >/dev/null 2>&1 &
	perf_pid=$!
	pids+=($perf_pid)
	sleep 0.5
	run N 64 "$profile_rate"
	kill -INT "$perf_pid"
	wait "$perf_pid"
	n_line=$(tail -n 1 "$runs")
	n_gcpu=$(calc "$R_SENT > 0 ? $R_GENCPU * 1e6 / $R_SENT : 0")
	# The fast path at the same rate, not profiled: its cost is in the sender's context.
	run A 64 "$profile_rate"
	a_line=$(tail -n 1 "$runs")
	a_gcpu=$(calc "$R_SENT > 0 ? $R_GENCPU * 1e6 / $R_SENT : 0")
	{
		echo "# droverd during one N trial (fast_path false, every packet through NFQUEUE): $n_line"
		echo "# then one A trial (fast path) at the same rate, not profiled: $a_line"
		echo "# sender CPU per packet sent (gen_cpu, with the kernel's work in its context):" \
			"N $(fmt "$n_gcpu" %.2f) µs, A $(fmt "$a_gcpu" %.2f) µs"
		[ "$fast_ok" -eq 1 ] ||
			echo "# WARNING: the fast path was NOT running (${fast_why:-droverd logged no reason}): A was NFQUEUE"
		perf report -i "$state/perf.data" --stdio --no-children --sort sym --percent-limit 0.7 2>/dev/null |
			grep -v '^$' | grep -E '^ +[0-9]|^#' | head -n 60
		echo "# by shared object"
		perf report -i "$state/perf.data" --stdio --no-children --sort dso 2>/dev/null |
			grep -E '^ +[0-9]' | head -n 15
	} >"$out/profile-droverd.txt"
	cat "$out/profile-droverd.txt"
	exit 0
fi
gen_max64=$(calc "int($R_OFFERED * 0.98)")
run B 1400 3000000
gen_max1400=$(calc "int($R_OFFERED * 0.98)")
log "generator ceiling: 64 B $gen_max64 pps, 1400 B $gen_max1400 pps"
# X beside A, N and B: first, so that --paths-only is a short run.
set_mode X && run X 64 "$warm"
paths_compare
{
	cat "$out/paths.md"
	echo "Generator ceiling (B flat out, one sender): 64 B $gen_max64 pps, 1400 B $gen_max1400 pps."
} >"$state/paths.md" && mv "$state/paths.md" "$out/paths.md"
if [ "$paths_only" -eq 1 ]; then
	cat "$out/paths.md"
	exit 0
fi

results=$state/results.rows
: >"$results"
for size in $sizes; do
	if [ "$size" -ge 1000 ]; then gen_max=$gen_max1400; else gen_max=$gen_max64; fi
	dat=$out/sweep-$size.dat
	search "$size"
	log "size $size zero-loss: A $ZL_A N $ZL_N B $ZL_B pps"
	sweep "$size"
	# Latency and CPU per packet compare the paths at one load all of them
	# carried without loss: half of, and at most, the lowest zero-loss rate.
	zl_min=$(printf '%s\n' "$ZL_A" "$ZL_N" "$ZL_B" | sort -g | head -n 1)
	half=$(calc "int($zl_min / 2)")
	ge "$half" 1000 || half=1000
	latency "$size" "$half"
	# CPU per packet: the sweep's highest load at or below zl_min (else its lowest).
	read -r cpu_load cpu_a gcpu_a cpu_n gcpu_n gcpu_b < <(awk -v zl="$zl_min" '
		!/^#/ { if (first == "") first = $0; if ($1 <= zl) pick = $0 }
		END { $0 = pick != "" ? pick : first; print $1 + 0, $7 + 0, $8 + 0, $15 + 0, $16 + 0, $9 + 0 }' "$dat")
	maxa=$(awk '!/^#/ && $3 > m { m = $3 } END { print m + 0 }' "$dat")
	maxn=$(awk '!/^#/ && $13 > m { m = $13 } END { print m + 0 }' "$dat")
	maxb=$(awk '!/^#/ && $5 > m { m = $5 } END { print m + 0 }' "$dat")
	minratio_a=$(awk -v zl="$ZL_B" '!/^#/ && $1 <= zl { if (m == "" || $6 < m) m = $6 } END { print m + 0 }' "$dat")
	minratio_n=$(awk -v zl="$ZL_B" '!/^#/ && $1 <= zl { if (m == "" || $14 < m) m = $14 } END { print m + 0 }' "$dat")
	echo "$size $ZL_A $ZL_N $ZL_B $gen_max $maxa $maxn $maxb $minratio_a $minratio_n" \
		"$cpu_load $cpu_a $gcpu_a $cpu_n $gcpu_n $gcpu_b $half" \
		"$LAT_A50 $LAT_A99 $LAT_N50 $LAT_N99 $LAT_B50 $LAT_B99 $LAT_NA $LAT_NN $LAT_NB" >>"$results"
done

# The fast path's counters in droverd's stats once every path and size is
# measured; read before the queue comparison, which shrinks the queue count
# (droverd's per-thread counters, packets and fast_learned among them, lose
# the removed thread's counts).
fast_keys=(fast_packets fast_bytes fast_learned fast_learn_errors packets fast_declined_stale
	fast_declined_idle fast_declined_no_heartbeat fast_declined_too_big fast_declined_not_forwarded
	fast_encap_errors)
fast_end=()
read -r -a fast_end < <(global_stats "${fast_keys[@]}")
fast_text=
for i in "${!fast_keys[@]}"; do
	fast_text="$fast_text ${fast_keys[$i]}=${fast_end[$i]:-?}"
done
log "droverd's counters at the end of the measurements:$fast_text"

if [ "$ipv6" -eq 1 ]; then
	: >"$state/family.rows"
	# Every IPv6 client's first packets, and the neighbours, before anything is
	# measured: A first with at least two packets per client, so that droverd
	# records each client and the fast path knows them all.
	fam=6
	fam_tag=6
	read -r v6_fast0 v6_6in40 < <(global_stats fast_ipv6_packets fast_ipv6_6in4_packets)
	run A 84 "$warm"
	run N 84 20000
	run B 84 20000
	fam=4
	fam_tag=
	while read -r size _ zln _ gmax _; do
		gen_max=$gmax
		family_compare "$size" "$zln"
	done <"$results"
	read -r v6_fast1 v6_6in41 < <(global_stats fast_ipv6_packets fast_ipv6_6in4_packets)
	v6_fast=$((${v6_fast1:-0} - ${v6_fast0:-0}))
	v6_6in4=$((${v6_6in41:-0} - ${v6_6in40:-0}))
	log "IPv6 wrapped by the fast path: fast_ipv6_packets $v6_fast, of them 6in4 $v6_6in4"
	# Medians per size, family, path and load.
	python3 - "$state/family.rows" >"$state/family.txt" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    size, fam, mode, kind, offered, rate, loss, cpu, gcpu, fast = line.split()
    rows.setdefault((int(size), fam, mode, kind), []).append(
        (float(offered), float(rate), float(loss), float(cpu), float(gcpu), int(fast)))
for (size, fam, mode, kind), v in sorted(rows.items()):
    med = [statistics.median(x[i] for x in v) for i in range(5)]
    print(size, fam, mode, kind, len(v), "%.0f %.0f %.6f %.4f %.4f" % tuple(med),
          sum(x[5] for x in v))
PY
fi

if [ "$queues" -eq 2 ]; then
	first=${sizes%% *}
	read -r _ _ _ zlb _ <"$results"
	queue_compare "$first" "$zlb"
fi

# Each path's measured trials (after the warm-up): packets sent, delivered,
# wrapped by the fast path, and received by droverd from its queues.
awk -v from="$measured_from" '$1 >= from {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		p = v["mode"]; n[p]++; sent[p] += v["sent"]; dl[p] += v["delivered"]
		fast[p] += v["fast_packets"]; nfq[p] += v["nfq_packets"] }
	END { split("A N B", order, " ")
		for (i = 1; i <= 3; i++) { p = order[i]
			printf "%s %d %.0f %.0f %.0f %.0f\n", p, n[p], sent[p], dl[p], fast[p], nfq[p] } }' \
	"$runs" >"$state/paths.txt"
while read -r p n sent dl f nfq; do
	log "path $p: $n trials, $sent sent, $dl delivered, $f wrapped by the fast path, $nfq through NFQUEUE"
done <"$state/paths.txt"
[ "$fast_leaks" -eq 0 ] ||
	log "WARNING: the fast path wrapped packets in $fast_leaks N or B trial(s) (see runs.log)"

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
log "load after: $load_after"
ps -eo pid,ni,pcpu,comm --sort=-pcpu | head -n 6 >"$state/load-after.txt"

if [ "$quick" -eq 1 ]; then "$micro" --quick; else "$micro"; fi >"$out/micro.txt"

# ---- the plot ----
plot=
if command -v gnuplot >/dev/null; then
	plot=$out/delivered.png
	{
		echo "set terminal png size 1200,520"
		echo "set output '$plot'"
		echo "set multiplot layout 1,$(echo "$sizes" | wc -w)"
		echo "set key top left"
		echo "set grid"
		echo "set xlabel 'offered load asked of the generator (kpps)'"
		echo "set ylabel 'delivered (kpps)'"
		for size in $sizes; do
			echo "set title '$size-byte packets: A drover fast path, N NFQUEUE only, B kernel'"
			echo "plot '$out/sweep-$size.dat' using (\$1/1000):(\$3/1000) with linespoints title 'A drover (fast path)', \\"
			echo "     '' using (\$1/1000):(\$13/1000) with linespoints title 'N drover, NFQUEUE only', \\"
			echo "     '' using (\$1/1000):(\$5/1000) with linespoints title 'B kernel forwarding', \\"
			echo "     x with lines dashtype 2 title 'delivered = offered'"
		done
		echo "unset multiplot"
	} >"$state/plot.gp"
	gnuplot "$state/plot.gp" 2>"$state/gnuplot.err" || { log "gnuplot: $(cat "$state/gnuplot.err")"; plot=; }
fi

# ---- the table ----
a_label="A drover (fast path)"
[ "$fast_ok" -eq 1 ] || a_label="A drover (fast path NOT running)"
# zl_text ZL GEN_MAX: a zero-loss rate, marked when it is the generator's ceiling.
zl_text() {
	if ge "$1" "$(calc "$2 * 0.98")"; then echo "≥ $1 (generator ceiling)"; else echo "$1"; fi
}
{
	echo "# drover bench results"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, kernel $(uname -r);" \
		"$proxies proxies, $queues queue(s), trials of $duration s, $reps repetition(s)" \
		"per point (medians), A, N and B alternating in one run."
	echo "A: drover as shipped, the FORWARD → NFQUEUE rule and \`fast_path true\` (a client's first"
	echo "packet through droverd, the later ones wrapped by the tc BPF program in the kernel);"
	echo "N: drover with \`fast_path false\` (every packet through NFQUEUE and droverd);"
	echo "B: plain kernel forwarding (no NFQUEUE rule, \`fast_path false\`)."
	echo
	if [ "$fast_ok" -eq 1 ]; then
		echo "Fast path running: after the warm-up, fast_packets $warm_fast, fast_learned $warm_learned."
	else
		echo "**WARNING: the kernel fast path was NOT running**: fast_packets ${warm_fast:-unknown} after the"
		echo "warm-up (droverd: ${fast_why:-no reason in its log})."
		echo "Path A below is NFQUEUE with \`fast_path true\`, **not** the fast path: its figures say"
		echo "nothing about the fast path."
	fi
	if [ "$fast_leaks" -ne 0 ]; then
		echo
		echo "**WARNING: the fast path wrapped packets during $fast_leaks N or B trial(s)** (runs.log," \
			"fast_packets): those trials did not measure the path they are listed under."
	fi
	echo
	echo "Zero-loss: at most $(calc "$loss_tol * 100")% lost, generator at ≥ $(calc "$gen_keepup * 100")%" \
		"of the asked rate; $search_steps binary-search steps from the generator's ceiling" \
		"(64 B: $gen_max64 pps, 1400 B: $gen_max1400 pps)."
	echo "Load average (1, 5, 15 min) before: $load_before; after: $load_after. Every trial is in runs.log."
	echo
	echo "| size | path | zero-loss rate (pps) | max delivered (pps) | path/B at zero-loss | min path/B up to B's zero-loss | CPU µs/pkt | latency p50 / p99 (µs) at half the lowest zero-loss rate |"
	echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
	while read -r size zla zln zlb gmax maxa maxn maxb minra minrn _ cpua gcpua cpun gcpun gcpub half \
		la50 la99 ln50 ln99 lb50 lb99 na nn nb; do
		echo "| $size | $a_label | $(zl_text "$zla" "$gmax") | $(fmt "$maxa" %.0f) |" \
			"$(fmt "$(calc "$zlb > 0 ? $zla / $zlb : 0")" %.2f) | $(fmt "$minra" %.2f) |" \
			"droverd $(fmt "$cpua" %.3f) + sender $(fmt "$gcpua" %.2f) | $la50 / $la99 (n=$na, $half pps) |"
		echo "| $size | N drover, NFQUEUE only | $(zl_text "$zln" "$gmax") | $(fmt "$maxn" %.0f) |" \
			"$(fmt "$(calc "$zlb > 0 ? $zln / $zlb : 0")" %.2f) | $(fmt "$minrn" %.2f) |" \
			"droverd $(fmt "$cpun" %.3f) + sender $(fmt "$gcpun" %.2f) | $ln50 / $ln99 (n=$nn) |"
		echo "| $size | B kernel | $(zl_text "$zlb" "$gmax") | $(fmt "$maxb" %.0f) | | |" \
			"sender $(fmt "$gcpub" %.2f) | $lb50 / $lb99 (n=$nb) |"
		echo "| $size | added by drover (A − B) | | | | | | $(calc "$la50 - $lb50") / $(calc "$la99 - $lb99") |"
		echo "| $size | added by drover (N − B) | | | | | | $(calc "$ln50 - $lb50") / $(calc "$ln99 - $lb99") |"
	done <"$results"
	echo
	echo "CPU µs/pkt: droverd's own threads (/proc/PID/task/*/schedstat) per packet delivered, and"
	echo "the generator's user+system time per packet sent (gen_cpu), at the sweep's highest load at"
	echo "or below the lowest of the three zero-loss rates ($(awk '{ printf "%s%s B: %s pps", (NR > 1 ? "; " : ""), $1, $11 }' "$results"))."
	echo "gen_cpu includes the kernel's work done in the sender's context (with veths, the receive"
	echo "side's softirq): with B the whole trip, with A also the tc BPF program and its IPIP wrapping,"
	echo "with N the way up to the queue (droverd's send is in droverd's time)."
	echo "With the fast path (A) droverd sees only each client's first packets, so droverd's CPU per"
	echo "packet covers only those; the sender's CPU per packet is the cost to compare between A, N and B."
	echo
	echo "Fast path counters (droverd's \`stats\` at the end of the measurements, before the 1 vs 2 queue"
	echo "comparison; cumulative, warm-up included):"
	echo
	echo "| counter | value |"
	echo "| --- | ---: |"
	for i in "${!fast_keys[@]}"; do
		k=${fast_keys[$i]}
		[ "$k" = packets ] && k="packets (through NFQUEUE)"
		echo "| $k | ${fast_end[$i]:-?} |"
	done
	echo
	echo "Per path, the measured trials (warm-up excluded; runs.log's fast_packets and nfq_packets):"
	echo
	echo "| path | trials | sent | delivered | wrapped by the fast path | through NFQUEUE |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: |"
	awk '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$state/paths.txt"
	echo
	if [ "$ipv6" -eq 1 ]; then
		echo "IPv6 next to IPv4 (IPv6 clients wrapped in IPv4, 6in4, to the proxies' IPv4 addresses;"
		echo "IPv4 and IPv6 A, N, B alternating at each load, $reps repetition(s), medians). On A an"
		echo "IPv6 client's first packets go through NFQUEUE, then the kernel fast path wraps the rest"
		echo "in 6in4 itself (the proxies are IPv4-only). IPv6 sizes carry the IPv4 size's TCP segment"
		echo "behind a 40-byte header: \"64\" is 84 bytes of IPv6 (the smallest packet that carries the"
		echo "bench's stamp), \"1400\" is 1420 (1440 with the 6in4 header). Flat out: the generator's"
		echo "ceiling; half: half of IPv4 N's zero-loss rate (the load for the CPU figures)."
		echo
		echo "| size IPv4 / IPv6 (bytes) | path | delivered flat out IPv4 / IPv6 (pps) | delivered at half IPv4 / IPv6 (pps) | loss at half IPv4 / IPv6 | droverd CPU µs/pkt IPv4 / IPv6 | sender CPU µs/pkt IPv4 / IPv6 |"
		echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"
		awk -v extra="$IP6_EXTRA" -v a_label="$a_label" '
			{ k = $1 " " $2 " " $3 " " $4; off[k] = $6; rate[k] = $7; loss[k] = $8 * 100; cpu[k] = $9
			  gcpu[k] = $10; sizes[$1] = 1 }
			function v(arr, s, f, m, kind, fmt) {
				k = s " " f " " m " " kind
				return (k in arr) ? sprintf(fmt, arr[k]) : "?"
			}
			END {
				n = 0; for (s in sizes) order[++n] = s + 0
				for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
					if (order[j] < order[i]) { t = order[i]; order[i] = order[j]; order[j] = t }
				for (i = 1; i <= n; i++) { s = order[i]
					split("A N B", ms, " ")
					for (x = 1; x <= 3; x++) { m = ms[x]
						printf "| %d / %d | %s | %s / %s | %s / %s | %s / %s | %s | %s / %s |\n",
							s, s + extra, (m == "A" ? a_label : m == "N" ? "N drover, NFQUEUE" : "B kernel"),
							v(rate, s, 4, m, "max", "%.0f"), v(rate, s, 6, m, "max", "%.0f"),
							v(rate, s, 4, m, "half", "%.0f"), v(rate, s, 6, m, "half", "%.0f"),
							v(loss, s, 4, m, "half", "%.2f%%"), v(loss, s, 6, m, "half", "%.2f%%"),
							(m != "B" ? v(cpu, s, 4, m, "half", "%.3f") " / " v(cpu, s, 6, m, "half", "%.3f") : ""),
							v(gcpu, s, 4, m, "half", "%.2f"), v(gcpu, s, 6, m, "half", "%.2f") }
				}
			}' "$state/family.txt"
		echo
		echo "Loss: the share of the packets sent that no proxy counted. The IPv6 trials'"
		echo "fast_packets (packets wrapped by the fast path) summed: A $(awk '$2 == 6 && $3 == "A" { s += $11 } END { print s + 0 }' "$state/family.txt"), N and B $(awk '$2 == 6 && $3 != "A" { s += $11 } END { print s + 0 }' "$state/family.txt")."
		echo "droverd's fast_ipv6_packets over the IPv6 trials and their warm-up: $v6_fast, of them 6in4 $v6_6in4."
		echo
	fi
	for size in $sizes; do
		echo "Delivered vs offered, $size-byte packets (medians; sweep-$size.dat):"
		echo
		echo "| offered (pps) | A delivered | N delivered | B delivered | A/B | N/B | A loss | N loss | B loss | droverd µs/pkt A / N | sender µs/pkt A / N / B |"
		echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
		awk '!/^#/ { printf "| %d | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f%% | %.2f%% | %.2f%% | %.3f / %.3f | %.2f / %.2f / %.2f |\n",
			$1, $3, $13, $5, $6, $14, $10 * 100, $17 * 100, $11 * 100, $7, $15, $8, $16, $9 }' \
			"$out/sweep-$size.dat"
		echo
	done
	if [ -n "${QC_1:-}" ]; then
		echo "1 vs 2 queues (path N, fast path off so every packet goes through the queues;" \
			"${sizes%% *}-byte packets offered at B's zero-loss rate): delivered" \
			"$(fmt "$QC_1" %.0f) pps with 1 queue, $(fmt "$QC_2" %.0f) pps with 2."
		echo
	fi
	echo "Micro-benchmarks (drover-bench-micro, medians; M = 65537):"
	echo
	echo "| what | value |"
	echo "| --- | ---: |"
	awk '{ printf "| %s | %s %s |\n", $1, $2, $3 }' "$out/micro.txt"
	echo
	echo "Plot: ${plot:-(gnuplot not installed)}"
	echo
	echo "Busiest processes before the run:"
	echo
	echo '```'
	cat "$state/load-before.txt"
	echo '```'
	cat "$out/paths.md"
} >"$out/results.md"
cat "$out/results.md"
