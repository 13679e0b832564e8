#!/bin/bash
# Install test for the Debian package: build drover_<version>_<arch>.deb,
# install it into a clean Debian root made by debootstrap, and check it there.
#
#   host                          clean root (chroot, minbase + apt)
#   ----                          ----------------------------------
#   make deb  ──── .deb ───────▶  apt-get install ./drover_*.deb
#                                 files, user, /var/lib/drover, conffiles
#   netns "drover-pkg-N" ───────▶ droverd $DROVER_OPTS as user drover with
#   (empty, made here)            CAP_NET_ADMIN+CAP_NET_RAW+CAP_BPF, like the unit
#                                 droverctl over /run/drover/drover.sock
#   systemd-nspawn -b ──────────▶ drover.service under systemd itself:
#   (--private-network)           READY, user, capabilities, watchdog, stop
#                                 reinstall keeps the db, purge removes it
#
# The root comes from tests/lab/pkgroot.sh: the debootstrap download is
# cached as a tarball in $DROVER_TEST_CACHE (default /var/cache/drover-test),
# and the .debs apt fetches into the root in a directory beside it, so reruns
# need the network only for `apt-get update`. Measured here: first run about 15 s of download plus 10 s
# of unpacking; later runs about 10 s for the root, about 35 s in all.
#
# Names of users are looked up inside the root (stat runs there): its uids
# need not match this host's.
#
# Prints "ok - ..." / "not ok - ..." lines. Needs root.
#   DROVER_DEB=path   test this package instead of building one
set -eu

# Every mount this test makes lives in a private mount namespace and vanishes
# with it, whatever happens.
if [ -z "${DROVER_PKG_TEST_NS:-}" ]; then
	export DROVER_PKG_TEST_NS=1
	exec unshare --mount --propagation private -- bash "$0" "$@"
fi

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
started=$(date +%s)
failures=0

# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"
# shellcheck source=../lab/pkgroot.sh
. "$here/../lab/pkgroot.sh"
bail() {
	echo "not ok - $*"
	exit 1
}

[ "$(id -u)" -eq 0 ] || bail "package install test needs root"
for tool in debootstrap dpkg-buildpackage ip unshare; do
	command -v "$tool" >/dev/null 2>&1 || bail "$tool not found (run packaging/deps.sh)"
done

work=$(mktemp -d /tmp/drover-pkg.XXXXXX)
root=$work/root
netns=drover-pkg-$$
daemon_pid=

cleanup() {
	set +e
	if [ -n "$daemon_pid" ]; then
		kill -KILL "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
	ip netns del "$netns" 2>/dev/null
	mountpoint -q "$work/bpffs" 2>/dev/null && umount -l "$work/bpffs"
	# Never delete through a mount that is still there (the apt cache).
	if pkgroot_unmount "$root"; then
		rm -rf "$work"
	else
		echo "# $work left in place: $root/var/cache/apt/archives is still mounted" >&2
	fi
}
trap cleanup EXIT

in_root() { chroot "$root" "$@"; }

# --- the package -----------------------------------------------------------
version=$(cat "$repo/VERSION")
if [ -n "${DROVER_DEB:-}" ]; then
	deb=$DROVER_DEB
else
	t0=$(date +%s)
	if make -C "$repo" --no-print-directory deb >"$work/build.log" 2>&1; then
		pass "make deb builds the package ($(($(date +%s) - t0)) s)"
	else
		tail -30 "$work/build.log"
		bail "make deb failed (log above)"
	fi
	deb=$(ls "$repo"/build/deb/drover_"$version"_*.deb)
fi
[ -f "$deb" ] || bail "no package at $deb"
case $(basename "$deb") in
drover_"$version"_"$(dpkg --print-architecture)".deb) pass "package is named $(basename "$deb")" ;;
*) fail "package name $(basename "$deb") is not drover_${version}_$(dpkg --print-architecture).deb" ;;
esac

# --- a clean root ----------------------------------------------------------
t0=$(date +%s)
pkgroot_make "$root" "$work" || bail "could not make a clean root (log above)"
pass "clean $(. /etc/os-release && echo "$VERSION_CODENAME") root from $(pkgroot_mirror) ($(($(date +%s) - t0)) s)"
cp "$deb" "$root/tmp/"
pkgfile=/tmp/$(basename "$deb")

export DEBIAN_FRONTEND=noninteractive LC_ALL=C
apt_get() { pkgroot_apt "$root" "$@"; }

