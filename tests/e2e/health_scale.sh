#!/bin/bash
# health_scale.sh - 1,000 probe targets at a 2 s interval.
#
#   $P-cli 198.18.200.2 ──veth── $P-app (droverd) ──veth── $P-tgt
#                         .1   198.18.200.1 / 198.18.127.1    198.18.127.2
#                                                             + 1,000 target addresses
#                                                               198.18.128.1 ...
#                                                             nginx :3128 answers every probe
#
# droverd probes every target with http-proxy probes (the canary fetched
# "through" nginx, which answers any absolute URI itself). Checked: every
# target is probed, round after round, and droverd's packet threads take
# every packet while the control loop is busy with the probes (a client sends
# a stream of SYNs through the queue during the rounds: every one is counted,
# none passes the queue by). The spread of each target's probe-to-probe
# interval around 2 s (jitter), how long the rounds took and droverd's CPU
# share are measured and reported, not asserted: on a busy machine they say
# how busy it is, not whether droverd works.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${DROVER_BUILD:-$root/build}
artifacts=${DROVER_ARTIFACTS:-$root/tests/artifacts}
P=dsc$$
state=$(mktemp -d /tmp/drover-scale.XXXXXX)
TARGETS=${SCALE_TARGETS:-1000}
ROUNDS=${SCALE_ROUNDS:-5}
INTERVAL_MS=2000
SYNS=${SCALE_SYNS:-2000}
# Waits for what must happen end as soon as it has; only a hang runs into them.
WAIT_S=600
pids=()

# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

cleanup() {
	local p i
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	# nginx's master takes its worker down with it: KILL only what outlives TERM.
	for ((i = 0; i < 100; i++)); do
		kill -0 "${pids[@]}" 2>/dev/null || break
		sleep 0.1
	done
	for p in "${pids[@]}"; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for ns in cli app tgt; do
		ip netns del "$P-$ns" 2>/dev/null
	done
	rm -rf "$state"
}
trap cleanup EXIT

target_address() { # index 0.. -> 198.18.128.1 ...
	local i=$(($1 + 1))
	echo "198.18.$((128 + i / 256)).$((i % 256))"
}

for ns in cli app tgt; do
	ip netns add "$P-$ns" && ip -n "$P-$ns" link set lo up || exit 1
done
ip link add eth0 netns "$P-cli" type veth peer name cli0 netns "$P-app"
ip link add eth0 netns "$P-tgt" type veth peer name tgt0 netns "$P-app"
ip -n "$P-cli" addr add 198.18.200.2/24 dev eth0
ip -n "$P-cli" link set eth0 up
ip -n "$P-cli" route add default via 198.18.200.1
ip -n "$P-app" addr add 198.18.200.1/24 dev cli0
ip -n "$P-app" addr add 198.18.127.1/24 dev tgt0
ip -n "$P-app" link set cli0 up
ip -n "$P-app" link set tgt0 up
ip -n "$P-app" route add 198.18.128.0/20 via 198.18.127.2
ip netns exec "$P-app" sysctl -qw net.ipv4.ip_forward=1
ip -n "$P-tgt" addr add 198.18.127.2/24 dev eth0
ip -n "$P-tgt" link set eth0 up
ip -n "$P-tgt" route add default via 198.18.127.1
# Many addresses, one batch: "ip -batch" adds them in one process.
for ((i = 0; i < TARGETS; i++)); do
	echo "addr add $(target_address $i)/32 dev lo"
done >"$state/addrs"
ip -n "$P-tgt" -batch "$state/addrs" || exit 1

