#!/bin/bash
# Runs drover's test suites and ends with one line "N passed, N failed"
# summing them all. Unit tests are cmocka binaries; end-to-end tests are
# shell scripts under tests/e2e/ that print "ok - ..." / "not ok - ..." lines.
#
# An end-to-end suite must leave no process behind. Each one runs with
# DROVER_TEST_RUN=<suite>.<pid>.<random> in its environment (inherited by
# everything it starts, through ip netns exec too) and under a child
# subreaper (tests/lab/reaper.py), which catches the daemons that overwrite
# their environment. Whatever of it still runs LEAK_GRACE_S seconds after the
# suite ended fails the suite ("not ok - NAME left processes behind: ...")
# and is killed by PID.
#
#   tests/run.sh [--build DIR] unit|e2e|all [NAME...]
#
# With DROVER_SAN_BUILD=DIR (an ASan + UBSan build, make SANITIZE=1), "all"
# also runs the unit tests and the end-to-end tests named in DROVER_SAN_E2E
# (default: foundation fuzz_replay) from that build, in the same tally; their
# suites are named "san:NAME".
set -u

build=build
if [ "${1:-}" = "--build" ]; then
	build=$2
	shift 2
fi
what=${1:-all}
shift || true
filter=("$@")

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
artifacts=$root/tests/artifacts
mkdir -p "$artifacts"

passed=0
failed=0
failed_names=()
prefix=
# A sanitizer report names where it happened.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