t0=$(date +%s)
# systemd (for systemd-analyze and tmpfiles) and man-db come first, as on
# any installed Debian system; then the package pulls its own dependencies.
if apt_get update >"$work/apt.log" 2>&1 &&
	apt_get install systemd man-db >>"$work/apt.log" 2>&1 &&
	apt_get install "$pkgfile" >>"$work/apt.log" 2>&1; then
	pass "apt-get install ./$(basename "$deb") with its dependencies ($(($(date +%s) - t0)) s)"
else
	tail -30 "$work/apt.log"
	bail "apt-get install failed"
fi

# --- what the package put in place -----------------------------------------
for f in /usr/sbin/droverd /usr/bin/droverctl /usr/sbin/drover-decap; do
	check_cmd "$f installed, executable" test -x "$root$f"
done
for f in /lib/systemd/system/drover.service /usr/lib/tmpfiles.d/drover.conf \
	/etc/default/drover /etc/sysctl.d/99-drover.conf \
	/usr/share/man/man8/droverd.8.gz /usr/share/man/man8/droverctl.8.gz \
	/usr/share/drover/proxy/drover-proxy-setup.sh /usr/lib/drover/drover-ha-notify \
	/usr/share/man/man8/drover-ha-notify.8.gz; do
	check_cmd "$f installed" test -f "$root$f"
done
conffiles=$(in_root dpkg-query -W -f='${Conffiles}' drover)
for f in /etc/default/drover /etc/sysctl.d/99-drover.conf; do
	check_cmd "$f is a conffile" grep -q "^ $f " <<<"$conffiles"
done

user=$(in_root getent passwd drover || true)
check_cmd "system user drover exists" test -n "$user"
uid=$(cut -d: -f3 <<<"$user")
check_cmd "drover is a system user (uid ${uid:-none} < 1000) without a login shell" \
	test "${uid:-1000}" -lt 1000 -a "$(cut -d: -f7 <<<"$user")" = /usr/sbin/nologin
check_cmd "/var/lib/drover is drover:drover 0750" \
	test "$(in_root stat -c '%U:%G %a' /var/lib/drover)" = "drover:drover 750"
check_cmd "/run/xtables.lock made by tmpfiles.d is root:drover 0640" \
	test "$(in_root stat -c '%U:%G %a' /run/xtables.lock 2>/dev/null)" = "root:drover 640"

out=$(in_root droverd --version 2>&1 || true)
check_cmd "droverd --version prints 'droverd $version' (got '$out')" test "$out" = "droverd $version"
check_cmd "man droverd and man droverctl render" \
	sh -c "chroot '$root' man -P cat droverd >/dev/null 2>&1 && chroot '$root' man -P cat droverctl >/dev/null 2>&1"
verify_rc=0
in_root systemd-analyze verify drover.service >"$work/verify.log" 2>&1 || verify_rc=$?
sed 's/^/# systemd-analyze: /' "$work/verify.log"
check_cmd "systemd-analyze verify drover.service" test "$verify_rc" -eq 0 -a ! -s "$work/verify.log"

# --- droverd on the packaged defaults, the way the unit runs it ------------
# As in drover.service: user drover, only CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF,
# options from /etc/default/drover, the runtime directory made for it.
ip netns add "$netns"
ip -n "$netns" link set lo up
install -d -o "$uid" -g "$(in_root getent group drover | cut -d: -f3)" -m 0750 "$root/run/drover"
caps=-all,+net_admin,+net_raw,+bpf
ip netns exec "$netns" chroot "$root" setpriv --reuid drover --regid drover --init-groups \
	--inh-caps "$caps" --ambient-caps "$caps" --bounding-set "$caps" --no-new-privs \
	/bin/sh -c '. /etc/default/drover && exec /usr/sbin/droverd $DROVER_OPTS' \
	>"$work/droverd.log" 2>&1 &
daemon_pid=$!

# Generous: the wait ends as soon as the socket is there.
for _ in $(seq 600); do
	[ -S "$root/run/drover/drover.sock" ] && break
	kill -0 "$daemon_pid" 2>/dev/null || break
	sleep 0.2
done
if [ -S "$root/run/drover/drover.sock" ]; then
	pass "droverd starts as drover on the packaged defaults and makes /run/drover/drover.sock"
else
	sed 's/^/# /' "$work/droverd.log"
	bail "droverd did not start"
fi
check_cmd "the database was created at /var/lib/drover/drover.db, owned by drover" \
	test "$(in_root stat -c %U /var/lib/drover/drover.db 2>/dev/null)" = drover
