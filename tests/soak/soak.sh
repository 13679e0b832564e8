#!/bin/bash
# tests/soak/soak.sh - droverd under steady load for a long while (make soak;
# not part of make test). Needs root: it builds the lab of tests/lab/lib.sh
# (namespaces, Squids behind drover-decap, nginx origin) and then, for
# SOAK_SECONDS (default 1800):
#   - steady traffic: SOAK_WORKERS curl loops, each request from the next
#     client address, one connection per request;
#   - proxies flapping: every SOAK_FLAP_S seconds one proxy's probe port is
#     closed for half that time (its health goes down, its clients move), in
#     turn;
#   - config changes: every SOAK_CONFIG_S seconds one change of a cycle
#     (weights, drain/enable, affinity timeout, table size, ICMP rate);
#   - every SOAK_SAMPLE_S seconds droverd's RSS, open descriptors and threads
#     go to $DROVER_ARTIFACTS/soak.csv.
# At the end it checks that droverd is alive, that RSS and descriptors are
# flat (last sample against the one at a quarter of the run), that nearly
# every request succeeded, and that droverd's per-proxy new-connection
# counts agree with the connections the Squids logged.
# Prints "ok - ..." / "not ok - ..." lines and ends with "N passed, N failed".
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-dsk}
LAB_STATE=/tmp/drover-soak.$$
LAB_CLIENTS=${LAB_CLIENTS:-40}
LAB_PROXIES=${LAB_PROXIES:-3}
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"

SOAK_SECONDS=${SOAK_SECONDS:-1800}
SOAK_WORKERS=${SOAK_WORKERS:-3}
SOAK_FLAP_S=${SOAK_FLAP_S:-40}
SOAK_CONFIG_S=${SOAK_CONFIG_S:-15}
SOAK_SAMPLE_S=${SOAK_SAMPLE_S:-10}
artifacts=${DROVER_ARTIFACTS:-$LAB_ROOT/tests/artifacts}
csv=$artifacts/soak.csv
mkdir -p "$artifacts"

passed=0
failed=0
check() { # check STATUS WHAT [FIGURES]
	if [ "$1" -eq 0 ]; then
		echo "ok - $2"
		passed=$((passed + 1))
	else
		echo "not ok - $2"
		failed=$((failed + 1))
	fi
	[ -n "${3:-}" ] && echo "#   $3"
	return 0
}

workers=()
cleanup() {
	local pid
	# Only the workers: a bare wait would also wait for the lab's daemons.
	for pid in "${workers[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${workers[@]}"; do
		wait "$pid" 2>/dev/null
	done
	workers=()
	lab_down
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# worker N: requests until $LAB_STATE/stop exists; one character per request
# ("." served, "x" failed) in $LAB_STATE/worker.N.
worker() {
	local n=$1 i=$1 addr out=$LAB_STATE/worker.$1
	: >"$out"
	while [ ! -e "$LAB_STATE/stop" ]; do
		addr=$(lab_client_address $((i % LAB_CLIENTS)))
		i=$((i + SOAK_WORKERS))
		if lab_exec cli curl --interface "$addr" -s -o /dev/null --connect-timeout 5 \
			--max-time 20 -w '%{http_code}' "http://$LAB_ORIGIN/" 2>/dev/null | grep -q '^200$'; then
			printf . >>"$out"
		else
			printf x >>"$out"
		fi
	done
}

# The probe port of proxy N: closed (its health goes down) or open again.
probe_port() {
	local n=$1 action=$2
	lab_exec "px$n" iptables -w "$action" INPUT -p tcp --dport 3128 -s "$LAB_APPLIANCE" \
		-j REJECT --reject-with tcp-reset 2>/dev/null
}

proxy_id() {
	lab_droverctl --json proxy list |
		jq -r --arg a "$(lab_proxy_address "$1")" '.proxies[] | select(.address == $a) | .id'
}

# config_change K: the K-th change of a cycle that always returns to the start.
config_change() {
	local step=$(($1 % 10)) id2 id3
	id2=$(proxy_id 2)
	id3=$(proxy_id 3)
	case $step in
	0) lab_droverctl proxy set "$id2" --weight 50 ;;
	1) lab_droverctl settings set affinity_timeout 120 ;;
	2) lab_droverctl proxy set "$id3" --admin drain ;;
	3) lab_droverctl settings set maglev_table_size 65521 ;;
	4) lab_droverctl settings set frag_needed_rate 50 ;;
	5) lab_droverctl proxy set "$id2" --weight 100 ;;
	6) lab_droverctl settings set affinity_timeout 300 ;;
	7) lab_droverctl proxy set "$id3" --admin enabled ;;
	8) lab_droverctl settings set maglev_table_size 65537 ;;
	9) lab_droverctl settings set frag_needed_rate 100 ;;
	esac
}

# sample T: one line of soak.csv for droverd at second T.
sample() {
	local pid=$1 t=$2 rss fds threads
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
	threads=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
	fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	echo "$t,${rss:-0},$fds,${threads:-0}" >>"$csv"
}

if ! lab_up || ! lab_start_droverd; then
	check 1 "soak lab builds and droverd starts" "$(tail -n 5 "$LAB_STATE/droverd.log" 2>/dev/null | tr '\n' ' ')"
	echo "$passed passed, $failed failed"
	exit 1
