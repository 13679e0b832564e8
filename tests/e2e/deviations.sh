#!/bin/bash
# tests/e2e/deviations.sh - a primary and its replica tell each other the
# clients they keep off the Maglev table's choice (deviations), so that
# after a pool change the replica takes the primary's active clients over
# without moving one.
#
# The world is tests/lab/ecmp.sh (clients behind a router, two appliances,
# three Squids answering the clients through the router); A is the cluster
# primary (web API over HTTPS), B its replica, pulling with A's API token.
#
#   0. B follows A's configuration: equal generation and table digests.
#   1. The router's default route goes through A only. Request loops from
#      LOOPERS clients and rate-limited downloads from DOWNLOADS others make
#      them A's active clients.
#   2. A proxy (that of a downloading client) is drained on A: A keeps its clients on it (they are A's
#      deviations now), B takes the change. Figure "before": A's active
#      clients that the new table alone (what B had for them until now)
#      places on another proxy. Then the deviation exchange runs: every one
#      of A's active clients looks up to the same proxy on B as on A
#      (droverctl lookup answers affinity first); the counters on both.
#      A's /metrics carries the counters.
#   3. The route moves to B, under the loops and the downloads: B takes
#      every flow over (mid-flow for the downloads): 0 requests failed, 0
#      downloads broken, every client in exactly one Squid's log.
# Prints "ok - ..." / "not ok - ... (figures)" lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-ddv}
LAB_STATE=/tmp/drover-e2e-deviations.$$
LAB_PROXIES=3
DOWNLOADS=6
LOOPERS=36
ECMP_CLIENTS=$((DOWNLOADS + LOOPERS))
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"
# shellcheck source=../lab/ecmp.sh
. "$here/../lab/ecmp.sh"
# shellcheck source=../lab/cluster.sh
. "$here/../lab/cluster.sh"
# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

LOAD=$here/../lab/load.py
LOOP_PAUSE=0.2
# Seconds of request loops through B before they stop.
ON_B_SECONDS=4
# 4 MB at 160 kB/s (/crawl/): about 26 s, the whole of phases 2 and 3.
STARTED_BYTES=$((1 << 18))
A_URL=https://$LAB_APPLIANCE:8443

finish() {
	local f
	if [ "$failures" -gt 0 ] && [ -n "${DROVER_ARTIFACTS:-}" ]; then
		for f in "$LAB_STATE"/droverd*.log "$LAB_STATE"/lookup.*; do
			[ -f "$f" ] && cp "$f" "$DROVER_ARTIFACTS/deviations-$(basename "$f")"
		done
	fi
	lab_down
}
trap finish EXIT
trap 'exit 1' INT TERM

gen() { cluster_field "$1" "c['config_generation']"; }
same_config() { cluster_same lab_droverctl lab_droverctl2; }

setup() {
	ecmp_up && lab_start_droverd || return 1
	cluster_primary lab_droverctl app "$LAB_APPLIANCE" "$LAB_STATE/initial-admin-password" \
		"$LAB_STATE" || return 1
	lab_start_droverd2 || return 1
	cluster_replica lab_droverctl2 "$LAB_APPLIANCE" "$LAB_STATE" || return 1
	lab_proxies_accept "$LAB_APPLIANCE" "$LAB_APPLIANCE2"
}

if ! setup; then
	fail "lab setup" "$(tail -n 5 "$LAB_STATE"/droverd*.log 2>/dev/null)"
	exit 1
fi

# ---- 0. B follows A ----
lab_wait "$LAB_WAIT_S" lab_all_up2 && lab_wait "$LAB_WAIT_S" same_config
check $? "B replicates A: same generation and table digest, every proxy up on both" \
	"generation A $(gen lab_droverctl) B $(gen lab_droverctl2)"
ecmp_route "$LAB_APPLIANCE"
mapfile -t clients < <(ecmp_client_addresses)
loopers=("${clients[@]:DOWNLOADS}")

