#!/bin/bash
# tests/e2e/fastpath6.sh - the kernel fast path carries IPv6 clients, with
# real Squid and nginx.
#
#          client LAN 198.18.1.0/24 + 2001:db8:1::/64 (br0, LAB_IPV6=1)
#   +----------------+--------------------+-------------------------+
#   $LAB-cli         $LAB-app             $LAB-px1: 198.18.1.11 and
#   2001:db8:1::80.. 2001:db8:1::1        2001:db8:1::11 (address6: 6in6)
#                    droverd, fast path   $LAB-px2: 198.18.1.12 (IPv4 only: 6in4)
#                    wan0 -> nginx [2001:db8:64::10]
#
#   1. Three requests from each IPv6 client address: every one answered
#      through a Squid, each address in exactly one Squid log; the later
#      packets of the clients on proxy 1 are wrapped in IPv6-in-IPv6 by the
#      kernel (fast_ipv6_packets), those of proxy 2's clients in 6in4
#      (fast_ipv6_6in4_packets, among them); proxy 1's hits equal the
#      connections its Squid logged.
#   2. A 4 MB download over IPv6 through each proxy intact, its client's
#      packets carried by the kernel. The clients keep their offloads on (the
#      lab's default): drover-decap completes the partial checksums.
#   3. A 2 MB upload over IPv6 through each proxy intact: the client's TSO
#      makes merged (GSO) packets, which the kernel wraps whole (in 6in6, or
#      in 6in4 with the outer family changed) and cuts on the way out (as
#      fastpath.sh does for IPv4).
# Prints "ok - ..." / "not ok - ... (figures)" lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-dp6}
LAB_STATE=/tmp/drover-e2e-fastpath6.$$
LAB_CLIENTS=12
LAB_PROXIES=2
LAB_IPV6=1
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"
# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

CLIENTS6=$LAB_LAN6_PREFIX::80/121
URL6="http://[$LAB_ORIGIN6]"
ROUNDS=3

trap lab_down EXIT
trap 'exit 1' INT TERM

# The XDP program on the veths (fast_path_mode xdp; auto leaves veths to tc).
export LAB_FAST_PATH_MODE=${LAB_FAST_PATH_MODE:-xdp}
if ! lab_up || ! lab_start_droverd; then
	fail "lab setup" "$(tail -n 5 "$LAB_STATE/droverd.log" 2>/dev/null)"
	exit 1
fi
if ! lab_droverctl settings set client_subnets "$LAB_LAN_PREFIX.0/24,$CLIENTS6" >/dev/null ||
	! lab_droverctl proxy set "$(lab_proxy_id 1)" --address6 "$(lab_proxy_address6 1)" >/dev/null ||
	! lab_proxies_setup_again; then
	fail "IPv6 client subnet, proxy 1's IPv6 address, proxies prepared for them"
	exit 1
fi
grep -q "fast path on: attached to" "$LAB_STATE/droverd.log"
check $? "droverd loads the fast path and attaches it" \
	"$(grep -m1 'fast path' "$LAB_STATE/droverd.log")"
xdp=0
[[ $(lab_counter fast_path_interfaces) == *"lan0 xdp"* ]] && xdp=1

# ---- 1. every IPv6 client address, three pages each ----
f6_0=$(lab_counter fast_ipv6_packets)
d6_0=$(lab_counter fast_ipv6_6in4_packets)
q_0=$(lab_counter ipv6_packets)
answered=0
for ((r = 0; r < ROUNDS; r++)); do
	for ((i = 0; i < LAB_CLIENTS; i++)); do
		a=$(lab_client_address6 "$i")
		lab_exec cli curl -6 -g -sS --interface "$a" --connect-timeout 10 --max-time 60 \
			"$URL6/" 2>/dev/null | grep -q "$LAB_MARKER" && answered=$((answered + 1))
	done
