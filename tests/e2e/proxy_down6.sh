#!/bin/bash
# tests/e2e/proxy_down6.sh - a proxy dies under IPv6 load, then comes back.
#
# The lab of tests/lab/lib.sh with IPv6 (LAB_IPV6=1, 24 clients, 3 Squids
# listening on IPv6), the clients' IPv6 addresses among client_subnets and
# the proxies prepared for them (drover-decap, 6in4). tests/lab/load.py
# makes one request after another over IPv6 from every client address (a
# new connection each) and logs which Squid answered (its Via header).
#   1. Before: every client answered, each by one Squid.
#   2. The Squid with the most clients is stopped (SIGSTOP): once probes
#      mark its proxy down, its clients are moved to the others and every
#      request they start after that is answered, each moved client by one
#      Squid, the one `droverctl lookup` names; the other proxies' clients
#      never move (every request answered by their first Squid, each of
#      their addresses in exactly one Squid log).
#   3. The Squid resumes (SIGCONT): once probes mark its proxy up, the moved
#      clients keep their new proxy (README: a proxy that comes back up
#      takes new clients only; active ones keep their current proxy), so the
#      returned proxy's Squid logs no request started after it came back.
# Each phase waits for the state it is about; states and counts are
# asserted, never times (printed as figures).
# Prints "ok - ..." / "not ok - ..." lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-pd6}
LAB_STATE=/tmp/drover-e2e-proxy-down6.$$
LAB_CLIENTS=24
LAB_PROXIES=3
LAB_IPV6=1
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"
# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"
LOAD=$here/../lab/load.py

CLIENTS6=$LAB_LAN6_PREFIX::80/121
# A load runs until its stop file exists; this only ends one nobody stopped.
LOAD_MAX_S=600
LOADPID=
STOPPED=
cleanup() {
	[ -n "$STOPPED" ] && kill -CONT "$STOPPED" 2>/dev/null
	[ -n "$LOADPID" ] && kill "$LOADPID" 2>/dev/null
	lab_down
}
trap cleanup EXIT
trap 'exit 1' INT TERM

now_ms() { date +%s%3N; }
health() { # health I: proxy I's health
	lab_droverctl --json proxy list | jq -r --arg a "$(lab_proxy_address "$1")" \
		'.proxies[] | select(.address == $a) | .health'
}
is_health() { [ "$(health "$1")" = "$2" ]; }
lookup() { # lookup ADDR: the address of the proxy droverd names for ADDR
	lab_droverctl --json lookup "$1" | jq -r '.proxy.address // "none"'
}

if ! lab_up || ! lab_start_droverd; then
	fail "lab world with droverd builds" "$(tail -n 3 "$LAB_STATE/droverd.log" 2>/dev/null | tr '\n' ' ')"
	exit 1
fi
lab_droverctl settings set client_subnets "$LAB_LAN_PREFIX.0/24,$CLIENTS6" >/dev/null &&
	lab_proxies_setup_again || {
	fail "IPv6 client subnet and proxies prepared for it"
	exit 1
}
addrs=()
for ((i = 0; i < LAB_CLIENTS; i++)); do addrs+=("$(lab_client_address6 "$i")"); done

LOG=$LAB_STATE/load6.log
STOPFILE=$LAB_STATE/load6.stop
ip netns exec "$(lab_ns cli)" python3 "$LOAD" --origin "$LAB_ORIGIN6" --seconds "$LOAD_MAX_S" \
	--timeout 5 --stop-file "$STOPFILE" "${addrs[@]}" >"$LOG" 2>>"$LAB_STATE/load.err" &
LOADPID=$!

