#!/bin/bash
# tests/e2e/attack_ipip.sh - a proxy takes IPIP from the appliance only, and
# from the tunnel only client sources.
#
#   $LAB-org 198.18.64.10 (an Internet host)        $LAB-cli (a LAN host)
#        |  IPIP, outer source its own                 |  IPIP, outer source spoofed
#        v  (routed through the appliance)             v  as the appliance 198.18.1.1
#   $LAB-px1 eth0 198.18.1.11 -> [filter INPUT -p 4: DROVER-IPIP]
#            -> drover-decap (--from, --clients) -> drover0
#            -> [raw PREROUTING -i drover0: DROVER-TUNNEL] -> REDIRECT -> Squid
#
# The lab of tests/lab/lib.sh with one Squid; the proxy is prepared by the
# set-up script droverd generates (decap mode: this kernel has no ipip
# module, so kernel mode's tunl0 is covered by the same iptables rules,
# checked here as installed). A counting rule at the end of px1's INPUT
# (-i drover0 -p tcp --syn) shows what reached the proxy's own stack
# (Squid's sockets, REDIRECTed or not) from the tunnel.
#   1. A client's request through the appliance still reaches Squid. An
#      IPIP datagram the appliance's kernel fragmented is taken once,
#      reassembled (raw socket), and a whole one once (packet socket).
#   2. An Internet host sends IPIP carrying SYNs from a client address to
#      the web port: dropped by DROVER-IPIP on the kernel's path, and by
#      drover-decap (sender), whose packet socket sees whole datagrams
#      before the firewall (it reads their checksum state there).
#   3. The same with the DROVER-IPIP jump removed (defence in depth):
#      drover-decap drops them (sender), none reaches the proxy's stack.
#   4. A LAN host spoofs the appliance as outer source, inner source an
#      Internet address, to Squid's port on the tunnel address: drover-decap
#      drops them (inner_source), none reaches the proxy's stack.
#   5. The set-up script leaves "all" and "default" rp_filter as they were,
#      sets the tunnel device to loose, and `down' removes its chains.
# Prints "ok - ..." / "not ok - ... (figures)" lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-dip}
LAB_STATE=/tmp/drover-e2e-attack-ipip.$$
LAB_CLIENTS=4
LAB_PROXIES=1
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"
# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

trap lab_down EXIT
trap 'exit 1' INT TERM

URL=http://$LAB_ORIGIN/
PROXY=$(lab_proxy_address 1)
SPOOFED_CLIENT=$LAB_LAN_PREFIX.200 # in client_subnets, used by no host
N=50

# px_count TABLE CHAIN MATCH: packets counted by the rules of CHAIN whose text matches MATCH.
px_count() {
	lab_exec px1 iptables -t "$1" -L "$2" -v -x -n 2>/dev/null |
		awk -v m="$3" 'NR > 2 && $0 ~ m { n += $1 } END { print n + 0 }'
}

# to_stack: SYNs from the tunnel that reached the proxy's own stack.
to_stack() {
	lab_exec px1 iptables -L INPUT -v -x -n | awk '$0 ~ /drover0/ && $0 ~ /flags:/ { n += $1 }
		END { print n + 0 }'
}

# send NS OUTER_SRC INNER_SRC INNER_DST PORT: N IPIP datagrams to px1, each one SYN.
send() {
	lab_exec "$1" python3 "$LAB_STATE/ipip.py" "$2" "$PROXY" "$3" "$4" "$5" "$N"
}

# Settles the counters: what was sent has been received and counted.
settle() {
	sleep 1
}

# write_sender: the sender the attacks use, into the lab's state directory.
write_sender() {
	cat >"$LAB_STATE/ipip.py" <<'PY'
import socket, struct, sys

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

def ipv4(src, dst, proto, payload, ident):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload

def syn(src, dst, sport, dport):
    t = struct.pack("!HHIIBBHHH", sport, dport, 0x1000 + sport, 0, 5 << 4, 0x02, 65535, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(t))
    return t[:16] + struct.pack("!H", csum(pseudo + t)) + t[18:]

outer_src, outer_dst, inner_src, inner_dst, port, count = sys.argv[1:7]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
for i in range(int(count)):
    inner = ipv4(inner_src, inner_dst, 6, syn(inner_src, inner_dst, 20000 + i, int(port)), i + 1)
    s.sendto(ipv4(outer_src, outer_dst, 4, inner, i + 1), (outer_dst, 0))
PY
}

