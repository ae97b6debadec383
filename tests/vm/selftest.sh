#!/bin/bash
# selftest.sh - check that vm-run.sh gives a usable VM: boot, dm-crypt/LUKS
# with ext4 and xfs, python grpc, the rw share, exit status, FUSE, timeout.
# Each check is its own VM run and is timed. Run as root from anywhere.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd -P)
VM=$HERE/vm-run.sh
FAILED=0
exec 3>&1          # progress lines go here even when a check's stdout is redirected

# check NAME EXPECTED_STATUS vm-run-args...: run one VM, compare exit status.
check() {
	local name=$1 want=$2 start rc elapsed
	shift 2
	echo "=== $name" >&3
	start=$(date +%s.%N)
	rc=0
	"$@" || rc=$?
	elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	if [ "$rc" = "$want" ]; then
		echo "--- PASS $name (${elapsed}s)" >&3
	else
		echo "--- FAIL $name: exit $rc, wanted $want (${elapsed}s)" >&3
		FAILED=1
	fi
}

cd "$HERE"

check "boot: uname/id" 0 "$VM" -- sh -c 'uname -r; id'

# LUKS2 on a file on /scratch; cryptsetup attaches the loop device itself.
check "luks + ext4 (64 MiB)" 0 "$VM" -- bash -c '
	set -eux
	test -c /dev/mapper/control
	test "$DM_DISABLE_UDEV" = 1
	truncate -s 64M /scratch/luks.img
	printf secret | cryptsetup luksFormat --batch-mode --pbkdf pbkdf2 \
		--pbkdf-force-iterations 1000 /scratch/luks.img
	printf secret | cryptsetup open /scratch/luks.img lcwtest
	mkfs.ext4 -q /dev/mapper/lcwtest
	mkdir -p /mnt/t && mount /dev/mapper/lcwtest /mnt/t
	echo hello-luks > /mnt/t/f && sync
	test "$(cat /mnt/t/f)" = hello-luks
	umount /mnt/t
	cryptsetup close lcwtest
	test ! -e /dev/mapper/lcwtest'

check "luks + xfs (320 MiB)" 0 "$VM" -- bash -c '
	set -eux
	truncate -s 320M /scratch/luks.img
	printf secret | cryptsetup luksFormat --batch-mode --pbkdf pbkdf2 \
		--pbkdf-force-iterations 1000 /scratch/luks.img
	printf secret | cryptsetup open /scratch/luks.img lcwxfs
	mkfs.xfs -q /dev/mapper/lcwxfs
	mkdir -p /mnt/x && mount /dev/mapper/lcwxfs /mnt/x
	echo hello-xfs > /mnt/x/f && sync
	test "$(cat /mnt/x/f)" = hello-xfs
	umount /mnt/x
	cryptsetup close lcwxfs'

check "python3 grpc" 0 "$VM" -- /usr/bin/python3 -c 'import grpc; print("grpc", grpc.__version__)'

# The share defaults to the cwd (this directory), mounted at the same path.
marker=$HERE/.selftest-share.$$
check "rw share write" 0 "$VM" --env "MARK=$marker" -- sh -c 'test "$PWD" = "'"$HERE"'" && echo from-guest > "$MARK"'
if [ "$(cat "$marker" 2> /dev/null)" = from-guest ]; then
	echo "--- PASS file written in the guest is visible on the host"
else
	echo "--- FAIL file written in the guest is not visible on the host"
	FAILED=1
fi
rm -f "$marker"

check "exit status: false" 1 "$VM" -- false
check "exit status: 42" 42 "$VM" -- sh -c 'exit 42'

# stdout and stderr come back separately and free of kernel messages.
out=$(mktemp) err=$(mktemp)
check "stdout/stderr split" 0 "$VM" -- sh -c 'echo to-out; echo to-err >&2' > "$out" 2> "$err"
if [ "$(cat "$out")" = to-out ] && [ "$(cat "$err")" = to-err ]; then
	echo "--- PASS output channels are clean"
else
	echo "--- FAIL output channels: stdout=[$(cat "$out")] stderr=[$(cat "$err")]"
	FAILED=1
fi
rm -f "$out" "$err"

# rclone mount of a local directory through FUSE.
check "fuse: rclone mount" 0 "$VM" -- bash -c '
	set -eux
	test -c /dev/fuse
	mkdir -p /tmp/src /tmp/mnt
	echo hello-fuse > /tmp/src/f
	rclone mount --daemon /tmp/src /tmp/mnt
	for i in $(seq 100); do mountpoint -q /tmp/mnt && break; sleep 0.2; done
	test "$(cat /tmp/mnt/f)" = hello-fuse
	fusermount3 -u /tmp/mnt'

# A module that is not preloaded (serpent) is loaded on demand by the kernel
# through the guest's modprobe forwarder.
check "module autoload" 0 "$VM" -- bash -c '
	set -eux
	! grep -q "^serpent" /proc/modules
	/usr/bin/python3 -c "import socket; s = socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET); s.bind((\"skcipher\", \"xts(serpent)\"))"
	grep -q "^serpent" /proc/modules'

check "timeout is enforced" 124 "$VM" --timeout 20 -- sleep 600

[ "$FAILED" = 0 ] && echo "ALL PASSED" || echo "SOME CHECKS FAILED"
exit "$FAILED"
