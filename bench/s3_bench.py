"""The S3 backend against stock rclone on the same S3 server, in one
invocation. Usage (where device-mapper exists: bench/run.sh s3 puts it in
the VM):

    s3_bench.py [--scratch DIR] [--quick] [--size-mib N] [--files N]
                [--max-reps N] [--budget S] [--out FILE]

The server is s3rver (tests/s3/s3rver.sh, on 127.0.0.1), the driver the
real node driver with its VFS cache on the node's LUKS cache volume, called
through its CSI socket with a fake Kubernetes API (tests/e2e/fake_kube.py)
serving the S3 and cache Secrets. Stock rclone is /usr/bin/rclone, the
binary the driver mounts with, started with an explicit minimal
environment (a host's AWS_CA_BUNDLE breaks its S3 backend).

1. write: 256 MiB, 1 MiB blocks, from a local file into the published
   target, fsync, close, then NodeUnpublish + NodeUnstage, which returns
   once rclone has uploaded everything: the time until the bytes are in S3.
   Baseline: `rclone copy` of the same file to the same server (plain s3
   remote, another prefix). Reference: `rclone copy` through a crypt
   remote (stock rclone encrypting as the driver's rclone does).
2. read: the volume staged again on an empty VFS cache (a drained unstage
   removes the volume's cache), the file read sequentially in 1 MiB
   blocks (cold: from S3), then once more (warm: from the VFS cache).
   Baseline: `rclone copy` of the baseline object to local disk (and,
   as reference, of the crypt remote's object).
3. listing: 10,000 tiny files put into one directory of a volume with
   stock rclone in the driver's crypt layout, then per repetition the
   volume staged and the directory listed with os.listdir + os.lstat of
   every entry (what `ls -l` does) twice: cold (the first listing after the
   stage) and warm. Baseline: `rclone lsf` of the same encrypted directory
   through a stock crypt remote.

Sides alternate going first, repetition by repetition; the page cache is
dropped before every timed operation except the warm listing. Repetitions
stop at --max-reps or when the next one would not fit the phase's share of
--budget (a rule fixed before anything is measured). The results section
replaces the previous S3 section of results.md (between its markers) or is
appended. No timing is asserted anywhere."""
import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time

import grpc

import common
from common import MIB, PASS, TOOL_ENV, Layout, cleanup, csi_pb2, fmt_list, log, median, settle

sys.path.insert(0, os.path.join(common.ROOT, "tests", "e2e"))
from fake_kube import FakeKube  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
S3RVER = os.path.join(common.ROOT, "tests", "s3", "s3rver.sh")
S3RVER_BIN = os.path.join(os.environ.get("S3_TOOLS", os.path.join(common.ROOT, "build",
                                                                  "s3-tools")),
                          "node_modules", "s3rver", "bin", "s3rver.js")
BUCKET = "lcw-bench"
S3_NS, S3_SECRET = "bench-s3", "s3-creds"
S3_KEY = "bench-s3-secret-key-not-a-secret"  # s3rver --lenient takes any secret for S3RVER
CACHE_NS, CACHE_SECRET = "kube-system", "lcw-vfs-cache"
CACHE_SIZE = "1G"
VOLS_PREFIX = "pvc-bench-s3"
BEGIN, END = "<!-- s3_bench: begin -->", "<!-- s3_bench: end -->"
BLOCK = MIB
# write/read sides: the driver; `rclone copy` to a plain s3 remote (the
# baseline); `rclone copy` through a crypt remote (stock rclone encrypting
# as the driver's rclone does: where the rest of the difference goes).
RW_SIDES = ["baseline", "crypt", "driver"]


# ---- helpers ----------------------------------------------------------------

