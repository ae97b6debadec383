#!/bin/sh
# make demo: build and run the driver's main job locally (see tests/demo.py).
set -eu
cd "$(dirname "$0")/.."
make -j2 all >/dev/null
exec /usr/bin/python3 tests/demo.py
