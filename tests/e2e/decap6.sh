#!/bin/bash
# tests/e2e/decap6.sh - a proxy takes IPv6 clients' packets in 6in4 and in
# IPv6-in-IPv6 from the appliance, hands them to Squid listening on IPv6, and
# refuses them from anyone else or with a source outside the clients.
#
#   $LAB-cli 2001:db8:1::80 ---- LAN ---- $LAB-app 2001:db8:1::1 / 198.18.1.1
#      curl -6 [2001:db8:64::10]             relay.py: the client's web packets
#        ^                                   (caught on lan0, not forwarded)
#        |                                   wrapped in 6in4 or 6in6 to px1
#        | replies straight over the LAN               |
#        |                                             v
#   $LAB-px1 2001:db8:1::11 / 198.18.1.11 -> [INPUT -p 41: DROVER-IPIP, both families]
#            -> drover-decap (--from, --clients) -> drover0 (IPv4 + IPv6 address)
#            -> [ip6tables raw: DROVER-TUNNEL] -> [ip6tables nat: REDIRECT] -> Squid :3129
#   $LAB-org 2001:db8:64::10 (nginx on IPv6), also the "Internet host" of the refusals
#
# No droverd: the appliance's side of IPv6 is a small relay here, so the
# proxy's side is tested on its own. The proxy is prepared by
# drover-proxy-setup.sh (decap mode: this kernel has no sit or ip6_tunnel
# module) with an IPv4 and an IPv6 appliance address and client ranges of
# both families.
#   1. The set-up script installs the IPv6 chains, the IPv6 address on the
#      tunnel device and advmss on the route back to the IPv6 clients.
#   2. A client's IPv6 request in 6in4 and in 6in6 reaches Squid (logged with
#      its IPv6 address) and the page comes back; a 4 MB download intact; no
#      reply crosses the appliance.
#   3. 6in4 and 6in6 from an Internet host: dropped by DROVER-IPIP (iptables,
#      ip6tables) and by drover-decap (sender), whose packet socket sees
#      them first; without those rules, by drover-decap alone.
#   4. From the appliance with an inner source outside the clients: dropped
#      by drover-decap (inner_source); malformed inner packets are counted
#      (inner_length, inner_version) and drover-decap lives on.
#      The inner packets come out of drover0 byte for byte.
#   5. `up' again changes nothing; `up' with IPv4 clients only removes the
#      IPv6 rules; bad IPv6 arguments are refused; `down' leaves the rules,
#      routes and devices as they were before `up'.
# Prints "ok - ..." / "not ok - ... (figures)" lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-dv6}
LAB_STATE=/tmp/drover-e2e-decap6.$$
LAB_CLIENTS=2
LAB_PROXIES=1
LAB_IPV6=1
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"
# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

trap lab_down EXIT
trap 'exit 1' INT TERM

PROXY=$(lab_proxy_address 1)
PROXY6=$(lab_proxy_address6 1)
CLIENT6=$(lab_client_address6 0)
URL6="http://[$LAB_ORIGIN6]/"
N=40
SETUP=(bash "$LAB_ROOT/proxy/drover-proxy-setup.sh" --appliance "$LAB_APPLIANCE,$LAB_APPLIANCE6"
	--clients "$LAB_LAN_PREFIX.0/24,$LAB_CLIENT_RANGE6" --mode decap
	--tunnel-address "$LAB_TUNNEL_ADDRESS" --decap-bin "$DROVER_BUILD/drover-decap"
	--dev drover0 --pidfile "$LAB_STATE/px1/decap.pid" --decap-log "$LAB_STATE/px1/decap.log")

# count CMD TABLE CHAIN MATCH: packets counted by the rules of CHAIN matching MATCH.
count() {
	lab_exec px1 "$1" -t "$2" -L "$3" -v -x -n 2>/dev/null |
		awk -v m="$4" 'NR > 2 && $0 ~ m { n += $1 } END { print n + 0 }'
}

# to_stack: TCP SYNs from the tunnel that reached the proxy's own stack (IPv6).
to_stack() {
	lab_exec px1 ip6tables -L INPUT -v -x -n | awk '$0 ~ /drover0/ && $0 ~ /flags:/ { n += $1 }
		END { print n + 0 }'
}

