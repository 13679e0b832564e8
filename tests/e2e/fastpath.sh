#!/bin/bash
# tests/e2e/fastpath.sh - the kernel fast path with real Squid and nginx.
#
# The lab of tests/lab/lib.sh (20 clients, 3 Squids, probes 1 s / 500 ms),
# with an extra web server on the appliance itself (198.18.1.1:80).
#   1. Three requests from each client: every one answered by the origin
#      through a Squid; only the clients' first packets reach NFQUEUE, the
#      rest are sent by the kernel (fast_packets), and per-proxy hits still
#      equal the connections Squid logged. The clients keep their transmit
#      checksum offload on (the lab's default), so the kernel wraps packets
#      whose checksums are partial: drover-decap counts those it completed.
#   2. A known client talking to the appliance's own address on a web port
#      is answered by the appliance, not sent to a proxy.
#   2b. A host on the WAN side sends web packets with a known client's
#      address: the kernel does not wrap them to the client's proxy (the
#      client was seen on lan0), it leaves them to the kernel, whose strict
#      rp_filter drops them.
#   2c. client_subnets loses the clients' subnet while they fetch: no record
#      is left for the kernel to use, and their requests go direct.
#   3. fast_path off, live: every packet goes through NFQUEUE again and the
#      answers keep coming; on again: the kernel takes over again. Merged
#      (GRO/TSO) upload packets are wrapped whole and the upload arrives
#      intact.
#   4. A Squid killed: its clients' records go stale at once (the slot's
#      generation), they are re-placed by droverd and answered by the others.
#   5. SIGKILL of droverd: the kernel stops carrying (once droverd is gone:
#      the program goes with droverd's tcx link, pinned in the bpffs of the
#      mount namespace ip netns exec gave droverd; 3 s later for a clsact
#      filter, once fast_path_grace_seconds, set to 3, runs out), nothing is
#      carried without a decider: with fail_open the requests are answered
#      directly.
#   6. A client idle past affinity_timeout loses its record.
# fast_path_mode xdp (auto leaves veths to tc): the veth lan0 has native XDP,
# so the XDP program carries the clients and finishes their partial checksums
# itself; FAST_PATH_MODE=tc runs it all with the tc program alone, whose
# merged packets and partial checksums (finished by drover-decap) are checked
# then. DROVER_FAST_PATH_ATTACH=clsact runs it all with the clsact filter
# kernels before 6.6 get, with the tc program alone
# (tests/e2e/fastpath_clsact.sh).
# Prints "ok - ..." / "not ok - ... (figures)" lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-dfp}
LAB_STATE=/tmp/drover-e2e-fastpath.$$
LAB_CLIENTS=20
LAB_PROXIES=3
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"
# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

URL=http://$LAB_ORIGIN/

trap lab_down EXIT
trap 'exit 1' INT TERM

# stat NAME: one global counter from droverd's stats.
stat() {
	lab_droverctl --json stats | python3 -c "import json,sys; print(json.load(sys.stdin)['global']['$1'])"
}

# fetch CLIENT: one request; succeeds when the origin's page came back.
fetch() {
	lab_client_curl "$1" "$URL" 2>/dev/null | grep -q "$LAB_MARKER"
}

# fetch_all ROUNDS: ROUNDS requests from every client; prints "ok failed".
fetch_all() {
	local r a ok=0 bad=0
	for ((r = 0; r < $1; r++)); do
		for a in $(lab_client_addresses); do
			if fetch "$a"; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
		done
	done
	echo "$ok $bad"
}

# health ID: the health droverd shows for proxy ID.
health() {
	lab_droverctl --json proxy show "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['proxy'].get('health'))"
}

health_is() { [ "$(health "$1")" = "$2" ]; }

squid_pid() {
	awk -v l="squid$1" '$1 == l { p = $2 } END { print p }' "$LAB_STATE/pids"
}

mode=${FAST_PATH_MODE:-xdp}
export LAB_FAST_PATH_MODE=$mode
if ! lab_up || ! lab_start_droverd; then
	fail "lab world with droverd builds"
	exit 1
