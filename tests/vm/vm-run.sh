#!/bin/bash
# vm-run.sh - run a command as root inside a throwaway qemu VM (Debian kernel,
# TCG) that sees the host's files. Used for tests that need kernel features
# the host lacks (device-mapper / dm-crypt). See tests/vm/README.md.
#
#   tests/vm/vm-run.sh [options] -- cmd args...
set -eu

HERE=$(cd "$(dirname "$0")" && pwd -P)
CACHE=${LCW_VM_CACHE:-/var/tmp/lcw-vm-cache}
MEM=4096M
SMP=2
TIMEOUT=900
SCRATCH_SIZE=4G
SHARE=
VERBOSE=0
ENVS=()

usage() {
	cat <<EOF
usage: $0 [options] -- cmd args...
  --share DIR         host dir mounted read-write at the same path (default: cwd)
  --scratch-size SZ   size of the ext4 scratch disk at /scratch (default 4G, 0 = none)
  --mem SIZE          guest memory (default 4096M)
  --smp N             guest CPUs (default 2)
  --timeout SECONDS   kill the VM and fail after this long (default 900)
  --env NAME=VALUE    set a variable for the command (repeatable)
  --verbose           also stream the guest console (kernel log) to stderr
Cache dir: \$LCW_VM_CACHE (default /var/tmp/lcw-vm-cache).
EOF
	exit 2
}

die() { echo "vm-run: $*" >&2; exit 125; }

while [ $# -gt 0 ]; do
	case $1 in
	--share) SHARE=${2:?}; shift 2 ;;
	--scratch-size) SCRATCH_SIZE=${2:?}; shift 2 ;;
	--mem) MEM=${2:?}; shift 2 ;;
	--smp) SMP=${2:?}; shift 2 ;;
	--timeout) TIMEOUT=${2:?}; shift 2 ;;
	--env)
		case ${2:-} in [A-Za-z_]*=*) ;; *) die "--env wants NAME=VALUE, got '${2:-}'" ;; esac
		ENVS+=("$2"); shift 2 ;;
	--verbose) VERBOSE=1; shift ;;
	--) shift; break ;;
	-h|--help) usage ;;
	*) echo "vm-run: unknown option '$1'" >&2; usage ;;
	esac
done
[ $# -ge 1 ] || usage
case $TIMEOUT in ''|*[!0-9]*) die "--timeout wants whole seconds" ;; esac

[ "$(id -u)" = 0 ] || die "must run as root (9p passthrough of / and root-owned files)"
command -v qemu-system-x86_64 > /dev/null || die "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
[ -x /bin/busybox ] || die "/bin/busybox missing (apt-get install busybox-static)"

CWD=$(pwd -P)
SHARE=$(cd "${SHARE:-$CWD}" && pwd -P) || die "share dir not found"
[ "$SHARE" != / ] || die "--share / is not allowed (the whole root is already visible read-only)"

# ---- kernel ---------------------------------------------------------------
# Newest generic Debian kernel; the -cloud- flavour lacks 9p/virtio bits we need.
KERNEL=$(for k in /boot/vmlinuz-*-amd64; do
	case $k in *-cloud-*) ;; *) [ ! -f "$k" ] || echo "$k" ;; esac
