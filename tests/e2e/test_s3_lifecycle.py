"""End to end of the S3 backend on real dm-crypt, real FUSE, real rclone and
a real S3 server (s3rver on 127.0.0.1): the node driver stages an S3 volume
as an rclone crypt FUSE mount whose VFS cache lives on the node-wide LUKS
cache volume, publishes it with binds, drains uploads before unstaging, and
recovers when rclone or the whole driver is killed; the controller purges a
volume's objects. Everything is called through the real CSI sockets.

Reading a volume outside Kubernetes: test_stock_rclone_layout_both_ways
runs the recipe of README.md ("Reading a volume outside Kubernetes") with
stock rclone: an s3 remote from the S3 Secret, a crypt remote over
<bucket>/[<prefix>/]volumes/<volume id>/files with filename_encryption
standard, directory_name_encryption true, password = rclone obscure of the
passphrase (the Secret's exact value, a trailing newline included) and
password2 = rclone obscure of "<passphrase>-<prefix, or the volume id when
the class has none>". Data copied in that way shows up in the volume, and
data written through the driver comes out that way.

The tests in ON_SECOND_SERVER run again against fauxqs, an S3 written
independently of s3rver (tests/s3/fauxqs.sh), each on a new node driver
with a new cache volume; pytest shows them as test_x[fauxqs].

Runs where device-mapper exists (the VM harness):
    tests/vm/vm-run.sh --timeout 1500 -- env LCW_BIN_DIR=$PWD/build/bin \\
        /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider tests/e2e/test_s3_lifecycle.py
"""
import errno
import hashlib
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest

from fake_kube import FakeKube
from lcw_e2e import (NODE, Env, csi_pb2, loops_of, memory_contains, mount_cap, mount_of, mounts,
                     rpc_error, sha256_file, volid)
from driver import ROOT, children  # noqa: E402 (lcw_e2e puts tests/wire on the path)

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/mapper/control"),
                                reason="no device-mapper here (run through tests/vm/vm-run.sh)")

MIB = 1 << 20
CAPACITY = 1 << 30
S3RVER = os.path.join(ROOT, "tests", "s3", "s3rver.sh")
S3_TOOLS = os.environ.get("S3_TOOLS", os.path.join(ROOT, "build", "s3-tools"))
S3RVER_JS = os.path.join(S3_TOOLS, "node_modules", "s3rver", "bin", "s3rver.js")
FAUXQS = os.path.join(ROOT, "tests", "s3", "fauxqs.sh")
FAUXQS_SERVE = os.path.join(ROOT, "tests", "s3", "fauxqs-serve.mjs")
BUCKET = "lcw-e2e"
OTHER_BUCKET = "lcw-e2e-other"
S3_NS, S3_SECRET = "s3-ns", "s3-creds"
# Distinctive values the leak scans search for. s3rver --lenient accepts
# any signature made for the access key id S3RVER.
S3_KEY = "s3-secret-access-key-e2e-5c1f08d2"
PASS = "s3 node-stage passphrase 2c8e51d7"
PASS2 = "s3 stage-secret-ref passphrase 71d0a9c4"
HARD_PASS = "s3 hardened passphrase 6b0f93e4"
CACHE_SECRET = "vfs-cache node secret a91d3c57"
SECRETS = [PASS, PASS2, HARD_PASS, S3_KEY, CACHE_SECRET]
CACHE_NS, CACHE_NAME = "kube-system", "lcw-vfs-cache"
HARD_NS, HARD_NAME = "secure-ns", "s3-vol-keys"
REF_NS, REF_NAME = "stage-ns", "s3-stage-secret"
CACHE_MAPPER = "luks-vfs-cache"
CACHE_SIZE = "1G"
RCLONE_MAGIC = b"RCLONE\x00\x00"
LUKS2_MAGIC = b"LUKS\xba\xbe\x00\x02"
RECOVERY_S = 30      # the driver promises ~20 s; slack for the emulated VM
ERROR_BOUND_S = 60   # no stage error may take longer
# rclone refuses AWS_CA_BUNDLE, which build hosts set: children get an
# explicit environment.
CHILD_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

STAGED = {}     # volume id -> set of published targets (for cleanup after failures)
ALL_VOLS = set()


# ---- the S3 server ------------------------------------------------------

class S3Server:
    """One s3rver or fauxqs; objects are listed and read over plain HTTP
    (both serve anonymous requests), never through the driver's code."""

    def __init__(self, base, kind, buckets, lenient=True):
        self.kind = kind
        self.dir = os.path.join(base, kind)
        os.makedirs(os.path.join(self.dir, "data"))
        # Started as tests/s3/<kind>.sh start does (same command, log and
        # pid files, so <kind>.sh stop stops it), but waiting up to three
        # minutes for the port instead of 10 s: s3rver loads ~2000 files
        # over 9p, which in the emulated VM on a busy host took 90 s.
        if kind == "s3rver":
            self.script, ready = S3RVER, r"listening on 127\.0\.0\.1:([0-9]+)"
            args = ["setsid", "node", "--openssl-legacy-provider", S3RVER_JS, "-d",
                    os.path.join(self.dir, "data"), "-a", "127.0.0.1", "-p", "0",
                    *(["--allow-mismatched-signatures"] if lenient else [])]
            for b in buckets:
                args += ["--configure-bucket", b]
        else:
            # fauxqs checks no signature: lenient either way
            self.script, ready = FAUXQS, r"(?m)^fauxqs listening on 127\.0\.0\.1:([0-9]+)$"
            args = ["setsid", "node", FAUXQS_SERVE, os.path.join(S3_TOOLS, "fauxqs"),
                    os.path.join(self.dir, "data"), *buckets]
        log = os.path.join(self.dir, "log")
        with open(log, "w") as out:
            p = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env={"PATH": CHILD_PATH,
                                                                "HOME": self.dir})
        self.proc = p
        with open(os.path.join(self.dir, "pid"), "w") as f:
            f.write(f"{p.pid}\n")
        self.port = None

        def port():
            with open(log) as f:
                m = re.search(ready, f.read())
            self.port = m and int(m.group(1))
            return self.port is not None or p.poll() is not None

        wait_for(port, 180)
        if self.port is None:
            self.stop()
            with open(log) as f:
                raise RuntimeError(f"{kind} did not start:\n{f.read()}")
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.data = os.path.join(self.dir, "data")
        self.http = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def stop(self):
        subprocess.run([self.script, "stop", self.dir], env={"PATH": CHILD_PATH},
                       capture_output=True)
        self.proc.wait(10)

    def _url(self, bucket, key="", query=None):
        u = f"{self.endpoint}/{bucket}"
        if key:
            u += "/" + urllib.parse.quote(key)
        if query:
            u += "?" + urllib.parse.urlencode(query)
        return u

    # The listing's XML namespace differs: s3rver 3.7.1 answers in
    # http://doc.s3.amazonaws.com/2006-03-01/, fauxqs (and AWS) in
    # http://s3.amazonaws.com/doc/2006-03-01/. Any namespace is read.
    def keys(self, bucket=BUCKET, prefix=""):
        out, token = [], None
        while True:
            q = {"list-type": "2", "prefix": prefix}
            if token:
                q["continuation-token"] = token
            with self.http.open(self._url(bucket, query=q), timeout=60) as r:
                root = ET.fromstring(r.read())
            out += [c.findtext("{*}Key") for c in root.findall("{*}Contents")]
            if root.findtext("{*}IsTruncated") != "true":
                return sorted(out)
            token = root.findtext("{*}NextContinuationToken")

    def common_prefixes(self, bucket=BUCKET, prefix=""):
        """The "directories" one delimited listing shows below prefix."""
        q = {"list-type": "2", "prefix": prefix, "delimiter": "/"}
        with self.http.open(self._url(bucket, query=q), timeout=60) as r:
            root = ET.fromstring(r.read())
        return sorted(c.findtext("{*}Prefix") for c in root.findall("{*}CommonPrefixes"))

    def get(self, bucket, key):
        with self.http.open(self._url(bucket, key), timeout=60) as r:
            return r.read()

    def put(self, bucket, key, data):
        # an explicit type: urllib would send a form's, which fauxqs
        # takes for an SNS call
        req = urllib.request.Request(self._url(bucket, key), data=data, method="PUT",
                                     headers={"Content-Type": "application/octet-stream"})
        with self.http.open(req, timeout=60) as r:
            assert r.status == 200


