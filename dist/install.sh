#!/bin/bash
# Installs or removes one side of vgpu: the layout that `make install-host`,
# `make install-guest` and the Debian packages (debian/rules) share.
#
#   dist/install.sh install|uninstall host|guest
#
# Where things go comes from the environment (dist/install.mk sets every
# variable; docs/install.md lists them).  Everything install creates, files
# and directories alike, is written to a manifest,
# $PREFIX/share/vgpu/<side>.manifest, so that uninstall removes exactly that
# and nothing that was there before.  A directory that one side created and
# the other side also uses is recorded by both, so that whichever side is
# removed last takes it away.  With VGPU_MANIFEST=no (a package build root,
# where dpkg keeps the list) no manifest is written.
set -eu
ACTION=${1:?usage: install.sh install|uninstall host|guest}
SIDE=${2:?usage: install.sh install|uninstall host|guest}
SRC=$(cd "$(dirname "$0")/.." && pwd)
D=${DESTDIR:-}
for v in PREFIX BINDIR LIBDIR SYSCONFDIR SYSTEMDUNITDIR UDEVDIR MODULESLOADDIR \
	SYSUSERSDIR DKMSSRCDIR MANDIR DOCDIR VGPU_VERSION BUILD; do
	[ -n "${!v:-}" ] || { echo "install.sh: $v is not set (run it through make)" >&2; exit 2; }
done
BINLINKDIR=${BINLINKDIR:-}
SBINLINKDIR=${SBINLINKDIR:-}
case $SIDE in host | guest) ;; *) echo "install.sh: no side '$SIDE'" >&2; exit 2 ;; esac
MANIFEST_DIR=$PREFIX/share/vgpu
MANIFEST=$MANIFEST_DIR/$SIDE.manifest
REC=()

# ---- removing ----
if [ "$ACTION" = uninstall ]; then
	if [ ! -f "$D$MANIFEST" ]; then
		echo "install.sh: no $SIDE installation is recorded at $D$MANIFEST" >&2
		exit 1
	fi
	list=$(cat "$D$MANIFEST")
	while read -r kind path; do
		case $kind in f | l) rm -f "$D$path" ;; esac
	done <<<"$list"
	dirs=$(sed -n 's/^d //p' <<<"$list" | sort -r)
	# Deepest first; one that still holds something not ours stays.
	while read -r dir; do
		[ -z "$dir" ] || rmdir "$D$dir" 2>/dev/null || true
	done <<<"$dirs"
	exit 0
fi
[ "$ACTION" = install ] || { echo "install.sh: no action '$ACTION'" >&2; exit 2; }

