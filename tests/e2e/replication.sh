#!/bin/bash
# tests/e2e/replication.sh - a primary and a replica: the replica follows the
# primary's configuration over HTTPS, maps every client as it does, refuses
# writes, survives the primary dying mid-transfer and restarts without it.
#
#                 management LAN 198.18.99.0/24 (br0 in $LAB-sw)
#   +------------------------+-------------------------+----------------+
#   $LAB-app                 $LAB-app2                 $LAB-px1
#   198.18.99.1              198.18.99.2               198.18.99.11 .. .18
#   droverd A, primary       droverd B, replica        one TCP listener on :3128
#   web API https :8443      web API http :8080        (the "proxies": tcp probes
#   (certificate naming      pulls A every 500 ms       pass, no Squid needed)
#    198.18.99.1)            with A's API token
#
#   1. B pulls A's configuration: the same generation, proxies, settings and
#      hash key; the table digests equal once both see every proxy up.
#   2. On A, weights changed and proxies added, one at a time: B reaches A's
#      generation each time (the time from the change to B at that
#      generation is printed, median and max); the digests equal again.
#   3. 10,000 client addresses looked up on both: the same proxy for each.
#   4. Writes to B refused, naming A: droverctl (exit 1) and the API (409,
#      kind replica); a node-scoped setting still changes; nothing moved.
#   5. The cluster view on both: roles, VRRP states (droverctl cluster vrrp),
#      peers agreeing; /metrics carries them.
#   6. A killed while B downloads a snapshot (A's link slowed so that a
#      transfer takes about 3 s), at several points: B stays on
#      its previous generation or takes the whole new one, never anything
#      else, and keeps serving.
#   7. B restarted while A is down: it starts from its last configuration
#      (same generation, same lookups) and says A is unreachable, since when.
#   8. A back: B catches up.
# Prints "ok - ..." / "not ok - ... (figures)" lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-drp}
LAB_STATE=/tmp/drover-e2e-replication.$$
LAB_PROXIES=1
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"
# shellcheck source=../lab/cluster.sh
. "$here/../lab/cluster.sh"
# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

