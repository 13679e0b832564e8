#!/bin/bash
# tests/e2e/attack_fd.sh - idle connections must not starve droverd of
# descriptors: the proxies stay up, the datapath keeps proxying through the
# Squids, droverctl answers.
#
# The lab of tests/lab/lib.sh (three Squids, 100 client addresses), with the
# web UI on the client LAN (http_listen 198.18.1.1:8080) and droverd's
# descriptor limit lowered to FD_LIMIT (1024: what systemd gives a unit that
# sets no LimitNOFILE).
#
#   $LAB-cli 198.18.1.128 .. .147   real clients: one web request a second
#            198.18.1.148 .. .227   the attacker: idle_flood.py holds 2,000 idle
#                                   connections to 198.18.1.1:8080 and reopens
#                                   every one droverd closes
#   $LAB-app droverd: web UI, control socket, probes of the three Squids
#
#   1. 2,000 idle connections from 80 addresses, held for HOLD_S seconds:
#      droverd holds at most http_max_connections of them; every proxy
#      stays up (no health change); every request of a real client is
#      answered and logged by a Squid; droverctl answers every second; the
#      web UI serves again once the attack ends.
#   2. 500 idle connections from one address: droverd holds at most
#      http_max_connections_per_source of them.
#   3. The control socket opened up to everyone (mode 0666): a user that is
#      neither root nor droverd's own user is refused with a clear error;
#      200 idle connections of that user take at most CONTROL_MAX_PER_USER
#      (16) of droverd's descriptors, and root's droverctl still answers.
#   4. Descriptors run out (soft limit lowered below what droverd holds) for
#      SQUEEZE_S seconds: the probes fail for a local reason (LOCAL), which
#      neither raises nor lowers a proxy: all stay up, the LOCAL results are
#      counted; droverctl answers once descriptors are back.
# Figures are printed, never asserted on time. Prints "ok - ..." /
# "not ok - ..." lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-dfd}
LAB_STATE=/tmp/drover-e2e-attack-fd.$$
LAB_CLIENTS=100
LAB_PROXIES=3
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"
# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

FD_LIMIT=${FD_LIMIT:-1024}
FLOOD=${FLOOD:-2000}
HOLD_S=${HOLD_S:-30}
SQUEEZE_S=${SQUEEZE_S:-8}
SQUEEZE_LIMIT=16
REAL_CLIENTS=20
WEB_PORT=8080
WEB=$LAB_APPLIANCE:$WEB_PORT
URL=http://$LAB_ORIGIN/
# The defaults the suite expects droverd to enforce (README: web UI limits).
WEB_MAX=256
WEB_PER_SOURCE=32
CONTROL_PEER_MAX=16
CTL_TIMEOUT_S=10
NOBODY=65534

trap lab_down EXIT
trap 'exit 1' INT TERM

now_ms() { date +%s%3N; }

droverd_pid() { cat "$LAB_STATE/droverd.pid"; }

droverd_fds() { ls "/proc/$(droverd_pid)/fd" 2>/dev/null | wc -l; }

# web_held [ADDR]: web UI connections droverd has accepted (from ADDR only).
# Connections still in the listen backlog have no owner yet and are not counted.
web_held() {
	lab_exec app ss -Htnp state established "( sport = :$WEB_PORT )" 2>/dev/null |
		awk -v a="${1:-}" '/"droverd"/ && (a == "" || index($4, a ":") == 1) { n++ }
			END { print n + 0 }'
}

# proxies_summary: "UP CHANGES LOCAL LAST..." over every proxy, from droverctl.
proxies_summary() {
	timeout "$CTL_TIMEOUT_S" "$DROVER_BUILD/droverctl" --socket "$LAB_STATE/drover.sock" --json \
		proxy list 2>/dev/null | python3 -c 'import json, sys
p = json.load(sys.stdin)["proxies"]
print(sum(1 for x in p if x.get("up")), sum(x.get("state_changes", 0) for x in p),
      sum(x.get("local_checks", 0) for x in p), ",".join(x.get("last_check", "?") for x in p))' 2>/dev/null
}

