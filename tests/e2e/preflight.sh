#!/bin/bash
# tests/e2e/preflight.sh - `droverctl preflight' on the appliance and
# `drover-proxy-setup.sh check' on a proxy: all ok on a lab built right, and
# each break reported with its fix and exit status 1, then ok again.
#
#   $LAB-cli 198.18.1.128..  --LAN-- $LAB-app 198.18.1.1 (droverd, preflight)
#                                      |  IPIP: an ICMP echo from 198.18.1.1 to the proxy
#                                      v
#                             $LAB-px1 198.18.1.11, $LAB-px2 198.18.1.12
#                             (drover-decap --from 198.18.1.1 --clients 198.18.1.128/25)
#
# The lab of tests/lab/lib.sh with two Squids; the client subnet is the
# upper half of the LAN, so the appliance's own address is no client and
# the probe's inner source must pass drover-decap and DROVER-TUNNEL as the
# appliance's echo, not as a client.
#   1. preflight: every check ok (the AWS one skipped: no metadata service),
#      exit 0, the same in --json; every proxy answers through the tunnel.
#      (droverd has turned ICMP redirects off on lan0, made before the
#      sysctl file was applied.)
#      Without CAP_NET_ADMIN and CAP_NET_RAW the rules and the probes are
#      skipped, each saying which capability it needs.
#   2. Forwarding off: reported with its sysctl, exit 1; back on: exit 0.
#   3. A rule taken out of the DROVER chain: reported with the command that
#      restores it; that command run: exit 0.
#      The same for the IPv6 chain once client_subnets holds an IPv6 prefix.
#      Interfaces made after droverd started: the fast path not attached
#      there, until fast_path is set false and true, as the report says.
#   4. px2's drover-decap stopped: "answered without the tunnel", exit 1;
#      the set-up script's check on px2 says decapsulation is not running;
#      `up' again: both ok.
#   5. px2 drops all ICMP: "no answer", exit 1 (told apart from 4).
#   6. The set-up script's check on px1: ok, then the DROVER-IPIP rule for
#      the appliance removed (reported, exit 1), then Squid stopped
#      (the intercept port reported).
#   7. On "EC2" (a metadata service and an aws command faked in the appliance's
#      namespace): the source/destination check enabled is reported with
#      the command that disables it; disabled: ok.
# Prints "ok - ..." / "not ok - ..." lines for tests/run.sh; the preflight
# output of step 1 as figures.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-dpf}
LAB_STATE=/tmp/drover-e2e-preflight.$$
LAB_CLIENTS=2
LAB_PROXIES=2
LAB_CLIENT_SUBNET=198.18.1.128/25
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"
# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

trap lab_down EXIT
trap 'exit 1' INT TERM

OUT=
RC=0
IMDS=169.254.169.254

# preflight [ARGS...]: runs droverctl preflight in the appliance; output in OUT, status in RC.
preflight() {
	OUT=$(lab_exec app env PATH="$LAB_STATE/bin:$PATH" "$DROVER_BUILD/droverctl" \
		--socket "$LAB_STATE/drover.sock" preflight "$@" 2>&1)
	RC=$?
}

# px_check I: the set-up script's check on proxy I; output in OUT, status in RC.
px_check() {
	local dir=$LAB_STATE/px$1
	OUT=$(lab_exec "px$1" bash "$dir/setup.sh" --decap-bin "$DROVER_BUILD/drover-decap" \
		--dev drover0 --pidfile "$dir/decap.pid" --decap-log "$dir/decap.log" check 2>&1)
	RC=$?
}

# px_up I: the set-up script's `up' again on proxy I.
px_up() {
	local dir=$LAB_STATE/px$1
	lab_exec "px$1" bash "$dir/setup.sh" --decap-bin "$DROVER_BUILD/drover-decap" \
		--dev drover0 --pidfile "$dir/decap.pid" --decap-log "$dir/decap.log" up >/dev/null
}

# line PATTERN: the first line of OUT that matches PATTERN (grep -E).
line() {
	grep -E -m1 -- "$1" <<<"$OUT"
}