check_cmd "control socket is 0600" test "$(stat -c %a "$root/run/drover/drover.sock")" = 600
check_cmd "droverctl proxy list works" sh -c "chroot '$root' droverctl proxy list >/dev/null"
check_cmd "droverctl proxy add stores a proxy" \
	sh -c "chroot '$root' droverctl proxy add 198.18.0.10 --name pkg-test >/dev/null"
check_cmd "the proxy is listed" sh -c "chroot '$root' droverctl proxy list | grep -q pkg-test"
check_cmd "--manage-rules installed the DROVER chain in the namespace" \
	sh -c "ip netns exec '$netns' chroot '$root' iptables -S FORWARD | grep -q -- '-j DROVER'"

kill -TERM "$daemon_pid"
rc=0
wait "$daemon_pid" || rc=$?
daemon_pid=
check_cmd "droverd stops cleanly on SIGTERM (status $rc)" test "$rc" -eq 0
check_cmd "the chain is gone after stop" \
	sh -c "! ip netns exec '$netns' chroot '$root' iptables -S 2>/dev/null | grep -q DROVER"
ip netns del "$netns"

# --- the real unit under systemd --------------------------------------------
# Boot the root with systemd-nspawn (its own network namespace), let
# systemd start drover.service with all its sandboxing, and have a one-shot
# unit record what it sees, then power off. Skipped without systemd-nspawn.
if command -v systemd-nspawn >/dev/null 2>&1; then
	cat >"$root/usr/local/sbin/drover-unit-check" <<'CHECK'
#!/bin/sh
# Runs inside the booted test root; one "name=value" line per fact.
out=/root/unit-check.txt
for _ in $(seq 600); do
	[ "$(systemctl is-active drover)" = active ] && break
	sleep 0.2