fi
pass "lab world with droverd builds ($LAB_CLIENTS clients, $LAB_PROXIES Squids)"
if [ "${DROVER_FAST_PATH_ATTACH:-}" = clsact ]; then kind="clsact filter"; else kind="tcx link"; fi
grep -q "fast path on: attached to .* ($kind)" "$LAB_STATE/droverd.log"
check $? "droverd loads the fast path and attaches it ($kind)" \
	"$(grep -m1 'fast path' "$LAB_STATE/droverd.log")"
paths=$(stat fast_path_interfaces)
if [ "$mode" = tc ]; then
	[[ $paths == *"lan0 tc"* ]] && [[ $paths != *xdp* ]]
else
	[[ $paths == *"lan0 xdp"* ]]
fi
check $? "fast_path_mode $mode: the program per interface in stats" "$paths"
xdp=0
[[ $paths == *"lan0 xdp"* ]] && xdp=1

# --- 1. first packets through NFQUEUE, the rest through the kernel -----------
q0=$(stat packets)
f0=$(stat fast_packets)
read -r ok bad <<<"$(fetch_all 3)"
q1=$(stat packets)
f1=$(stat fast_packets)
learned=$(stat fast_learned)
total=$((LAB_CLIENTS * 3))
queued=$((q1 - q0))
fast=$((f1 - f0))
# Each request is about 6 client packets (SYN, ACK, request, ACKs, FIN): with
# the fast path, only the first packet of each client (plus the few already
# queued behind it) should reach droverd.
[ "$ok" -eq "$total" ] && [ "$fast" -gt $((total * 4)) ] && [ "$queued" -le $((LAB_CLIENTS * 3)) ]
check $? "$total requests answered through the Squids; the kernel sent the clients' later packets" \
	"answered $ok of $total; packets through NFQUEUE $queued, sent by the kernel $fast; clients recorded $learned"

hits_ok=1
detail=
for i in 1 2 3; do
	h=$(lab_droverctl --json proxy show "$i" | python3 -c "import json,sys; print(json.load(sys.stdin)['proxy']['hits'])")
	s=$(lab_squid_requests "$i")
	detail="$detail squid$i hits=$h logged=$s;"
	[ "$h" -eq "$s" ] || hits_ok=0
done
[ "$hits_ok" -eq 1 ]
check $? "per-proxy hits count the connections the kernel sent too (= Squid's log)" "$detail"

# The clients keep their veth's transmit checksum offload (the default): the
# tc program wraps their packets with the TCP checksum still partial, and each
# proxy's drover-decap completes it (csum_completed) before its stack sees it.
# The XDP program's frames lose the mark that says so: it finishes them itself
# (fast_xdp_checksums_finished). Not zero, or the answers above would prove
# nothing about it.
offload=$(lab_exec cli ethtool -k eth0 | awk '$1 == "tx-checksumming:" { print $2 }')
completed=0
detail=
for i in 1 2 3; do
	n=$(lab_decap_counters "$i" | tr ' ' '\n' | awk -F= '$1 == "csum_completed" { v = $2 } END { print v + 0 }')
	detail="$detail squid$i csum_completed=$n;"
	completed=$((completed + n))
done
finished=$(stat fast_xdp_checksums_finished)
if [ "$xdp" = 1 ]; then
	[ "$offload" = on ] && [ "$finished" -gt 0 ] && [ "$(stat fast_xdp_packets)" -gt $((total * 4)) ]
	check $? "with the clients' checksum offload on, the XDP program finished partial checksums" \
		"client tx-checksumming $offload; XDP sent $(stat fast_xdp_packets), checksums finished $finished;$detail"
else
	[ "$offload" = on ] && [ "$completed" -gt 0 ] && [ "$finished" -eq 0 ]
	check $? "with the clients' checksum offload on, drover-decap completed partial checksums" \
		"client tx-checksumming $offload;$detail total $completed"
fi

# Counters are kept when a packet thread goes away (fewer queues).
p0=$(stat packets)
l0=$(stat fast_learned)
lab_droverctl settings set queues 1 >/dev/null
p1=$(stat packets)
l1=$(stat fast_learned)
lab_droverctl settings set queues 2 >/dev/null
[ "$p1" -ge "$p0" ] && [ "$l1" -ge "$l0" ] && [ "$p0" -gt 0 ]
check $? "counters do not go back when the queues go from 2 to 1" \
	"packets $p0 -> $p1, fast_learned $l0 -> $l1"