# expect_fix WHAT PATTERN: OUT has a "fix" line matching PATTERN and RC is 1.
expect_fix() {
	local l
	l=$(grep -E -m1 -- "^fix +$2" <<<"$OUT")
	if [ -n "$l" ] && [ "$RC" -eq 1 ]; then
		pass "$1"
		echo "#   $l"
	else
		fail "$1" "exit $RC; $(tr '\n' '|' <<<"$OUT")"
	fi
}

# expect_clean WHAT: RC 0 and no "fix" line.
expect_clean() {
	if [ "$RC" -eq 0 ] && ! grep -q '^fix' <<<"$OUT"; then
		pass "$1"
	else
		fail "$1" "exit $RC; $(grep '^fix' <<<"$OUT" | tr '\n' '|')"
	fi
}

# --- world -----------------------------------------------------------------
if ! lab_up; then
	fail "lab world builds"
	exit 1
fi
redirects_before=$(lab_exec app sysctl -n net.ipv4.conf.lan0.send_redirects)
if ! lab_start_droverd; then
	fail "droverd starts" "$(tail -n 3 "$LAB_STATE/droverd.log" | tr '\n' ' ')"
	exit 1
fi
mkdir -p "$LAB_STATE/bin"

# --- 1. all ok --------------------------------------------------------------------
# lan0 was made before 99-drover.conf was applied, so it kept the kernel's
# send_redirects=1 ("default" reaches only devices made later, and the
# kernel ORs "all" with the device); droverd --manage-rules turned it off.
[ "$redirects_before" = 1 ] && [ "$(lab_exec app sysctl -n net.ipv4.conf.lan0.send_redirects)" = 0 ]
check $? "droverd --manage-rules turns ICMP redirects off on lan0 too" \
	"before droverd: $redirects_before"
started=$(date +%s%N)
preflight
took_ms=$((($(date +%s%N) - started) / 1000000))
expect_clean "preflight on a lab built right: nothing to fix, exit 0"
echo "$OUT" | sed 's/^/#   /'
echo "#   took ${took_ms} ms"
tunnels=$(grep -cE '^ok +proxy squid[12] tunnel +an echo in IPIP from 198\.18\.1\.1 was answered' <<<"$OUT")
[ "$tunnels" -eq 2 ]
check $? "both proxies answer the echo sent through the tunnel" "$tunnels of 2"
line '^skip +aws source/dest check +not on EC2' >/dev/null
check $? "the AWS check is skipped off EC2, and says so"
for want in 'forwarding ipv4' 'send_redirects lan0' 'rp_filter lan0' 'rules ipv4' 'jump ipv4' \
	'fast path' 'proxy squid1 route' 'proxy squid1 mtu'; do
	line "^ok +$want " >/dev/null || fail "preflight checks $want" "$(tr '\n' '|' <<<"$OUT")"
done
preflight --json
python3 -c 'import json, sys
d = json.loads(sys.argv[1])
assert d["ok"] is True and d["summary"]["fix"] == 0 and d["summary"]["ok"] >= 10
assert all(c["verdict"] in ("ok", "skip") for c in d["checks"])' "$OUT" && [ "$RC" -eq 0 ]
check $? "preflight --json: ok true, every check ok or skip"

# Without CAP_NET_ADMIN and CAP_NET_RAW (root all the same, so the socket serves
# it): the rules and the probes are skipped, and say why; nothing to fix.
OUT=$(lab_exec app capsh --drop=cap_net_admin,cap_net_raw -- -c \
	"$DROVER_BUILD/droverctl --socket $LAB_STATE/drover.sock preflight" 2>&1)
RC=$?
[ "$RC" -eq 0 ] && line '^skip +rules ipv4 +reading the firewall needs CAP_NET_ADMIN' >/dev/null &&
	[ "$(grep -cE '^skip +proxy squid[12] tunnel +the IPIP probe needs CAP_NET_RAW' <<<"$OUT")" -eq 2 ]
check $? "without CAP_NET_ADMIN and CAP_NET_RAW: rules and probes skipped with the reason, exit 0" \
	"$(grep -c '^skip' <<<"$OUT") skipped"

