#!/bin/bash
# Installation as operators get it (docs/install.md):
#   - `make deb` builds vgpu-host and vgpu-guest, and lintian passes them
#     (every override in debian/*.lintian-overrides says why);
#   - their contents and maintainer scripts: DKMS, sysusers, the ldconfig
#     trigger, udev rules that name the device IDs of include/vgpu/;
#   - DKMS builds vgpu_stub.ko from the packaged source against Debian 12's
#     6.1 headers (headers only, in a scratch DKMS tree: nothing is loaded
#     or installed on this machine; tests/pkg/stage-host.sh, which a system
#     test can use to lay out the host package for its VM);
#   - the systemd units pass `systemd-analyze verify` and keep their sandbox;
#   - vgpu-guest installed into a scratch root (dpkg --root, its maintainer
#     scripts included) gives `ldconfig -p` the shim's libcuda.so.1;
#   - the packaged vgpu, executor and shim run a cudart program (onto the
#     driver test double);
#   - make install DESTDIR=... lays out what the packages hold, and
#     make uninstall removes exactly that.
# The Debian packages it needs are installed with apt (downloads cached in
# .ci-cache/apt-archives); an install that fails is a failure.
set -u
. "$(dirname "$0")/../kmod/lib.sh"
cd "$REPO"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; fails=$((fails + 1)); }

# ---- packages ----
phase "apt packages"
ARCHIVES=$CACHE/apt-archives
mkdir -p "$ARCHIVES/partial"
need=(build-essential dpkg-dev debhelper dh-dkms dkms lintian python3 man-db linux-headers-amd64)
mapfile -t missing < <(dpkg-query -W -f='${Package} ${Status}\n' "${need[@]}" 2>/dev/null |
	awk -v want="${need[*]}" '$NF == "installed" { ok[$1] = 1 }
		END { n = split(want, w, " "); for (i = 1; i <= n; i++) if (!ok[w[i]]) print w[i] }')
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || skip "needs root to apt-get install ${missing[*]}"
	apt-get update -qq >/dev/null 2>&1
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		-o Dir::Cache::Archives="$ARCHIVES" "${missing[@]}" >"$T/apt.log" 2>&1 ||
		{ tail -n 5 "$T/apt.log"; die "apt-get install ${missing[*]} failed"; }
fi
# linux-headers-amd64 is Debian 12's 6.1 kernel: its headers package names the ABI.
KREL=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 |
       grep -o 'linux-headers-6\.1\.[0-9]*-[0-9]*-amd64' | head -n 1 | sed 's/^linux-headers-//')
[ -n "$KREL" ] || die "linux-headers-amd64 does not name a 6.1 headers package"
KDIR=/usr/src/linux-headers-$KREL
[ -e "$KDIR/Makefile" ] || die "$KDIR is missing"

# ---- build ----
phase "make deb"
make -s deb >"$T/deb.log" 2>&1 || { tail -n 30 "$T/deb.log"; die "make deb failed"; }
V=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
HOST_DEB=build/deb/vgpu-host_${V}_amd64.deb
GUEST_DEB=build/deb/vgpu-guest_${V}_amd64.deb
for d in "$HOST_DEB" "$GUEST_DEB"; do
	[ -f "$d" ] || die "make deb did not produce $d"
done
ok "make deb built $(basename "$HOST_DEB") and $(basename "$GUEST_DEB")"

phase "lintian"
# Every level fails, info and pedantic included, and so does an override
# that no longer applies (unused-override is an info tag).
if lintian --pedantic --display-info --fail-on error,warning,info,pedantic \
	"$HOST_DEB" "$GUEST_DEB" >"$T/lintian.log" 2>&1; then
	ok "lintian passes both packages"
else
	grep -v '^running with root' "$T/lintian.log"
	bad "lintian"
fi

