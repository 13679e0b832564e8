#!/bin/bash
# tests/e2e/privilege.sh - droverd --user: least privilege, checked from outside.
#
# droverd is started as root with --user drover --manage-rules in a bare
# network namespace, and must then run as drover with CAP_NET_ADMIN and
# CAP_NET_RAW and CAP_BPF only (every thread; bounding and ambient sets too;
# no_new_privs), still bind its queues, install and re-install its iptables
# chain (iptables-restore children inherit the three capabilities), write a
# backup; its socket, database and password file must be 0600 in 0750
# directories owned by drover. A state directory owned by someone else is
# refused. The user drover is created (and removed afterwards) when missing.
# Prints "ok - ..." / "not ok - ..." lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${DROVER_BUILD:-$root/build}
NS=fxp$$
STATE=$(mktemp -d /tmp/drover-e2e-privilege.XXXXXX)
chmod 0755 "$STATE"
USER_NAME=drover
MADE_USER=0
DPID=
# How long droverd may take to answer before the checks run: generous, the
# wait ends as soon as it answers.
START_WAIT_S=120

# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

cleanup() {
	[ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$STATE"
	[ $MADE_USER = 1 ] && userdel "$USER_NAME" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if ! id "$USER_NAME" >/dev/null 2>&1; then
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
		"$USER_NAME" && MADE_USER=1
fi
uid=$(id -u "$USER_NAME")
ip netns add "$NS" && ip -n "$NS" link set lo up
ctl() { ip netns exec "$NS" "$BUILD/droverctl" --socket "$STATE/run/drover.sock" "$@"; }

ip netns exec "$NS" "$BUILD/droverd" --user "$USER_NAME" --manage-rules --db "$STATE/lib/drover.db" \
	--socket "$STATE/run/drover.sock" </dev/null >"$STATE/droverd.log" 2>&1 &
DPID=$!
for ((t = 0; t < START_WAIT_S * 20; t++)); do
	ctl settings get ports >/dev/null 2>&1 && break
	kill -0 "$DPID" 2>/dev/null || break
	sleep 0.05
done

# Every thread: uids, gids, capability sets.
bad_threads=0
threads=0
for t in /proc/$DPID/task/*; do
	threads=$((threads + 1))
	st=$(cat "$t/status")
	grep -qE "^Uid:\s+$uid\s+$uid\s+$uid\s+$uid$" <<<"$st" &&
		grep -qE '^CapEff:\s+0000008000003000$' <<<"$st" &&
		grep -qE '^CapPrm:\s+0000008000003000$' <<<"$st" &&
		grep -qE '^CapBnd:\s+0000008000003000$' <<<"$st" &&
		grep -qE '^CapAmb:\s+0000008000003000$' <<<"$st" &&
		grep -qE '^NoNewPrivs:\s+1$' <<<"$st" || bad_threads=$((bad_threads + 1))
done
check "$( [ $threads -ge 2 ] && [ $bad_threads -eq 0 ]; echo $?)" \
	"droverd --user runs as $USER_NAME with only CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF, in every thread" \
	"$threads threads; $(grep -E '^(Uid|Groups|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/$DPID/status | tr -s '\t' ' ' | tr '\n' ';')"

queues=$(ip netns exec "$NS" cat /proc/net/netfilter/nfnetlink_queue 2>/dev/null | wc -l)
chain1=$(ip netns exec "$NS" iptables -S DROVER 2>/dev/null | grep -c NFQUEUE)
ctl settings set ports 80,443,8080 >/dev/null
chain2=$(ip netns exec "$NS" iptables -S DROVER 2>/dev/null | grep -c '80,443,8080')
ctl backup "$STATE/lib/backup.db" >/dev/null
check "$( [ "$queues" -ge 1 ] && [ "$chain1" -ge 1 ] && [ "$chain2" -ge 1 ] && [ -s "$STATE/lib/backup.db" ]; echo $?)" \
	"unprivileged droverd binds its queues, installs and re-installs its rules, writes a backup" \
	"queues bound=$queues; NFQUEUE rules=$chain1; after a ports change, rules with 80,443,8080=$chain2"

# The fast path is loaded by the unprivileged process (CAP_BPF), not before the drop.
fast=$(ctl --json stats | python3 -c 'import json, sys; print(json.load(sys.stdin)["global"]["fast_path"])')
check "$( [ "$fast" = on ]; echo $?)" "unprivileged droverd loads its fast path (CAP_BPF)" "fast_path: $fast"

modes=
bad=0
for spec in "lib 750" "run 750" "lib/drover.db 600" "lib/drover.db-wal 600" "lib/initial-admin-password 600" \
	"run/drover.sock 600" "lib/backup.db 600"; do
	read -r f want <<<"$spec"
	got=$(stat -c '%a %U' "$STATE/$f" 2>/dev/null)
	modes+="$f=$got "
	[ "$got" = "$want $USER_NAME" ] || bad=$((bad + 1))
done
check "$( [ $bad -eq 0 ]; echo $?)" "socket, database, password file and backup are 0600, directories 0750, all owned by $USER_NAME" "$modes"

kill -TERM "$DPID"
wait "$DPID" 2>/dev/null
DPID=
left=$(ip netns exec "$NS" iptables -S 2>/dev/null | grep -c DROVER)
check "$( [ "$left" -eq 0 ]; echo $?)" "unprivileged droverd removes its rules at stop" "DROVER lines left: $left"

mkdir -p "$STATE/foreign"
out=$(ip netns exec "$NS" "$BUILD/droverd" --user "$USER_NAME" --db "$STATE/foreign/drover.db" \
	--socket "$STATE/run/drover.sock" 2>&1 </dev/null)
rc=$?
check "$( [ $rc -ne 0 ] && [[ $out == *"belongs to uid 0"* ]] && [ ! -e "$STATE/foreign/drover.db" ]; echo $?)" \
	"a state directory owned by another user is refused, untouched" "exit $rc: ${out#*: }"
