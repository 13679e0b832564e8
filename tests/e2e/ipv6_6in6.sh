#!/bin/bash
# tests/e2e/ipv6_6in6.sh - proxies with and without an IPv6 address: droverd
# wraps an IPv6 client's packets in IPv6-in-IPv6 to a proxy that has one,
# in IPv6-in-IPv4 to a proxy that has only IPv4; drover-decap takes both to
# Squid, which answers the clients directly.
#
#          client LAN 198.18.1.0/24 + 2001:db8:1::/64 (br0, LAB_IPV6=1)
#   +----------------+--------------------+-------------------------+
#   $LAB-cli         $LAB-app             $LAB-px1: 198.18.1.11 and
#   .128.. and       198.18.1.1           2001:db8:1::11 (address6: 6in6)
#   2001:db8:1::80.. 2001:db8:1::1        $LAB-px2: 198.18.1.12 (IPv4 only: 6in4)
#                    droverd, client_subnets 198.18.1.0/24,2001:db8:1::80/121
#                    wan0 -> nginx 198.18.64.10 / [2001:db8:64::10]
#
#   1. Proxy 1 given its IPv6 address: the set-up script droverd generates
#      for it lists the appliance's IPv6 tunnel source in --appliance; the
#      IPv6 chain returns the proxy's IPv6 address first.
#   2. Every IPv6 client address fetches a page: every request answered,
#      each address in exactly one Squid log, the one `droverctl lookup`
#      names; both proxies used; packets wrapped in both encapsulations.
#   3. A 4 MB download over IPv6 through each proxy (6in6 and 6in4) intact.
#   4. The appliance's route to proxy 1's IPv6 address has MTU 1400: a
#      1400-byte IPv6 packet of a client on it earns a Packet Too Big with
#      1360 (the 6in6 tunnel MTU: path MTU - 40) from the appliance.
#   5. Proxy 1's IPv6 address is probed too: up beside IPv4. Its Squid
#      drops the appliance's IPv6 probes (ip6tables): shown IPv6-down while
#      up over IPv4; its IPv6 clients are still answered by it, now in 6in4
#      (drover-decap's counters), nobody moves; the drop lifted, IPv6 is up
#      again and 6in6 resumes.
# Prints "ok - ..." / "not ok - ... (figures)" lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-d66}
LAB_STATE=/tmp/drover-e2e-ipv6-6in6.$$
LAB_CLIENTS=24
LAB_PROXIES=2
LAB_IPV6=1
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"
# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

CLIENTS6=$LAB_LAN6_PREFIX::80/121
URL6="http://[$LAB_ORIGIN6]"

trap lab_down EXIT
trap 'exit 1' INT TERM

if ! lab_up || ! lab_start_droverd; then
	fail "lab setup" "$(tail -n 5 "$LAB_STATE/droverd.log" 2>/dev/null)"
	exit 1
fi

# ---- 1. proxy 1 gets its IPv6 address ----
P6=$(lab_proxy_address6 1)
PATH_MTU6=1400
TUNNEL_MTU6=$((PATH_MTU6 - 40))
# A narrower IPv6 path to proxy 1, in place before droverd builds its 6in6 target.
ip -n "$(lab_ns app)" -6 route add "$P6/128" dev lan0 mtu "$PATH_MTU6" || {
	fail "route with MTU $PATH_MTU6 to proxy 1's IPv6 address"
	exit 1
}
if ! lab_droverctl settings set client_subnets "$LAB_LAN_PREFIX.0/24,$CLIENTS6" >/dev/null ||
	! lab_droverctl proxy set "$(lab_proxy_id 1)" --address6 "$P6" >/dev/null ||
	! lab_proxies_setup_again; then
	fail "IPv6 client subnet, proxy 1's IPv6 address, proxies prepared for them"
	exit 1