NET=198.18.99
A=$NET.1
B=$NET.2
A_URL=https://$A:8443
B_URL=http://$B:8080
PROXY_FIRST=11
PROXIES=3
CHANGES=10
LOOKUP_FIRST=10.0.0.0
LOOKUP_COUNT=10000
# A snapshot's transfer slowed to about this long, and A killed this many times in one.
TRANSFER_S=3
KILL_AT=(0.8 1.4 2.0) # seconds after the change on A
KILLS=${#KILL_AT[@]}

# The daemons' logs are kept with the suite's output, then the world goes.
finish() {
	local f
	if [ -n "${DROVER_ARTIFACTS:-}" ]; then
		for f in "$LAB_STATE"/droverd-*.log; do
			[ -f "$f" ] && cp "$f" "$DROVER_ARTIFACTS/replication-$(basename "$f")"
		done
	fi
	lab_down
}
trap finish EXIT
trap 'exit 1' INT TERM

ctl_a() { lab_exec app "$DROVER_BUILD/droverctl" --socket "$LAB_STATE/a.sock" "$@"; }
ctl_b() { lab_exec app2 "$DROVER_BUILD/droverctl" --socket "$LAB_STATE/b.sock" "$@"; }

gen_a() { cluster_field ctl_a "c['config_generation']"; }
gen_b() { cluster_field ctl_b "c['config_generation']"; }
digest() { cluster_field "$1" "c['table_digest']"; }

now_ms() { date +%s%3N; }

# start_droverd LABEL NS DB SOCK: droverd in NS, nothing pinned, no rules.
start_droverd() {
	local label=$1 ns=$2 pid
	ip netns exec "$(lab_ns "$ns")" "$DROVER_BUILD/droverd" --db "$LAB_STATE/$label.db" \
		--socket "$LAB_STATE/$label.sock" --bpf-pin-dir '' \
		--admin-password-file "$LAB_STATE/password" --log-level info \
		</dev/null >>"$LAB_STATE/droverd-$label.log" 2>&1 &
	pid=$!
	lab_record "droverd-$label" "$pid" droverd
	echo "$pid" >"$LAB_STATE/$label.pid"
	lab_wait "$LAB_WAIT_S" test -S "$LAB_STATE/$label.sock"
}

stop_droverd() {
	local label=$1
	lab_kill "$(cat "$LAB_STATE/$label.pid")" droverd
	rm -f "$LAB_STATE/$label.sock"
}

# all_up CTL: every proxy passes its probes.
all_up() {
	"$1" --json proxy list | python3 -c 'import json, sys
p = json.load(sys.stdin)["proxies"]
sys.exit(0 if p and all(x.get("health") == "up" for x in p) else 1)'
}

# median FILE: the median of the numbers in FILE, one a line.
median() {
	sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---- the world ----
setup() {
	mkdir -p "$LAB_STATE" && touch "$LAB_STATE/$LAB_STAMP" && chmod 0755 "$LAB_STATE" || return 1
	lab_add_ns sw && ip -n "$(lab_ns sw)" link add br0 type bridge &&
		ip -n "$(lab_ns sw)" link set br0 up || return 1
	lab_add_ns app && lab_port_to_switch app lan0 &&
		ip -n "$(lab_ns app)" addr add "$A/24" dev lan0 || return 1
	lab_add_ns app2 && lab_port_to_switch app2 lan0 &&
		ip -n "$(lab_ns app2)" addr add "$B/24" dev lan0 || return 1
	lab_add_ns px1 && lab_port_to_switch px1 eth0 || return 1
	local i pid
	for ((i = 0; i < PROXIES + CHANGES / 2; i++)); do
		ip -n "$(lab_ns px1)" addr add "$NET.$((PROXY_FIRST + i))/24" dev eth0 || return 1
	done
	ip netns exec "$(lab_ns px1)" python3 -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 3128))
s.listen(512)
while True:
    c, _ = s.accept()
    c.close()' </dev/null >/dev/null 2>&1 &
	pid=$!
	lab_record listener "$pid" python3
	lab_wait "$LAB_WAIT_S" lab_listening px1 3128 || return 1
	head -c 18 /dev/urandom | base64 >"$LAB_STATE/password"
	chmod 0600 "$LAB_STATE/password"

	start_droverd a app || return 1
	# The primary's certificate names its address, so the replica checks it whole.
	ctl_a settings set queues 1 >/dev/null &&
		cluster_primary ctl_a app "$A" "$LAB_STATE/password" "$LAB_STATE" &&
		ctl_a settings set probe_kind tcp >/dev/null &&
		ctl_a settings set probe_port 3128 >/dev/null &&
		ctl_a settings set probe_timeout_ms 500 >/dev/null &&
		ctl_a settings set probe_interval_ms 1000 >/dev/null || return 1
	for ((i = 0; i < PROXIES; i++)); do
		ctl_a proxy add "$NET.$((PROXY_FIRST + i))" --name "px$i" >/dev/null || return 1
	done

	start_droverd b app2 || return 1
	ctl_b settings set queues 1 >/dev/null &&
		ctl_b settings set http_listen "$B:8080" >/dev/null &&
		cluster_replica ctl_b "$A" "$LAB_STATE" || return 1
	lab_wait "$LAB_WAIT_S" lab_exec app2 bash -c "echo >/dev/tcp/$B/8080" || return 1
	cluster_token app2 "$B_URL" "" "$LAB_STATE/password" >"$LAB_STATE/b.token"
}

if ! setup; then
	fail "lab setup" "$(tail -n 5 "$LAB_STATE"/droverd-*.log 2>/dev/null)"
	exit 1
fi

