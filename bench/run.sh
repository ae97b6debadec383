#!/bin/sh
# bench/run.sh [--quick] [latency] [throughput] [memory]
# bench/run.sh s3 [--quick]     the S3 backend versus stock rclone (s3_bench.py, ~20 min)
#
# Builds the driver, then runs the benchmarks (all three by default) where
# device-mapper exists: on this host if it has it, otherwise in one boot of
# the qemu VM of tests/vm. Prints the results table and writes it to
# bench/results.md. Run as root from anywhere.
set -eu
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/run.sh: run as root" >&2; exit 2; }
start=$(date +%s)
make -j2 all > /dev/null
script=bench/bench.py timeout=1500
if [ "${1:-}" = s3 ]; then
	shift
	script=bench/s3_bench.py timeout=1800
	tests/s3/s3rver.sh install # s3rver (npm), once on the host
fi
# Which source the numbers belong to (recorded in results.md).
LCW_BENCH_REV=$(git describe --tags --always --dirty 2> /dev/null || echo unknown)
export LCW_BENCH_REV
if tests/vm/host-has-dm.sh; then
	export LCW_BENCH_SCRATCH="${LCW_BENCH_SCRATCH:-/var/tmp/lcw-bench}"
	/usr/bin/python3 "$script" "$@" && rc=0 || rc=$?
else
	echo "(no device-mapper on this kernel: running the benchmarks in a qemu VM, see tests/vm)" >&2
	# 4 GiB guest RAM; a sparse 8 GiB /scratch for the backing files.
	tests/vm/vm-run.sh --mem 4096M --smp 2 --scratch-size 8G --timeout "$timeout" \
		--env "LCW_BENCH_WHERE=the qemu TCG VM of tests/vm" --env "LCW_BENCH_REV=$LCW_BENCH_REV" \
		-- /usr/bin/python3 "$script" "$@" && rc=0 || rc=$?
fi
echo "bench/run.sh: exit $rc after $(( $(date +%s) - start )) s wall time (VM boot included)" >&2
exit "$rc"