class Rclone:
    """Stock rclone with a private config: a plain s3 remote and a crypt
    remote per volume in the driver's layout (tests/e2e/test_s3_lifecycle.py's
    documented recipe)."""

    def __init__(self, d, endpoint):
        self.dir = d
        self.conf = os.path.join(d, "rclone.conf")
        self.env = {"PATH": TOOL_ENV["PATH"], "HOME": d}
        self._write(f"[s3]\ntype = s3\nprovider = Other\nenv_auth = false\n"
                    f"access_key_id = S3RVER\nsecret_access_key = {S3_KEY}\n"
                    f"region = us-east-1\nendpoint = {endpoint}\nforce_path_style = true\n")

    def _write(self, text):
        fd = os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as f:
            f.write(text)

    def obscure(self, pw):
        return self.run(["obscure", "-"], data=pw, conf=False).strip()

    def add_crypt(self, name, vol, passphrase):
        self._write(f"\n[{name}]\ntype = crypt\nremote = s3:{BUCKET}/volumes/{vol}/files\n"
                    f"filename_encryption = standard\ndirectory_name_encryption = true\n"
                    f"password = {self.obscure(passphrase)}\n"
                    f"password2 = {self.obscure(passphrase + '-' + vol)}\n")

    def add_crypt_local(self, name, path, vol, passphrase):
        """The same crypt remote (same passwords and salt) over a local dir."""
        self._write(f"\n[{name}]\ntype = crypt\nremote = {path}\n"
                    f"filename_encryption = standard\ndirectory_name_encryption = true\n"
                    f"password = {self.obscure(passphrase)}\n"
                    f"password2 = {self.obscure(passphrase + '-' + vol)}\n")

    def run(self, args, data=None, conf=True, timeout=1800):
        argv = ["rclone", *(["--config", self.conf] if conf else []), *args]
        p = subprocess.run(argv, input=data, capture_output=True, text=True, timeout=timeout,
                           env=self.env)
        if p.returncode != 0:
            raise RuntimeError(f"rclone {' '.join(args)} exited {p.returncode}: "
                               f"{p.stderr.strip()[-2000:]}")
        return p.stdout

    def timed(self, args):
        t0 = time.monotonic()
        out = self.run(args)
        return time.monotonic() - t0, out


def start_s3rver(d):
    """s3rver as tests/s3/s3rver.sh starts it (same arguments, its pid in
    d/pid so that `s3rver.sh stop d` stops it), but with a longer wait:
    s3rver.sh waits 100 polls for the port, and node's first start in the
    emulated VM (cold 9p reads, busy host) took 70-200 s. Returns the port."""
    os.makedirs(os.path.join(d, "data"))
    log_path = os.path.join(d, "log")
    t0 = time.monotonic()
    with open(log_path, "w") as lf:
        p = subprocess.Popen(["node", "--openssl-legacy-provider", S3RVER_BIN, "-d",
                              os.path.join(d, "data"), "-a", "127.0.0.1", "-p", "0",
                              "--allow-mismatched-signatures", "--configure-bucket", BUCKET],
                             stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                             start_new_session=True, env={"PATH": TOOL_ENV["PATH"], "HOME": d})
    with open(os.path.join(d, "pid"), "w") as f:
        f.write(f"{p.pid}\n")
    while time.monotonic() - t0 < 600:
        with open(log_path) as f:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", f.read())
        if m:
            log(f"s3: s3rver up after {time.monotonic() - t0:.0f} s")
            return int(m.group(1))
        if p.poll() is not None:
            break
        time.sleep(0.5)
    with open(log_path) as f:
        raise RuntimeError(f"s3rver did not start: {f.read()[-2000:]}")


class S3Log:
    """s3rver logs each response with its duration: the requests a timed
    operation made and the server's time answering them."""

    def __init__(self, path):
        self.path, self.pos = path, 0

    def mark(self):
        self.pos = os.path.getsize(self.path)

    def since(self):
        with open(self.path, "rb") as f:
            f.seek(self.pos)
            text = f.read().decode(errors="replace")
        ms = [int(m.group(1).replace(",", ""))
              for m in re.finditer(r" [1-5]\d\d ([\d,]+)ms ", text)]
        return len(ms), sum(ms) / 1000.0


