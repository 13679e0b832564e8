#!/bin/bash
# tests/e2e/health.sh - probes and pool lifecycle with real Squid and nginx.
#
# The lab of tests/lab/lib.sh with four Squids, of which droverd starts with
# three. Probes: http-proxy (the origin's page fetched through each Squid's
# port 3128), interval 1 s, timeout 500 ms, rise 2, fall 3.
#   1. Kill one Squid: marked down (how long it took is measured and shown,
#      not asserted); its clients are served by the others then; no other
#      client moves.
#   2. Restart it: up again after rise probes; new clients reach it.
#   3. Add the fourth proxy and change a weight while ten rate-limited
#      downloads run: all ten complete intact; new clients reach the new proxy.
#   4. Drain a proxy while a download runs through it: it completes; no new
#      client is sent to it; the drain's completion is audited.
#   4b. Before each of a weight change, a drain, a disable, a delete and an
#      add: the preview (droverctl --dry-run) changes nothing (audit log,
#      generations), and its figures are what the change then did: the
#      active clients that changed proxy (all 100 active), and the share of
#      the Maglev table that changed owner (sampled with lookup --count).
#   5. A proxy that accepts TCP but never answers HTTP: down with L7TOUT for
#      http-proxy and http probes, up for tcp probes.
#   6. Squid's own figures (squid_stats) of the fourth proxy, read every
#      second, its probes tcp (no request of their own in Squid's count): its
#      Squid's manager ACL refuses the appliance: the 403 is shown as the
#      proxy's error, the proxy stays up and keeps taking clients; the set-up
#      script droverd renders with squid_stats on opens the manager to the
#      appliance (--squid-manager): the figures appear, and the requests
#      Squid counted across a burst equal the requests made, its access log
#      and droverd's hits; squid_stats off: "squid" is null.
# Prints "ok - ..." / "not ok - ... (figures)" lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-dhl}
LAB_STATE=/tmp/drover-e2e-health.$$
LAB_CLIENTS=100
LAB_PROXIES=4
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"

INTERVAL_MS=1000
TIMEOUT_MS=500
RISE=2
FALL=3
URL=http://$LAB_ORIGIN/

# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

trap lab_down EXIT
trap 'exit 1' INT TERM

now_ms() { date +%s%3N; }

ctl_json() { lab_droverctl --json "$@"; }

# proxy_field ID FIELD: one field of one proxy from `proxy show --json`.
proxy_field() {
	ctl_json proxy show "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['proxy'].get('$2'))"
}

# served_by CLIENT: the name of the proxy droverctl says serves CLIENT (or None).
served_by() {
	ctl_json lookup "$1" | python3 -c "import json,sys; p=json.load(sys.stdin)['proxy']; print(p['name'] if p else 'None')"
}

