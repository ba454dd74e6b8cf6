#!/bin/bash
# System test of vgpu_stub.ko: boot a Debian kernel under qemu-system-x86_64
# (TCG, no KVM needed) with a busybox initramfs carrying vfio, mdev, our
# module, mdevctl, the executor's mdev frontend and a client that drives an
# instance exactly as QEMU does (tests/kmod/guest-init.sh says what runs).
#
#   system-test.sh 6.1       Debian 12's kernel and headers
#   system-test.sh newest    the newest Debian kernel (experimental, else sid),
#                            the module built against its source tree
#   system-test.sh 6.1 nested  also run QEMU inside the VM: a nested guest gets
#                            the instance through -device vfio-pci,sysfsdev=,
#                            binds it to uio_pci_generic and sends HELLO
#
# Everything downloaded or built is cached under .ci-cache/.  Exits 0 pass,
# 77 skip (why on the last line), anything else fail.
set -u
. "$(dirname "$0")/lib.sh"
WHICH=${1:?usage: system-test.sh 6.1|newest [nested]}
NESTED=${2:-}
W=$CACHE/systest-$WHICH${NESTED:+-nested}
mkdir -p "$W"

# ---- packages and the kernel ----
phase "host packages"
apt_install build-essential qemu-system-x86 busybox-static mdevctl cpio xz-utils kmod bc \
	flex bison libelf-dev libssl-dev sparse
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing"

SID_LIST=$CACHE/apt-sid
apt_other() {	# apt_other CMD ARGS: apt-get against sid + experimental only
	apt-get -o Dir::Etc::sourcelist="$SID_LIST/sources.list" -o Dir::Etc::sourceparts=/dev/null \
		-o Dir::State::Lists="$SID_LIST/lists" -o Debug::NoLocking=1 "$@"
}
apt_cache_other() {
	apt-cache -o Dir::Etc::sourcelist="$SID_LIST/sources.list" -o Dir::Etc::sourceparts=/dev/null \
		-o Dir::State::Lists="$SID_LIST/lists" "$@"
}

if [ "$WHICH" = 6.1 ]; then
	phase "kernel 6.1 packages"
	[ -n "$APT_UPDATED" ] || { apt-get update -qq >/dev/null 2>&1; APT_UPDATED=1; }
	ABI=$(apt-cache depends linux-headers-amd64 2>/dev/null |
	      sed -n 's/.*Depends: linux-headers-\(6\.1\.[0-9]*-[0-9]*\)-amd64/\1/p' | head -n 1)
	[ -n "$ABI" ] || die "cannot resolve Debian 12's kernel ABI (apt unreachable?)"
	REL=$ABI-amd64
	apt_install linux-headers-$REL
	KDIR=/usr/src/linux-headers-$REL
	DEBS=$CACHE/debs/$REL
	if [ ! -f "$DEBS/.done" ]; then
		mkdir -p "$DEBS" && (cd "$DEBS" && apt-get download -q linux-image-$REL >/dev/null 2>&1 ||
				     apt-get download -q linux-image-$REL-unsigned >/dev/null 2>&1) ||
			die "apt-get download linux-image-$REL failed"
		dpkg-deb -x "$DEBS"/linux-image-*.deb "$DEBS/root" && touch "$DEBS/.done"
	fi
	VMLINUZ=$DEBS/root/boot/vmlinuz-$REL
	MODROOT=$DEBS/root/lib/modules/$REL
