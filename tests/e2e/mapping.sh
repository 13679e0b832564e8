#!/bin/bash
# tests/e2e/mapping.sh - two appliances map every client the same way, and
# one takes over a download the other was carrying, mid-flow.
#
#                     client LAN 198.18.1.0/24 (br0)
#   +-------------+--------------+--------------+-------------+
#   $LAB-cli      $LAB-app       $LAB-app2      $LAB-px1..3
#   default via   198.18.1.1     198.18.1.2     Squid, drover-decap
#   .1, then .2   droverd A      droverd B      (accepts IPIP from .1 and .2)
#                 wan0 -> nginx  no WAN side
#
#   1. B starts on an empty database (its own hash key): its table digest
#      differs from A's. A's backup restored into B: equal table digests
#      and hash key fingerprints, three proxies in each table.
#   2. 10,000 client addresses looked up on both (one call each): the same
#      proxy for every one.
#   3. A client downloads 4 MB, rate-limited, through A (kernel fast path);
#      halfway its default route is switched to B, which has never seen the
#      connection, with conntrack's loose pick-up off and an INVALID drop
#      behind drover's rules: the download completes sha256-intact, Squid
#      logged one request for it, on the proxy both appliances name, and B
#      wrapped the rest of it.
# Prints "ok - ..." / "not ok - ... (figures)" lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-dmp}
LAB_STATE=/tmp/drover-e2e-mapping.$$
LAB_CLIENTS=2
LAB_PROXIES=3
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"
# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

LOOKUP_FIRST=198.18.100.0
LOOKUP_COUNT=10000
# 4 MB, sent at 1 MB/s by the origin and read at 300 kB/s: about 14 s, time
# enough to switch the route in the middle.
RATE=300k
SWITCH_AT_BYTES=$((1 << 20))

trap lab_down EXIT
trap 'exit 1' INT TERM

# mapping CTL FIELD: one field of the stats reply's mapping object, from lab_droverctl or lab_droverctl2.
mapping() {
	"$1" --json stats | python3 -c "import json,sys; print(json.load(sys.stdin)['mapping']['$2'])"
}

# global CTL NAME: one global counter.
global() {
	"$1" --json stats | python3 -c "import json,sys; print(json.load(sys.stdin)['global']['$2'])"
}

# proxy_packets CTL ADDRESS: packets the appliance wrapped to that proxy.
proxy_packets() {
	"$1" --json stats | python3 -c "import json,sys
print(sum(p.get('packets', 0) for p in json.load(sys.stdin)['proxies'] if p['address'] == '$2'))"
}

