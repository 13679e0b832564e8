#!/bin/bash
# tests/e2e/ecmp.sh - two appliances active-active behind a router's ECMP
# route: a client's connections are spread over both, and all of them still
# reach the one proxy both appliances map it to; taking an appliance's next
# hop out of the route, and putting it back, breaks nothing.
#
# The world is tests/lab/ecmp.sh: clients behind a router whose default route
# has one next hop per appliance (per-flow L4 hash), three Squids answering
# the clients through the router, nginx behind appliance A.
#
#   0. A is the configuration primary (web API over HTTPS), B its replica:
#      B takes A's configuration, hash key included, by replication (no
#      restart): the same generation, equal table digests. Both appliances drop what
#      conntrack calls INVALID (behind drover's jump) and have conntrack's
#      loose pick-up off, as a firewall would.
#   1. Spread: every client makes one request after another (a new
#      connection, a new source port, each time). The switch ports show
#      which appliance each connection went to: connections per appliance,
#      clients seen on both. Every request answered, each client by one
#      Squid, the one both appliances name for it.
#   2. Failover: long rate-limited downloads and the request loops run while
#      A's next hop is taken out of the route (its flows move to B mid-flow)
#      and put back (the router's hash gives each flow its old next hop
#      again: those that left A go back to it, mid-flow). The downloads
#      come from clients that open no other connection, so the appliance
#      that takes one over has never seen its client. Every download
#      complete and intact, every request answered, every client on its
#      one proxy.
# ECMP_FAST_PATH=false: the same with every packet through NFQUEUE.
# ECMP_HASH_POLICY=3: the router hashes the headers (tests/lab/ecmp.sh).
# Prints "ok - ..." / "not ok - ... (figures)" lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-dec}
LAB_STATE=/tmp/drover-e2e-ecmp.$$
LAB_PROXIES=3
# 12 clients that only download, one connection each, then 48 that loop.
DOWNLOADS=12
LOOPERS=48
ECMP_CLIENTS=$((DOWNLOADS + LOOPERS))
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"
# shellcheck source=../lab/cluster.sh
. "$here/../lab/cluster.sh"
# shellcheck source=../lab/ecmp.sh
. "$here/../lab/ecmp.sh"
# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

LOAD=$here/../lab/load.py
SPREAD_SECONDS=6
LOOP_PAUSE=0.2
# 4 MB sent at 160 kB/s by the origin (/crawl/): about 26 s, time enough to
# take a next hop out and put it back in the middle.
OUT_AT_BYTES=$((3 << 18))
BACK_AT_BYTES=$((7 << 18))

# keep_artifacts: after a failure, what it takes to see why, before lab_down.
keep_artifacts() {
	local dir=${DROVER_ARTIFACTS:-/tmp}/ecmp i
	[ "$failures" -gt 0 ] || return 0
	rm -rf "$dir" && mkdir -p "$dir" &&
		cp "$LAB_STATE"/flows.*.json "$LAB_STATE"/load.*.out "$LAB_STATE"/droverd*.log \
			"$LAB_STATE"/dl.* "$LAB_STATE"/events "$dir"/ 2>/dev/null
	for ((i = 1; i <= LAB_PROXIES; i++)); do
		cp "$LAB_STATE/px$i/squid/access.log" "$dir/access.px$i.log" 2>/dev/null
	done
}
trap 'keep_artifacts; lab_down' EXIT
trap 'exit 1' INT TERM

# mapping CTL FIELD: one field of the stats reply's mapping object.
mapping() {
	"$1" --json stats | python3 -c "import json,sys; print(json.load(sys.stdin)['mapping']['$2'])"
}

# hits CTL: new connections the appliance sent to the proxies, all together.
hits() {
	"$1" --json stats | python3 -c "import json,sys
print(sum(p.get('hits', 0) for p in json.load(sys.stdin)['proxies']))"
}

