#!/bin/bash
# tests/e2e/foundation.sh - the whole path, end to end, with real Squid and nginx.
#
# Builds the lab of tests/lab/lib.sh (50 client addresses, 3 Squids behind
# drover-decap, nginx origin), starts droverd from $DROVER_BUILD, and checks:
#   - every request from every client address returns the origin's page;
#   - each client address is served by exactly one Squid;
#   - the clients spread over the proxies within a stated binomial tolerance;
#   - the Squid each client reached is the one `droverctl lookup` names;
#   - droverd's per-proxy hits equal the connections each Squid logged;
#   - a 4 MB download and a 2 MB upload arrive intact (sha256);
#   - Squid's answers reach the clients without crossing the appliance;
#   - afterwards no namespace, process or file of the lab is left.
# Prints "ok - ..." / "not ok - ... (figures)" lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-drt}
LAB_STATE=/tmp/drover-e2e-foundation.$$
LAB_CLIENTS=50
LAB_PROXIES=3
REQUESTS_PER_CLIENT=3
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"

# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

cleanup() {
	lab_down
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if ! lab_up; then
	fail "lab world builds" "see the # lab: lines above"
	exit 1
fi
pass "lab world builds ($LAB_CLIENTS client addresses, $LAB_PROXIES Squids, nginx origin)"

if ! lab_start_droverd; then
	fail "droverd starts and takes its configuration" "$(tail -n 5 "$LAB_STATE/droverd.log" 2>/dev/null | tr '\n' ' ')"
	exit 1
fi
pass "droverd starts and takes its configuration"

# Counting rules in the appliance's FORWARD chain (no target: they only count).
# Origin -> client-range packets from port 80 would mean a proxied reply took
# the appliance path; clients are .128/25, proxies .11-.13, so the origin's
# replies to the Squids do not match. The 8080 rule is the positive control:
# a port drover does not intercept is plainly routed, both ways, through the
# appliance, so that counter must move.
lab_exec app iptables -I FORWARD 1 -s "$LAB_ORIGIN" -d "$LAB_CLIENT_RANGE" -p tcp --sport 80 \
	-m comment --comment drover-e2e-dsr
lab_exec app iptables -I FORWARD 1 -s "$LAB_ORIGIN" -d "$LAB_CLIENT_RANGE" -p tcp --sport 8080 \
	-m comment --comment drover-e2e-control
forward_count() {
	lab_exec app iptables -L FORWARD -v -n -x |
		awk -v c="/* $1 */" 'index($0, c) { print $1; found = 1 } END { if (!found) print -1 }'
}

# 1. Every client address, a few requests each, all through the appliance.
requests=0
bad=0
first_bad=
# A broken path makes every request wait for its timeout (the lab's
# generous one): give up after 10.
for addr in $(lab_client_addresses); do
	[ $bad -ge 10 ] && break
	for ((r = 1; r <= REQUESTS_PER_CLIENT; r++)); do
		requests=$((requests + 1))
		body=$(lab_client_curl "$addr" "http://$LAB_ORIGIN/" 2>&1)
		if [[ $body != *"$LAB_MARKER"* ]]; then
			bad=$((bad + 1))
			: "${first_bad:=$addr: ${body:0:120}}"
		fi
	done
done
check $((bad != 0 || requests != LAB_CLIENTS * REQUESTS_PER_CLIENT)) \
	"$((LAB_CLIENTS * REQUESTS_PER_CLIENT)) requests from $LAB_CLIENTS client addresses return the origin's page" \
	"made=$requests failed=$bad${first_bad:+ first: $first_bad}"

# 2. Which Squid served each client.
declare -A served_by
unserved=0
multi=0
multi_list=
for ((i = 1; i <= LAB_PROXIES; i++)); do
	for c in $(lab_squid_clients "$i"); do
		if [ -n "${served_by[$c]:-}" ]; then
			multi=$((multi + 1))
			multi_list+=" $c"
		fi
		served_by[$c]+="$(lab_proxy_address "$i") "
	done
done
for addr in $(lab_client_addresses); do
	[ -n "${served_by[$addr]:-}" ] || unserved=$((unserved + 1))
done
check $((unserved + multi != 0)) "each client address appears in exactly one Squid's access log" \
	"in none: $unserved, in several: $multi${multi_list:+ ($multi_list )}"

# 3. Spread. A consistent hash of the source address behaves like
# independent uniform draws: with n clients and P equal proxies each proxy's
# client count is Binomial(n, 1/P), mean n/P, sigma sqrt(n (1/P) (1 - 1/P)).
# For n = 50, P = 3: mean 16.7, sigma 3.33. We accept mean +- 3.5 sigma
# ([5, 28] here): a fair hash falls outside for some proxy with probability
# about 3 x 0.05% = 0.14%, while a broken one (everything on one proxy, a
# proxy never chosen, modulo over a constant part of the address) does not
# get in.
spread=
spread_ok=0
read -r lo hi < <(awk -v n="$LAB_CLIENTS" -v p="$LAB_PROXIES" 'BEGIN {
	m = n / p; s = sqrt(n * (1 / p) * (1 - 1 / p));
	lo = m - 3.5 * s; hi = m + 3.5 * s;
	printf "%d %d\n", (lo < 1 ? 1 : int(lo + 0.999)), int(hi) }')
for ((i = 1; i <= LAB_PROXIES; i++)); do
	n=$(lab_squid_clients "$i" | grep -c .)
	spread+="squid$i=$n "
	if [ "$n" -lt "$lo" ] || [ "$n" -gt "$hi" ]; then
		spread_ok=1
	fi
done
check "$spread_ok" "clients spread over the proxies within [$lo, $hi] each (mean +- 3.5 sigma)" \
	"${spread% }"

# 4. droverctl lookup names the proxy each client landed on.
mismatch=0
mismatch_list=
for addr in $(lab_client_addresses); do
	want=$(lab_droverctl --json lookup "$addr" 2>/dev/null | jq -r '.proxy.address // "none"')
	got=${served_by[$addr]:-none}
	got=${got% }
	if [ "$want" != "$got" ]; then
		mismatch=$((mismatch + 1))
		[ $mismatch -le 5 ] && mismatch_list+=" $addr:lookup=$want,squid=$got"
	fi
done
check $((mismatch != 0)) "droverctl lookup names the proxy each client reached" \
	"mismatches: $mismatch${mismatch_list:+ ->$mismatch_list}"

# 5. Big transfers through the appliance, from the first client address.
addr=$(lab_client_address 0)
want=$(cat "$LAB_STATE/origin/big.sha256")
got=$(lab_client_curl "$addr" "http://$LAB_ORIGIN/big.bin" | sha256sum | cut -d' ' -f1)
check "$([ "$got" = "$want" ]; echo $?)" "4 MB download through the appliance arrives intact" \
	"sha256 want=${want:0:16} got=${got:0:16}"

head -c $((2 << 20)) /dev/urandom >"$LAB_STATE/upload.bin"
want=$(sha256sum <"$LAB_STATE/upload.bin" | cut -d' ' -f1)
code=$(lab_client_curl "$addr" "http://$LAB_ORIGIN/upload/e2e.bin" -T "$LAB_STATE/upload.bin" \
	-o /dev/null -w '%{http_code}')
got=$(sha256sum <"$LAB_STATE/origin/www/upload/e2e.bin" 2>/dev/null | cut -d' ' -f1)
check "$([ "$got" = "$want" ] && [[ $code == 20[14] ]]; echo $?)" \
	"2 MB upload through the appliance arrives intact" \
	"status=$code sha256 want=${want:0:16} got=${got:-none}"

# 6. droverd's hits per proxy = connections its Squid logged (one request per
# curl, so one connection per log line).
stats=$(lab_droverctl --json stats 2>/dev/null)
hits_bad=0
hits_fig=
for ((i = 1; i <= LAB_PROXIES; i++)); do
	a=$(lab_proxy_address "$i")
	hits=$(jq -r --arg a "$a" '[.proxies[] | select(.address == $a) | .hits][0] // "none"' <<<"$stats" 2>/dev/null)
	logged=$(lab_squid_requests "$i")
	hits_fig+="squid$i hits=${hits:-none} logged=$logged "
	[ "${hits:-none}" = "$logged" ] || hits_bad=1
	logged_total=$((${logged_total:-0} + logged))
done
# Equal zeros would prove nothing.
[ "${logged_total:-0}" -gt 0 ] || hits_bad=1
check "$hits_bad" "droverctl stats hits per proxy equal the connections each Squid logged" \
	"${hits_fig% }"

# 7. Direct server return: no origin->client answer crossed the appliance,
# while the control port (plain routing through the appliance) did.
lab_client_curl "$addr" "http://$LAB_ORIGIN:8080/" -o /dev/null
dsr=$(forward_count drover-e2e-dsr)
control=$(forward_count drover-e2e-control)
check "$([ "$dsr" -eq 0 ] && [ "$control" -gt 0 ] && [ "$logged_total" -gt 0 ]; echo $?)" \
	"proxied replies reach the clients without crossing the appliance" \
	"origin:80->clients via appliance=$dsr packets, control origin:8080->clients=$control packets"

# 8. The proxies' advmss (tunnel MTU - 40) kept every client segment small
# enough to be wrapped whole: the 2 MB upload needed no outer fragment and no
# "fragmentation needed" back to the client.
frags=$(jq -r '"\(.global.outer_fragments) \(.global.frag_needed_sent)"' <<<"$stats" 2>/dev/null)
read -r outer_frags frag_needed <<<"${frags:-x x}"
check "$([ "$outer_frags" = 0 ] && [ "$frag_needed" = 0 ]; echo $?)" \
	"client segments fit the tunnel without fragments (advmss on the proxies)" \
	"outer_fragments=$outer_frags frag_needed_sent=$frag_needed"

# Figures worth keeping with the log.
echo "# droverd stats: $(jq -c '.global' <<<"$stats" 2>/dev/null)"
for ((i = 1; i <= LAB_PROXIES; i++)); do
	echo "# decap px$i: $(lab_decap_counters "$i" | sed 's/^drover-decap: //')"
done

# 9. Teardown leaves nothing behind.
recorded=$(awk '{ print $2 }' "$LAB_STATE/pids" 2>/dev/null)
for ((i = 1; i <= LAB_PROXIES; i++)); do
	recorded+=" $(cat "$LAB_STATE/px$i/decap.pid" 2>/dev/null)"
done
state=$LAB_STATE
lab_down
left_ns=$(ip netns list | cut -d' ' -f1 | grep -cE "^$LAB-(sw|cli|app|org|px[0-9]+)\$")
left_pids=0
for p in $recorded; do
	[ -e "/proc/$p" ] && left_pids=$((left_pids + 1))
done
left_files=$([ -e "$state" ] && echo 1 || echo 0)
check $((left_ns + left_pids + left_files != 0)) "teardown removes every namespace, process and file" \
	"namespaces=$left_ns processes=$left_pids state_dir=$left_files"

[ "$failures" -eq 0 ]
