#!/bin/bash
# tests/e2e/fuzz_replay.sh - every fuzz harness replays its seed corpus once.
#
# The harnesses of tests/fuzz/ built as plain programs (make fuzz-replay, done
# by make test) run each file of tests/fuzz/corpus/<harness>/: the golden
# packets and their variants, sample JSON requests, settings lines, socket
# byte streams, and the inputs that once broke something. No network, no
# root needed; it sits with the end-to-end tests because it runs whole
# programs. Prints "ok - ..." / "not ok - ..." lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${DROVER_BUILD:-$root/build}

trap 'exit 1' INT TERM
trap 'rm -f "$out"' EXIT
out=$(mktemp)

status=0
for src in "$root"/tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	bin=$build/fuzz/replay_$name
	if [ ! -x "$bin" ]; then
		echo "not ok - $name replays its corpus ($bin not built: make fuzz-replay)"
		status=1
		continue
	fi
	# A sanitizer report or a failed check is the reason; show its first lines.
	if "$bin" "$name" "$root/tests/fuzz/corpus/$name" >"$out" 2>&1; then
		grep '^ok - ' "$out"
	else
		echo "not ok - $name replays its corpus"
		grep -E 'ERROR|runtime error|Assertion|SUMMARY|^not ok' "$out" | head -5 | sed 's/^/#   /'
		status=1
	fi
done
exit $status
