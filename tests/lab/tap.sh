# tests/lab/tap.sh - the lines tests/run.sh counts, for the end-to-end tests:
# "ok - WHAT", "not ok - WHAT (FIGURES)", and "#   FIGURES" under a pass.
# Sourced; failures counts the "not ok" lines.

failures=0

pass() {
	echo "ok - $1"
}

fail() {
	echo "not ok - $1${2:+ ($2)}"
	failures=$((failures + 1))
}

# check STATUS WHAT [FIGURES]: passes when STATUS is 0.
check() {
	if [ "$1" -eq 0 ]; then
		pass "$2"
		[ -n "${3:-}" ] && echo "#   $3"
	else
		fail "$2" "${3:-}"
	fi
	return 0
}

# check_cmd WHAT COMMAND...: passes when COMMAND succeeds.
check_cmd() {
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
	return 0
}
