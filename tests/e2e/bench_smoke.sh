#!/bin/bash
# bench_smoke.sh - the packet-rate bench (tests/bench/bench.sh) at its
# smallest scale, so it cannot rot: it must build its namespaces, run its
# three paths (A drover with the fast path, N drover NFQUEUE only, B kernel)
# for IPv4 and for IPv6 clients (6in4 to the proxies), and write a
# results table with sane numbers and a plot. No
# performance target is asserted here, nor how long the bench took, nor that
# any rate was reached (a busy machine is slow, not broken): packets must get
# through, and every figure must be measured. `make bench` is where the
# targets are measured.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${DROVER_BUILD:-$root/build}
artifacts=${DROVER_ARTIFACTS:-$root/tests/artifacts}
out=$(mktemp -d /tmp/drover-bench-smoke.XXXXXX)
bench_pid=

# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

cleanup() {
	trap - EXIT TERM INT
	[ -n "$bench_pid" ] && kill "$bench_pid" 2>/dev/null && wait "$bench_pid" 2>/dev/null
	rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

before=$(ip netns list | grep -c '^dbn' || true)
start=$SECONDS
# Only a hang is cut short; the time it took is a figure.
timeout --kill-after=5 600 "$root/tests/bench/bench.sh" --build "$build" --out "$out" --quick \
	>"$out/stdout" 2>"$out/stderr" &
bench_pid=$!
wait "$bench_pid"
rc=$?
bench_pid=
took=$((SECONDS - start))
cp "$out/stderr" "$artifacts/bench_smoke.log" 2>/dev/null
[ -f "$out/results.md" ] && cp "$out/results.md" "$artifacts/bench_smoke_results.md"

check_cmd "bench --quick exits 0 ($rc; took ${took} s)" [ "$rc" -eq 0 ]
check_cmd "results table written" [ -s "$out/results.md" ]

# Table rows: "| SIZE | A drover (fast path) | ZL | MAX | ...", "| SIZE | N drover, NFQUEUE only
# | ZL | MAX | ..." and "| SIZE | B kernel | ZL | MAX | ...".
# The zero-loss rate is whatever the search found (0 when no rate it tried
# passed, as on a busy machine); the delivered rate shows packets got through.
row_ok() { # row_ok SIZE PATH: a zero-loss rate, and a max delivered > 0
	awk -F'|' -v s="$1" -v p="$2" '
		$2 + 0 == s && index($3, p) {
			# "N" or "≥ N (generator ceiling)": the first number counts.
			z = match($4, /[0-9]+/)
			gsub(/ /, "", $5)
			if (z && $5 ~ /^[0-9]+$/ && $5 > 0) found = 1 }
		END { exit !found }' "$out/results.md"
}
for size in 64 1400; do
	for path in "A drover" "N drover" "B kernel"; do
		check_cmd "$size-byte $path row has a zero-loss rate and a delivered rate > 0" \
			row_ok "$size" "$path"
	done
done

# Every trial of every path delivered something, and never more than was sent.
check_cmd "every trial delivered 0 < n <= sent" awk '
	{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
	v["delivered"] + 0 <= 0 || v["delivered"] + 0 > v["sent"] + 0 { bad = 1 }
	END { exit bad || NR < 10 }' "$out/runs.log"
all_paths() {
	grep -q ' mode=A ' "$out/runs.log" && grep -q ' mode=N ' "$out/runs.log" &&
		grep -q ' mode=B ' "$out/runs.log"
}
check_cmd "all three paths ran" all_paths
xdp_ran() { # path X: at least one trial, its packets carried by the XDP program
	awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
		v["mode"] == "X" { n++; x += v["xdp_packets"] }
		v["mode"] != "X" && v["xdp_packets"] + 0 != 0 { bad = 1 }
		END { exit bad || n < 1 || x <= 0 }' "$out/runs.log"
}
check_cmd "path X ran, carried by the XDP program (and no other path by it)" xdp_ran
check_cmd "latency percentiles measured for all three paths" \
	awk -F'|' '$3 ~ /drover|kernel/ && $9 ~ /[0-9.]+ \/ [0-9.]+ \(n=[1-9]/ { n++ } END { exit n < 6 }' \
	"$out/results.md"
# On path N every packet goes through droverd (on A, with the fast path, only first packets do).
check_cmd "droverd CPU per packet measured on the NFQUEUE path (> 0)" \
	awk -F'|' '$3 ~ /N drover/ { split($8, w, " "); if (w[2] + 0 > 0) n++ } END { exit n < 2 }' \
	"$out/results.md"
# IPv6 next to IPv4: every IPv6 trial delivered something, with the fast path
# (A6), through NFQUEUE (N6) and by forwarding (B6), never more than was sent;
# the fast path wrapped IPv6 packets on A6 and none on N6 or B6.
v6_trials_ok() { # v6_trials_ok MODE: at least one trial of MODE, each 0 < delivered <= sent
	awk -v m="$1" '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
		v["mode"] == m { n++; fast += v["fast_packets"]
			if (v["delivered"] + 0 <= 0 || v["delivered"] + 0 > v["sent"] + 0) bad = 1
			if (m != "A6" && v["fast_packets"] + 0 != 0) bad = 1 }
		END { exit bad || n < 1 || (m == "A6" && fast <= 0) }' "$out/runs.log"
}
check_cmd "IPv6 with the fast path (A6): every trial delivered 0 < n <= sent, the fast path wrapped > 0" \
	v6_trials_ok A6
check_cmd "IPv6 through NFQUEUE (N6): every trial delivered 0 < n <= sent, none by the fast path" \
	v6_trials_ok N6
check_cmd "IPv6 forwarded (B6): every trial delivered 0 < n <= sent" v6_trials_ok B6
# Rows "| 64 / 84 | N drover, NFQUEUE | V4 / V6 | ..." with both delivered figures > 0, for
# each path, the fast path's included.
v6_row_ok() { # v6_row_ok SIZE PATH
	awk -F'|' -v s="$1" -v p="$2" '
		$2 ~ ("^ *" s " / ") && index($3, p) {
			split($4, d, "/"); if (d[1] + 0 > 0 && d[2] + 0 > 0) found = 1 }
		END { exit !found }' "$out/results.md"
}
for size in 64 1400; do
	for path in "A drover" "N drover" "B kernel"; do
		check_cmd "$size-byte IPv4 / IPv6 $path row: both delivered > 0" v6_row_ok "$size" "$path"
	done
done
check_cmd "fast path wrapped IPv6 packets in 6in4 (droverd's fast_ipv6_6in4_packets > 0)" \
	grep -Eq 'warm-up: [0-9]+, of them 6in4 [1-9][0-9]*\.' "$out/results.md"
check_cmd "droverd CPU per IPv6 packet measured on the NFQUEUE path (> 0)" \
	awk -F'|' '$2 ~ / \/ / && $3 ~ /N drover/ { split($7, w, "/"); if (w[2] + 0 > 0) n++ } END { exit n < 2 }' \
	"$out/results.md"
check_cmd "micro-benchmarks report Maglev lookup and build, affinity insert and entry size" \
	awk '$2 + 0 > 0 { k[$1] = 1 } END { exit !(k["maglev_lookup_ns_n1000"] &&
		k["maglev_build_ms_n1000"] && k["affinity_insert_ns"] &&
		k["affinity_bytes_per_entry"]) }' "$out/micro.txt"
if command -v gnuplot >/dev/null; then
	check_cmd "plot is a PNG" sh -c "head -c 8 '$out/delivered.png' | grep -q PNG"
else
	pass "plot check skipped: gnuplot not installed"
fi
check_cmd "no bench namespace left behind" [ "$(ip netns list | grep -c '^dbn' || true)" -eq "$before" ]
