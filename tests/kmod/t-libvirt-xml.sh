#!/bin/bash
# libvirt-xml/: the domain, hostdev snippet and nodedev validate against
# Debian's libvirt schemas offline (virt-xml-validate, no daemon); the mdevctl
# definition is JSON of mdevctl's shape.  Broken input must be rejected.
set -u
. "$(dirname "$0")/lib.sh"
X=$REPO/libvirt-xml
phase "packages"
apt_install libvirt-clients libvirt0 libxml2-utils jq
command -v virt-xml-validate >/dev/null || skip "virt-xml-validate missing"
phase "validate"
fails=0
check() {	# check TYPE FILE
	if virt-xml-validate "$2" "$1" >/dev/null 2>&1; then
		echo "ok - $(basename "$2") is a valid $1"
	else
		echo "not ok - $(basename "$2") ($1):"; virt-xml-validate "$2" "$1" 2>&1 | sed 's/^/    /'
		fails=$((fails + 1))
	fi
}
check domain "$X/domain-vgpu.xml"
check nodedev "$X/nodedev-vgpu-4g.xml"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The snippet, inside a skeleton domain.
{ echo "<domain type='kvm'><name>t</name><memory>1048576</memory><os><type>hvm</type></os><devices>"
  grep -v '^<!--\|^     \|-->$' "$X/hostdev-mdev.xml"
  echo "</devices></domain>"; } >"$tmp/snippet-domain.xml"
check domain "$tmp/snippet-domain.xml"
grep -q "$(grep -o "uuid='[^']*'" "$X/hostdev-mdev.xml")" "$X/domain-vgpu.xml" ||
	{ echo "not ok - domain and snippet name different instances"; fails=$((fails + 1)); }
# Negative: the validator must reject a broken hostdev.
sed "s/type='mdev'/type='bogus'/" "$X/domain-vgpu.xml" >"$tmp/bad.xml"
if virt-xml-validate "$tmp/bad.xml" domain >/dev/null 2>&1; then
	echo "not ok - a bogus hostdev type validated"; fails=$((fails + 1))
else
	echo "ok - a bogus hostdev type is rejected"
fi
if jq -e '.mdev_type == "vgpu_stub-4g" and (.start == "manual" or .start == "auto") and
	  (.attrs | type == "array") and (.attrs[0].vm_id | type == "string")' \
	  "$X/mdevctl-vgpu-4g.json" >/dev/null; then
	echo "ok - mdevctl-vgpu-4g.json has mdevctl's shape"
else
	echo "not ok - mdevctl-vgpu-4g.json"; fails=$((fails + 1))
fi
total_time
[ $fails -eq 0 ] || die "$fails checks failed"
echo "libvirt-xml: all valid"