# ---- contents ----
phase "contents"
list() { dpkg-deb -c "$1" | awk '{ print $6 }' | sed 's|^\./|/|'; }
list "$HOST_DEB" >"$T/host.list"
list "$GUEST_DEB" >"$T/guest.list"
has() {	# has LIST PATH...
	local l=$1 p
	shift
	for p in "$@"; do
		grep -qxF "$p" "$T/$l.list" && ok "$l has $p" || bad "$l lacks $p"
	done
}
has host /opt/vgpu/bin/vgpu-executor /usr/sbin/vgpu-executor \
	/lib/systemd/system/vgpu-executor-mdev.service /lib/systemd/system/vgpu-executor-local.service \
	/lib/udev/rules.d/70-vgpu-host.rules /usr/lib/modules-load.d/vgpu-stub.conf \
	/usr/lib/sysusers.d/vgpu-host.conf /etc/default/vgpu-executor /etc/modprobe.d/vgpu-stub.conf \
	"/usr/src/vgpu-stub-$V/dkms.conf" "/usr/src/vgpu-stub-$V/host-kmod/Kbuild" \
	"/usr/src/vgpu-stub-$V/include/vgpu/kmod_uapi.h" \
	/usr/share/doc/vgpu-host/examples/libvirt-xml/domain-vgpu.xml /usr/share/man/man8/vgpu-executor.8.gz
for c in host-kmod/*.c host-kmod/*.h; do
	has host "/usr/src/vgpu-stub-$V/$c"
done
has guest /opt/vgpu/lib/libcuda.so.1 /opt/vgpu/lib/libcuda.so /opt/vgpu/bin/vgpu /usr/bin/vgpu \
	/etc/ld.so.conf.d/vgpu.conf /lib/udev/rules.d/70-vgpu-guest.rules /lib/udev/vgpu-guest-bind \
	/usr/lib/sysusers.d/vgpu-guest.conf /usr/share/man/man1/vgpu.1.gz
# What the shim build has, the package has.
[ -e build/lib/libnvidia-ml.so.1 ] && has guest /opt/vgpu/lib/libnvidia-ml.so.1
[ -e build/bin/vgpu-smi ] && has guest /opt/vgpu/bin/vgpu-smi /usr/bin/vgpu-smi

dpkg-deb -x "$HOST_DEB" "$T/host"
dpkg-deb -e "$HOST_DEB" "$T/host-ctl"
dpkg-deb -x "$GUEST_DEB" "$T/guest"
dpkg-deb -e "$GUEST_DEB" "$T/guest-ctl"
grep -q "systemd-sysusers .*vgpu-host.conf" "$T/host-ctl/postinst" &&
	ok "host postinst creates user vgpu" || bad "host postinst does not run systemd-sysusers"
grep -q "common.postinst vgpu-stub\|DKMS_NAME=vgpu-stub" "$T/host-ctl/postinst" &&
	grep -q "dkms remove" "$T/host-ctl/prerm" &&
	ok "host maintainer scripts add and remove the DKMS module" || bad "host DKMS scripts"
grep -q "deb-systemd-invoke stop vgpu-executor-mdev.service" "$T/host-ctl/prerm" &&
	ok "host prerm stops the services" || bad "host prerm does not stop the services"
grep -q "systemd-sysusers .*vgpu-guest.conf" "$T/guest-ctl/postinst" &&
	ok "guest postinst creates group vgpu" || bad "guest postinst does not run systemd-sysusers"
grep -qx "activate-noawait ldconfig" "$T/guest-ctl/triggers" &&
	ok "guest activates the ldconfig trigger" || bad "guest has no ldconfig trigger"
grep -q '^vgpu_stub$' "$T/host/usr/lib/modules-load.d/vgpu-stub.conf" &&
	ok "modules-load.d loads vgpu_stub" || bad "modules-load.d entry"

# The udev rules name what the headers define.
hdr() { sed -n "s/^#define[[:space:]]*$1[[:space:]]*\([^[:space:]]*\).*/\1/p" "$2"; }
DEVNAME=$(hdr VGPU_KMOD_DEVICE_NAME include/vgpu/kmod_uapi.h | tr -d '"')
VEN=$(hdr VGPU_PCI_VENDOR_ID include/vgpu/regs.h)
DEV=$(hdr VGPU_PCI_DEVICE_ID include/vgpu/regs.h)
CLS=$(hdr VGPU_PCI_CLASS include/vgpu/regs.h)
[ -n "$DEVNAME" ] && [ -n "$VEN" ] && [ -n "$DEV" ] && [ -n "$CLS" ] ||
	die "cannot read the device IDs from include/vgpu/"
HR=$T/host/lib/udev/rules.d/70-vgpu-host.rules
GR=$T/guest/lib/udev/rules.d/70-vgpu-guest.rules
grep -q "KERNEL==\"$DEVNAME\".*GROUP=\"vgpu\".*TAG+=\"systemd\"" "$HR" &&
	ok "host rule: /dev/$DEVNAME group vgpu, systemd device" || bad "host rule does not match /dev/$DEVNAME"