# snapshot: what `up' may change on the proxy, counters left out.
snapshot() {
	local t
	for t in filter raw nat mangle; do
		lab_exec px1 iptables -t "$t" -S
		lab_exec px1 ip6tables -t "$t" -S
	done
	lab_exec px1 ip -4 route show table main
	lab_exec px1 ip -6 route show table main
	lab_exec px1 ip -o link show | awk -F': ' '{ print $2 }'
}

write_tools() {
	# relay.py MODE: the appliance's part for the clients' web packets to the
	# origin (IPv6, TCP port 80): each one, byte for byte, inside an outer
	# IPv4 (6in4) or IPv6 (6in6) header to px1. The kernel adds the outer
	# header (raw socket of protocol 41), from the appliance's address.
	# The client keeps its checksum offload on; a raw socket's packet carries
	# no checksum state, so, as the appliance's NFQUEUE path has the kernel
	# do, the relay completes the TCP checksums the capture says are not
	# ready (TP_STATUS_CSUMNOTREADY) before it sends them.
	cat >"$LAB_STATE/relay.py" <<'PY'
import socket, struct, sys

mode, dev, origin, src4, dst4, src6, dst6 = sys.argv[1:8]
origin = socket.inet_pton(socket.AF_INET6, origin)
cap = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x86DD))
cap.bind((dev, 0x86DD))
SOL_PACKET, PACKET_AUXDATA, TP_STATUS_CSUMNOTREADY = 263, 8, 1 << 3
cap.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

def complete(pkt):
    t = pkt[40:40 + struct.unpack("!H", pkt[4:6])[0]]
    t = t[:16] + b"\0\0" + t[18:]
    pseudo = pkt[8:40] + struct.pack("!IxxxB", len(t), 6)
    return pkt[:40] + t[:16] + struct.pack("!H", csum(pseudo + t)) + t[18:]

if mode == "6in4":
    out = socket.socket(socket.AF_INET, socket.SOCK_RAW, 41)
    out.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER: IP_PMTUDISC_DONT
    out.bind((src4, 0))
    to = (dst4, 0)
else:
    out = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 41)
    out.bind((src6, 0))
    to = (dst6, 0)
print("ready", flush=True)
while True:
    pkt, anc, _, addr = cap.recvmsg(65535, 64)
    if addr[2] != socket.PACKET_HOST or len(pkt) < 44:
        continue
    if pkt[6] != 6 or pkt[24:40] != origin or struct.unpack("!H", pkt[42:44])[0] != 80:
        continue
    for level, kind, data in anc:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and \
                struct.unpack_from("I", data)[0] & TP_STATUS_CSUMNOTREADY:
            pkt = complete(pkt)
    out.sendto(pkt, to)
PY
	# send.py MODE OUTER_SRC OUTER_DST INNER_SRC INNER_DST PORT COUNT [KIND]:
	# COUNT IPv6 SYNs wrapped in 6in4 or 6in6; KIND "length" breaks the inner
	# payload length, "ipv4" wraps an IPv4 packet under protocol 41.
	cat >"$LAB_STATE/send.py" <<'PY'
import socket, struct, sys

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

mode, osrc, odst, isrc, idst, port, count = sys.argv[1:8]
kind = sys.argv[8] if len(sys.argv) > 8 else "good"
sport = 31000 if kind == "mark" else 30000
s6, d6 = socket.inet_pton(socket.AF_INET6, isrc), socket.inet_pton(socket.AF_INET6, idst)
if mode == "6in4":
    out = socket.socket(socket.AF_INET, socket.SOCK_RAW, 41)
else:
    out = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 41)
out.bind((osrc, 0))
for i in range(int(count)):
    t = struct.pack("!HHIIBBHHH", sport + i, int(port), 0x2000 + i, 0, 5 << 4, 0x02, 65535, 0, 0)
    pseudo = s6 + d6 + struct.pack("!IxxxB", len(t), 6)
    t = t[:16] + struct.pack("!H", csum(pseudo + t)) + t[18:]
    plen = len(t) + (3 if kind == "length" else 0)
    # Traffic class 0xb8 and a flow label, which must come out as they went in.
    pkt = struct.pack("!IHBB", 6 << 28 | 0xb8 << 20 | (0xabcde + i), plen, 6, 64) + s6 + d6 + t
    if kind == "ipv4":
        pkt = bytes([0x45]) + pkt[1:]
    out.sendto(pkt, (odst, 0))
    if kind == "mark":
        print(pkt.hex())
