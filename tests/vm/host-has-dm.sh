#!/bin/sh
# host-has-dm.sh - exit 0 if this machine can run dm-crypt itself (so tests
# may skip the VM), 1 otherwise. Needs root to be meaningful. -v explains.
set -eu

VERBOSE=0
[ "${1:-}" = -v ] && VERBOSE=1
no() { [ "$VERBOSE" = 0 ] || echo "host-has-dm: no: $*" >&2; exit 1; }

# device-mapper registers a misc device; load it if it is modular.
if ! grep -qw device-mapper /proc/misc 2> /dev/null; then
	modprobe dm-mod > /dev/null 2>&1 || true
	grep -qw device-mapper /proc/misc 2> /dev/null || no "no device-mapper in the kernel"
fi

# Without udev (containers) the control node may be missing: create it.
if [ ! -c /dev/mapper/control ]; then
	minor=$(awk '$2 == "device-mapper" { print $1 }' /proc/misc)
	mkdir -p /dev/mapper 2> /dev/null || true
	mknod /dev/mapper/control c 10 "$minor" 2> /dev/null || no "cannot create /dev/mapper/control"
fi

# The crypt target must be there (built in, loaded, or loadable).
[ -d /sys/module/dm_crypt ] || modprobe dm-crypt > /dev/null 2>&1 || no "dm-crypt target unavailable"

# Finally talk to the kernel: a device cgroup or missing privilege shows here.
if command -v dmsetup > /dev/null 2>&1; then
	dmsetup targets 2> /dev/null | grep -qw crypt || no "dmsetup cannot list a crypt target"
fi
[ "$VERBOSE" = 0 ] || echo "host-has-dm: yes" >&2
exit 0