fi
read -r dpid <"$LAB_STATE/droverd.pid"
check 0 "soak lab builds and droverd starts" \
	"$LAB_CLIENTS client addresses, $LAB_PROXIES Squids, $SOAK_WORKERS workers, $SOAK_SECONDS s"

echo "seconds,rss_kb,fds,threads" >"$csv"
for ((w = 0; w < SOAK_WORKERS; w++)); do
	worker "$w" &
	workers+=($!)
done

start=$(date +%s)
next_flap=$SOAK_FLAP_S
next_config=$SOAK_CONFIG_S
next_sample=0
flapping=0
flaps=0
changes=0
change_errors=0
warm_rss=
warm_fds=
while :; do
	now=$(($(date +%s) - start))
	[ "$now" -ge "$SOAK_SECONDS" ] && break
	if [ "$now" -ge "$next_sample" ]; then
		sample "$dpid" "$now"
		next_sample=$((next_sample + SOAK_SAMPLE_S))
		# The reference: a quarter in, once every table and pool has been sized.
		if [ -z "$warm_rss" ] && [ "$now" -ge $((SOAK_SECONDS / 4)) ]; then
			IFS=, read -r _ warm_rss warm_fds _ < <(tail -n 1 "$csv")
		fi
	fi
	if [ "$now" -ge "$next_flap" ]; then
		if [ "$flapping" -eq 0 ]; then
			flapping=$((flaps % LAB_PROXIES + 1))
			probe_port "$flapping" -I
			flaps=$((flaps + 1))
			next_flap=$((now + SOAK_FLAP_S / 2))
		else
			probe_port "$flapping" -D
			flapping=0
			next_flap=$((now + SOAK_FLAP_S / 2))
		fi
	fi
	if [ "$now" -ge "$next_config" ]; then
		config_change "$changes" >/dev/null 2>&1 || change_errors=$((change_errors + 1))
		changes=$((changes + 1))
		next_config=$((now + SOAK_CONFIG_S))
	fi
	sleep 1
done

# Wind down: traffic stops, every proxy is reachable again, the logs settle.
touch "$LAB_STATE/stop"
for pid in "${workers[@]}"; do
	wait "$pid" 2>/dev/null
done
workers=()
[ "$flapping" -ne 0 ] && probe_port "$flapping" -D
sleep 3
now=$(($(date +%s) - start))
sample "$dpid" "$now"

alive=1
kill -0 "$dpid" 2>/dev/null && alive=0
check "$alive" "droverd is still running after $now s" \
	"$flaps flaps, $changes config changes ($change_errors refused)"

IFS=, read -r _ last_rss last_fds last_threads < <(tail -n 1 "$csv")
[ -n "$warm_rss" ] || IFS=, read -r _ warm_rss warm_fds _ < <(sed -n 2p "$csv")
max_rss=$(awk -F, 'NR > 1 && $2 > m { m = $2 } END { print m + 0 }' "$csv")
# Flat: no more than 5% (or 2 MB, whichever is larger) above the reference.
allow=$((warm_rss / 20 > 2048 ? warm_rss / 20 : 2048))
check "$([ "$last_rss" -le $((warm_rss + allow)) ]; echo $?)" "RSS is flat" \
	"reference ${warm_rss} kB, last ${last_rss} kB, peak ${max_rss} kB (allowed +${allow} kB)"
check "$([ "$last_fds" -le $((warm_fds + 2)) ]; echo $?)" "open descriptors are flat" \
	"reference $warm_fds, last $last_fds, threads $last_threads"

ok_requests=$(cat "$LAB_STATE"/worker.* | tr -cd . | wc -c)
bad_requests=$(cat "$LAB_STATE"/worker.* | tr -cd x | wc -c)
total=$((ok_requests + bad_requests))
check "$([ "$total" -gt 0 ] && [ $((bad_requests * 100)) -le "$total" ]; echo $?)" \
	"at least 99% of the requests were served" \
	"$ok_requests served, $bad_requests failed, $((total / (now > 0 ? now : 1))) requests/s"

# droverd counts a new connection (SYN) per proxy; each Squid logs one line per
# request, one request per connection. A retransmitted SYN or a connection
# cut by a move counts on one side only: allow the failures plus 0.5%.
stats=$(lab_droverctl --json stats 2>/dev/null)
hits_total=0
logged_total=0
fig=
for ((i = 1; i <= LAB_PROXIES; i++)); do
	hits=$(jq -r --arg a "$(lab_proxy_address "$i")" \
		'[.proxies[] | select(.address == $a) | .hits][0] // 0' <<<"$stats")
	logged=$(lab_squid_requests "$i")
	fig+="squid$i hits=$hits logged=$logged "
	hits_total=$((hits_total + hits))
	logged_total=$((logged_total + logged))
done
diff=$((hits_total - logged_total))
check "$([ "$logged_total" -gt 0 ] && [ "${diff#-}" -le $((bad_requests + logged_total / 200)) ]; echo $?)" \
	"droverd's new connections per proxy agree with the Squids' logs" \
	"${fig}total hits=$hits_total logged=$logged_total served=$ok_requests"
echo "# droverd stats: $(jq -c '.global | {packets, encapsulated, tx_errors, recv_errors, enobufs, affinity_moves, kernel_queue_full_drops}' <<<"$stats")"
echo "# samples: $csv"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