done | sort -V | tail -n 1)
[ -n "$KERNEL" ] || die "no /boot/vmlinuz-*-amd64 (apt-get install linux-image-amd64)"
KV=${KERNEL#/boot/vmlinuz-}
MODDIR=/lib/modules/$KV
[ -f "$MODDIR/modules.dep" ] || die "$MODDIR/modules.dep missing"
# A rebuilt package can keep the same version string: key caches on the file too.
KSTAMP=$(stat -c '%s-%Y' "$KERNEL")

# Modules the guest loads at boot, in this order (dependencies from
# modules.dep are put in front automatically). ext4 finds crc32c through the
# crypto API, not a symbol dependency, hence the explicit crc32c modules.
# Anything not listed is still loadable on demand: the guest forwards
# modprobe to the host's /lib/modules through the 9p root.
# (Loading part of them in the background was tried: slower under TCG.)
MODULES="virtio_pci virtio_blk virtio_console virtio_rng 9pnet_virtio 9p overlay
	crc32c_generic crc32c_intel libcrc32c ext4 xfs fuse loop dm_mod dm_crypt
	dm_integrity xts ecb cbc essiv aesni_intel sha256_ssse3
	af_alg algif_skcipher algif_hash"

mkdir -p "$CACHE"

# Booting the uncompressed ELF vmlinux through qemu's PVH entry skips the
# in-guest decompression of the bzImage, which costs seconds under TCG.
# Extract it once (xz/zstd/gzip payload) and fall back to the bzImage if
# that fails or LCW_VM_NO_PVH is set.
BOOT_IMAGE=$KERNEL
find_payload() {  # prints "offset decompressor" for the first payload found
	local magic tool off
	for magic in '\xfd7zXZ\x00:xz' '\x28\xb5\x2f\xfd:zstd' '\x1f\x8b\x08:gzip'; do
		tool=${magic##*:}
		off=$(LC_ALL=C grep -obUaP "${magic%:*}" "$KERNEL" | head -n 1 | cut -d: -f1)
		if [ -n "$off" ]; then echo "$off $tool"; return 0; fi
	done
	return 1
}
if [ -z "${LCW_VM_NO_PVH:-}" ]; then
	VMLINUX=$CACHE/vmlinux-$KV-$KSTAMP
	if [ ! -s "$VMLINUX" ] && read -r off tool < <(find_payload); then
		tmp=$(mktemp "$CACHE/vmlinux.XXXXXX")
		case $tool in
		xz) tail -c +$((off + 1)) "$KERNEL" | xz -dc --single-stream > "$tmp" 2> /dev/null || true ;;
		zstd) tail -c +$((off + 1)) "$KERNEL" | zstd -qdc > "$tmp" 2> /dev/null || true ;;
		gzip) tail -c +$((off + 1)) "$KERNEL" | gzip -dc > "$tmp" 2> /dev/null || true ;;
		esac
		# Keep it only if it really is an ELF image.
		if [ "$(head -c 4 "$tmp" | od -An -c | tr -d ' ')" = '177ELF' ]; then
			chmod 644 "$tmp"; mv "$tmp" "$VMLINUX"
			for f in "$CACHE"/vmlinux-*; do [ "$f" = "$VMLINUX" ] || rm -f "$f"; done
		else
			rm -f "$tmp"
		fi
	fi
	[ ! -s "$VMLINUX" ] || BOOT_IMAGE=$VMLINUX
fi

# ---- initramfs (cached) ---------------------------------------------------
KEY=$( (echo "$KSTAMP"; cat "$0" "$HERE/guest-init.sh") | sha256sum | cut -c1-16)
INITRD=$CACHE/initramfs-$KV-$KEY.cpio

declare -A SEEN=()
ORDER=()
# Depth-first walk of modules.dep so each module follows its dependencies.
add_mod() {
	local rel=$1 dep
	[ -z "${SEEN[$rel]:-}" ] || return 0
	SEEN[$rel]=1
	for dep in $(awk -v m="$rel:" '$1 == m { for (i = 2; i <= NF; i++) print $i }' "$MODDIR/modules.dep"); do
		add_mod "$dep"
	done
	ORDER+=("$rel")
}

