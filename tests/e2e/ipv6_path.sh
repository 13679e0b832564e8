#!/bin/bash
# tests/e2e/ipv6_path.sh - dual-stack clients' IPv6 web traffic steered to the
# IPv4-addressed proxies in IPv6-in-IPv4 (protocol 41), seen on the proxies'
# wires.
#
#              client LAN 198.18.1.0/24 + 2001:db8:1::/64 (br0)
#   +----------------+------------------+------------------+
#   $LAB-cli         $LAB-app           $LAB-px1, $LAB-px2
#   50 IPv4 .128..   198.18.1.1         198.18.1.11, .12: Squid, drover-decap
#   50 IPv6 ::100..  2001:db8:1::1      (IPv4 only; a recorder of the 6in4
#   default via .1   droverd            packets they receive on eth0)
#   and ::1          route MTU 1300 to the proxies (tunnel MTU 1280)
#                    wan0 -> nginx 198.18.64.10 / 2001:db8:64::10
#
#   1. client_subnets takes the IPv6 prefix: ip6tables chain DROVER with the
#      FORWARD jump, IPv6 forwarding on, no rule naming neighbour discovery.
#   2. Every IPv4 client address fetches a page through Squid: each in
#      exactly one Squid log.
#   3. Every IPv6 client address opens a web connection: its SYNs arrive at
#      a proxy in 6in4 from the appliance, the inner packet the client's own
#      byte for byte (hop limit one less, as any router leaves it), each
#      address at exactly one proxy, the one `droverctl lookup` names; both
#      proxies get clients.
#   4. ipv6_client_prefix 64: the same addresses' new connections all at one
#      proxy.
#   5. An IPv6 packet too big for the tunnel: the client gets a Packet Too
#      Big carrying the tunnel MTU, from the appliance's address on its LAN.
#   6. QUIC (UDP to port 443) from an IPv4 and an IPv6 client, quic_policy
#      switched live with droverctl: reject (the default) sends an ICMP /
#      ICMPv6 port unreachable from the appliance quoting each datagram,
#      seen on the client's wire, and the client's socket gets ECONNREFUSED;
#      drop: nothing comes back, nothing reaches the origin; pass: every
#      datagram reaches a UDP listener on the origin (and its echo returns).
#      quic_rejected / quic_dropped / quic_passed move by the datagrams sent,
#      in droverctl stats and in /metrics. A burst of 40 against
#      quic_reject_rate 1: every datagram rejected, the replies bounded by
#      the token bucket, the rest counted as quic_reject_rate_limited.
#   7. IPv6 prefixes removed from client_subnets: the IPv6 chain goes.
# The proxies do not decapsulate IPv6 here (that is the proxy side's work):
# the connections are never answered; what is checked is what reaches them.
# Prints "ok - ..." / "not ok - ... (figures)" lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-d6p}
LAB_STATE=/tmp/drover-e2e-ipv6-path.$$
LAB_CLIENTS=50
LAB_PROXIES=2
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"
# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

NET6=2001:db8:1
APPLIANCE6=$NET6::1
WAN6=2001:db8:64::1
ORIGIN6=2001:db8:64::10
CLIENTS6=50
PATH_MTU=1300
TUNNEL_MTU=$((PATH_MTU - 20))
BIG=1400

trap lab_down EXIT
trap 'exit 1' INT TERM

client6() {
	printf '%s::%x' "$NET6" $((0x100 + $1))
}

# The IPv6 half of the world, and a narrower path to the proxies.
lab_up_ipv6() {
	local i
	ip -n "$(lab_ns app)" addr add "$APPLIANCE6/64" dev lan0 nodad || return 1
	ip -n "$(lab_ns app)" addr add "$WAN6/64" dev wan0 nodad || return 1
	ip -n "$(lab_ns org)" addr add "$ORIGIN6/64" dev eth0 nodad || return 1
	ip -n "$(lab_ns org)" route add "$NET6::/64" via "$WAN6" || return 1
	for ((i = 0; i < CLIENTS6; i++)); do
		ip -n "$(lab_ns cli)" addr add "$(client6 "$i")/64" dev eth0 nodad || return 1
	done
	ip -n "$(lab_ns cli)" -6 route add default via "$APPLIANCE6" || return 1
	for ((i = 1; i <= LAB_PROXIES; i++)); do
		ip -n "$(lab_ns app)" route add "$(lab_proxy_address "$i")/32" dev lan0 \
			mtu "$PATH_MTU" || return 1
	done
}

