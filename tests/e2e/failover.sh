#!/bin/bash
# tests/e2e/failover.sh - an HA pair under keepalived (tests/lab/pair.sh):
# the clients' gateway moves between two appliances, and no connection
# breaks and no client changes proxy, at failover or failback.
#
#   A (priority 150) and B (100) run droverd and keepalived on `droverctl ha
#   keepalived-config'. A is the configuration primary (web API over HTTPS),
#   B its replica: B takes A's configuration by replication (its generation
#   and table digest equal A's before any traffic), and each sets its own
#   ha_* settings. The clients' and proxies' gateway is the VIP 198.18.1.1,
#   the origin's way back the VIP 198.18.64.1; A holds both.
#   After every VRRP transition, `droverctl cluster' on each node running
#   shows the state keepalived gave it (its notify hook tells droverd).
#
#   For each way of losing A:
#     (a) SIGKILL to A's droverd and keepalived (both its processes),
#     (b) A's LAN link cut (ip link set lan0 down),
#   8 downloads paced by the origin (4 MB at 100 kB/s, about 40 s, so that
#   Squid's fetch and the client's download both cross the failover and the
#   failback segment by segment) and 40 clients looping
#   requests run while A fails (the VIP moves to B: time printed), then
#   comes back (droverd and keepalived started again / the link up: the VIP
#   moves back, A having the higher priority: time printed). Asserted: 8
#   downloads intact (sha256), 0 requests failed or unproxied, and across
#   the whole run every client address in exactly one Squid's log.
#   While A, the primary, is dead, B keeps serving its last configuration
#   (same generation, same lookups); once A is back B follows it again.
#   No assertion on time: the move times are printed as figures.
# Prints "ok - ..." / "not ok - ..." lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-dfo}
LAB_STATE=/tmp/drover-e2e-failover.$$
# shellcheck disable=SC2034 # read by lib.sh
LAB_CLIENTS=48
LAB_PROXIES=3
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"
# shellcheck source=../lab/cluster.sh
. "$here/../lab/cluster.sh"
# shellcheck source=../lab/pair.sh
. "$here/../lab/pair.sh"
# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

LOAD=$here/../lab/load.py
DOWNLOADS=8
LOOPERS=40
# The loop clients run this long each phase: past the failback.
LOAD_S=${FAILOVER_LOAD_S:-45}
# After the VIP moved, traffic runs on the new master this long before the failback.
HOLD_S=5
PAIR_ADVERT_MS=1000