# wait_health ID STATE TIMEOUT_S: polls every 50 ms; prints the ms it took.
# TIMEOUT_S only stops a wait for something that never happens: the callers
# give $LAB_WAIT_S.
wait_health() {
	local start deadline
	start=$(now_ms)
	deadline=$((start + $3 * 1000))
	while [ "$(now_ms)" -lt $deadline ]; do
		if [ "$(proxy_field "$1" health)" = "$2" ]; then
			echo $(($(now_ms) - start))
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# fetch CLIENT: one request; succeeds when the origin's page came back.
fetch() {
	lab_client_curl "$1" "$URL" 2>/dev/null | grep -q "$LAB_MARKER"
}

squid_pid() {
	awk -v l="squid$1" '$1 == l { p = $2 } END { print p }' "$LAB_STATE/pids"
}

# --- world -----------------------------------------------------------------
if ! lab_up; then
	fail "lab world builds"
	exit 1
fi
# droverd with the first three proxies only; the fourth is added in step 3.
LAB_PROXIES_ALL=$LAB_PROXIES
LAB_PROXIES=3
if ! lab_start_droverd; then
	fail "droverd starts" "$(tail -n 3 "$LAB_STATE/droverd.log" | tr '\n' ' ')"
	exit 1
fi
LAB_PROXIES=$LAB_PROXIES_ALL
for kv in probe_kind=http-proxy probe_url=$URL probe_port=3128 probe_timeout_ms=$TIMEOUT_MS \
	probe_interval_ms=$INTERVAL_MS probe_rise=$RISE probe_fall=$FALL; do
	lab_droverctl settings set "${kv%%=*}" "${kv#*=}" >/dev/null || fail "setting $kv"
done
up=0
for id in 1 2 3; do
	wait_health $id up "$LAB_WAIT_S" >/dev/null && up=$((up + 1))
done
check $([ $up -eq 3 ]; echo $?) "three Squids pass their http-proxy probes and come up" "$up of 3 up"

# Clients 0..39 are "old" (used from the start); 40..69 and 70..99 stay
# unused until steps 2 and 3 need clients the affinity table has never seen
# (30 fresh clients: the chance that none maps to a given one of 3 or 4
# proxies is below 2e-4).
declare -A before
for ((i = 0; i < 40; i++)); do
	c=$(lab_client_address $i)
	fetch "$c"
	before[$c]=$(served_by "$c")
done

# --- 1. kill one Squid --------------------------------------------------------
victim=2
victim_clients=()
for c in "${!before[@]}"; do
	[ "${before[$c]}" = "squid$victim" ] && victim_clients+=("$c")
done
kill_ms=$(now_ms)
kill -KILL "$(squid_pid $victim)"
# Squid gone, its port refuses: probes fail with L4CON, and FALL of them in a
# row take it down (at interval x fall + timeout on an idle machine).
if took=$(wait_health $victim down "$LAB_WAIT_S"); then
	last=$(proxy_field $victim last_check)
	check $([ "$last" = L4CON ]; echo $?) "killed squid$victim marked down by failed probes (L4CON)" \
		"detected after $took ms (interval x fall + timeout: $((INTERVAL_MS * FALL + TIMEOUT_MS)) ms); last check $last"
else
	fail "killed squid$victim marked down" "still $(proxy_field $victim health) after $LAB_WAIT_S s"
fi
# Once it is down, its clients are sent elsewhere: fetch for all of them at
# once; the time of the last answer from the kill is a figure.
fetchers=()
for c in "${victim_clients[@]}"; do
	( fetch "$c" && t=$(($(now_ms) - kill_ms)) && [ "$(served_by "$c")" != "squid$victim" ] &&
		echo "$t" >"$LAB_STATE/moved.$c" ) &
	fetchers+=($!)
done
[ ${#fetchers[@]} -gt 0 ] && wait "${fetchers[@]}"
moved_ok=$(cat "$LAB_STATE"/moved.* 2>/dev/null | wc -l)
served_ms=$(cat "$LAB_STATE"/moved.* 2>/dev/null | sort -n | tail -1)
check $([ "$moved_ok" -eq ${#victim_clients[@]} ] && [ ${#victim_clients[@]} -gt 0 ]; echo $?) \
	"all clients of the dead Squid are served by the others once it is down" \
	"$moved_ok of ${#victim_clients[@]} served again; the last answer came ${served_ms:-?} ms after the kill"
stayed=0
others=0
for c in "${!before[@]}"; do
	[ "${before[$c]}" = "squid$victim" ] && continue
	others=$((others + 1))
	[ "$(served_by "$c")" = "${before[$c]}" ] && stayed=$((stayed + 1))
done
check $([ $stayed -eq $others ]; echo $?) "no client of another proxy moved" "$stayed of $others kept their proxy"

# --- 2. restart it -------------------------------------------------------------
dir=$LAB_STATE/px$victim
up_start=$(now_ms)
ip netns exec "$(lab_ns px$victim)" squid -N -n "${LAB}squid$victim" -f "$dir/squid.conf" \
	</dev/null >>"$dir/squid.out" 2>&1 &
lab_record "squid$victim" $! squid
if took=$(wait_health $victim up "$LAB_WAIT_S"); then
	check 0 "restarted squid$victim is up again after $RISE good probes" "up $took ms after restart (rise $RISE x interval $INTERVAL_MS ms)"
else
	fail "restarted squid$victim comes back up" "$(proxy_field $victim health)"
fi
reached=0
for ((i = 40; i < 70; i++)); do
	c=$(lab_client_address $i)
	if [ "$(served_by "$c")" = "squid$victim" ] && fetch "$c" &&
		[ "$(lab_squid_requests $victim "$c")" -ge 1 ]; then
		reached=$((reached + 1))
	fi
done
check $([ $reached -ge 1 ]; echo $?) "new clients reach the restarted Squid" \
	"$reached of 30 fresh clients landed on squid$victim"

# --- 3. add a fourth proxy under ten long downloads ----------------------------
want=$(cat "$LAB_STATE/origin/big.sha256")
downloads=()
for ((i = 0; i < 10; i++)); do
	c=$(lab_client_address $i)
	( lab_client_curl "$c" "http://$LAB_ORIGIN/slow/big.bin" --max-time 60 |
		sha256sum | cut -d' ' -f1 >"$LAB_STATE/dl.$i" ) &
	downloads+=($!)
done
sleep 1
lab_add_proxy 4
# A weight change under the same downloads: it too must break nothing.
lab_droverctl proxy set 1 --weight 50 >/dev/null
wait_health 4 up "$LAB_WAIT_S" >/dev/null
wait "${downloads[@]}"
intact=0
for ((i = 0; i < 10; i++)); do
	[ "$(cat "$LAB_STATE/dl.$i" 2>/dev/null)" = "$want" ] && intact=$((intact + 1))
done
check $([ $intact -eq 10 ]; echo $?) "ten downloads running while a proxy was added and a weight changed all completed intact" "$intact of 10"
reached=0
for ((i = 70; i < 100; i++)); do
	c=$(lab_client_address $i)
	if [ "$(served_by "$c")" = squid4 ] && fetch "$c" && [ "$(lab_squid_requests 4 "$c")" -ge 1 ]; then
		reached=$((reached + 1))
	fi
done
check $([ $reached -ge 1 ]; echo $?) "new clients reach the added proxy" "$reached of 30 fresh clients landed on squid4"

# --- 4. drain a proxy under a download -----------------------------------------
lab_droverctl settings set affinity_timeout 4 >/dev/null
drain=1
dl_client=""
for ((i = 0; i < 40; i++)); do
	c=$(lab_client_address $i)
	[ "$(served_by "$c")" = "squid$drain" ] && dl_client=$c && break
done
( lab_client_curl "$dl_client" "http://$LAB_ORIGIN/slow/big.bin" --max-time 60 |
	sha256sum | cut -d' ' -f1 >"$LAB_STATE/dl.drain" ) &
dlpid=$!
sleep 1
lab_droverctl proxy drain $drain >/dev/null
# Active clients are counted by the affinity sweep, once a second.
has_active() { [ "$(proxy_field $drain active_clients)" -ge 1 ]; }
lab_wait "$LAB_WAIT_S" has_active
active=$(proxy_field $drain active_clients)
check $([ "$active" -ge 1 ]; echo $?) "the draining proxy shows its remaining active clients" \
	"active_clients=$active while the download runs"
wait $dlpid
# Squid logs a request when it ends: count only after the download is done.
before_log=$(lab_squid_requests $drain)
check $([ "$(cat "$LAB_STATE/dl.drain")" = "$want" ]; echo $?) \
	"a download through a draining proxy completes intact" "client $dl_client"
sent=0
for ((i = 0; i < LAB_CLIENTS; i++)); do
	c=$(lab_client_address $i)
	[ "$c" = "$dl_client" ] && continue
	[ "$(served_by "$c")" = "squid$drain" ] && sent=$((sent + 1))
done
# Every client but the one downloading is idle for longer than the timeout by now.
sleep 5
for ((i = 0; i < LAB_CLIENTS; i += 3)); do
	fetch "$(lab_client_address $i)"
done
after_log=$(lab_squid_requests $drain)
check $([ $sent -eq 0 ] && [ "$after_log" -eq "$before_log" ]; echo $?) "no new client is sent to the draining proxy" \
	"$sent clients mapped to it; its log grew by $((after_log - before_log)) requests besides the download"
drain_audited() { lab_droverctl audit --limit 20 | grep -q "drain of proxy $drain .* complete"; }
drained=0
lab_wait "$LAB_WAIT_S" drain_audited && drained=1
check $([ $drained -eq 1 ]; echo $?) "the audit log records when the drain completed" \
	"$(lab_droverctl audit --limit 20 | grep -m1 'drain of proxy' | cut -c1-100)"

# --- 4b. a preview before each pool change --------------------------------------
# Every client makes a request (all 100 active), then for each change: its
# preview (droverctl --dry-run), the change, a request from every client
# again. The clients whose proxy changed (droverctl lookup of each, after its
# request) must be exactly the preview's count; the share of the table that
# changed owner, sampled by looking up 16,384 addresses no client holds before
# and after, must be the preview's within sampling error (2 points; the
# standard error is at most 0.4), and so must each proxy's share after.
lab_droverctl settings set affinity_timeout 300 >/dev/null
SAMPLE_FIRST=10.250.0.0
SAMPLE_COUNT=16384
SHARE_TOLERANCE=0.02

# all_fetch: every client makes one request, fifty at a time (waiting for
# those only: droverd and the Squids are this shell's children too).
all_fetch() {
	local i batch=()
	for ((i = 0; i < LAB_CLIENTS; i++)); do
		fetch "$(lab_client_address $i)" &
		batch+=($!)
		if [ ${#batch[@]} -eq 50 ]; then
			wait "${batch[@]}"
			batch=()
		fi
	done
	[ ${#batch[@]} -gt 0 ] && wait "${batch[@]}"
}

# state_tag: the newest audit entry's id, the snapshot generation, the configuration generation.
state_tag() {
	{
		lab_droverctl --json audit --limit 1
		lab_droverctl --json stats
		lab_droverctl --json cluster
	} | python3 -c 'import json, sys
text, docs, at = sys.stdin.read(), [], 0
while text[at:].strip():
    at = len(text) - len(text[at:].lstrip())
    doc, at = json.JSONDecoder().raw_decode(text, at)
    docs.append(doc)
def find(o, key):
    if isinstance(o, dict):
        if key in o:
            return o[key]
        o = list(o.values())
    if isinstance(o, list):
        for v in o:
            r = find(v, key)
            if r is not None:
                return r
    return None
print(docs[0]["entries"][0]["id"], docs[1]["mapping"]["generation"], find(docs[2], "config_generation"))'
}

# preview_step NAME [WAIT_ID] -- DROVERCTL ARGS: preview, apply, compare.
# The clients' proxies and the table sample after one step are those before
# the next: every client has just made its request, and nothing changed since.
preview_step() {
	local name=$1 wait_id=$2 f=$LAB_STATE/preview.${1// /_}
	shift 3
	cp "$LAB_STATE/preview.clients" "$f.clients0"
	cp "$LAB_STATE/preview.table" "$f.table0"
	local tag0 tag1 t0 took
	tag0=$(state_tag)
	t0=$(now_ms)
	lab_droverctl --json "$@" --dry-run >"$f.preview"
	took=$(($(now_ms) - t0))
	tag1=$(state_tag)
	check $([ "$tag0" = "$tag1" ]; echo $?) "the preview of '$name' changes nothing" \
		"answered in $took ms; newest audit entry, snapshot and configuration generations: $tag0 / $tag1"
	lab_droverctl "$@" --dry-run | sed 's/^/#     /'
	lab_droverctl "$@" >/dev/null
	[ -n "$wait_id" ] && wait_health "$wait_id" up "$LAB_WAIT_S" >/dev/null
	preview_observe
	cp "$LAB_STATE/preview.clients" "$f.clients1"
	cp "$LAB_STATE/preview.table" "$f.table1"
	local out
	out=$(python3 - "$f" $SHARE_TOLERANCE <<'PY'
import json, sys
f, tol = sys.argv[1], float(sys.argv[2])
def owners(name):
    return [r["proxy"] for r in json.load(open(f + "." + name))["results"]]
pv = json.load(open(f + ".preview"))["preview"]
c0, c1, t0, t1 = owners("clients0"), owners("clients1"), owners("table0"), owners("table1")
moved = sum(a != b for a, b in zip(c0, c1))
share = sum(a != b for a, b in zip(t0, t1)) / len(t0)
ok = moved == pv["clients_moved"] and abs(share - pv["table_share_moved"]) <= tol
# Each proxy's share of the table after the change, as previewed and sampled.
for x in pv["proxies"]:
    sampled = t1.count(x["address"]) / len(t1)
    ok = ok and abs(sampled - x["slots_after"] / pv["table_size"]) <= tol
print("%s preview: %.2f %% of the table, %d of %d active clients; did: %.2f %% (sampled), %d clients"
      % ("ok" if ok else "bad", 100 * pv["table_share_moved"], pv["clients_moved"],
         pv["active_clients"], 100 * share, moved))
PY
)
	check $([ "${out%% *}" = ok ]; echo $?) "the preview of '$name' matches what it did" "${out#* }"
}

# preview_observe: every client makes a request, then where each client is and
# where the table sends the sample addresses.
preview_observe() {
	all_fetch
	lab_droverctl --json lookup "$(lab_client_address 0)" --count "$LAB_CLIENTS" \
		>"$LAB_STATE/preview.clients"
	lab_droverctl --json lookup $SAMPLE_FIRST --count $SAMPLE_COUNT >"$LAB_STATE/preview.table"
}

section_ms=$(now_ms)
preview_observe
preview_step "proxy set 4 --weight 200" "" -- proxy set 4 --weight 200
preview_step "proxy drain 2" "" -- proxy drain 2
preview_step "proxy disable 4" "" -- proxy disable 4
preview_step "proxy del 2 (draining)" "" -- proxy del 2
# Its decapsulator still runs on px2: adding its address back needs nothing there.
preview_step "proxy add (squid2 again)" 5 -- proxy add "$(lab_proxy_address 2)" --name squid2
echo "#   previews, changes and checks of section 4b: $(($(now_ms) - section_ms)) ms"

# --- 5. accepts TCP, never answers HTTP ----------------------------------------
mute=3
kill -KILL "$(squid_pid $mute)"
cat >"$LAB_STATE/mute.py" <<'PY'
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 3128))
s.listen(128)
conns = []
while True:
    c, _ = s.accept()
    conns.append(c)  # hold it open, say nothing
PY
ip netns exec "$(lab_ns px$mute)" python3 "$LAB_STATE/mute.py" "$(lab_proxy_address $mute)" \
	</dev/null &
mutepid=$!
# Recorded: lab_down stops it, however this test ends.
lab_record mute "$mutepid" python3
for kind in http-proxy http tcp; do
	lab_droverctl proxy set $mute --probe $kind >/dev/null
	if [ $kind = tcp ]; then
		took=$(wait_health $mute up "$LAB_WAIT_S") && res=up || res=$(proxy_field $mute health)
		check $([ "$res" = up ]; echo $?) "a mute proxy stays up for tcp probes" \
			"$(proxy_field $mute last_check) after $took ms"
	else
		wait_health $mute down "$LAB_WAIT_S" >/dev/null
		check $([ "$(proxy_field $mute health)" = down ] && [ "$(proxy_field $mute last_check)" = L7TOUT ]; echo $?) \
			"a mute proxy is marked down by $kind probes with L7TOUT" \
			"$(proxy_field $mute health) / $(proxy_field $mute last_check) $(proxy_field $mute last_check_ms) ms"
	fi
done
lab_kill "$mutepid" python3

# --- 6. Squid's own figures ------------------------------------------------------
sq=4
sqdir=$LAB_STATE/px$sq
# squid_field KEY: one field of proxy sq's "squid" object (None when null).
squid_field() {
	ctl_json proxy show $sq | python3 -c "import json,sys
q = json.load(sys.stdin)['proxy'].get('squid')
print(q if q is None else q.get('$1'))"
}
squid_reads() { squid_field reads; }
# wait_reads N: until N more reads of sq's manager have finished.
wait_reads() {
	local want=$(($(squid_reads) + $1))
	reads_done() { [ "$(squid_reads)" -ge "$want" ]; }
	lab_wait "$LAB_WAIT_S" reads_done
}
# Section 4b left it disabled: taking clients again first.
lab_droverctl proxy set $sq --probe tcp >/dev/null
lab_droverctl proxy enable $sq >/dev/null
wait_health $sq up "$LAB_WAIT_S" >/dev/null
lab_droverctl settings set squid_stats_interval_ms 1000 >/dev/null
# Its Squid refuses the manager to everyone, as Debian's own configuration does.
sed -i '0,/^http_access/s//http_access deny manager\n&/' "$sqdir/squid.conf"
lab_exec px$sq squid -k reconfigure -f "$sqdir/squid.conf"
lab_droverctl proxy set $sq --squid-stats on >/dev/null
refused() { [ "$(squid_field state)" = http-status ]; }
lab_wait "$LAB_WAIT_S" refused
err=$(squid_field error)
hits0=$(proxy_field $sq hits)
sq_clients=()
for ((i = 0; i < LAB_CLIENTS && ${#sq_clients[@]} < 10; i++)); do
	c=$(lab_client_address $i)
	[ "$(served_by "$c")" = "squid$sq" ] && sq_clients+=("$c")
done
served=0
for c in "${sq_clients[@]}"; do
	fetch "$c" && served=$((served + 1))
done
wait_reads 2
check $([ "$(squid_field ok)" = False ] && [[ $err == *403* ]] &&
	[ "$(proxy_field $sq health)" = up ] && [ ${#sq_clients[@]} -ge 1 ] &&
	[ $served -eq ${#sq_clients[@]} ] && [ "$(proxy_field $sq hits)" -ge $((hits0 + served)) ]
	echo $?) "a Squid whose manager ACL refuses the appliance: its error shown, the proxy stays up and keeps its clients" \
	"error: $err; health $(proxy_field $sq health); $served of ${#sq_clients[@]} requests answered, hits $hits0 -> $(proxy_field $sq hits)"

# The set-up script droverd renders with squid_stats on opens the manager to the appliance.
lab_droverctl proxy setup-script $sq --mode decap --tunnel-address "$LAB_TUNNEL_ADDRESS" \
	>"$sqdir/setup.sh"
rendered=$(grep -c -- '--squid-manager /etc/squid/squid.conf' "$sqdir/setup.sh")
lab_exec px$sq bash "$sqdir/setup.sh" --decap-bin "$DROVER_BUILD/drover-decap" \
	--dev drover0 --pidfile "$sqdir/decap.pid" --decap-log "$sqdir/decap.log" \
	$(lab_proxy_tls_args $sq) --squid-manager "$sqdir/squid.conf" up >/dev/null 2>&1
opened() { [ "$(squid_field ok)" = True ]; }
lab_wait "$LAB_WAIT_S" opened
check $([ "$rendered" -ge 1 ] && [ "$(squid_field ok)" = True ] &&
	grep -q "^acl drover_appliances src $LAB_APPLIANCE\$" "$sqdir/squid.conf"; echo $?) \
	"the set-up script opens Squid's manager to the appliance: the figures are read" \
	"$(lab_droverctl proxy show $sq | grep '^squid ')"

# A burst of requests: Squid's count (drover's own reads left out) rises by
# exactly as many, as do its access log and droverd's hits for it.
wait_reads 2
req0=$(squid_field requests)
log0=$(lab_squid_requests $sq)
hits0=$(proxy_field $sq hits)
burst=0
burst_start=$(now_ms)
for _ in 1 2 3; do
	for c in "${sq_clients[@]}"; do
		fetch "$c" && burst=$((burst + 1))
	done
done
burst_ms=$(($(now_ms) - burst_start))
wait_reads 1
peak=$(squid_field requests_per_second)
wait_reads 2
req1=$(squid_field requests)
log1=$(lab_squid_requests $sq)
hits1=$(proxy_field $sq hits)
check $([ $burst -ge 1 ] && [ $((req1 - req0)) -eq $burst ] && [ $((log1 - log0)) -eq $burst ] &&
	[ $((hits1 - hits0)) -eq $burst ]; echo $?) \
	"Squid's request count across a burst equals the requests made, its log and droverd's hits" \
	"$burst requests in $burst_ms ms; Squid counted $((req1 - req0)), logged $((log1 - log0)), hits $((hits1 - hits0)); read after it: $peak req/s; now: $(lab_droverctl proxy show $sq | grep '^squid ' | cut -c17-)"

# /metrics (loopback may read it): per-proxy gauges, labelled as the other per-proxy series.
metrics=$(lab_exec app curl -s --max-time 10 http://127.0.0.1:8080/metrics | grep '^drover_proxy_squid_')
check $(grep -q "^drover_proxy_squid_read_ok{proxy=\"squid$sq\"} 1\$" <<<"$metrics" &&
	grep -q "^drover_proxy_squid_requests_total{proxy=\"squid$sq\"} [0-9]" <<<"$metrics" &&
	! grep -q "{proxy=\"squid1\"}" <<<"$metrics"; echo $?) \
	"/metrics has Squid's figures of the proxy with squid_stats on, and only of it" \
	"$(tr '\n' ' ' <<<"$metrics")"
lab_droverctl proxy list | awk -v n="squid$sq" 'NR == 1 || $2 == n' | sed 's/^/#   /'

lab_droverctl proxy set $sq --squid-stats off >/dev/null
check $([ "$(squid_field ok)" = None ]; echo $?) "squid_stats off: the proxy's \"squid\" is null" \
	"$(ctl_json proxy show $sq | grep '"squid"')"
lab_droverctl proxy list | sed 's/^/#   /'