# ---- 1. first pull ----
same_gen() { [ "$(gen_a)" = "$(gen_b)" ]; }
lab_wait "$LAB_WAIT_S" same_gen
ga=$(gen_a)
gb=$(gen_b)
pa=$(ctl_a --json proxy list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["proxies"]))')
pb=$(ctl_b --json proxy list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["proxies"]))')
ka=$(cluster_field ctl_a "c['hash_key_id']")
kb=$(cluster_field ctl_b "c['hash_key_id']")
[ "$ga" = "$gb" ] && [ "$pa" = "$PROXIES" ] && [ "$pb" = "$PROXIES" ] && [ "$ka" = "$kb" ] &&
	[ "$(ctl_b settings get probe_kind)" = tcp ] && [ "$(ctl_b settings get https)" = false ]
check $? "B took A's configuration: generation, proxies, probe settings, hash key; kept its own web settings" \
	"generation A $ga B $gb; proxies A $pa B $pb; hash key A $ka B $kb"
lab_wait "$LAB_WAIT_S" all_up ctl_a && lab_wait "$LAB_WAIT_S" all_up ctl_b &&
	lab_wait "$LAB_WAIT_S" cluster_same ctl_a ctl_b
check $? "equal table digests once both see every proxy up" "A $(digest ctl_a) B $(digest ctl_b)"

# ---- 2. changes on A, B follows ----
: >"$LAB_STATE/times"
# The changes are made and both generations read through the control sockets
# directly (each a few milliseconds), so that the figure is the replication's,
# not the start-up of droverctl; each change comes at a random point of B's
# poll period.
python3 - "$LAB_STATE/a.sock" "$LAB_STATE/b.sock" "$CHANGES" "$NET" "$((PROXY_FIRST + PROXIES))" \
	"$LAB_WAIT_S" "$LAB_STATE/times" <<'EOF'
import json, random, socket, sys, time
a, b, changes, net, first, wait_s, times = sys.argv[1:8]
def call(path, req):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall((json.dumps(req) + "\n").encode())
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return json.loads(data)
def generation(path):
    return call(path, {"cmd": "cluster"})["cluster"]["config_generation"]