else
	phase "newest kernel packages"
	mkdir -p "$SID_LIST/lists/partial"
	# The same archive this machine's own sources use, other suites.
	MIRROR=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
		 grep -v -e security -e '^$' | head -n 1)
	[ -n "$MIRROR" ] || MIRROR=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++)
		if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list 2>/dev/null)
	[ -n "$MIRROR" ] || die "cannot tell which Debian archive this machine uses"
	KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
	{ echo "deb [signed-by=$KEYRING] $MIRROR sid main"
	  echo "deb [signed-by=$KEYRING] $MIRROR experimental main"; } >"$SID_LIST/sources.list"
	if [ ! -f "$SID_LIST/.updated" ] || [ -n "$(find "$SID_LIST/.updated" -mmin +720)" ]; then
		apt_other update -qq >/dev/null 2>&1 || die "apt-get update for sid/experimental failed"
		touch "$SID_LIST/.updated"
	fi
	# The newest linux-source-X.Y of either suite, and the image of that version.
	SRCPKG=$(apt_cache_other search '^linux-source-[0-9]+\.[0-9]+$' 2>/dev/null |
		 awk '{print $1}' | sort -V | tail -n 1)
	[ -n "$SRCPKG" ] || die "no linux-source in sid/experimental"
	KV=${SRCPKG#linux-source-}
	SRCVER=$(apt_cache_other show "$SRCPKG" | sed -n 's/^Version: //p' | sort -V | tail -n 1)
	HDRPKG=$(apt_cache_other search "^linux-headers-$KV[.0-9]*(\+[a-z0-9]+)?-amd64\$" 2>/dev/null |
		 awk '{print $1}' | sort -V | tail -n 1)
	REL=${HDRPKG#linux-headers-}
	[ -n "$HDRPKG" ] || die "no linux-headers for $KV"
	echo "newest: $SRCPKG $SRCVER, kernel $REL"
	DEBS=$CACHE/debs/$REL
	if [ ! -f "$DEBS/.done" ]; then
		rm -rf "$DEBS" && mkdir -p "$DEBS"
		# Split packaging (binary + modules) where it exists, else the image.
		(cd "$DEBS" && apt_other download -q "$SRCPKG=$SRCVER" "$HDRPKG" >/dev/null 2>&1) ||
			die "cannot download $SRCPKG / $HDRPKG"
		(cd "$DEBS" && { apt_other download -q linux-binary-$REL linux-modules-$REL >/dev/null 2>&1 ||
				 apt_other download -q linux-image-$REL-unsigned >/dev/null 2>&1 ||
				 apt_other download -q linux-image-$REL >/dev/null 2>&1; }) ||
			die "cannot download the $REL kernel image"
		mkdir -p "$DEBS/root"
		for d in "$DEBS"/linux-binary-*.deb "$DEBS"/linux-image-*.deb "$DEBS"/linux-headers-*.deb; do
			[ -e "$d" ] && dpkg-deb -x "$d" "$DEBS/root"
		done
		for d in "$DEBS"/linux-modules-*.deb; do
			[ -e "$d" ] || continue
			dpkg-deb --fsys-tarfile "$d" | tar -C "$DEBS/root" -x --wildcards \
				'*/kernel/drivers/vfio/*' ||
				die "cannot unpack $d"
		done
		touch "$DEBS/.done"
	fi
	VMLINUZ=$(ls "$DEBS"/root/boot/vmlinuz-$REL "$DEBS"/root/usr/lib/modules/$REL/vmlinuz \
		  "$DEBS"/root/lib/modules/$REL/vmlinuz 2>/dev/null | head -n 1)
	MODROOT=$(ls -d "$DEBS"/root/usr/lib/modules/$REL "$DEBS"/root/lib/modules/$REL 2>/dev/null |
		  head -n 1)

	phase "newest kernel tree (modules_prepare)"
	# pahole keeps CONFIG_DEBUG_INFO_BTF_MODULES, which changes struct module.
	apt_install dwarves
	# Headers of a newer suite need a newer gcc than Debian 12's: prepare the
	# source tree with Debian's .config and Module.symvers and our gcc.
	SRC=$CACHE/src/linux-source-$KV
	KDIR=$CACHE/kbuild-$REL
	if [ ! -f "$KDIR/.prepared-$SRCVER" ]; then
		if [ ! -f "$SRC/.vgpu-unpacked-$SRCVER" ]; then
			rm -rf "$SRC" "$KDIR" && mkdir -p "$CACHE/src"
			dpkg-deb --fsys-tarfile "$DEBS"/linux-source-*.deb |
				tar -x -O --wildcards '*/linux-source-*.tar.xz' | tar -C "$CACHE/src" -xJ ||
				die "cannot unpack $SRCPKG"
			touch "$SRC/.vgpu-unpacked-$SRCVER"
		fi
		HDR=$(ls -d "$DEBS"/root/usr/src/linux-headers-$REL)
		mkdir -p "$KDIR"
		cp "$HDR/.config" "$HDR/Module.symvers" "$KDIR/"
		make -C "$SRC" O="$KDIR" KERNELRELEASE="$REL" olddefconfig >"$W/prepare.log" 2>&1 &&
		make -C "$SRC" O="$KDIR" KERNELRELEASE="$REL" -j"$(nproc)" modules_prepare \
			>>"$W/prepare.log" 2>&1 || { tail -n 30 "$W/prepare.log"; die "modules_prepare failed"; }
		# Debian's options our gcc/tools cannot keep: anything here that
		# changes a structure the module touches would break loading.
		diff <(grep '^CONFIG' "$HDR/.config" | sort) <(grep '^CONFIG' "$KDIR/.config" | sort) |
			grep '^[<>]' | grep -v -e '_VERSION' -e 'CC_HAS_' -e 'VERSION_TEXT' \
			>"$KDIR/config-diff.txt"
		touch "$KDIR/.prepared-$SRCVER"
	fi
	echo "options that differ from Debian's build: $(wc -l <"$KDIR/config-diff.txt")"
	tr '\n' ' ' <"$KDIR/config-diff.txt" | fold -w 160; echo
fi
[ -f "$VMLINUZ" ] || die "no kernel image found for $REL"
[ -d "$MODROOT" ] || die "no module tree for $REL"
echo "kernel $REL: $VMLINUZ"

# ---- build ----
phase "build vgpu_stub.ko ($REL)"
KB=$W/kmod
rm -rf "$KB" && mkdir -p "$KB"
cp -r "$REPO/host-kmod" "$REPO/include" "$KB/"
rm -f "$KB"/host-kmod/*.o "$KB"/host-kmod/*.ko "$KB"/host-kmod/*.mod* "$KB"/host-kmod/.*.cmd
# Out of tree, with W=1 and sparse (C=2): any warning fails the test.
make -C "$KDIR" M="$KB/host-kmod" W=1 C=2 modules >"$W/kbuild.log" 2>&1 ||
	{ cat "$W/kbuild.log"; die "module build failed"; }
# Compiler, sparse and modpost warnings only: make's own notes ("make[1]:
# warning: jobserver unavailable" under `make -j2 test`) are not the module's.
if grep -E "warning:|WARNING:" "$W/kbuild.log" | grep -Ev '^g?make(\[[0-9]+\])?: '; then
	die "the module build warned (W=1, sparse)"
fi
modinfo "$KB/host-kmod/vgpu_stub.ko" | grep -E "^(vermagic|depends)"

phase "build test programs"
make -C "$REPO" -s kmod-test-progs >"$W/progs.log" 2>&1 || { cat "$W/progs.log"; die "programs"; }
FAKECUDA=
if [ -f "$REPO/tests/fakecuda/Makefile" ] || [ -f "$REPO/tests/fakecuda/fakecuda.mk" ]; then
	# The tree has the double: a build failure is a failure, not a weaker test.
	make -C "$REPO" -s build/fakecuda/libcuda.so.1 >>"$W/progs.log" 2>&1 ||
		{ cat "$W/progs.log"; die "the driver double (tests/fakecuda) did not build"; }
	FAKECUDA=$REPO/build/fakecuda/libcuda.so.1
fi

# ---- initramfs ----
phase "initramfs"
R=$W/root
rm -rf "$R" && mkdir -p "$R"/{bin,sbin,lib/modules,test,etc,proc,sys,dev,tmp,run,usr/bin}
cp /bin/busybox "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do
	[ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"
done
copy_prog() {	# copy_prog FILE DEST: the program and the libraries it loads
	cp "$1" "$R/$2"
	ldd "$1" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
		[ -e "$R$lib" ] || { mkdir -p "$R$(dirname "$lib")"; cp -L "$lib" "$R$lib"; }
	done
}
copy_prog "$REPO/build/kmod/vfio_client" test/vfio_client
copy_prog "$REPO/build/bin/vgpu-executor" test/vgpu-executor
copy_prog /usr/bin/mdevctl usr/bin/mdevctl
[ -n "$FAKECUDA" ] && copy_prog "$FAKECUDA" test/libcuda.so.1
cp "$REPO/libvirt-xml/mdevctl-vgpu-4g.json" "$R/test/"
cp "$REPO/tests/kmod/guest-init.sh" "$R/init"
chmod +x "$R/init"
# Modules: vfio, vfio_iommu_type1, mdev (+ vfio_virqfd where separate), deps first.
modfile() { find "$MODROOT/kernel" -name "$1.ko*" -o -name "$(echo "$1" | tr _ -).ko*" | head -n 1; }
ORDER=()
add_mod() {
	local f dep
	for dep in "${ORDER[@]}"; do [ "$dep" = "$1" ] && return 0; done
	f=$(modfile "$1")
	if [ -z "$f" ]; then
		grep -q "/$1.ko" "$MODROOT"/modules.builtin 2>/dev/null && return 0
		die "module $1 not found for $REL"
	fi
	for dep in $(modinfo -F depends "$f" | tr , ' '); do add_mod "$dep"; done
	case $f in
	*.xz) xz -dc "$f" >"$R/lib/modules/$1.ko" ;;
	*.zst) zstd -dcq "$f" >"$R/lib/modules/$1.ko" ;;
	*) cp "$f" "$R/lib/modules/$1.ko" ;;
	esac
	ORDER+=("$1")
}
for m in vfio vfio_iommu_type1 mdev; do add_mod "$m"; done
[ -n "$(modfile vfio_virqfd)" ] && add_mod vfio_virqfd
printf '%s\n' "${ORDER[@]}" >"$R/modules.order"
if [ -n "$NESTED" ]; then
	# QEMU itself, its TCG module and firmware; the L2 kernel and initramfs.
	copy_prog /usr/bin/qemu-system-x86_64 usr/bin/qemu-system-x86_64
	for f in /usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so /usr/share/seabios/bios-256k.bin \
		 /usr/share/qemu/linuxboot_dma.bin /usr/share/qemu/kvmvapic.bin; do
		[ -e "$f" ] || die "nested: $f missing"
		mkdir -p "$R$(dirname "$f")"
		case $f in *.so) copy_prog "$f" "${f#/}" ;; *) cp -L "$f" "$R$f" ;; esac
	done
	L2=$W/l2root
	rm -rf "$L2" && mkdir -p "$L2"/{bin,lib/modules,proc,sys,dev}
	cp /bin/busybox "$L2/bin/busybox"
	for a in sh mount insmod poweroff cut echo cat uname; do ln -s busybox "$L2/bin/$a"; done
	cp "$REPO/build/kmod/l2_guest" "$L2/l2_guest"
	cp "$REPO/tests/kmod/l2-init.sh" "$L2/init"
	for m in uio uio_pci_generic; do
		f=$(modfile $m)
		[ -n "$f" ] || die "nested: module $m missing"
		case $f in *.xz) xz -dc "$f" >"$L2/lib/modules/$m.ko" ;; *) cp "$f" "$L2/lib/modules/$m.ko" ;; esac
	done
	(cd "$L2" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$R/test/l2-initrd.gz"
	cp "$VMLINUZ" "$R/test/l2-vmlinuz"
fi
echo "modules: ${ORDER[*]} vgpu_stub"
cp "$KB/host-kmod/vgpu_stub.ko" "$R/lib/modules/"
(cd "$R" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$W/initrd.gz"
du -h "$W/initrd.gz" | cut -f1

# ---- boot ----
phase "boot and run in QEMU (TCG)"
LOG=$W/console.log
MEM=1024
[ -n "$NESTED" ] && MEM=1536
timeout 900 qemu-system-x86_64 -machine pc -cpu max -m $MEM -smp 1 -nographic -no-reboot \
	-kernel "$VMLINUZ" -initrd "$W/initrd.gz" \
	-append "console=ttyS0 panic=-1 loglevel=5 rdinit=/init" \
	>"$LOG" 2>&1
qrc=$?
grep -E "VGPU-TEST|^ok|^not ok|^#|vgpu-mdev:|vgpu_stub|WARNING|BUG|Oops|Call Trace|phase|L2:" "$LOG" |
	grep -v "^# *$" | tail -n 300
total_time
[ $qrc -eq 124 ] && die "QEMU timed out (log: $LOG)"
grep -q "VGPU-TEST: RESULT PASS" "$LOG" || die "the guest test failed (log: $LOG)"
echo "system test on $REL passed"