# received FILE BYTES: FILE holds at least BYTES.
received() {
	[ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2" ]
}

if ! lab_up || ! lab_start_droverd || ! lab_up_appliance2 || ! lab_start_droverd2; then
	fail "lab setup" "$(tail -n 5 "$LAB_STATE/droverd.log" "$LAB_STATE/droverd2.log" 2>/dev/null)"
	exit 1
fi
lab_proxies_accept "$LAB_APPLIANCE" "$LAB_APPLIANCE2" || {
	fail "proxies accept both appliances"
	exit 1
}

# ---- 1. digests ----
digest_a=$(mapping lab_droverctl table_digest)
digest_b_own=$(mapping lab_droverctl2 table_digest)
key_b_own=$(mapping lab_droverctl2 hash_key_id)
backup=$LAB_STATE/a.backup
lab_droverctl backup "$backup" >/dev/null &&
	lab_droverctl2 restore "$backup" >"$LAB_STATE/restore.out"
check $? "A's backup restored into B" "$(tr '\n' ' ' <"$LAB_STATE/restore.out")"
# The restored hash key takes effect at B's next start (it would move every
# client at once): until then B's stats show its own key's fingerprint.
key_b_restored=$(mapping lab_droverctl2 hash_key_id)
[ "$key_b_restored" = "$key_b_own" ]
check $? "until B restarts, its stats show the key it still uses" "$key_b_restored"
lab_kill "$(cat "$LAB_STATE/droverd2.pid")" droverd
rm -f "$LAB_STATE/drover2.sock"
lab_start_droverd2 || fail "B restarts"
lab_wait "$LAB_WAIT_S" lab_all_up2 || fail "B sees every proxy up" "$(lab_droverctl2 proxy list)"
digest_a=$(mapping lab_droverctl table_digest)
digest_b=$(mapping lab_droverctl2 table_digest)
key_a=$(mapping lab_droverctl hash_key_id)
key_b=$(mapping lab_droverctl2 hash_key_id)
proxies_a=$(mapping lab_droverctl table_proxies)
proxies_b=$(mapping lab_droverctl2 table_proxies)
[ "$digest_b_own" != "$digest_a" ] && [ "$key_b_own" != "$key_a" ]
check $? "before the restore, B's own hash key gives another table" \
	"A $digest_a key $key_a; B $digest_b_own key $key_b_own"
[ -n "$digest_a" ] && [ "$digest_a" = "$digest_b" ] && [ "$key_a" = "$key_b" ] &&
	[ "$proxies_a" = 3 ] && [ "$proxies_b" = 3 ]
check $? "after the restore, equal table digests and hash key fingerprints" \
	"A $digest_a key $key_a proxies $proxies_a; B $digest_b key $key_b proxies $proxies_b"

# ---- 2. 10,000 lookups ----
t0=$(date +%s.%N)
lab_droverctl lookup "$LOOKUP_FIRST" --count "$LOOKUP_COUNT" | cut -d' ' -f1,2 >"$LAB_STATE/lookup.a"
lab_droverctl2 lookup "$LOOKUP_FIRST" --count "$LOOKUP_COUNT" | cut -d' ' -f1,2 >"$LAB_STATE/lookup.b"
t1=$(date +%s.%N)
lines=$(wc -l <"$LAB_STATE/lookup.a")
spread=$(cut -d' ' -f2 "$LAB_STATE/lookup.a" | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
differ=$(diff "$LAB_STATE/lookup.a" "$LAB_STATE/lookup.b" | grep -c '^<')
[ "$lines" -eq "$LOOKUP_COUNT" ] && [ "$differ" -eq 0 ] &&
	[ "$(cut -d' ' -f2 "$LAB_STATE/lookup.a" | sort -u | grep -vc -- '-')" -eq 3 ]
check $? "$LOOKUP_COUNT clients looked up identically on both appliances" \
	"$lines looked up, $differ differ; spread $spread; both lookups took $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s"

# ---- 3. mid-flow takeover ----
# B without conntrack's loose pick-up, and with the usual INVALID drop after
# drover's jump: a connection B never saw must still reach its proxy.
lab_exec app2 iptables -w -A FORWARD -m conntrack --ctstate INVALID -j DROP &&
	lab_exec app2 sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0
check $? "B: nf_conntrack_tcp_loose=0 and INVALID dropped behind drover's rules"

client=$(lab_client_address 1)
proxy=$(awk -v c="$client" '$1 == c { print $2 }' <(lab_droverctl2 lookup "$client" --count 1))
proxy_a=$(lab_droverctl lookup "$client" --count 1 | cut -d' ' -f2)
out=$LAB_STATE/download.bin
before_b=$(proxy_packets lab_droverctl2 "$proxy")
lab_client_curl "$client" "http://$LAB_ORIGIN/slow/big.bin" --limit-rate "$RATE" --max-time 120 \
	-o "$out" 2>"$LAB_STATE/curl.err" &
curl_pid=$!
lab_wait "$LAB_WAIT_S" received "$out" "$SWITCH_AT_BYTES"
at=$(stat -c %s "$out" 2>/dev/null || echo 0)
ip -n "$(lab_ns cli)" route replace default via "$LAB_APPLIANCE2"
wait "$curl_pid"
rc=$?
after_b=$(proxy_packets lab_droverctl2 "$proxy")
got=$(sha256sum <"$out" | cut -d' ' -f1)
want=$(cat "$LAB_STATE/origin/big.sha256")
requests=0
where=""
for ((i = 1; i <= LAB_PROXIES; i++)); do
	n=$(awk -v c="$client" '$3 == c && $7 ~ /big\.bin$/ { n++ } END { print n + 0 }' \
		"$LAB_STATE/px$i/squid/access.log")
	requests=$((requests + n))
	[ "$n" -gt 0 ] && where="$where $(lab_proxy_address "$i")"
done
[ "$rc" -eq 0 ] && [ "$got" = "$want" ]
check $? "download taken over mid-flow by B completes intact" \
	"curl exit $rc, switched at $at bytes, sha256 ${got:0:16}.. want ${want:0:16}.."
[ "$requests" -eq 1 ] && [ "$where" = " $proxy" ] && [ "$proxy" = "$proxy_a" ]
check $? "one request, on the proxy both appliances name" \
	"Squid logged $requests request(s) at$where; A names $proxy_a, B names $proxy"
[ "$((after_b - before_b))" -gt 0 ]
check $? "B wrapped the rest of the download to that proxy" \
	"B's packets to $proxy: $before_b before, $after_b after"

ip -n "$(lab_ns cli)" route replace default via "$LAB_APPLIANCE"
exit $((failures > 0))