out = open(times, "w")
for n in range(int(changes)):
    if n % 2 == 0:
        what, req = "proxy 1 weight %d" % (50 + n), {"cmd": "proxy.set", "id": 1, "weight": 50 + n}
    else:
        address = "%s.%d" % (net, int(first) + n // 2)
        what, req = "proxy add " + address, {"cmd": "proxy.add", "address": address}
    # At a random point of B's poll period, as a change made by someone would be.
    time.sleep(random.uniform(0, 0.6))
    t0 = time.monotonic()
    if not call(a, req)["ok"]:
        print("#   change %d (%s) refused by A" % (n + 1, what))
        sys.exit(1)
    want = generation(a)
    while generation(b) != want and time.monotonic() - t0 < float(wait_s):
        time.sleep(0.005)
    ms = (time.monotonic() - t0) * 1000
    if generation(b) != want:
        print("#   change %d (%s): B never reached generation %d" % (n + 1, what, want))
        sys.exit(1)
    out.write("%.0f\n" % ms)
    print("#   change %d (%s): generation %d on B after %.0f ms" % (n + 1, what, want, ms))
EOF
ok=$((1 - $?))
times_median=$(median "$LAB_STATE/times")
times_max=$(sort -n "$LAB_STATE/times" | tail -n 1)
[ "$ok" = 1 ] && [ "$(gen_a)" = "$(gen_b)" ]
check $? "B reached A's generation after each of $CHANGES changes (weights, added proxies)" \
	"change on A to the same generation on B: median $times_median ms, max $times_max ms (cluster_poll_ms 500, the default)"
lab_wait "$LAB_WAIT_S" all_up ctl_a && lab_wait "$LAB_WAIT_S" all_up ctl_b &&
	lab_wait "$LAB_WAIT_S" cluster_same ctl_a ctl_b
check $? "equal table digests after the changes" "A $(digest ctl_a) B $(digest ctl_b)"

# What one pull costs, seen from B: a whole snapshot, then a 204 (B holds it).
pull() {
	lab_exec app2 curl -sS -o /dev/null -D "$LAB_STATE/pull.headers" --cacert "$LAB_STATE/primary-cert.pem" \
		-H "Authorization: Bearer $(cat "$LAB_STATE/primary.token")" \
		-w "#   a pull from B ($1): HTTP %{http_code}, %{size_download} bytes, TLS done %{time_appconnect} s, total %{time_total} s\n" \
		"$A_URL/api/v1/cluster/snapshot?$1"
}
pull have=0
snapshot_digest=$(awk -F': ' 'tolower($1) == "x-drover-snapshot-digest" { print $2 }' "$LAB_STATE/pull.headers" | tr -d '\r')
pull "have=$(gen_a)&digest=$snapshot_digest"

# ---- 3. 10,000 lookups ----
ctl_a lookup "$LOOKUP_FIRST" --count "$LOOKUP_COUNT" | cut -d' ' -f1,2 >"$LAB_STATE/lookup.a"
ctl_b lookup "$LOOKUP_FIRST" --count "$LOOKUP_COUNT" | cut -d' ' -f1,2 >"$LAB_STATE/lookup.b"
lines=$(wc -l <"$LAB_STATE/lookup.a")
differ=$(diff "$LAB_STATE/lookup.a" "$LAB_STATE/lookup.b" | grep -c '^<')
proxies_used=$(cut -d' ' -f2 "$LAB_STATE/lookup.a" | sort -u | grep -vc -- '-')
[ "$lines" -eq "$LOOKUP_COUNT" ] && [ "$differ" -eq 0 ] && [ "$proxies_used" -ge "$PROXIES" ]
check $? "$LOOKUP_COUNT clients looked up identically on A and B" \
	"$lines looked up, $differ differ, spread over $proxies_used proxies"

# ---- 4. writes to B refused ----
gb=$(gen_b)
out=$(ctl_b proxy set 1 --weight 7 2>&1)
rc=$?
[ "$rc" -eq 1 ] && grep -q "replica of $A_URL" <<<"$out"
check $? "droverctl proxy set on B refused, naming A (exit 1)" "exit $rc: $out"
out=$(ctl_b settings set probe_rise 5 2>&1)
rc=$?
[ "$rc" -eq 1 ] && grep -q "replica of $A_URL" <<<"$out"
check $? "droverctl settings set of a cluster-scoped key on B refused" "exit $rc: $out"
body=$(lab_exec app2 curl -sS -o - -w '\n%{http_code}' -H "Authorization: Bearer $(cat "$LAB_STATE/b.token")" \
	-H 'Content-Type: application/json' -d "{\"address\":\"$NET.99\"}" "$B_URL/api/v1/proxies")
status=$(tail -n 1 <<<"$body")
[ "$status" = 409 ] && head -n 1 <<<"$body" | python3 -c "import json,sys
r = json.load(sys.stdin)
sys.exit(0 if r['kind'] == 'replica' and r['primary'] == '$A_URL' and '$A_URL' in r['error'] else 1)"
check $? "POST /api/v1/proxies on B: 409, kind replica, the primary named" "$(tr '\n' ' ' <<<"$body")"
ctl_b settings set queue_maxlen 2048 >/dev/null
rc=$?
[ "$rc" -eq 0 ] && [ "$(gen_b)" = "$gb" ] && [ "$(ctl_b --json proxy list | grep -c "$NET.99")" = 0 ]
check $? "a node-scoped setting still changes on B; nothing refused moved B's generation" \
	"exit $rc, generation $gb -> $(gen_b)"

# ---- 5. the cluster view ----
ctl_a cluster vrrp MASTER >/dev/null && ctl_b cluster vrrp backup >/dev/null
peer_seen() {
	[ "$(cluster_field ctl_a "[p['vrrp'] + str(p['agree']) for p in c['peers'] if p['node'] == 'drover-b'][0]")" = BACKUPTrue ]
}
lab_wait "$LAB_WAIT_S" peer_seen
check $? "A's view: replica drover-b, VRRP BACKUP, agreeing" \
	"$(ctl_a cluster | tail -n 2 | tr -s ' ' | tr '\n' '|')"
pv=$(cluster_field ctl_b "'%s %s %s %s %s' % (c['role'], c['vrrp'], c['primary']['node'], c['primary']['vrrp'], c['primary']['agree'])")
[ "$pv" = "replica BACKUP drover-a MASTER True" ]
check $? "B's view: replica, BACKUP; primary drover-a MASTER, agreeing" "$pv"
metrics=$(lab_exec app curl -sS --cacert "$LAB_STATE/primary-cert.pem" \
	-H "Authorization: Bearer $(cat "$LAB_STATE/primary.token")" "$A_URL/metrics")
grep -q '^drover_vrrp_state{state="MASTER"} 1$' <<<"$metrics" &&
	grep -q "^drover_config_generation $(gen_a)\$" <<<"$metrics" &&
	grep -q '^drover_cluster_role{role="primary"} 1$' <<<"$metrics" &&
	grep -q '^drover_cluster_peer_agree{peer="drover-b",role="replica"} 1$' <<<"$metrics"
check $? "A's /metrics: VRRP state, config generation, role, the replica agreeing" \
	"$(grep -E '^drover_(vrrp_state|config_generation|cluster_)' <<<"$metrics" | grep -v ' 0$' | tr '\n' ' ')"

# ---- 6. A killed in the middle of transfers ----
# B asks more often, so that its pulls start soon after each change; A's link
# slowed so that a snapshot's transfer lasts about three seconds.
ctl_b settings set cluster_poll_ms 200 >/dev/null
size=$(lab_exec app curl -sS --cacert "$LAB_STATE/primary-cert.pem" -o /dev/null -w '%{size_download}' \
	-H "Authorization: Bearer $(cat "$LAB_STATE/primary.token")" "$A_URL/api/v1/cluster/snapshot")
rate=$((size * 8 / 1000 / TRANSFER_S))
[ "$rate" -lt 16 ] && rate=16
# A short queue: what A's kernel holds to send stays in its socket, where a dead machine keeps it.
lab_exec app tc qdisc add dev lan0 root tbf rate "${rate}kbit" burst 4kb latency 50ms
echo "#   snapshot of $size bytes, A's link at ${rate} kbit/s"
kills_mid=0
kills_ok=0
outcomes=""
# new_failure LINE: B logged a failed pull after line LINE of its log.
new_failure() {
	tail -n +"$(($1 + 1))" "$LAB_STATE/droverd-b.log" | grep -q 'unreachable\|refused'
}
for ((k = 0; k < KILLS; k++)); do
	before=$(gen_b)
	before_proxies=$(ctl_b --json proxy list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["proxies"]))')
	lines_before=$(wc -l <"$LAB_STATE/droverd-b.log")
	ctl_a proxy set 1 --weight $((10 + k)) >/dev/null
	target=$(gen_a)
	# Somewhere in the transfer (about TRANSFER_S long), A dies as a machine does:
	# the process killed, and nothing more leaving it (not even what its kernel
	# still held to send).
	sleep "${KILL_AT[k]}"
	stop_a_pid=$(cat "$LAB_STATE/a.pid")
	kill -KILL "$stop_a_pid"
	lab_exec app iptables -w -I OUTPUT -p tcp --sport 8443 -j DROP
	wait "$stop_a_pid" 2>/dev/null
	rm -f "$LAB_STATE/a.sock"
	lab_wait "$LAB_WAIT_S" new_failure "$lines_before"
	after=$(gen_b)
	after_proxies=$(ctl_b --json proxy list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["proxies"]))')
	how=$(tail -n +"$((lines_before + 1))" "$LAB_STATE/droverd-b.log" | grep 'unreachable\|refused' |
		head -n 1 | sed 's/.*unreachable: //; s/; serving.*//')
	if [ "$after" = "$before" ] && [ "$after_proxies" = "$before_proxies" ]; then
		kills_ok=$((kills_ok + 1))
		grep -q 'bytes received\|transfer closed\|Recv failure' <<<"$how" &&
			kills_mid=$((kills_mid + 1))
		outcomes="$outcomes kill $((k + 1)) at ${KILL_AT[k]} s: B kept generation $after ($how);"
	elif [ "$after" = "$target" ]; then
		kills_ok=$((kills_ok + 1))
		outcomes="$outcomes kill $((k + 1)) at ${KILL_AT[k]} s: B had all of generation $after;"
	else
		outcomes="$outcomes kill $((k + 1)): B at $after, neither $before nor $target;"
	fi
	# B still answers as before.
	ctl_b lookup "$LOOKUP_FIRST" --count "$LOOKUP_COUNT" | cut -d' ' -f1,2 >"$LAB_STATE/lookup.k"
	[ "$after" != "$before" ] || diff -q "$LAB_STATE/lookup.b" "$LAB_STATE/lookup.k" >/dev/null ||
		outcomes="$outcomes B's lookups changed;"
	lab_exec app iptables -w -D OUTPUT -p tcp --sport 8443 -j DROP
	cp "$LAB_STATE/lookup.k" "$LAB_STATE/lookup.b"
	if ((k + 1 < KILLS)); then
		start_droverd a app || fail "A restarts"
		lab_wait "$LAB_WAIT_S" same_gen
		ctl_b lookup "$LOOKUP_FIRST" --count "$LOOKUP_COUNT" | cut -d' ' -f1,2 >"$LAB_STATE/lookup.b"
	fi
