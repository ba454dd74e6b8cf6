#!/bin/sh
# /init of the system-test VM (busybox).  Loads vfio, vfio_iommu_type1, mdev
# and vgpu_stub; creates instances through sysfs and through mdevctl with the
# definition from libvirt-xml/; starts the executor's mdev frontend; drives
# one instance as QEMU does (test/vfio_client), checks that tenants of one
# instance and guests of different instances cannot reach each other; removes
# one while it is open and served; unloads; loads again with the physical-GPU
# parent option.
# Prints "VGPU-TEST: RESULT PASS|FAIL" and powers off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin:/test
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mkdir -p /dev/pts /run /etc/mdevctl.d/scripts.d/callouts /etc/mdevctl.d/scripts.d/notifiers
RC=0
T0=$(cut -d' ' -f1 /proc/uptime)
ok() { echo "VGPU-TEST: ok - $*"; }
bad() { echo "VGPU-TEST: not ok - $*"; RC=1; }
check() { # check DESCRIPTION CMD...
	d=$1; shift
	if "$@"; then ok "$d"; else bad "$d"; fi
}
phase() { echo "VGPU-TEST: phase $* at $(cut -d' ' -f1 /proc/uptime)s"; }
# timed SECONDS CMD...: run CMD; if it overruns, say where every thread of it
# and every blocked task is in the kernel (a hang must explain itself), then
# kill it.  Returns CMD's status, or 124 after a timeout.
timed() {
	lim=$1; shift
	"$@" &
	tp=$!
	i=0
	while kill -0 $tp 2>/dev/null && [ $i -lt $((lim * 10)) ]; do sleep 0.1; i=$((i + 1)); done
	if kill -0 $tp 2>/dev/null; then
		echo "VGPU-TEST: # $1 overran ${lim}s: its threads in the kernel:"
		for t in /proc/$tp/task/*; do
			echo "VGPU-TEST: # thread ${t##*/} $(cat $t/stat 2>/dev/null | cut -d' ' -f3) wchan $(cat $t/wchan 2>/dev/null)"
			sed 's/^/VGPU-TEST: #   /' $t/stack 2>/dev/null
		done
		for p in $(pidof vgpu-executor); do
			for t in /proc/$p/task/*; do
				echo "VGPU-TEST: # executor $p/${t##*/} $(cut -d' ' -f3 $t/stat) wchan $(cat $t/wchan 2>/dev/null)"
				sed 's/^/VGPU-TEST: #   /' $t/stack 2>/dev/null
			done
		done
		echo w >/proc/sysrq-trigger 2>/dev/null
		dmesg | tail -n 60 | sed 's/^/VGPU-TEST: # dmesg: /'
		kill -9 $tp 2>/dev/null
		wait $tp 2>/dev/null
		return 124
	fi
	wait $tp
}
finish() {
	dmesg >/tmp/dmesg
	if grep -E "WARNING:|BUG:|Oops|Call Trace|general protection|refcount_t|list_(add|del) corruption|UBSAN|KASAN|Unknown symbol|disagrees" /tmp/dmesg; then
		bad "the kernel log is clean"
	else
		ok "the kernel log is clean (no WARN/BUG/Oops/unknown symbols)"
	fi
	grep -i "vgpu" /tmp/dmesg | sed 's/^/VGPU-TEST: # dmesg: /'
	if [ $RC -eq 0 ]; then echo "VGPU-TEST: RESULT PASS"; else echo "VGPU-TEST: RESULT FAIL"; fi
	sync
	poweroff -f
}

U1=6b1c29f2-5b1e-4c4e-9d7b-0f2a1c3e5d71
U2=5a3f8c2e-8e1b-4b7a-9d6c-2f4e1a0b3c7d
U3=0e8d4c1a-3b2f-4a6e-8c9d-7f1e2d3c4b5a

phase "modules"
echo "VGPU-TEST: # kernel $(uname -r)"
for m in $(cat /modules.order); do
	check "insmod $m" insmod /lib/modules/$m.ko