def vol_prefix(vol, prefix=None):
    return f"{prefix}/volumes/{vol}/" if prefix else f"volumes/{vol}/"


def s3_secret_data(s3, **over):
    d = {"s3-bucket": BUCKET, "s3-region": "us-east-1", "s3-access-key-id": "S3RVER",
         "s3-secret-access-key": S3_KEY, "s3-endpoint": s3.endpoint,
         "s3-force-path-style": "true"}
    d.update(over)
    return d


def as_bytes(d):
    return {k: v.encode() for k, v in d.items()}


# ---- stock rclone, configured the documented way -----------------------------

class StockRclone:
    """README's recipe: stock rclone reading and writing a volume's objects
    without the driver. Config and HOME in a private temporary directory
    outside every directory the leak scan covers."""

    def __init__(self, s3, vol, passphrase, prefix=None, bucket=BUCKET):
        self.dir = tempfile.mkdtemp(prefix="lcw-stock-rclone-")
        self.conf = os.path.join(self.dir, "rclone.conf")
        salt = prefix or vol
        remote = f"{bucket}/{prefix}/volumes/{vol}/files" if prefix else \
            f"{bucket}/volumes/{vol}/files"
        text = (f"[s3]\ntype = s3\nprovider = Other\nenv_auth = false\n"
                f"access_key_id = S3RVER\nsecret_access_key = {S3_KEY}\nregion = us-east-1\n"
                f"endpoint = {s3.endpoint}\nforce_path_style = true\n\n"
                f"[vol]\ntype = crypt\nremote = s3:{remote}\nfilename_encryption = standard\n"
                f"directory_name_encryption = true\n"
                f"password = {self.obscure(passphrase)}\n"
                f"password2 = {self.obscure(passphrase + '-' + salt)}\n")
        fd = os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)

    def _run(self, args, data=None, conf=True):
        r = subprocess.run(["rclone", *(["--config", self.conf] if conf else []), *args],
                           input=data, capture_output=True, timeout=300,
                           env={"PATH": CHILD_PATH, "HOME": self.dir})
        assert r.returncode == 0, f"rclone {args}: {r.stderr.decode(errors='replace')}"
        return r.stdout

    def obscure(self, pw):
        # on the argv, as README's recipe does: "rclone obscure -" would
        # drop a trailing newline
        return self._run(["obscure", pw], conf=False).decode().strip()

    def copy_in(self, src):
        self._run(["copy", src, "vol:"])

    def copy_out(self, dst):
        self._run(["copy", "vol:", dst])

    def lsf(self):
        return sorted(self._run(["lsf", "-R", "--files-only", "vol:"]).decode().split("\n")[:-1])

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- the node --------------------------------------------------------------

class S3Node:
    """The node driver with its node-wide VFS cache volume. fresh() stops it,
    tears the cache volume down and starts over on a new, empty cache: what
    a new node sees."""

    def __init__(self, env, kube):
        self.env, self.kube, self.gen = env, kube, 0
        self.extra = []  # more flags, for a test that restarts with them
        self._new_dirs()
        self.d = None
        self.start()

    def _new_dirs(self):
        self.gen += 1
        self.cache_root = os.path.join(self.env.base, f"vfs-cache-root-{self.gen}")
        self.cache_mount = os.path.join(self.env.base, f"vfs-cache-mnt-{self.gen}")
        os.makedirs(self.cache_root, mode=0o700)
        os.makedirs(self.cache_mount, mode=0o700)
        self.cache_file = os.path.join(self.cache_root, "vfs-cache.luks")

    def args(self):
        return [*self.kube.driver_args(), f"--vfs-cache-root={self.cache_root}",
                f"--vfs-cache-mount={self.cache_mount}", f"--vfs-cache-size={CACHE_SIZE}",
                f"--luks-secret-name={CACHE_NAME}", f"--luks-secret-namespace={CACHE_NS}",
                "--luks-secret-key=passphrase", "--reclaim-interval-seconds=0", *self.extra]

    def start(self):
        self.d = self.env.node_driver(extra=self.args())

    def stop(self):
        rc = self.d.stop()
        assert rc == 0, f"driver exit {rc}:\n{self.d.output()[-4000:]}"

    def kill_everything(self, vols):
        """What a container kill does: SIGKILL to privd, the spawner, the
        frontend and every rclone, at once."""
        pids = [self.d.proc.pid] + descendants(self.d.proc.pid)
        for v in vols:
            pids += rclone_pids(v)
        for p in dict.fromkeys(pids):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.d.proc.wait(10)
        if self.d.channel is not None:
            self.d.channel.close()
            self.d.channel = None
        self.d.log.close()
        assert wait_for(lambda: not any(alive(p) for p in pids), 20), \
            [p for p in pids if alive(p)]

    def teardown_cache(self):
        """Take the old cache volume down completely (mount, mapping, loop)."""
        if mount_of(self.cache_mount) is not None:
            subprocess.run(["umount", self.cache_mount], capture_output=True)
        if dm_exists(CACHE_MAPPER):
            subprocess.run(["cryptsetup", "close", CACHE_MAPPER], capture_output=True)
        for loop in loops_of(self.cache_file):
            subprocess.run(["losetup", "-d", loop], capture_output=True)
        assert mount_of(self.cache_mount) is None, "old cache volume still mounted"
        assert not dm_exists(CACHE_MAPPER), "old cache mapping still open"
        shutil.rmtree(self.cache_root, ignore_errors=True)
        shutil.rmtree(self.cache_mount, ignore_errors=True)

    def fresh(self):
        self.stop()
        self.teardown_cache()
        self._new_dirs()
        self.start()

    def __getattr__(self, name):
        return getattr(self.d, name)


# ---- processes, mounts, devices -------------------------------------------

def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            kids = children(p)
        except (FileNotFoundError, ProcessLookupError):
            kids = []
        out += kids
        todo += kids
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def remote_ok(arg, vol):
    """The rclone remote of a volume: "<id>:" (a generation suffix
    "<id>.gN:" is allowed for re-mounts)."""
    return re.fullmatch(re.escape(vol) + r"(\.g[0-9]+)?:", arg) is not None


def rclone_pids(vol):
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        # "mount2": rclone serves the FUSE mount the spawner made (/dev/fd/4)
        if ("mount" in argv or "mount2" in argv) and any(remote_ok(a, vol) for a in argv) \
                and alive(int(p)):
            pids.append(int(p))
    return pids


def frontend_pid(node):
    kids = [k for k in children(node.spawner_pid())
            if os.readlink(f"/proc/{k}/exe").endswith("/lcw-frontend")]
    assert len(kids) == 1, kids
    return kids[0]


def diag(node, env, vols):
    """What the mounts, rclone processes and driver log say, for failure
    messages."""
    lines = []
    for v in vols:
        for m in mounts():
            if m[4] == env.staging(v) or f"/{v}/mount" in m[4]:
                sep = m.index("-")
                lines.append(f"mount {m[4][-60:]} {m[sep + 1]} {m[sep + 2]}")
        for p in rclone_pids(v):
            with open(f"/proc/{p}/cmdline", "rb") as f:
                lines.append(f"rclone {p}: " + " ".join(f.read().decode().split("\0")[:4]))
    return "\n".join(lines) + "\n--- driver log ---\n" + node.output()[-4000:]


def lost(done, root):
    """Files recorded as written whose content under root differs."""
    got = tree_digests(root)
    return {rel: ("missing" if got.get(rel) is None else
                  got[rel] if got[rel].startswith("unreadable") else "differs")
            for rel, d in done.items() if got.get(rel) != d}


def dm_exists(name):
    return subprocess.run(["dmsetup", "info", name], capture_output=True).returncode == 0


def mountinfo_of(path):
    found = None
    for m in mounts():
        if m[4] == path:
            found = m
    return found