squid_total() {
	local i n=0
	for ((i = 1; i <= LAB_PROXIES; i++)); do
		n=$((n + $(lab_squid_requests "$i")))
	done
	echo $n
}

fetch() {
	lab_exec cli curl --interface "$1" -sS --connect-timeout 10 --max-time 20 "$URL" 2>/dev/null |
		grep -q "$LAB_MARKER"
}

flood_stat() {
	sed -n "s/.*$2=\([0-9]*\).*/\1/p" "$1" 2>/dev/null
}

# wait_attempts NAME N: until flood NAME has tried N connections.
wait_attempts() {
	local t n
	for ((t = 0; t < LAB_WAIT_S * 10; t++)); do
		n=$(flood_stat "$LAB_STATE/$1.stats" attempts)
		[ "${n:-0}" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# start_flood NAME NS ARGS...: idle_flood.py in namespace NS, recorded for lab_down.
start_flood() {
	local name=$1 ns=$2 pid
	shift 2
	ip netns exec "$(lab_ns "$ns")" python3 "$here/../lab/idle_flood.py" \
		--stats "$LAB_STATE/$name.stats" "$@" </dev/null >>"$LAB_STATE/$name.log" 2>&1 &
	pid=$!
	lab_record "$name" "$pid" python3
	echo "$pid"
}

stop_flood() {
	lab_kill "$1" python3
	wait "$1" 2>/dev/null
}

# --- world -------------------------------------------------------------------
if ! lab_up; then
	fail "lab world builds"
	exit 1
fi
if ! lab_start_droverd; then
	fail "droverd starts" "$(tail -n 3 "$LAB_STATE/droverd.log" | tr '\n' ' ')"
	exit 1
fi
lab_droverctl settings set http_listen "$WEB" >/dev/null || fail "web UI moved to $WEB"
web_listening() { lab_exec app ss -Hltn "( src $LAB_APPLIANCE and sport = :$WEB_PORT )" | grep -q .; }
lab_wait "$LAB_WAIT_S" web_listening ||
	fail "web UI listens on $WEB" "$(tail -n 3 "$LAB_STATE/droverd.log" | tr '\n' ' ')"
prlimit --pid "$(droverd_pid)" --nofile="$FD_LIMIT:$FD_LIMIT" ||
	fail "droverd's descriptor limit set to $FD_LIMIT"
read -r up0 changes0 _ _ <<<"$(proxies_summary)"
check $([ "${up0:-0}" -eq $LAB_PROXIES ]; echo $?) "every proxy is up before the attack" \
	"${up0:-?} of $LAB_PROXIES up, descriptor limit $FD_LIMIT, droverd holds $(droverd_fds)"

# --- 1. 2,000 idle connections from 80 addresses --------------------------------
attackers=()
for ((i = REAL_CLIENTS; i < LAB_CLIENTS; i++)); do
	attackers+=("$(lab_client_address $i)")
done
squid0=$(squid_total)
flood=$(start_flood flood cli --connections "$FLOOD" --tcp "$WEB" --source "${attackers[@]}")
# The attack is on once every connection has been tried.
wait_attempts flood "$FLOOD"
min_up=$LAB_PROXIES
max_held=0
max_fds=0
requests=0
answered=0
ctl_ok=0
ctl_calls=0
ctl_max_ms=0
last_checks=
start=$SECONDS
while [ $((SECONDS - start)) -lt "$HOLD_S" ]; do
	held=$(web_held)
	[ "$held" -gt $max_held ] && max_held=$held
	fds=$(droverd_fds)
	[ "$fds" -gt $max_fds ] && max_fds=$fds
	t0=$(now_ms)
	summary=$(proxies_summary)
	ms=$(($(now_ms) - t0))
	ctl_calls=$((ctl_calls + 1))
	if [ -n "$summary" ]; then
		ctl_ok=$((ctl_ok + 1))
		[ $ms -gt $ctl_max_ms ] && ctl_max_ms=$ms
		read -r up _ _ last_checks <<<"$summary"
		[ "$up" -lt $min_up ] && min_up=$up
	fi
	requests=$((requests + 1))
	fetch "$(lab_client_address $((requests % REAL_CLIENTS)))" && answered=$((answered + 1))
	sleep 0.5
done
holding=$(flood_stat "$LAB_STATE/flood.stats" held)
stop_flood "$flood"
attempts=$(flood_stat "$LAB_STATE/flood.stats" attempts)
connected=$(flood_stat "$LAB_STATE/flood.stats" connected)
closed=$(flood_stat "$LAB_STATE/flood.stats" closed)
read -r up1 changes1 _ _ <<<"$(proxies_summary)"
# Squid logs a request once it is done: give the last one time to be written.
squid_logged() { [ "$(squid_total)" -ge $((squid0 + answered)) ]; }
lab_wait "$LAB_WAIT_S" squid_logged
through_squid=$(($(squid_total) - squid0))

figures="attacker: $attempts connects, $connected connected, $closed closed by droverd, $holding open at the end (droverd's or in its listen queue)"
check $([ "${attempts:-0}" -ge "$FLOOD" ]; echo $?) "the attacker tried $FLOOD idle connections and reopened the closed ones" "$figures"
check $([ $max_held -le $WEB_MAX ]; echo $?) \
	"droverd holds at most http_max_connections ($WEB_MAX) web UI connections" \
	"at most $max_held held; droverd's descriptors peaked at $max_fds of $FD_LIMIT"
check $([ $min_up -eq $LAB_PROXIES ] && [ "${changes1:-x}" = "${changes0:-y}" ]; echo $?) \
	"every proxy stays up through the attack" \
	"fewest up: $min_up of $LAB_PROXIES; state changes ${changes0:-?} -> ${changes1:-?}; last checks $last_checks"
check $([ $answered -eq $requests ] && [ $through_squid -ge $answered ]; echo $?) \
	"every real request is answered through a Squid" \
	"$answered of $requests answered, $through_squid logged by the Squids"
check $([ $ctl_ok -eq $ctl_calls ]; echo $?) "droverctl answers throughout the attack" \
	"$ctl_ok of $ctl_calls answered within $CTL_TIMEOUT_S s; slowest $ctl_max_ms ms"
code=$(lab_exec app curl -s -o /dev/null -w '%{http_code}' --max-time 60 "http://$WEB/" 2>/dev/null)
check $([ "$code" = 200 ]; echo $?) "the web UI serves again once the attack ends" "GET / -> $code"

# --- 2. 500 idle connections from one address -----------------------------------
one=$(lab_client_address $((LAB_CLIENTS - 1)))
flood=$(start_flood single cli --connections 500 --tcp "$WEB" --source "$one")
wait_attempts single 500
max_one=0
for ((t = 0; t < 10; t++)); do
	held=$(web_held "$one")
	[ "$held" -gt $max_one ] && max_one=$held
	sleep 0.5
done
stop_flood "$flood"
attempts=$(flood_stat "$LAB_STATE/single.stats" attempts)
closed=$(flood_stat "$LAB_STATE/single.stats" closed)
check $([ $max_one -ge 1 ] && [ $max_one -le $WEB_PER_SOURCE ]; echo $?) \
	"droverd holds at most http_max_connections_per_source ($WEB_PER_SOURCE) connections of one address" \
	"at most $max_one held of $attempts connects from $one ($closed closed by droverd)"

# --- 3. the control socket -----------------------------------------------------
sock=$LAB_STATE/drover.sock
chmod 0666 "$sock"
out=$(lab_exec app setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
	timeout "$CTL_TIMEOUT_S" "$DROVER_BUILD/droverctl" --socket "$sock" stats 2>&1)
rc=$?
check $([ $rc -eq 1 ] && grep -q "not allowed" <<<"$out"; echo $?) \
	"a user neither root nor droverd's is refused by the control socket, even with mode 0666" \
	"exit $rc: $(head -n 1 <<<"$out")"
before=$(droverd_fds)
# The flood runs as nobody: its counters go where nobody may write.
mkdir -p "$LAB_STATE/nobody" && chown $NOBODY:$NOBODY "$LAB_STATE/nobody"
# The system's python3: root's PATH may name one nobody cannot run.
flood=$(ip netns exec "$(lab_ns app)" setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
	/usr/bin/python3 "$here/../lab/idle_flood.py" --stats "$LAB_STATE/nobody/control.stats" \
	--connections 200 --unix "$sock" </dev/null >>"$LAB_STATE/nobody/control.log" 2>&1 &
	echo $!)
lab_record control "$flood" python3
wait_attempts nobody/control 200 || fail "the control flood runs as nobody" \
	"$(tail -n 2 "$LAB_STATE/nobody/control.log" 2>/dev/null | tr '\n' ' ')"
sleep 1
during=$(droverd_fds)
t0=$(now_ms)
lab_droverctl stats >/dev/null 2>&1
rc=$?
ms=$(($(now_ms) - t0))
stop_flood "$flood"
chmod 0600 "$sock"
check $([ $((during - before)) -le $CONTROL_PEER_MAX ] && [ $rc -eq 0 ]; echo $?) \
	"200 idle control connections of one user take at most $CONTROL_PEER_MAX descriptors; root's droverctl answers" \
	"droverd's descriptors $before -> $during; droverctl exit $rc in $ms ms"

# --- 4. no descriptors left ------------------------------------------------------
read -r _ changes0 local0 _ <<<"$(proxies_summary)"
pid=$(droverd_pid)
prlimit --pid "$pid" --nofile="$SQUEEZE_LIMIT:$FD_LIMIT"
sleep "$SQUEEZE_S"
prlimit --pid "$pid" --nofile="$FD_LIMIT:$FD_LIMIT"
t0=$(now_ms)
summary=$(proxies_summary)
ms=$(($(now_ms) - t0))
read -r up changes local last <<<"$summary"
check $([ -n "$summary" ]; echo $?) "droverctl answers once descriptors are back" "in $ms ms"
check $([ "${up:-0}" -eq $LAB_PROXIES ] && [ "${changes:-x}" = "${changes0:-y}" ]; echo $?) \
	"no proxy goes down when the appliance itself runs out of descriptors" \
	"$SQUEEZE_S s at a limit of $SQUEEZE_LIMIT: ${up:-?} of $LAB_PROXIES up, state changes ${changes0:-?} -> ${changes:-?}, last checks ${last:-?}"
check $([ "${local:-0}" -gt "${local0:-0}" ]; echo $?) "those probes are counted as LOCAL results" \
	"LOCAL results ${local0:-?} -> ${local:-?}"
n=0
for ((i = 0; i < 5; i++)); do
	fetch "$(lab_client_address $i)" && n=$((n + 1))
done
check $([ $n -eq 5 ]; echo $?) "the datapath still proxies afterwards" "$n of 5 answered"

# Stopped first, so that what a sanitizer finds at exit (leaks) is in the log too.
lab_stop_droverd
check $(! grep -qi "AddressSanitizer\|runtime error" "$LAB_STATE/droverd.log"; echo $?) \
	"no sanitizer reports in the droverd log"
# What the attacks cost the log: a few lines, not one per connection or per turn of the loop.
echo "# droverd's log: $(wc -l <"$LAB_STATE/droverd.log") lines," \
	"$(grep -c "web UI: \|control socket: " "$LAB_STATE/droverd.log") about the limits"
grep "web UI: \|control socket: " "$LAB_STATE/droverd.log" | tail -n 6 | sed 's/^/#   /'
exit $((failures > 0))