# --- 2. forwarding off -------------------------------------------------------------
lab_exec app sysctl -qw net.ipv4.ip_forward=0
preflight
expect_fix "forwarding off: reported with its fix, exit 1" \
	'forwarding ipv4 +net.ipv4.ip_forward is 0.*sysctl -w net.ipv4.ip_forward=1'
lab_exec app sysctl -qw net.ipv4.ip_forward=1
lab_exec app sysctl -qw net.ipv4.conf.lan0.send_redirects=1
preflight
expect_fix "ICMP redirects on for the clients' interface: reported, exit 1" \
	'send_redirects lan0 .*send_redirects=0'
lab_exec app sysctl -qw net.ipv4.conf.lan0.send_redirects=0
lab_exec app sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.lan0.rp_filter=0
preflight
expect_fix "rp_filter off: reported with the value it needs, exit 1" \
	"rp_filter lan0 +clients' side: 0 \\(off\\) on lan0.*rp_filter=1"
lab_exec app sysctl -qw net.ipv4.conf.all.rp_filter=1
preflight
expect_clean "forwarding, redirects and rp_filter restored: exit 0"

# --- 3. a rule out of the chain -----------------------------------------------------------
rule=$(lab_exec app iptables -S DROVER | grep -m1 -- '--dports')
# shellcheck disable=SC2086 # iptables' own words
lab_exec app iptables -D ${rule#-A }
preflight
expect_fix "a rule removed from the DROVER chain: reported, exit 1" \
	"rules ipv4 +1 of [0-9]+ rules missing from chain DROVER \\(first: \`-A DROVER -s 198.18.1.128/25 -p tcp -m multiport --dports"
fix_cmd=$(line '^fix +rules ipv4' | sed -n 's/.*; now: //p')
lab_exec app bash -c "PATH=$DROVER_BUILD:\$PATH; ${fix_cmd//droverctl/droverctl --socket $LAB_STATE/drover.sock}"
preflight
expect_clean "the fix it names puts the rule back: exit 0"
lab_exec app iptables -D FORWARD -j DROVER
lab_exec app iptables -A FORWARD -j ACCEPT
lab_exec app iptables -A FORWARD -j DROVER
preflight
expect_fix "the FORWARD jump not first: reported, exit 1" \
	"jump ipv4 +FORWARD's first rule is \`-A FORWARD -j ACCEPT'"
lab_exec app iptables -D FORWARD -j ACCEPT

# IPv6 clients: the IPv6 chain and forwarding are checked too.
lab_droverctl settings set client_subnets "$LAB_CLIENT_SUBNET,$LAB_CLIENT_RANGE6" >/dev/null
preflight
line '^ok +forwarding ipv6 ' >/dev/null && line '^ok +rules ipv6 ' >/dev/null &&
	line '^ok +jump ipv6 ' >/dev/null && [ "$RC" -eq 0 ]
check $? "IPv6 client subnets: IPv6 forwarding, chain and jump checked, exit 0" \
	"$(line '^ok +rules ipv6 ')"
rule=$(lab_exec app ip6tables -S DROVER | grep -m1 -- '--dports')
# shellcheck disable=SC2086 # ip6tables' own words
lab_exec app ip6tables -D ${rule#-A }
preflight
expect_fix "a rule removed from the IPv6 DROVER chain: reported, exit 1" \
	'rules ipv6 +1 of [0-9]+ rules missing from chain DROVER'
fix_cmd=$(line '^fix +rules ipv6' | sed -n 's/.*; now: //p')
lab_exec app bash -c "PATH=$DROVER_BUILD:\$PATH; ${fix_cmd//droverctl/droverctl --socket $LAB_STATE/drover.sock}"
preflight
expect_clean "the IPv6 fix it names puts the rule back: exit 0"
lab_droverctl settings set client_subnets "$LAB_CLIENT_SUBNET" >/dev/null

# An interface made after droverd started has no fast path until it is turned off and on.
lab_exec app ip link add late0 type veth peer name late1
preflight
expect_fix "interfaces added after droverd started: the fast path not on them, exit 1" \
	'fast path +not attached to late[01] late[01] '
lab_droverctl settings set fast_path false >/dev/null &&
	lab_droverctl settings set fast_path true >/dev/null
preflight
expect_clean "fast_path set false and true, as told: attached everywhere, exit 0"
lab_exec app ip link del late0

# --- 4. drover-decap stopped ------------------------------------------------------------
read -r decap_pid <"$LAB_STATE/px2/decap.pid"
lab_kill "$decap_pid" drover-decap
preflight
expect_fix "px2's drover-decap stopped: answered without the tunnel, exit 1" \
	'proxy squid2 tunnel +answered without the tunnel'
line '^ok +proxy squid1 tunnel' >/dev/null
check $? "px1 still answers through the tunnel"
px_check 2
expect_fix "the set-up script's check on px2: drover-decap not running, exit 1" \
	'decapsulation +drover-decap is not running'
px_up 2
px_check 2
expect_clean "px2 set up again: its check is clean"
preflight
expect_clean "px2 set up again: preflight exit 0"

# --- 5. no answer at all -------------------------------------------------------------
lab_exec px2 iptables -I INPUT -p icmp -j DROP
preflight --timeout-ms 500
expect_fix "px2 drops ICMP: no answer (told apart from no tunnel), exit 1" \
	'proxy squid2 tunnel +no answer within 500 ms'
lab_exec px2 iptables -D INPUT -p icmp -j DROP

# --- 6. the proxy side ---------------------------------------------------------------
px_check 1
expect_clean "the set-up script's check on px1: all ok, exit 0"
echo "$OUT" | sed 's/^/#   /'
lab_exec px1 iptables -D DROVER-IPIP -s "$LAB_APPLIANCE/32" -j RETURN
px_check 1
expect_fix "px1 without the IPIP rule for the appliance: reported, exit 1" \
	"ipip filter +missing \`DROVER-IPIP -s $LAB_APPLIANCE/32 -j RETURN'"
px_up 1
while read -r label pid comm; do
	[ "$label" = squid1 ] && lab_kill "$pid" "$comm"
done <"$LAB_STATE/pids"
px_check 1
expect_fix "px1 with Squid stopped: the intercept port reported, exit 1" \
	'squid :3129 +nothing listens on the intercept port 3129'

# --- 7. on EC2 --------------------------------------------------------------------------
cat >"$LAB_STATE/imds.py" <<'PY'
import http.server, sys

TOKEN = "lab-token"

class H(http.server.BaseHTTPRequestHandler):
    def answer(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def do_PUT(self):
        ok = self.path == "/latest/api/token" and \
            self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        self.answer(200 if ok else 400, TOKEN if ok else "")

    def do_GET(self):
        if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            return self.answer(401, "")
        values = {"/latest/meta-data/instance-id": "i-0123456789abcdef0",
                  "/latest/meta-data/placement/region": "eu-west-1"}
        self.answer(200 if self.path in values else 404, values.get(self.path, ""))

    def log_message(self, *args):
        pass

http.server.HTTPServer((sys.argv[1], 80), H).serve_forever()
PY
lab_exec app ip addr add "$IMDS/32" dev lo
ip netns exec "$(lab_ns app)" python3 "$LAB_STATE/imds.py" "$IMDS" </dev/null \
	>>"$LAB_STATE/imds.log" 2>&1 &
lab_record imds $! python3
lab_wait "$LAB_WAIT_S" lab_listening app 80
printf '#!/bin/sh\n[ "$*" = "ec2 describe-instance-attribute --region eu-west-1 --instance-id i-0123456789abcdef0 --attribute sourceDestCheck --query SourceDestCheck.Value --output text" ] || exit 2\ncat "%s"\n' \
	"$LAB_STATE/sdc" >"$LAB_STATE/bin/aws"
chmod +x "$LAB_STATE/bin/aws"
echo True >"$LAB_STATE/sdc"
preflight
expect_fix "on EC2 with the source/destination check on: reported with its fix" \
	'aws source/dest check +instance i-0123456789abcdef0: enabled.*--no-source-dest-check'
echo False >"$LAB_STATE/sdc"
preflight
line '^ok +aws source/dest check +instance i-0123456789abcdef0: disabled' >/dev/null
check $? "on EC2 with the source/destination check off: ok"

exit $((failures > 0))
