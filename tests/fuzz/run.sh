#!/bin/bash
# tests/fuzz/run.sh - runs libFuzzer harnesses one after another, each for a
# fixed time, at the lowest CPU priority (the machine is shared), and prints
# one "ok - ..." / "not ok - ..." line per harness with its figures:
# executions per second, coverage (libFuzzer's cov and ft), crashes.
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS fuzz_NAME...
#
# New inputs go to BUILD_DIR/corpus/NAME (the seeds in tests/fuzz/corpus/NAME
# are read, never written); a crashing input lands in BUILD_DIR/crashes/ and
# should be minimised and added to the seeds as a regression input once fixed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
build=${1:?build directory}
seconds=${2:?seconds per harness}
shift 2

child=
cleanup() {
	[ -n "$child" ] && kill "$child" 2>/dev/null
	return 0
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The largest input each harness reads: a whole IPv4 or IPv6 packet plus the knobs;
# for the socket protocol, more than CONTROL_LINE_MAX so the limit is reached.
max_len() {
	case $1 in
	fuzz_packet) echo 65539 ;;
	fuzz_packet6) echo 65578 ;;
	fuzz_decap) echo 65537 ;;
	fuzz_control | fuzz_webui) echo 70000 ;;
	*) echo 16384 ;;
	esac
}

failed=0
for name in "$@"; do
	bin=$build/fuzz/$name
	corpus=$build/corpus/$name
	crashes=$build/crashes
	log=$build/$name.log
	mkdir -p "$corpus" "$crashes"
	dict=()
	[ -f "$here/$name.dict" ] && dict=("-dict=$here/$name.dict")
	echo "=== fuzz: $name for $seconds s (log: $log)"
	nice -n 19 "$bin" -max_total_time="$seconds" -max_len="$(max_len "$name")" \
		-timeout=20 -rss_limit_mb=4096 -print_final_stats=1 -print_pcs=0 \
		-artifact_prefix="$crashes/$name-" "${dict[@]}" \
		"$corpus" "$here/corpus/$name" >"$log" 2>&1 &
	child=$!
	wait "$child"
	rc=$?
	child=
	done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
	cov=$(echo "$done_line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$done_line" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$done_line" | sed -n 's/.*corp: \([0-9]*\)\/.*/\1/p')
	ncrash=$(find "$crashes" -name "$name-*" | wc -l)
	figures="$seconds s, ${execs:-?} execs, ${rate:-?}/s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}, peak RSS ${rss:-?} MB, $ncrash crash inputs"
	if [ "$rc" -eq 0 ] && [ "$ncrash" -eq 0 ] && [ -n "$done_line" ]; then
		echo "ok - $name: $figures"
	else
		echo "not ok - $name: exit $rc; $figures"
		grep -E 'ERROR: |runtime error|SUMMARY' "$log" | head -5 | sed 's/^/#   /'
		failed=$((failed + 1))
	fi
done
[ "$failed" -eq 0 ]
