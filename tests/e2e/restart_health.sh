#!/bin/bash
# tests/e2e/restart_health.sh - a restarted droverd takes new clients at once,
# on the proxies' last known health, instead of bypassing them until the
# probes settle.
#
# The lab of tests/lab/lib.sh with three Squids, all up and their verdicts
# stored. Then, twice (droverd stopped with SIGTERM, then killed with
# SIGKILL), droverd goes away, a client it has never seen starts a new
# connection to the origin every $PERIOD_MS ms (restart_health.py), droverd is
# started again, and each request is classed by its answer: proxied (through a
# Squid), direct (the origin answered: the request bypassed drover) or failed.
#   - asserted: every request sent once droverd answers on its control socket
#     is proxied (its queues and rules were in place before the socket opened,
#     so nothing in between may bypass), and the proxies were stored as up;
#   - shown, not asserted: how long after droverd's start the last request
#     went direct and the first was proxied, and when the probes reported
#     every proxy up.
# Prints "ok - ..." / "not ok - ... (figures)" lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-drh}
LAB_STATE=/tmp/drover-e2e-restart-health.$$
LAB_CLIENTS=8
LAB_PROXIES=3
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"
# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

PERIOD_MS=15
# Requests sent before droverd starts: they bypass it, as they must.
LEAD_S=0.3
# Requests kept going once every proxy is up again.
TAIL_S=0.5

trap lab_down EXIT
trap 'exit 1' INT TERM

now_ms() { date +%s%3N; }

# stored_up: proxies whose stored health is up (0 when there is no such table).
stored_up() {
	sqlite3 -readonly "$LAB_STATE/drover.db" \
		"SELECT count(*) FROM proxy_health WHERE up = 1" 2>/dev/null || echo 0
}

# start_droverd: droverd again, on the same database and socket as lab_start_droverd's.
start_droverd() {
	ip netns exec "$(lab_ns app)" "$DROVER_BUILD/droverd" --db "$LAB_STATE/drover.db" \
		--socket "$LAB_STATE/drover.sock" --manage-rules --log-level info \
		</dev/null >>"$LAB_STATE/droverd.log" 2>&1 &
	droverd_pid=$!
	disown "$droverd_pid" # its end (SIGKILL) is this test's doing, not news
	lab_record droverd "$droverd_pid" droverd
	echo "$droverd_pid" >"$LAB_STATE/droverd.pid"
}

# stop_droverd SIGNAL: signals droverd and waits until it is gone.
stop_droverd() {
	local pid deadline=$((SECONDS + LAB_WAIT_S))
	read -r pid <"$LAB_STATE/droverd.pid"
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = droverd ] || return 1
	kill -"$1" "$pid"
	while [ -e "/proc/$pid" ] && [ $SECONDS -lt $deadline ]; do
		sleep 0.01
	done
	[ ! -e "/proc/$pid" ]
}

# round SIGNAL CLIENT_INDEX: one restart, measured and checked.
round() {
	local sig=$1 client out stop spid t_kill t_stopped t_start t_ctl t_up deadline figures
	client=$(lab_client_address "$2")
	out=$LAB_STATE/requests.$sig
	stop=$LAB_STATE/stop.$sig
	t_kill=$(now_ms)
	if ! stop_droverd "$sig"; then
		fail "droverd stops on SIG$sig"
		return
	fi
	t_stopped=$(now_ms)
	ip netns exec "$(lab_ns cli)" python3 "$here/restart_health.py" "$client" "$LAB_ORIGIN" \
		"$PERIOD_MS" "$stop" "$out" &
	spid=$!
	lab_record sender "$spid" python3
	sleep "$LEAD_S"
	t_start=$(now_ms)
	start_droverd
	# The first answer on the control socket (the poll's own delay makes it
	# a little late: requests counted after it are surely after the open).
	deadline=$((SECONDS + LAB_WAIT_S))
	until lab_droverctl stats >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && break
		sleep 0.005
	done
	t_ctl=$(now_ms)
	lab_wait "$LAB_WAIT_S" lab_all_up
	t_up=$(now_ms)
	sleep "$TAIL_S"
	touch "$stop"
	wait "$spid"
	figures=$(python3 - "$out" "$t_start" "$t_ctl" "$t_up" "$((t_stopped - t_kill))" <<-'PY'
		import sys
		path, t_start, t_ctl, t_up, stop_ms = sys.argv[1], *map(int, sys.argv[2:6])
		rows = [l.split() for l in open(path)]
		rows = [(int(s), int(t), r) for s, t, r in rows]
		direct = [t for _, t, r in rows if r == "direct"]
		proxied = [t for _, t, r in rows if r == "proxied"]
		failed = [t for _, t, r in rows if r == "failed"]
		late = [t for t in direct + failed if t >= t_ctl]
		first = min((t for t in proxied if t >= t_start), default=None)
		rel = lambda t: "none" if t is None else "%+d ms" % (t - t_start)
		print(len(late), len([t for t in proxied if t >= t_ctl]))
		print("droverd took %d ms to stop; %d requests (%d proxied, %d direct, %d failed);"
		      " from droverd's start: control socket %+d ms, last direct %s,"
		      " first proxied %s, probes had every proxy up %+d ms;"
		      " %d not proxied after the control socket answered"
		      % (stop_ms, len(rows), len(proxied), len(direct), len(failed), t_ctl - t_start,
		         rel(max(direct, default=None)), rel(first), t_up - t_start, len(late)))
	PY
	)
	local late after
	read -r late after <<<"$(head -n 1 <<<"$figures")"
	check $([ "${late:-1}" -eq 0 ] && [ "${after:-0}" -gt 0 ]; echo $?) \
		"SIG$sig + start: a new client is proxied from the moment droverd answers, none bypassed" \
		"$(tail -n 1 <<<"$figures")"
}

# --- world -----------------------------------------------------------------
if ! lab_up; then
	fail "lab world builds"
	exit 1
fi
if ! lab_start_droverd; then
	fail "droverd starts" "$(tail -n 3 "$LAB_STATE/droverd.log" | tr '\n' ' ')"
	exit 1
fi
disown -a # lab_down ends them by pid; the job table need not report their ends
check $([ "$(stored_up)" -eq 3 ]; echo $?) "the three proxies' up verdicts are stored" \
	"$(stored_up) stored up"

round TERM 1
check $([ "$(stored_up)" -eq 3 ]; echo $?) "after the restart, still three stored up" \
	"$(stored_up) stored up"
round KILL 2

lab_stop_droverd
exit $((failures > 0))
