#!/bin/bash
# Builds the Debian package drover_<version>_<arch>.deb into build/deb/.
#
# The repository root stays clean: the sources (tracked files plus any not
# yet committed, minus build output) are copied to build/deb/drover-<version>/,
# packaging/debian is copied in as debian/, and dpkg-buildpackage runs there.
#
#   packaging/build-deb.sh [--no-lintian]
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
lintian=yes
[ "${1:-}" = "--no-lintian" ] && lintian=no

die() {
	echo "build-deb: $*" >&2
	exit 1
}

for tool in dpkg-buildpackage dh fakeroot; do
	command -v "$tool" >/dev/null 2>&1 ||
		die "$tool not found; install the build tools with packaging/deps.sh (as root)"
done

version=$(cat "$root/VERSION")
changelog_version=$(dpkg-parsechangelog -l "$root/packaging/debian/changelog" -S Version)
[ "$version" = "$changelog_version" ] ||
	die "VERSION says $version but packaging/debian/changelog says $changelog_version; add a changelog entry (dch -v $version)"

out=$root/build/deb
tree=$out/drover-$version
rm -rf "$out"
mkdir -p "$tree"
trap 'rm -rf "$tree"' EXIT

# Copy what git knows about (committed or not, minus ignored files), or
# everything but build output when this is not a git checkout.
cd "$root"
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
	while IFS= read -r -d '' f; do
		case $f in build/* | build-san/* | tests/artifacts/*) continue ;; esac
		# A tracked file deleted in the work tree is not part of the build.
		[ -e "$f" ] || [ -L "$f" ] || continue
		cp --parents -P -- "$f" "$tree"
	done < <(git ls-files -z --cached --others --exclude-standard)
else
	tar -C "$root" --exclude=./build --exclude=./build-san --exclude=./tests/artifacts \
		-cf - . | tar -C "$tree" -xf -
fi
cp -R "$root/packaging/debian" "$tree/debian"

echo "build-deb: building drover $version in $tree"
(cd "$tree" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 ||
	{
		tail -40 "$out/build.log" >&2
		die "dpkg-buildpackage failed; full log in $out/build.log"
	}

deb=$(ls "$out"/drover_"$version"_*.deb)
echo "build-deb: $deb"
if [ "$lintian" = yes ]; then
	if command -v lintian >/dev/null 2>&1; then
		# Errors fail the build; warnings are printed for a person to judge.
		lintian --info "$out"/drover_"$version"_*.changes ||
			die "lintian reported errors"
	else
		echo "build-deb: lintian not installed; skipped" >&2
	fi
fi
