"""Helpers for the end-to-end suite: a node driver and a controller driver
on real dm-crypt, called through their real CSI sockets as kubelet and the
sidecars would call them."""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "wire"))
from driver import Driver, csi_pb2  # noqa: E402,F401

import grpc  # noqa: E402

# A real block file system for backing files (the VM's /scratch disk).
SCRATCH = os.environ.get("LCW_E2E_SCRATCH", "/scratch")
TOPO_KEY = "topology.lukscryptwalker.csi.k8s.io/node"
NODE = "node-e2e"
# Small argon2 costs keep the emulated VM fast; one test checks the
# defaults separately.
FAST_KDF = ["--kdf-memory-kib=16384", "--kdf-iterations=4"]


class Env:
    """Directories laid out like a node: kubelet root and local volume root."""

    def __init__(self, scratch=None, tag="e2e"):
        self.base = os.path.join(scratch or SCRATCH, f"{tag}-" + uuid.uuid4().hex[:8])
        self.kubelet = os.path.join(self.base, "kubelet")
        self.local = os.path.join(self.base, "volumes")
        self.run = os.path.join(self.base, "run")
        for d in (self.kubelet, self.local, self.run):
            os.makedirs(d)
        os.chmod(self.base, 0o755)
        os.chmod(self.run, 0o755)

    def staging(self, vol):
        h = hashlib.sha256(vol.encode()).hexdigest()
        d = os.path.join(self.kubelet, "plugins/kubernetes.io/csi/lukscryptwalker.csi.k8s.io",
                         h, "globalmount")
        os.makedirs(os.path.dirname(d), exist_ok=True)
        return d

    def target(self, vol, pod=None):
        pod = pod or uuid.uuid4().hex
        d = os.path.join(self.kubelet, "pods", pod, "volumes/kubernetes.io~csi", vol, "mount")
        os.makedirs(os.path.dirname(d), exist_ok=True)
        return d

    def backing(self, vol):
        return os.path.join(self.local, vol, f"luks-{vol}.img")

    def node_driver(self, extra=(), kdf=tuple(FAST_KDF)):
        return Driver(extra_args=[f"--kubelet-root={self.kubelet}", *kdf, *extra],
                      nodeid=NODE, extra_env={"CSI_LOCAL_PATH": self.local},
                      workdir=self.run)

    def controller_driver(self, extra=()):
        return Driver(nodeid=NODE, workdir=self.run, controller=True, extra_args=list(extra))


def mount_cap(fs="ext4", mode=csi_pb2.VolumeCapability.AccessMode.SINGLE_NODE_WRITER,
              flags=(), group=""):
    return csi_pb2.VolumeCapability(
        mount=csi_pb2.VolumeCapability.MountVolume(fs_type=fs, mount_flags=list(flags),
                                                   volume_mount_group=group),
        access_mode=csi_pb2.VolumeCapability.AccessMode(mode=mode))


def rpc_code(fn, *a, **kw):
    """Call and return the gRPC status code (OK on success)."""
    try:
        fn(*a, **kw)
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


def rpc_error(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except grpc.RpcError as e:
        return e
    raise AssertionError("call succeeded, expected an error")


def mounts():
    with open("/proc/self/mountinfo") as f:
        return [line.split() for line in f]


def mount_of(path):
    """(fstype, source, per-mount options) of the top mount at path, or None."""
    found = None
    for m in mounts():
        if m[4] == path:
            sep = m.index("-")
            found = (m[sep + 1], m[sep + 2], m[5])
    return found


def loops_of(backing):
    out = subprocess.run(["losetup", "-j", backing], capture_output=True, text=True).stdout
    return [line.split(":")[0] for line in out.splitlines() if line.strip()]


def dm_name(vol):
    """The mapping's name as README "Volume ids and mapping names" documents
    it: luks-<id> when that fits device-mapper's 127 bytes, else luks_ and
    the SHA-256 of the id in hex."""
    if len(vol) <= 122:
        return f"luks-{vol}"
    return "luks_" + hashlib.sha256(vol.encode()).hexdigest()


def mapping_exists(vol):
    """Any device-mapper device of that name, with or without a table (a
    table-less one has no /dev node, so the node alone proves nothing)."""
    return subprocess.run(["dmsetup", "info", dm_name(vol)], capture_output=True).returncode == 0


def sha256_file(path, limit=None):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        left = limit
        while True:
            chunk = f.read(1 << 20 if left is None else min(1 << 20, left))
            if not chunk:
                break
            h.update(chunk)
            if left is not None:
                left -= len(chunk)
                if left == 0:
                    break
    return h.hexdigest()


def write_random(path, size):
    data = os.urandom(size)
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return hashlib.sha256(data).hexdigest()


def luks_dump(backing):
    """cryptsetup luksDump of a header (prints no key material)."""
    return subprocess.run(["cryptsetup", "luksDump", backing], capture_output=True, text=True,
                          check=True).stdout


def cleanup_env(env):
    for m in reversed(mounts()):
        if m[4].startswith(env.base):
            subprocess.run(["umount", m[4]], capture_output=True)
    for name in os.listdir("/dev/mapper"):
        if name.startswith("luks-e2e") or name.startswith("luks_"):
            subprocess.run(["cryptsetup", "close", name], capture_output=True)
    for d in os.listdir(env.local) if os.path.isdir(env.local) else []:
        for loop in loops_of(env.backing(d)):
            subprocess.run(["losetup", "-d", loop], capture_output=True)
    shutil.rmtree(env.base, ignore_errors=True)


def volid():
    return "e2e-" + uuid.uuid4().hex[:12]


def statvfs_size(path):
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize


def grep_secret(paths, secret):
    """Files among paths whose bytes contain the secret."""
    hits = []
    for p in paths:
        try:
            with open(p, "rb") as f:
                if secret in f.read():
                    hits.append(p)
        except OSError:
            pass
    return hits


def memory_contains(pid, needle):
    """Search a process's writable memory (we are root) for bytes."""
    found = False
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
            start, end, perms = int(m.group(1), 16), int(m.group(2), 16), m.group(3)
            if "r" not in perms or "w" not in perms:
                continue
            try:
                mem.seek(start)
                if needle in mem.read(end - start):
                    found = True
            except (OSError, ValueError, OverflowError):
                pass
    return found


def ids_in(text):
    return set(re.findall(r"e2e-[0-9a-f]{12}", text))
