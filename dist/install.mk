# Installation: make install-host, install-guest, install (both), the
# matching uninstall targets, and make deb (the Debian packages vgpu-host
# and vgpu-guest, through dpkg-buildpackage).  dist/install.sh does the work
# and keeps a manifest, so uninstall removes exactly what install put there.
#
# Every path can be set on the command line, with DESTDIR for a staging
# root.  The defaults are this system's (pkg-config's systemd and udev
# folders) with vgpu's own files under PREFIX (/opt/vgpu): vgpu run finds
# the shim in ../lib next to its own bin/, and the shim stays out of the
# folders where NVIDIA's libcuda.so.1 lives.

VGPU_VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
PREFIX ?= /opt/vgpu
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc
SYSCONFDIR ?= /etc
# Where links to the commands go, so that they are on the PATH: none when
# PREFIX is on it already (empty: none).
PATH_PREFIX = $(filter /usr /usr/local,$(PREFIX))
BINLINKDIR ?= $(if $(PATH_PREFIX),,/usr/local/bin)
SBINLINKDIR ?= $(if $(PATH_PREFIX),,/usr/local/sbin)
DKMSSRCDIR ?= /usr/src
SYSTEMDUNITDIR ?= $(or $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null),/usr/lib/systemd/system)
UDEVDIR ?= $(or $(shell pkg-config --variable=udevdir udev 2>/dev/null),/usr/lib/udev)
MODULESLOADDIR ?= $(or $(shell pkg-config --variable=modulesloaddir systemd 2>/dev/null),/usr/lib/modules-load.d)
SYSUSERSDIR ?= $(or $(shell pkg-config --variable=sysusersdir systemd 2>/dev/null),/usr/lib/sysusers.d)

INSTALL_ENV = DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" BINDIR="$(BINDIR)" LIBDIR="$(LIBDIR)" \
	MANDIR="$(MANDIR)" DOCDIR="$(DOCDIR)" SYSCONFDIR="$(SYSCONFDIR)" \
	BINLINKDIR="$(BINLINKDIR)" SBINLINKDIR="$(SBINLINKDIR)" DKMSSRCDIR="$(DKMSSRCDIR)" \
	SYSTEMDUNITDIR="$(SYSTEMDUNITDIR)" UDEVDIR="$(UDEVDIR)" MODULESLOADDIR="$(MODULESLOADDIR)" \
	SYSUSERSDIR="$(SYSUSERSDIR)" VGPU_VERSION="$(VGPU_VERSION)" BUILD="$(CURDIR)/$(B)" \
	VGPU_MANIFEST="$(VGPU_MANIFEST)"
VGPU_MANIFEST ?= yes

.PHONY: install install-host install-guest uninstall uninstall-host uninstall-guest deb
install: install-host install-guest
uninstall: uninstall-host uninstall-guest

install-host: executor
	$(INSTALL_ENV) dist/install.sh install host

install-guest: shim tools
	$(INSTALL_ENV) dist/install.sh install guest

uninstall-host:
	$(INSTALL_ENV) dist/install.sh uninstall host

uninstall-guest:
	$(INSTALL_ENV) dist/install.sh uninstall guest

# The packages are built from a copy of the tree in $(B)/deb/, so that
# dpkg-buildpackage's clean and its files beside the source touch neither
# this tree nor its build/.  They land in $(B)/deb/*.deb.
DEB_SRC := $(B)/deb/vgpu-$(VGPU_VERSION)
deb:
	rm -rf $(B)/deb
	mkdir -p $(DEB_SRC)
	tar -c --exclude=./$(B) --exclude=./.git --exclude=./.ci-cache . | tar -x -C $(DEB_SRC)
	cd $(DEB_SRC) && dpkg-buildpackage -b -us -uc $(DEB_BUILD_OPTS)
	@ls $(B)/deb/*.deb