# all_answered_since MS [ADDR...]: each ADDR (default: every client) has a
# request started at or after MS answered by a Squid.
all_answered_since() {
	local from=$1
	shift
	[ $# -gt 0 ] || set -- "${addrs[@]}"
	awk -v from="$from" '$1 >= from && $4 ~ /^squid[0-9]/ { print $3 }' "$LOG" | sort -u |
		grep -cFx -f <(printf '%s\n' "$@") | grep -qx "$#"
}

# --- 1. before -----------------------------------------------------------------
t0=$(now_ms)
lab_wait "$LAB_WAIT_S" all_answered_since "$t0"
t_stop=$(now_ms)
# first[ADDR]: the Squid that answered ADDR before the stop (all of them, for the check).
declare -A first
before=$(awk -v to="$t_stop" '$2 < to { print $3, $4 }' "$LOG" | sort -u)
bad_before=$(awk '{ n[$1]++ } $2 !~ /^squid[0-9]/ { f++ } END { for (a in n) if (n[a] != 1) m++; print f + 0, m + 0 }' <<<"$before")
while read -r a s; do first[$a]=$s; done <<<"$before"
declare -a per=(0 0 0 0)
for a in "${addrs[@]}"; do
	n=${first[$a]#squid}
	[ -n "$n" ] && per[n]=$((per[n] + 1))
done
victim=1
for ((i = 2; i <= LAB_PROXIES; i++)); do [ "${per[i]}" -gt "${per[victim]}" ] && victim=$i; done
check "$([ ${#first[@]} = "$LAB_CLIENTS" ] && [ "$bad_before" = "0 0" ]; echo $?)" \
	"$LAB_CLIENTS IPv6 clients under load: every one answered, each by one Squid" \
	"clients per Squid ${per[*]:1}; failed results and clients on two Squids: $bad_before"

# --- 2. one Squid stopped --------------------------------------------------------
moved=() others=()
declare -A second
for a in "${addrs[@]}"; do
	if [ "${first[$a]}" = "squid$victim" ]; then moved+=("$a"); else others+=("$a"); fi
done
spid=$(awk -v n="squid$victim" '$1 == n { print $2 }' "$LAB_STATE/pids" | tail -n 1)
STOPPED=$spid
kill -STOP "$spid"
lab_wait "$LAB_WAIT_S" is_health "$victim" down
t_down=$(now_ms)
lab_wait "$LAB_WAIT_S" all_answered_since "$t_down" "${moved[@]}"
t_moved=$(now_ms)
# after_down[ADDR]: the Squids that answered ADDR's requests started after the down.
moved_ok=0 moved_bad=""
for a in "${moved[@]}"; do
	got=$(awk -v a="$a" -v from="$t_down" '$3 == a && $1 >= from { print $4 }' "$LOG" | sort -u)
	p=$(lookup "$a")
	if [ "$(wc -l <<<"$got")" = 1 ] && [[ $got == squid[0-9]* ]] && [ "$got" != "squid$victim" ] &&
		[ "$p" = "$(lab_proxy_address "${got#squid}")" ]; then
		moved_ok=$((moved_ok + 1))
		second[$a]=$got
	else
		moved_bad+=" $a:$(echo $got):lookup=$p"
	fi
done
lost=$(awk -v from="$t_stop" -v to="$t_down" '$1 >= from && $1 < to && $4 ~ /^fail/' "$LOG" | wc -l)
check "$([ "$(health "$victim")" = down ] && [ "$moved_ok" = ${#moved[@]} ]; echo $?)" \
	"squid$victim stopped: once its proxy is down its ${#moved[@]} IPv6 clients are moved, each to one other Squid (the one lookup names), every later request answered" \
	"moved and answered $moved_ok/${#moved[@]}${moved_bad:+; wrong:$moved_bad}; requests failed between the stop and the down: $lost; marked down $((t_down - t_stop)) ms after the stop, all moved clients answered $((t_moved - t_down)) ms after"

# others_stay FROM_MS: every request of the other proxies' clients started
# at or after FROM_MS was answered by their first Squid.
others_stay() {
	local a bad=0
	for a in "${others[@]}"; do
		awk -v a="$a" -v s="${first[$a]}" -v from="$1" '$3 == a && $1 >= from && $4 != s { b++ } END { exit b > 0 }' "$LOG" ||
			bad=$((bad + 1))
	done
	echo "$bad"
}
stay_bad=$(others_stay 0)
check "$([ "$stay_bad" = 0 ]; echo $?)" \
	"the other proxies' ${#others[@]} IPv6 clients never move: every request answered by their first Squid" \
	"clients with a request failed or answered elsewhere: $stay_bad"

# --- 3. the Squid resumes --------------------------------------------------------
kill -CONT "$spid"
t_cont=$(now_ms)
STOPPED=
lab_wait "$LAB_WAIT_S" is_health "$victim" up
t_up=$(now_ms)
lab_wait "$LAB_WAIT_S" all_answered_since "$t_up"
touch "$STOPFILE"
wait "$LOADPID" 2>/dev/null
LOADPID=
kept=0 kept_bad=""
for a in "${moved[@]}"; do
	got=$(awk -v a="$a" -v from="$t_up" '$3 == a && $1 >= from { print $4 }' "$LOG" | sort -u)
	p=$(lookup "$a")
	if [ "$got" = "${second[$a]}" ] && [ "$p" = "$(lab_proxy_address "${got#squid}")" ]; then
		kept=$((kept + 1))
	else
		kept_bad+=" $a:$(echo $got):lookup=$p"
	fi
done
# Requests started after the down that the returned Squid answered (those it
# held while stopped all started before).
late=$(awk -v from="$t_down" '$1 >= from && $4 == s' s="squid$victim" "$LOG" | wc -l)
check "$([ "$(health "$victim")" = up ] && [ "$kept" = ${#moved[@]} ] && [ "$late" = 0 ]; echo $?)" \
	"squid$victim back up: the moved clients keep their new proxy (no failback of active clients), squid$victim answers none of them" \
	"kept $kept/${#moved[@]}${kept_bad:+; moved again:$kept_bad}; requests started after the down answered by squid$victim: $late; marked up $((t_up - t_cont)) ms after SIGCONT"

# Each address in the Squid logs: the others in exactly one, the moved ones in two.
one_log=0 two_logs=0
for a in "${addrs[@]}"; do
	n=0
	for ((i = 1; i <= LAB_PROXIES; i++)); do
		awk -v a="$a" '$3 == a { f = 1 } END { exit !f }' "$LAB_STATE/px$i/squid/access.log" && n=$((n + 1))
	done
	if [ "${first[$a]}" = "squid$victim" ]; then
		[ "$n" = 2 ] && two_logs=$((two_logs + 1))
	else
		[ "$n" = 1 ] && one_log=$((one_log + 1))
	fi
done
total=$(wc -l <"$LOG")
fails=$(awk '$4 ~ /^fail/' "$LOG" | wc -l)
fails_after=$(awk -v from="$t_down" '$1 >= from && $4 ~ /^fail/' "$LOG" | wc -l)
check "$([ "$one_log" = ${#others[@]} ] && [ "$two_logs" = ${#moved[@]} ] && [ "$fails_after" = 0 ]; echo $?)" \
	"Squid logs: each other proxy's client in exactly one, each moved client in its first and its new one; no request started after the down failed" \
	"$one_log/${#others[@]} in one log, $two_logs/${#moved[@]} in two; load: $total requests, $fails failed, $fails_after of them started after the down"

exit $((failures > 0))