done
check "insmod vgpu_stub" insmod /lib/modules/vgpu_stub.ko
[ -c /dev/vgpu-stub ] && ok "/dev/vgpu-stub exists" || bad "/dev/vgpu-stub exists"
[ "$(stat -c %a /dev/vgpu-stub)" = 600 ] && ok "/dev/vgpu-stub is 0600" || bad "/dev/vgpu-stub is 0600 ($(stat -c %a /dev/vgpu-stub))"

phase "types"
P=/sys/class/mdev_bus/vgpu_stub
T=$P/mdev_supported_types
[ -d "$T" ] || { bad "parent $P has mdev_supported_types"; finish; }
for t in 4g 8g 16g 40g full; do
	[ -d "$T/vgpu_stub-$t" ] && ok "type vgpu_stub-$t" || bad "type vgpu_stub-$t"
done
echo "VGPU-TEST: # $(cat $T/vgpu_stub-4g/name): $(cat $T/vgpu_stub-4g/description)"
[ "$(cat $T/vgpu_stub-4g/available_instances)" = 20 ] && ok "4g: 20 available" || bad "4g available: $(cat $T/vgpu_stub-4g/available_instances)"
[ "$(cat $T/vgpu_stub-full/available_instances)" = 1 ] && ok "full: 1 available" || bad "full available"
[ "$(cat $T/vgpu_stub-4g/device_api)" = vfio-pci ] && ok "device_api vfio-pci" || bad "device_api"

phase "create through sysfs"
check "create $U1 through sysfs" sh -c "echo $U1 > $T/vgpu_stub-4g/create"
D1=/sys/bus/mdev/devices/$U1
[ -d $D1 ] && ok "instance $U1 exists" || bad "instance $U1 exists"
check "set vm_id through sysfs" sh -c "echo 7 > $D1/vm_id"
[ "$(cat $D1/vm_id)" = 7 ] && ok "vm_id reads 7" || bad "vm_id reads $(cat $D1/vm_id)"
[ "$(cat $T/vgpu_stub-4g/available_instances)" = 19 ] && ok "4g: 19 left" || bad "4g left $(cat $T/vgpu_stub-4g/available_instances)"
[ "$(cat $T/vgpu_stub-full/available_instances)" = 0 ] && ok "full: none left" || bad "full left"
if echo $U3 > $T/vgpu_stub-full/create 2>/dev/null; then bad "over-budget create refused"; else ok "over-budget create refused"; fi
if echo not-a-uuid > $T/vgpu_stub-4g/create 2>/dev/null; then bad "bad uuid refused"; else ok "bad uuid refused"; fi
if echo abc > $D1/vm_id 2>/dev/null; then bad "bad vm_id refused"; else ok "bad vm_id refused"; fi

phase "char device, no executor yet"
vfio_client chardev $U1 >/tmp/cd.log 2>&1
crc=$?
sed 's/^/VGPU-TEST: /' /tmp/cd.log
[ $crc = 0 ] && ok "chardev checks" || bad "chardev checks (exit $crc)"

phase "tenants: a new session sees nothing of the last"
timed 120 vfio_client tenants $D1 >/tmp/tn.log 2>&1
trc=$?
sed 's/^/VGPU-TEST: /' /tmp/tn.log
[ $trc = 0 ] && ok "tenant isolation across sessions" || bad "tenant isolation across sessions (exit $trc)"

phase "mdevctl"
check "mdevctl define from libvirt-xml/" mdevctl define -u $U2 -p vgpu_stub --jsonfile /test/mdevctl-vgpu-4g.json
mdevctl list --defined 2>&1 | sed 's/^/VGPU-TEST: # /'
check "mdevctl start" mdevctl start -u $U2
D2=/sys/bus/mdev/devices/$U2
[ -d $D2 ] && ok "instance $U2 exists" || bad "instance $U2 exists"
[ "$(cat $D2/vm_id 2>/dev/null)" = 42 ] && ok "mdevctl set vm_id=42" || bad "vm_id after mdevctl: $(cat $D2/vm_id 2>/dev/null)"
ID2=$(cat $D2/vgpu_instance 2>/dev/null)
mdevctl list 2>&1 | sed 's/^/VGPU-TEST: # /'
mdevctl types 2>&1 | head -n 8 | sed 's/^/VGPU-TEST: # /'