def put_files(rc, src, vol, sdir):
    """Put a local tree into volume vol in the driver's crypt layout.

    Through S3, s3rver takes ~8 PUTs/s in the emulated VM (10,000 files:
    20 min), so: stock rclone encrypts the tree into a local directory with
    the volume's crypt config (same names, same format; only the random
    nonces differ from an upload), and the objects go into s3rver's
    filesystem store (s3rver 3.7.1, pinned by tests/s3/package-lock.json)
    as its PUT leaves them: KEY._S3rver_object, KEY._S3rver_object.md5 and
    KEY._S3rver_metadata.json with the metadata an rclone upload sets
    (content type, x-amz-meta-mtime)."""
    enc = os.path.join(rc.dir, "enc")
    rc.add_crypt_local("lsvol-local", enc, vol, PASS)
    rc.run(["copy", "--transfers", "32", src, "lsvol-local:"])
    store = os.path.join(sdir, "data", BUCKET, "volumes", vol, "files")
    for root, _, files in os.walk(enc):
        dst = os.path.join(store, os.path.relpath(root, enc))
        os.makedirs(dst, exist_ok=True)
        for name in files:
            f = os.path.join(root, name)
            st = os.stat(f)
            with open(f, "rb") as fh:
                md5 = hashlib.md5(fh.read()).hexdigest()
            o = os.path.join(dst, f"{name}._S3rver_object")
            os.rename(f, o)
            with open(o + ".md5", "w") as fh:
                fh.write(md5)
            mtime = f"{st.st_mtime_ns // 10**9}.{st.st_mtime_ns % 10**9:09d}"
            with open(os.path.join(dst, f"{name}._S3rver_metadata.json"), "w") as fh:
                fh.write(json.dumps({"content-type": "application/octet-stream",
                                     "x-amz-meta-mtime": mtime}, indent=2))
    shutil.rmtree(enc)
    return ("encrypted by stock rclone (`rclone copy --transfers 32`) with the volume's crypt "
            "config into a local directory, then placed into s3rver's store as its PUT stores "
            "objects (through S3, s3rver takes about 8 PUTs/s here)")


def copy_file(src, dst):
    """dd-like: 1 MiB blocks, then fsync and close."""
    buf = bytearray(BLOCK)
    fi = os.open(src, os.O_RDONLY)
    fo = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        mv = memoryview(buf)
        while True:
            n = os.readv(fi, [buf])
            if n == 0:
                break
            off = 0
            while off < n:
                off += os.write(fo, mv[off:n])
        os.fsync(fo)
    finally:
        os.close(fi)
        os.close(fo)


def timed_read(path, size, what):
    """Seconds to read path whole after settle(); it must be size bytes."""
    settle()
    t0 = time.monotonic()
    n = read_file(path)
    t = time.monotonic() - t0
    if n != size:
        raise RuntimeError(f"{what} read got {n} bytes")
    return t


def read_file(path):
    buf = bytearray(BLOCK)
    total = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            n = os.readv(fd, [buf])
            if n == 0:
                return total
            total += n
    finally:
        os.close(fd)


def same_content(a, b):
    return subprocess.run(["cmp", "-s", a, b], env=TOOL_ENV).returncode == 0


def list_stat(path):
    """os.listdir, then os.lstat of every entry (what `ls -l` does):
    (entries, readdir seconds, lstat seconds)."""
    t0 = time.monotonic()
    names = os.listdir(path)
    t1 = time.monotonic()
    for n in names:
        os.lstat(os.path.join(path, n))
    return len(names), t1 - t0, time.monotonic() - t1


def tree_bytes(d):
    total = 0
    for root, _, files in os.walk(d):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except FileNotFoundError:
                pass
    return total