# --- 2. the appliance's own address is not proxied ---------------------------
mkdir -p "$LAB_STATE/own"
echo "appliance-own-page" >"$LAB_STATE/own/index.html"
# Started directly (not through a shell function) so that $! is the server
# itself, and recorded so that lab_down stops it whatever happens.
ip netns exec "$(lab_ns app)" python3 -m http.server 80 --bind "$LAB_APPLIANCE" \
	--directory "$LAB_STATE/own" </dev/null >/dev/null 2>&1 &
own_pid=$!
lab_record own-web "$own_pid" python3
lab_wait "$LAB_WAIT_S" lab_listening app 80
client=$(lab_client_address 0)
nf0=$(stat fast_declined_not_forwarded)
body=$(lab_client_curl "$client" "http://$LAB_APPLIANCE/" 2>/dev/null)
nf1=$(stat fast_declined_not_forwarded)
[ "$body" = appliance-own-page ] && [ "$nf1" -gt "$nf0" ]
check $? "a known client's request to the appliance's own address is answered by the appliance" \
	"body '$body'; declined as not forwarded: +$((nf1 - nf0))"
lab_kill "$own_pid" python3
wait "$own_pid" 2>/dev/null

# --- 2b. a known client's address from the WAN side -----------------------------
# spoof SRC DST COUNT: COUNT TCP SYNs to DST:80 with source SRC, from the origin's network.
spoof() {
	lab_exec org python3 - "$1" "$2" "$3" <<'PY'
import socket, struct, sys
src, dst, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
for i in range(count):
    tcp = struct.pack("!HHIIBBHHH", 40000 + i, 80, i, 0, 5 << 4, 0x02, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0x4000, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    s.sendto(ip + tcp, (dst, 0))
PY
}
client=$(lab_client_address 4)
fetch "$client"
rp_was=$(lab_exec app sysctl -n net.ipv4.conf.all.rp_filter)
lab_exec app sysctl -qw net.ipv4.conf.all.rp_filter=1
spoofed=200
f0=$(stat fast_packets)
i0=$(stat fast_declined_interface)
q0=$(stat packets)
spoof "$client" "$LAB_LAN_PREFIX.250" "$spoofed"
f1=$(stat fast_packets)
i1=$(stat fast_declined_interface)
q1=$(stat packets)
lab_exec app sysctl -qw "net.ipv4.conf.all.rp_filter=$rp_was"
[ "$f1" -eq "$f0" ] && [ "$((i1 - i0))" -eq "$spoofed" ] && [ "$q1" -eq "$q0" ]
check $? "a known client's address from the WAN side is not wrapped to its proxy (rp_filter drops it)" \
	"$spoofed spoofed SYNs: wrapped by the kernel +$((f1 - f0)), declined as another interface +$((i1 - i0)), through NFQUEUE +$((q1 - q0))"
fetch "$client"
check $? "the client itself is still carried" ""

# --- 2c. a subnet removed while its clients fetch --------------------------------
squid_total() { echo $(($(lab_squid_requests 1) + $(lab_squid_requests 2) + $(lab_squid_requests 3))); }
fast_clients_none() { [ "$(stat fast_clients)" -eq 0 ]; }
(
	for ((r = 0; r < 3; r++)); do
		for a in $(lab_client_addresses); do fetch "$a"; done
	done
) &
loop_pid=$!
sleep 1
lab_droverctl settings set client_subnets "$LAB_LAN_PREFIX.0/25" >/dev/null
wait "$loop_pid"
# The records counted a second later: none the kernel may use, and the walk takes the rest.
lab_wait "$LAB_WAIT_S" fast_clients_none
s0=$(squid_total)
f0=$(stat fast_packets)
read -r ok bad <<<"$(fetch_all 1)"
s1=$(squid_total)
f1=$(stat fast_packets)
[ "$ok" -eq "$LAB_CLIENTS" ] && [ "$s1" -eq "$s0" ] && [ "$f1" -eq "$f0" ]
check $? "after the clients' subnet is removed their requests go direct: nothing reaches a proxy" \
	"answered $ok of $LAB_CLIENTS; Squid requests +$((s1 - s0)); wrapped by the kernel +$((f1 - f0)); records $(stat fast_clients)"
lab_droverctl settings set client_subnets "$LAB_LAN_PREFIX.0/24" >/dev/null

# --- 3. off and on, live ------------------------------------------------------
lab_droverctl settings set fast_path false >/dev/null
q0=$(stat packets)
f0=$(stat fast_packets)
read -r ok bad <<<"$(fetch_all 1)"
q1=$(stat packets)
f1=$(stat fast_packets)
[ "$ok" -eq "$LAB_CLIENTS" ] && [ "$f1" -eq "$f0" ] && [ "$((q1 - q0))" -ge $((LAB_CLIENTS * 4)) ]
check $? "fast_path off: every packet goes through NFQUEUE, every request answered" \
	"answered $ok of $LAB_CLIENTS; through NFQUEUE $((q1 - q0)), by the kernel $((f1 - f0))"
lab_droverctl settings set fast_path true >/dev/null
read -r ok bad <<<"$(fetch_all 1)"
f2=$(stat fast_packets)
[ "$ok" -eq "$LAB_CLIENTS" ] && [ "$f2" -gt "$f1" ]
check $? "fast_path on again: the kernel carries the clients again" \
	"answered $ok of $LAB_CLIENTS; by the kernel +$((f2 - f1))"

# --- 3b. merged (GRO/TSO) packets ---------------------------------------------
# A real NIC merges a client's upload segments (GRO) before tc sees them: the
# kernel must wrap the merged packet and cut it again on the way out. Here the
# client's own TSO (on by default) makes the same kind of packet (64 KB,
# segment size set, checksum left to offload); with no checksum offload on
# lan0 the segments' checksums are completed in software, as a real NIC
# completes them in hardware.
lab_exec cli ethtool -K eth0 tx on tso on >/dev/null 2>&1
lab_exec app ethtool -K lan0 tx off >/dev/null 2>&1
client=$(lab_client_address 3)
fetch "$client"
m0=$(stat fast_merged)
f0=$(stat fast_packets)
b0=$(stat fast_bytes)
head -c $((2 << 20)) /dev/urandom >"$LAB_STATE/upload.bin"
want=$(sha256sum <"$LAB_STATE/upload.bin" | cut -d' ' -f1)
code=$(lab_client_curl "$client" "http://$LAB_ORIGIN/upload/gro.bin" -T "$LAB_STATE/upload.bin" \
	-o /dev/null -w '%{http_code}')
got=$(sha256sum <"$LAB_STATE/origin/www/upload/gro.bin" 2>/dev/null | cut -d' ' -f1)
m1=$(stat fast_merged)
f1=$(stat fast_packets)
b1=$(stat fast_bytes)
# Merged packets carried whole, counted as the segments they become. XDP sees
# frames before any merging (and a veth whose peer runs XDP gets no TSO
# packets): it carries the segments one by one.
if [ "$xdp" = 1 ]; then
	[ "$got" = "$want" ] && [[ $code == 20[14] ]] && [ "$((f1 - f0))" -gt 1000 ]
	check $? "XDP carries the upload's segments and the 2 MB upload arrives intact" \
		"status=$code sha256 ok=$([ "$got" = "$want" ] && echo yes || echo no); by the kernel: +$((m1 - m0)) merged packets, +$((f1 - f0)) packets, +$((b1 - b0)) bytes"
else
	[ "$got" = "$want" ] && [[ $code == 20[14] ]] && [ "$((m1 - m0))" -gt 0 ] &&
		[ "$((f1 - f0))" -gt "$((m1 - m0))" ]
	check $? "the kernel wraps merged (GSO) upload packets whole and the 2 MB upload arrives intact" \
		"status=$code sha256 ok=$([ "$got" = "$want" ] && echo yes || echo no); by the kernel: +$((m1 - m0)) merged packets, +$((f1 - f0)) packets counted as segments, +$((b1 - b0)) bytes"
fi
lab_exec app ethtool -K lan0 tx on >/dev/null 2>&1

# --- 4. a proxy dies: its clients are re-placed --------------------------------
victim=1
mine=$(for a in $(lab_client_addresses); do
	p=$(lab_droverctl --json lookup "$a" | python3 -c "import json,sys; p=json.load(sys.stdin)['proxy']; print(p['name'] if p else '')")
	[ "$p" = "squid$victim" ] && echo "$a"
done)
n_mine=$(echo "$mine" | grep -c .)
kill -KILL "$(squid_pid $victim)"
st0=$(stat fast_declined_stale)
lab_wait "$LAB_WAIT_S" health_is "$victim" down
ok=0
for a in $mine; do fetch "$a" && ok=$((ok + 1)); done
st1=$(stat fast_declined_stale)
# Where each of them is placed now. Their kernel records are either declined
# as stale at their next packet or removed before it by droverd's walk (which
# drops records of a changed slot): which one comes first is timing, so the
# stale count is a figure, not a condition.
moved=0
for a in $mine; do
	p=$(lab_droverctl --json lookup "$a" | python3 -c "import json,sys
r=json.load(sys.stdin); p=r['proxy']; print(p['name'] + '/' + r['reason'] if p else '')")
	[ "${p#*/}" = affinity ] && [ "${p%/*}" != "squid$victim" ] && moved=$((moved + 1))
done
[ "$n_mine" -gt 0 ] && [ "$ok" -eq "$n_mine" ] && [ "$moved" -eq "$n_mine" ]
check $? "a dead proxy's clients are re-placed by droverd and answered by the others" \
	"$ok of $n_mine clients of squid$victim answered after it went down, $moved held on another proxy by their affinity; records found stale: +$((st1 - st0))"

# --- 5. droverd killed: nothing is carried without it ---------------------------
lab_droverctl settings set fail_open true >/dev/null
# Past the grace (tests/e2e/restart.sh covers what happens within it). droverd
# pins in the bpffs of its own mount namespace here, gone with it: so do tcx links.
lab_droverctl settings set fast_path_grace_seconds 3 >/dev/null
pid=$(cat "$LAB_STATE/droverd.pid")
kill -KILL "$pid"
# Reaped: its descriptors are closed, so a tcx link (and its program) is gone.
wait "$pid" 2>/dev/null
# A clsact filter stays until the heartbeat droverd last renewed runs out (3 s).
[ "$kind" = "clsact filter" ] && sleep 3.5
client=$(lab_client_address 1)
before=$(lab_squid_requests 2)$(lab_squid_requests 3)
fetch "$client"
r=$?
after=$(lab_squid_requests 2)$(lab_squid_requests 3)
[ "$r" -eq 0 ] && [ "$before" = "$after" ]
check $? "after SIGKILL nothing is carried to a proxy without droverd; a known client is answered directly (fail_open)" \
	"request answered: $([ $r -eq 0 ] && echo yes || echo no); Squid logs unchanged: $([ "$before" = "$after" ] && echo yes || echo no)"

# --- 6. idle expiry -------------------------------------------------------------
lab_start_droverd_again() {
	ip netns exec "$(lab_ns app)" "$DROVER_BUILD/droverd" --db "$LAB_STATE/drover.db" \
		--socket "$LAB_STATE/drover.sock" --manage-rules --log-level info \
		</dev/null >>"$LAB_STATE/droverd.log" 2>&1 &
	pid=$!
	lab_record droverd "$pid" droverd
	echo "$pid" >"$LAB_STATE/droverd.pid"
	lab_wait "$LAB_WAIT_S" test -S "$LAB_STATE/drover.sock"
}
rm -f "$LAB_STATE/drover.sock"
lab_start_droverd_again && lab_wait "$LAB_WAIT_S" health_is 2 up &&
	lab_wait "$LAB_WAIT_S" health_is 3 up
lab_droverctl settings set affinity_timeout 3 >/dev/null
client=$(lab_client_address 2)
fast_clients_at_least() { [ "$(stat fast_clients)" -ge "$1" ]; }
fetch "$client"
fetch "$client"
# The record count is taken once a second: wait for it to show the client,
# then for the record to go once the client has been idle past the timeout.
lab_wait "$LAB_WAIT_S" fast_clients_at_least 1
c0=$(stat fast_clients)
idle_start=$SECONDS
lab_wait "$LAB_WAIT_S" fast_clients_none
c1=$(stat fast_clients)
idle=$(lab_droverctl --json lookup "$client" | python3 -c "import json,sys; print(json.load(sys.stdin)['reason'])")
[ "$c0" -ge 1 ] && [ "$c1" -eq 0 ] && [ "$idle" != affinity ]
check $? "a client idle past affinity_timeout loses its record (and its affinity)" \
	"records before $c0, after $((SECONDS - idle_start)) s idle $c1; lookup reason now $idle"

exit $((failures > 0))
