#!/bin/bash
# tests/e2e/ipv6_squid.sh - dual-stack clients' IPv6 web traffic through the
# whole path: droverd wraps it in 6in4 to the IPv4-addressed proxies,
# drover-decap hands it to Squid listening on IPv6, Squid fetches from nginx
# over IPv6 and answers the clients directly.
#
#          client LAN 198.18.1.0/24 + 2001:db8:1::/64 (br0, LAB_IPV6=1)
#   +----------------+--------------------+-------------------------+
#   $LAB-cli         $LAB-app             $LAB-px1..3
#   .128.. and       198.18.1.1           198.18.1.11.. / 2001:db8:1::11..
#   2001:db8:1::80.. 2001:db8:1::1        drover-decap (6in4) -> Squid
#                    droverd, client_subnets 198.18.1.0/24,2001:db8:1::80/121
#                    (the clients' addresses, not the proxies' own)
#                    wan0 -> nginx 198.18.64.10 / [2001:db8:64::10]
#
#   0. The same clients' IPv4 addresses fetch a page, for comparison.
#   1. Every IPv6 client address fetches a page: every request answered,
#      each address in exactly one Squid log, the one `droverctl lookup`
#      names; the spread over the proxies within the tolerance below; the
#      proxies' hits (new connections) equal Squid's logged requests.
#
# The spread's tolerance. droverd's hash key is drawn at random
# (randombytes) when its store is created, so every run places the fixed
# client addresses afresh: under a keyed hash each address lands on a
# uniformly random slot of the Maglev table, independently of the others.
# With equal weights the table (65537 slots) gives each of the N proxies
# its 1/N share to within one slot, so the clients of one proxy follow a
# binomial law B(n, 1/N): for n = 50 and N = 3, 16.7 +- 3.3 (one standard
# deviation, sqrt(n p (1 - p))). The bound is that law's central interval
# whose two tails hold at most 1/10000 / N each, so that with the union
# bound over the proxies a correct product fails less than once in 10,000
# runs: [4, 31] for 50 clients over 3 proxies (about 4 sd below and 4.3 sd
# above; a correct product leaves it once in about 25,000 runs). It is
# computed below from LAB_CLIENTS and LAB_PROXIES, not written in.
#   2. A 4 MB download and a 2 MB upload over IPv6, sha256-intact.
#   3. No reply crosses the appliance: its IPv6 FORWARD saw no packet from
#      a web port to the clients.
# Prints "ok - ..." / "not ok - ... (figures)" lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-d6s}
LAB_STATE=/tmp/drover-e2e-ipv6-squid.$$
LAB_CLIENTS=50
LAB_PROXIES=3
LAB_IPV6=1
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"
# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

CLIENTS6=$LAB_LAN6_PREFIX::80/121
URL6="http://[$LAB_ORIGIN6]"

trap lab_down EXIT
trap 'exit 1' INT TERM

# hits: new connections summed over the proxies, as droverd counts them.
hits() {
	lab_droverctl --json stats | python3 -c "import json,sys
print(sum(p.get('hits', 0) for p in json.load(sys.stdin)['proxies']))"
}

# squid_ipv6_requests: requests from IPv6 clients in every Squid log.
squid_ipv6_requests() {
	local i
	for ((i = 1; i <= LAB_PROXIES; i++)); do
		awk '$3 ~ /:/' "$LAB_STATE/px$i/squid/access.log" 2>/dev/null
	done | wc -l
}

if ! lab_up || ! lab_start_droverd; then
	fail "lab setup" "$(tail -n 5 "$LAB_STATE/droverd.log" 2>/dev/null)"
	exit 1
fi
lab_droverctl settings set client_subnets "$LAB_LAN_PREFIX.0/24,$CLIENTS6" >/dev/null &&
	lab_proxies_setup_again || {
	fail "IPv6 client subnet and proxies prepared for it"
	exit 1
}
# Replies from a web port to the clients, should any cross the appliance.
lab_exec app ip6tables -I FORWARD 1 -d "$CLIENTS6" -p tcp -m multiport \
	--sports 80,443,8080 -j ACCEPT

# median FILE: the median of the numbers in FILE, in milliseconds.
median() {
	sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%.1f", NR ? v[int((NR + 1) / 2)] * 1000 : 0 }'
}

# ---- 0. the same clients' IPv4 addresses, for comparison ----
answered4=0
for a in $(lab_client_addresses); do
	lab_client_curl "$a" -w '\n%{time_total}\n' "http://$LAB_ORIGIN/" >"$LAB_STATE/out4"
	grep -q "$LAB_MARKER" "$LAB_STATE/out4" && answered4=$((answered4 + 1))
	tail -n 1 "$LAB_STATE/out4" >>"$LAB_STATE/times4"
done
[ "$answered4" = "$LAB_CLIENTS" ]
check $? "the same clients over IPv4: every request answered" \
	"$answered4/$LAB_CLIENTS, median $(median "$LAB_STATE/times4") ms a request"