# ---- installing ----
ours_dir() {	# ours_dir DIR: a manifest (either side's) says vgpu made DIR
	local m
	for m in "$D$MANIFEST_DIR"/*.manifest; do
		[ -f "$m" ] && grep -qxF "d $1" "$m" && return 0
	done
	return 1
}

declare -A SEEN=()
need_dir() {	# need_dir DIR: create DIR and its parents, recording what vgpu made
	local dir=$1
	[ -z "$dir" ] || [ "$dir" = / ] || [ -n "${SEEN[$dir]:-}" ] && return 0
	SEEN[$dir]=1
	need_dir "${dir%/*}"
	if [ ! -d "$D$dir" ]; then
		mkdir -m 0755 "$D$dir"
		REC+=("d $dir")
	elif ours_dir "$dir"; then
		REC+=("d $dir")
	fi
}

put() {	# put MODE SRC DST: install a file
	need_dir "${3%/*}"
	install -m "$1" "$2" "$D$3"
	REC+=("f $3")
}

put_subst() {	# put_subst MODE SRC DST: install a template with the paths filled in
	need_dir "${3%/*}"
	sed -e "s|@BINDIR@|$BINDIR|g" -e "s|@LIBDIR@|$LIBDIR|g" \
	    -e "s|@SYSCONFDIR@|$SYSCONFDIR|g" -e "s|#MODULE_VERSION#|$VGPU_VERSION|g" \
	    "$2" >"$D$3.tmp"
	chmod "$1" "$D$3.tmp"
	mv "$D$3.tmp" "$D$3"
	REC+=("f $3")
}

put_link() {	# put_link TARGET DST: a symbolic link
	need_dir "${2%/*}"
	ln -sfn "$1" "$D$2"
	REC+=("l $2")
}

link_into() {	# link_into LINKDIR PROGRAM: put PROGRAM on the PATH, if LINKDIR is one
	[ -n "$1" ] && [ "$1" != "$BINDIR" ] && put_link "$BINDIR/$2" "$1/$2"
	return 0
}

built() {	# built FILE: FILE from the build, or a clear error
	[ -e "$BUILD/$1" ] || { echo "install.sh: $BUILD/$1 is missing: run make first" >&2; exit 1; }
	echo "$BUILD/$1"
}

mkdir -p "$D/"
H=$SRC/dist/host G=$SRC/dist/guest
if [ "$SIDE" = host ]; then
	put 0755 "$(built bin/vgpu-executor)" "$BINDIR/vgpu-executor"
	link_into "$SBINLINKDIR" vgpu-executor
	put_subst 0644 "$H/vgpu-executor-mdev.service.in" "$SYSTEMDUNITDIR/vgpu-executor-mdev.service"
	put_subst 0644 "$H/vgpu-executor-local.service.in" "$SYSTEMDUNITDIR/vgpu-executor-local.service"
	put 0644 "$H/vgpu-executor.default" "$SYSCONFDIR/default/vgpu-executor"
	put 0644 "$H/70-vgpu-host.rules" "$UDEVDIR/rules.d/70-vgpu-host.rules"
	put 0644 "$H/modules-load.conf" "$MODULESLOADDIR/vgpu-stub.conf"
	put 0644 "$H/modprobe.conf" "$SYSCONFDIR/modprobe.d/vgpu-stub.conf"
	put 0644 "$H/sysusers.conf" "$SYSUSERSDIR/vgpu-host.conf"
	# The module's source for DKMS: host-kmod/ and the protocol headers it
	# includes from ../include, the same tree shape as the repository.
	K=$DKMSSRCDIR/vgpu-stub-$VGPU_VERSION
	put_subst 0644 "$H/dkms.conf" "$K/dkms.conf"
	for f in "$SRC"/host-kmod/Makefile "$SRC"/host-kmod/Kbuild "$SRC"/host-kmod/*.mk \
		 "$SRC"/host-kmod/*.[ch]; do
		put 0644 "$f" "$K/host-kmod/$(basename "$f")"
	done
	for f in "$SRC"/include/vgpu/*.h; do
		put 0644 "$f" "$K/include/vgpu/$(basename "$f")"
	done
	put 0644 "$SRC/dist/man/vgpu-executor.8" "$MANDIR/man8/vgpu-executor.8"
	put 0644 "$SRC/docs/kmod.md" "$DOCDIR/vgpu-host/kmod.md"
	put 0644 "$SRC/docs/install.md" "$DOCDIR/vgpu-host/install.md"
	for f in "$SRC"/libvirt-xml/*; do
		put 0644 "$f" "$DOCDIR/vgpu-host/examples/libvirt-xml/$(basename "$f")"
	done
else
	put 0644 "$(built lib/libcuda.so.1)" "$LIBDIR/libcuda.so.1"
	# Triton links its launcher with -lcuda in the folders `ldconfig -p` names.
	put_link libcuda.so.1 "$LIBDIR/libcuda.so"
	# The NVML library and vgpu-smi, once the shim builds them.
	[ -e "$BUILD/lib/libnvidia-ml.so.1" ] &&
		put 0644 "$BUILD/lib/libnvidia-ml.so.1" "$LIBDIR/libnvidia-ml.so.1"
	put 0755 "$(built bin/vgpu)" "$BINDIR/vgpu"
	link_into "$BINLINKDIR" vgpu
	if [ -e "$BUILD/bin/vgpu-smi" ]; then
		put 0755 "$BUILD/bin/vgpu-smi" "$BINDIR/vgpu-smi"
		link_into "$BINLINKDIR" vgpu-smi
	fi
	put_subst 0644 "$G/ld.so.conf.in" "$SYSCONFDIR/ld.so.conf.d/vgpu.conf"
	put 0644 "$G/70-vgpu-guest.rules" "$UDEVDIR/rules.d/70-vgpu-guest.rules"
	put 0755 "$G/vgpu-guest-bind" "$UDEVDIR/vgpu-guest-bind"
	put 0644 "$G/sysusers.conf" "$SYSUSERSDIR/vgpu-guest.conf"
	put 0644 "$SRC/dist/man/vgpu.1" "$MANDIR/man1/vgpu.1"
	put 0644 "$SRC/docs/install.md" "$DOCDIR/vgpu-guest/install.md"
fi

if [ "${VGPU_MANIFEST:-yes}" != no ]; then
	need_dir "$MANIFEST_DIR"
	REC+=("f $MANIFEST")
	{ printf '%s\n' "${REC[@]}"; [ -f "$D$MANIFEST" ] && cat "$D$MANIFEST"; } |
		sort -u >"$D$MANIFEST.new"
	mv "$D$MANIFEST.new" "$D$MANIFEST"
fi
