# tests/lab/pkgroot.sh - a clean Debian root with the drover package, for the
# package tests. Sourced; needs root, and a private mount namespace (the
# caller's), since the mounts it makes are left to vanish with it.
#
#   pkgroot_make ROOT WORK      debootstrap minbase from the cached tarball,
#                               apt set up on this host's mirrors
#   pkgroot_apt ROOT ARGS...    apt-get in the root, non-interactive
#   pkgroot_repack DEB VERSION OUT
#                               the same package under a higher version
#
# The debootstrap download is cached as a tarball in $DROVER_TEST_CACHE
# (default /var/cache/drover-test), and the .debs apt fetches into the root
# in a directory beside it, so reruns need the network only for
# `apt-get update`.

PKGROOT_CACHE=${DROVER_TEST_CACHE:-/var/cache/drover-test}

pkgroot_log() {
	echo "# pkgroot: $*" >&2
}

# pkgroot_mirror: the mirror this host uses, from a one-line sources.list
# entry, else the first deb822 URIs: field (Debian 12's default layout).
pkgroot_mirror() {
	local m
	m=$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\(http[^[:space:]]*\).*/\2/p' \
		/etc/apt/sources.list 2>/dev/null | head -1)
	if [ -z "$m" ]; then
		m=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' \
			/etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1)
	fi
	[ -n "$m" ] && echo "$m"
}

# pkgroot_make ROOT WORK: a minbase root of this host's release at ROOT, with
# /proc and the shared apt cache mounted; logs go to WORK.
pkgroot_make() {
	local root=$1 work=$2 suite mirror tarball
	suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[ -n "$suite" ] || {
		pkgroot_log "/etc/os-release names no release"
		return 1
	}
	mirror=$(pkgroot_mirror) || {
		pkgroot_log "no Debian mirror found in /etc/apt/sources.list{,.d}"
		return 1
	}
	mkdir -p "$PKGROOT_CACHE/apt-archives/partial"
	tarball=$PKGROOT_CACHE/$suite-minbase-$(dpkg --print-architecture).tgz
	if [ ! -s "$tarball" ]; then
		debootstrap --variant=minbase --make-tarball="$tarball.tmp" "$suite" "$work/dl" \
			"$mirror" >"$work/debootstrap.log" 2>&1 || {
			tail -20 "$work/debootstrap.log" >&2
			return 1
		}
		mv "$tarball.tmp" "$tarball"
		rm -rf "$work/dl"
	fi
	debootstrap --variant=minbase --unpack-tarball="$tarball" "$suite" "$root" "$mirror" \
		>"$work/debootstrap.log" 2>&1 || {
		tail -20 "$work/debootstrap.log" >&2
		return 1
	}
	mount -t proc proc "$root/proc"
	mount --bind "$PKGROOT_CACHE/apt-archives" "$root/var/cache/apt/archives"
	rm -f "$root/etc/apt/sources.list"
	cp /etc/apt/sources.list.d/*.sources "$root/etc/apt/sources.list.d/" 2>/dev/null ||
		echo "deb $mirror $suite main" >"$root/etc/apt/sources.list"
	[ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$root/etc/apt/"
	cp -L /etc/resolv.conf "$root/etc/resolv.conf"
}

# pkgroot_unmount ROOT: undoes pkgroot_make's mounts; 0 when none is left.
pkgroot_unmount() {
	local root=$1 m
	for m in var/cache/apt/archives proc; do
		mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m"
	done
	! mountpoint -q "$root/var/cache/apt/archives" 2>/dev/null
}

# The package cache is shared by every root made here (bind-mounted): one apt at a time.
pkgroot_apt() {
	local root=$1
	shift
	DEBIAN_FRONTEND=noninteractive LC_ALL=C flock "$PKGROOT_CACHE/apt-archives.lock" \
		chroot "$root" apt-get -q -y -o Dpkg::Use-Pty=0 --no-install-recommends "$@"
}

# pkgroot_repack DEB VERSION OUT: writes to OUT the package DEB with its
# control Version set to VERSION, contents and maintainer scripts unchanged:
# what dpkg sees as an upgrade.
pkgroot_repack() {
	local deb=$1 version=$2 out=$3 tmp
	tmp=$(mktemp -d /tmp/drover-repack.XXXXXX) || return 1
	dpkg-deb -R "$deb" "$tmp/pkg" &&
		sed -i "s/^Version: .*/Version: $version/" "$tmp/pkg/DEBIAN/control" &&
		dpkg-deb -b --root-owner-group "$tmp/pkg" "$out" >/dev/null
	local rc=$?
	rm -rf "$tmp"
	return $rc
}
