#!/bin/bash
# tests/e2e/faults6.sh - droverd against unusual and malformed IPv6 packets.
#
# The lab of tests/lab/lib.sh with IPv6 (LAB_IPV6=1, 10 clients, 2 proxies),
# the clients' IPv6 prefix among client_subnets. tests/lab/storm6.py writes
# frames straight onto the client's link (the sending kernel checks nothing):
# extension headers (hop-by-hop, destination options, a chain longer than
# droverd walks), a TCP header with a bad data offset, both fragments of a
# datagram, an ICMPv6 error about the sender's own web flow, a full-size
# packet with no room for the tunnel header, a hop limit of 1 and a payload
# length longer than the packet. Every one is counted, by the
# kernel's IPv6 input (it never reaches the queue) or by droverd (carried to
# a proxy in 6in4, answered with a Packet Too Big or its rate limit, or
# malformed by reason); the storm is sent twice, the
# second time fast; droverd survives with the same pid. Then droverd is
# stopped with fail_open on and a short queue: IPv6 packets the full queue
# cannot hold pass directly, the held ones are handled after SIGCONT, none is
# lost. Counts are asserted, never times.
# Prints "ok - ..." / "not ok - ..." lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-df6}
LAB_STATE=/tmp/drover-e2e-faults6.$$
LAB_CLIENTS=10
LAB_PROXIES=2
LAB_IPV6=1
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"
# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"
STORM6=$here/../lab/storm6.py

trap lab_down EXIT
trap 'exit 1' INT TERM

dstats() { lab_droverctl --json stats | jq -c .global; }
jget() { jq -r "$1 // 0" <<<"$2"; }
mib() { lab_exec app nstat -az 2>/dev/null | awk -v k="$1" '$1 == k { print $2 }'; }
kernel_errs() { echo $(($(mib Ip6InHdrErrors) + $(mib Ip6InTruncatedPkts))); }

if ! lab_up || ! lab_start_droverd; then
	fail "lab world with droverd builds" "$(tail -n 3 "$LAB_STATE/droverd.log" 2>/dev/null | tr '\n' ' ')"
	exit 1
fi
lab_exec sw sysctl -qw net.bridge.bridge-nf-call-ip6tables=0 2>/dev/null
if ! lab_droverctl settings set client_subnets "$LAB_LAN_PREFIX.0/24,$LAB_CLIENT_RANGE6" >/dev/null; then
	fail "client_subnets takes the clients' IPv6 prefix"
	exit 1
fi
pass "lab world with droverd, IPv6 client prefix $LAB_CLIENT_RANGE6 steered"

