#!/bin/sh
# make demo: build the driver and run its main job locally (tests/demo.py):
# a full encrypted volume lifecycle through the real CSI sockets. Runs in
# the qemu VM of tests/vm when this kernel has no device-mapper.
set -eu
cd "$(dirname "$0")/.."
make -j2 all >/dev/null
if tests/vm/host-has-dm.sh; then
	export LCW_E2E_SCRATCH=/var/tmp/lcw-demo
	mkdir -p "$LCW_E2E_SCRATCH"
	exec /usr/bin/python3 tests/demo.py
fi
echo "(this kernel has no device-mapper: running the demo in a qemu VM, see tests/vm)"
exec tests/vm/vm-run.sh --timeout 900 -- /usr/bin/python3 tests/demo.py
