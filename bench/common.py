"""Shared helpers for the benchmarks: timing, statistics, the node driver
started through tests/wire/driver.py, CSI requests, /proc sampling and
cleanup. Everything the benchmarks create lives under one scratch base
directory and is removed at the end."""
import datetime
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "wire"))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from driver import Driver, children, csi_pb2  # noqa: E402,F401
from lcw_e2e import Env  # noqa: E402

MIB = 1 << 20
GIB = 1 << 30
PASS = "bench passphrase, not a secret"
# The environment privd gets from tests/wire/driver.py; the CLI baseline
# runs with the same one so neither side gets different libdevmapper/udev
# behaviour.
TOOL_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
# The driver's pinned LUKS parameters (privd/luks/luks.c) spelled as cryptsetup
# options. The KDF part is added per benchmark.
LUKS_FORMAT_OPTS = ["--batch-mode", "--type", "luks2", "--cipher", "aes-xts-plain64",
                    "--key-size", "512", "--sector-size", "4096", "--hash", "sha256"]
# The driver's mkfs.ext4 options (privd/spawner.c) and mount options.
MKFS_EXT4 = ["mkfs.ext4", "-q", "-F", "-e", "remount-ro", "-E", "nodiscard"]
MOUNT_OPTS = "nodev,nosuid"


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_list(xs, digits=2):
    return ", ".join(f"{x:.{digits}f}" for x in xs)


def run(argv, input=None, check=True):
    """Run a tool with the driver's environment; returns stdout."""
    p = subprocess.run(argv, input=input, capture_output=True, text=True, env=TOOL_ENV)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def timed(argv, input=None):
    """Wall time of one tool run, in seconds."""
    t0 = time.monotonic()
    run(argv, input=input)
    return time.monotonic() - t0


def settle():
    """Flush dirty data and drop the page cache so runs start alike."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def has_dm():
    return os.path.exists("/dev/mapper/control")


class Layout(Env):
    """The e2e node layout (kubelet root, local volume root, the driver's
    run dir) plus a dir for the CLI baseline."""

    def __init__(self, scratch, tag):
        super().__init__(scratch, f"bench-{tag}")
        self.cli = os.path.join(self.base, "cli")
        os.makedirs(self.cli)

    def node_driver(self, kdf_memory_kib, kdf_iterations, budget_mib=None):
        kdf = [f"--kdf-memory-kib={kdf_memory_kib}", f"--kdf-iterations={kdf_iterations}"]
        extra = [] if budget_mib is None else [f"--kdf-budget-mib={budget_mib}"]
        return super().node_driver(extra=extra, kdf=kdf)


def mount_cap():
    return csi_pb2.VolumeCapability(
        mount=csi_pb2.VolumeCapability.MountVolume(fs_type="ext4"),
        access_mode=csi_pb2.VolumeCapability.AccessMode(
            mode=csi_pb2.VolumeCapability.AccessMode.SINGLE_NODE_WRITER))


def stage_req(lay, vol, size):
    return csi_pb2.NodeStageVolumeRequest(
        volume_id=vol, staging_target_path=lay.staging(vol), volume_capability=mount_cap(),
        secrets={"passphrase": PASS}, volume_context={"capacity": str(size)})


def unstage_req(lay, vol):
    return csi_pb2.NodeUnstageVolumeRequest(volume_id=vol, staging_target_path=lay.staging(vol))


def audit_start_end(rec):
    """(start, end) of an audit record in seconds since the epoch: `time` is
    the end (UTC, millisecond resolution), `duration_ms` the length."""
    end = datetime.datetime.strptime(rec["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    return end - rec["duration_ms"] / 1000.0, end


def proc_kib(pid, key):
    """VmRSS/VmHWM of a process in KiB, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def mounts_under(base):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if mp.startswith(base + "/"):
                out.append(mp)
    return out


def loops_under(base):
    out = run(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"], check=False)
    res = []
    for line in out.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[1].strip().startswith(base + "/"):
            res.append(parts[0])
    return res


def cleanup(base, mapper_prefix):
    """Unmount, close and detach everything under base; remove it."""
    for mp in reversed(mounts_under(base)):
        run(["umount", mp], check=False)
    if os.path.isdir("/dev/mapper"):
        for name in os.listdir("/dev/mapper"):
            if name.startswith(mapper_prefix):
                run(["cryptsetup", "close", name], check=False)
    for loop in loops_under(base):
        run(["losetup", "-d", loop], check=False)
    shutil.rmtree(base, ignore_errors=True)