# copy_modules ROOT NAME...: copy the named modules and their dependencies
# into ROOT and list them, in load order, in ROOT/etc/lcw-modules.
copy_modules() {
	local root=$1 m f rel out
	shift
	for m in "$@"; do
		f=$(modinfo -k "$KV" -F filename "$m" 2> /dev/null | head -n 1) || true
		case $f in
		"" | "(builtin)") continue ;;   # absent or built into the kernel
		esac
		add_mod "${f#"$MODDIR"/}"
	done
	: > "$root/etc/lcw-modules"
	for rel in "${ORDER[@]+"${ORDER[@]}"}"; do
		# Decompress so busybox insmod never has to know about xz/zstd.
		case $rel in
		*.ko) out=$root/lib/modules/$KV/$rel ;;
		*) out=$root/lib/modules/$KV/${rel%.*} ;;
		esac
		mkdir -p "$(dirname "$out")"
		case $rel in
		*.ko) cp "$MODDIR/$rel" "$out" ;;
		*.ko.xz) xz -dc "$MODDIR/$rel" > "$out" ;;
		*.ko.zst) zstd -qdc "$MODDIR/$rel" > "$out" ;;
		*.ko.gz) gzip -dc "$MODDIR/$rel" > "$out" ;;
		*) die "unexpected module file $rel" ;;
		esac
		echo "${out#"$root/lib/modules/$KV/"}" >> "$root/etc/lcw-modules"
	done
}

build_initramfs() {
	local root m tmp
	root=$(mktemp -d "$CACHE/initramfs.XXXXXX")
	mkdir -p "$root/bin" "$root/etc" "$root/proc" "$root/sys" "$root/dev" "$root/lib/modules/$KV"
	cp /bin/busybox "$root/bin/busybox"
	for m in $(/bin/busybox --list); do
		[ "$m" = busybox ] || ln -s busybox "$root/bin/$m"
	done
	cp "$HERE/guest-init.sh" "$root/init"
	chmod 755 "$root/init"

	copy_modules "$root" $MODULES

	# Uncompressed cpio: unpacking it is cheaper under TCG than inflating.
	tmp=$(mktemp "$CACHE/initramfs.cpio.XXXXXX")
	(cd "$root" && find . | cpio -o -H newc -R 0:0 --quiet) > "$tmp"
	rm -rf "$root"
	chmod 644 "$tmp"
	mv "$tmp" "$INITRD"     # atomic: concurrent runs never see a partial file
	# Drop images built by older versions of these scripts.
	for m in "$CACHE"/initramfs-*.cpio; do
		[ "$m" = "$INITRD" ] || rm -f "$m"
	done
}
[ -s "$INITRD" ] || build_initramfs

