# Where the Debian packages put things: make install's variables for
# Debian 12 (debian/rules includes this; tests/pkg/t-packages.sh sources it
# as shell to check that make install gives the packages' layout).
PREFIX=/opt/vgpu
SYSCONFDIR=/etc
MANDIR=/usr/share/man
DOCDIR=/usr/share/doc
BINLINKDIR=/usr/bin
SBINLINKDIR=/usr/sbin
DKMSSRCDIR=/usr/src
SYSTEMDUNITDIR=/lib/systemd/system
UDEVDIR=/lib/udev
MODULESLOADDIR=/usr/lib/modules-load.d
SYSUSERSDIR=/usr/lib/sysusers.d
