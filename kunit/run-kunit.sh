#!/bin/bash
# Run vgpu_stub's KUnit suites under UML with kunit.py from Debian's
# linux-source-6.1.  kunit.py builds in-tree tests only, so the driver and
# its tests are linked into drivers/vgpu_stub/ of a tree unpacked under
# .ci-cache/ (reused across runs, as is the UML build directory: a rerun is
# an incremental build).  Exits 0 pass, 77 skip, else fail.
set -u
. "$(dirname "$0")/../tests/kmod/lib.sh"

KVER=6.1
SRC=$CACHE/src/linux-source-$KVER
BUILD=$CACHE/kunit-um-$KVER

phase "packages"
apt_install build-essential flex bison bc python3 xz-utils linux-source-$KVER
command -v python3 >/dev/null || skip "no python3"

phase "unpack linux-source-$KVER"
if [ ! -f "$SRC/.vgpu-unpacked" ]; then
	rm -rf "$SRC"
	mkdir -p "$CACHE/src"
	tar -C "$CACHE/src" -xf /usr/src/linux-source-$KVER.tar.xz ||
		die "cannot unpack linux-source-$KVER"
	touch "$SRC/.vgpu-unpacked"
fi

phase "link driver into tree"
D=$SRC/drivers/vgpu_stub
mkdir -p "$D"
for f in "$REPO"/host-kmod/*.c "$REPO"/host-kmod/*.h "$REPO"/host-kmod/compat.mk \
	 "$REPO"/kunit/*.c "$REPO"/kunit/*.h; do
	case $f in *.mod.c) continue ;; esac
	ln -sfn "$f" "$D/$(basename "$f")"
done
ln -sfn "$REPO/kunit/kbuild/Kconfig" "$D/Kconfig"
ln -sfn "$REPO/kunit/kbuild/Makefile" "$D/Makefile"
ln -sfn "$REPO/include" "$D/include"
grep -q 'drivers/vgpu_stub/Kconfig' "$SRC/drivers/Kconfig" ||
	sed -i '$i source "drivers/vgpu_stub/Kconfig"' "$SRC/drivers/Kconfig"
grep -q 'vgpu_stub/' "$SRC/drivers/Makefile" ||
	echo 'obj-$(CONFIG_VGPU_STUB) += vgpu_stub/' >>"$SRC/drivers/Makefile"

phase "kunit.py build+run (UML)"
[ -d "$BUILD" ] && echo "reusing $BUILD" || echo "clean build into $BUILD"
cd "$SRC" || exit 1
python3 tools/testing/kunit/kunit.py run --arch=um --build_dir="$BUILD" \
	--kunitconfig="$REPO/kunit/vgpu.kunitconfig" --jobs="$(nproc)" \
	--timeout=300 >"$CACHE/kunit.log" 2>&1
rc=$?
grep -E '^\[..:..:..\] (=|\[|Testing|Ran|Elapsed|Starting|Configuring|Building|Completed)|PASSED|FAILED|passed|failed|Error|error:' \
	"$CACHE/kunit.log" | tail -n 60
total_time
if [ $rc -ne 0 ]; then
	tail -n 40 "$CACHE/kunit.log"
	die "kunit.py exited $rc (log: $CACHE/kunit.log)"
fi
grep -q "vgpu_stub_registration" "$CACHE/kunit.log" || die "the suites did not run"
echo "kunit: all vgpu_stub suites passed"
