#!/bin/bash
# tests/e2e/faults.sh - droverd's faults under load, measured, with real Squid.
#
# The lab of tests/lab/lib.sh (40 client addresses, 3 Squids, nginx origin).
# tests/lab/load.py makes one request after another from every client
# address (new connection each) and logs who answered: a Squid (its Via
# header), the origin directly, or the failure. Each phase waits for the
# event it is about (generously: the waits end as soon as it happens), and
# asserts what happened, never how long it took; the times are figures.
#   1. SIGKILL, fail_open on: new connections flow directly (--queue-bypass),
#      requests failed meanwhile; after a restart, clients are proxied again,
#      each on the proxy it had before the crash.
#   2. SIGKILL, fail_open off: new connections stop; back after a restart.
#   3. SIGSTOP, fail_open on, queue_maxlen 64: what passed (directly, once the
#      queue was full) and what failed; the kernel's queue counters; after
#      SIGCONT, proxied again.
#   4. Every proxy down (probes blocked), under each no_proxy_policy:
#      bypass (requests succeed directly), drop (they get no answer: they
#      time out), reject (they fail with a reset, not a timeout).
#   5. A flapping proxy (probe port blocked and unblocked after every probe
#      that saw it so): state changes counted with rise 2 / fall 3, against
#      rise 1 / fall 1.
#   6. A storm of malformed packets (tests/lab/storm.py: truncated, bad IHL,
#      bad lengths, bad checksum, TTL 1, options, bad TCP, fragments, ICMP
#      errors quoting other flows): every one counted, either by the kernel's
#      IP input (it never reaches the queue) or by droverd; then the storm
#      again mixed with the load: no good request fails, droverd survives.
# Prints "ok - ..." / "not ok - ..." lines (and "#   ..." figures) for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-dfx}
LAB_STATE=/tmp/drover-e2e-faults.$$
LAB_CLIENTS=40
LAB_PROXIES=3
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"
LOAD=$here/../lab/load.py
STAT=$here/../lab/loadstat.py
STORM=$here/../lab/storm.py

# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

LOADPID=
# A load runs until stopped; this only ends one nobody stopped.
LOAD_MAX_S=900
cleanup() {
	[ -n "$LOADPID" ] && kill "$LOADPID" 2>/dev/null
	local p
	p=$(cat "$LAB_STATE/droverd.pid" 2>/dev/null)
	[ -n "$p" ] && kill -CONT "$p" 2>/dev/null
	lab_down
}
trap cleanup EXIT
trap 'exit 1' INT TERM

now_ms() { date +%s%3N; }
ctl() { lab_droverctl "$@"; }
dpid() { cat "$LAB_STATE/droverd.pid"; }

# load SECONDS FILE [TIMEOUT_S]: the load in the background ($LOADPID). A
# request gets TIMEOUT_S (default 2) to be answered: short where requests
# are expected to go unanswered, generous where they must be answered.
load() {
	# shellcheck disable=SC2046
	ip netns exec "$(lab_ns cli)" python3 "$LOAD" --origin "$LAB_ORIGIN" --seconds "$1" \
		--timeout "${3:-2}" $(lab_client_addresses) >"$2" 2>>"$LAB_STATE/load.err" &
	LOADPID=$!
}
load_wait() {
	wait "$LOADPID" 2>/dev/null
	LOADPID=
}
load_stop() {
	kill "$LOADPID" 2>/dev/null
	load_wait
}
# seen FILE KIND FROM_MS: the load logged a request of KIND (direct,
# proxied, ok) that started at or after FROM_MS.
seen() { [ "$(python3 "$STAT" "$1" first "$2" "$3")" -ge 0 ]; }
# started FILE FROM_MS N: at least N requests that started at or after FROM_MS ended.
started() { [ "$(python3 "$STAT" "$1" window "$2" 99999999999999 | sed 's/^total=\([0-9]*\).*/\1/')" -ge "$3" ]; }
# returned FILE BEFORE_MS AFTER_MS: every client proxied before BEFORE was proxied again after AFTER.
returned() { [[ $(python3 "$STAT" "$1" same "$2" "$3") == *" missing=0" ]]; }
# gone PID: the process has ended (and was reaped).
gone() { ! kill -0 "$1" 2>/dev/null; }

