#!/bin/bash
# tests/e2e/ha_notify.sh - keepalived's notify hook (packaging/drover-ha-notify)
# against stand-in `aws' and `droverctl' commands, first in PATH, that record
# their arguments: no cloud, no network, no root needed.
#
#   1. backend aws-route, MASTER: one `droverctl cluster vrrp MASTER', and
#      exactly one replace-route per route table, 0.0.0.0/0 to the ENI, in
#      the region given.
#   2. BACKUP, FAULT, STOP: the state told to droverd, no aws call at all.
#   3. a failing aws call is retried, then given up with a non-zero exit;
#      the other table is still moved.
#   4. droverd down (droverctl fails): the routes still move, exit 0.
#   5. backend vip: droverctl only.
#   6. the instance of a peer zone's tables (--no-cluster-state): the routes
#      move, droverd is not told (that state is not this node's).
# Prints "ok - ..." / "not ok - ..." lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
hook=$here/../../packaging/drover-ha-notify
# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

dir=$(mktemp -d /tmp/drover-e2e-ha-notify.XXXXXX)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/bin"
# Stand-ins: each appends its arguments as one line; aws fails while
# $dir/aws-fail-TABLE holds a count above 0 (counting down).
cat >"$dir/bin/aws" <<STUB
#!/bin/bash
echo "aws \$*" >>"$dir/calls"
table=
for ((i = 1; i <= \$#; i++)); do
	[ "\${!i}" = --route-table-id ] && { j=\$((i + 1)); table=\${!j}; }
done
f="$dir/aws-fail-\$table"
if [ -r "\$f" ] && [ "\$(cat "\$f")" -gt 0 ]; then
	echo \$((\$(cat "\$f") - 1)) >"\$f"
	echo "An error occurred (RequestLimitExceeded)" >&2
	exit 255
fi
exit 0
STUB
cat >"$dir/bin/droverctl" <<STUB
#!/bin/bash
echo "droverctl \$*" >>"$dir/calls"
[ -e "$dir/droverd-down" ] && { echo "cannot reach droverd" >&2; exit 3; }
exit 0
STUB
chmod 755 "$dir/bin/aws" "$dir/bin/droverctl"

# run STATE [OPTIONS...]: the hook as keepalived calls it; its calls, sorted, in $dir/got.
run() {
	local state=$1
	shift
	rm -f "$dir/calls"
	PATH="$dir/bin:$PATH" bash "$hook" --socket "$dir/drover.sock" --log "$dir/hook.log" \
		"$@" INSTANCE drover "$state" 100 2>>"$dir/hook.err"
	rc=$?
	sort "$dir/calls" 2>/dev/null >"$dir/got"
}

# shellcheck disable=SC2054 # the comma belongs to the route table list
aws_opts=(--backend aws-route --route-tables rtb-0aaa,rtb-0bbb --eni eni-0123 --region eu-west-1)

# ---- 1. MASTER ----
run MASTER "${aws_opts[@]}"
cat >"$dir/want" <<EOF2
aws ec2 replace-route --route-table-id rtb-0aaa --destination-cidr-block 0.0.0.0/0 --network-interface-id eni-0123 --region eu-west-1
aws ec2 replace-route --route-table-id rtb-0bbb --destination-cidr-block 0.0.0.0/0 --network-interface-id eni-0123 --region eu-west-1
droverctl --socket $dir/drover.sock cluster vrrp MASTER
EOF2
diff -u "$dir/want" "$dir/got" >"$dir/diff"
check $(( $? + rc )) "aws-route MASTER: droverd told, one replace-route per table to the ENI" \
	"exit $rc; $(tr '\n' ' ' <"$dir/diff")"

# ---- 2. BACKUP, FAULT, STOP ----
for state in BACKUP FAULT STOP; do
	run "$state" "${aws_opts[@]}"
	echo "droverctl --socket $dir/drover.sock cluster vrrp $state" >"$dir/want"
	diff -u "$dir/want" "$dir/got" >"$dir/diff"
	check $(( $? + rc )) "aws-route $state: droverd told, no aws call" \
		"exit $rc; $(tr '\n' ' ' <"$dir/diff")"
	[ "$(cat "$dir/drover.sock.vrrp-state")" = "$state" ]
	check $? "$state left in the socket's .vrrp-state file" "$(cat "$dir/drover.sock.vrrp-state")"
done

# ---- 3. retries ----
echo 2 >"$dir/aws-fail-rtb-0aaa"
echo 9 >"$dir/aws-fail-rtb-0bbb"
run MASTER "${aws_opts[@]}" --retries 3
a=$(grep -c 'route-table-id rtb-0aaa' "$dir/got")
b=$(grep -c 'route-table-id rtb-0bbb' "$dir/got")
[ "$rc" -ne 0 ] && [ "$a" -eq 3 ] && [ "$b" -eq 3 ] &&
	grep -q 'rtb-0aaa: 0.0.0.0/0 -> eni-0123 (try 3)' "$dir/hook.log" &&
	grep -q 'rtb-0bbb: replace-route failed 3 times' "$dir/hook.log"
check $? "a failing replace-route is retried, the other table still moves, exit non-zero" \
	"exit $rc; rtb-0aaa $a calls, rtb-0bbb $b calls"
rm -f "$dir"/aws-fail-*

# ---- 4. droverd down ----
touch "$dir/droverd-down"
run MASTER "${aws_opts[@]}"
[ "$rc" -eq 0 ] && [ "$(grep -c '^aws ' "$dir/got")" -eq 2 ] &&
	grep -q 'droverd did not take the state' "$dir/hook.log" &&
	[ "$(cat "$dir/drover.sock.vrrp-state")" = MASTER ]
check $? "droverd down: the routes still move, the state is left for its start, exit 0" "exit $rc"
rm -f "$dir/droverd-down"

# ---- 5. vip ----
run MASTER
echo "droverctl --socket $dir/drover.sock cluster vrrp MASTER" >"$dir/want"
diff -u "$dir/want" "$dir/got" >"$dir/diff"
check $(( $? + rc )) "backend vip MASTER: droverd told, nothing else" "exit $rc"

# ---- 6. the peer zone's instance ----
echo BACKUP >"$dir/drover.sock.vrrp-state"
run MASTER --backend aws-route --no-cluster-state --route-tables rtb-0ccc --eni eni-0123
echo "aws ec2 replace-route --route-table-id rtb-0ccc --destination-cidr-block 0.0.0.0/0 --network-interface-id eni-0123" >"$dir/want"
diff -u "$dir/want" "$dir/got" >"$dir/diff"
[ "$(cat "$dir/drover.sock.vrrp-state")" = BACKUP ]
check $(( $? + rc )) "peer zone's instance (--no-cluster-state) MASTER: its tables move, droverd not told, the state file untouched" \
	"exit $rc; $(tr '\n' ' ' <"$dir/diff")"

# ---- usage ----
run MASTER --backend aws-route --eni eni-0123
[ "$rc" -eq 2 ] && [ ! -s "$dir/got" ]
check $? "aws-route without route tables: refused, nothing called" "exit $rc"

exit $((failures > 0))