PY
}

write_capture() {
	# capture.py DEV COUNT TIMEOUT_S: the hex of the first COUNT IPv6 TCP
	# packets from source port 31000.. that come out of DEV, one a line.
	cat >"$LAB_STATE/capture.py" <<'PY'
import socket, struct, sys, time

dev, count, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0003))
s.bind((dev, 0))
s.settimeout(1.0)
print("ready", file=sys.stderr, flush=True)
end, seen = time.time() + timeout, 0
while seen < count and time.time() < end:
    try:
        pkt = s.recv(65535)
    except socket.timeout:
        continue
    if len(pkt) >= 42 and pkt[0] >> 4 == 6 and pkt[6] == 6 and \
            31000 <= struct.unpack("!H", pkt[40:42])[0] < 32000:
        print(pkt.hex(), flush=True)
        seen += 1
PY
}

# relay_start MODE: starts the relay in the appliance namespace.
relay_start() {
	local pid
	: >"$LAB_STATE/relay.out"
	ip netns exec "$(lab_ns app)" python3 "$LAB_STATE/relay.py" "$1" lan0 "$LAB_ORIGIN6" \
		"$LAB_APPLIANCE" "$PROXY" "$LAB_APPLIANCE6" "$PROXY6" >>"$LAB_STATE/relay.out" 2>&1 &
	pid=$!
	lab_record relay "$pid" python3
	echo "$pid" >"$LAB_STATE/relay.pid"
	lab_wait "$LAB_WAIT_S" grep -q ready "$LAB_STATE/relay.out"
}

relay_stop() {
	local pid
	read -r pid <"$LAB_STATE/relay.pid" && lab_kill "$pid" python3
}

# send MODE NS OUTER_SRC OUTER_DST INNER_SRC INNER_DST PORT [KIND]: N datagrams.
send() {
	local mode=$1 ns=$2
	shift 2
	lab_exec "$ns" python3 "$LAB_STATE/send.py" "$mode" "$1" "$2" "$3" "$4" "$5" "$N" "${6:-good}"
}

settle() {
	sleep 1
}

# --- world -----------------------------------------------------------------
if ! lab_up; then
	fail "lab world builds (IPv6)"
	exit 1
fi
write_tools
write_capture
before=$(snapshot)
lab_exec px1 "${SETUP[@]}" up >"$LAB_STATE/setup.out" 2>&1
check $? "drover-proxy-setup.sh up (decap, appliances and clients of both families)" \
	"$(tail -n 2 "$LAB_STATE/setup.out" | tr '\n' ' ')"

# --- 1. what up installed -----------------------------------------------------
rules=$(lab_exec px1 ip6tables -S DROVER-IPIP; lab_exec px1 ip6tables -t raw -S DROVER-TUNNEL)
want=$(printf '%s\n' "-N DROVER-IPIP" "-A DROVER-IPIP -s $LAB_APPLIANCE6/128 -j RETURN" \
	"-A DROVER-IPIP -j DROP" "-N DROVER-TUNNEL" \
	"-A DROVER-TUNNEL -s $LAB_CLIENT_RANGE6 -j RETURN" "-A DROVER-TUNNEL -j DROP")
check $([ "$rules" = "$want" ]; echo $?) \
	"ip6tables: IPv6-outer tunnels from the appliance only, client sources from the tunnel only" \
	"$(echo "$rules" | tr '\n' ';')"
jumps=0
lab_exec px1 iptables -C INPUT -p 41 -j DROVER-IPIP && jumps=$((jumps + 1))
lab_exec px1 ip6tables -C INPUT -p 41 -j DROVER-IPIP && jumps=$((jumps + 1))
lab_exec px1 ip6tables -C INPUT -p 4 -j DROVER-IPIP && jumps=$((jumps + 1))
lab_exec px1 ip6tables -t raw -C PREROUTING -i drover0 -j DROVER-TUNNEL && jumps=$((jumps + 1))
lab_exec px1 ip6tables -t nat -C PREROUTING -i drover0 -j DROVER-INTERCEPT && jumps=$((jumps + 1))
redirects=$(lab_exec px1 ip6tables -t nat -S DROVER-INTERCEPT | grep -c "REDIRECT --to-ports 3129")
check $([ "$jumps" -eq 5 ] && [ "$redirects" -eq 2 ]; echo $?) \
	"the jumps: protocol 41 in both families, 4in6, raw and nat PREROUTING on drover0; REDIRECT of 80 and 443" \
	"$jumps of 5 jumps, $redirects of 2 REDIRECT rules"