# ---- 1. A's active clients ----
stop=$LAB_STATE/load.stop
lab_exec cli python3 "$LOAD" --origin "$LAB_ORIGIN" --seconds 600 --timeout 20 \
	--pause "$LOOP_PAUSE" --ports --stop-file "$stop" "${loopers[@]}" >"$LAB_STATE/load.out" &
load_pid=$!
dl_pids=()
for ((i = 0; i < DOWNLOADS; i++)); do
	(
		lab_client_curl "${clients[$i]}" "http://$LAB_ORIGIN/crawl/big.bin" --max-time 300 \
			-o "$LAB_STATE/dl.$i.bin" >/dev/null 2>"$LAB_STATE/dl.$i.err"
		echo $? >"$LAB_STATE/dl.$i.done"
	) &
	dl_pids+=($!)
done
# all_active: every looper answered at least once, every download under way.
all_active() {
	local i
	[ "$(cut -d' ' -f3 "$LAB_STATE/load.out" 2>/dev/null | sort -u | wc -l)" -ge "$LOOPERS" ] || return 1
	for ((i = 0; i < DOWNLOADS; i++)); do
		[ "$(stat -c %s "$LAB_STATE/dl.$i.bin" 2>/dev/null || echo 0)" -ge "$STARTED_BYTES" ] ||
			return 1
	done
}
lab_wait "$LAB_WAIT_S" all_active
check $? "$ECMP_CLIENTS clients active on A ($LOOPERS looping, $DOWNLOADS downloading)"
lab_droverctl lookup "${clients[0]}" --count "$ECMP_CLIENTS" >"$LAB_STATE/lookup.a0"