mkdir -p "$state/www" "$state/tmp"
echo canary >"$state/www/index.html"
chown nobody:nogroup "$state/tmp"
chmod 755 "$state"
cat >"$state/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $state/nginx.pid;
error_log $state/error.log warn;
user nobody nogroup;
events { worker_connections 4096; }
http {
    log_format probe '\$msec \$server_addr \$status';
    access_log $state/access.log probe;
    client_body_temp_path $state/tmp/body;
    proxy_temp_path $state/tmp/proxy;
    fastcgi_temp_path $state/tmp/fastcgi;
    uwsgi_temp_path $state/tmp/uwsgi;
    scgi_temp_path $state/tmp/scgi;
    server { listen 3128 backlog=4096; root $state/www; }
}
CONF
ip netns exec "$P-tgt" nginx -p "$state" -c "$state/nginx.conf" -e "$state/error.log" \
	</dev/null >"$state/nginx.out" 2>&1 &
pids+=($!)

# Rules by hand: with --manage-rules every one of the 1,000 adds would reload
# a ruleset excluding 1,000 proxies, which measures iptables, not probes.
ip netns exec "$P-app" iptables -A FORWARD -s 198.18.200.0/24 -p tcp --dport 80 \
	-j NFQUEUE --queue-balance 0:1 --queue-bypass
ip netns exec "$P-app" "$build/droverd" --db "$state/drover.db" --socket "$state/drover.sock" \
	</dev/null >"$state/droverd.log" 2>&1 &
dpid=$!
pids+=($dpid)
ctl() { ip netns exec "$P-app" "$build/droverctl" --socket "$state/drover.sock" "$@"; }
for ((i = 0; i < WAIT_S * 10; i++)); do
	[ -S "$state/drover.sock" ] && break
	kill -0 "$dpid" 2>/dev/null || break
	sleep 0.1
done
ctl settings set client_subnets 198.18.200.0/24 >/dev/null
ctl settings set probe_url http://canary.drover.test/ >/dev/null
ctl settings set probe_interval_ms $INTERVAL_MS >/dev/null
ctl settings set no_proxy_policy drop >/dev/null
# What is checked is droverd's packet threads under the probes' load: with
# the fast path the kernel would carry the SYN stream past them.
ctl settings set fast_path false >/dev/null

t0=$(date +%s.%N)
for ((i = 0; i < TARGETS; i++)); do
	ctl proxy add "$(target_address $i)" --name "t$i" >/dev/null || {
		fail "adding target $i"
		exit 1
	}
done
t1=$(date +%s.%N)
echo "# added $TARGETS proxies in $(echo "$t1 - $t0" | bc) s"

# Let every target's schedule settle into its phase, then measure.
sleep 3
: >"$state/access.log" # nginx keeps its fd: truncating starts the window
read -r u0 s0 < <(awk '{ print $14, $15 }' "/proc/$dpid/stat")
p0=$(ctl --json stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["global"]["packets"])')
w0=$(date +%s.%N)