addr6=$(lab_exec px1 ip -6 -o addr show dev drover0 scope global | awk '{ print $4 }')
route6=$(lab_exec px1 ip -6 -o route show exact "$LAB_CLIENT_RANGE6")
route4=$(lab_exec px1 ip -4 -o route show exact "$LAB_LAN_PREFIX.0/24")
check $([ "$addr6" = "fd64:d20f::c613:ff01/128" ] && [[ $route6 == *" advmss 1400 "* ]] &&
	[[ $route4 == *" advmss 1440 "* ]]; echo $?) \
	"drover0 has the IPv6 tunnel address; the IPv6 clients' route advmss 1400 (6in6: MTU 1500 - 100), IPv4 still 1440" \
	"drover0: $addr6; $route6; $route4"

# --- 2. a client's IPv6 request through 6in4 and 6in6 -----------------------------
lab_exec app ip6tables -A FORWARD -s "$CLIENT6" -d "$LAB_ORIGIN6" -p tcp --dport 80 -j DROP
lab_exec app ip6tables -A FORWARD -s "$LAB_ORIGIN6" -d "$CLIENT6" -p tcp --sport 80
lab_exec px1 ip6tables -A INPUT -i drover0 -p tcp --syn
for mode in 6in4 6in6; do
	if ! relay_start "$mode"; then
		fail "the $mode relay starts" "$(tail -n 3 "$LAB_STATE/relay.out")"
		continue
	fi
	written0=$(lab_decap_counter 1 "${mode}_written")
	logged0=$(lab_squid_requests 1 "$CLIENT6")
	body=$(lab_exec cli curl -6 --interface "$CLIENT6" -sS --connect-timeout 10 --max-time 60 \
		"$URL6" 2>&1)
	logged=$(($(lab_squid_requests 1 "$CLIENT6") - logged0))
	written=$(($(lab_decap_counter 1 "${mode}_written") - written0))
	check $([[ $body == *"$LAB_MARKER"* ]] && [ "$logged" -eq 1 ] && [ "$written" -gt 0 ]; echo $?) \
		"an IPv6 client's request in $mode reaches Squid, logged with the client's IPv6 address, and comes back" \
		"$written packets written to drover0, Squid logged $logged requests from $CLIENT6; reply: ${body:0:80}"
	sum=$(lab_exec cli curl -6 --interface "$CLIENT6" -sS --connect-timeout 10 --max-time 120 \
		"http://[$LAB_ORIGIN6]/big.bin" 2>/dev/null | sha256sum | cut -d' ' -f1)
	check $([ "$sum" = "$(cat "$LAB_STATE/origin/big.sha256")" ]; echo $?) \
		"a 4 MB download over IPv6 ($mode towards the proxy) arrives intact"
	relay_stop