class Node:
    """The node driver, the fake API server and the volumes it has staged."""

    def __init__(self, lay, kube, ctx):
        self.lay, self.ctx = lay, ctx
        self.vfs_mount = os.path.join(lay.base, "vfsmnt")
        self.d = common.Env.node_driver(lay, extra=[
            *kube.driver_args(), f"--vfs-cache-root={lay.base}/vfsroot",
            f"--vfs-cache-mount={self.vfs_mount}", f"--vfs-cache-size={CACHE_SIZE}",
            f"--luks-secret-name={CACHE_SECRET}", f"--luks-secret-namespace={CACHE_NS}"])
        self.staged = {}  # vol -> target or None

    def cache_dir(self, vol):
        return os.path.join(self.vfs_mount, "vfs", vol)

    def stage(self, vol, publish=True):
        self.d.node().NodeStageVolume(csi_pb2.NodeStageVolumeRequest(
            volume_id=vol, staging_target_path=self.lay.staging(vol),
            volume_capability=common.mount_cap(), volume_context=self.ctx,
            secrets={"passphrase": PASS}), timeout=300)
        self.staged[vol] = None
        if not publish:
            return self.lay.staging(vol)
        tg = self.lay.target(vol)
        self.d.node().NodePublishVolume(csi_pb2.NodePublishVolumeRequest(
            volume_id=vol, staging_target_path=self.lay.staging(vol), target_path=tg,
            volume_capability=common.mount_cap()), timeout=120)
        self.staged[vol] = tg
        return tg

    def unstage(self, vol):
        tg = self.staged.get(vol)
        if tg:
            self.d.node().NodeUnpublishVolume(csi_pb2.NodeUnpublishVolumeRequest(
                volume_id=vol, target_path=tg), timeout=120)
            self.staged[vol] = None
        # NodeUnstage drains the uploads for at most write-back + 60 s, then
        # answers UNAVAILABLE ("retry"); kubelet retries (with back-off),
        # this retries at once and counts the retries.
        retries = 0
        t0 = time.monotonic()
        while True:
            try:
                self.d.node().NodeUnstageVolume(csi_pb2.NodeUnstageVolumeRequest(
                    volume_id=vol, staging_target_path=self.lay.staging(vol)), timeout=600)
                break
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() - t0 > 1200:
                    raise
                retries += 1
                log(f"NodeUnstage {vol}: UNAVAILABLE ({e.details()}); retrying")
        del self.staged[vol]
        return retries

    def drain_ms(self, vol):
        """Sum of duration_ms of vol's drain_uploads audit records so far
        (one per NodeUnstage call, retries included)."""
        recs = [r for r in self.d.audit_records()
                if r.get("volume_id") == vol and r.get("op") == "drain_uploads"]
        return sum(r["duration_ms"] for r in recs) if recs else None

    def stop(self):
        for vol in list(self.staged):
            try:
                self.unstage(vol)
            except Exception as e:  # noqa: BLE001 (cleanup; reported)
                log(f"cleanup: unstage {vol}: {e}")
        rc = self.d.stop()
        return rc


def fits(elapsed, reps_done, deadline_left):
    """Another repetition if the mean so far fits in what is left."""
    return reps_done > 0 and elapsed / reps_done * 1.1 <= deadline_left


# ---- the benchmark ----------------------------------------------------------------