# --- world -----------------------------------------------------------------
if ! lab_up; then
	fail "lab world builds"
	exit 1
fi
write_sender
rp_before=$(lab_exec px1 sysctl -n net.ipv4.conf.all.rp_filter net.ipv4.conf.default.rp_filter |
	tr '\n' ' ')
if ! lab_start_droverd; then
	fail "droverd starts" "$(tail -n 3 "$LAB_STATE/droverd.log" | tr '\n' ' ')"
	exit 1
fi
lab_exec px1 iptables -A INPUT -i drover0 -p tcp --syn

# --- 1. the appliance's traffic -------------------------------------------------
client=$(lab_client_address 0)
lab_client_curl "$client" "$URL" 2>/dev/null | grep -q "$LAB_MARKER"
check $? "a client's request through the appliance reaches Squid and comes back" \
	"IPIP accepted from the appliance: $(px_count filter DROVER-IPIP RETURN), client sources accepted from drover0: $(px_count raw DROVER-TUNNEL RETURN)"

# A 3000-byte inner UDP datagram (outer fragmented: the raw socket's path) and
# a 100-byte one (whole: the packet socket's), from the appliance's address.
received0=$(lab_decap_counter 1 received)
written0=$(lab_decap_counter 1 written)
bytes0=$(lab_decap_counter 1 written_bytes)
lab_exec app python3 - "$LAB_APPLIANCE" "$PROXY" "$(lab_client_address 1)" "$LAB_TUNNEL_ADDRESS" <<'PY'
import socket, struct, sys

def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

osrc, odst, isrc, idst = sys.argv[1:5]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 4)
s.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER: IP_PMTUDISC_DONT, so it fragments
s.bind((osrc, 0))
for size in (3000, 100):
    udp = struct.pack("!HHHH", 20999, 9, size - 20, 0) + b"f" * (size - 28)
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, size, 0x4242, 0, 64, 17, 0,
                    socket.inet_aton(isrc), socket.inet_aton(idst))
    s.sendto(h[:10] + struct.pack("!H", csum(h)) + h[12:] + udp, (odst, 0))
PY
settle
received=$(($(lab_decap_counter 1 received) - received0))
written=$(($(lab_decap_counter 1 written) - written0))
bytes=$(($(lab_decap_counter 1 written_bytes) - bytes0))
check $([ "$received" -eq 2 ] && [ "$written" -eq 2 ] && [ "$bytes" -eq 3100 ]; echo $?) \
	"a fragmented IPIP datagram is taken once, reassembled, and a whole one once" \
	"received +$received, written +$written, bytes +$bytes (want 2, 2, 3100)"

# --- 2. an Internet host sends IPIP -------------------------------------------
written0=$(lab_decap_counter 1 written)
sender0=$(lab_decap_counter 1 sender)
stack0=$(to_stack)
send org "$LAB_ORIGIN" "$SPOOFED_CLIENT" "$LAB_ORIGIN" 80
settle
dropped=$(px_count filter DROVER-IPIP DROP)
written=$(($(lab_decap_counter 1 written) - written0))
sender=$(($(lab_decap_counter 1 sender) - sender0))
reached=$(($(to_stack) - stack0))
check $([ "$reached" -eq 0 ] && [ "$written" -eq 0 ] && [ "$sender" -eq $N ] && [ "$dropped" -eq $N ]; echo $?) \
	"IPIP from an Internet host is dropped by DROVER-IPIP and by drover-decap; none reaches the proxy" \
	"$N sent from $LAB_ORIGIN: $dropped dropped by DROVER-IPIP, $sender dropped by drover-decap (sender), $written written, $reached reached the proxy's stack"