for s in pci uio; do
	n=$(grep -v '^#' "$GR" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | grep "SUBSYSTEM==\"$s\"" |
	    grep -c "{vendor}==\"$VEN\".*{device}==\"$DEV\".*{class}==\"$CLS\"")
	[ "$n" -eq 1 ] && ok "guest $s rule matches $VEN:$DEV class $CLS" ||
		bad "guest $s rule does not match $VEN:$DEV class $CLS"
done
sh -n "$T/guest/lib/udev/vgpu-guest-bind" && grep -q uio_pci_generic "$T/guest/lib/udev/vgpu-guest-bind" &&
	ok "vgpu-guest-bind parses and binds uio_pci_generic" || bad "vgpu-guest-bind"

# ---- DKMS ----
phase "dkms build $KREL"
# tests/pkg/stage-host.sh: the host package laid out in a root, the module
# built by DKMS from its source (what a system test's VM runs).
S=$T/stage
had_key=$([ -e /var/lib/dkms/mok.key ] && echo yes)
if tests/pkg/stage-host.sh "$S" "$KREL" 2>"$T/stage.log"; then
	KO=$S/lib/modules/$KREL/updates/dkms/vgpu_stub.ko
	if [ -f "$KO" ] && modinfo -F vermagic "$KO" | grep -q "^$KREL " &&
	   [ "$(modinfo -F name "$KO")" = vgpu_stub ] && [ -x "$S/opt/vgpu/bin/vgpu-executor" ]; then
		ok "DKMS built vgpu_stub.ko for $KREL from the packaged source"
	else
		bad "stage-host.sh left no vgpu_stub.ko for $KREL"
	fi
else
	cat "$T/stage.log"
	bad "dkms build against $KREL"
fi
[ -z "$had_key" ] && [ -e /var/lib/dkms/mok.key ] && bad "DKMS made a signing key on this machine"
# BUILD_EXCLUSIVE_KERNEL: 6.1 and later only (host-kmod/compat.mk's range).
RE=$(sed -n 's/^BUILD_EXCLUSIVE_KERNEL="\(.*\)"$/\1/p' "$T/host/usr/src/vgpu-stub-$V/dkms.conf")
[ -n "$RE" ] || bad "dkms.conf has no BUILD_EXCLUSIVE_KERNEL"
for k in 6.1.0-57-amd64 6.12.9-amd64 6.19.0 7.3.1-rc2 10.0.0; do
	[[ $k =~ $RE ]] && ok "DKMS builds for $k" || bad "DKMS would skip $k"
done
for k in 6.0.12-amd64 5.10.0-30-amd64 4.19.0; do
	[[ $k =~ $RE ]] && bad "DKMS would build for $k" || ok "DKMS skips $k"
done