def bench(scratch, size_mib=256, nfiles=10000, max_reps=3, budget_s=1080):
    t_start = time.monotonic()
    lay = Layout(scratch, "s3")
    kube = FakeKube()
    sdir = os.path.join(lay.base, "s3rver")
    res = {"size_mib": size_mib, "nfiles": nfiles, "max_reps": max_reps, "budget_s": budget_s,
           "write": {"driver": [], "write_phase": [], "unstage": [], "drain": [],
                     "retries": [], "baseline": [], "crypt": []},
           "read": {"cold": [], "warm": [], "baseline": [], "crypt": []},
           "ls": {"cold": [], "warm": [], "baseline": [], "startup": [], "srv_cold": [],
                  "srv_baseline": [], "cold_readdir": [], "cold_lstat": [], "warm_readdir": [],
                  "warm_lstat": []},
           "notes": []}
    node = None
    try:
        port = start_s3rver(sdir)
        endpoint = f"http://127.0.0.1:{port}"
        kube.set_secret(CACHE_NS, CACHE_SECRET, {"passphrase": b"bench vfs-cache passphrase"})
        kube.set_secret(S3_NS, S3_SECRET, {
            "s3-bucket": BUCKET.encode(), "s3-region": b"us-east-1",
            "s3-access-key-id": b"S3RVER", "s3-secret-access-key": S3_KEY.encode(),
            "s3-endpoint": endpoint.encode(), "s3-force-path-style": b"true"})
        # The driver's defaults for everything else (cache mode full,
        # write-back 3 s, dir-cache-time and attr-timeout 1 h).
        ctx = {"capacity": str(1 << 30), "storage-backend": "s3", "s3-secret-name": S3_SECRET,
               "s3-secret-namespace": S3_NS}
        rc = Rclone(lay.cli, endpoint)
        res["rclone"] = rc.run(["version"], conf=False).splitlines()[0]
        node = Node(lay, kube, ctx)

        src = os.path.join(lay.cli, "src.bin")
        with open(src, "wb") as f:
            for _ in range(size_mib):
                f.write(os.urandom(BLOCK))
            f.flush()
            os.fsync(f.fileno())
        dl = os.path.join(lay.cli, "download")

        # ---- write and read -------------------------------------------------
        rw_budget = budget_s * 0.55
        t_rw = time.monotonic()
        i = 0
        while i < max_reps and (i == 0 or fits(time.monotonic() - t_rw, i,
                                                rw_budget - (time.monotonic() - t_rw))):
            vol = f"{VOLS_PREFIX}-rw-{i}"
            base_prefix = f"{BUCKET}/baseline/rep-{i}"
            crypt = f"crypt{i}"
            rc.add_crypt(crypt, f"{VOLS_PREFIX}-crypt-{i}", PASS)
            order = RW_SIDES[i % 3:] + RW_SIDES[:i % 3]  # rotate who goes first
            for side in order:
                if side != "driver":
                    dst = f"s3:{base_prefix}" if side == "baseline" else f"{crypt}:"
                    settle()
                    t, _ = rc.timed(["copy", src, dst])
                    res["write"][side].append(t)
                    log(f"s3 rep {i + 1}: write {side} (rclone copy up) {t:.1f} s")
                else:
                    tg = node.stage(vol)
                    settle()
                    t0 = time.monotonic()
                    copy_file(src, os.path.join(tg, "big.bin"))
                    t1 = time.monotonic()
                    retries = node.unstage(vol)
                    t2 = time.monotonic()
                    res["write"]["retries"].append(retries)
                    res["write"]["driver"].append(t2 - t0)
                    res["write"]["write_phase"].append(t1 - t0)
                    res["write"]["unstage"].append(t2 - t1)
                    dm = node.drain_ms(vol)
                    res["write"]["drain"].append(dm / 1000.0 if dm is not None else float("nan"))
                    log(f"s3 rep {i + 1}: write driver {t2 - t0:.1f} s (write+fsync+close "
                        f"{t1 - t0:.1f} s, unpublish+unstage {t2 - t1:.1f} s, "
                        f"{retries} NodeUnstage retries)")
            for side in order:
                if side != "driver":
                    obj = f"s3:{base_prefix}/src.bin" if side == "baseline" else f"{crypt}:src.bin"
                    shutil.rmtree(dl, ignore_errors=True)
                    settle()
                    t, _ = rc.timed(["copy", obj, dl])
                    res["read"][side].append(t)
                    if os.path.getsize(os.path.join(dl, "src.bin")) != size_mib * MIB:
                        raise RuntimeError(f"{side} download has the wrong size")
                    if i == 0 and not same_content(src, os.path.join(dl, "src.bin")):
                        raise RuntimeError(f"{side} download differs from the source")
                    shutil.rmtree(dl, ignore_errors=True)
                    log(f"s3 rep {i + 1}: read {side} (rclone copy down) {t:.1f} s")
                else:
                    if os.path.exists(node.cache_dir(vol)):
                        raise RuntimeError(f"VFS cache of {vol} still there before the cold read")
                    tg = node.stage(vol)
                    f = os.path.join(tg, "big.bin")
                    cold = timed_read(f, size_mib * MIB, "cold")
                    cached = tree_bytes(node.cache_dir(vol))
                    warm = timed_read(f, size_mib * MIB, "warm")
                    if i == 0:
                        if not same_content(src, f):
                            raise RuntimeError("the file read through the mount differs")
                        res["cached_after_cold"] = cached
                    node.unstage(vol)
                    res["read"]["cold"].append(cold)
                    res["read"]["warm"].append(warm)
                    log(f"s3 rep {i + 1}: read driver cold {cold:.1f} s, warm {warm:.1f} s "
                        f"({cached / MIB:.0f} MiB in the VFS cache after the cold read)")
            i += 1
        res["rw_reps"] = i
        res["rw_s"] = time.monotonic() - t_rw
        os.unlink(src)

        # ---- listing ----------------------------------------------------------
        t_ls = time.monotonic()
        vol = f"{VOLS_PREFIX}-ls"
        rc.add_crypt("lsvol", vol, PASS)
        rc.add_crypt("onevol", f"{VOLS_PREFIX}-one", PASS)
        rc.run(["rcat", "onevol:one.txt"], data="1\n")
        small = os.path.join(lay.cli, "small", "d")
        os.makedirs(small)
        for k in range(nfiles):
            with open(os.path.join(small, f"f{k:05d}.txt"), "w") as f:
                f.write(f"{k}\n")
        t0 = time.monotonic()
        slog = S3Log(os.path.join(sdir, "log"))
        res["ls_put"] = put_files(rc, os.path.dirname(small), vol, sdir)
        res["ls_create_s"] = time.monotonic() - t0
        log(f"s3 listing: {nfiles} files put in {res['ls_create_s']:.1f} s")
        shutil.rmtree(os.path.dirname(small))
        if rc.run(["cat", "lsvol:d/f00007.txt"]) != "7\n":
            raise RuntimeError("a file put into the listing volume does not read back")
        ls_left = budget_s - (time.monotonic() - t_start)
        t_reps = time.monotonic()
        i = 0
        while i < max_reps and (i == 0 or fits(time.monotonic() - t_reps, i,
                                                ls_left - (time.monotonic() - t_reps))):
            order = ["baseline", "driver"] if i % 2 == 0 else ["driver", "baseline"]
            for side in order:
                if side == "baseline":
                    settle()
                    slog.mark()
                    t, out = rc.timed(["lsf", "lsvol:d"])
                    res["ls"]["srv_baseline"].append(slog.since())
                    if len(out.splitlines()) != nfiles:
                        raise RuntimeError(f"rclone lsf listed {len(out.splitlines())} entries")
                    res["ls"]["baseline"].append(t)
                    # rclone's fixed cost: start, config, crypt key (scrypt)
                    # and a listing of one entry.
                    settle()
                    t, _ = rc.timed(["lsf", "onevol:"])
                    res["ls"]["startup"].append(t)
                    log(f"s3 rep {i + 1}: listing baseline (rclone lsf) "
                        f"{res['ls']['baseline'][-1]:.1f} s, rclone lsf of a one-file "
                        f"volume {t:.1f} s")
                else:
                    tg = node.stage(vol)
                    d = os.path.join(tg, "d")
                    settle()
                    slog.mark()
                    c = list_stat(d)
                    res["ls"]["srv_cold"].append(slog.since())
                    w = list_stat(d)
                    if c[0] != nfiles or w[0] != nfiles:
                        raise RuntimeError(f"listing through the mount: {c[0]}, {w[0]} entries")
                    node.unstage(vol)
                    for k, v in (("cold", c), ("warm", w)):
                        res["ls"][k].append(v[1] + v[2])
                        res["ls"][k + "_readdir"].append(v[1])
                        res["ls"][k + "_lstat"].append(v[2])
                    log(f"s3 rep {i + 1}: listing driver cold {c[1] + c[2]:.2f} s (readdir "
                        f"{c[1]:.2f}, lstat {c[2]:.2f}), warm {w[1] + w[2]:.2f} s (readdir "
                        f"{w[1]:.2f}, lstat {w[2]:.2f})")
            i += 1
        res["ls_reps"] = i
        res["ls_s"] = time.monotonic() - t_ls
        rcode = node.stop()
        node = None
        if rcode != 0:
            res["notes"].append(f"the node driver exited {rcode} on SIGTERM")
    except Exception:
        if node is not None:
            log("driver output (tail):\n" + node.d.output()[-6000:])
        raise
    finally:
        if node is not None:
            try:
                node.stop()
            except Exception as e:  # noqa: BLE001
                log(f"cleanup: driver stop: {e}")
        kube.stop()
        if os.path.exists(os.path.join(sdir, "pid")):
            subprocess.run([S3RVER, "stop", sdir], capture_output=True,
                           env={"PATH": TOOL_ENV["PATH"], "HOME": lay.cli})
        cleanup(lay.base, "luks-vfs-cache")
        shutil.rmtree(kube.dir, ignore_errors=True)
    res["total_s"] = time.monotonic() - t_start
    return res