# ---- per-run directory ----------------------------------------------------
# It lives under the cache dir, which the guest sees through the read-only
# 9p root, so the job script and config need no extra channel.
# The run path goes on the kernel command line, hence no whitespace.
case $CACHE in *[[:space:]]*) die "cache dir path must not contain whitespace" ;; esac
# Leftovers of runs killed with SIGKILL (no cleanup) older than a day.
find "$CACHE" -maxdepth 1 -name 'run.*' -mmin +1440 -exec rm -rf {} + 2> /dev/null || true
RUN=$(mktemp -d "$CACHE/run.XXXXXX")
CONSOLE_LOG=$RUN/console.log
QPID=
cleanup() {
	[ -z "$QPID" ] || kill "$QPID" 2> /dev/null || true
	# Keep the last boot log around for debugging.
	[ ! -f "$CONSOLE_LOG" ] || cp "$CONSOLE_LOG" "$CACHE/last-console.log" 2> /dev/null || true
	[ ! -f "$RUN/qemu.log" ] || cp "$RUN/qemu.log" "$CACHE/last-qemu.log" 2> /dev/null || true
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

SCRATCH=no
if [ "$SCRATCH_SIZE" != 0 ]; then
	SCRATCH=yes
	truncate -s "$SCRATCH_SIZE" "$RUN/scratch.img"    # sparse: costs only what is written
fi
printf 'SHARE=%q\nSCRATCH=%s\n' "$SHARE" "$SCRATCH" > "$RUN/config"

{
	printf 'cd -- %q || { echo "vm-run (guest): cannot cd to %q" >&2; exit 125; }\n' "$CWD" "$CWD"
	for e in "${ENVS[@]+"${ENVS[@]}"}"; do
		printf 'export %s=%q\n' "${e%%=*}" "${e#*=}"
	done
	printf 'exec'
	printf ' %q' "$@"
	printf '\n'
} > "$RUN/job.sh"

: > "$RUN/out"; : > "$RUN/err"; : > "$RUN/status"; : > "$CONSOLE_LOG"

# shellcheck disable=SC2054  # the commas belong to qemu option values
QEMU=(qemu-system-x86_64
	-nodefaults -no-user-config -display none -monitor none -no-reboot
	-machine pc -accel tcg -cpu max -smp "$SMP" -m "$MEM"
	-kernel "$BOOT_IMAGE" -initrd "$INITRD"
	-append "console=ttyS0 panic=-1 mitigations=off random.trust_cpu=on lcw.run=$RUN"
	-serial "file:$CONSOLE_LOG"
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$SHARE,mount_tag=share,security_model=none,multidevs=remap"
	-device virtio-rng-pci
	# Separate raw channels for the command's stdout/stderr/status, so kernel
	# messages on the serial console never mix into them.
	-device virtio-serial-pci
	-chardev "file,id=out,path=$RUN/out" -device virtserialport,chardev=out,name=lcw.out
	-chardev "file,id=err,path=$RUN/err" -device virtserialport,chardev=err,name=lcw.err
	-chardev "file,id=st,path=$RUN/status" -device virtserialport,chardev=st,name=lcw.status
)
if [ "$SCRATCH" = yes ]; then
	# shellcheck disable=SC2054
	QEMU+=(-drive "if=none,id=scratch,file=$RUN/scratch.img,format=raw,cache=unsafe,discard=unmap"
		-device virtio-blk-pci,drive=scratch)
fi

START=$(date +%s.%N)
"${QEMU[@]}" < /dev/null > "$RUN/qemu.log" 2>&1 &
QPID=$!

# Stream the command's output live; tail exits on its own once qemu is gone.
TAILS=()
tail -s 0.2 -n +1 -f --pid="$QPID" "$RUN/out" & TAILS+=($!)
tail -s 0.2 -n +1 -f --pid="$QPID" "$RUN/err" >&2 & TAILS+=($!)
if [ "$VERBOSE" = 1 ]; then
	tail -s 0.2 -n +1 -f --pid="$QPID" "$CONSOLE_LOG" >&2 & TAILS+=($!)
fi

# Watchdog: poll qemu instead of a background sleep, so nothing lingers.
TIMED_OUT=0
SECONDS=0
while kill -0 "$QPID" 2> /dev/null; do
	if [ "$SECONDS" -ge "$TIMEOUT" ]; then
		TIMED_OUT=1
		kill "$QPID" 2> /dev/null || true
		sleep 2
		kill -9 "$QPID" 2> /dev/null || true
		break
	fi
	sleep 0.25
done
wait "$QPID" 2> /dev/null && QRC=0 || QRC=$?
QPID=
wait "${TAILS[@]}" 2> /dev/null || true
ELAPSED=$(awk -v a="$START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

# The status line is "<code>" or "125 setup-failed" (guest could not set up).
read -r STATUS TAG < "$RUN/status" || true
case $STATUS in *[!0-9]*) STATUS= ;; esac
if [ "$TIMED_OUT" = 1 ]; then
	echo "vm-run: TIMEOUT: VM killed after ${TIMEOUT}s. Last console lines:" >&2
	tail -n 30 "$CONSOLE_LOG" >&2
	echo "vm-run: full console log: $CACHE/last-console.log" >&2
	exit 124
fi
if [ -z "$STATUS" ]; then
	echo "vm-run: guest reported no exit status (qemu exit $QRC). Last console lines:" >&2
	tail -n 40 "$CONSOLE_LOG" >&2
	sed 's/^/qemu: /' "$RUN/qemu.log" | tail -n 10 >&2
	echo "vm-run: full console log: $CACHE/last-console.log" >&2
	exit 125
fi
if [ "${TAG:-}" = setup-failed ]; then
	echo "vm-run: guest setup failed. Last console lines:" >&2
	tail -n 20 "$CONSOLE_LOG" >&2
	echo "vm-run: full console log: $CACHE/last-console.log" >&2
fi
[ -z "${LCW_VM_TIMING:-}" ] || echo "vm-run: VM wall time ${ELAPSED}s" >&2
exit "$STATUS"