# ---- 2. a drain on the primary, the exchange ----
# The proxy of the first download's client, so that a download rides on it.
first_proxy=$(head -n 1 "$LAB_STATE/lookup.a0" | cut -d' ' -f2)
drained=$(lab_droverctl --json proxy list | python3 -c 'import json,sys
print([p["id"] for p in json.load(sys.stdin)["proxies"] if p["address"] == sys.argv[1]][0])' "$first_proxy")
read -r drained_name drained_address < <(lab_droverctl --json proxy show "$drained" | python3 -c 'import json,sys
p = json.load(sys.stdin)["proxy"]
print(p["name"], p["address"])')
lab_droverctl proxy drain "$drained" >/dev/null
lab_wait "$LAB_WAIT_S" same_config
check $? "proxy $drained_name drained on A, B at A's generation" \
	"generation A $(gen lab_droverctl) B $(gen lab_droverctl2)"
lab_droverctl lookup "${clients[0]}" --count "$ECMP_CLIENTS" >"$LAB_STATE/lookup.a1"
# Before: A's active clients whose proxy the table alone no longer names
# (the drained proxy's clients): B placed them elsewhere until it learnt them.
before=$(awk -v p="$drained_address" '$2 == p && $3 == "affinity"' "$LAB_STATE/lookup.a1" | wc -l)
# differ: clients whose proxy on B differs from A's; prints the count.
differ() {
	lab_droverctl lookup "${clients[0]}" --count "$ECMP_CLIENTS" | cut -d' ' -f1,2 >"$LAB_STATE/lookup.a"
	lab_droverctl2 lookup "${clients[0]}" --count "$ECMP_CLIENTS" | cut -d' ' -f1,2 >"$LAB_STATE/lookup.b"
	diff "$LAB_STATE/lookup.a" "$LAB_STATE/lookup.b" | grep -c '^<'
}
agree() { [ "$(differ)" -eq 0 ]; }
t0=$(date +%s%3N)
lab_wait "$LAB_WAIT_S" agree
t1=$(date +%s%3N)
after=$(differ)
ex_a=$(cluster_field lab_droverctl "c['deviations']['exported']")
imp_b=$(cluster_field lab_droverctl2 "c['deviations']['imported']")
[ "$before" -gt 0 ] && [ "$after" -eq 0 ] && [ "$ex_a" -ge "$before" ] && [ "$imp_b" -ge "$before" ]
check $? "every active client of A on the same proxy on B after the exchange" \
	"before the exchange B placed $before of A's $ECMP_CLIENTS active clients elsewhere (those kept on the drained $drained_name), after it $after; A exported $ex_a, B imported $imp_b; agreement $((t1 - t0)) ms after B took the drain"
echo "#   A: $(lab_droverctl cluster | grep deviations | tr -s ' ' | tr '\n' ';')"
echo "#   B: $(lab_droverctl2 cluster | grep deviations | tr -s ' ' | tr '\n' ';')"
lab_droverctl2 lookup "${clients[0]}" --count "$ECMP_CLIENTS" >"$LAB_STATE/lookup.b1"
lab_exec app curl -sS --cacert "$LAB_STATE/primary-cert.pem" \
	-H "Authorization: Bearer $(cat "$LAB_STATE/primary.token")" "$A_URL/metrics" >"$LAB_STATE/metrics.a"
grep -Eq "^drover_cluster_deviations [1-9]" "$LAB_STATE/metrics.a" &&
	grep -q '^drover_cluster_peer_deviations_total{result="imported"} ' "$LAB_STATE/metrics.a"
check $? "A's /metrics: its deviations and what became of B's" \
	"$(grep '^drover_cluster_.*deviations' "$LAB_STATE/metrics.a" | tr '\n' ' ')"

# ---- 3. every flow to B ----
ecmp_route "$LAB_APPLIANCE2"
t_move=$(date +%s)
sleep "$ON_B_SECONDS"
touch "$stop"
wait "$load_pid"
for pid in "${dl_pids[@]}"; do
	wait "$pid"
done
python3 - "$LAB_STATE" "$LAB_PROXIES" "$ECMP_CLIENT_PREFIX." "$t_move" "$DOWNLOADS" "$drained_address" <<'PY' >"$LAB_STATE/figures"
import os, sys
state, nproxies, prefix, t_move, downloads, drained = sys.argv[1:7]
# lookup lines: client, proxy address (198.18.1.(10 + N) is squidN), reason
lines = [l.split() for l in open(os.path.join(state, "lookup.a1"))]
named = {f[0]: "squid%d" % (int(f[1].rsplit(".", 1)[1]) - 10) for f in lines}
fails = after_move = 0
for line in open(os.path.join(state, "load.out")):
    t0, t1, c, res, port = line.split()
    if int(t0) // 1000 >= int(t_move):
        after_move += 1
    if res.startswith("fail:") or res in ("direct", "proxy"):
        fails += 1
where = {}
for i in range(1, int(nproxies) + 1):
    for line in open(os.path.join(state, "px%d/squid/access.log" % i)):
        f = line.split()
        if len(f) > 2 and f[2].startswith(prefix):
            where.setdefault(f[2], set()).add("squid%d" % i)
ok = sum(1 for i in range(int(downloads))
         if open(os.path.join(state, "dl.%d.done" % i)).read().strip() == "0" and
         os.path.getsize(os.path.join(state, "dl.%d.bin" % i)) == 4 << 20)
on_drained = sum(1 for f in lines[:int(downloads)] if f[1] == drained)
print(fails, after_move, len(where), sum(1 for s in where.values() if len(s) == 1),
      sum(1 for c, s in where.items() if s == {named.get(c)}), ok, on_drained)
PY
read -r failed after_move logged one_log named_log intact dl_drained <"$LAB_STATE/figures"
[ "$failed" -eq 0 ] && [ "$after_move" -gt 0 ]
check $? "flows moved to B: every request answered" \
	"$failed failed, $after_move requests made through B"
[ "$intact" -eq "$DOWNLOADS" ]
check $? "0 downloads broken: B took every one over mid-flow" \
	"$intact of $DOWNLOADS complete ($dl_drained of them on the drained $drained_name)"
[ "$logged" -eq "$ECMP_CLIENTS" ] && [ "$one_log" -eq "$ECMP_CLIENTS" ] && [ "$named_log" -eq "$ECMP_CLIENTS" ]
check $? "0 clients changed proxy: each in exactly one Squid's log, the one A named" \
	"$logged clients logged, $one_log in one log, $named_log in the one A named after the drain"
exit $((failures > 0))