# restart_droverd: droverd again on the same database (rules re-installed idempotently).
restart_droverd() {
	local pid
	ip netns exec "$(lab_ns app)" "$DROVER_BUILD/droverd" --db "$LAB_STATE/drover.db" \
		--socket "$LAB_STATE/drover.sock" --manage-rules --log-level info \
		</dev/null >>"$LAB_STATE/droverd.log" 2>&1 &
	pid=$!
	lab_record droverd "$pid" droverd
	echo "$pid" >"$LAB_STATE/droverd.pid"
	disown "$pid"
}

all_health() { # all_health STATE: every proxy is in STATE
	ctl --json proxy list | jq -e --arg s "$1" '[.proxies[] | .health == $s] | all' >/dev/null
}

block_probes() { # block_probes I add|del
	local op=-I
	[ "$2" = del ] && op=-D
	lab_exec "px$1" iptables $op INPUT -p tcp --dport 3128 -j REJECT --reject-with tcp-reset
}

dstats() { ctl --json stats | jq -c .global; }
jget() { jq -r "$1" <<<"$2"; }

# --- world --------------------------------------------------------------------
if ! lab_up || ! lab_start_droverd; then
	fail "lab world with droverd builds" "$(tail -n 3 "$LAB_STATE/droverd.log" 2>/dev/null | tr '\n' ' ')"
	exit 1
fi
# A bridge must not check IP headers itself (br_netfilter): the storm is for the appliance.
lab_exec sw sysctl -qw net.bridge.bridge-nf-call-iptables=0 2>/dev/null
disown -a # the kills below are on purpose: no "Killed" notices from the shell
ctl settings set queue_maxlen 64 >/dev/null
pass "lab world with droverd builds ($LAB_CLIENTS clients, $LAB_PROXIES Squids)"