# ---- report -------------------------------------------------------------------------

def report(r):
    size = r["size_mib"]
    w, rd, ls = r["write"], r["read"], r["ls"]
    m = {k: median(v) for k, v in (("dw", w["driver"]), ("bw", w["baseline"]),
                                   ("cw", w["crypt"]), ("dc", rd["cold"]), ("dwm", rd["warm"]),
                                   ("br", rd["baseline"]), ("cr", rd["crypt"]),
                                   ("lc", ls["cold"]), ("lw", ls["warm"]),
                                   ("lb", ls["baseline"]), ("lst", ls["startup"]))}

    def t(x):  # seconds and MiB/s
        return f"{x:.1f} ({size / x:.1f} MiB/s)"

    nf = f"{r['nfiles']:,}"
    notes = []
    for what, n in (("write/read", r["rw_reps"]), ("listing", r["ls_reps"])):
        if n < r["max_reps"]:
            notes.append(f"{what}: {n} of {r['max_reps']} repetitions, the rest did not fit "
                         f"the time budget")
    n_retries = sum(w["retries"])
    if n_retries:
        notes.append(
            f"NodeUnstage drains uploads for at most write-back + 60 s, then answers "
            f"UNAVAILABLE (\"retry\") as designed; kubelet retries with back-off, this bench "
            f"retried at once ({n_retries} retr{'y' if n_retries == 1 else 'ies'} in all) and the "
            f"driver's write time runs until the call that succeeded")
    srv = "; ".join(f"{who} {', '.join(f'{x:.1f} s in {n}' for n, x in ls[k])}"
                    for who, k in (("baseline", "srv_baseline"), ("driver cold", "srv_cold")))
    L = [f"### S3 backend: the encrypted mount versus stock rclone ({size} MiB file, "
         f"{nf} files; {r['rw_reps']} write/read and {r['ls_reps']} listing repetitions)",
         "",
         "Times in seconds, medians; lower is better; ratio = driver / baseline.",
         "",
         "| measurement | driver | baseline | driver / baseline |",
         "|---|---:|---:|---:|",
         f"| sequential write {size} MiB until in S3 (driver: write+fsync+close into the "
         f"published target, then NodeUnpublish + NodeUnstage, which drains the uploads; "
         f"baseline: `rclone copy` to a plain s3 remote) | {t(m['dw'])} | {t(m['bw'])} "
         f"| **{m['dw'] / m['bw']:.2f}** |",
         f"| sequential read {size} MiB, cold (driver: empty VFS cache, from S3; baseline: "
         f"`rclone copy` from the plain s3 remote to local disk) | {t(m['dc'])} "
         f"| {t(m['br'])} | **{m['dc'] / m['br']:.2f}** |",
         f"| listing {nf} files in one directory, cold (driver: os.listdir + os.lstat of each "
         f"entry, the first listing after NodeStage; baseline: `rclone lsf` of the same "
         f"encrypted directory through a stock crypt remote) | {m['lc']:.2f} | {m['lb']:.2f} "
         f"| **{m['lc'] / m['lb']:.2f}** |",
         "",
         "Secondary:",
         "",
         "| measurement | driver | reference | ratio |",
         "|---|---:|---:|---:|",
         f"| write vs `rclone copy` through a crypt remote (stock rclone encrypting as the "
         f"driver's rclone does) | {t(m['dw'])} | {t(m['cw'])} | {m['dw'] / m['cw']:.2f} |",
         f"| cold read vs `rclone copy` from that crypt remote | {t(m['dc'])} | {t(m['cr'])} "
         f"| {m['dc'] / m['cr']:.2f} |",
         f"| read, warm (second read: from the VFS cache) vs the cold read | {t(m['dwm'])} "
         f"| {t(m['dc'])} | **{m['dwm'] / m['dc']:.2f}** |",
         f"| listing, warm (second listing) vs the cold listing | {m['lw']:.2f} "
         f"| {m['lc']:.2f} | **{m['lw'] / m['lc']:.2f}** |",
         f"| listing, warm vs `rclone lsf` | {m['lw']:.2f} | {m['lb']:.2f} "
         f"| {m['lw'] / m['lb']:.2f} |",
         "",
         "Per repetition (s): "
         f"driver write {fmt_list(w['driver'], 1)} (of which write+fsync+close "
         f"{fmt_list(w['write_phase'], 1)}, unpublish+unstage {fmt_list(w['unstage'], 1)}, "
         f"the unstage's drain_uploads steps {fmt_list(w['drain'], 1)}; NodeUnstage "
         f"retries {', '.join(str(x) for x in w['retries'])}); "
         f"baseline write {fmt_list(w['baseline'], 1)}; crypt write {fmt_list(w['crypt'], 1)}; "
         f"driver read cold {fmt_list(rd['cold'], 1)}, warm {fmt_list(rd['warm'], 1)}; "
         f"baseline read {fmt_list(rd['baseline'], 1)}; crypt read {fmt_list(rd['crypt'], 1)}; "
         f"driver listing cold {fmt_list(ls['cold'])} (readdir {fmt_list(ls['cold_readdir'])}, "
         f"lstat {fmt_list(ls['cold_lstat'])}), warm {fmt_list(ls['warm'])} (readdir "
         f"{fmt_list(ls['warm_readdir'])}, lstat {fmt_list(ls['warm_lstat'])}); "
         f"baseline listing {fmt_list(ls['baseline'])}.",
         "",
         f"s3rver's own time answering the listing requests (summed from its log; sequential "
         f"pages of 1,000 keys), s in requests: {srv}. The rest is the client's.",
         "",
         f"Every baseline run pays rclone's start-up (process start, config, and for crypt "
         f"remotes the key's scrypt): `rclone lsf` of another volume holding one file, same "
         f"config, took {m['lst']:.2f} s (median; {fmt_list(ls['startup'])}), so the listing "
         f"baseline without it would be about {max(m['lb'] - m['lst'], 0):.2f} s. The "
         f"driver's rclone starts at NodeStage, which is not timed.",
         "",
         f"Setup: {r.get('rclone', 'rclone')} everywhere, s3rver (tests/s3, node.js, data on "
         f"the same disk) on 127.0.0.1; the volume context sets only the backend and the S3 "
         f"Secret, so the driver's defaults apply (VFS cache mode full, write-back 3 s, "
         f"dir-cache-time and attr-timeout 1 h); node VFS cache volume {CACHE_SIZE} (LUKS, "
         f"dm-crypt). The three write/read sides take turns going first. Page cache dropped "
         f"before every timed operation except the warm listing (so the warm read comes from "
         f"the VFS cache files on dm-crypt, not from memory). Every write/read repetition uses "
         f"a new volume and new baseline prefixes; its read re-stages the volume its write "
         f"unstaged (no cache of it left: checked). The first repetition compared the bytes "
         f"read on every side with the source. The {nf} files (\"N\\n\" each) were put into "
         f"the listing volume in the driver's layout, not through the mount: {r['ls_put']} "
         f"({r['ls_create_s']:.0f} s); `rclone cat` of one of them through S3 and every "
         f"listing's entry count checked.",
         ]
    if notes or r["notes"]:
        L += ["", "Notes: " + "; ".join(notes + r["notes"]) + "."]
    L += ["", f"Time: write/read {r['rw_s']:.0f} s, listing {r['ls_s']:.0f} s "
          f"(of which putting the files {r['ls_create_s']:.0f} s), total {r['total_s']:.0f} s."]
    return "\n".join(L) + "\n"