phase "executor frontend"
if [ -f /test/libcuda.so.1 ]; then
	export VGPU_LIBCUDA=/test/libcuda.so.1
	echo "VGPU-TEST: # workers load the fake CUDA driver (tests/fakecuda)"
else
	# The real worker without any driver: HELLO gets CUDA_ERROR_NO_DEVICE.
	export VGPU_EXPECT_HELLO_STATUS=100
	echo "VGPU-TEST: # no fake CUDA driver in this tree: HELLO must answer CUDA_ERROR_NO_DEVICE"
fi
vgpu-executor --mdev /dev/vgpu-stub -v >/tmp/fe.log 2>&1 &
FE=$!
sleep 1
kill -0 $FE 2>/dev/null && ok "frontend runs" || { bad "frontend runs"; cat /tmp/fe.log; }
# Through a file, not a pipe: a pipe into sed would hide the client's exit status.
vfio_client chardev-busy >/tmp/busy.log 2>&1
brc=$?
sed 's/^/VGPU-TEST: /' /tmp/busy.log
[ $brc = 0 ] && ok "vfio_client chardev-busy" || bad "vfio_client chardev-busy (exit $brc)"

phase "QEMU's ioctl sequence against $U1"
vfio_client qemu $D1 >/tmp/client.log 2>&1
crc=$?
sed 's/^/VGPU-TEST: /' /tmp/client.log
[ $crc = 0 ] && ok "vfio_client qemu" || bad "vfio_client qemu (exit $crc)"

phase "stress"
timed 120 vfio_client stress $D1 3 >/tmp/stress.log 2>&1
src=$?
sed 's/^/VGPU-TEST: /' /tmp/stress.log
[ $src = 0 ] && ok "stress" || bad "stress (exit $src)"

phase "isolation: one guest's reset flood leaves another's service alone"
timed 300 vfio_client flood $D1 $D2 10000 >/tmp/flood.log 2>&1
frc=$?
sed 's/^/VGPU-TEST: /' /tmp/flood.log
[ $frc = 0 ] && ok "reset flood of one instance" || bad "reset flood of one instance (exit $frc)"
grep -q "events lost" /tmp/fe.log && bad "the executor lost events" || ok "the executor lost no events"

if [ -x /usr/bin/qemu-system-x86_64 ]; then
	phase "nested: QEMU 7.2 gives $U1 to a guest"
	timeout 400 qemu-system-x86_64 -machine pc -cpu max -m 256 -smp 1 -nodefaults \
		-no-user-config -display none -vga none -monitor none -serial stdio -no-reboot \
		-kernel /test/l2-vmlinuz -initrd /test/l2-initrd.gz \
		-append "console=ttyS0 panic=-1 loglevel=3 rdinit=/init" \
		-device vfio-pci,sysfsdev=$D1 >/tmp/l2.log 2>&1
	qrc=$?
	grep -E "^L2:|qemu|vfio" /tmp/l2.log | sed 's/^/VGPU-TEST: # /'
	want=100
	[ -n "${VGPU_LIBCUDA:-}" ] && want=0
	tr -d '\r' </tmp/l2.log >/tmp/l2.txt
	grep -qx "L2: HELLO answered, status $want" /tmp/l2.txt && grep -q "^L2: PASS" /tmp/l2.txt &&
		ok "nested guest: uio_pci_generic binds, HELLO answered ($want) through INTx" ||
		{ bad "nested guest (qemu exit $qrc)"; tail -n 30 /tmp/l2.log | sed 's/^/VGPU-TEST: # /'; }
fi