done
lab_exec app tc qdisc del dev lan0 root 2>/dev/null
[ "$kills_ok" -eq "$KILLS" ] && [ "$kills_mid" -ge 1 ]
check $? "A killed during $KILLS transfers: B kept its previous generation, intact, serving" \
	"$kills_mid of $KILLS kills cut a transfer;$outcomes"

# ---- 7. B restarted while A is down ----
gb=$(gen_b)
ctl_b lookup "$LOOKUP_FIRST" --count "$LOOKUP_COUNT" | cut -d' ' -f1,2 >"$LAB_STATE/lookup.b1"
stop_droverd b
start_droverd b app2
check $? "B restarts while A is down"
unreachable() { [ "$(cluster_field ctl_b "c['primary']['reachable']")" = False ]; }
lab_wait "$LAB_WAIT_S" unreachable
lab_wait "$LAB_WAIT_S" all_up ctl_b
ctl_b lookup "$LOOKUP_FIRST" --count "$LOOKUP_COUNT" | cut -d' ' -f1,2 >"$LAB_STATE/lookup.b2"
differ=$(diff "$LAB_STATE/lookup.b1" "$LAB_STATE/lookup.b2" | grep -c '^<')
view=$(ctl_b cluster | grep -E 'primary_state|last_error')
[ "$(gen_b)" = "$gb" ] && [ "$differ" -eq 0 ] && grep -q 'unreachable since' <<<"$view"
check $? "B starts from its last configuration and says A is unreachable, since when" \
	"generation $gb -> $(gen_b), $differ of $LOOKUP_COUNT lookups differ; $(tr '\n' ' ' <<<"$view" | tr -s ' ')"

# ---- 8. A back ----
start_droverd a app
lab_wait "$LAB_WAIT_S" same_gen
check $? "A back: B catches up to its generation" "A $(gen_a) B $(gen_b)"
stop_droverd b
stop_droverd a
exit $((failures > 0))