done
for ((i = 0; i < LAB_CLIENTS; i++)); do
	a=$(lab_client_address6 "$i")
	p=$(lab_droverctl --json lookup "$a" | python3 -c 'import json, sys
print((json.load(sys.stdin).get("proxy") or {}).get("address"))')
	echo "$a $p"
done >"$LAB_STATE/lookup"
for ((i = 1; i <= LAB_PROXIES; i++)); do
	# The appliance's own IPv6 health probes are logged too: no client.
	awk -v p="$(lab_proxy_address "$i")" -v app="$LAB_APPLIANCE6" \
		'$3 ~ /:/ && $3 != app { print $3, p }' "$LAB_STATE/px$i/squid/access.log"
done | sort -u >"$LAB_STATE/logged"
fast6=$(($(lab_counter fast_ipv6_packets) - f6_0))
in4=$(($(lab_counter fast_ipv6_6in4_packets) - d6_0))
queued6=$(($(lab_counter ipv6_packets) - q_0))
on_px1=$(awk -v p="$(lab_proxy_address 1)" '$2 == p' "$LAB_STATE/lookup" | wc -l)
on_px2=$(awk -v p="$(lab_proxy_address 2)" '$2 == p' "$LAB_STATE/lookup" | wc -l)
one=$(awk '{ n[$1]++ } END { for (c in n) if (n[c] == 1) k++; print k + 0 }' "$LAB_STATE/logged")
total=$((ROUNDS * LAB_CLIENTS))
[ "$answered" = "$total" ] && [ "$one" = "$LAB_CLIENTS" ] && [ "$(wc -l <"$LAB_STATE/logged")" = "$LAB_CLIENTS" ]
check $? "$total requests from $LAB_CLIENTS IPv6 clients answered through Squid, each address in exactly one Squid log" \
	"answered $answered of $total; $one addresses in one log; clients on px1 (6in6) $on_px1, px2 (6in4) $on_px2"
[ "$on_px1" -gt 0 ] && [ "$((fast6 - in4))" -gt $((on_px1 * ROUNDS * 3)) ]
check $? "the kernel wrapped the later IPv6 packets of proxy 1's clients in IPv6-in-IPv6" \
	"fast_ipv6_packets +$fast6 (6in6 +$((fast6 - in4))) for $on_px1 clients x $ROUNDS requests; IPv6 packets through NFQUEUE +$queued6"
[ "$on_px2" -gt 0 ] && [ "$in4" -gt $((on_px2 * ROUNDS * 3)) ]
check $? "the kernel wrapped the later IPv6 packets of proxy 2's clients (IPv4 only) in 6in4" \
	"fast_ipv6_6in4_packets +$in4 for $on_px2 clients x $ROUNDS requests"
h=$(lab_droverctl --json proxy show "$(lab_proxy_id 1)" | python3 -c "import json,sys; print(json.load(sys.stdin)['proxy']['hits'])")
# Squid's log without the appliance's probes, of either family.
s=$(awk -v a="$LAB_APPLIANCE" -v a6="$LAB_APPLIANCE6" '$3 != a && $3 != a6 { n++ }
	END { print n + 0 }' "$LAB_STATE/px1/squid/access.log")
[ "$h" -eq "$s" ]
check $? "proxy 1's hits (NFQUEUE and kernel) equal the connections its Squid logged" "hits=$h logged=$s"

# download I KIND: 4 MB down over IPv6 through proxy I, carried by the kernel.
download() {
	local i=$1 kind=$2 a f6_0 k_0 c_0 start sum took fast6 in4 completed offload
	a=$(awk -v p="$(lab_proxy_address "$i")" '$2 == p { print $1; exit }' "$LAB_STATE/lookup")
	if [ -z "$a" ]; then
		fail "4 MB download over IPv6 through px$i ($kind)" "no client on it"
		return
	fi
	f6_0=$(lab_counter fast_ipv6_packets)
	k_0=$(lab_counter fast_ipv6_6in4_packets)
	c_0=$(lab_decap_counter "$i" csum_completed)
	start=$(date +%s.%N)
	sum=$(lab_exec cli curl -6 -g -sS --interface "$a" --connect-timeout 10 --max-time 120 \
		"$URL6/big.bin" | sha256sum | cut -d' ' -f1)
	took=$(echo "$(date +%s.%N) - $start" | bc | xargs printf "%.3f")
	fast6=$(($(lab_counter fast_ipv6_packets) - f6_0))
	in4=$(($(lab_counter fast_ipv6_6in4_packets) - k_0))
	completed=$(($(lab_decap_counter "$i" csum_completed) - c_0))
	offload=$(lab_exec cli ethtool -k eth0 2>/dev/null | awk '/^tx-checksumming:/ { print $2 }')
	# Every IPv6 packet the kernel sent meanwhile went in the encapsulation of px$i.
	local want_in4=0
	[ "$kind" = 6in4 ] && want_in4=$fast6
	[ "$sum" = "$(cat "$LAB_STATE/origin/big.sha256")" ] && [ "$fast6" -gt 0 ] &&
		[ "$in4" -eq "$want_in4" ]
	check $? "4 MB download over IPv6 through px$i ($kind) intact, the client's packets sent by the kernel" \
		"client $a, sha256 ${sum:0:16}, ${took} s; fast_ipv6_packets +$fast6, of them 6in4 +$in4; client tx-checksumming ${offload:-?}; drover-decap completed $completed checksums"
}

# upload I KIND: 2 MB up over IPv6 through proxy I with the client's TSO on:
# merged packets wrapped whole by the kernel.
upload() {
	local i=$1 kind=$2 a m0 f6_0 k_0 want code got merged fast6 in4
	a=$(awk -v p="$(lab_proxy_address "$i")" '$2 == p { print $1; exit }' "$LAB_STATE/lookup")
	[ -n "$a" ] || return
	lab_exec cli ethtool -K eth0 tx on tso on >/dev/null 2>&1
	lab_exec app ethtool -K lan0 tx off >/dev/null 2>&1
	m0=$(lab_counter fast_merged)
	f6_0=$(lab_counter fast_ipv6_packets)
	k_0=$(lab_counter fast_ipv6_6in4_packets)
	head -c $((2 << 20)) /dev/urandom >"$LAB_STATE/upload.bin"
	want=$(sha256sum <"$LAB_STATE/upload.bin" | cut -d' ' -f1)
	code=$(lab_exec cli curl -6 -g -sS --interface "$a" --connect-timeout 10 --max-time 120 \
		"$URL6/upload/gro6-$kind.bin" -T "$LAB_STATE/upload.bin" -o /dev/null -w '%{http_code}')
	got=$(sha256sum <"$LAB_STATE/origin/www/upload/gro6-$kind.bin" 2>/dev/null | cut -d' ' -f1)
	merged=$(($(lab_counter fast_merged) - m0))
	fast6=$(($(lab_counter fast_ipv6_packets) - f6_0))
	in4=$(($(lab_counter fast_ipv6_6in4_packets) - k_0))
	lab_exec app ethtool -K lan0 tx on >/dev/null 2>&1
	local want_in4=0
	[ "$kind" = 6in4 ] && want_in4=$fast6
	# XDP sees frames before any merging: it carries the segments one by one.
	if [ "$xdp" = 1 ]; then
		[ "$got" = "$want" ] && [[ $code == 20[14] ]] && [ "$fast6" -gt 1000 ] &&
			[ "$in4" -eq "$want_in4" ]
		check $? "XDP carries the IPv6 upload's segments in $kind and the 2 MB upload through px$i arrives intact" \
			"status=$code sha256 ok=$([ "$got" = "$want" ] && echo yes || echo no); by the kernel: +$merged merged packets, +$fast6 IPv6 packets, of them 6in4 +$in4"
		return
	fi
	[ "$got" = "$want" ] && [[ $code == 20[14] ]] && [ "$merged" -gt 0 ] &&
		[ "$fast6" -gt "$merged" ] && [ "$in4" -eq "$want_in4" ]
	check $? "the kernel wraps merged (GSO) IPv6 upload packets whole in $kind and the 2 MB upload through px$i arrives intact" \
		"status=$code sha256 ok=$([ "$got" = "$want" ] && echo yes || echo no); by the kernel: +$merged merged packets, +$fast6 IPv6 packets counted as segments, of them 6in4 +$in4"
}

# ---- 2. 4 MB down through each proxy, carried by the kernel ----
download 1 6in6
download 2 6in4

# ---- 3. 2 MB up through each proxy: merged packets wrapped whole ----
upload 1 6in6
upload 2 6in4

exit $((failures > 0))