# capture NS MODE IFACE FILE: tests/lab/cap6.py in NS, recorded for lab_down.
capture() {
	ip netns exec "$(lab_ns "$1")" python3 "$LAB_ROOT/tests/lab/cap6.py" "$2" "$3" "$4" \
		</dev/null >>"$LAB_STATE/cap.log" 2>&1 &
	lab_record "cap-$1" "$!" python3
}

# syns FIRST COUNT: every IPv6 client address opens a connection to the
# origin (never answered: it gives up after its SYN and two retries).
syns() {
	local i pids=()
	for ((i = 0; i < CLIENTS6; i++)); do
		lab_exec cli curl -6 -g -sS -o /dev/null --interface "$(client6 "$i")" \
			--connect-timeout 4 --max-time 5 "http://[$ORIGIN6]/" 2>/dev/null &
		pids+=($!)
	done
	wait "${pids[@]}" 2>/dev/null
}

if ! lab_up || ! lab_up_ipv6 || ! lab_start_droverd; then
	fail "lab setup" "$(tail -n 5 "$LAB_STATE/droverd.log" 2>/dev/null)"
	exit 1
fi

# ---- 1. steering ----
lab_droverctl settings set client_subnets "$LAB_LAN_PREFIX.0/24,$NET6::/64" >/dev/null
chain=$(lab_exec app ip6tables -S DROVER 2>&1)
jump=$(lab_exec app ip6tables -S FORWARD 2>&1 | grep -c -- '-j DROVER')
forwarding=$(lab_exec app cat /proc/sys/net/ipv6/conf/all/forwarding)
echo "$chain" | grep -q -- "-s $NET6::/64 -p tcp -m multiport --dports 80,443 -j NFQUEUE" &&
	[ "$jump" = 1 ] && [ "$forwarding" = 1 ] &&
	! echo "$chain" | grep -Eq 'icmpv6-type (13[3-7]|neighbo|router)'
check $? "IPv6 client subnet: ip6tables chain and FORWARD jump, IPv6 forwarding on" \
	"jumps $jump, forwarding $forwarding, $(echo "$chain" | grep -c -- '-A DROVER') rules"

# ---- 2. IPv4 clients as before ----
answered=0
for a in $(lab_client_addresses); do
	lab_client_curl "$a" "http://$LAB_ORIGIN/" | grep -q "$LAB_MARKER" && answered=$((answered + 1))
done
in_logs=$( (lab_squid_clients 1; lab_squid_clients 2) | sort | uniq -c | awk '$1 == 1' | wc -l)
[ "$answered" = "$LAB_CLIENTS" ] && [ "$in_logs" = "$LAB_CLIENTS" ]
check $? "IPv4 clients next to IPv6 ones: every request answered, each client in one Squid log" \
	"$answered/$LAB_CLIENTS answered, $in_logs in exactly one log"

# ---- 3. IPv6 clients in 6in4 ----
for ((i = 1; i <= LAB_PROXIES; i++)); do
	capture "px$i" 6in4 eth0 "$LAB_STATE/px$i.6in4"
done
capture cli sent eth0 "$LAB_STATE/cli.sent"
lab_wait "$LAB_WAIT_S" test -e "$LAB_STATE/cli.sent"
for ((i = 1; i <= LAB_PROXIES; i++)); do
	lab_wait "$LAB_WAIT_S" test -e "$LAB_STATE/px$i.6in4"
done
sleep 0.5
syns
sleep 1
# Where droverctl says each client goes.
for ((i = 0; i < CLIENTS6; i++)); do
	lab_droverctl --json lookup "$(client6 "$i")" |
		python3 -c 'import json, sys
r = json.load(sys.stdin); print(r["client"], (r.get("proxy") or {}).get("address"), r["reason"])'
done >"$LAB_STATE/lookup"
for ((i = 1; i <= LAB_PROXIES; i++)); do
	wc -l <"$LAB_STATE/px$i.6in4" >"$LAB_STATE/px$i.mark"
done