# ---- 1. every IPv6 client address, one page each ----
hits_before=$(hits)
answered=0
for ((i = 0; i < LAB_CLIENTS; i++)); do
	a=$(lab_client_address6 "$i")
	lab_exec cli curl -6 -g -sS --interface "$a" --connect-timeout 10 --max-time 60 \
		-w '\n%{time_total}\n' "$URL6/" >"$LAB_STATE/out6"
	grep -q "$LAB_MARKER" "$LAB_STATE/out6" && answered=$((answered + 1))
	tail -n 1 "$LAB_STATE/out6" >>"$LAB_STATE/times6"
	p=$(lab_droverctl --json lookup "$a" | python3 -c 'import json, sys
print((json.load(sys.stdin).get("proxy") or {}).get("address"))')
	echo "$a $p"
done >"$LAB_STATE/lookup"
for ((i = 1; i <= LAB_PROXIES; i++)); do
	awk -v p="$(lab_proxy_address "$i")" '$3 ~ /:/ { print $3, p }' \
		"$LAB_STATE/px$i/squid/access.log"
done | sort -u >"$LAB_STATE/logged"
hits_after=$(hits)
figures=$(python3 - "$LAB_STATE" "$LAB_CLIENTS" "$LAB_PROXIES" <<-'EOF'
	import collections, math, sys
	state, n, nproxies = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
	# The binomial B(n, 1/nproxies) interval [lo, hi] whose tails each
	# hold at most 1e-4 / nproxies / 2 (see the tolerance above).
	share, tail = 1.0 / nproxies, 1e-4 / nproxies / 2
	pmf = [math.comb(n, k) * share ** k * (1 - share) ** (n - k) for k in range(n + 1)]
	lo = max(k for k in range(n + 1) if sum(pmf[:k]) <= tail)
	hi = min(k for k in range(n + 1) if sum(pmf[k + 1:]) <= tail)
	lookup = dict(l.split() for l in open(state + "/lookup"))
	logged = collections.defaultdict(set)
	for l in open(state + "/logged"):
	    c, p = l.split()
	    logged[c].add(p)
	one = [c for c in logged if len(logged[c]) == 1]
	agree = sum(1 for c in one if lookup.get(c) == next(iter(logged[c])))
	spread = collections.Counter(next(iter(logged[c])) for c in one)
	per = [spread.get("198.18.1.%d" % (10 + i), 0) for i in range(1, nproxies + 1)]
	print("%d addresses logged, %d in exactly one log, lookup agrees for %d, clients per proxy %s"
	      " (tolerance [%d, %d] each: %.1f expected, sd %.1f)"
	      % (len(logged), len(one), agree, per, lo, hi, n * share, math.sqrt(n * share * (1 - share))))
	sys.exit(0 if len(logged) == n and len(one) == n and agree == n and lo <= min(per) and max(per) <= hi else 1)
EOF
)
status=$?
[ "$answered" = "$LAB_CLIENTS" ] && [ $status = 0 ]
check $? "$LAB_CLIENTS IPv6 clients through Squid: every request answered, each address in one Squid log, the one lookup names, spread within the binomial tolerance" \
	"$answered/$LAB_CLIENTS answered, median $(median "$LAB_STATE/times6") ms a request; $figures"
logged=$(squid_ipv6_requests)
[ $((hits_after - hits_before)) = "$logged" ]
check $? "the proxies' hits equal Squid's logged IPv6 requests" \
	"hits $((hits_after - hits_before)), Squid logged $logged"

# ---- 2. 4 MB down, 2 MB up ----
a=$(lab_client_address6 0)
start=$(date +%s.%N)
sum=$(lab_exec cli curl -6 -g -sS --interface "$a" --connect-timeout 10 --max-time 120 \
	"$URL6/big.bin" | sha256sum | cut -d' ' -f1)
took=$(echo "$(date +%s.%N) - $start" | bc | xargs printf "%.3f")
[ "$sum" = "$(cat "$LAB_STATE/origin/big.sha256")" ]
check $? "4 MB download over IPv6 intact" "sha256 ${sum:0:16}, ${took} s"
start=$(date +%s.%N)
sum4=$(lab_client_curl "$(lab_client_address 0)" "http://$LAB_ORIGIN/big.bin" | sha256sum | cut -d' ' -f1)
took4=$(echo "$(date +%s.%N) - $start" | bc | xargs printf "%.3f")
[ "$sum4" = "$(cat "$LAB_STATE/origin/big.sha256")" ]
check $? "the same 4 MB over IPv4 intact" "${took4} s"
head -c $((2 << 20)) /dev/urandom >"$LAB_STATE/up.bin"
lab_exec cli curl -6 -g -sS --interface "$a" --connect-timeout 10 --max-time 120 \
	-T "$LAB_STATE/up.bin" "$URL6/upload/up6.bin" -o /dev/null
cmp -s "$LAB_STATE/up.bin" "$LAB_STATE/origin/www/upload/up6.bin"
check $? "2 MB upload over IPv6 intact" "$(stat -c %s "$LAB_STATE/origin/www/upload/up6.bin" 2>/dev/null || echo 0) bytes stored"

# ---- 3. replies straight to the clients ----
crossed=$(lab_exec app ip6tables -L FORWARD 1 -v -n -x | awk '{ print $1 }')
encap6=$(lab_droverctl --json stats | python3 -c "import json,sys; print(json.load(sys.stdin)['global']['ipv6_encapsulated'])")
[ "$crossed" = 0 ] && [ "$encap6" -gt 0 ]
check $? "no reply crossed the appliance" "$crossed reply packets forwarded, $encap6 client packets wrapped in 6in4"

exit $((failures > 0))
