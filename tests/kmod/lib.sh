# Shared helpers of the kernel-module tests (sourced).
# REPO, CACHE (.ci-cache/, ignored by git), phase timing, apt installs.  A
# test skips (exit 77) only for a prerequisite it names and cannot get
# itself (root, QEMU); a package or kernel it needs and fails to install,
# download or unpack is a failure, not a skip.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${VGPU_CI_CACHE:-$REPO/.ci-cache}
mkdir -p "$CACHE"
T0=$(date +%s.%N)
PHASE_T=$T0
PHASE_NAME=

phase() {	# phase NAME: close the previous phase, print its time
	local now
	now=$(date +%s.%N)
	if [ -n "$PHASE_NAME" ]; then
		awk -v a="$PHASE_T" -v b="$now" -v n="$PHASE_NAME" \
			'BEGIN { printf "phase %-28s %6.1fs\n", n, b - a }'
	fi
	PHASE_T=$now
	PHASE_NAME=$1
}

total_time() {
	phase ""
	awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "total %.1fs\n", b - a }'
}

skip() {	# skip REASON: the last line says why
	echo "SKIP: $*"
	exit 77
}

die() {
	echo "FAIL: $*"
	exit 1
}

APT_UPDATED=
apt_install() {	# apt_install PKG...: install what is missing, or fail
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || skip "needs root to apt-get install ${missing[*]}"
	if [ -z "$APT_UPDATED" ]; then
		apt-get update -qq >/dev/null 2>&1 || true
		APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >"$CACHE/apt.log" 2>&1 ||
		die "apt-get install ${missing[*]} failed: $(tail -n 1 "$CACHE/apt.log")"
}