# analyse PHASE: checks the 6in4 packets the proxies received (after their
# .mark line for phase 2) against what the client sent; prints one line of
# figures, exits 0 when every check holds.
analyse() {
	python3 - "$LAB_STATE" "$LAB_PROXIES" "$CLIENTS6" "$LAB_APPLIANCE" "$1" <<-'EOF'
		import ipaddress, sys
		state, nproxies, nclients, appliance, phase = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
		def completed(text):
		    # The client's capture holds its TCP checksum as its offload left it
		    # (partial); what droverd sends the proxy carries the complete one,
		    # what the kernel fast path sends keeps the partial one (the proxy's
		    # decapsulator completes it): either is the client's packet.
		    b = bytearray.fromhex(text)
		    if len(b) < 60 or b[6] != 6:
		        return text
		    b[56] = b[57] = 0
		    data = bytes(b[8:40]) + (len(b) - 40).to_bytes(4, "big") + bytes([0, 0, 0, 6]) + bytes(b[40:])
		    if len(data) % 2:
		        data += b"\0"
		    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
		    while total >> 16:
		        total = (total & 0xFFFF) + (total >> 16)
		    total = ~total & 0xFFFF or 0xFFFF
		    b[56], b[57] = total >> 8, total & 0xFF
		    return b.hex()
		raw = [l.strip() for l in open(state + "/cli.sent") if l.strip()]
		sent = set(completed(x) for x in raw) | set(raw)
		where, packets, bad, diff = {}, [0] * (nproxies + 1), 0, ""

		for p in range(1, nproxies + 1):
		    lines = open("%s/px%d.6in4" % (state, p)).read().splitlines()
		    mark = int(open("%s/px%d.mark" % (state, p)).read())
		    lines = lines[:mark] if phase == "1" else lines[mark:]
		    for line in lines:
		        src, dst, inner = line.split()
		        b = bytearray.fromhex(inner)
		        if src != appliance or dst != "198.18.1.%d" % (10 + p):
		            bad += 1
		            continue
		        b[7] += 1  # the appliance forwarded it: one hop less
		        if b.hex() not in sent:
		            if bad == 0:
		                # The sent packet of the same length and ports closest to it: where they differ.
		                near = [bytes.fromhex(x) for x in sent if len(x) == len(b.hex())]
		                if near:
		                    best = min(near, key=lambda x: sum(1 for i in range(len(x)) if x[i] != b[i]))
		                    diff = "bytes differing from the nearest sent packet: %s" % [i for i in range(len(b)) if best[i] != b[i]]
		            bad += 1
		            continue
		        client = str(ipaddress.IPv6Address(bytes(b[8:24])))
		        where.setdefault(client, set()).add(p)
		        packets[p] += 1
		lookup = {}
		for line in open(state + "/lookup"):
		    c, proxy, reason = line.split()
		    lookup[c] = proxy
		one = sum(1 for c in where if len(where[c]) == 1)
		agree = sum(1 for c in where if len(where[c]) == 1 and lookup.get(c) == "198.18.1.%d" % (10 + next(iter(where[c]))))
		per_proxy = [sum(1 for c in where if where[c] == {p}) for p in range(1, nproxies + 1)]
		print("%d client addresses seen, %d at exactly one proxy, clients per proxy %s, 6in4 "
		      "packets per proxy %s, %d not the client's packet byte for byte, lookup agrees "
		      "for %d%s" % (len(where), one, per_proxy, packets[1:], bad, agree, diff and "; " + diff))
		if phase == "1":
		    ok = len(where) == nclients and one == nclients and bad == 0 and agree == nclients and min(per_proxy) > 0
		else:
		    ok = len(where) == nclients and one == nclients and bad == 0 and max(per_proxy) == nclients
		sys.exit(0 if ok else 1)
	EOF
}
figures=$(analyse 1)
check $? "$CLIENTS6 IPv6 clients: 6in4 to the proxies, inner packet byte for byte, each address at one proxy, the one lookup names" "$figures"
encap6=$(lab_counter ipv6_encapsulated)
placed=$(lab_counter ipv6_clients_placed)
[ "$placed" = "$CLIENTS6" ]
check $? "each IPv6 client placed once, then kept by affinity" \
	"ipv6_clients_placed $placed, ipv6_encapsulated $encap6"

# ---- 4. a /64 on one proxy ----
lab_droverctl settings set ipv6_client_prefix 64 >/dev/null
syns
sleep 1
figures=$(analyse 2)
check $? "ipv6_client_prefix 64: the /64's addresses all at one proxy" "$figures"