# The logs of the run stay in the artifacts directory.
finish() {
	local out=${DROVER_ARTIFACTS:-}/failover
	if [ -n "${DROVER_ARTIFACTS:-}" ] && [ -d "$LAB_STATE" ]; then
		rm -rf "$out" && mkdir -p "$out" &&
			cp "$LAB_STATE"/*.log "$LAB_STATE"/*.conf "$out/" 2>/dev/null
		for d in kill link; do
			[ -d "$LAB_STATE/$d" ] && cp "$LAB_STATE/$d/load.out" "$out/load-$d.out" 2>/dev/null &&
				cp "$LAB_STATE/$d/events" "$out/events-$d" 2>/dev/null
		done
		for ((i = 1; i <= LAB_PROXIES; i++)); do
			cp "$LAB_STATE/px$i/squid/access.log" "$out/squid$i-access.log" 2>/dev/null
		done
	fi
	pair_down
}
trap finish EXIT
trap 'exit 1' INT TERM

now_ms() {
	date +%s%3N
}

# wait_holder NODE SINCE_MS [alone]: waits until NODE holds the VIP (and,
# with alone, the other node no more); prints the ms since SINCE_MS, -1 if never.
wait_holder() {
	local n=$1 since=$2 alone=${3:-} other=$((3 - $1))
	local deadline=$((SECONDS + LAB_WAIT_S))
	while ! pair_holds "$n" || { [ -n "$alone" ] && pair_holds "$other"; }; do
		[ $SECONDS -ge $deadline ] && {
			echo -1
			return 1
		}
		sleep 0.02
	done
	echo $(($(now_ms) - since))
}

# squid_clients: "CLIENT N" lines: in how many Squids' logs each client address appears.
squid_clients() {
	local i
	for ((i = 1; i <= LAB_PROXIES; i++)); do
		awk -v a="${LAB_PAIR_LAN[1]}" -v b="${LAB_PAIR_LAN[2]}" '$3 != a && $3 != b { print $3 }' \
			"$LAB_STATE/px$i/squid/access.log" 2>/dev/null | sort -u
	done | sort | uniq -c | awk '{ print $2, $1 }'
}

# phase NAME FAIL RESTORE: traffic, A lost by FAIL, A back by RESTORE; figures and checks.
phase() {
	local name=$1 fail_cmd=$2 restore_cmd=$3 i c t0 move back load_out pids=() rcs=()
	local dir=$LAB_STATE/$name
	mkdir -p "$dir"
	for ((i = 0; i < DOWNLOADS; i++)); do
		c=$(lab_client_address "$i")
		lab_client_curl "$c" "http://$LAB_ORIGIN/paced/big.bin" --max-time 300 -o "$dir/dl$i" 2>"$dir/dl$i.err" &
		pids+=($!)
	done
	local addrs=()
	for ((i = DOWNLOADS; i < DOWNLOADS + LOOPERS; i++)); do
		addrs+=("$(lab_client_address "$i")")
	done
	load_out=$dir/load.out
	ip netns exec "$(lab_ns cli)" python3 "$LOAD" --origin "$LAB_ORIGIN" --seconds "$LOAD_S" \
		--timeout 30 --pause 0.2 "${addrs[@]}" >"$load_out" 2>"$dir/load.err" &
	local loadpid=$!
	sleep 4
	local gen_b0
	gen_b0=$(pair_generation 2)
	pair_ctl 2 lookup "$(lab_client_address 0)" --count "$LAB_CLIENTS" | cut -d' ' -f1,2 >"$dir/lookup.before"

	t0=$(now_ms)
	echo "$(date +%s.%N) fault" >>"$dir/events"
	eval "$fail_cmd"
	move=$(wait_holder 2 "$t0")
	local running_fail stale=no
	running_fail=$(jobs -rp | grep -cxF -f <(printf '%s\n' "${pids[@]}"))
	echo "$(date +%s.%N) failover" >>"$dir/events"
	# A keepalived killed by SIGKILL cannot take its addresses away.
	pair_holds 1 && stale=yes
	check "$([ "$move" -ge 0 ]; echo $?)" "$name: the VIP moves to B" \
		"VIP on B ${move} ms after the fault (advert ${PAIR_ADVERT_MS} ms: target $((3 * PAIR_ADVERT_MS + 1000)) ms); still configured on A: $stale; downloads in flight: $running_fail of $DOWNLOADS"
	# keepalived told B's droverd; A's, when it runs, has the state its keepalived logged.
	local state_a=killed
	lab_wait "$LAB_WAIT_S" vrrp_is 2 MASTER
	local ok=$?
	if [ "$name" != kill ]; then
		a_as_logged() { [ "$(pair_state 1)" != MASTER ] && vrrp_is 1 "$(pair_state 1)"; }
		lab_wait "$LAB_WAIT_S" a_as_logged || ok=1
		state_a="$(pair_vrrp 1) (keepalived: $(pair_state 1))"
	fi
	check $ok "$name: after the failover, droverctl cluster: B MASTER, A as its keepalived says" \
		"B: $(cluster_line 2); A: $state_a"
	sleep "$HOLD_S"
	# A, the primary, is gone from B's view: B serves its last configuration.
	b_alone() { [ "$(cluster_field pair_ctl2 "c['primary']['reachable']")" = False ]; }
	lab_wait "$LAB_WAIT_S" b_alone
	ok=$?
	pair_ctl 2 lookup "$(lab_client_address 0)" --count "$LAB_CLIENTS" | cut -d' ' -f1,2 >"$dir/lookup.during"
	[ $ok -eq 0 ] && [ "$(pair_generation 2)" = "$gen_b0" ] && [ -s "$dir/lookup.before" ] &&
		cmp -s "$dir/lookup.before" "$dir/lookup.during"
	check $? "$name: A (the primary) unreachable: B keeps generation $gen_b0 and answers every lookup as before" \
		"B: $(cluster_line 2), $(cluster_field pair_ctl2 "c['primary'].get('error', '')")"

	t0=$(now_ms)
	echo "$(date +%s.%N) restore" >>"$dir/events"
	eval "$restore_cmd"
	back=$(wait_holder 1 "$t0" alone)
	echo "$(date +%s.%N) failback" >>"$dir/events"
	local running_back
	running_back=$(jobs -rp | grep -cxF -f <(printf '%s\n' "${pids[@]}"))
	check "$([ "$back" -ge 0 ]; echo $?)" "$name: A back, the VIP moves back to A (failback)" \
		"VIP on A ${back} ms after A came back (its check waits for a settled pool, then it preempts); downloads in flight: $running_back of $DOWNLOADS"
	lab_wait "$LAB_WAIT_S" vrrp_is 1 MASTER && lab_wait "$LAB_WAIT_S" vrrp_is 2 BACKUP &&
		lab_wait "$LAB_WAIT_S" vrrp_by_hook 1 MASTER && lab_wait "$LAB_WAIT_S" vrrp_by_hook 2 BACKUP
	check $? "$name: after the failback, droverctl cluster: A MASTER, B BACKUP, each told by its notify hook" \
		"A: $(cluster_line 1); B: $(cluster_line 2)"
	lab_wait "$LAB_WAIT_S" b_follows
	check $? "$name: A back: B follows it again (A reachable, same generation and digest, agreeing)" \
		"A: $(cluster_line 1); B: $(cluster_line 2)"

	for i in "${!pids[@]}"; do
		wait "${pids[$i]}"
		rcs+=($?)
	done
	wait "$loadpid"
	local want good=0 bad=""
	want=$(cat "$LAB_STATE/origin/big.sha256")
	for ((i = 0; i < DOWNLOADS; i++)); do
		if [ "${rcs[$i]}" -eq 0 ] && [ "$(sha256sum <"$dir/dl$i" | cut -d' ' -f1)" = "$want" ]; then
			good=$((good + 1))
		else
			bad="$bad $(lab_client_address "$i"):exit${rcs[$i]}:$(stat -c %s "$dir/dl$i" 2>/dev/null)B"
		fi
	done
	[ "$good" -eq "$DOWNLOADS" ] && [ "$running_fail" -eq "$DOWNLOADS" ]
	check $? "$name: $DOWNLOADS downloads across failover and failback, 0 broken (sha256)" \
		"$good intact;${bad:- none broken}; in flight at failover $running_fail, at failback $running_back"
	local total fails direct
	total=$(wc -l <"$load_out")
	fails=$(grep -c ' fail:' "$load_out")
	direct=$(grep -c ' direct$' "$load_out")
	local changed
	changed=$(awk '$4 ~ /^squid/ { if (!($3 in p)) p[$3] = $4; else if (p[$3] != $4) ch[$3] = 1 }
		END { n = 0; for (c in ch) n++; print n }' "$load_out")
	[ "$total" -gt 0 ] && [ "$fails" -eq 0 ] && [ "$direct" -eq 0 ] && [ "$changed" -eq 0 ]
	check $? "$name: $LOOPERS looping clients: 0 requests failed or unproxied, none answered by two Squids" \
		"$total requests, $fails failed ($(grep -o ' fail:[a-z-]*' "$load_out" | sort | uniq -c | tr -s ' \n' ' ')), $direct direct, $changed clients answered by another Squid"
	local multi clients
	clients=$(squid_clients | wc -l)
	multi=$(squid_clients | awk '$2 > 1 { printf "%s ", $1 }')
	[ -z "$multi" ] && [ "$clients" -eq $((DOWNLOADS + LOOPERS)) ]
	check $? "$name: every client address in exactly one Squid's log (whole run so far)" \
		"$clients client addresses logged; in more than one log: ${multi:-none}"
	echo "# figures $name: failover ${move} ms, failback ${back} ms, downloads broken $((DOWNLOADS - good)), clients that changed proxy $(echo "$multi" | wc -w)"
}

if ! pair_up || ! pair_start_droverds 150 100; then
	fail "pair lab builds" "$(tail -n 3 "$LAB_STATE"/droverd*.log 2>/dev/null | tr '\n' ' ')"
	exit 1
fi
grep -q -- "--appliance ${LAB_PAIR_LAN[1]},${LAB_PAIR_LAN[2]} " "$LAB_STATE/px1/setup.sh"
check $? "the generated set-up script accepts IPIP from both appliances (ha_peers)" \
	"$(grep -o -m 1 -- '--appliance [0-9.,]* ' "$LAB_STATE/px1/setup.sh" | head -n 1)"
# B is a replica of A: the same configuration generation and hash key,
# taken over HTTPS, before any traffic.
same_generation() { [ "$(pair_generation 1)" = "$(pair_generation 2)" ]; }
lab_wait "$LAB_WAIT_S" same_generation
gen_a=$(pair_generation 1)
gen_b=$(pair_generation 2)
key_a=$(cluster_field pair_ctl1 "c['hash_key_id']")
key_b=$(cluster_field pair_ctl2 "c['hash_key_id']")
[ -n "$gen_a" ] && [ "$gen_a" = "$gen_b" ] && [ -n "$key_a" ] && [ "$key_a" = "$key_b" ] &&
	[ "$(cluster_field pair_ctl1 "c['role']")" = primary ] &&
	[ "$(cluster_field pair_ctl2 "c['role']")" = replica ] &&
	[ "$(pair_ctl 2 settings get ha_priority)" = 100 ] && [ "$(pair_ctl 2 settings get https)" = false ]
check $? "B, A's replica, took A's configuration by replication, kept its own node settings" \
	"generation A $gen_a B $gen_b; hash key A $key_a B $key_b; ha_priority B $(pair_ctl 2 settings get ha_priority)"
out=$(pair_ctl 2 proxy disable 1 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q "replica of https://${LAB_PAIR_LAN[1]}:8443" <<<"$out"
check $? "a write to B is refused, naming A" "exit $rc: $out"

# vrrp_is NODE STATE: node NODE's droverd was told STATE by keepalived's notify hook.
vrrp_is() {
	[ "$(pair_vrrp "$1")" = "$2" ]
}

# vrrp_by_hook NODE STATE: the newest VRRP entry of node NODE's audit is
# STATE, told through droverctl (the notify hook), not read at start.
vrrp_by_hook() {
	pair_ctl "$1" --json audit --limit 100 | python3 -c "import json, sys
e = [x for x in json.load(sys.stdin)['entries'] if x['action'] == 'cluster.vrrp']
sys.exit(0 if e and e[0]['actor'] == 'droverctl' and e[0]['detail'].startswith('VRRP state $2 ') else 1)"
}

# b_follows: B's primary is A, reachable, agreeing; the same generation and table digest.
b_follows() {
	[ "$(cluster_field pair_ctl2 "c['primary']['node'], c['primary']['reachable'], c['primary']['agree']")" = 'drover-a True True' ] &&
		cluster_same pair_ctl1 pair_ctl2
}

# cluster_line NODE: node NODE's role, generation, digest and VRRP state, for the figures.
cluster_line() {
	cluster_field pair_ctl"$1" "'%s gen %s digest %s vrrp %s' % (c['role'], c['config_generation'], c['table_digest'][:12], c['vrrp'])" 2>/dev/null
}

# The proxies reach the origin through the VIP: they come up once A holds it.
pair_start_keepalived 1 || fail "keepalived starts on A" "$(tail -n 5 "$LAB_STATE/keepalived1.log")"
t0=$(now_ms)
lab_wait "$LAB_WAIT_S" pair_holds 1
check $? "A alone becomes master and holds the VIP" "$(($(now_ms) - t0)) ms after its keepalived started"
pair_start_keepalived 2 || fail "keepalived starts on B" "$(tail -n 5 "$LAB_STATE/keepalived2.log")"
grep -q '^\s*unicast_peer' "$LAB_STATE/keepalived1.conf" && ! grep -q WARNING "$LAB_STATE"/keepalived?.conf &&
	[ ! -s "$LAB_STATE/keepalived1.conf.err" ]
check $? "droverctl ha keepalived-config: both configurations generated, no warning" \
	"$(cat "$LAB_STATE"/keepalived?.conf.err 2>/dev/null)"
lab_wait "$LAB_WAIT_S" pair_all_up 1 && lab_wait "$LAB_WAIT_S" pair_all_up 2
check $? "both appliances see every proxy up" "$(pair_ctl 2 proxy list | awk 'NR > 1 { printf "%s %s; ", $2, $6 }')"
lab_wait "$LAB_WAIT_S" b_follows
check $? "before traffic: B at A's generation, equal table digests; B's view: primary drover-a, agreeing" \
	"A: $(cluster_line 1); B: $(cluster_line 2)"
# Both checks pass (the pool settled): A, the higher priority, keeps the VIP.
lab_wait "$LAB_WAIT_S" pair_ctl 1 ha check && lab_wait "$LAB_WAIT_S" pair_ctl 2 ha check
sleep 3
state_b=$(pair_state 2)
out_a=$(pair_ctl 1 ha check)
rc_a=$?
out_b=$(pair_ctl 2 ha check)
rc_b=$?
[ "$state_b" = BACKUP ] && pair_holds 1 && ! pair_holds 2 && [ $rc_a -eq 0 ] && [ $rc_b -eq 0 ]
check $? "B starts as BACKUP and leaves the VIP to A; both pass droverctl ha check" \
	"B $state_b; A: $out_a; B: $out_b"
lab_wait "$LAB_WAIT_S" vrrp_is 1 MASTER && lab_wait "$LAB_WAIT_S" vrrp_is 2 BACKUP
check $? "droverctl cluster: A MASTER, B BACKUP (keepalived's notify hook told each droverd)" \
	"A: $(cluster_line 1); B: $(cluster_line 2)"
# keepalived says nothing while its state stays: B's droverd restarted
# (stopped, started) takes BACKUP from what the notify hook left beside its socket.
lab_kill "$(cat "$LAB_STATE/droverd2.pid")" droverd
pair_start_droverd 2 && vrrp_is 2 BACKUP
check $? "B's droverd restarted while its keepalived stays BACKUP: droverctl cluster says BACKUP at once" \
	"B: $(cluster_line 2); $(grep -h 'as keepalived' "$LAB_STATE/droverd2.log" | tail -n 1)"
lab_wait "$LAB_WAIT_S" b_follows && lab_wait "$LAB_WAIT_S" pair_ctl 2 ha check >/dev/null
check $? "B back: it follows A and passes its check" "B: $(cluster_line 2)"

# ---- (a) SIGKILL ----
phase kill "pair_kill9 1" "pair_start_droverd 1 && pair_start_keepalived 1"

# A change on A after its restart reaches B (a name: no client moves).
pair_ctl 1 proxy set 1 --name squid1-renamed >/dev/null
lab_wait "$LAB_WAIT_S" b_follows && [ "$(pair_ctl 2 --json proxy list | grep -c squid1-renamed)" -ge 1 ]
check $? "a change on the restarted primary reaches B" "A: $(cluster_line 1); B: $(cluster_line 2)"

# ---- (b) link cut ----
phase link "ip -n $(lab_ns app) link set lan0 down" "ip -n $(lab_ns app) link set lan0 up"

# ---- (c) droverd alone killed: its health check gives the VIP away ----
# keepalived stays; `droverctl ha check' fails, the priority drops to 1 and
# B (100) preempts. Then droverd is started again: once its check passes, A
# (150) preempts back.
out=$LAB_STATE/solo
mkdir -p "$out"
addrs=()
for ((i = DOWNLOADS; i < DOWNLOADS + LOOPERS; i++)); do
	addrs+=("$(lab_client_address "$i")")
done
ip netns exec "$(lab_ns cli)" python3 "$LOAD" --origin "$LAB_ORIGIN" --seconds 25 --timeout 30 \
	--pause 0.2 "${addrs[@]}" >"$out/load.out" 2>/dev/null &
loadpid=$!
sleep 2
t0=$(now_ms)
pair_kill9_droverd 1
move=$(wait_holder 2 "$t0" alone)
check "$([ "$move" -ge 0 ]; echo $?)" "droverd alone killed on the master: its check fails, B takes the VIP, A drops it" \
	"VIP on B alone ${move} ms after the kill (target 3 x advert + check interval + 1 s = $((3 * PAIR_ADVERT_MS + 2000)) ms)"
lab_wait "$LAB_WAIT_S" vrrp_is 2 MASTER
check $? "droverd alone killed: droverctl cluster on B: MASTER" "B: $(cluster_line 2)"
sleep 2
t0=$(now_ms)
pair_start_droverd 1
back=$(wait_holder 1 "$t0" alone)
check "$([ "$back" -ge 0 ]; echo $?)" "droverd started again: A takes the VIP back" "${back} ms after the start"
lab_wait "$LAB_WAIT_S" vrrp_is 1 MASTER && lab_wait "$LAB_WAIT_S" vrrp_is 2 BACKUP &&
	lab_wait "$LAB_WAIT_S" vrrp_by_hook 1 MASTER && lab_wait "$LAB_WAIT_S" b_follows
check $? "droverd started again: droverctl cluster: A MASTER, B BACKUP; B follows A" \
	"A: $(cluster_line 1); B: $(cluster_line 2)"
wait "$loadpid"
total=$(wc -l <"$out/load.out")
fails=$(grep -c ' fail:' "$out/load.out")
direct=$(grep -c ' direct$' "$out/load.out")
multi=$(squid_clients | awk '$2 > 1 { printf "%s ", $1 }')
[ "$total" -gt 0 ] && [ "$fails" -eq 0 ] && [ "$direct" -eq 0 ] && [ -z "$multi" ]
check $? "droverd alone: 0 requests failed or unproxied, every client still in one Squid's log" \
	"$total requests, $fails failed, $direct direct; in more than one log: ${multi:-none}"
echo "# figures droverd-only: failover ${move} ms, failback ${back} ms"

# ---- (d) both equally broken: the gateway stays ----
# Every proxy disabled on both: both checks fail ("no proxy is up"), both
# drop to priority 1, and equal priorities never preempt: A keeps the VIP
# (traffic goes where no_proxy_policy says) instead of neither holding it.
# Disabled on A, the primary: B takes it by replication.
for id in $(pair_ctl 1 --json proxy list | python3 -c 'import json,sys
print(" ".join(str(p["id"]) for p in json.load(sys.stdin)["proxies"]))'); do
	pair_ctl 1 proxy disable "$id" >/dev/null
done
for n in 1 2; do
	lab_wait "$LAB_WAIT_S" sh -c "! $DROVER_BUILD/droverctl --socket $(pair_socket "$n") ha check >/dev/null" 2>/dev/null
done
why_a=$(pair_ctl 1 ha check)
rc_a=$?
why_b=$(pair_ctl 2 ha check)
rc_b=$?
# Long enough for B to preempt if it were going to: a check, 3 adverts and the skew.
sleep $((4 * PAIR_ADVERT_MS / 1000 + 2))
pair_holds 1 && ! pair_holds 2 && [ $rc_a -ne 0 ] && [ $rc_b -ne 0 ]
check $? "every proxy gone on both: both checks fail, the VIP stays on A" \
	"A: $why_a (A holds: $(pair_holds 1 && echo yes || echo no)); B: $why_b (B holds: $(pair_holds 2 && echo yes || echo no)); A $(pair_state 1), B $(pair_state 2)"

exit $((failures > 0))