def write_results(out, section, quick):
    where = os.environ.get("LCW_BENCH_WHERE", "this host")
    with open("/proc/meminfo") as f:
        memkib = int(f.readline().split()[1])
    head = (f"Generated by `bench/run.sh s3` on "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} from source "
            f"`{os.environ.get('LCW_BENCH_REV', 'unknown')}`: {where}, kernel "
            f"{platform.release()}, {os.cpu_count()} CPUs, {memkib // 1024} MiB RAM"
            + (" (--quick: NOT representative)" if quick else "") + ".")
    block = f"{BEGIN}\n{section}\n{head}\n{END}\n"
    text = ""
    if os.path.exists(out):
        with open(out) as f:
            text = f.read()
    if BEGIN in text and END in text:
        a, rest = text.split(BEGIN, 1)
        text = a + block + rest.split(END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    with open(out, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scratch", default=os.environ.get("LCW_BENCH_SCRATCH", "/scratch"))
    ap.add_argument("--quick", action="store_true", help="32 MiB, 500 files, 1 repetition")
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--max-reps", type=int, default=3)
    ap.add_argument("--budget", type=float, default=1080,
                    help="seconds: the repetition rule's time budget (default 18 min)")
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"))
    a = ap.parse_args()
    if a.quick:
        a.size_mib, a.files, a.max_reps = 32, 500, 1
    if not common.has_dm():
        sys.exit("no device-mapper here: run bench/run.sh s3 (it boots the VM of tests/vm)")
    os.makedirs(a.scratch, exist_ok=True)
    common.log("== s3")
    try:
        r = bench(a.scratch, size_mib=a.size_mib, nfiles=a.files, max_reps=a.max_reps,
                  budget_s=a.budget)
        log("s3 raw results: " + json.dumps(r))
        section = report(r)
        failed = bool(r["notes"])
    except Exception:
        import traceback
        tb = traceback.format_exc()
        common.log(f"s3 FAILED:\n{tb}")
        section = f"### S3 backend: FAILED\n\n```\n{tb.strip()}\n```\n"
        failed = True
    write_results(a.out, section, a.quick)
    print(section)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
