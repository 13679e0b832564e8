#!/bin/bash
# Restart and upgrade test for the Debian package, under systemd: the
# packaged drover.service runs in a booted Debian root whose network is the
# appliance namespace of a lab of clients, real Squids and an origin, and
# rate-limited downloads run through it while the service is restarted,
# upgraded and killed. None of them may break; a real stop hands the subnet
# back to fail_open with nothing of drover left behind.
#
#   lab (tests/lab/lib.sh)               booted root (systemd-nspawn -b)
#   ----------------------                -------------------------------
#   $LAB-cli  8 clients ─┐                drover.service (packaged unit,
#   $LAB-px1, px2 Squid  ├─ $LAB-app ◀──  --network-namespace-path): lan0, wan0
#   $LAB-org  nginx     ─┘                /sys/fs/bpf: a bpffs of this test's own
#
#   1. downloads running, systemctl restart drover          all 8 intact
#   2. downloads running, dpkg -i of a newer version
#      (the postinst restarts the service)                  all 8 intact
#   3. downloads running, systemctl kill -s KILL drover
#      (Restart=on-failure brings it back)                  all 8 intact
#   4. systemctl stop drover: no pin under /sys/fs/bpf, no tc program on
#      the interfaces, no DROVER chain; a download goes straight to the origin
#
# "Intact" is the origin file's sha256, fetched through a Squid (the answer
# carries its Via header). The times the service took to be active again are
# printed as figures, never asserted.
#
# Prints "ok - ..." / "not ok - ..." lines. Needs root and systemd-nspawn.
#   DROVER_DEB=path   test this package instead of building one
#   DL_COUNT=N        downloads per step (default 8)
#   DL_RATE=R         curl --limit-rate of each download (default 600k: a
#                     4 MB file takes about 7 s)
set -eu

# Every mount this test makes lives in a private mount namespace.
if [ -z "${DROVER_PKG_TEST_NS:-}" ]; then
	export DROVER_PKG_TEST_NS=1
	exec unshare --mount --propagation private -- bash "$0" "$@"
fi

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
started=$(date +%s)

LAB=${LAB:-dpr}
LAB_PROXIES=2
LAB_CLIENTS=12
DL_COUNT=${DL_COUNT:-8}
DL_RATE=${DL_RATE:-600k}
# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"
# shellcheck source=../lab/pkgroot.sh
. "$here/../lab/pkgroot.sh"

bail() {
	echo "not ok - $*"
	exit 1
}

[ "$(id -u)" -eq 0 ] || bail "package restart test needs root"
for tool in debootstrap dpkg-buildpackage dpkg-deb ip unshare nsenter systemd-nspawn tc; do
	command -v "$tool" >/dev/null 2>&1 || bail "$tool not found (run packaging/deps.sh)"
done

work=$(mktemp -d /tmp/drover-pkgr.XXXXXX)
root=$work/root
bpffs=$work/bpffs
nspawn_pid=
cpid=

cleanup() {
	set +e
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		# SIGTERM asks the container's systemd to power off.
		kill -TERM "$nspawn_pid"
		for _ in $(seq 600); do
			kill -0 "$nspawn_pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$nspawn_pid" 2>/dev/null
		wait "$nspawn_pid" 2>/dev/null
	fi
	rm -rf "/run/systemd/nspawn/propagate/drover-pkgr-$$"
	rmdir /run/systemd/nspawn/propagate /run/systemd/nspawn/locks /run/systemd/nspawn 2>/dev/null
	lab_down 2>/dev/null
	mountpoint -q "$bpffs" 2>/dev/null && umount -l "$bpffs"
	if pkgroot_unmount "$root"; then
		rm -rf "$work"
	else
		echo "# $work left in place: the apt cache is still mounted in it" >&2
	fi
}
trap cleanup EXIT