# ---- systemd units ----
phase "systemd units"
# systemd-analyze verify in a root holding the package and the system's
# units: it checks each key and that every command and man page exists
# there.  It reports some errors only as "ignoring" lines with status 0,
# so any output fails too.
R=$T/host
mkdir -p "$R/bin"
cp /bin/dash "$R/bin/sh"
cp -n /lib/systemd/system/*.target /lib/systemd/system/*.slice /lib/systemd/system/*.socket \
	"$R/lib/systemd/system/" 2>/dev/null
verify() {	# verify UNIT...: systemd-analyze verify's output; status 1 if any
	local out
	out=$(cd "$R" && MANPATH=$R/usr/share/man systemd-analyze verify --root="$R" "$@" 2>&1)
	local rc=$?
	[ -z "$out" ] && [ $rc -eq 0 ] && return 0
	echo "$out"
	return 1
}
UNITS=(/lib/systemd/system/vgpu-executor-mdev.service /lib/systemd/system/vgpu-executor-local.service)
verify "${UNITS[@]}" && ok "systemd-analyze verify: both units" || bad "systemd-analyze verify"
# The check can fail: a misspelt key is caught.
sed 's/^\[Service\]$/[Service]\nProtectSytem=strict/' "$R${UNITS[0]}" >"$R/lib/systemd/system/vgpu-typo.service"
verify /lib/systemd/system/vgpu-typo.service >/dev/null && bad "verify accepts a misspelt key" ||
	ok "verify rejects a misspelt key"
rm -f "$R/lib/systemd/system/vgpu-typo.service"
# The sandbox stays: systemd's exposure score (0-10, lower is tighter) is
# 1.5 for the VM frontend and 1.1 for the local transport today.
for u in "${UNITS[@]}"; do
	if (cd "$R" && systemd-analyze security --offline=yes --threshold=20 --root="$R" "$u" \
		>"$T/sec.log" 2>&1); then
		ok "$(basename "$u"): exposure $(grep -o 'level for .*: [0-9.]*' "$T/sec.log" | awk '{ print $NF }')"
	else
		grep "Overall" "$T/sec.log"
		bad "$(basename "$u"): exposure above 2.0"
	fi
done
grep -q '^WantedBy=dev-vgpu\\x2dstub.device$' "$R${UNITS[0]}" &&
	grep -q '^BindsTo=dev-vgpu\\x2dstub.device$' "$R${UNITS[0]}" &&
	ok "the VM frontend is started by and bound to /dev/vgpu-stub" ||
	bad "the VM frontend is not tied to /dev/vgpu-stub's device unit"

# ---- the guest package in a scratch root ----
phase "guest install (dpkg --root)"
G=$T/groot
mkdir -p "$G/var/lib/dpkg/info" "$G/var/lib/dpkg/updates" "$G/etc"
touch "$G/var/lib/dpkg/status"
printf 'include /etc/ld.so.conf.d/*.conf\n' >"$G/etc/ld.so.conf"
# Its maintainer scripts run outside the root with DPKG_ROOT set, as for a
# system being built; its dependencies are not in that root.
if dpkg --root="$G" --force-script-chrootless --force-depends --log=/dev/null \
	-i "$GUEST_DEB" >"$T/dpkg.log" 2>&1; then
	ok "dpkg --root installs vgpu-guest"
else
	cat "$T/dpkg.log"
	bad "dpkg --root -i vgpu-guest"
fi
grep -q '^vgpu:' "$G/etc/group" 2>/dev/null && ok "group vgpu created in the root" ||
	bad "no group vgpu in the root"
# What libc-bin's ldconfig trigger runs, then what Triton reads.
ldconfig -r "$G"
if ldconfig -r "$G" -p | grep -q 'libcuda\.so\.1 (libc6,x86-64) => /opt/vgpu/lib/libcuda\.so\.1$'; then
	ok "ldconfig -p lists /opt/vgpu/lib/libcuda.so.1"
else
	ldconfig -r "$G" -p
	bad "ldconfig -p does not list the shim"
fi
dpkg --root="$G" --force-script-chrootless --log=/dev/null -P vgpu-guest >"$T/dpkg.log" 2>&1 ||
	{ cat "$T/dpkg.log"; bad "dpkg --root -P vgpu-guest"; }
ldconfig -r "$G"
ldconfig -r "$G" -p | grep -q libcuda && bad "libcuda.so.1 still listed after purge" ||
	ok "purge takes the shim out of ldconfig's cache"
left=$(cd "$G" && find opt etc/ld.so.conf.d lib -mindepth 1 2>/dev/null)
[ -z "$left" ] && ok "purge leaves no file of vgpu-guest" || bad "purge left: $left"

# ---- the packaged programs run ----
phase "packaged programs run"
# Both packages in one root, as on a host that has both: the packaged vgpu
# (hardened, stripped) finds the packaged executor beside itself and the
# packaged shim in ../lib, and an unmodified cudart program runs through
# them onto the driver test double (tests/fakecuda/, not a driver).
P=$T/both
dpkg-deb -x "$HOST_DEB" "$P"
dpkg-deb -x "$GUEST_DEB" "$P"
NVCC=${CUDA_HOME:-/usr/local/cuda}/bin/nvcc
if ! make -s fakecuda >"$T/fake.log" 2>&1; then
	cat "$T/fake.log"
	bad "make fakecuda"
elif ! "$NVCC" -O2 -gencode arch=compute_90,code=sm_90 -cudart static -Itests/cuda \
	-o "$T/e2e_static" tests/cuda/e2e_runtime.cu >"$T/nvcc.log" 2>&1; then
	cat "$T/nvcc.log"
	bad "nvcc e2e_runtime.cu"
else
	# The timeout only ends a hang; the run takes seconds.
	out=$(VGPU_LIBCUDA=$REPO/build/fakecuda/libcuda.so.1 VGPU_SOCKET=$T/vgpu.sock \
		timeout 600 "$P/opt/vgpu/bin/vgpu" run -- "$T/e2e_static" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && grep -q '^PASSED' <<<"$out"; then
		ok "e2e_runtime (static cudart) through the packaged vgpu, shim and executor"
	else
		echo "$out" | tail -n 20
		bad "e2e_runtime through the packaged programs (exit $rc)"
	fi
fi

# ---- make install / uninstall ----
phase "make install"
# The packages' layout: same files, less what debhelper adds (changelog,
# copyright, compressed man pages and docs).
(set -a; . dist/debian-layout.mk; set +a; make -s install DESTDIR="$T/inst" >/dev/null) ||
	bad "make install DESTDIR (Debian layout)"
(cd "$T/inst" && find . ! -type d | sed 's|^\.||' | grep -v '^/opt/vgpu/share/vgpu/' | sort) \
	>"$T/inst.list"
cat "$T/host.list" "$T/guest.list" | grep -v '/$' | sed 's/\.gz$//' |
	grep -v '^/usr/share/doc/vgpu-[a-z]*/\(changelog\|copyright\)$' |
	grep -v '^/usr/share/lintian/overrides/' | sort >"$T/deb.list"