# received FILE BYTES: FILE holds at least BYTES.
received() {
	[ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2" ]
}

# progress: the downloads' bytes so far, in kB: "least .. most".
progress() {
	local i sizes=()
	for ((i = 0; i < DOWNLOADS; i++)); do
		sizes+=("$(stat -c %s "$LAB_STATE/dl.$i.bin" 2>/dev/null || echo 0)")
	done
	printf '%s\n' "${sizes[@]}" | sort -n | awk 'NR == 1 { a = $1 } { b = $1 } END { printf "%d .. %d kB", a / 1024, b / 1024 }'
}

# all_received BYTES: every download holds at least BYTES, or has ended.
all_received() {
	local i
	for ((i = 0; i < DOWNLOADS; i++)); do
		[ -e "$LAB_STATE/dl.$i.done" ] || received "$LAB_STATE/dl.$i.bin" "$1" || return 1
	done
}

now_ms() {
	date +%s%3N
}


# firewall_first: each appliance's FORWARD drops what conntrack calls INVALID
# below drover's jump, with loose pick-up off. Set before any traffic: rules
# that start conntrack in a namespace make every connection already open
# through it mid-flow, hence INVALID, to it.
firewall_first() {
	local app
	for app in app app2; do
		lab_exec "$app" iptables -w -A FORWARD -m conntrack --ctstate INVALID -j DROP &&
			lab_exec "$app" sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0 || return 1
	done
}

# jump_first APP: drover's jump is FORWARD's first rule, above the INVALID drop.
jump_first() {
	lab_exec "$1" iptables -w -S FORWARD | sed -n 2p | grep -q -- '-j DROVER' &&
		lab_exec "$1" iptables -w -S FORWARD | grep -q -- '--ctstate INVALID -j DROP'
}

# counters CTL: the appliance's non-zero datapath counters, on one line.
counters() {
	"$1" --json stats | python3 -c "import json,sys
g = json.load(sys.stdin)['global']
print(' '.join('%s=%s' % (k, v) for k, v in sorted(g.items()) if isinstance(v, int) and v and k != 'queues'))"
}

# A's first web password, kept before B's droverd writes its own beside it.
keep_password() {
	cp "$LAB_STATE/initial-admin-password" "$LAB_STATE/password"
}

if ! ecmp_up || ! firewall_first || ! lab_start_droverd || ! keep_password ||
	! lab_start_droverd2; then
	fail "lab setup" "$(tail -n 5 "$LAB_STATE/droverd.log" "$LAB_STATE/droverd2.log" 2>/dev/null)"
	exit 1
fi

# ---- 0. one configuration, one hash key ----
# ECMP_FAST_PATH=false runs the suite with every packet through NFQUEUE
# (a node setting: set on each).
if [ "${ECMP_FAST_PATH:-true}" != true ]; then
	lab_droverctl settings set fast_path "$ECMP_FAST_PATH" >/dev/null &&
		lab_droverctl2 settings set fast_path "$ECMP_FAST_PATH" >/dev/null
	check $? "fast_path $ECMP_FAST_PATH"
fi
t0=$(now_ms)
cluster_primary lab_droverctl app "$LAB_APPLIANCE" "$LAB_STATE/password" "$LAB_STATE" &&
	cluster_replica lab_droverctl2 "$LAB_APPLIANCE" "$LAB_STATE"
check $? "A the configuration primary (HTTPS, API token), B its replica" \
	"$(tail -n 3 "$LAB_STATE/droverd2.log" | tr '\n' ' ')"
lab_wait "$LAB_WAIT_S" lab_all_up2 && lab_wait "$LAB_WAIT_S" cluster_same lab_droverctl lab_droverctl2
check $? "B took A's configuration by replication (no restart), every proxy up" \
	"$(($(now_ms) - t0)) ms from making A primary to B agreeing; generation A $(cluster_field lab_droverctl "c['config_generation']") B $(cluster_field lab_droverctl2 "c['config_generation']"); hash key A $(cluster_field lab_droverctl "c['hash_key_id']") B $(cluster_field lab_droverctl2 "c['hash_key_id']")"
digest_a=$(mapping lab_droverctl table_digest)
digest_b=$(mapping lab_droverctl2 table_digest)
[ -n "$digest_a" ] && [ "$digest_a" = "$digest_b" ] && [ "$(mapping lab_droverctl table_proxies)" = 3 ]
check $? "equal table digests on A and B" "A $digest_a; B $digest_b"
lab_proxies_accept "$LAB_APPLIANCE" "$LAB_APPLIANCE2"
check $? "proxies accept IPIP from both appliances"
jump_first app && jump_first app2
check $? "both appliances: INVALID dropped below drover's jump, loose pick-up off"
ecmp_route "$LAB_APPLIANCE" "$LAB_APPLIANCE2"
route=$(ip -n "$(lab_ns rtr)" route show default | tr -s ' \n' ' ')
[ "$(ip -n "$(lab_ns rtr)" route show default | grep -c nexthop)" -eq 2 ]
check $? "router: default route over both appliances, L4 hash" \
	"$route; fib_multipath_hash_policy=$(lab_exec rtr sysctl -n net.ipv4.fib_multipath_hash_policy) fields $(lab_exec rtr sysctl -n net.ipv4.fib_multipath_hash_fields)"

mapfile -t clients < <(ecmp_client_addresses)
loopers=("${clients[@]:DOWNLOADS}")
lab_droverctl lookup "${clients[0]}" --count "$ECMP_CLIENTS" | cut -d' ' -f1,2 >"$LAB_STATE/named.a"
lab_droverctl2 lookup "${clients[0]}" --count "$ECMP_CLIENTS" | cut -d' ' -f1,2 >"$LAB_STATE/named.b"
cmp -s "$LAB_STATE/named.a" "$LAB_STATE/named.b"
check $? "A and B name the same proxy for each of the $ECMP_CLIENTS clients" \
	"$(cut -d' ' -f2 "$LAB_STATE/named.a" | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')"

# analyse PHASE: figures and verdicts of a phase, from the flows the switch
# saw, the request loops' lines, the Squids' logs and the downloads.
analyse() {
	python3 - "$1" "$LAB_STATE" "$LAB_PROXIES" "$LAB_LAN_PREFIX" "${EVENTS:-}" <<-'PY'
		import json, os, sys
		phase, state, nproxies, lan, events = sys.argv[1:6]
		flows = json.load(open(os.path.join(state, "flows.%s.json" % phase)))
		named = {}
		for line in open(os.path.join(state, "named.a")):
		    c, p = line.split()
		    named[c] = "squid%d" % (int(p.rsplit(".", 1)[1]) - 10)
		syn = flows["syn"]
		conns = {a: sum(v.values()) for a, v in syn.items()}
		loopers = {line.split()[2] for line in open(os.path.join(state, "load.%s.out" % phase))}
		both = [c for c in loopers if syn["A"].get(c) and syn["B"].get(c)]
		out = {"conns_A": conns["A"], "conns_B": conns["B"],
		       "packets_A": flows["packets"]["A"], "packets_B": flows["packets"]["B"],
		       "answers_through_appliances": sum(flows["to_clients"].values()),
		       "looping_clients": len(loopers), "clients_on_both": len(both)}
		# Request loops: result per request; the Squid each client reached.
		fails, requests, wrong, seen = [], 0, set(), {}
		marks = [int(x) for x in events.split()] if events else []
		per_window = [[0, 0] for _ in range(len(marks) + 1)]
		for line in open(os.path.join(state, "load.%s.out" % phase)):
		    t0, t1, c, res, port = line.split()
		    requests += 1
		    w = sum(1 for m in marks if int(t0) >= m)
		    per_window[w][0] += 1
		    if res.startswith("fail:") or res in ("direct", "proxy"):
		        fails.append("%s:%s %s after %d ms via %s" % (c, port, res, int(t1) - int(t0),
		                     "".join(flows["flows"].get("%s:%s" % (c, port), [])) or "-"))
		        per_window[w][1] += 1
		        continue
		    seen.setdefault(c, set()).add(res)
		    if res != named.get(c):
		        wrong.add(c)
		out.update(requests=requests, failed=len(fails), fail_sample=fails[:5],
		           clients_answered=len(seen),
		           clients_one_squid=sum(1 for s in seen.values() if len(s) == 1),
		           clients_not_named_squid=sorted(wrong),
		           requests_failed_per_window=per_window)
		# Connections that changed appliance mid-flow.
		moved_out = sum(1 for p in flows["flows"].values() if "A,B" in ",".join(p))
		moved_back = sum(1 for p in flows["flows"].values() if "B,A" in ",".join(p))
		out.update(flows=len(flows["flows"]), flows_moved_a_to_b=moved_out,
		           flows_moved_b_to_a=moved_back)
		# Squids' logs, whole test so far: every client in exactly one.
		where = {}
		for i in range(1, int(nproxies) + 1):
		    try:
		        for line in open(os.path.join(state, "px%d/squid/access.log" % i)):
		            f = line.split()
		            if len(f) > 2 and not f[2].startswith(lan + "."):
		                where.setdefault(f[2], set()).add("squid%d" % i)
		    except FileNotFoundError:
		        pass
		out.update(squid_clients=len(where),
		           squid_clients_in_one_log=sum(1 for s in where.values() if len(s) == 1),
		           squid_clients_in_named_log=sum(1 for c, s in where.items() if s == {named.get(c)}))
		# Downloads (failover phase).
		dl = []
		i = 0
		while os.path.exists(os.path.join(state, "dl.%d.bin" % i)):
		    w = open(os.path.join(state, "dl.%d.w" % i)).read().split()
		    rc = int(open(os.path.join(state, "dl.%d.done" % i)).read().strip() or 1)
		    port = w[0] if w else "?"
		    path = flows["flows"].get("%s:%s" % (open(os.path.join(state, "dl.%d.client" % i)).read().strip(), port), [])
		    dl.append({"rc": rc, "intact": open(os.path.join(state, "dl.%d.sha" % i)).read().strip() ==
		               open(os.path.join(state, "origin/big.sha256")).read().strip(),
		               "path": "".join(path)})
		    i += 1
		if dl:
		    out.update(downloads=len(dl), downloads_intact=sum(1 for d in dl if d["rc"] == 0 and d["intact"]),
		               download_paths=" ".join(d["path"] for d in dl),
		               downloads_moved_a_to_b=sum(1 for d in dl if "AB" in d["path"]),
		               downloads_moved_b_to_a=sum(1 for d in dl if "BA" in d["path"]))
		json.dump(out, open(os.path.join(state, "figures.%s.json" % phase), "w"))
		for k, v in out.items():
		    print("#   %s: %s" % (k, v))
	PY
}

# fig PHASE KEY: one figure of a phase.
fig() {
	python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" \
		"$LAB_STATE/figures.$1.json" "$2"
}

# ---- 1. spread ----
hits_a0=$(hits lab_droverctl)
hits_b0=$(hits lab_droverctl2)
ecmp_flows_start spread || fail "watching the switch ports"
lab_exec cli python3 "$LOAD" --origin "$LAB_ORIGIN" --seconds "$SPREAD_SECONDS" --timeout 20 \
	--pause "$LOOP_PAUSE" --ports "${loopers[@]}" >"$LAB_STATE/load.spread.out"
ecmp_flows_stop spread
hits_a=$(($(hits lab_droverctl) - hits_a0))
hits_b=$(($(hits lab_droverctl2) - hits_b0))
echo "# spread: $LOOPERS clients, one request after another for $SPREAD_SECONDS s"
analyse spread
echo "#   droverd hits (new connections): A $hits_a, B $hits_b"
echo "#   A: $(counters lab_droverctl)"
echo "#   B: $(counters lab_droverctl2)"
a=$(fig spread conns_A)
b=$(fig spread conns_B)
on_both=$(fig spread clients_on_both)
[ "$a" -gt 0 ] && [ "$b" -gt 0 ] && [ $((on_both * 2)) -gt "$LOOPERS" ]
check $? "connections spread over both appliances, most clients seen on both" \
	"connections A $a, B $b; clients on both $on_both of $LOOPERS"
[ "$(fig spread failed)" -eq 0 ] && [ "$(fig spread requests)" -ge "$((LOOPERS * 3))" ] &&
	[ "$(fig spread clients_answered)" -eq "$LOOPERS" ] &&
	[ "$(fig spread clients_one_squid)" -eq "$LOOPERS" ] &&
	[ "$(fig spread clients_not_named_squid)" = "[]" ]
check $? "every request answered, each client by the one Squid both appliances name" \
	"$(fig spread requests) requests, $(fig spread failed) failed $(fig spread fail_sample); clients on one Squid $(fig spread clients_one_squid), not on the named one $(fig spread clients_not_named_squid)"
[ "$(fig spread squid_clients)" -eq "$LOOPERS" ] &&
	[ "$(fig spread squid_clients_in_named_log)" -eq "$LOOPERS" ]
check $? "every client in exactly one Squid's access log" \
	"$(fig spread squid_clients) clients logged, $(fig spread squid_clients_in_one_log) in one log, $(fig spread squid_clients_in_named_log) in the named one's"
[ "$(fig spread answers_through_appliances)" -eq 0 ]
check $? "the proxies answer the clients directly, never through an appliance" \
	"$(fig spread answers_through_appliances) packets to clients sent to an appliance"

# ---- 2. one next hop out, then back, under downloads and request loops ----
ecmp_flows_start failover || fail "watching the switch ports"
stop=$LAB_STATE/load.stop
lab_exec cli python3 "$LOAD" --origin "$LAB_ORIGIN" --seconds 600 --timeout 20 \
	--pause "$LOOP_PAUSE" --ports --stop-file "$stop" "${loopers[@]}" >"$LAB_STATE/load.failover.out" &
load_pid=$!
dl_pids=()
for ((i = 0; i < DOWNLOADS; i++)); do
	echo "${clients[$i]}" >"$LAB_STATE/dl.$i.client"
	(
		lab_client_curl "${clients[$i]}" "http://$LAB_ORIGIN/crawl/big.bin" --max-time 300 \
			-o "$LAB_STATE/dl.$i.bin" \
			-w '%{local_port} %{http_code} %{time_starttransfer} %{time_total}\n' \
			>"$LAB_STATE/dl.$i.w" 2>"$LAB_STATE/dl.$i.err"
		echo $? >"$LAB_STATE/dl.$i.done"
	) &
	dl_pids+=($!)
done
lab_wait "$LAB_WAIT_S" all_received "$OUT_AT_BYTES"
t_out=$(now_ms)
ecmp_route "$LAB_APPLIANCE2"
echo "out $t_out" >"$LAB_STATE/events"
echo "# failover: A's next hop taken out with $(progress) per download: $(ip -n "$(lab_ns rtr)" route show default)"
lab_wait "$LAB_WAIT_S" all_received "$BACK_AT_BYTES"
t_back=$(now_ms)
ecmp_route "$LAB_APPLIANCE" "$LAB_APPLIANCE2"
echo "back $t_back" >>"$LAB_STATE/events"
echo "# failover: A's next hop back after $(((t_back - t_out) / 1000)) s, with $(progress) per download"
for pid in "${dl_pids[@]}"; do
	wait "$pid"
done
for ((i = 0; i < DOWNLOADS; i++)); do
	sha256sum <"$LAB_STATE/dl.$i.bin" | cut -d' ' -f1 >"$LAB_STATE/dl.$i.sha"
done
echo "# failover: download times (s): $(cut -d' ' -f4 "$LAB_STATE"/dl.*.w | sort -n | tr '\n' ' ')"
touch "$stop"
wait "$load_pid"
ecmp_flows_stop failover
echo "# failover: $DOWNLOADS downloads of 4 MB at 160 kB/s from as many other clients, and the request loops of $LOOPERS"
EVENTS="$t_out $t_back" analyse failover
echo "#   (requests_failed_per_window: [requests, failed] before the removal, while A was out, after its return)"
echo "#   A: $(counters lab_droverctl)"
echo "#   B: $(counters lab_droverctl2)"
[ "$(fig failover downloads_intact)" -eq "$DOWNLOADS" ]
check $? "0 downloads broken: every one complete and intact" \
	"$(fig failover downloads_intact) of $DOWNLOADS intact; paths $(fig failover download_paths)"
[ "$(fig failover downloads_moved_a_to_b)" -gt 0 ] && [ "$(fig failover downloads_moved_b_to_a)" -gt 0 ]
check $? "downloads moved between appliances mid-flow, both ways" \
	"A to B (next hop out): $(fig failover downloads_moved_a_to_b), B to A (next hop back): $(fig failover downloads_moved_b_to_a); all connections moved: $(fig failover flows_moved_a_to_b) and $(fig failover flows_moved_b_to_a) of $(fig failover flows)"
[ "$(fig failover failed)" -eq 0 ] && [ "$(fig failover clients_answered)" -eq "$LOOPERS" ] &&
	[ "$(fig failover clients_one_squid)" -eq "$LOOPERS" ] &&
	[ "$(fig failover clients_not_named_squid)" = "[]" ]
check $? "every request answered, every client still on its one proxy" \
	"$(fig failover requests) requests, $(fig failover failed) failed $(fig failover fail_sample); per window $(fig failover requests_failed_per_window)"
[ "$(fig failover squid_clients)" -eq "$ECMP_CLIENTS" ] &&
	[ "$(fig failover squid_clients_in_named_log)" -eq "$ECMP_CLIENTS" ]
check $? "still every client in exactly one Squid's access log" \
	"$(fig failover squid_clients) clients logged, $(fig failover squid_clients_in_one_log) in one log, $(fig failover squid_clients_in_named_log) in the named one's"
[ "$(fig failover answers_through_appliances)" -eq 0 ]
check $? "still no answer through an appliance" \
	"$(fig failover answers_through_appliances) packets to clients sent to an appliance"
exit $((failures > 0))