# --- 3. the same without the iptables rule: drover-decap's own check -----------
lab_exec px1 iptables -D INPUT -p 4 -j DROVER-IPIP
sender0=$(lab_decap_counter 1 sender)
stack0=$(to_stack)
send org "$LAB_ORIGIN" "$SPOOFED_CLIENT" "$LAB_ORIGIN" 80
settle
sender=$(($(lab_decap_counter 1 sender) - sender0))
reached=$(($(to_stack) - stack0))
check $([ "$reached" -eq 0 ] && [ "$sender" -eq $N ]; echo $?) \
	"without the iptables rule, drover-decap drops IPIP from a host that is not the appliance" \
	"$N sent: $sender dropped by drover-decap (sender), $reached reached the proxy's stack"
lab_exec px1 iptables -I INPUT -p 4 -j DROVER-IPIP

# --- 4. the appliance's address spoofed, an Internet source inside -------------
inner0=$(lab_decap_counter 1 inner_source)
stack0=$(to_stack)
send cli "$LAB_APPLIANCE" "$LAB_ORIGIN" "$LAB_TUNNEL_ADDRESS" 3129
settle
inner=$(($(lab_decap_counter 1 inner_source) - inner0))
reached=$(($(to_stack) - stack0))
check $([ "$reached" -eq 0 ] && [ "$inner" -eq $N ]; echo $?) \
	"IPIP from the appliance's address with an inner source outside the clients never reaches Squid" \
	"$N sent (outer $LAB_APPLIANCE spoofed, inner $LAB_ORIGIN -> $LAB_TUNNEL_ADDRESS:3129): $inner dropped by drover-decap (inner_source), $reached reached the proxy's stack"

# --- 5. the rules as installed, rp_filter, and down ---------------------------
rules=$(lab_exec px1 iptables -S DROVER-IPIP; lab_exec px1 iptables -t raw -S DROVER-TUNNEL)
want=$(printf '%s\n' "-N DROVER-IPIP" "-A DROVER-IPIP -s $LAB_APPLIANCE/32 -j RETURN" \
	"-A DROVER-IPIP -j DROP" "-N DROVER-TUNNEL" \
	"-A DROVER-TUNNEL -s $LAB_APPLIANCE/32 -p icmp -m icmp --icmp-type 8 -j RETURN" \
	"-A DROVER-TUNNEL -s $LAB_LAN_PREFIX.0/24 -j RETURN" "-A DROVER-TUNNEL -j DROP")
check $([ "$rules" = "$want" ]; echo $?) "the set-up script accepts IPIP from the appliance and client sources (and the appliance's echo request) from the tunnel only" \
	"$(echo "$rules" | tr '\n' ';')"
lab_exec px1 iptables -t raw -C PREROUTING -i drover0 -j DROVER-TUNNEL
check $? "the tunnel's source check is jumped to from raw PREROUTING for drover0"
lab_client_curl "$client" "$URL" 2>/dev/null | grep -q "$LAB_MARKER"
check $? "a client's request still reaches Squid after the attacks"
rp_after=$(lab_exec px1 sysctl -n net.ipv4.conf.all.rp_filter net.ipv4.conf.default.rp_filter |
	tr '\n' ' ')
rp_dev=$(lab_exec px1 sysctl -n net.ipv4.conf.drover0.rp_filter)
check $([ "$rp_after" = "$rp_before" ] && [ "$rp_dev" = 2 ]; echo $?) \
	"rp_filter: all and default left as they were, the tunnel device loose" \
	"all/default before: $rp_before after: $rp_after drover0: $rp_dev"
lab_exec px1 iptables -D INPUT -i drover0 -p tcp --syn
lab_exec px1 bash "$LAB_STATE/px1/setup.sh" --decap-bin "$DROVER_BUILD/drover-decap" \
	--dev drover0 --pidfile "$LAB_STATE/px1/decap.pid" --decap-log "$LAB_STATE/px1/decap.log" \
	down
left=$( (lab_exec px1 iptables -S; lab_exec px1 iptables -t raw -S; lab_exec px1 iptables -t nat -S) |
	grep -c DROVER)
check $([ "$left" -eq 0 ]; echo $?) "down removes the chains and the jumps to them" "$left rules left"
exit 0