phase "the executor dies while serving; another takes over"
rm -f /tmp/served
vfio_client restart $D2 /tmp/served >/tmp/restart.log 2>&1 &
RS=$!
i=0; while [ ! -e /tmp/served ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
kill -9 $FE
wait $FE 2>/dev/null
sleep 1
[ -z "$(pidof vgpu-executor)" ] && ok "its workers died with it" || bad "workers left: $(pidof vgpu-executor)"
vgpu-executor --mdev /dev/vgpu-stub -v >>/tmp/fe.log 2>&1 &
FE=$!
wait $RS; rrc=$?
sed 's/^/VGPU-TEST: /' /tmp/restart.log
[ $rrc = 0 ] && ok "served again after an executor restart" || bad "restart (exit $rrc)"

phase "remove while open and served"
rm -f /tmp/held
vfio_client hold $D2 /tmp/held >/tmp/hold.log 2>&1 &
H=$!
i=0; while [ ! -e /tmp/held ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
sleep 1
check "removal of an open instance completes" sh -c "echo 1 > $D2/remove"
wait $H; hrc=$?
sed 's/^/VGPU-TEST: /' /tmp/hold.log
[ $hrc = 0 ] && ok "holder released on REQ" || bad "holder (exit $hrc)"
[ ! -e $D2 ] && ok "$U2 is gone" || bad "$U2 is gone"
sleep 1
grep -q "instance $ID2 removed" /tmp/fe.log && ok "executor saw the removal" || bad "executor saw the removal"

phase "stop"
kill $FE; wait $FE; frc=$?
[ $frc = 0 ] && ok "frontend stopped cleanly" || bad "frontend exit $frc"
sed 's/^/VGPU-TEST: # /' /tmp/fe.log
[ -z "$(pidof vgpu-executor)" ] && ok "no executor process left" || bad "processes left: $(ps)"
check "remove $U1 through sysfs" sh -c "echo 1 > $D1/remove"
check "mdevctl undefine" mdevctl undefine -u $U2
[ "$(cat $T/vgpu_stub-full/available_instances)" = 1 ] && ok "budget restored" || bad "budget restored"
check "rmmod vgpu_stub" rmmod vgpu_stub
[ ! -e /dev/vgpu-stub ] && [ ! -e $P ] && ok "nothing left behind" || bad "leftovers"

phase "parent on a PCI device"
PCI=$(ls /sys/bus/pci/devices | tail -n 1)
check "insmod vgpu_stub parent_pci=$PCI" insmod /lib/modules/vgpu_stub.ko parent_pci=$PCI
PT=/sys/bus/pci/devices/$PCI/mdev_supported_types
ls $PT 2>&1 | sed 's/^/VGPU-TEST: # /'
PT4=$(ls -d $PT/*-4g 2>/dev/null | head -n 1)
[ -n "$PT4" ] && ok "types under the PCI device" || bad "types under the PCI device"
check "create on the PCI parent" sh -c "echo $U3 > $PT4/create"
[ -e /sys/bus/pci/devices/$PCI/$U3 ] && ok "instance under the PCI device" || bad "instance under the PCI device"
check "remove it" sh -c "echo 1 > /sys/bus/mdev/devices/$U3/remove"
check "rmmod vgpu_stub" rmmod vgpu_stub
if insmod /lib/modules/vgpu_stub.ko fb_total_mib=0 2>/dev/null; then
	bad "fb_total_mib=0 is refused"; rmmod vgpu_stub
else
	ok "fb_total_mib=0 is refused"
fi
if insmod /lib/modules/vgpu_stub.ko parent_pci=0000:7f:1f.7 2>/dev/null; then
	bad "a missing PCI parent is refused"; rmmod vgpu_stub
else
	ok "a missing PCI parent is refused"
fi
for m in $(cat /modules.order | tac 2>/dev/null || sed '1!G;h;$!d' /modules.order); do
	rmmod $m 2>/dev/null
done
echo "VGPU-TEST: # guest time $(awk -v a=$T0 -v b=$(cut -d' ' -f1 /proc/uptime) 'BEGIN{print b-a}')s"
finish