if diff -u "$T/deb.list" "$T/inst.list" >"$T/layout.diff"; then
	ok "make install lays out what the packages hold ($(wc -l <"$T/inst.list") files)"
else
	cat "$T/layout.diff"
	bad "make install and the packages differ"
fi
[ "$(stat -c %a "$T/inst/opt/vgpu/lib/libcuda.so.1")" = 644 ] &&
	[ "$(stat -c %a "$T/inst/opt/vgpu/bin/vgpu-executor")" = 755 ] &&
	ok "modes: library 0644, programs 0755" || bad "modes of the installed files"
grep -qx /opt/vgpu/lib "$T/inst/etc/ld.so.conf.d/vgpu.conf" &&
	grep -q '^ExecStart=/opt/vgpu/bin/vgpu-executor --mdev' \
		"$T/inst/lib/systemd/system/vgpu-executor-mdev.service" &&
	ok "templates carry the install paths" || bad "templates"
(set -a; . dist/debian-layout.mk; set +a; make -s uninstall DESTDIR="$T/inst" >/dev/null) ||
	bad "make uninstall DESTDIR (Debian layout)"
left=$(cd "$T/inst" && find . -mindepth 1)
[ -z "$left" ] && ok "make uninstall leaves nothing behind" || bad "make uninstall left: $left"

phase "make uninstall: exactly"
# Defaults, PREFIX=/usr/local, a tree that has things of its own before
# and after; the sides installed and removed in different orders.
D=$T/inst2
mkdir -p "$D/usr/local/bin" "$D/etc/ld.so.conf.d"
echo mine >"$D/usr/local/bin/other"
echo mine >"$D/etc/ld.so.conf.d/other.conf"
make -s install-host install-guest DESTDIR="$D" PREFIX=/usr/local >/dev/null || bad "make install-host install-guest"
[ -x "$D/usr/local/bin/vgpu" ] && [ -x "$D/usr/local/bin/vgpu-executor" ] &&
	[ ! -e "$D/usr/local/sbin/vgpu-executor" ] && ok "PREFIX=/usr/local: programs in its bin/, no links" ||
	bad "PREFIX=/usr/local layout"
echo later >"$D/usr/local/lib/user-file"
make -s uninstall-host DESTDIR="$D" PREFIX=/usr/local >/dev/null || bad "make uninstall-host"
[ -x "$D/usr/local/bin/vgpu" ] && [ ! -e "$D/usr/local/bin/vgpu-executor" ] &&
	ok "uninstall-host leaves the guest side" || bad "uninstall-host removed the wrong side"
make -s uninstall-guest DESTDIR="$D" PREFIX=/usr/local >/dev/null || bad "make uninstall-guest"
left=$(cd "$D" && find . -mindepth 1 | sort | tr '\n' ' ')
want="./etc ./etc/ld.so.conf.d ./etc/ld.so.conf.d/other.conf ./usr ./usr/local ./usr/local/bin ./usr/local/bin/other ./usr/local/lib ./usr/local/lib/user-file "
[ "$left" = "$want" ] && ok "uninstall removed exactly what install put there" ||
	bad "after uninstall: $left (want $want)"
if make -s uninstall-guest DESTDIR="$D" PREFIX=/usr/local >/dev/null 2>&1; then
	bad "uninstall with nothing installed succeeds"
else
	ok "uninstall with nothing installed is an error"
fi

total_time
[ "$fails" -eq 0 ] || die "$fails check(s) failed"
echo "PASS"