def fuse_ok(path, vol):
    m = mount_of(path)
    return m is not None and m[0] == "fuse.rclone" and remote_ok(m[1], vol)


def healthy(path, vol):
    if not fuse_ok(path, vol):
        return False
    try:
        os.listdir(path)
        return True
    except OSError:
        return False


def dead(path):
    """The FUSE server behind path is gone (ENOTCONN, or EIO)."""
    try:
        os.stat(path)
        os.listdir(path)
        return False
    except OSError as e:
        return e.errno in (errno.ENOTCONN, errno.EIO)


def wait_for(pred, timeout, step=0.25):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def dm_of_mount(path):
    """(dm name, dm uuid, backing files of its loop slaves) of the block
    device mounted at path, from the mount's device number via sysfs."""
    m = mountinfo_of(path)
    assert m is not None, f"nothing mounted at {path}"
    majmin = m[2]
    for blk in os.listdir("/sys/block"):
        if not blk.startswith("dm-"):
            continue
        with open(f"/sys/block/{blk}/dev") as f:
            if f.read().strip() != majmin:
                continue
        with open(f"/sys/block/{blk}/dm/name") as f:
            name = f.read().strip()
        with open(f"/sys/block/{blk}/dm/uuid") as f:
            uuid_ = f.read().strip()
        backing = []
        for s in os.listdir(f"/sys/block/{blk}/slaves"):
            try:
                with open(f"/sys/block/{s}/loop/backing_file") as f:
                    backing.append(f.read().strip())
            except FileNotFoundError:
                backing.append(s)
        return name, uuid_, backing
    return None


# ---- data --------------------------------------------------------------------