mac=$(ip -n "$(lab_ns app)" -j link show lan0 | jq -r '.[0].address')
pfx=${LAB_CLIENT_RANGE6%/*}
N=200
storm_once() { # storm_once COUNT RATE -> per-class "CLASS SENT" lines
	lab_exec cli python3 "$STORM6" --dev eth0 --dst-mac "$mac" --src-prefix "$pfx" \
		--origin "$LAB_ORIGIN6" --count "$1" --rate "$2"
}
# The classes' outcomes: 2 stop in the kernel (hlim1, plen_long); 8 reach
# droverd: 2 malformed (ext_count, tcp_doff), 5 carried to a proxy (ext_hbh,
# ext_dst, frag_first, frag_tail, icmp_own) and 1 too big for the tunnel
# (too_big: a Packet Too Big to its client, or rate limited per client). New clients are placed
# by the first three only (100 each, the first time): a datagram's later
# fragment, a packet too big and an ICMPv6 error about a client's own flow follow the client
# its earlier packets placed.
placed_first=1
storm_check() { # storm_check COUNT RATE LABEL
	local n=$1 rate=$2 label=$3 pid0 k0 s0 s1 sent kern dp reasons enc enc6 deltas
	pid0=$(cat "$LAB_STATE/droverd.pid")
	k0=$(kernel_errs)
	s0=$(dstats)
	sent=$(storm_once "$n" "$rate" | awk '{ t += $2 } END { print t + 0 }')
	storm_counted() {
		[ $(($(kernel_errs) - k0)) -ge $((2 * n)) ] &&
			[ $(($(jget .ipv6_packets "$(dstats)") - $(jget .ipv6_packets "$s0"))) -ge $((8 * n)) ]
	}
	lab_wait "$LAB_WAIT_S" storm_counted
	s1=$(dstats)
	kern=$(($(kernel_errs) - k0))
	dp=$(($(jget .ipv6_packets "$s1") - $(jget .ipv6_packets "$s0")))
	enc6=$(($(jget .ipv6_encapsulated "$s1") - $(jget .ipv6_encapsulated "$s0")))
	enc=$(($(jget .encapsulated "$s1") - $(jget .encapsulated "$s0")))
	reasons=$(jq -nc --argjson a "$s0" --argjson b "$s1" '$b.malformed_by_reason | with_entries(.value -= ($a.malformed_by_reason[.key] // 0)) | with_entries(select(.value != 0))')
	deltas=$(jq -nc --argjson a "$s0" --argjson b "$s1" '$b | with_entries(select((.value | type) == "number")) | with_entries(.value -= ($a[.key] // 0)) | with_entries(select(.value != 0))')
	local ptb ptbl
	ptb=$(($(jget .packet_too_big_sent "$s1") - $(jget .packet_too_big_sent "$s0")))
	ptbl=$(($(jget .packet_too_big_rate_limited "$s1") - $(jget .packet_too_big_rate_limited "$s0")))
	local exp_r="{\"ipv6_ext_count\":$n,\"ipv6_tcp_offset\":$n}" placed exp_placed=0
	placed=$(($(jget .ipv6_clients_placed "$s1") - $(jget .ipv6_clients_placed "$s0")))
	[ "$placed_first" -eq 1 ] && exp_placed=300
	placed_first=0
	check "$( [ "$sent" -eq $((10 * n)) ] && [ "$kern" -eq $((2 * n)) ] && [ "$dp" -eq $((8 * n)) ] &&
		[ "$ptb" -ge 1 ] && [ $((ptb + ptbl)) -eq "$n" ] &&
		[ "$reasons" = "$exp_r" ] && [ "$enc6" -eq $((5 * n)) ] && [ "$enc" -ge $((5 * n)) ] && [ "$placed" -eq "$exp_placed" ] &&
		[ "$(jget .icmp_error_unplaced "$deltas")" -eq 0 ]; echo $?)" \
		"IPv6 storm $label: every packet counted, by the kernel's IPv6 input or by droverd" \
		"sent=$sent (10 classes x $n at ${rate}/s); kernel Ip6InHdrErrors+Ip6InTruncatedPkts +$kern (expected $((2 * n))); droverd ipv6_packets +$dp (expected $((8 * n))): malformed $reasons (expected $exp_r), ipv6_encapsulated +$enc6 (expected $((5 * n))), encapsulated +$enc, Packet Too Big sent +$ptb and rate limited +$ptbl (expected $n together, at least one sent), IPv6 clients placed +$placed (expected $exp_placed: fragments, packets too big and ICMPv6 errors followed their client); droverd's counters: $deltas"
	check "$( [ "$(cat "$LAB_STATE/droverd.pid")" = "$pid0" ] && kill -0 "$pid0"; echo $?)" \
		"droverd survives the IPv6 storm $label (same pid $pid0)"
}
storm_check "$N" 2000 "paced"
[ -n "${STORM6_ONE:-}" ] || storm_check "$N" 10000 "fast"

# --- a full queue with fail_open on ---------------------------------------------
# droverd stopped (SIGSTOP), queue_maxlen 64: well-formed IPv6 web packets
# fill its queues, the rest pass them directly (--queue-bypass) and reach the
# origin. After SIGCONT droverd handles what the queues held. Every packet is
# accounted for: held and handled by droverd, or passed directly; the kernel
# drops none.
lab_droverctl settings set queue_maxlen 64 >/dev/null
qstat() { # "HELD QUEUE_DROPPED USER_DROPPED" over droverd's queues
	lab_exec app cat /proc/net/netfilter/nfnetlink_queue | awk '{ h += $3; q += $6; u += $7 } END { printf "%d %d %d\n", h, q, u }'
}
direct6() { lab_exec org ip6tables -L INPUT -v -n -x | awk '/direct6/ { print $1 + 0 }'; }
lab_exec org ip6tables -I INPUT -s "$LAB_CLIENT_RANGE6" -p tcp --dport 80 -m comment --comment direct6
pid0=$(cat "$LAB_STATE/droverd.pid")
M=2000
s0=$(dstats)
read -r _ q0 u0 < <(qstat)
kill -STOP "$pid0"
sent=$(lab_exec cli python3 "$STORM6" --dev eth0 --dst-mac "$mac" --src-prefix "$pfx" \
	--origin "$LAB_ORIGIN6" --count "$M" --rate 0 ext_hbh | awk '{ print $2 }')
all_seen() { read -r h _ _ < <(qstat); [ $((h + $(direct6))) -ge "$sent" ]; }
lab_wait "$LAB_WAIT_S" all_seen
read -r held q1 u1 < <(qstat)
direct=$(direct6)
kill -CONT "$pid0"
handled() { [ $(($(jget .ipv6_packets "$(dstats)") - $(jget .ipv6_packets "$s0"))) -ge "$held" ]; }
lab_wait "$LAB_WAIT_S" handled
s1=$(dstats)
dp=$(($(jget .ipv6_packets "$s1") - $(jget .ipv6_packets "$s0")))
enc6=$(($(jget .ipv6_encapsulated "$s1") - $(jget .ipv6_encapsulated "$s0")))
check "$( [ "$sent" -eq "$M" ] && [ "$direct" -gt 0 ] && [ "$held" -gt 0 ] && [ "$dp" -eq "$held" ] &&
	[ "$enc6" -eq "$held" ] && [ $((dp + direct)) -eq "$sent" ] && [ "$q1" -eq "$q0" ] &&
	[ "$u1" -eq "$u0" ]; echo $?)" \
	"IPv6 with droverd stopped and fail_open on: a full queue lets packets pass directly, none lost; the held ones handled after SIGCONT" \
	"sent $sent flat out; held in the queues $held, passed directly to the origin $direct; after SIGCONT droverd ipv6_packets +$dp, ipv6_encapsulated +$enc6; kernel queue_dropped +$((q1 - q0)), user_dropped +$((u1 - u0))"
check "$( [ "$(cat "$LAB_STATE/droverd.pid")" = "$pid0" ] && kill -0 "$pid0"; echo $?)" \
	"droverd runs on after SIGSTOP/SIGCONT under IPv6 load (same pid $pid0)"