# --- the package, and a newer one -------------------------------------------
version=$(cat "$repo/VERSION")
# The package package_install.sh has just built, when no source is newer.
fresh_deb() {
	local d f
	d=$(ls "$repo"/build/deb/drover_"$version"_*.deb 2>/dev/null | head -1)
	[ -n "$d" ] || return 1
	git -C "$repo" rev-parse --git-dir >/dev/null 2>&1 || return 1
	while IFS= read -r -d '' f; do
		case $f in build/* | build-san/* | tests/artifacts/*) continue ;; esac
		[ "$repo/$f" -nt "$d" ] && return 1
	done < <(git -C "$repo" ls-files -z --cached --others --exclude-standard)
	echo "$d"
}
if [ -n "${DROVER_DEB:-}" ]; then
	deb=$DROVER_DEB
elif deb=$(fresh_deb); then
	pass "package $(basename "$deb") is newer than every source: reused"
else
	t0=$(date +%s)
	make -C "$repo" --no-print-directory deb >"$work/build.log" 2>&1 || {
		tail -30 "$work/build.log"
		bail "make deb failed (log above)"
	}
	pass "make deb builds the package ($(($(date +%s) - t0)) s)"
	deb=$(ls "$repo"/build/deb/drover_"$version"_*.deb)
fi
[ -f "$deb" ] || bail "no package at $deb"
newer=$version+upgrade1
newdeb=$work/drover_${newer}_$(dpkg --print-architecture).deb
pkgroot_repack "$deb" "$newer" "$newdeb" || bail "could not repack $deb as $newer"
dpkg --compare-versions "$newer" gt "$version" || bail "$newer is not newer than $version"
# The prerm stops the service only on removal: an upgrade restarts it once,
# from the postinst, after the unpack (a stop would remove the fast path).
prerm=$(dpkg-deb -I "$deb" prerm 2>/dev/null || true)
stops=$(grep -c 'deb-systemd-invoke stop' <<<"$prerm" || true)
guarded=$(grep -B2 'deb-systemd-invoke stop' <<<"$prerm" | grep -c '"$1" = remove' || true)
check "$([ "$stops" -ge 1 ] && [ "$stops" -eq "$guarded" ]; echo $?)" \
	"the prerm stops drover.service only on remove, never before an upgrade" "$stops stops, $guarded on remove"
check_cmd "the postinst restarts a running drover.service on upgrade" \
	grep -qE '_dh_action=restart|deb-systemd-invoke restart' <(dpkg-deb -I "$deb" postinst)

# --- the lab, without droverd ------------------------------------------------
# droverd comes from the package, so the lab needs only drover-decap built.
make -C "$repo" --no-print-directory build/drover-decap >"$work/decap-build.log" 2>&1 || {
	tail -20 "$work/decap-build.log"
	bail "make build/drover-decap failed"
}
lab_down 2>/dev/null
lab_up || bail "lab_up failed"
pass "lab: $LAB_CLIENTS clients, $LAB_PROXIES Squids, nginx origin"
want=$(cat "$LAB_STATE/origin/big.sha256")

# --- a root with the package, booted in the appliance namespace -------------
t0=$(date +%s)
pkgroot_make "$root" "$work" || bail "could not make a clean root"
cp "$deb" "$newdeb" "$root/root/"
if pkgroot_apt "$root" update >"$work/apt.log" 2>&1 &&
	pkgroot_apt "$root" install systemd iproute2 >>"$work/apt.log" 2>&1 &&
	pkgroot_apt "$root" install "/root/$(basename "$deb")" >>"$work/apt.log" 2>&1; then
	pass "root with drover $version installed ($(($(date +%s) - t0)) s)"
else
	tail -30 "$work/apt.log"
	bail "apt-get install failed"
fi
chroot "$root" systemctl enable -q drover
# nspawn brings its own /proc; the root's mount would shadow it.
umount "$root/proc"

# The fast path pins under /sys/fs/bpf: give the container a bpffs of its
# own (a new instance, not the host's), seen from here at $bpffs. Mode 0700,
# as systemd mounts it on a host: only root may make entries at its top.
mkdir -p "$bpffs"
mount -t bpf -o mode=700 bpf "$bpffs" || bail "could not mount a bpffs"

# A container gets neither CAP_BPF nor bpf(2) by default; a host has both.
systemd-nspawn -q -b -D "$root" --network-namespace-path="/run/netns/$(lab_ns app)" \
	--capability=CAP_BPF,CAP_NET_ADMIN --system-call-filter=bpf --bind="$bpffs:/sys/fs/bpf" \
	--register=no --keep-unit --machine "drover-pkgr-$$" >"$work/nspawn.log" 2>&1 &
nspawn_pid=$!

# The container's init is the child of systemd-nspawn named systemd.
find_init() {
	cpid=$(pgrep -P "$nspawn_pid" -x systemd | head -1)
	[ -n "$cpid" ]
}
cexec() {
	nsenter -t "$cpid" -m -u -i -n -p -r -w -- "$@"
}
c_active() {
	[ "$(cexec systemctl is-active drover 2>/dev/null)" = active ]
}
c_prop() {
	cexec systemctl show -p "$1" --value drover
}
lab_wait "$LAB_WAIT_S" find_init || {
	tail -20 "$work/nspawn.log" | sed 's/^/# /'
	bail "the root did not boot"
}
# Active, or failing over and over (then waiting longer tells nothing).
c_settled() {
	c_active || [ "$(c_prop NRestarts 2>/dev/null || echo 0)" -ge 3 ]
}
lab_wait "$LAB_WAIT_S" c_settled || true
if c_active; then
	pass "systemd in the booted root starts drover.service in the appliance namespace"
else
	cexec journalctl -u drover --no-pager 2>&1 | grep -v 'Scheduled restart\|Stopped\|Starting' |
		tail -6 | sed 's/^/# /'
	fail "systemd in the booted root starts drover.service on a fresh /sys/fs/bpf" \
		"$(c_prop ActiveState), $(c_prop NRestarts) restarts"
	# So that the rest still measures something: the pin directory made
	# beforehand, as the unit's ExecStartPre would.
	install -d -m 0700 -o "$(chroot "$root" id -u drover)" -g "$(chroot "$root" id -g drover)" \
		"$bpffs/drover"
	cexec systemctl reset-failed drover || true
	cexec systemctl restart drover || true
	lab_wait "$LAB_WAIT_S" c_active || {
		cexec journalctl -u drover --no-pager 2>&1 | tail -10 | sed 's/^/# /'
		bail "drover.service did not become active with /sys/fs/bpf/drover made beforehand"
	}
	echo "# drover.service is active once /sys/fs/bpf/drover exists before it starts"
fi

# The lab's configuration, through the packaged droverctl.
cctl() { cexec droverctl "$@"; }
cctl settings set client_subnets "$LAB_LAN_PREFIX.0/24" >/dev/null &&
	cctl settings set probe_url "http://$LAB_ORIGIN/" >/dev/null &&
	cctl settings set probe_port 3128 >/dev/null &&
	cctl settings set probe_timeout_ms 500 >/dev/null &&
	cctl settings set probe_interval_ms 1000 >/dev/null || bail "droverctl settings set failed"
for ((i = 1; i <= LAB_PROXIES; i++)); do
	id=$(cctl --json proxy add "$(lab_proxy_address "$i")" --name "squid$i" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["proxy"]["id"])') ||
		bail "droverctl proxy add failed"
	cctl proxy setup-script "$id" --mode decap --tunnel-address "$LAB_TUNNEL_ADDRESS" \
		>"$LAB_STATE/px$i/setup.sh" || bail "droverctl proxy setup-script failed"
	lab_exec "px$i" bash "$LAB_STATE/px$i/setup.sh" --decap-bin "$DROVER_BUILD/drover-decap" \
		--dev drover0 --pidfile "$LAB_STATE/px$i/decap.pid" \
		--decap-log "$LAB_STATE/px$i/decap.log" --tls off up >/dev/null || bail "set-up script failed on px$i"
done
all_up() {
	cctl --json proxy list | python3 -c 'import json, sys
p = json.load(sys.stdin)["proxies"]
sys.exit(0 if p and all(x.get("health") == "up" for x in p) else 1)'
}
lab_wait "$LAB_WAIT_S" all_up || bail "not every proxy came up: $(cctl proxy list)"
fastpath=$(cctl --json stats | tr -d ' ' | grep -o '"fast_path":"[^"]*"' | cut -d'"' -f4 || true)
check "$([ "$fastpath" = on ]; echo $?)" "every proxy up; the service runs its fast path" "fast_path: $fastpath"

# --- downloads ---------------------------------------------------------------
# dl_start TAG [FIRST]: DL_COUNT downloads from clients FIRST.., each into its
# own file with the answer's headers beside it; returns once every one has
# received its first bytes (established, proxied).
dl_pids=()
dl_start() {
	local tag=$1 first=${2:-0} i c f
	dl_pids=()
	for ((i = 0; i < DL_COUNT; i++)); do
		c=$(lab_client_address $((first + i)))
		f=$LAB_STATE/dl.$tag.$i
		lab_exec cli curl --interface "$c" -sS --connect-timeout 10 --max-time 120 \
			--limit-rate "$DL_RATE" -D "$f.hdr" -o "$f" "http://$LAB_ORIGIN/slow/big.bin" \
			2>"$f.err" &
		dl_pids+=($!)
	done
	for ((i = 0; i < DL_COUNT; i++)); do
		lab_wait "$LAB_WAIT_S" test -s "$LAB_STATE/dl.$tag.$i"
	done
}
# dl_intact TAG: waits for the downloads (in this shell: they are its
# children) and sets n to how many are intact and came through a Squid.
dl_intact() {
	local tag=$1 i f
	n=0
	wait "${dl_pids[@]}" 2>/dev/null || true
	for ((i = 0; i < DL_COUNT; i++)); do
		f=$LAB_STATE/dl.$tag.$i
		if [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$want" ] &&
			grep -qi '^via:.*squid' "$f.hdr"; then
			n=$((n + 1))
		else
			echo "$i: $(stat -c %s "$f") bytes, $(grep -i '^via:' "$f.hdr" | tr -d '\r' || echo 'no Via')" >>"$f.err"
		fi
		rm -f "$f"
	done
}
dl_errors() {
	cat "$LAB_STATE"/dl."$1".*.err 2>/dev/null | head -4 | sed 's/^/#   /'
}
# wait_restarted OLD_PID: the service is active under another main pid.
restarted_from() {
	local pid
	c_active || return 1
	pid=$(c_prop MainPID)
	[ -n "$pid" ] && [ "$pid" != 0 ] && [ "$pid" != "$1" ]
}
ms() { date +%s%3N; }

dl_start warm
dl_intact warm
check "$([ "$n" -eq "$DL_COUNT" ]; echo $?)" "$DL_COUNT downloads through the packaged service are intact, through a Squid" "$n of $DL_COUNT"
[ "$n" -eq "$DL_COUNT" ] || dl_errors warm

# 1. systemctl restart.
dl_start restart
pid=$(c_prop MainPID)
t0=$(ms)
cexec systemctl restart drover || true
lab_wait "$LAB_WAIT_S" restarted_from "$pid" || true
took=$(($(ms) - t0))
dl_intact restart
check "$([ "$n" -eq "$DL_COUNT" ]; echo $?)" "systemctl restart drover: every download in flight completes intact" \
	"$n of $DL_COUNT intact; active again after $took ms"
[ "$n" -eq "$DL_COUNT" ] || dl_errors restart
lab_wait "$LAB_WAIT_S" all_up || true

# 2. dpkg -i of a newer version while downloads run: the postinst restarts.
dl_start upgrade
pid=$(c_prop MainPID)
t0=$(ms)
dpkg_rc=0
cexec dpkg -i "/root/$(basename "$newdeb")" >"$work/dpkg-upgrade.log" 2>&1 || dpkg_rc=$?
lab_wait "$LAB_WAIT_S" restarted_from "$pid" || true
took=$(($(ms) - t0))
dl_intact upgrade
installed=$(cexec dpkg-query -W -f='${Version}' drover 2>/dev/null || true)
check "$([ "$dpkg_rc" -eq 0 ] && [ "$installed" = "$newer" ]; echo $?)" \
	"dpkg -i upgrades drover $version to $newer" "dpkg status $dpkg_rc, installed $installed"
[ "$dpkg_rc" -eq 0 ] || sed 's/^/#   dpkg: /' "$work/dpkg-upgrade.log" | tail -10
newpid=$(c_prop MainPID)
check "$([ "$newpid" != "$pid" ] && c_active; echo $?)" "the postinst restarted the running service" \
	"main pid $pid -> $newpid, active again $took ms after dpkg -i began"
check "$([ "$n" -eq "$DL_COUNT" ]; echo $?)" "upgrade with dpkg -i: every download in flight completes intact" \
	"$n of $DL_COUNT intact"
[ "$n" -eq "$DL_COUNT" ] || dl_errors upgrade
lab_wait "$LAB_WAIT_S" all_up || true

# 3. SIGKILL; systemd restarts the service (Restart=on-failure).
dl_start kill
pid=$(c_prop MainPID)
restarts=$(c_prop NRestarts)
t0=$(ms)
cexec systemctl kill -s KILL drover || true
lab_wait "$LAB_WAIT_S" restarted_from "$pid" || true
took=$(($(ms) - t0))
dl_intact kill
check "$([ "$(c_prop NRestarts)" -gt "$restarts" ] && c_active; echo $?)" \
	"after SIGKILL systemd restarts drover.service" "NRestarts $restarts -> $(c_prop NRestarts), active again after $took ms"
check "$([ "$n" -eq "$DL_COUNT" ]; echo $?)" "SIGKILL and systemd's restart: every download in flight completes intact" \
	"$n of $DL_COUNT intact"
[ "$n" -eq "$DL_COUNT" ] || dl_errors kill
lab_wait "$LAB_WAIT_S" all_up || true

# 4. A real stop removes everything: fail_open, as before.
cexec systemctl stop drover || true
check "$([ "$(c_prop ActiveState)" = inactive ] && [ "$(c_prop Result)" = success ]; echo $?)" \
	"systemctl stop drover stops the service cleanly" "state $(c_prop ActiveState), result $(c_prop Result)"
# (progs.debug and maps.debug are the kernel's own, in every bpffs.)
pins=$(cd "$bpffs" && find . -mindepth 1 ! -name '*.debug' | head -5 | tr '\n' ' ')
check "$([ -z "$pins" ]; echo $?)" "after stop nothing of drover is pinned under /sys/fs/bpf" "${pins:-empty}"
tcleft=
for dev in lan0 wan0; do
	q=$(lab_exec app tc qdisc show dev "$dev" | grep -E 'clsact|ingress' || true)
	f=$(lab_exec app tc filter show dev "$dev" ingress 2>/dev/null || true)
	[ -n "$q$f" ] && tcleft="$tcleft $dev: $q $f"
done
x=$(lab_exec app bpftool net show 2>/dev/null | grep -E 'lan0|wan0' || true)
[ -n "$x" ] && tcleft="$tcleft $x"
check "$([ -z "$tcleft" ]; echo $?)" "after stop no tc or tcx program is attached to lan0 or wan0" "${tcleft:-none}"
chain=$( (lab_exec app iptables-save; lab_exec app iptables-legacy-save) 2>/dev/null | grep -c DROVER || true)
check "$([ "$chain" -eq 0 ]; echo $?)" "after stop no DROVER chain or rule is left" "$chain lines"
c=$(lab_client_address $((LAB_CLIENTS - 1)))
f=$LAB_STATE/dl.open
lab_exec cli curl --interface "$c" -sS --connect-timeout 10 --max-time 120 -D "$f.hdr" -o "$f" \
	"http://$LAB_ORIGIN/big.bin" 2>/dev/null || true
ok=1
[ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$want" ] && ! grep -qi '^via:' "$f.hdr" && ok=0
check "$ok" "after stop a client's download goes straight to the origin (fail_open), intact"

echo "# package_restart: $(($(date +%s) - started)) s in all"
[ "$failures" -eq 0 ]
