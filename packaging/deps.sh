#!/bin/sh
# Installs the Debian packages drover needs to build, test and run its demo
# lab, and to build and test its Debian package (debhelper, lintian,
# debootstrap for the install test, systemd for systemd-analyze, gnuplot for
# the bench's plot; valgrind and clang with libFuzzer for the memory tests and
# make fuzz; keepalived for the failover test; squid-openssl, Debian's Squid
# built with OpenSSL, for HTTPS interception with ssl_bump: it replaces the
# plain squid package), when any is missing. Quiet and quick when everything is there.
set -eu

PACKAGES="build-essential pkg-config
libnetfilter-queue-dev libmnl-dev libevent-dev libcurl4-openssl-dev libsqlite3-dev
libjansson-dev libsodium-dev libsystemd-dev libcmocka-dev libssl-dev
iptables iproute2 ethtool curl jq sqlite3 squid-openssl nginx-light procps psmisc bc keepalived
debhelper dpkg-dev fakeroot lintian devscripts debootstrap systemd systemd-container
man-db util-linux python3 chromium gnuplot-nox
valgrind clang libclang-rt-dev libbpf-dev bpftool"
# Node.js may come from another packaging of it (which provides npm itself):
# ask Debian for nodejs and npm only when there is no npm at all.
if ! command -v npm >/dev/null 2>&1; then
	PACKAGES="$PACKAGES nodejs npm"
fi

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run as root (sudo make ...) to install them" >&2
	exit 1
fi

echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# The package lists of a fresh machine are empty; refresh them once if so.
if ! apt-get install -y -q --no-install-recommends $missing; then
	apt-get update -q
	apt-get install -y -q --no-install-recommends $missing
fi
# Debian starts squid and nginx as system services on install; the lab and the
# tests run their own instances in namespaces, so stop the system ones again
# if this script's install started them.
for svc in squid nginx; do
	case " $missing " in *" $svc"*)
		if command -v systemctl >/dev/null 2>&1 && systemctl is-active -q "$svc" 2>/dev/null; then
			systemctl stop "$svc" || true
			systemctl disable -q "$svc" 2>/dev/null || true
		fi ;;
	esac
done
