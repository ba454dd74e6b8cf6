#!/bin/bash
# Lay out the host package in a root folder, as `apt-get install
# ./vgpu-host_*.deb` plus DKMS would on a machine running kernel KREL, without
# installing anything on this machine: for a system test whose VM runs the
# module and the executor as the package installs them.
#
#   tests/pkg/stage-host.sh DEST KREL [KDIR]
#
# DEST gets the package's files (dpkg-deb -x: /opt/vgpu/bin/vgpu-executor,
# the units, the udev rules, modules-load.d, /usr/src/vgpu-stub-VERSION) and
# the module that DKMS builds from that source against KDIR (default
# /usr/src/linux-headers-KREL), at DKMS's place for it:
# DEST/lib/modules/KREL/updates/dkms/vgpu_stub.ko.  Its DKMS tree stays in
# DEST/var/lib/dkms.  The package comes from build/deb/ (`make deb` builds
# it when it is not there).  Exit status 0, or 1 with the reason on stderr.
set -u
DEST=${1:?usage: stage-host.sh DEST KREL [KDIR]}
KREL=${2:?usage: stage-host.sh DEST KREL [KDIR]}
KDIR=${3:-/usr/src/linux-headers-$KREL}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "stage-host: $*" >&2; exit 1; }

cd "$REPO"
V=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
DEB=build/deb/vgpu-host_${V}_amd64.deb
if [ ! -f "$DEB" ]; then
	make -s deb >build/stage-host-deb.log 2>&1 || fail "make deb failed (build/stage-host-deb.log)"
fi
[ -e "$KDIR/Makefile" ] || fail "no kernel headers or tree at $KDIR"
mkdir -p "$DEST" || fail "cannot create $DEST"
dpkg-deb -x "$DEB" "$DEST" || fail "dpkg-deb -x $DEB"

# DKMS over the packaged source, in DEST's own tree.  sign_file names no
# signer, so that DKMS makes no signing key on this machine.
T=$DEST/var/lib/dkms
rm -rf "$T/vgpu-stub"
mkdir -p "$T"
if ! sign_file=/nonexistent dkms build -m vgpu-stub -v "$V" -k "$KREL" \
	--sourcetree "$DEST/usr/src" --dkmstree "$T" --kernelsourcedir "$KDIR" >"$T/build.log" 2>&1; then
	tail -n 30 "$T/build.log" >&2
	[ -f "$T/vgpu-stub/$V/build/make.log" ] && tail -n 30 "$T/vgpu-stub/$V/build/make.log" >&2
	fail "dkms build of vgpu-stub $V against $KDIR failed"
fi
KO=$(find "$T/vgpu-stub/$V/$KREL" -name vgpu_stub.ko | head -n 1)
[ -n "$KO" ] || fail "dkms built no vgpu_stub.ko"
# Where dkms install puts it (dkms.conf's DEST_MODULE_LOCATION).
mkdir -p "$DEST/lib/modules/$KREL/updates/dkms"
install -m 0644 "$KO" "$DEST/lib/modules/$KREL/updates/dkms/vgpu_stub.ko"