def write_file(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    return hashlib.sha256(data).hexdigest()


def write_tree(root, layout):
    """layout: relative path -> size or bytes. Returns path -> sha256."""
    return {rel: write_file(os.path.join(root, rel),
                            spec if isinstance(spec, bytes) else os.urandom(spec))
            for rel, spec in layout.items()}


def tree_digests(root):
    """relative path -> sha256 of every file below root ("unreadable: ..."
    for a file listed but not readable)."""
    out = {}
    for d, _, files in os.walk(root):
        for n in files:
            p = os.path.join(d, n)
            try:
                out[os.path.relpath(p, root)] = sha256_file(p)
            except OSError as e:
                out[os.path.relpath(p, root)] = f"unreadable: {errno.errorcode.get(e.errno)}"
    return out


# Directories that hold only directories are test_nested_tree_*'s: stock
# s3rver 3.7.1 left them out of its listings (tests/s3/s3rver.sh patches it).
LAYOUT = {"big.bin": 3 * MIB, "dir-a/one.bin": 512 * 1024, "dir-a/nested/n.txt": b"n",
          "dir-a/nested/deeper/two.txt": b"two\n" * 25, "dir-b/small.txt": b"x",
          "dir-b/empty": b"", "top level name.txt": os.urandom(4096)}


class Writer(threading.Thread):
    """Writes files one after another (write, fsync, close) and records
    each whose calls all returned; failed ones are skipped, and it keeps
    going (through a dead mount and after the recovery). Files alternate
    between w/, a directory the bucket already has (w/seed.txt, written
    and uploaded first), and a new directory each, which exists only in
    the cache until its file is uploaded."""

    def __init__(self, root, s3, vol, prefix=None):
        super().__init__(daemon=True)
        self.root, self.lock, self.halt = root, threading.Lock(), threading.Event()
        self.errors, self.i = [], 0
        seed = write_file(os.path.join(root, "w", "seed.txt"), b"seed\n")
        self.done = [("w/seed.txt", seed, time.monotonic())]
        assert wait_for(lambda: s3.keys(prefix=vol_prefix(vol, prefix) + "files/"), 60), \
            f"w/seed.txt not uploaded below {vol_prefix(vol, prefix)}files/; the bucket's " \
            f"keys for {vol}: {[k for k in s3.keys() if vol in k]}"

    def run(self):
        while not self.halt.is_set():
            i = self.i
            rel = f"w/{i:05d}.bin" if i % 2 == 0 else f"new-{i:05d}/f.bin"
            data = os.urandom(MIB if i % 4 == 0 else 48 * 1024)
            self.i += 1
            try:
                digest = write_file(os.path.join(self.root, rel), data)
            except OSError as e:
                with self.lock:
                    self.errors.append(e.errno)
                time.sleep(0.1)
                continue
            with self.lock:
                self.done.append((rel, digest, time.monotonic()))

    def snapshot(self):
        with self.lock:
            return list(self.done)

    def finish(self):
        self.halt.set()
        self.join(60)
        assert not self.is_alive(), "writer hangs on the volume"
        return {rel: d for rel, d, _ in self.snapshot()}


# ---- CSI calls ------------------------------------------------------------------

def s3_ctx(prefix=None, secret=S3_SECRET, hardened=False, **extra):
    ctx = {"capacity": str(CAPACITY), "storage-backend": "s3", "s3-secret-name": secret,
           "s3-secret-namespace": S3_NS, "rclone-vfs-write-back": "1s",
           "rclone-vfs-cache-max-size": "256Mi"}
    if prefix:
        ctx["s3-path-prefix"] = prefix
    if hardened:
        ctx.update({"passphrase-secret-name": HARD_NAME, "passphrase-secret-namespace": HARD_NS,
                    "passphraseKey": "passphrase"})
    ctx.update(extra)
    return ctx


# PVs this module made itself (a test that sets its own PVs keeps them).
AUTO_PVS = set()
# Their node-stage reference names no Secret: after a restart, privd cannot
# find such a volume's passphrase through it, as when there was no PV.
AUTO_REF = {"name": "lcw-e2e-unread", "namespace": S3_NS}


def stage(node, env, vol, ctx, passphrase=PASS, timeout=180):
    ALL_VOLS.add(vol)
    secrets = {} if "passphrase-secret-name" in ctx else {"passphrase": passphrase}
    if vol in AUTO_PVS or not node.kube.has_pv(vol):
        # privd stages only volumes with a PV that agrees (SECURITY.md): the
        # one the external-provisioner would have made from this context
        AUTO_PVS.add(vol)
        node.kube.add_pv(f"pv-{vol}", vol, ctx, None if secrets == {} else AUTO_REF)
    node.node().NodeStageVolume(csi_pb2.NodeStageVolumeRequest(
        volume_id=vol, staging_target_path=env.staging(vol), volume_capability=mount_cap(),
        secrets=secrets, volume_context=ctx), timeout=timeout)
    STAGED.setdefault(vol, set())


def unstage(node, env, vol):
    node.node().NodeUnstageVolume(csi_pb2.NodeUnstageVolumeRequest(
        volume_id=vol, staging_target_path=env.staging(vol)), timeout=300)
    STAGED.pop(vol, None)


def publish(node, env, vol, target, readonly=False):
    node.node().NodePublishVolume(csi_pb2.NodePublishVolumeRequest(
        volume_id=vol, staging_target_path=env.staging(vol), target_path=target,
        volume_capability=mount_cap(), readonly=readonly), timeout=120)
    STAGED.setdefault(vol, set()).add(target)


def unpublish(node, vol, target, check=True):
    node.node().NodeUnpublishVolume(csi_pb2.NodeUnpublishVolumeRequest(
        volume_id=vol, target_path=target), timeout=120)
    STAGED.get(vol, set()).discard(target)
    if check:
        assert_nothing_beneath(target)


def beneath(path):
    """Once unmounted, a kubelet directory holds nothing: a file there was
    written to the node's own disk, in plaintext and outside the volume,
    while the path was not mounted."""
    if mount_of(path) is not None or not os.path.isdir(path):
        return []
    return [os.path.relpath(os.path.join(d, n), path)
            for d, dirs, files in os.walk(path) for n in files + dirs]


def assert_nothing_beneath(path):
    found = beneath(path)
    assert not found, f"written to the node's disk beneath {path}: {found[:10]}"


def stats(node, env, vol, path):
    return node.node().NodeGetVolumeStats(csi_pb2.NodeGetVolumeStatsRequest(
        volume_id=vol, volume_path=path, staging_target_path=env.staging(vol)), timeout=60)


def abnormal(node, env, vol, path):
    """The reported volume condition; None when the call was ABORTED
    because another call (the recovery) holds the volume."""
    try:
        return stats(node, env, vol, path).volume_condition.abnormal
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.ABORTED:
            return None
        raise


def assert_unstaged(env, vol):
    assert mount_of(env.staging(vol)) is None, f"mount left at {env.staging(vol)}"
    assert_nothing_beneath(env.staging(vol))
    assert wait_for(lambda: rclone_pids(vol) == [], 10), f"rclone for {vol} still runs"


# Outcome of the data checks of the kill tests, asserted by their own tests
# (5b/6b) so that the recovery mechanics and the durability are counted apart.
DURABILITY = {}


def record_durability(key, check, node, env, vols):
    try:
        check()
        DURABILITY[key] = None
    except AssertionError as e:
        DURABILITY[key] = str(e)[:4000]
        # leave nothing staged for the next tests
        for v in vols:
            for t in list(env_targets(env, v)):
                unpublish(node, v, t, check=False)
            try:
                unstage(node, env, v)
            except Exception:  # noqa: BLE001 - best effort cleanup
                pass


def env_targets(env, vol):
    base = os.path.join(env.kubelet, "pods")
    for pod in os.listdir(base) if os.path.isdir(base) else []:
        t = os.path.join(base, pod, "volumes/kubernetes.io~csi", vol, "mount")
        if os.path.isdir(t):
            yield t


def restage_fresh_and_verify(node, env, expected, vols_ctx, exact=False):
    """Stop the node, start it on a new, empty cache volume, stage every
    volume again and compare every file by sha256 (only the bucket holds the
    data now)."""
    old_root = node.cache_root
    node.fresh()
    assert node.cache_root != old_root
    for vol, (ctx, passphrase) in vols_ctx.items():
        stage(node, env, vol, ctx, passphrase=passphrase)
        got = tree_digests(env.staging(vol))
        want = expected[vol]
        if exact:
            assert sorted(got) == sorted(want), f"{vol}: file set differs after restage"
        bad = lost(want, env.staging(vol))
        assert not bad, f"{vol}: lost after restage on a fresh cache: " \
            f"{sorted(bad.items())[:10]} of {len(want)}\n{diag(node, env, [vol])}"
        unstage(node, env, vol)
        assert_unstaged(env, vol)


# ---- fixtures ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def env():
    e = Env(tag="e2e-s3")
    yield e
    for v in ALL_VOLS:
        for p in rclone_pids(v):
            os.kill(p, signal.SIGKILL)
    for m in reversed(mounts()):
        if m[4].startswith(e.base):
            subprocess.run(["umount", "-l", m[4]], capture_output=True)
    if dm_exists(CACHE_MAPPER):
        subprocess.run(["cryptsetup", "close", CACHE_MAPPER], capture_output=True)
    for d in os.listdir(e.base):
        for loop in loops_of(os.path.join(e.base, d, "vfs-cache.luks")):
            subprocess.run(["losetup", "-d", loop], capture_output=True)
    shutil.rmtree(e.base, ignore_errors=True)


S3_SERVERS = ("s3rver", "fauxqs")
# What also runs against the second server: the tests whose outcome
# depends on how the server lists, stores and deletes objects. The kill
# and error tests exercise rclone and the driver, not the server (and
# fauxqs refuses no access key), so they run against s3rver only, which
# keeps the suite's time in check.
ON_SECOND_SERVER = {"test_lifecycle_on_encrypted_cache_and_fresh_restage",
                    "test_bucket_holds_only_ciphertext", "test_stock_rclone_layout_both_ways",
                    "test_nested_trees_after_restarts_over_warm_cache",
                    "test_delete_volume_purges_exactly_one_volume"}


def pytest_generate_tests(metafunc):
    if "s3" in metafunc.fixturenames:
        second = metafunc.function.__name__ in ON_SECOND_SERVER
        metafunc.parametrize("s3", S3_SERVERS if second else S3_SERVERS[:1], indirect=True,
                             scope="module")


@pytest.fixture(scope="module")
def s3(env, request):
    kind = request.param
    r = subprocess.run([os.path.join(ROOT, "tests", "s3", f"{kind}.sh"), "install"],
                       capture_output=True, text=True,
                       env={"PATH": CHILD_PATH, "HOME": "/nonexistent"})
    if r.returncode != 0:
        pytest.fail(f"{kind} is not installed (tests/s3/{kind}.sh install on the host, "
                    f"with network): {r.stderr}")
    s = S3Server(env.base, kind, [BUCKET, OTHER_BUCKET])
    yield s
    s.stop()


@pytest.fixture(scope="module")
def kube(s3):
    k = FakeKube()
    k.set_secret(CACHE_NS, CACHE_NAME, {"passphrase": CACHE_SECRET.encode()})
    k.set_secret(S3_NS, S3_SECRET, as_bytes(s3_secret_data(s3)))
    k.set_secret(HARD_NS, HARD_NAME, {"passphrase": HARD_PASS.encode()})
    k.set_secret(REF_NS, REF_NAME, {"passphrase": PASS2.encode()})
    yield k
    k.stop()


@pytest.fixture(scope="module")
def node(env, kube):
    n = S3Node(env, kube)
    yield n
    n.stop()
    # the next server's node starts on a cache volume of its own
    n.teardown_cache()


@pytest.fixture(autouse=True)
def release_after_failure(request, env):
    """A failed test must not leave volumes staged for the next one."""
    yield
    if not STAGED or "node" not in request.fixturenames:
        return
    n = request.getfixturevalue("node")
    for vol, targets in list(STAGED.items()):
        for t in list(targets):
            try:
                unpublish(n, vol, t)
            except grpc.RpcError:
                pass
        try:
            unstage(n, env, vol)
        except grpc.RpcError:
            pass
    STAGED.clear()


# ---- 1. lifecycle ------------------------------------------------------------------

def test_lifecycle_on_encrypted_cache_and_fresh_restage(node, env, s3):
    vol = volid()
    ctx = s3_ctx()
    for _ in range(2):  # idempotent
        stage(node, env, vol, ctx)
    st = env.staging(vol)
    fstype, source, _ = mount_of(st)
    assert fstype == "fuse.rclone" and remote_ok(source, vol), (fstype, source)
    assert len(rclone_pids(vol)) == 1, f"one rclone per staged volume\n{diag(node, env, [vol])}"

    # the VFS cache is the node-wide LUKS2 volume on dm-crypt
    dm = dm_of_mount(node.cache_mount)
    assert dm is not None, f"{node.cache_mount} is not a device-mapper mount"
    name, dm_uuid, backing = dm
    assert name == CACHE_MAPPER and dm_uuid.startswith("CRYPT-LUKS2-"), (name, dm_uuid)
    assert [os.path.realpath(b) for b in backing] == [os.path.realpath(node.cache_file)], backing
    with open(node.cache_file, "rb") as f:
        assert f.read(8) == LUKS2_MAGIC
    # the cache passphrase is "<Secret value>-<node id>"
    subprocess.run(["cryptsetup", "open", "--test-passphrase", node.cache_file],
                   input=f"{CACHE_SECRET}-{NODE}".encode(), check=True, capture_output=True)

    t1, t2 = env.target(vol), env.target(vol)
    for _ in range(2):
        publish(node, env, vol, t1)
    publish(node, env, vol, t2, readonly=True)
    assert fuse_ok(t1, vol) and fuse_ok(t2, vol)
    files = write_tree(t1, LAYOUT)
    assert sha256_file(os.path.join(t2, "big.bin")) == files["big.bin"]
    with pytest.raises(OSError):
        open(os.path.join(t2, "nope"), "w")
    assert "ro" in mount_of(t2)[2].split(",")
    assert "rw" in mount_of(st)[2].split(","), "a read-only publish changed the staging mount"

    s = stats(node, env, vol, t1)
    assert not s.volume_condition.abnormal, s.volume_condition.message
    usage = {u.unit: u for u in s.usage}
    assert usage[csi_pb2.VolumeUsage.BYTES].total == CAPACITY

    for t in (t1, t2):
        for _ in range(2):
            unpublish(node, vol, t)
        assert mount_of(t) is None
    for _ in range(2):
        unstage(node, env, vol)
    assert_unstaged(env, vol)
    # the drain: every file is an object once NodeUnstageVolume returned
    keys = s3.keys(prefix=vol_prefix(vol) + "files/")
    assert len(keys) == len(files), keys

    restage_fresh_and_verify(node, env, {vol: files}, {vol: (ctx, PASS)}, exact=True)


# ---- 2. ciphertext --------------------------------------------------------------------

NAME_MARK = "plaintextname"
DIR_MARK = "plaintextdir"
BODY_MARK = b"plaintext-body-marker-3e9b"


def test_bucket_holds_only_ciphertext(node, env, s3):
    vol = volid()
    stage(node, env, vol, s3_ctx())
    st = env.staging(vol)
    layout = {f"{DIR_MARK}-1/{DIR_MARK}-2/{NAME_MARK}-a.txt": BODY_MARK * 300,
              f"{DIR_MARK}-1/{NAME_MARK}-b.txt": BODY_MARK + os.urandom(70000) + BODY_MARK,
              f"{NAME_MARK}-c.txt": BODY_MARK}
    files = write_tree(st, layout)
    # the plaintext sits in the cache, which is encrypted at rest
    os.sync()
    cache_hit = subprocess.run(["grep", "-c", "-a", "-F", BODY_MARK.decode(), node.cache_file],
                               capture_output=True)
    assert cache_hit.returncode == 1, "plaintext found in the cache volume's backing file"
    unstage(node, env, vol)
    assert_unstaged(env, vol)

    base = vol_prefix(vol) + "files/"
    keys = s3.keys(prefix=vol_prefix(vol))
    assert keys and all(k.startswith(base) for k in keys), keys
    assert len(keys) == len(files)
    depths = sorted(k[len(base):].count("/") for k in keys)
    assert depths == sorted(rel.count("/") for rel in files), "directory structure differs"
    for k in keys:
        for part in k[len(base):].split("/"):
            # rclone standard name encryption: base32hex, lower case
            assert re.fullmatch(r"[0-9a-v]+", part), f"not an encrypted name: {part!r} in {k}"
            assert NAME_MARK not in part and DIR_MARK not in part
        body = s3.get(BUCKET, k)
        assert body.startswith(RCLONE_MAGIC), f"{k} is not rclone crypt: {body[:16]!r}"
        assert BODY_MARK not in body
    # nothing anywhere in the server's store: keys, bodies, metadata
    for d, _, names in os.walk(s3.data):
        for n in names:
            assert NAME_MARK not in n and DIR_MARK not in n, n
            with open(os.path.join(d, n), "rb") as f:
                blob = f.read()
            for mark in (BODY_MARK, NAME_MARK.encode(), DIR_MARK.encode()):
                assert mark not in blob, f"{mark!r} in {os.path.join(d, n)}"
    # and it is exactly the documented rclone crypt derivation (salt: the volume id)
    stock = StockRclone(s3, vol, PASS)
    try:
        assert stock.lsf() == sorted(files)
    finally:
        stock.close()


# ---- 3. compatibility with stock rclone -----------------------------------------

PASS_NL = "compat passphrase ending in a newline 0d4e\n"


def test_stock_rclone_layout_both_ways(node, env, s3):
    """Data written by stock rclone the documented way (README's recipe,
    with a prefix, which salts password2) is read through the driver, and
    data written through the driver is read back by stock rclone with that
    config. The passphrase ends in a newline, which belongs to it."""
    prefix = "compat/team-a"
    vol = volid()
    stock = StockRclone(s3, vol, PASS_NL, prefix=prefix)
    src = tempfile.mkdtemp(prefix="lcw-stock-src-")
    out = tempfile.mkdtemp(prefix="lcw-stock-out-")
    try:
        before = write_tree(src, {"from-rclone/a.bin": MIB, "from-rclone/deep/er/b.txt": b"b\n",
                                  "from-rclone/deep/c.txt": b"c\n",
                                  "top.txt": b"written by stock rclone\n"})
        stock.copy_in(src)
        assert len(s3.keys(prefix=vol_prefix(vol, prefix) + "files/")) == len(before)

        ctx = s3_ctx(prefix=prefix)
        stage(node, env, vol, ctx, passphrase=PASS_NL)
        st = env.staging(vol)
        assert tree_digests(st) == before, s3.keys(prefix=vol_prefix(vol, prefix))
        after = dict(before)
        after.update(write_tree(st, {"from-driver/c.bin": MIB + 17,
                                     "from-driver/nested/d.txt": b"d\n",
                                     "top.txt": b"rewritten through the driver\n"}))
        unstage(node, env, vol)
        assert_unstaged(env, vol)

        assert stock.lsf() == sorted(after)
        stock.copy_out(out)
        assert tree_digests(out) == after
        # nothing outside the prefix was written
        assert s3.keys(prefix=f"volumes/{vol}/") == []
    finally:
        stock.close()
        shutil.rmtree(src, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)


# ---- 4. errors ------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stage_error(node, env, ctx, code, mention=(), vol=None):
    vol = vol or volid()
    t0 = time.monotonic()
    e = rpc_error(stage, node, env, vol, ctx, timeout=ERROR_BOUND_S + 30)
    took = time.monotonic() - t0
    assert e.code() == code, f"{ctx.get('s3-secret-name')}: {e.code()} {e.details()}"
    assert took < ERROR_BOUND_S, f"{e.code()} took {took:.0f} s"
    for m in mention:
        assert m in e.details(), e.details()
    for s in SECRETS:
        assert s not in e.details()
    assert_unstaged(env, vol)
    STAGED.pop(vol, None)
    return vol


class SignatureRefused:
    """An S3 endpoint that answers every request the way AWS answers one
    signed with a wrong secret access key. (s3rver 3.7.1 does not verify
    SigV4 signatures at all, so it cannot stand in for a wrong secret key;
    it does refuse an unknown access key id.)"""

    BODY = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code>'
            b"<Message>The request signature we calculated does not match the signature you "
            b"provided. Check your key and signing method.</Message>"
            b"<RequestId>4442587FB7D0A2F9</RequestId></Error>")

    def __init__(self):
        body = self.BODY

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def refuse(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                self.send_response(403)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = refuse

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()


def test_stage_errors_are_distinct_fast_and_leave_nothing(node, env, kube, s3):
    def secret(name, **over):
        kube.set_secret(S3_NS, name, as_bytes(s3_secret_data(s3, **over)))
        return s3_ctx(secret=name)

    # bad credentials: an access key id the server does not know ...
    bad = secret("s3-bad-id", **{"s3-access-key-id": "WRONGKEY"})
    vol = stage_error(node, env, bad, grpc.StatusCode.PERMISSION_DENIED)
    # ... and the user fixes the Secret: the same volume now stages
    secret("s3-bad-id")
    stage(node, env, vol, bad)
    assert healthy(env.staging(vol), vol)
    unstage(node, env, vol)
    assert_unstaged(env, vol)
    # ... and a wrong secret access key
    refusing = SignatureRefused()
    try:
        stage_error(node, env, secret("s3-bad-secret", **{"s3-endpoint": refusing.endpoint}),
                    grpc.StatusCode.PERMISSION_DENIED)
    finally:
        refusing.stop()

    stage_error(node, env, secret("s3-no-bucket", **{"s3-bucket": "lcw-no-such-bucket"}),
                grpc.StatusCode.FAILED_PRECONDITION, mention=["lcw-no-such-bucket"])
    stage_error(node, env, secret("s3-stopped", **{
        "s3-endpoint": f"http://127.0.0.1:{free_port()}"}), grpc.StatusCode.UNAVAILABLE)
    stage_error(node, env, s3_ctx(secret="s3-missing"), grpc.StatusCode.NOT_FOUND,
                mention=["s3-missing"])
    stage_error(node, env, s3_ctx(**{"rclone-vfs-cache-max-age": "soon"}),
                grpc.StatusCode.INVALID_ARGUMENT, mention=["rclone-vfs-cache-max-age"])


# ---- 5. rclone killed mid-write ----------------------------------------------------

def wait_done(writers, n, timeout=90):
    assert wait_for(lambda: all(len(w.snapshot()) >= n for w in writers), timeout), \
        [(len(w.snapshot()), w.errors[:5]) for w in writers]


def test_rclone_killed_mid_write_recovers_in_place(node, env, s3):
    vol = volid()
    # a write-back long enough that the newest fsynced files are still only
    # in the cache when rclone dies
    ctx = s3_ctx(**{"rclone-vfs-write-back": "5s"})
    stage(node, env, vol, ctx)
    st, t = env.staging(vol), env.target(vol)
    publish(node, env, vol, t)
    w = Writer(t, s3, vol)
    w.start()
    try:
        wait_done([w], 8)
        before = w.snapshot()
        [old] = rclone_pids(vol)
        os.kill(old, signal.SIGKILL)
        # a quick look while it is down: abnormal, if the mount was really
        # dead just before and just after the call
        d1 = dead(t)
        cond = abnormal(node, env, vol, t)
        d2 = dead(t)
        if d1 and d2 and cond is not None:
            assert cond, "dead mount reported healthy"
        uploaded = len(s3.keys(prefix=vol_prefix(vol) + "files/"))

        t_kill = time.monotonic()
        assert wait_for(lambda: healthy(st, vol), RECOVERY_S), \
            f"staging mount not back after {RECOVERY_S} s\n{diag(node, env, [vol])}"
        assert mount_of(st) is not None
        new = rclone_pids(vol)
        assert len(new) == 1 and new != [old], new
        assert wait_for(lambda: healthy(t, vol), RECOVERY_S - (time.monotonic() - t_kill)), \
            f"publish target not re-bound\n{diag(node, env, [vol])}"
        assert wait_for(lambda: abnormal(node, env, vol, t) is False, 15)
        # the live bind went on top of the dead one: the target was never
        # the bare kubelet directory in between (writes would have landed
        # on the node's disk), and the dead bind is still beneath it
        at_t = [m for m in mounts() if m[4] == t]
        assert len(at_t) == 2 and all(m[m.index("-") + 1] == "fuse.rclone" for m in at_t), at_t
        healed = time.monotonic()
        # writes work again after the recovery
        assert wait_for(lambda: any(ts > healed for _, _, ts in w.snapshot()), 30), w.errors[-5:]
    finally:
        done = w.finish()
    assert uploaded < len(before), \
        "test precondition: some fsynced files should still have been queued at the kill"
    assert {rel for rel, _, _ in before} <= set(done)
    back = [(int(n), int(k)) for n, k in re.findall(
        r"(\d+) stranded file\(s\) written back through the new mount, (\d+) kept aside",
        node.output())]
    assert back and back[-1][0] > 0, "the queued files were not written back through the new mount"
    # no other writer: nothing may be taken for a conflict
    assert all(k == 0 for _, k in back), f"files kept aside with no other writer: {back}"

    def data():
        bad = lost(done, t)
        why = diag(node, env, [vol])
        unpublish(node, vol, t, check=False)
        assert mount_of(t) is None, "unpublish left a mount of the stack at the target"
        on_disk = beneath(t)
        assert not bad and not on_disk, \
            f"fsynced files lost after the recovery: {sorted(bad.items())[:10]} of " \
            f"{len(done)} ({len(before)} before the kill); written to the node's disk " \
            f"beneath the target instead: {on_disk[:10]}\n{why}"
        unstage(node, env, vol)
        assert_unstaged(env, vol)
        restage_fresh_and_verify(node, env, {vol: done}, {vol: (ctx, PASS)})
    record_durability("rclone", data, node, env, [vol])


# ---- 6. the whole driver killed mid-write ------------------------------------------

def test_driver_killed_mid_write_recovers_from_cache_records(node, env, kube, s3):
    """One hardened volume (privd reads the passphrase Secret named in the
    volume context) and one node-stage-secret volume (after the restart the
    passphrase comes from the PV's nodeStageSecretRef), both written to
    while every process of the driver, rclone included, is SIGKILLed."""
    vh, vr = volid(), volid()
    ctx_h = s3_ctx(hardened=True)
    ctx_r = s3_ctx(prefix="ref-pre", **{"rclone-vfs-write-back": "5s"})
    kube.set_pvs([(f"pv-{vh}", vh, ctx_h),
                  (f"pv-{vr}", vr, ctx_r, {"name": REF_NAME, "namespace": REF_NS})])
    stage(node, env, vh, ctx_h)
    stage(node, env, vr, ctx_r, passphrase=PASS2)
    targets = {vh: env.target(vh), vr: env.target(vr)}
    for v, t in targets.items():
        publish(node, env, v, t)
    writers = {v: Writer(t, s3, v, prefix=ctx_r.get("s3-path-prefix") if v == vr else None)
               for v, t in targets.items()}
    for w in writers.values():
        w.start()
    try:
        wait_done(writers.values(), 8)
        before = {v: w.snapshot() for v, w in writers.items()}
        node.kill_everything([vh, vr])
        for v in (vh, vr):
            assert dead(env.staging(v)), f"{v}: mount still served after the kill"
        n_requests = len(kube.requests)
        node.start()
        for v in (vh, vr):
            assert wait_for(lambda: healthy(env.staging(v), v), RECOVERY_S), \
                f"{v}: not re-mounted\n{diag(node, env, [v])}"
            assert wait_for(lambda: healthy(targets[v], v), 15), \
                f"{v}: publish target not re-bound\n{diag(node, env, [v])}"
            assert wait_for(lambda: abnormal(node, env, v, targets[v]) is False, 15)
        later = kube.requests[n_requests:]
        assert any(f"/namespaces/{REF_NS}/secrets/{REF_NAME}" in p for p in later), later
        assert any(f"/namespaces/{HARD_NS}/secrets/{HARD_NAME}" in p for p in later), later
        healed = time.monotonic()
        assert wait_for(lambda: all(any(ts > healed for _, _, ts in w.snapshot())
                                    for w in writers.values()), 30)
    finally:
        done = {v: w.finish() for v, w in writers.items()}
    for v in (vh, vr):
        assert {rel for rel, _, _ in before[v]} <= set(done[v])

    def data():
        for v in (vh, vr):
            bad = lost(done[v], targets[v])
            why = diag(node, env, [v])
            unpublish(node, v, targets[v], check=False)
            on_disk = beneath(targets[v])
            label = "hardened" if v == vh else "nodeStageSecretRef"
            assert not bad and not on_disk, \
                f"{v} ({label}): fsynced files lost after the driver restart: " \
                f"{sorted(bad.items())[:10]} of {len(done[v])} ({len(before[v])} before the " \
                f"kill); written to the node's disk beneath the target instead: " \
                f"{on_disk[:10]}\n{why}"
            unstage(node, env, v)
            assert_unstaged(env, v)
        restage_fresh_and_verify(node, env, done, {vh: (ctx_h, None), vr: (ctx_r, PASS2)})
    record_durability("driver", data, node, env, [vh, vr])


# ---- 5b/6b. durability of fsync'ed data across the kills ---------------------------

# rclone 1.60 alone would hide the never-uploaded files in new directories
# after the restart ("failed to add virtual dir entry"); privd moves them
# aside before it restarts rclone and writes them back through the new mount
# before the publish targets are bound again (privd/s3/cache_rescue.h).
def test_rclone_kill_keeps_every_fsynced_file():
    assert "rclone" in DURABILITY, "the rclone-kill test did not get to its data check"
    assert DURABILITY["rclone"] is None, DURABILITY["rclone"]


def test_driver_kill_keeps_every_fsynced_file():
    assert "driver" in DURABILITY, "the driver-kill test did not get to its data check"
    assert DURABILITY["driver"] is None, DURABILITY["driver"]


# ---- 6c. a volume staged before the node restarted waits for kubelet -----------

def past_aborted(call, tries=40):
    """call(), again while it is ABORTED because the supervisor holds the
    volume (kubelet retries the same way)."""
    for _ in range(tries - 1):
        try:
            return call()
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.ABORTED:
                raise
            time.sleep(0.5)
    return call()


def test_volume_staged_before_a_reboot_waits_for_nodestage(node, env, s3):
    """A record older than this boot is a mount the reboot ended. While the
    node was down its pod may have moved to another node, so privd must not
    revive the mount on its own: that would upload this cache's stale
    pending writes over newer data. NodeUnstage refuses while they are kept;
    NodeStage on this node uploads them."""
    vol = volid()
    stage(node, env, vol, s3_ctx(**{"rclone-vfs-write-back": "10m"}))
    st = env.staging(vol)
    done = write_tree(st, {"kept/one.bin": 100000, "two.txt": b"two"})
    assert not s3.keys(prefix=vol_prefix(vol)), "test precondition: nothing uploaded yet"
    node.kill_everything([vol])
    mark = os.path.join(node.cache_mount, "lcw-volumes", ".boot", vol)
    with open("/proc/sys/kernel/random/boot_id") as f:
        assert open(mark).read() == f.read().strip(), "the record's boot mark is not this boot"
    with open(mark, "w") as f:  # as if staged during the previous boot
        f.write("00000000-0000-4000-8000-000000000000")
    node.start()
    assert wait_for(lambda: "before the node restarted" in node.output(), 60), \
        node.output()[-3000:]
    time.sleep(6)  # three supervisor rounds
    assert rclone_pids(vol) == [], "privd revived a mount from before the reboot"
    assert not healthy(st, vol)
    assert not s3.keys(prefix=vol_prefix(vol)), "stale pending writes were uploaded"

    with pytest.raises(grpc.RpcError) as e:
        unstage(node, env, vol)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE, e.value
    assert "before the node restarted" in e.value.details(), e.value.details()

    # A stage that fails with the data still in this cache (here: the
    # rescue area holds a directory where a pending file must go) keeps
    # the volume known: NodeUnstage still refuses to forget it.
    obstacle = os.path.join(node.cache_mount, "lcw-rescue", vol, "two.txt")
    os.makedirs(obstacle)
    with pytest.raises(grpc.RpcError) as e:
        past_aborted(lambda: stage(node, env, vol, s3_ctx()))
    assert e.value.code() == grpc.StatusCode.INTERNAL, e.value
    assert "two.txt" not in e.value.details(), "a file name (volume data) in an error"
    with pytest.raises(grpc.RpcError) as e:
        past_aborted(lambda: unstage(node, env, vol))
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE, e.value
    assert rclone_pids(vol) == []
    shutil.rmtree(obstacle)

    # kubelet stages it again here (or the supervisor got there first, now
    # that the volume is known again): the kept writes come back, uploaded
    past_aborted(lambda: stage(node, env, vol, s3_ctx()))
    bad = lost(done, st)
    assert not bad, f"lost after the restage: {bad}\n{diag(node, env, [vol])}"
    unstage(node, env, vol)
    assert_unstaged(env, vol)
    assert len(s3.keys(prefix=vol_prefix(vol) + "files/")) == len(done)


# ---- 6d. nested directories across a restart over this node's warm cache ----------

# A pod restarting on the same node: the volume comes back over this node's
# cache volume (kept), by a NodeUnstage and NodeStage, or by privd's
# recovery after rclone or the whole driver was killed. dir/ and x/y/ hold
# nothing but a directory, as after "mkdir -p dir/sub": S3 has no
# directories, so such a directory exists only as a common prefix in a
# delimited listing of its parent, which is how rclone lists a directory.
# Stock s3rver 3.7.1 left such prefixes out, and the mount lost dir/ and x/
# (issue 15); tests/s3/s3rver.sh patches it to list them as S3 does.
NESTED = {"dir/sub/secret-name.bin": MIB, "plain.txt": b"hello",
          "a/top.txt": b"top\n", "a/b/mid.bin": 256 * 1024, "a/b/c/deep.txt": b"deep\n" * 100,
          "x/y/z/only.txt": b"only\n"}
# rewritten in the second session
CHANGED = {"dir/sub/secret-name.bin": MIB // 2 + 5}
WAYS_BACK = ("restage", "rclone-killed", "driver-restarted")


def tree_problem(s3, vol, root, want):
    """None when root holds every file of want with its content and
    nothing else; else what differs."""
    got = tree_digests(root)
    bad, extra = lost(want, root), sorted(set(got) - set(want))
    if not bad and not extra:
        return None
    tops = s3.common_prefixes(prefix=vol_prefix(vol) + "files/")
    return (f"{sorted(bad.items())} of {len(want)} files, unexpected {extra}; the mount's "
            f"root lists {sorted(os.listdir(root))}, the S3 server's delimited listing "
            f"{len(tops)} directories")


def wait_back(node, env, vol, t):
    """The staging mount live again, and bound again at t."""
    assert wait_for(lambda: healthy(env.staging(vol), vol), RECOVERY_S), \
        f"staging mount not back\n{diag(node, env, [vol])}"
    assert wait_for(lambda: healthy(t, vol), RECOVERY_S), \
        f"publish target not re-bound\n{diag(node, env, [vol])}"


def test_nested_trees_after_restarts_over_warm_cache(node, env, kube, s3):
    """Issue 15: files in directories made in the first session must be
    there, whole, when the volume comes back over this node's cache, after a
    change in the second session, and after a restage on a fresh cache. One
    volume per way back, on one driver: one fresh-cache restage for all."""
    vols = {how: volid() for how in WAYS_BACK}
    ctx = s3_ctx()
    # after the driver restart the passphrase comes from the PV's nodeStageSecretRef
    kube.set_pvs([(f"pv-{v}", v, ctx, {"name": REF_NAME, "namespace": REF_NS})
                  for v in vols.values()])
    targets, files = {}, {}
    for how, v in vols.items():
        stage(node, env, v, ctx, passphrase=PASS2)
        targets[how] = env.target(v)
        publish(node, env, v, targets[how])
        files[how] = write_tree(targets[how], NESTED)
    # every file uploaded: the directories exist only in the bucket's listings
    for v in vols.values():
        pre = vol_prefix(v) + "files/"
        assert wait_for(lambda: len(s3.keys(prefix=pre)) == len(NESTED), 60), s3.keys(prefix=pre)

    problems = {}

    def check(how):
        problems[how] = tree_problem(s3, vols[how], targets[how], files[how])

    v, t = vols["restage"], targets["restage"]
    unpublish(node, v, t)
    unstage(node, env, v)
    assert_unstaged(env, v)
    stage(node, env, v, ctx, passphrase=PASS2)
    publish(node, env, v, t)
    check("restage")

    v = vols["rclone-killed"]
    [old] = rclone_pids(v)
    os.kill(old, signal.SIGKILL)
    assert wait_for(lambda: old not in rclone_pids(v), 20), f"rclone {old} still runs"
    wait_back(node, env, v, targets["rclone-killed"])
    check("rclone-killed")

    # kills every rclone of the driver: the other two come back this way too
    node.kill_everything(list(vols.values()))
    node.start()
    for how, v in vols.items():
        wait_back(node, env, v, targets[how])
    check("driver-restarted")
    problems = {how: p for how, p in problems.items() if p}
    assert not problems, f"back over the warm cache: {problems}\n" \
        f"{diag(node, env, list(vols.values()))}"

    for how, t in targets.items():
        files[how].update(write_tree(t, CHANGED))
        check(how)
    problems = {how: p for how, p in problems.items() if p}
    assert not problems, f"after a change in the second session: {problems}"

    for how, v in vols.items():
        unpublish(node, v, targets[how])
        unstage(node, env, v)
        assert_unstaged(env, v)
        pre = vol_prefix(v) + "files/"
        assert len(s3.keys(prefix=pre)) == len(files[how]), s3.keys(prefix=pre)
    restage_fresh_and_verify(node, env, {v: files[how] for how, v in vols.items()},
                             {v: (ctx, PASS2) for v in vols.values()}, exact=True)


# ---- 7. DeleteVolume ----------------------------------------------------------------

def test_unstage_while_published_is_refused_and_keeps_every_write(node, env, s3):
    """Kubelet unpublishes every pod before NodeUnstage; a compromised
    frontend need not. A pod writing through its bind must not lose a byte:
    the unstage is refused while a publish bind is live, and the volume goes
    on serving."""
    vol = volid()
    ctx = s3_ctx()
    stage(node, env, vol, ctx)
    t = env.target(vol)
    publish(node, env, vol, t)
    written = {}
    for i in range(20):
        name = f"w{i:02d}.bin"
        data = os.urandom(64 * 1024)
        with open(os.path.join(t, name), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        written[name] = hashlib.sha256(data).hexdigest()
        if i == 10:
            with pytest.raises(grpc.RpcError) as ei:
                unstage(node, env, vol)
            assert ei.value.code() == grpc.StatusCode.FAILED_PRECONDITION, ei.value
            assert "published" in ei.value.details(), ei.value.details()
    STAGED.setdefault(vol, set()).add(t)
    assert fuse_ok(t, vol), f"the pod's mount died\n{diag(node, env, [vol])}"
    for name, digest in written.items():
        assert sha256_file(os.path.join(t, name)) == digest, name
    unpublish(node, vol, t)
    unstage(node, env, vol)
    assert_unstaged(env, vol)
    stage(node, env, vol, ctx)
    publish(node, env, vol, t)
    for name, digest in written.items():
        assert sha256_file(os.path.join(t, name)) == digest, f"{name} lost"
    unpublish(node, vol, t)
    unstage(node, env, vol)


def test_delete_volume_purges_exactly_one_volume(node, env, kube, s3):
    prefix = "del-pre"
    va, vb = volid(), volid()
    ctx = s3_ctx(prefix=prefix)
    stage(node, env, va, ctx)
    write_tree(env.staging(va), {"d/one.bin": 100000, "two.txt": b"two"})
    unstage(node, env, va)
    assert_unstaged(env, va)
    mine = s3.keys(prefix=vol_prefix(va, prefix))
    assert len(mine) == 2, f"not under {vol_prefix(va, prefix)}: {s3.keys()}"
    unrelated = [(BUCKET, f"{prefix}/volumes/{vb}/files/x"),
                 (BUCKET, f"{prefix}/volumes/{vb}/files/d/y"),
                 (BUCKET, f"{prefix}/volumes/{va}x/files/sibling"),
                 (BUCKET, f"{prefix}/unrelated.txt"),
                 (BUCKET, f"volumes/{va}/files/no-prefix-same-id"),
                 (OTHER_BUCKET, f"{prefix}/volumes/{va}/files/other-bucket")]
    for b, k in unrelated:
        s3.put(b, k, b"not this volume")
    before = s3.keys()
    kube.set_pvs([(f"pv-{va}", va, ctx), (f"pv-{vb}", vb, ctx)])
    ctrl = env.controller_driver(extra=kube.driver_args())
    try:
        def delete(vol, **over):
            ctrl.controller().DeleteVolume(csi_pb2.DeleteVolumeRequest(
                volume_id=vol, secrets=s3_secret_data(s3, **over)), timeout=60)

        for _ in range(2):  # idempotent
            delete(va)
        assert s3.keys() == sorted(set(before) - set(mine))
        assert s3.keys(OTHER_BUCKET) == [f"{prefix}/volumes/{va}/files/other-bucket"]
        e = rpc_error(delete, vb, **{"s3-bucket": "lcw-no-such-bucket"})
        assert e.code() != grpc.StatusCode.OK and S3_KEY not in e.details()
        assert s3.keys() == sorted(set(before) - set(mine)), "a failed delete removed objects"
    finally:
        ctrl.stop()


# ---- 8. leak scan -----------------------------------------------------------------------

def scan_tree(roots, needles):
    """(path, needle) for every regular file below roots holding a needle;
    files are read in chunks (the cache volume's file is large)."""
    hits, keep = [], max(len(n) for n in needles)
    for root in roots:
        for d, _, names in os.walk(root):
            for n in names:
                p = os.path.join(d, n)
                try:
                    if not stat.S_ISREG(os.lstat(p).st_mode):
                        continue
                    with open(p, "rb") as f:
                        tail = b""
                        while True:
                            chunk = f.read(8 * MIB)
                            if not chunk:
                                break
                            buf = tail + chunk
                            hits += [(p, x) for x in needles if x in buf and (p, x) not in hits]
                            tail = buf[-keep:]
                except OSError:
                    pass
    return hits


def scan_procs(needles):
    hits = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        for what in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{what}", "rb") as f:
                    blob = f.read()
            except OSError:
                continue
            hits += [(pid, what, x) for x in needles if x in blob]
    return hits


def test_no_secret_leaks(node, env, s3):
    needles = [s.encode() for s in SECRETS]
    vh, vn = volid(), volid()
    ctx_h, ctx_n = s3_ctx(hardened=True), s3_ctx()
    stage(node, env, vh, ctx_h)
    stage(node, env, vn, ctx_n)
    targets = {vh: env.target(vh), vn: env.target(vn)}
    for v, t in targets.items():
        publish(node, env, v, t)
        write_tree(t, {"f.bin": 200000, "g/h.txt": b"h"})
    assert rclone_pids(vh) and rclone_pids(vn)
    # while rclone runs: no argv or environment holds a secret
    assert scan_procs(needles) == []
    # hardened mode: the frontend never held the passphrase, and in either
    # mode never the S3 key or the cache Secret (the positive control proves
    # the scan reads its heap)
    fe = frontend_pid(node)
    assert memory_contains(fe, node.sock.encode())
    for x in (HARD_PASS, S3_KEY, CACHE_SECRET):
        assert not memory_contains(fe, x.encode()), f"frontend memory holds {x!r}"
    roots = [node.cache_root, node.cache_mount, env.kubelet, env.run]
    assert scan_tree(roots, needles) == []
    for v, t in targets.items():
        unpublish(node, v, t)
        unstage(node, env, v)
        assert_unstaged(env, v)
    assert scan_tree(roots + [s3.data], needles) == []
    out = node.output()
    assert not [s for s in SECRETS if s in out]


# ---- passphrase rotation of the node's VFS-cache volume (issue 14) ------------------

def test_vfs_cache_volume_moves_to_a_rotated_secret(node, env, s3):
    """The cache volume's "<passphrase>-<node id>" key follows the rotation
    rule: with the new value in the Secret and the old one under
    passphrase-previous, the next open of the cache re-keys it (README
    "Passphrase rotation")."""
    vol = volid()
    ctx = s3_ctx()
    stage(node, env, vol, ctx)
    unstage(node, env, vol)
    node.stop()
    # what a reboot leaves: the cache file, nothing open
    subprocess.run(["umount", node.cache_mount], capture_output=True)
    subprocess.run(["cryptsetup", "close", CACHE_MAPPER], capture_output=True)
    for loop in loops_of(node.cache_file):
        subprocess.run(["losetup", "-d", loop], capture_output=True)
    assert not dm_exists(CACHE_MAPPER) and mount_of(node.cache_mount) is None

    def opens(p):
        return subprocess.run(["cryptsetup", "open", "--test-passphrase", "--key-file=-",
                               node.cache_file], input=p.encode(),
                              capture_output=True).returncode == 0

    new = "rotated vfs-cache secret 77e0c4"
    node.kube.set_secret(CACHE_NS, CACHE_NAME, {"passphrase": new.encode(),
                                                "passphrase-previous": CACHE_SECRET.encode()})
    try:
        node.start()
        stage(node, env, vol, ctx)
        assert opens(f"{new}-{NODE}"), "the cache volume does not open with the new Secret"
        assert not opens(f"{CACHE_SECRET}-{NODE}"), "the old cache passphrase still opens it"
        recs = [r for r in node.audit_records()
                if r.get("volume_id") == "vfs-cache" and r["op"] == "luks_rekey_at_stage"]
        assert recs and recs[-1]["result"] == "ok", recs
        assert new not in node.output() and CACHE_SECRET not in node.output()
        unstage(node, env, vol)
    finally:
        node.kube.set_secret(CACHE_NS, CACHE_NAME, {"passphrase": CACHE_SECRET.encode()})
        node.fresh()