selected() {
	[ ${#filter[@]} -eq 0 ] && return 0
	local f
	for f in "${filter[@]}"; do
		[[ $1 == *"$f"* ]] && return 0
	done
	return 1
}

run_unit() {
	local bin name out rc p f
	for bin in "$root/$build"/tests/test_*; do
		[ -x "$bin" ] || continue
		[[ $bin == *.d ]] && continue
		name=$(basename "$bin")
		selected "$name" || continue
		echo "=== unit: $prefix$name"
		out=$("$bin" 2>&1)
		rc=$?
		echo "$out"
		p=$(echo "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
		f=$(echo "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
		p=${p:-0}
		f=${f:-0}
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			f=1 # crashed before cmocka could report
		fi
		passed=$((passed + p))
		failed=$((failed + f))
		[ "$f" -gt 0 ] && failed_names+=("$prefix$name")
	done
}

# The grace a suite's last processes get to finish exiting (a TERM sent just
# before the suite ended): generous, so a busy machine is not a leak.
LEAK_GRACE_S=${LEAK_GRACE_S:-30}
LEAK_KILL_WAIT_S=5

# leak_check NAME MARKER ORPHANS: fails NAME (one "not ok" line) when any
# process of the suite is still running after the grace, and kills them.
leak_check() {
	local name=$1 marker=$2 orphans=$3 deadline=$((SECONDS + LEAK_GRACE_S)) left pid note cmd i
	local -a pids=()
	while :; do
		left=$(python3 "$here/lab/reaper.py" left "$marker" "$orphans")
		[ -z "$left" ] && return 0
		[ $SECONDS -ge $deadline ] && break
		sleep 0.2
	done
	local what=
	while IFS=$'\t' read -r pid note cmd; do
		pids+=("$pid")
		[ "$note" = - ] && note=
		what+=" $pid ${cmd:0:160}${note:+ ($note)};"
	done <<<"$left"
	echo "not ok - $name left processes behind:${what%;}"
	kill -TERM "${pids[@]}" 2>/dev/null
	for ((i = 0; i < LEAK_KILL_WAIT_S * 10; i++)); do
		kill -0 "${pids[@]}" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "${pids[@]}" 2>/dev/null
	return 0
}

# What the proxy set-up script writes on a real proxy by default. The labs
# share this host's file system, so a suite must point the script at files of
# its own lab (or give --tls off); one of these appearing during a suite is a
# test writing outside its world.
HOST_PROXY_FILES=(/etc/squid/conf.d/drover.conf /var/lib/drover-proxy)

# host_files_present: those of HOST_PROXY_FILES that exist, one per line.
host_files_present() {
	local f
	for f in "${HOST_PROXY_FILES[@]}"; do
		[ -e "$f" ] && echo "$f"
	done
	grep -l "drover-proxy-setup" /etc/squid/squid.conf 2>/dev/null
}

# run_suite NAME SCRIPT: the suite's output, then its leak checks (processes,
# and the host's own proxy files); the suite's status.
run_suite() {
	local name=$1 script=$2 marker orphans rc before after
	marker=$name.$$.$RANDOM$RANDOM
	orphans=$(mktemp /tmp/drover-test-orphans.XXXXXX)
	before=$(host_files_present)
	DROVER_TEST_RUN=$marker DROVER_BUILD="$root/$build" DROVER_ARTIFACTS="$artifacts" \
		python3 "$here/lab/reaper.py" run "$orphans" \
		timeout --kill-after=10 900 bash "$script" 2>&1
	rc=$?
	leak_check "$name" "$marker" "$orphans"
	rm -f "$orphans"
	after=$(host_files_present)
	if [ "$after" != "$before" ]; then
		echo "not ok - $name changed the host's own proxy files: $(echo $after)"
		rc=1
	fi
	return $rc
}

# The suites that share nothing with the labs run in a second lane, beside
# the others: each package test builds the package in its own tree and boots
# it in its own mount and network namespaces, and they are the longest; the
# configuration crash loop has a bare namespace of its own, carries no
# traffic and waits on nothing timed; the descriptor attacks and the memcheck
# run build labs of their own names, and wait on their events with generous
# limits. Only the first pass has the lane (the sanitizer pass selects its own
# suites). DROVER_E2E_LANE=0 runs everything one after the other.
LANE_SUITES=" package_install package_restart config_crash attack_fd valgrind "

# count_suite NAME LOG RC SECONDS: adds a suite's ok / not ok lines to the totals.
count_suite() {
	local name=$1 log=$2 rc=$3 took=$4 p f
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name exited with status $rc"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" -gt 0 ] && failed_names+=("$name")
	# A figure for keeping the whole run short, never a check.
	echo "# $name: $took s"
}

# run_lane SCRIPT...: the lane's suites one after the other, each into its
# log, its status and duration beside it.
run_lane() {
	local script name start
	for script in "$@"; do
		name=$(basename "$script" .sh)
		start=$SECONDS
		run_suite "$name" "$script" >"$artifacts/$name.log" 2>&1
		echo "$? $((SECONDS - start))" >"$artifacts/$name.status"
	done
}

run_e2e() {
	local script name log rc start lane=() lane_pid='' took
	if [ "$(id -u)" -ne 0 ]; then
		echo "e2e: needs root (network namespaces); skipped" >&2
		failed=$((failed + 1))
		failed_names+=("e2e-needs-root")
		return
	fi
	if [ -z "$prefix" ] && [ "${DROVER_E2E_LANE:-1}" = 1 ]; then
		for script in "$here"/e2e/*.sh; do
			name=$(basename "$script" .sh)
			[[ $LANE_SUITES == *" $name "* ]] && selected "$name" && lane+=("$script")
		done
		if [ ${#lane[@]} -gt 0 ]; then
			run_lane "${lane[@]}" &
			lane_pid=$!
		fi
	fi
	for script in "$here"/e2e/*.sh; do
		[ -f "$script" ] || continue
		name=$(basename "$script" .sh)
		selected "$name" || continue
		[ -n "$lane_pid" ] && [[ $LANE_SUITES == *" $name "* ]] && continue
		echo "=== e2e: $prefix$name"
		start=$SECONDS
		log=$artifacts/${prefix/:/-}$name.log
		# The leak check runs inside the pipe: a process left holding the
		# suite's output would keep tee waiting otherwise.
		run_suite "$prefix$name" "$script" | tee "$log"
		rc=${PIPESTATUS[0]}
		count_suite "$prefix$name" "$log" "$rc" $((SECONDS - start))
	done
	[ -n "$lane_pid" ] || return 0
	wait "$lane_pid"
	for script in "${lane[@]}"; do
		name=$(basename "$script" .sh)
		echo "=== e2e: $name (second lane)"
		cat "$artifacts/$name.log"
		read -r rc took <"$artifacts/$name.status" 2>/dev/null || { rc=1 took=0; }
		rm -f "$artifacts/$name.status"
		count_suite "$name" "$artifacts/$name.log" "$rc" "$took"
	done
}

# The sanitizer pass: the same suites from the ASan + UBSan build.
run_sanitized() {
	local saved_build=$build
	# Only for a full run: a run of chosen suites stays what was asked for.
	[ -n "${DROVER_SAN_BUILD:-}" ] && [ ${#filter[@]} -eq 0 ] || return 0
	build=$DROVER_SAN_BUILD
	prefix=san:
	# Its own namespace names: a lab of the first pass may still be going away.
	local -x LAB=${DROVER_SAN_LAB:-drs}
	run_unit
	read -r -a filter <<<"${DROVER_SAN_E2E:-foundation fuzz_replay}"
	run_e2e
	build=$saved_build
	filter=()
	prefix=
}

case $what in
unit) run_unit ;;
e2e) run_e2e ;;
all)
	run_unit
	run_e2e
	run_sanitized
	;;
*)
	echo "usage: $0 [--build DIR] unit|e2e|all [NAME...]" >&2
	exit 2
	;;
esac

if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failing suites: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