done
crossed=$(lab_exec app ip6tables -L FORWARD -v -x -n | awk -v c="$CLIENT6" '$0 ~ /spt:80/ { n += $1 }
	END { print n + 0 }')
check $([ "$crossed" -eq 0 ]; echo $?) "no reply to the IPv6 client crosses the appliance" \
	"$crossed reply packets forwarded by the appliance"

# --- 3. 6in4 and 6in6 from an Internet host -------------------------------------
SPOOFED6=$LAB_LAN6_PREFIX::200 # a client address no host uses
for mode in 6in4 6in6; do
	if [ "$mode" = 6in4 ]; then
		cmd=iptables osrc=$LAB_ORIGIN odst=$PROXY
	else
		cmd=ip6tables osrc=$LAB_ORIGIN6 odst=$PROXY6
	fi
	# drover-decap's packet socket sees whole datagrams before the firewall:
	# both drop them.
	sender0=$(lab_decap_counter 1 "${mode}_sender")
	written0=$(lab_decap_counter 1 "${mode}_written")
	dropped0=$(count "$cmd" filter DROVER-IPIP DROP)
	stack0=$(to_stack)
	send "$mode" org "$osrc" "$odst" "$SPOOFED6" "$LAB_ORIGIN6" 80
	settle
	dropped=$(($(count "$cmd" filter DROVER-IPIP DROP) - dropped0))
	sender=$(($(lab_decap_counter 1 "${mode}_sender") - sender0))
	written=$(($(lab_decap_counter 1 "${mode}_written") - written0))
	reached=$(($(to_stack) - stack0))
	check $([ "$dropped" -eq $N ] && [ "$sender" -eq $N ] && [ "$written" -eq 0 ] && [ "$reached" -eq 0 ]; echo $?) \
		"$mode from an Internet host is dropped by $cmd DROVER-IPIP and by drover-decap" \
		"$N sent from $osrc: $dropped dropped by DROVER-IPIP, $sender by drover-decap (sender), $written written, $reached reached the proxy's stack"

	lab_exec px1 "$cmd" -D INPUT -p 41 -j DROVER-IPIP
	sender0=$(lab_decap_counter 1 "${mode}_sender")
	stack0=$(to_stack)
	send "$mode" org "$osrc" "$odst" "$SPOOFED6" "$LAB_ORIGIN6" 80
	settle
	sender=$(($(lab_decap_counter 1 "${mode}_sender") - sender0))
	reached=$(($(to_stack) - stack0))
	check $([ "$sender" -eq $N ] && [ "$reached" -eq 0 ]; echo $?) \
		"without the $cmd rule, drover-decap drops $mode from a host that is not the appliance" \
		"$N sent: $sender dropped by drover-decap (${mode}_sender), $reached reached the proxy's stack"
	lab_exec px1 "$cmd" -I INPUT -p 41 -j DROVER-IPIP
done

# --- 4. from the appliance: outside the clients, and malformed --------------------
for mode in 6in4 6in6; do
	if [ "$mode" = 6in4 ]; then
		osrc=$LAB_APPLIANCE odst=$PROXY
	else
		osrc=$LAB_APPLIANCE6 odst=$PROXY6
	fi
	inner0=$(lab_decap_counter 1 "${mode}_inner_source")
	length0=$(lab_decap_counter 1 "${mode}_inner_length")
	version0=$(lab_decap_counter 1 "${mode}_inner_version")
	stack0=$(to_stack)
	send "$mode" app "$osrc" "$odst" "$LAB_ORIGIN6" "$LAB_ORIGIN6" 3129
	send "$mode" app "$osrc" "$odst" "$CLIENT6" "$LAB_ORIGIN6" 80 length
	send "$mode" app "$osrc" "$odst" "$CLIENT6" "$LAB_ORIGIN6" 80 ipv4
	settle
	inner=$(($(lab_decap_counter 1 "${mode}_inner_source") - inner0))
	length=$(($(lab_decap_counter 1 "${mode}_inner_length") - length0))
	version=$(($(lab_decap_counter 1 "${mode}_inner_version") - version0))
	reached=$(($(to_stack) - stack0))
	check $([ "$inner" -eq $N ] && [ "$length" -eq $N ] && [ "$version" -eq $N ] &&
		[ "$reached" -eq 0 ]; echo $?) \
		"$mode from the appliance: a source outside the clients and malformed inner packets are counted, none reaches the proxy" \
		"$N of each sent: inner_source $inner, inner_length $length, inner_version $version; $reached reached the proxy's stack"
done
# The inner packets come out of drover0 byte for byte (traffic class and flow label too).
for mode in 6in4 6in6; do
	if [ "$mode" = 6in4 ]; then
		osrc=$LAB_APPLIANCE odst=$PROXY
	else
		osrc=$LAB_APPLIANCE6 odst=$PROXY6
	fi
	: >"$LAB_STATE/capture.err"
	ip netns exec "$(lab_ns px1)" python3 "$LAB_STATE/capture.py" drover0 5 30 \
		>"$LAB_STATE/captured.$mode" 2>"$LAB_STATE/capture.err" &
	cpid=$!
	lab_record capture "$cpid" python3
	lab_wait "$LAB_WAIT_S" grep -q ready "$LAB_STATE/capture.err"
	lab_exec app python3 "$LAB_STATE/send.py" "$mode" "$osrc" "$odst" "$CLIENT6" \
		"$LAB_ORIGIN6" 80 5 mark >"$LAB_STATE/sent.$mode"
	wait "$cpid"
	check $([ -s "$LAB_STATE/sent.$mode" ] &&
		[ "$(sort "$LAB_STATE/sent.$mode")" = "$(sort "$LAB_STATE/captured.$mode")" ]; echo $?) \
		"$mode: the inner IPv6 packets come out of drover0 byte for byte (traffic class, flow label)" \
		"$(wc -l <"$LAB_STATE/sent.$mode") sent, $(wc -l <"$LAB_STATE/captured.$mode") captured alike"
done
# A client's crafted SYN to the web port, in 6in4, does reach Squid.
stack0=$(to_stack)
send 6in4 app "$LAB_APPLIANCE" "$PROXY" "$CLIENT6" "$LAB_ORIGIN6" 80
settle
reached=$(($(to_stack) - stack0))
check $([ "$reached" -eq $N ]; echo $?) "a client's crafted SYNs in 6in4 from the appliance all reach the proxy's stack" \
	"$reached of $N"
pid=$(cat "$LAB_STATE/px1/decap.pid")
check $([ "$(cat "/proc/$pid/comm" 2>/dev/null)" = drover-decap ]; echo $?) \
	"drover-decap lives on after the refusals" "$(lab_decap_counters 1)"

# --- 5. up again, then down --------------------------------------------------------
lab_exec app ip6tables -F FORWARD
lab_exec px1 ip6tables -D INPUT -i drover0 -p tcp --syn
rules1=$(snapshot)
lab_exec px1 "${SETUP[@]}" up >>"$LAB_STATE/setup.out" 2>&1
check $([ $? -eq 0 ] && [ "$(snapshot)" = "$rules1" ] && [ "$(cat "$LAB_STATE/px1/decap.pid")" = "$pid" ]; echo $?) \
	"up a second time changes nothing (same rules, routes, same drover-decap)"
# up again with IPv4 clients only: the IPv6 rules go, the IPv4 ones stay.
lab_exec px1 bash "$LAB_ROOT/proxy/drover-proxy-setup.sh" "${SETUP[@]:2}" \
	--clients "$LAB_LAN_PREFIX.0/24" up >>"$LAB_STATE/setup.out" 2>&1
status=$?
v4rules=$(lab_exec px1 iptables-save | grep -c -- "-j DROVER-")
v6rules=$(lab_exec px1 ip6tables-save | grep -c DROVER)
p41=$(lab_exec px1 iptables -S INPUT | grep -c -- "-p 41")
check $([ $status -eq 0 ] && [ "$v6rules" -eq 0 ] && [ "$p41" -eq 0 ] && [ "$v4rules" -eq 3 ]; echo $?) \
	"up with IPv4 clients only removes the IPv6 rules and keeps the IPv4 ones" \
	"exit $status; ip6tables DROVER rules $v6rules, iptables -p 41 jumps $p41, iptables jumps $v4rules"
# Bad IPv6 arguments are refused before anything changes.
bad=0
for args in "--clients 2001:db8:1::/129" "--clients 2001:db8::1::/64" "--appliance 2001:db8::g" \
	"--tunnel-address6 fd00::1::2" "--mtu 1319"; do
	# shellcheck disable=SC2086 # each case is a list of words
	lab_exec px1 bash "$LAB_ROOT/proxy/drover-proxy-setup.sh" "${SETUP[@]:2}" $args up \
		>/dev/null 2>&1
	[ $? -eq 2 ] && bad=$((bad + 1))
done
check $([ "$bad" -eq 5 ]; echo $?) "the set-up script refuses bad IPv6 ranges, addresses and an MTU too small for IPv6 (exit 2)" \
	"$bad of 5 refused"
lab_exec px1 "${SETUP[@]}" down >>"$LAB_STATE/setup.out" 2>&1
status=$?
after=$(snapshot)
left=$(diff <(echo "$before") <(echo "$after"))
check $([ $status -eq 0 ] && [ -z "$left" ] && ! kill -0 "$pid" 2>/dev/null; echo $?) \
	"down leaves the rules (both families), routes and devices as they were before up; drover-decap ended" \
	"exit $status; differences: $(echo "$left" | tr '\n' ';')"
exit 0
