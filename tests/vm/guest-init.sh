#!/bin/sh
# PID 1 inside the test VM (copied into the initramfs by vm-run.sh, runs
# under busybox sh). It loads the preselected modules, builds a root that is
# the host's / (read-only 9p) under a tmpfs overlay, mounts the rw share and
# the scratch disk, runs the job chrooted and reports the exit status on a
# dedicated virtio port. It never exits: PID 1 exiting would panic the guest.
#
# No `set -e` on purpose: every failure must end in `report`, so the harness
# gets a status and a message instead of a silent panic.

# /bin is busybox; the /usr paths matter for commands run via chroot.
export PATH=/bin:/sbin:/usr/sbin:/usr/bin
R=/newroot                    # the assembled root the job is chrooted into
OUT=/dev/null ERR=/dev/console STATUS=

log() { echo "lcw-init: $*"; }                   # stdout is the serial console

# Hand an exit status (plus an optional tag) to the host and power off.
report() {
	if [ -n "$STATUS" ]; then echo "$*" > "$STATUS"; fi
	sync
	poweroff -f
	sleep 5; echo o > /proc/sysrq-trigger        # belt and braces
}

# Setup errors are shown on the job's stderr (not only in the boot log).
fail() {
	log "setup failed: $*"
	echo "vm-run (guest): setup failed: $*" > "$ERR"
	report 125 setup-failed
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo 1 > /proc/sys/kernel/sysrq

# Modules listed by vm-run.sh in load order (dependencies first).
KV=$(uname -r)
while read -r m; do
	echo "lcw-init: insmod $m" > /dev/kmsg      # timestamped in the boot log
	insmod "/lib/modules/$KV/$m" || log "insmod $m failed (ignored)"
done < /etc/lcw-modules

# The harness names its three virtio-serial ports lcw.out/lcw.err/lcw.status;
# without udev we map names to /dev/vportNpM through sysfs ourselves.
for p in /sys/class/virtio-ports/*; do
	[ -r "$p/name" ] || continue
	case $(cat "$p/name") in
	lcw.out) OUT=/dev/${p##*/} ;;
	lcw.err) ERR=/dev/${p##*/} ;;
	lcw.status) STATUS=/dev/${p##*/} ;;
	esac
done
[ -n "$STATUS" ] || fail "virtio status port not found"

RUN=
for arg in $(cat /proc/cmdline); do
	case $arg in lcw.run=*) RUN=${arg#lcw.run=} ;; esac
done
[ -n "$RUN" ] || fail "lcw.run= missing from the kernel command line"

# 9p transfers are faster with a big msize; the root is read-only, so page
# caching ("loose") is safe and saves a round trip per read.
P9="trans=virtio,version=9p2000.L,msize=262144"
mkdir -p /lower /rw "$R"
mount -t 9p -o "$P9,ro,cache=loose" hostroot /lower || fail "cannot mount host root (9p)"
[ -r "/lower$RUN/config" ] || fail "run config $RUN/config not visible in guest"
. "/lower$RUN/config"          # sets SHARE and SCRATCH

mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay "$R" ||
	fail "cannot mount the overlay root"

# Fresh kernel filesystems instead of the host's (which 9p would show stale).
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
mount -t devtmpfs devtmpfs "$R/dev"
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o gid=5,mode=620,ptmxmode=0666 devpts "$R/dev/pts"
mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm"
mount -t tmpfs -o mode=0755 tmpfs "$R/run"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
mount -t cgroup2 cgroup2 "$R/sys/fs/cgroup" 2>/dev/null || true
# devtmpfs lacks these links; bash process substitution needs /dev/fd.
ln -sf /proc/self/fd "$R/dev/fd"
ln -sf /proc/self/fd/0 "$R/dev/stdin"
ln -sf /proc/self/fd/1 "$R/dev/stdout"
ln -sf /proc/self/fd/2 "$R/dev/stderr"
mkdir -p "$R/run/lock"

# Kernel-requested module loads (request_module) run outside the chroot;
# forward them into it so the host's full /lib/modules tree is used.
cat > /bin/lcw-modprobe <<'EOF'
#!/bin/sh
exec /bin/chroot /newroot /sbin/modprobe "$@"
EOF
chmod 755 /bin/lcw-modprobe
echo /bin/lcw-modprobe > /proc/sys/kernel/modprobe

# The read-write share, at the same path as on the host. cache=mmap allows
# shared writable mmap (some tools need it) while staying coherent.
mkdir -p "$R$SHARE"
mount -t 9p -o "$P9,cache=mmap" share "$R$SHARE" || fail "cannot mount rw share $SHARE"

# Scratch disk: a real block filesystem for loop-device backing files.
# noinit_itable keeps ext4 from zeroing inode tables in the background,
# which is slow under TCG and pointless for a throwaway disk.
if [ "$SCRATCH" = yes ]; then
	chroot "$R" mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=1,lazy_journal_init=1 \
		-L lcw-scratch /dev/vda > /dev/console 2>&1 || fail "mkfs.ext4 on scratch disk failed"
	mkdir -p "$R/scratch"
	mount -t ext4 -o noinit_itable /dev/vda "$R/scratch" || fail "cannot mount scratch disk"
fi

echo "lcw-init: starting job" > /dev/kmsg
hostname lcw-vm
ip link set lo up            # gRPC tests over 127.0.0.1 need loopback

# Run the job with a clean environment; job.sh adds --env values and cd's.
chroot "$R" /usr/bin/env -i \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/root TERM=dumb LANG=C.UTF-8 DM_DISABLE_UDEV=1 \
	/bin/bash "$RUN/job.sh" < /dev/null > "$OUT" 2> "$ERR"
rc=$?

# Flush the scratch disk and share before power-off (nothing is kept, but
# the share's writes must reach the host).
sync
report "$rc"