done
{
	echo "active=$(systemctl is-active drover)"
	pid=$(systemctl show -p MainPID --value drover)
	echo "uid=$(awk '/^Uid:/ {print $2}' /proc/$pid/status)"
	echo "user=$(id -u drover)"
	echo "capeff=$(awk '/^CapEff:/ {print $2}' /proc/$pid/status)"
	echo "capbnd=$(awk '/^CapBnd:/ {print $2}' /proc/$pid/status)"
	echo "nonewprivs=$(awk '/^NoNewPrivs:/ {print $2}' /proc/$pid/status)"
	iptables -S FORWARD | grep -q -- '-j DROVER' && echo "chain=yes"
	droverctl proxy list >/dev/null && echo "droverctl=yes"
	echo "fastpath=$(droverctl --json stats | tr -d ' ' | grep -o '"fast_path":"[^"]*"' | cut -d'"' -f4)"
	w1=$(systemctl show -p WatchdogTimestampMonotonic --value drover)
	# Longer than WatchdogSec: an idle daemon must keep the watchdog fed.
	sleep 12
	w2=$(systemctl show -p WatchdogTimestampMonotonic --value drover)
	[ "$w2" != "$w1" ] && [ "$w2" != 0 ] && echo "watchdog=fed"
	echo "restarts=$(systemctl show -p NRestarts --value drover)"
	echo "active_later=$(systemctl is-active drover)"
	systemctl stop drover
	echo "result=$(systemctl show -p Result --value drover)"
	iptables -S | grep -q DROVER || echo "chain_after_stop=gone"
	echo "done=yes"
} >$out 2>&1
systemctl poweroff
CHECK
	chmod 0755 "$root/usr/local/sbin/drover-unit-check"
	cat >"$root/etc/systemd/system/drover-unit-check.service" <<'UNIT'
[Unit]
Description=drover package test: check drover.service
After=drover.service
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/drover-unit-check
[Install]
WantedBy=multi-user.target
UNIT
	in_root systemctl enable -q drover drover-unit-check.service
	# nspawn brings its own /proc; this test's mount would shadow it.
	umount "$root/proc"
	# A host has a bpffs at /sys/fs/bpf (systemd mounts it, mode 0700), where
	# the service pins its fast path; a container has none: give it a new
	# one, as a host's, which vanishes with this test's mount namespace.
	mkdir -p "$work/bpffs"
	mount -t bpf -o mode=700 bpf "$work/bpffs"
	t0=$(date +%s)
	# A container gets neither CAP_BPF nor bpf(2) by default; a host has both.
	timeout 600 systemd-nspawn -q -b -D "$root" --private-network --capability=CAP_BPF --system-call-filter=bpf \
		--bind="$work/bpffs:/sys/fs/bpf" --register=no \
		--keep-unit --machine "drover-pkg-$$" >"$work/nspawn.log" 2>&1 || true
	umount "$work/bpffs"
	# nspawn leaves this behind when it cannot register with a host manager.
	rm -rf "/run/systemd/nspawn/propagate/drover-pkg-$$"
	rmdir /run/systemd/nspawn/propagate /run/systemd/nspawn/locks /run/systemd/nspawn 2>/dev/null || true
	mount -t proc proc "$root/proc"
	facts=$(cat "$root/root/unit-check.txt" 2>/dev/null || true)
	fact() { sed -n "s/^$1=//p" <<<"$facts"; }
	sed 's/^/# unit check: /' <<<"$facts"
	if [ "$(fact done)" = yes ]; then
		pass "booted the root with systemd-nspawn, checked drover.service ($(($(date +%s) - t0)) s)"
	else
		tail -30 "$work/nspawn.log" | sed 's/^/# /'
		fail "the booted root did not finish its check of drover.service"
	fi
	check_cmd "systemd starts drover.service (Type=notify: READY=1 arrived)" test "$(fact active)" = active
	check_cmd "droverd runs as drover under systemd" test -n "$(fact uid)" -a "$(fact uid)" = "$(fact user)"
	# CAP_NET_ADMIN is bit 12, CAP_NET_RAW bit 13, CAP_BPF bit 39.
	check_cmd "droverd has exactly CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF (eff $(fact capeff), bnd $(fact capbnd))" \
		test "$(fact capeff)" = 0000008000003000 -a "$(fact capbnd)" = 0000008000003000
	check_cmd "NoNewPrivileges is set" test "$(fact nonewprivs)" = 1
	check_cmd "the sandboxed service installed its chain" test "$(fact chain)" = yes
	check_cmd "droverctl reaches the service's socket" test "$(fact droverctl)" = yes
	check_cmd "the sandboxed service loads its fast path (fast_path: $(fact fastpath))" \
		test "$(fact fastpath)" = on
	check_cmd "the watchdog is fed while idle, no restarts (restarts=$(fact restarts))" \
		test "$(fact watchdog)" = fed -a "$(fact restarts)" = 0 -a "$(fact active_later)" = active
	check_cmd "systemctl stop ends with result $(fact result), chain removed" \
		test "$(fact result)" = success -a "$(fact chain_after_stop)" = gone
	in_root systemctl disable -q drover drover-unit-check.service
	rm -f "$root/etc/systemd/system/drover-unit-check.service" "$root/usr/local/sbin/drover-unit-check"
else
	echo "# systemd-nspawn not found (package systemd-container): drover.service not booted"
fi

# --- upgrade keeps the database, purge removes it --------------------------
if apt_get install --reinstall "$pkgfile" >>"$work/apt.log" 2>&1; then
	pass "reinstall (upgrade path of the maintainer scripts) succeeds"
else
	fail "reinstall failed"
fi
check_cmd "the database survives the reinstall" test -f "$root/var/lib/drover/drover.db"
# Read as drover: a root-owned -wal file would lock the daemon out.
check_cmd "the proxy is still in the database after it" \
	sh -c "chroot '$root' setpriv --reuid drover --regid drover --init-groups \
		droverd --print-rules | grep -q 198.18.0.10"
check_cmd "/var/lib/drover is still 0750 after it" test "$(stat -c %a "$root/var/lib/drover")" = 750

apt_get remove drover >>"$work/apt.log" 2>&1 || fail "apt-get remove drover failed"
check_cmd "remove keeps the database and the conffiles" \
	test -f "$root/var/lib/drover/drover.db" -a -f "$root/etc/default/drover"
apt_get purge drover >>"$work/apt.log" 2>&1 || fail "apt-get purge drover failed"
check_cmd "purge removes /var/lib/drover" test ! -e "$root/var/lib/drover"
check_cmd "purge removes the conffiles" \
	test ! -e "$root/etc/default/drover" -a ! -e "$root/etc/sysctl.d/99-drover.conf"
check_cmd "dpkg no longer knows the package after purge" \
	test -z "$(in_root dpkg-query -W -f='${db:Status-Abbrev}' drover 2>/dev/null || true)"

echo "# package_install: $(($(date +%s) - started)) s in all"
[ "$failures" -eq 0 ]
