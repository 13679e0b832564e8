#!/bin/bash
# tests/e2e/https.sh - intercepted HTTPS, end to end, with real Squid (ssl-bump)
# and nginx serving TLS.
#
# The lab of tests/lab/lib.sh with LAB_HTTPS=1: 12 client addresses, 3 Squids
# behind drover-decap, the origin serving TLS on 198.18.64.10:443 for two
# names (a.drover.test, b.drover.test: one address, a self-signed certificate
# each, chosen by the client's SNI). droverd's generated set-up script
# prepares each Squid (https_port 3130 intercept ssl-bump, port 443
# REDIRECTed to it, access log with the SNI). Checks:
#   - splice (the default): every client fetches a page of one name and a
#     1 MB file of the other, verifying the origin's own certificate (Squid
#     does not touch the TLS session), bodies intact (sha256);
#   - each client address is served by exactly one Squid;
#   - that Squid logged each of the client's connections with its SNI;
#   - droverd's per-proxy hits equal the connections each Squid logged;
#   - bump (the set-up script again, --tls bump, one CA copied to every
#     proxy): a client that trusts the generated CA gets the file intact,
#     a client that trusts only the origin's certificate is refused, and
#     Squid logs the full URL;
#   - down removes the Squid lines and Squid closes its https_port;
#   - afterwards no namespace, process or file of the lab is left.
# Needs a Squid with ssl-bump (Debian's squid-openssl).
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-dht}
LAB_STATE=/tmp/drover-e2e-https.$$
LAB_CLIENTS=12
LAB_PROXIES=3
LAB_HTTPS=1
LAB_TLS=splice
HTTPS_PORT=3130
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"
# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

read -r NAME_A NAME_B <<<"$LAB_TLS_NAMES"

