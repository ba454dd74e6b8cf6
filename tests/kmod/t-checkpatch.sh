#!/bin/bash
# checkpatch.pl --strict (from Debian's linux-source-6.1, as the kernel
# ships it) over the module's sources, the KUnit suites and the uapi header.
set -u
. "$(dirname "$0")/lib.sh"
phase "packages"
SRC=$CACHE/src/linux-source-6.1
CP=$SRC/scripts/checkpatch.pl
if [ ! -f "$CP" ]; then
	apt_install linux-source-6.1 xz-utils
	mkdir -p "$CACHE/checkpatch"
	tar -C "$CACHE/checkpatch" -xJf /usr/src/linux-source-6.1.tar.xz \
		--wildcards '*/scripts/checkpatch.pl' '*/scripts/spelling.txt' '*/scripts/const_structs.checkpatch' ||
		die "cannot unpack checkpatch.pl"
	CP=$(ls "$CACHE"/checkpatch/*/scripts/checkpatch.pl)
fi
phase "checkpatch --strict"
cd "$REPO" || exit 1
files=$(git ls-files "host-kmod/*.[ch]" "kunit/*.[ch]" include/vgpu/kmod_uapi.h)
out=$(perl "$CP" --strict --no-tree --terse --show-types -f $files 2>&1 |
      grep -v -e '^$' -e 'total: 0 errors, 0 warnings, 0 checks')
[ -n "$out" ] && echo "$out"
total_time
if [ -n "$out" ]; then
	die "checkpatch is not clean"
fi
echo "checkpatch --strict: clean ($(echo $files | wc -w) files)"