# A stream of SYNS SYNs through the queue while the rounds run: the packet
# threads must take every one while the control loop is busy with probes.
cat >"$state/syn.py" <<'PY'
import socket, struct, sys, time
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
src, dst = socket.inet_aton('198.18.200.2'), socket.inet_aton('198.18.128.1')
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
port = 20000
for _ in range(int(sys.argv[1])):
    port = 20000 + (port - 19999) % 40000
    tcp = struct.pack('!HHIIBBHHH', port, 80, 1, 0, 5 << 4, 2, 65535, 0, 0)
    pseudo = src + dst + struct.pack('!BBH', 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack('!H', csum(pseudo + tcp)) + tcp[18:]
    s.sendto(tcp, ('198.18.128.1', 0))
    time.sleep(0.005)
PY
ip netns exec "$P-cli" python3 "$state/syn.py" "$SYNS" &
synpid=$!
pids+=($synpid)

# probe_counts: "targets min max non200" over the window so far.
cat >"$state/counts.py" <<'PY'
import sys, collections
seen = collections.Counter()
bad = 0
for line in open(sys.argv[1]):
    t, addr, status = line.split()
    seen[addr] += 1
    bad += status != '200'
c = seen.values()
print(len(seen), min(c or [0]), max(c or [0]), bad)
PY
rounds_done() {
	local probed minc
	read -r probed minc _ < <(python3 "$state/counts.py" "$state/access.log")
	[ "$probed" -eq "$TARGETS" ] && [ "$minc" -ge "$ROUNDS" ]
}
# The window ends when every target has had ROUNDS probes, however long that took.
end=$((SECONDS + WAIT_S))
until rounds_done; do
	[ $SECONDS -ge $end ] && break
	sleep 0.5
done
w1=$(date +%s.%N)
read -r u1 s1 < <(awk '{ print $14, $15 }' "/proc/$dpid/stat")
hz=$(getconf CLK_TCK)
cpu=$(echo "scale=4; ($u1 + $s1 - $u0 - $s0) / $hz / ($w1 - $w0) * 100" | bc)
took=$(echo "scale=1; ($w1 - $w0) / 1" | bc)
cp "$state/access.log" "$state/window.log"

# Every SYN sent is counted by the packet threads (none bypassed the queue).
wait "$synpid"
packets_at_least() {
	[ "$(ctl --json stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["global"]["packets"])')" -ge "$1" ]
}
end=$((SECONDS + WAIT_S))
until packets_at_least $((p0 + SYNS)); do
	[ $SECONDS -ge $end ] && break
	sleep 0.2
done
stats=$(ctl --json stats)
p1=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["global"]["packets"])' <<<"$stats")
qdrops=$(python3 -c 'import json,sys; g = json.load(sys.stdin)["global"]; print(g["kernel_queue_full_drops"] + g["kernel_socket_full_drops"])' <<<"$stats")

python3 - "$state/window.log" "$INTERVAL_MS" >"$state/report" <<'PY'
import sys, collections
log, interval = sys.argv[1], int(sys.argv[2])
seen = collections.defaultdict(list)
for line in open(log):
    t, addr, status = line.split()
    seen[addr].append(float(t))
gaps = []
for times in seen.values():
    times.sort()
    gaps += [(b - a) * 1000 - interval for a, b in zip(times, times[1:])]
absj = sorted(abs(g) for g in gaps) or [0]
p = lambda q: absj[min(len(absj) - 1, int(q * len(absj)))]
print('%.1f' % p(0.5), '%.1f' % p(0.99), '%.1f' % absj[-1])
PY
read -r probed minc maxc bad < <(python3 "$state/counts.py" "$state/window.log")
read -r j50 j99 jmax <"$state/report"
echo "# targets probed $probed/$TARGETS, probes per target $minc..$maxc in a window of $took s ($ROUNDS rounds of ${INTERVAL_MS} ms), non-200 $bad"
echo "# probe interval jitter |gap - ${INTERVAL_MS}ms|: p50 ${j50} ms, p99 ${j99} ms, max ${jmax} ms"
echo "# droverd CPU over the window: ${cpu}% of one core"
echo "# SYNs sent $SYNS, counted by droverd $((p1 - p0)), kernel queue drops $qdrops"
{
	echo "targets=$TARGETS probed=$probed min_probes=$minc max_probes=$maxc window_s=$took"
	echo "jitter_p50_ms=$j50 jitter_p99_ms=$j99 jitter_max_ms=$jmax cpu_percent=$cpu"
	echo "syns=$SYNS counted=$((p1 - p0)) queue_drops=$qdrops"
} >"$artifacts/health_scale.txt"

check_cmd "every one of $TARGETS targets probed ($probed)" [ "$probed" -eq "$TARGETS" ]
check_cmd "every target probed round after round (at least $ROUNDS probes each: $minc..$maxc)" \
	[ "$minc" -ge "$ROUNDS" ]
check_cmd "the packet threads took every SYN sent while the targets were probed ($((p1 - p0)) of $SYNS, $qdrops dropped)" \
	[ $((p1 - p0)) -eq "$SYNS" -a "$qdrops" -eq 0 ]
grep -q "proxy" "$state/droverd.log" && cp "$state/droverd.log" "$artifacts/health_scale_droverd.log"