# ---- 5. Packet Too Big ----
before=$(lab_counter packet_too_big_sent)
answer=$(lab_exec cli python3 "$LAB_ROOT/tests/lab/big6.py" "$(client6 0)" "$ORIGIN6" 80 "$BIG" 30)
after=$(lab_counter packet_too_big_sent)
[ "$answer" = "mtu $TUNNEL_MTU from $APPLIANCE6" ] && [ "$after" -gt "$before" ]
check $? "a $BIG-byte IPv6 packet, tunnel MTU $TUNNEL_MTU: Packet Too Big from the appliance" \
	"client got: $answer; packet_too_big_sent $before -> $after"

# ---- 6. the QUIC policy ----
QUIC_DATAGRAMS=10
QUIC_PORT=443
ip netns exec "$(lab_ns org)" python3 "$LAB_ROOT/tests/lab/quic.py" listen "$LAB_ORIGIN" "$ORIGIN6" "$QUIC_PORT" \
	"$LAB_STATE/quic.rx" </dev/null >>"$LAB_STATE/quic.log" 2>&1 &
lab_record quic-listener "$!" python3
lab_wait "$LAB_WAIT_S" test -e "$LAB_STATE/quic.rx"
rules4=$(lab_exec app iptables -S DROVER | grep -c -- "-p udp -m udp --dport $QUIC_PORT -j NFQUEUE")
rules6=$(lab_exec app ip6tables -S DROVER | grep -c -- "-p udp -m udp --dport $QUIC_PORT -j NFQUEUE")
default=$(lab_droverctl settings get quic_policy)
[ "$rules4" = 1 ] && [ "$rules6" = 1 ] && [ "$default" = reject ]
check $? "QUIC from the client subnets queued in both families; quic_policy reject by default" \
	"IPv4 rules $rules4, IPv6 rules $rules6, quic_policy $default"

# quic_counters: quic_rejected quic_reject_sent quic_dropped quic_passed, on one line.
quic_counters() {
	lab_droverctl --json stats | python3 -c "import json,sys
g = json.load(sys.stdin)['global']
print(*(g[k] for k in ('quic_rejected', 'quic_reject_sent', 'quic_dropped', 'quic_passed')))"
}

for policy in reject drop pass; do
	lab_droverctl settings set quic_policy "$policy" >/dev/null
	for family in 4 6; do
		if [ "$family" = 4 ]; then
			src=$(lab_client_address 0) dst=$LAB_ORIGIN from=$LAB_APPLIANCE
		else
			src=$(client6 0) dst=$ORIGIN6 from=$APPLIANCE6
		fi
		before=$(quic_counters)
		rx_before=$(wc -l <"$LAB_STATE/quic.rx")
		seen=$(lab_exec cli python3 "$LAB_ROOT/tests/lab/quic.py" send "$src" "$dst" "$QUIC_PORT" \
			"$QUIC_DATAGRAMS" eth0)
		after=$(quic_counters)
		rx=$(($(wc -l <"$LAB_STATE/quic.rx") - rx_before))
		figures=$(python3 - "$policy" "$family" "$QUIC_DATAGRAMS" "$from" "$before" "$after" "$rx" "$seen" <<-'EOF'
			import json, sys
			policy, family, n, source = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
			before, after = [list(map(int, a.split())) for a in sys.argv[5:7]]
			rx, seen = int(sys.argv[7]), json.loads(sys.argv[8])
			rejected, sent_icmp, dropped, passed = (a - b for a, b in zip(after, before))
			icmp, refused, echoes = seen["icmp"], seen["refused"], seen["echoes"]
			from_appliance = sum(1 for a in seen["icmp_from"] if a == source)
			print("IPv%s %s: %d datagrams sent; quic_rejected +%d (port unreachables sent +%d), "
			      "quic_dropped +%d, quic_passed +%d; ICMP port unreachables on the client's wire %d "
			      "(%d from %s, %d quoting the datagram whole%s), ECONNREFUSED on the socket %d; "
			      "datagrams at the origin's listener %d, echoes back %d"
			      % (family, policy, seen["sent"], rejected, sent_icmp, dropped, passed, icmp,
			         from_appliance, source, seen["quote_whole"],
			         ", %d with a good checksum" % seen["icmp_checksum_ok"] if family == "4" else "",
			         refused, rx, echoes))
			ok = seen["sent"] == n
			if policy == "reject":
			    ok = ok and rejected == n and sent_icmp == n and dropped == passed == 0 and icmp == n \
			        and from_appliance == n and seen["quote_whole"] == n and refused >= 1 \
			        and rx == 0 and echoes == 0 and (family == "6" or seen["icmp_checksum_ok"] == n)
			elif policy == "drop":
			    ok = ok and dropped == n and rejected == passed == 0 and icmp == 0 and refused == 0 \
			        and rx == 0 and echoes == 0
			else:
			    ok = ok and passed == n and rejected == dropped == 0 and icmp == 0 and refused == 0 \
			        and rx == n and echoes == n
			sys.exit(0 if ok else 1)
		EOF
		)
		check $? "quic_policy $policy, IPv$family: the configured outcome, counted per datagram" \
			"$figures"
	done