cleanup() {
	lab_down
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if ! squid -v 2>/dev/null | grep -q -- '--with-openssl'; then
	fail "Squid can ssl-bump" "$(command -v squid) is built without OpenSSL: install squid-openssl"
	exit 1
fi

started=$SECONDS
if ! lab_up; then
	fail "lab world builds" "see the # lab: lines above"
	exit 1
fi
pass "lab world builds ($LAB_CLIENTS client addresses, $LAB_PROXIES Squids, nginx with TLS for $NAME_A and $NAME_B)"

# 0. A Squid without ssl-bump (Debian's plain squid: GnuTLS) stops the set-up
# script before it changes anything, with the package to install. A stand-in
# answers `squid -v' as that build does.
mkdir -p "$LAB_STATE/plain-squid"
printf '#!/bin/sh\necho "Squid Cache: Version 5.7"\necho "configure options: --with-gnutls"\n' \
	>"$LAB_STATE/plain-squid/squid"
chmod 0755 "$LAB_STATE/plain-squid/squid"
msg=$(lab_exec cli env PATH="$LAB_STATE/plain-squid:$PATH" bash "$LAB_ROOT/proxy/drover-proxy-setup.sh" \
	--appliance "$LAB_APPLIANCE" --clients "$LAB_CLIENT_SUBNET" --tunnel-address "$LAB_TUNNEL_ADDRESS" \
	--mode decap --decap-bin "$DROVER_BUILD/drover-decap" --pidfile "$LAB_STATE/plain-squid/decap.pid" up 2>&1)
rc=$?
changed=$(lab_exec cli iptables-save 2>/dev/null | grep -c DROVER)
check "$([ $rc -eq 1 ] && [[ $msg == *"no ssl-bump support"*squid-openssl* ]] && [ "$changed" -eq 0 ]; echo $?)" \
	"a Squid without ssl-bump stops the set-up script before any change, naming squid-openssl" \
	"exit=$rc rules=$changed: $msg"

if ! lab_start_droverd; then
	fail "droverd starts and the set-up script prepares each Squid for HTTPS" \
		"$(tail -n 5 "$LAB_STATE/droverd.log" 2>/dev/null | tr '\n' ' ')"
	exit 1
fi

# 1. The generated script did its part on every proxy.
prepared=0
prep_fig=
for ((i = 1; i <= LAB_PROXIES; i++)); do
	conf=$LAB_STATE/px$i/squid.d/drover.conf
	redirect=$(lab_exec "px$i" iptables -t nat -S DROVER-INTERCEPT 2>/dev/null |
		grep -c -- "--dport 443 -j REDIRECT --to-ports $HTTPS_PORT")
	if grep -q "^https_port $HTTPS_PORT intercept ssl-bump " "$conf" 2>/dev/null &&
		grep -q '^ssl_bump splice all$' "$conf" && [ "$redirect" -ge 1 ] &&
		lab_listening "px$i" "$HTTPS_PORT"; then
		prepared=$((prepared + 1))
	fi
	prep_fig+="px$i: conf=$([ -e "$conf" ] && echo yes || echo no) redirect443=$redirect "
done
check $((prepared != LAB_PROXIES)) \
	"the set-up script makes every Squid listen on https_port $HTTPS_PORT (splice) and REDIRECTs 443 to it" \
	"${prep_fig% }"

# 2. Splice: a page of one name and 1 MB of the other, per client.
# https_get ADDR NAME PATH [CURL_ARGS...]: the body, over the appliance.
https_get() {
	local addr=$1 name=$2 path=$3
	shift 3
	lab_client_curl "$addr" "https://$name$path" --resolve "$name:443:$LAB_ORIGIN" "$@"
}

declare -A want_sum
want_sum[$NAME_A]=$(cat "$LAB_STATE/origin/$NAME_A.sha256")
want_sum[$NAME_B]=$(cat "$LAB_STATE/origin/$NAME_B.sha256")
requests=0
bad=0
first_bad=
t0=$SECONDS
k=0
for addr in $(lab_client_addresses); do
	[ $bad -ge 5 ] && break
	page=$NAME_A file=$NAME_B
	[ $((k % 2)) -eq 1 ] && page=$NAME_B file=$NAME_A
	k=$((k + 1))
	requests=$((requests + 2))
	body=$(https_get "$addr" "$page" / --cacert "$LAB_STATE/origin/tls-ca.pem" 2>&1)
	if [[ $body != *"$LAB_MARKER $page"* ]]; then
		bad=$((bad + 1))
		: "${first_bad:=$addr $page: ${body:0:160}}"
	fi
	sum=$(https_get "$addr" "$file" /mid.bin --cacert "$LAB_STATE/origin/tls-ca.pem" |
		sha256sum | cut -d' ' -f1)
	if [ "$sum" != "${want_sum[$file]}" ]; then
		bad=$((bad + 1))
		: "${first_bad:=$addr $file/mid.bin: sha256 ${sum:0:16}}"
	fi
done
check $((bad != 0 || requests != LAB_CLIENTS * 2)) \
	"splice: $((LAB_CLIENTS * 2)) HTTPS requests from $LAB_CLIENTS clients verify the origin's own certificate, bodies intact (page + 1 MB sha256)" \
	"made=$requests failed=$bad in $((SECONDS - t0)) s${first_bad:+ first: $first_bad}"

# 3. Which Squid served each client.
declare -A served_by
unserved=0
multi=0
for ((i = 1; i <= LAB_PROXIES; i++)); do
	for c in $(lab_squid_clients "$i"); do
		[ -n "${served_by[$c]:-}" ] && multi=$((multi + 1))
		served_by[$c]+="$i "
	done
done
spread=
for ((i = 1; i <= LAB_PROXIES; i++)); do
	spread+="squid$i=$(lab_squid_clients "$i" | grep -c .) "
done
for addr in $(lab_client_addresses); do
	[ -n "${served_by[$addr]:-}" ] || unserved=$((unserved + 1))
done
check $((unserved + multi != 0)) "each client address appears in exactly one Squid's access log" \
	"in none: $unserved, in several: $multi; clients per Squid: ${spread% }"

# 4. That Squid logged each connection as a splice with the SNI the client
# sent (format drover: the last field).
sni_bad=0
sni_fig=
sni_lines=0
for addr in $(lab_client_addresses); do
	i=${served_by[$addr]:-0}
	i=${i%% *}
	for name in $NAME_A $NAME_B; do
		n=$(awk -v c="$addr" -v s="$name" '$3 == c && $6 == "CONNECT" && $NF == s &&
			$4 ~ /^TCP_TUNNEL\// { n++ } END { print n + 0 }' \
			"$LAB_STATE/px$i/squid/access.log" 2>/dev/null)
		sni_lines=$((sni_lines + n))
		if [ "$n" != 1 ]; then
			sni_bad=$((sni_bad + 1))
			[ $sni_bad -le 3 ] && sni_fig+=" $addr/$name: $n lines on px$i"
		fi
	done
done
check $((sni_bad != 0 || sni_lines != requests)) \
	"each client's Squid logged each of its connections as TCP_TUNNEL with the SNI" \
	"SNI lines=$sni_lines of $requests connections${sni_fig:+;$sni_fig}; e.g. $(grep -h -m 1 "TCP_TUNNEL.* $NAME_A\$" "$LAB_STATE"/px*/squid/access.log 2>/dev/null | head -n 1 | tr -s ' ')"

# 5. droverd's hits per proxy = connections its Squid logged. Squid writes
# two lines per spliced connection: NONE_NONE/000 when it has peeked at the
# hello (step 1), TCP_TUNNEL when the tunnel closes; a connection is its
# TCP_TUNNEL line.
# squid_lines N CODE: proxy N's client lines whose result starts with CODE/.
squid_lines() {
	awk -v a="$LAB_APPLIANCE" -v code="$2" '$3 != a && index($4, code "/") == 1 { n++ }
		END { print n + 0 }' "$LAB_STATE/px$1/squid/access.log" 2>/dev/null
}
stats=$(lab_droverctl --json stats 2>/dev/null)
hits_bad=0
hits_fig=
logged_total=0
peeks_total=0
for ((i = 1; i <= LAB_PROXIES; i++)); do
	a=$(lab_proxy_address "$i")
	hits=$(jq -r --arg a "$a" '[.proxies[] | select(.address == $a) | .hits][0] // "none"' <<<"$stats" 2>/dev/null)
	logged=$(squid_lines "$i" TCP_TUNNEL)
	peeks=$(squid_lines "$i" NONE_NONE)
	hits_fig+="squid$i hits=${hits:-none} tunnels=$logged peeks=$peeks lines=$(lab_squid_requests "$i"); "
	[ "${hits:-none}" = "$logged" ] || hits_bad=1
	logged_total=$((logged_total + logged))
	peeks_total=$((peeks_total + peeks))
done
[ "$logged_total" -eq "$requests" ] || hits_bad=1
statuses=$(cat "$LAB_STATE"/px*/squid/access.log | awk '$4 ~ /^TCP_TUNNEL/ { print $4 }' |
	sort | uniq -c | awk '{ printf "%s%s=%s", sep, $2, $1; sep = " " }')
check "$hits_bad" "droverctl stats hits per proxy equal the connections (TCP_TUNNEL lines) each Squid logged" \
	"${hits_fig%; }; total tunnels=$logged_total peeks=$peeks_total of $requests connections; $statuses"

# 6. Bump: one CA for the pool (made on px1, copied to the others before
# their set-up runs, so a client trusts one CA wherever it lands), then the
# set-up script again on every proxy with --tls bump.
bump_ok=0
declare -A setup_pid
for ((i = 1; i <= LAB_PROXIES; i++)); do
	dir=$LAB_STATE/px$i
	if [ "$i" -gt 1 ]; then
		cp "$LAB_STATE/px1/tls/ca.pem" "$LAB_STATE/px1/tls/ca.crt" "$dir/tls/" &&
			chown proxy "$dir/tls/ca.pem" || bump_ok=1
	fi
	# The proxies one beside the other, as an operator's tool would run them.
	# shellcheck disable=SC2046 # words of our own
	lab_exec "px$i" bash "$dir/setup.sh" --decap-bin "$DROVER_BUILD/drover-decap" \
		--dev drover0 --pidfile "$dir/decap.pid" --decap-log "$dir/decap.log" \
		$(lab_proxy_tls_args "$i" bump) up >"$dir/setup-bump.out" 2>&1 &
	setup_pid[$i]=$!
done
for ((i = 1; i <= LAB_PROXIES; i++)); do
	dir=$LAB_STATE/px$i
	wait "${setup_pid[$i]}" || bump_ok=1
	grep -q '^ssl_bump bump all$' "$dir/squid.d/drover.conf" && [ -d "$dir/tls/ssl_db" ] &&
		lab_listening "px$i" "$HTTPS_PORT" || bump_ok=1
done
check "$bump_ok" "the set-up script switches every Squid to bump (certificate helper database made)" \
	"$(tail -n 2 "$LAB_STATE/px1/setup-bump.out" 2>/dev/null | tr '\n' ' ')"

# One client per proxy: trusts the generated CA, gets the file intact; and
# is refused when it trusts only the origin's certificate.
bump_bad=0
bump_fig=
for ((i = 1; i <= LAB_PROXIES; i++)); do
	addr=
	for c in "${!served_by[@]}"; do
		[ "${served_by[$c]}" = "$i " ] && addr=$c && break
	done
	[ -n "$addr" ] || continue
	sum=$(https_get "$addr" "$NAME_A" /mid.bin --cacert "$LAB_STATE/px1/tls/ca.crt" |
		sha256sum | cut -d' ' -f1)
	verify=$(https_get "$addr" "$NAME_B" / --cacert "$LAB_STATE/px1/tls/ca.crt" \
		-o /dev/null -w '%{ssl_verify_result}' 2>/dev/null)
	https_get "$addr" "$NAME_B" / --cacert "$LAB_STATE/origin/tls-ca.pem" -o /dev/null 2>/dev/null
	refused=$?
	url=$(awk -v c="$addr" -v u="https://$NAME_A/mid.bin" '$3 == c && $6 == "GET" && $7 == u &&
		$4 ~ /\/200$/ { n++ } END { print n + 0 }' "$LAB_STATE/px$i/squid/access.log")
	bump_fig+="px$i $addr: sha=${sum:0:8} verify=$verify origin-ca-only=curl$refused url-lines=$url; "
	if [ "$sum" != "${want_sum[$NAME_A]}" ] || [ "$verify" != 0 ] || [ "$refused" = 0 ] ||
		[ "$url" != 1 ]; then
		bump_bad=$((bump_bad + 1))
	fi
done
check $((bump_bad != 0 || ${#bump_fig} == 0)) \
	"bump: clients trusting the generated CA get 1 MB intact, Squid logs the full URL; the origin's certificate alone is refused" \
	"${bump_fig%; }"

# 7. down takes the Squid lines away and Squid closes its https_port.
dir=$LAB_STATE/px1
# shellcheck disable=SC2046
lab_exec px1 bash "$dir/setup.sh" --decap-bin "$DROVER_BUILD/drover-decap" \
	--dev drover0 --pidfile "$dir/decap.pid" --decap-log "$dir/decap.log" \
	$(lab_proxy_tls_args 1 bump) down >/dev/null 2>&1
lab_wait "$LAB_WAIT_S" eval '! lab_listening px1 '"$HTTPS_PORT"
closed=$?
check "$([ ! -e "$dir/squid.d/drover.conf" ] && [ $closed -eq 0 ] && [ -s "$dir/tls/ca.pem" ]; echo $?)" \
	"down removes the Squid lines, Squid closes its https_port, the CA stays" \
	"conf=$([ -e "$dir/squid.d/drover.conf" ] && echo left || echo gone) closed=$((closed == 0))"

echo "# https suite took $((SECONDS - started)) s"

# 8. Teardown leaves nothing behind.
recorded=$(awk '{ print $2 }' "$LAB_STATE/pids" 2>/dev/null)
for ((i = 1; i <= LAB_PROXIES; i++)); do
	recorded+=" $(cat "$LAB_STATE/px$i/decap.pid" 2>/dev/null)"
done
state=$LAB_STATE
lab_down
left_ns=$(ip netns list | cut -d' ' -f1 | grep -cE "^$LAB-(sw|cli|app|org|px[0-9]+)\$")
left_pids=0
for p in $recorded; do
	[ -e "/proc/$p" ] && left_pids=$((left_pids + 1))
done
check $((left_ns + left_pids != 0)) "teardown removes every namespace and process" \
	"namespaces=$left_ns processes=$left_pids state_dir=$([ -e "$state" ] && echo left || echo gone)"

[ "$failures" -eq 0 ]
