#!/bin/bash
# tests/fuzz/coverage.sh - line and branch coverage that each harness's
# corpus reaches: the seeds plus the inputs make fuzz added, replayed by the
# coverage build (make COVERAGE=1 fuzz-replay), reported for the files that
# harness is about.
#
#   tests/fuzz/coverage.sh COVERAGE_BUILD FUZZ_BUILD fuzz_NAME...
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cov=${1:?coverage build}
fuzz=${2:?fuzz build}
shift 2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

# The files each harness exercises.
sources() {
	case $1 in
	fuzz_packet) echo appliance/packet.c appliance/encap.c appliance/reply.c appliance/datapath.c ;;
	fuzz_packet6) echo appliance/packet6.c appliance/encap6.c appliance/reply6.c appliance/client.c appliance/hash.c ;;
	fuzz_decap) echo proxy/drover-decap.c ;;
	fuzz_settings) echo appliance/settings.c ;;
	fuzz_api) echo appliance/api.c appliance/manager.c appliance/settings.c webui/webui_route.c ;;
	fuzz_control) echo appliance/control.c appliance/api.c ;;
	fuzz_webui) echo webui/webui_request.c webui/webui_http.c webui/webui_auth.c webui/webui_signin.c webui/webui_token.c webui/session.c webui/account.c ;;
	esac
}

for name in "$@"; do
	dirs=("$root/tests/fuzz/corpus/$name")
	[ -d "$fuzz/corpus/$name" ] && dirs+=("$fuzz/corpus/$name")
	LLVM_PROFILE_FILE="$tmp/$name.profraw" "$cov/fuzz/replay_$name" "$name" "${dirs[@]}" >/dev/null ||
		echo "# $name: a corpus input failed"
	llvm-profdata merge -sparse -o "$tmp/$name.profdata" "$tmp/$name.profraw" || continue
	echo "=== coverage: $name ($(find "${dirs[@]}" -type f | wc -l) inputs)"
	printf '%-14s %8s %10s %8s %9s\n' file regions functions lines branches
	read -r -a files <<<"$(sources "$name")"
	(cd "$root" && llvm-cov report "$cov/fuzz/replay_$name" -instr-profile="$tmp/$name.profdata" \
		"${files[@]}") | awk '/\.c +[0-9]|^TOTAL/ {
			printf "%-14s %8s %10s %8s %9s\n", $1, $4, $7, $10, $13 }'
done