done
lab_droverctl settings set quic_policy reject >/dev/null

# A flood against quic_reject_rate 1: each datagram rejected, the replies
# bounded by the token bucket, what is over it counted and unanswered.
QUIC_FLOOD=40
lab_droverctl settings set quic_reject_rate 1 >/dev/null
flood_counters() {
	lab_droverctl --json stats | python3 -c "import json,sys
g = json.load(sys.stdin)['global']
print(*(g[k] for k in ('quic_rejected', 'quic_reject_sent', 'quic_reject_rate_limited')))"
}
read -r r0 s0 l0 <<<"$(flood_counters)"
seen=$(lab_exec cli python3 "$LAB_ROOT/tests/lab/quic.py" send "$(lab_client_address 1)" \
	"$LAB_ORIGIN" "$QUIC_PORT" "$QUIC_FLOOD" eth0 burst)
read -r r1 s1 l1 <<<"$(flood_counters)"
icmp=$(echo "$seen" | python3 -c 'import json, sys; print(json.load(sys.stdin)["icmp"])')
rejected=$((r1 - r0)) replied=$((s1 - s0)) limited=$((l1 - l0))
[ "$rejected" = "$QUIC_FLOOD" ] && [ $((replied + limited)) = "$QUIC_FLOOD" ] &&
	[ "$replied" -ge 1 ] && [ "$limited" -ge 1 ] && [ "$icmp" = "$replied" ]
check $? "a QUIC flood against quic_reject_rate 1: replies bounded by the bucket, the rest dropped and counted" \
	"$QUIC_FLOOD datagrams at once: quic_rejected +$rejected, port unreachables sent +$replied (on the client's wire $icmp), quic_reject_rate_limited +$limited"
lab_droverctl settings set quic_reject_rate 1000 >/dev/null
# The same counters in /metrics (loopback may scrape by default).
ctl=$(quic_counters)
metrics=$(lab_exec app curl -sS --max-time 10 http://127.0.0.1:8080/metrics |
	awk '$1 ~ /^drover_datapath_quic_(rejected|reject_sent|dropped|passed)_total$/ {v[$1] = $2}
	END {print v["drover_datapath_quic_rejected_total"], v["drover_datapath_quic_reject_sent_total"],
	           v["drover_datapath_quic_dropped_total"], v["drover_datapath_quic_passed_total"]}')
[ "$metrics" = "$ctl" ] && [ "${ctl#* * }" = "$((2 * QUIC_DATAGRAMS)) $((2 * QUIC_DATAGRAMS))" ]
check $? "/metrics: the QUIC counters as droverctl stats shows them" \
	"rejected, reject_sent, dropped, passed: droverctl $ctl, /metrics $metrics"

# ---- 7. the IPv6 chain follows the setting ----
lab_droverctl settings set client_subnets "$LAB_LAN_PREFIX.0/24" >/dev/null
left=$(lab_exec app ip6tables -S 2>/dev/null | grep -c DROVER)
[ "$left" = 0 ]
check $? "IPv6 prefixes removed from client_subnets: no IPv6 chain left" "$left lines name it"

malformed=$(lab_droverctl --json stats | python3 -c "import json,sys
r = json.load(sys.stdin)['global']['malformed_by_reason']; print(sum(1 for k in r if k.startswith('ipv6_')))")
[ "$malformed" -gt 0 ]
check $? "IPv6 parse failures reported by reason" "$malformed ipv6_* reasons in stats"

exit $((failures > 0))
