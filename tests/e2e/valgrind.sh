#!/bin/bash
# tests/e2e/valgrind.sh - droverd under valgrind (memcheck) through the whole
# foundation test: real traffic over NFQUEUE and IPIP, probes, droverctl,
# the web UI's listener, then a clean stop. Asserts that at exit valgrind
# reports no invalid access or use of uninitialised memory and no leak
# (definite, indirect or possible); still-reachable blocks are the libraries'
# own and are shown only as figures.
#
# The foundation checks run as usual (their lines prefixed "valgrind:");
# valgrind's log is kept as $DROVER_ARTIFACTS/valgrind-droverd.log.
set -u

here=$(cd "$(dirname "$0")" && pwd)
artifacts=${DROVER_ARTIFACTS:-/tmp}
mkdir -p "$artifacts"
logdir=$(mktemp -d /tmp/drover-valgrind.XXXXXX)
child=

cleanup() {
	[ -n "$child" ] && kill "$child" 2>/dev/null
	rm -rf "$logdir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if ! command -v valgrind >/dev/null 2>&1; then
	echo "not ok - valgrind is installed (packaging/deps.sh installs it)"
	exit 1
fi

# droverd gets up to two minutes to stop: valgrind's leak check runs at exit.
export DROVER_WRAP="valgrind --tool=memcheck --leak-check=full --show-leak-kinds=all \
--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 --num-callers=30 \
--suppressions=$here/valgrind-libbpf.supp \
--log-file=$logdir/droverd.%p.log"
export LAB_KILL_WAIT_S=120
# $! is foundation.sh itself, so a TERM here reaches it and it tears its lab down.
LAB=drvg bash "$here/foundation.sh" > >(sed -u -e 's/^ok - /ok - valgrind: /' \
	-e 's/^not ok - /not ok - valgrind: /') 2>&1 &
child=$!
wait "$child"
child=

logs=("$logdir"/droverd.*.log)
if [ ! -f "${logs[0]}" ]; then
	echo "not ok - droverd ran under valgrind (no valgrind log)"
	exit 1
fi
cat "${logs[@]}" >"$artifacts/valgrind-droverd.log"
log=$artifacts/valgrind-droverd.log

if ! grep -q 'HEAP SUMMARY' "$log"; then
	echo "not ok - droverd stopped cleanly under valgrind (no exit summary: killed?)"
	exit 1
fi
echo "ok - droverd stopped cleanly under valgrind"

# One log per process: droverd's, and one per child it forked to run a program.
errors=$(awk '/ERROR SUMMARY:/ { n += $4; seen = 1 } END { print seen ? n : "" }' "$log")
in_use=$(sed -n 's/.*in use at exit: \(.*\)$/\1/p' "$log" | tail -1)
leaks=$(grep -E '(definitely|indirectly|possibly) lost:|still reachable:' "$log" |
	sed 's/^==[0-9]*== *//' | tr -s ' ' | paste -sd ';' -)
if [ "${errors:-1}" -eq 0 ]; then
	echo "ok - valgrind: no invalid accesses, no uninitialised reads, no leaks in droverd"
	echo "#   in use at exit: ${in_use:-?}; ${leaks:-all heap blocks freed}"
else
	echo "not ok - valgrind: no invalid accesses, no uninitialised reads, no leaks in droverd ($errors errors; $leaks)"
	grep -E '^==[0-9]+== (Invalid|Conditional|Syscall param|Use of|[0-9,]+ bytes in)' "$log" |
		head -10 | sed 's/^/#   /'
	exit 1
fi