fi
shown=$(lab_droverctl --json proxy list | python3 -c 'import json, sys
print(" ".join("%s=%s" % (p["name"], p.get("address6")) for p in json.load(sys.stdin)["proxies"]))')
grep -q -- "--appliance $LAB_APPLIANCE,$LAB_APPLIANCE6 " "$LAB_STATE/px1/setup.sh" &&
	grep -q -- "--appliance $LAB_APPLIANCE --clients" "$LAB_STATE/px2/setup.sh" &&
	[ "$shown" = "squid1=$P6 squid2=None" ]
check $? "proxy 1's IPv6 address shown, its set-up script accepts 6in6 from the appliance, proxy 2's only IPIP" \
	"$shown; px1 $(grep -m 1 -o -- '^set -- --appliance [^ ]*' "$LAB_STATE/px1/setup.sh")"
lab_exec app ip6tables -S DROVER | head -n 2 | grep -q -- "-A DROVER -s $P6/128 -j RETURN"
check $? "the IPv6 chain returns proxy 1's IPv6 address first" \
	"$(lab_exec app ip6tables -S DROVER | sed -n 2p)"

# ---- 2. every IPv6 client address, one page each ----
in6_before=$(lab_counter ipv6_in_ipv6)
all6_before=$(lab_counter ipv6_encapsulated)
answered=0
for ((i = 0; i < LAB_CLIENTS; i++)); do
	a=$(lab_client_address6 "$i")
	lab_exec cli curl -6 -g -sS --interface "$a" --connect-timeout 10 --max-time 60 \
		"$URL6/" >"$LAB_STATE/out6"
	grep -q "$LAB_MARKER" "$LAB_STATE/out6" && answered=$((answered + 1))
	p=$(lab_droverctl --json lookup "$a" | python3 -c 'import json, sys
print((json.load(sys.stdin).get("proxy") or {}).get("address"))')
	echo "$a $p"
done >"$LAB_STATE/lookup"
for ((i = 1; i <= LAB_PROXIES; i++)); do
	# The appliance's own IPv6 health probes are logged too: no client.
	awk -v p="$(lab_proxy_address "$i")" -v app="$LAB_APPLIANCE6" \
		'$3 ~ /:/ && $3 != app { print $3, p }' "$LAB_STATE/px$i/squid/access.log"
done | sort -u >"$LAB_STATE/logged"
in6=$(($(lab_counter ipv6_in_ipv6) - in6_before))
in4=$(($(lab_counter ipv6_encapsulated) - all6_before - in6))
figures=$(python3 - "$LAB_STATE" "$LAB_CLIENTS" "$LAB_PROXIES" <<-'EOF'
	import collections, sys
	state, n, nproxies = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
	lookup = dict(l.split() for l in open(state + "/lookup"))
	logged = collections.defaultdict(set)
	for l in open(state + "/logged"):
	    c, p = l.split()
	    logged[c].add(p)
	one = [c for c in logged if len(logged[c]) == 1]
	agree = sum(1 for c in one if lookup.get(c) == next(iter(logged[c])))
	spread = collections.Counter(next(iter(logged[c])) for c in one)
	per = [spread.get("198.18.1.%d" % (10 + i), 0) for i in range(1, nproxies + 1)]
	print("%d addresses logged, %d in exactly one log, lookup agrees for %d, clients on px1 (6in6) / px2 (6in4) %s"
	      % (len(logged), len(one), agree, per))
	sys.exit(0 if len(logged) == n and len(one) == n and agree == n and min(per) > 0 else 1)
EOF
)
status=$?
[ "$answered" = "$LAB_CLIENTS" ] && [ $status = 0 ]
check $? "$LAB_CLIENTS IPv6 clients through Squid in 6in6 and 6in4: every request answered, each address in one Squid log, the one lookup names" \
	"$answered/$LAB_CLIENTS answered; $figures"
px1_6in6=$(lab_decap_counter 1 6in6_written)
px2_6in4=$(lab_decap_counter 2 6in4_written)
px2_6in6=$(lab_decap_counter 2 6in6_received)
[ "$in6" -gt 0 ] && [ "$in4" -gt 0 ] && [ "$px1_6in6" -gt 0 ] && [ "$px2_6in4" -gt 0 ] &&
	[ "$px2_6in6" = 0 ]
check $? "client packets wrapped in both: IPv6-in-IPv6 to proxy 1, IPv6-in-IPv4 to proxy 2" \
	"droverd: $in6 in 6in6, $in4 in 6in4; drover-decap: px1 wrote $px1_6in6 from 6in6, px2 $px2_6in4 from 6in4 and received $px2_6in6 in 6in6"

# ---- 3. 4 MB down through each proxy ----
for ((i = 1; i <= LAB_PROXIES; i++)); do
	a=$(awk -v p="$(lab_proxy_address "$i")" '$2 == p { print $1; exit }' "$LAB_STATE/lookup")
	[ -n "$a" ] || {
		fail "4 MB download over IPv6 through px$i" "no client on it"
		continue
	}
	start=$(date +%s.%N)
	sum=$(lab_exec cli curl -6 -g -sS --interface "$a" --connect-timeout 10 --max-time 120 \
		"$URL6/big.bin" | sha256sum | cut -d' ' -f1)
	took=$(echo "$(date +%s.%N) - $start" | bc | xargs printf "%.3f")
	[ "$sum" = "$(cat "$LAB_STATE/origin/big.sha256")" ]
	check $? "4 MB download over IPv6 through px$i ($([ "$i" = 1 ] && echo 6in6 || echo 6in4)) intact" \
		"client $a, sha256 ${sum:0:16}, ${took} s"
done

# ---- 4. Packet Too Big at the 6in6 tunnel's MTU ----
a=$(awk -v p="$(lab_proxy_address 1)" '$2 == p { print $1; exit }' "$LAB_STATE/lookup")
before=$(lab_counter packet_too_big_sent)
answer=$(lab_exec cli python3 "$LAB_ROOT/tests/lab/big6.py" "$a" "$LAB_ORIGIN6" 80 "$PATH_MTU6" 30)
after=$(lab_counter packet_too_big_sent)
[ "$answer" = "mtu $TUNNEL_MTU6 from $LAB_APPLIANCE6" ] && [ "$after" -gt "$before" ]
check $? "a $PATH_MTU6-byte IPv6 packet to proxy 1, path MTU $PATH_MTU6: Packet Too Big with $TUNNEL_MTU6" \
	"client $a got: $answer; packet_too_big_sent $before -> $after"

# ---- 5. proxy 1's IPv6 address fails its probes, then answers again ----
ID1=$(lab_proxy_id 1)
# health_pair: proxy 1's health over IPv4 and IPv6 ("up up", "up down", ...).
health_pair() {
	lab_droverctl --json proxy show "$ID1" | python3 -c 'import json, sys
p = json.load(sys.stdin)["proxy"]
print(p["health"], (p.get("health6") or {}).get("state"))'
}
health_is() {
	[ "$(health_pair)" = "$1" ]
}
# fetch_on_px1 N: N pages for proxy 1's IPv6 client a; prints how many were answered.
fetch_on_px1() {
	local n=0 k
	for ((k = 0; k < $1; k++)); do
		lab_exec cli curl -6 -g -sS --interface "$a" --connect-timeout 10 --max-time 60 \
			"$URL6/" 2>/dev/null | grep -q "$LAB_MARKER" && n=$((n + 1))
	done
	echo "$n"
}
lookup_of() {
	lab_droverctl --json lookup "$1" | python3 -c 'import json, sys
print((json.load(sys.stdin).get("proxy") or {}).get("address"))'
}
DROP6=(INPUT -p tcp -s "$LAB_APPLIANCE6" --dport 3128 -j DROP)
lab_wait 120 health_is "up up"
listed=$(lab_droverctl proxy list | awk 'NR > 1 { print $2 "=" $NF }' | tr '\n' ' ')
[ "$(health_pair)" = "up up" ] && [ "$listed" = "squid1=up squid2=- " ]
check $? "proxy 1 probed over IPv6 too: up over both; proxy list shows HEALTH6 up, '-' for the IPv4-only proxy" \
	"$(health_pair); list: $listed"

lab_exec px1 ip6tables -I "${DROP6[@]}"
start=$(date +%s.%N)
lab_wait 120 health_is "up down"
took=$(echo "$(date +%s.%N) - $start" | bc | xargs printf "%.1f")
shown=$(lab_droverctl proxy show "$ID1" | awk '$1 == "health6" { print $2, $3 }')
check "$([ "$(health_pair)" = "up down" ]; echo $?)" \
	"proxy 1's IPv6 probes dropped: IPv6 down, still up over IPv4" \
	"$(health_pair) after ${took} s; proxy show: health6 $shown"
in6_before=$(lab_counter ipv6_in_ipv6)
w64_before=$(lab_decap_counter 1 6in4_written)
w66_before=$(lab_decap_counter 1 6in6_written)
answered=$(fetch_on_px1 5)
in6=$(($(lab_counter ipv6_in_ipv6) - in6_before))
w64=$(($(lab_decap_counter 1 6in4_written) - w64_before))
w66=$(($(lab_decap_counter 1 6in6_written) - w66_before))
placed=$(lookup_of "$a")
[ "$answered" = 5 ] && [ "$in6" = 0 ] && [ "$w64" -gt 0 ] && [ "$w66" = 0 ] &&
	[ "$placed" = "$(lab_proxy_address 1)" ]
check $? "its IPv6 client still answered by proxy 1, now in 6in4: none in 6in6, nobody moved" \
	"$answered/5 answered; droverd 6in6 +$in6; px1 drover-decap 6in4 +$w64, 6in6 +$w66; lookup $a -> $placed"

lab_exec px1 ip6tables -D "${DROP6[@]}"
start=$(date +%s.%N)
lab_wait 120 health_is "up up"
took=$(echo "$(date +%s.%N) - $start" | bc | xargs printf "%.1f")
w66_before=$(lab_decap_counter 1 6in6_written)
w64_before=$(lab_decap_counter 1 6in4_written)
answered=$(fetch_on_px1 5)
w66=$(($(lab_decap_counter 1 6in6_written) - w66_before))
w64=$(($(lab_decap_counter 1 6in4_written) - w64_before))
changes=$(lab_droverctl --json proxy show "$ID1" | python3 -c 'import json, sys
print(json.load(sys.stdin)["proxy"]["health6"]["state_changes"])')
[ "$(health_pair)" = "up up" ] && [ "$answered" = 5 ] && [ "$w66" -gt 0 ] && [ "$w64" = 0 ]
check $? "the drop lifted: IPv6 up again, its client back in 6in6" \
	"$(health_pair) after ${took} s; $answered/5 answered; px1 drover-decap 6in6 +$w66, 6in4 +$w64; IPv6 state changes $changes"
audit=$(lab_droverctl audit --limit 50 | grep -o 'proxy\.ipv6-[a-z]*' | tac | tr '\n' ' ')
[ "$audit" = "proxy.ipv6-down proxy.ipv6-up " ]
check $? "the audit log holds proxy 1's IPv6 down and up, once each" "$audit"

exit $((failures > 0))