# --- 1. SIGKILL with fail_open on ----------------------------------------------
f=$LAB_STATE/kill-open.log
load "$LOAD_MAX_S" "$f"
lab_wait "$LAB_WAIT_S" seen "$f" proxied 0
k=$(now_ms)
kill -KILL "$(dpid)"
lab_wait "$LAB_WAIT_S" seen "$f" direct "$k"
r=$(now_ms)
restart_droverd
lab_wait "$LAB_WAIT_S" seen "$f" proxied "$r"
back=$(python3 "$STAT" "$f" first proxied "$r")
lab_wait "$LAB_WAIT_S" returned "$f" "$k" $((r + ${back#-}))
load_stop
to_direct=$(python3 "$STAT" "$f" first direct "$k")
outage=$(python3 "$STAT" "$f" window "$k" "$r")
before=$(python3 "$STAT" "$f" window 0 "$k")
failed_to_bypass=$(python3 "$STAT" "$f" window "$k" $((k + ${to_direct#-} + 1)) | sed 's/.* fail=\([0-9]*\).*/\1/')
check "$( [ "$to_direct" -ge 0 ]; echo $?)" \
	"SIGKILL, fail_open on: new connections flow directly (--queue-bypass)" \
	"time to the first direct answer ${to_direct} ms; requests failed until then: $failed_to_bypass; during the $((r - k)) ms outage: $outage; before: $before"
same=$(python3 "$STAT" "$f" same "$k" $((r + ${back#-})))
after=$(python3 "$STAT" "$f" window "$r" 99999999999999)
check "$( [ "$back" -ge 0 ] && [[ $same == *" moved=0 "* ]] && [[ $same != clients=0* ]]; echo $?)" \
	"after the restart clients return to their proxies, each to the one it had before the crash" \
	"proxied again ${back} ms after the restart (probes: rise 2 x 1 s); $same; after restart: $after"

# --- 2. SIGKILL with fail_open off ---------------------------------------------
ctl settings set fail_open false >/dev/null
f=$LAB_STATE/kill-closed.log
load "$LOAD_MAX_S" "$f"
lab_wait "$LAB_WAIT_S" seen "$f" ok 0
p=$(dpid)
kill -KILL "$p"
lab_wait "$LAB_WAIT_S" gone "$p"
# Taken once droverd is gone: every request that starts from here meets no droverd.
k=$(now_ms)
# One request per client started in the outage, and ended (unanswered, at its timeout).
lab_wait "$LAB_WAIT_S" started "$f" "$k" "$LAB_CLIENTS"
r=$(now_ms)
restart_droverd
lab_wait "$LAB_WAIT_S" seen "$f" ok "$r"
load_stop
# Only requests that ended before the restart began: a SYN retried after it
# would meet the new droverd.
outage=$(python3 "$STAT" "$f" within "$k" "$r")
ok_in_outage=$(sed 's/.* ok=\([0-9]*\).*/\1/' <<<"$outage")
back=$(python3 "$STAT" "$f" first ok "$r")
check "$( [ "$ok_in_outage" -eq 0 ] && [[ $outage != total=0* ]] && [ "$back" -ge 0 ]; echo $?)" \
	"SIGKILL, fail_open off: new connections stop; they come back after a restart" \
	"requests made while droverd was dead: $outage; first answer ${back} ms after the restart"
ctl settings set fail_open true >/dev/null
lab_wait "$LAB_WAIT_S" all_health up

# --- 3. SIGSTOP with fail_open on ----------------------------------------------
f=$LAB_STATE/stop.log
lab_exec org iptables -Z INPUT 2>/dev/null
lab_exec org iptables -I INPUT -s "$LAB_CLIENT_RANGE" -p tcp --dport 80 -m comment --comment direct
load "$LOAD_MAX_S" "$f"
lab_wait "$LAB_WAIT_S" seen "$f" proxied 0
kill -STOP "$(dpid)"
# Taken once droverd is stopped: what starts from here finds nobody reading the
# queue. The fast path carries known clients until the heartbeat droverd no
# longer renews runs out; then the queue fills and packets pass it directly.
s=$(now_ms)
lab_wait "$LAB_WAIT_S" seen "$f" direct "$s"
qline=$(lab_exec app cat /proc/net/netfilter/nfnetlink_queue | awk '{ held += $3; qd += $6; ud += $7 } END { printf "held=%d queue_dropped=%d user_dropped=%d", held, qd, ud }')
direct_pkts=$(lab_exec org iptables -L INPUT -v -n -x | awk '/direct/ { print $1 }')
c=$(now_ms)
kill -CONT "$(dpid)"
lab_wait "$LAB_WAIT_S" seen "$f" proxied "$c"
load_stop
stopped=$(python3 "$STAT" "$f" window "$s" "$c")
direct_stopped=$(sed 's/.* direct=\([0-9]*\).*/\1/' <<<"$stopped")
back=$(python3 "$STAT" "$f" first proxied "$c")
check "$( [ "$direct_stopped" -gt 0 ] && [ "$back" -ge 0 ]; echo $?)" \
	"SIGSTOP, fail_open on: once the queue is full packets pass directly; service resumes after SIGCONT" \
	"while stopped ($((c - s)) ms): $stopped; kernel queues at SIGCONT: $qline; client packets that reached the origin directly: ${direct_pkts:-?}; proxied again ${back} ms after SIGCONT"
alive=$(kill -0 "$(dpid)"; echo $?)
check "$alive" "droverd runs on after SIGSTOP/SIGCONT" "$(dstats | jq -c '{packets, encapsulated, bypassed, kernel_queue_full_drops, kernel_socket_full_drops}')"

# --- 4. every proxy down, under each no_proxy_policy ---------------------------
for i in 1 2 3; do block_probes $i add; done
t0=$(now_ms)
lab_wait "$LAB_WAIT_S" all_health down
echo "#   every proxy marked down $(($(now_ms) - t0)) ms after their probes were blocked"
for policy in bypass drop reject; do
	ctl settings set no_proxy_policy $policy >/dev/null
	sleep 0.3
	st0=$(dstats)
	f=$LAB_STATE/policy-$policy.log
	# Answers (and resets) get all the time they need; dropped requests
	# are the ones no timeout would see answered.
	if [ $policy = drop ]; then load 4 "$f" 2; else load 4 "$f" 30; fi
	load_wait
	st1=$(dstats)
	w=$(python3 "$STAT" "$f" window 0 99999999999999)
	counters="bypassed+$(($(jget .bypassed "$st1") - $(jget .bypassed "$st0"))) no_proxy_dropped+$(($(jget .no_proxy_dropped "$st1") - $(jget .no_proxy_dropped "$st0"))) rejected+$(($(jget .rejected "$st1") - $(jget .rejected "$st0")))"
	okn=$(sed 's/.* ok=\([0-9]*\).*/\1/' <<<"$w")
	direct=$(sed 's/.* direct=\([0-9]*\).*/\1/' <<<"$w")
	failn=$(sed 's/.* fail=\([0-9]*\).*/\1/' <<<"$w")
	case $policy in
	bypass) st=$([ "$failn" -eq 0 ] && [ "$direct" -gt 0 ] && [ "$direct" -eq "$okn" ]; echo $?) what="requests succeed directly" ;;
	drop) st=$([ "$okn" -eq 0 ] && [ "$failn" -gt 0 ] && [[ $w == *timeout* ]]; echo $?) what="requests get no answer (time out)" ;;
	reject) st=$([ "$okn" -eq 0 ] && [ "$failn" -gt 0 ] && [[ $w != *timeout* ]]; echo $?) what="requests fail with a reset, not a timeout" ;;
	esac
	check "$st" "all proxies down, no_proxy_policy $policy: $what" "$w; $counters"
done
ctl settings set no_proxy_policy bypass >/dev/null
for i in 1 2 3; do block_probes $i del; done
lab_wait "$LAB_WAIT_S" all_health up

# --- 5. a flapping proxy -------------------------------------------------------
# The port is toggled as soon as a probe has seen it in its new state (not on
# a clock), so every toggle meets a probe: one failed probe, then one good
# one, and so on. rise 2 / fall 3 never sees enough of either in a row to
# change state; rise 1 / fall 1 changes at every toggle. A slow machine only
# risks the damped case, where a toggle would have to come two probe
# intervals late; it gets 2 s intervals for that.
FLAP_TOGGLES=8
# probed_since ID N good|bad: proxy ID finished a probe after its check
# number N, and its latest result is good (L7OK) or bad (anything else).
probed_since() {
	ctl --json proxy show "$1" | jq -e --argjson n "$2" --arg want "$3" \
		'.proxy | .checks > $n and ((.last_check == "L7OK") == ($want == "good"))' >/dev/null
}
flap() { # flap RISE FALL INTERVAL_MS: prints "toggles changes"
	local id=1 c0 c1 t n
	ctl settings set probe_rise "$1" >/dev/null
	ctl settings set probe_fall "$2" >/dev/null
	ctl settings set probe_interval_ms "$3" >/dev/null
	lab_wait "$LAB_WAIT_S" all_health up
	c0=$(ctl --json proxy show $id | jq .proxy.state_changes)
	for ((t = 0; t < FLAP_TOGGLES; t++)); do
		n=$(ctl --json proxy show $id | jq .proxy.checks)
		if ((t % 2 == 0)); then
			block_probes $id add
			lab_wait "$LAB_WAIT_S" probed_since $id "$n" bad
		else
			block_probes $id del
			lab_wait "$LAB_WAIT_S" probed_since $id "$n" good
		fi
	done
	c1=$(ctl --json proxy show $id | jq .proxy.state_changes)
	echo "$FLAP_TOGGLES $((c1 - c0))"
}
read -r toggles damped < <(flap 2 3 2000)
read -r _ undamped < <(flap 1 1 1000)
ctl settings set probe_rise 2 >/dev/null
ctl settings set probe_fall 3 >/dev/null
check "$( [ "$damped" -le 2 ] && [ "$undamped" -eq "$toggles" ]; echo $?)" \
	"a proxy flapping at every probe: rise/fall damp its state changes" \
	"$toggles toggles of the probe port, each seen by a probe: $damped state changes with rise 2 / fall 3, $undamped with rise 1 / fall 1"
lab_wait "$LAB_WAIT_S" all_health up

# --- 6. malformed storm --------------------------------------------------------
# Every packet of the storm is to be counted, so the queue must hold a burst on a
# busy machine: back to the default length (overflow is section 3's subject; a
# queue of 64 let fail-open pass some of the storm uncounted).
ctl settings set queue_maxlen 4096 >/dev/null
mac=$(ip -n "$(lab_ns app)" -j link show lan0 | jq -r '.[0].address')
peer=$(lab_client_address 1)
N=200
mib() { lab_exec app nstat -az 2>/dev/null | awk -v k="$1" '$1 == k { print $2 }'; }
kernel_errs() { echo $(($(mib IpInHdrErrors) + $(mib IpExtInTruncatedPkts))); }
storm_once() { # storm_once COUNT RATE -> per-class sent lines
	lab_exec cli python3 "$STORM" --dev eth0 --dst-mac "$mac" --origin "$LAB_ORIGIN" \
		--peer "$peer" --count "$1" --rate "$2"
}
pid0=$(dpid)
k0=$(kernel_errs)
s0=$(dstats)
sent=$(storm_once $N 3000 | awk '{ n += $2 } END { print n }')
# Counted once the kernel and droverd have seen the whole storm.
storm_counted() {
	[ $(($(kernel_errs) - k0)) -ge $((6 * N)) ] &&
		[ $(($(jget .packets "$(dstats)") - $(jget .packets "$s0"))) -ge $((9 * N)) ]
}
lab_wait "$LAB_WAIT_S" storm_counted
k1=$(kernel_errs)
s1=$(dstats)
kern=$((k1 - k0))
dp=$(($(jget .packets "$s1") - $(jget .packets "$s0")))
reasons=$(jq -nc --argjson a "$s0" --argjson b "$s1" '$b.malformed_by_reason | with_entries(.value -= $a.malformed_by_reason[.key]) | with_entries(select(.value != 0))')
nw=$(($(jget .not_web "$s1") - $(jget .not_web "$s0")))
enc=$(($(jget .encapsulated "$s1") - $(jget .encapsulated "$s0")))
foreign=$(($(jget .icmp_error_not_sender "$s1") - $(jget .icmp_error_not_sender "$s0")))
# Expected: 6 classes stop in the kernel (trunc, bad_ihl, len_long, len_short, bad_csum, ttl1),
# 9 reach droverd: 3 malformed (tcp_trunc, tcp_doff, icmp_trunc), 1 not web (icmp_other),
# 4 proxied (options, frag_first, frag_tail, frag_tiny), 1 routed unproxied (icmp_web: an
# error about another address's flow is not its sender's to send, icmp_error_not_sender).
exp_r='{"l4_truncated":400,"tcp_offset":200}'
# Other traffic may add a packet or two to droverd's totals (a late retransmission of
# an earlier phase): the storm's own classes are checked exactly, the rest within 10.
extra=$((kern + dp - sent))
check "$( [ "$sent" -eq $((15 * N)) ] && [ "$kern" -eq $((6 * N)) ] && [ "$reasons" = "$exp_r" ] &&
	[ "$nw" -eq "$N" ] && [ "$foreign" -eq "$N" ] && [ "$enc" -ge $((4 * N)) ] && [ "$enc" -le $((4 * N + 10)) ] &&
	[ "$extra" -ge 0 ] && [ "$extra" -le 10 ]; echo $?)" \
	"every malformed or unusual packet is counted: by the kernel's IP input or by droverd" \
	"sent=$sent (15 classes x $N); kernel header/length errors +$kern (expected $((6 * N))); droverd packets +$dp (expected $((9 * N))): malformed $reasons, not_web +$nw, icmp_error_not_sender +$foreign, encapsulated +$enc; counted beyond the storm (background): $extra"

f=$LAB_STATE/storm-mixed.log
s0=$(dstats)
# Good requests get all the time they need: none may fail.
load 8 "$f" 30
lab_wait "$LAB_WAIT_S" seen "$f" ok 0
mixed=$(storm_once 150 1500 | awk '{ n += $2 } END { print n }')
load_wait
malformed_counted() {
	[ $(($(jget '.malformed_by_reason.tcp_offset' "$(dstats)") - $(jget '.malformed_by_reason.tcp_offset' "$s0"))) -ge 150 ]
}
lab_wait "$LAB_WAIT_S" malformed_counted
s1=$(dstats)
w=$(python3 "$STAT" "$f" window 0 99999999999999)
failn=$(sed 's/.* fail=\([0-9]*\).*/\1/' <<<"$w")
proxied=$(sed 's/.* proxied=\([0-9]*\).*/\1/' <<<"$w")
reasons=$(jq -nc --argjson a "$s0" --argjson b "$s1" '$b.malformed_by_reason | with_entries(.value -= $a.malformed_by_reason[.key]) | with_entries(select(.value != 0))')
check "$( [ "$failn" -eq 0 ] && [ "$proxied" -gt 0 ] && [ "$(dpid)" = "$pid0" ] && kill -0 "$pid0" && [ "$reasons" = '{"l4_truncated":300,"tcp_offset":150}' ]; echo $?)" \
	"good traffic is unaffected by a malformed storm, and droverd does not crash" \
	"storm of $mixed packets at 1500/s during the load: good requests $w; droverd malformed $reasons; same pid $pid0"
