"""End to end of the S3 backend's day-2 behaviour (issue 13), on real
dm-crypt, real FUSE, real rclone, s3rver and the stand-in API server:

- an unstage refused because uploads are pending records a Warning event
  UnuploadedData on the PVC (with the count, never a file name), and no
  request of the frontend can force it;
- the annotation lukscryptwalker.io/force-unstage: "true" on the PV, or on
  the PVC, forces it: the unstage proceeds at once, the pending writes stay
  in the encrypted cache (set aside, never uploaded by a later stage), a
  Warning ForcedUnstageWithUnuploadedData is recorded, and README's
  recovery recipe gets them back with stock rclone;
- an S3 mount re-established after rclone died records S3MountReestablished;
- rclone's own teardown never unmounts the next session's mount.

Pending uploads are made deterministic by a TCP relay between rclone and
s3rver that the test cuts (rclone retries; nothing reaches the bucket).

    tests/vm/vm-run.sh --timeout 1500 --env ASAN_OPTIONS=detect_leaks=0 -- \\
        env LCW_BIN_DIR=$PWD/build/bin /usr/bin/python3 -m pytest -q -p no:cacheprovider \\
        tests/e2e/test_s3_day2.py
"""
import os
import signal
import socket
import subprocess
import threading
import time

import grpc
import pytest

from test_s3_lifecycle import (  # noqa: F401 (fixtures are used by name)
    PASS, S3_NS, StockRclone, alive, as_bytes, assert_unstaged, descendants, diag,
    env, healthy, kube, lost, mountinfo_of, node, past_aborted, rclone_pids, release_after_failure,
    pytest_generate_tests, s3, s3_ctx, s3_secret_data, stage, tree_digests, unstage, vol_prefix,
    volid, wait_for,
    write_tree)
from lcw_e2e import csi_pb2

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/mapper/control"),
                                reason="no device-mapper here (run through tests/vm/vm-run.sh)")

RELAYED = "s3-creds-relayed"
ANN = "lukscryptwalker.io/force-unstage"
CLAIM_NS = "apps"


class Relay:
    """127.0.0.1:port -> the S3 server, until cut(): then every open
    connection is closed and new ones are closed at once."""

    def __init__(self, port):
        self.up, self.cut_ = port, False
        self.lock, self.socks = threading.Lock(), []
        self.ls = socket.create_server(("127.0.0.1", 0))
        self.port = self.ls.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            with self.lock:
                if self.cut_:
                    c.close()
                    continue
                try:
                    u = socket.create_connection(("127.0.0.1", self.up))
                except OSError:
                    c.close()
                    continue
                self.socks += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            self.cut_ = True
            for s in self.socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self.socks = []

    def restore(self):
        with self.lock:
            self.cut_ = False


@pytest.fixture(scope="module")
def relay(s3, kube):
    r = Relay(s3.port)
    kube.set_secret(S3_NS, RELAYED, as_bytes(s3_secret_data(s3, **{
        "s3-endpoint": f"http://127.0.0.1:{r.port}"})))
    yield r
    r.ls.close()


def claim(vol):
    return f"data-{vol}"


def bind_claim(kube, vol, pvc_ann=None, pv_ann=None):
    kube.set_claim(f"pv-{vol}", CLAIM_NS, claim(vol), pvc_ann, pv_ann)


def stage_pending(node, env, kube, relay, vol, pvc_ann=None, pv_ann=None):
    """Stage vol through the relay, then cut it and write files that
    therefore stay queued in rclone's cache."""
    relay.restore()
    ctx = s3_ctx(secret=RELAYED)
    stage(node, env, vol, ctx)
    bind_claim(kube, vol, pvc_ann, pv_ann)
    st = env.staging(vol)
    os.listdir(st)  # rclone lists the root now, while S3 answers
    relay.cut()
    # files in the root only: a new directory needs S3 (rclone lists it)
    done = write_tree(st, {"a.bin": 200000, "b.txt": b"bee\n", "c.txt": b"sea\n"})
    return ctx, st, done


def forced_dirs(node, vol):
    base = os.path.join(node.cache_mount, "lcw-forced")
    if not os.path.isdir(base):
        return []
    return sorted(os.path.join(base, d) for d in os.listdir(base) if d.startswith(vol + "."))


def events(kube, vol, reason):
    return kube.events_for(CLAIM_NS, claim(vol), reason)


def no_names(evs, names):
    for e in evs:
        for n in names:
            assert os.path.basename(n) not in e["message"], f"a file name in an event: {e}"


def unstage_req(node, env, vol):
    return node.node().NodeUnstageVolume(csi_pb2.NodeUnstageVolumeRequest(
        volume_id=vol, staging_target_path=env.staging(vol)), timeout=300)


# ---- 1. refused unstage: UnuploadedData; then forced by the PV's annotation ---------

def test_refused_unstage_records_event_then_pv_annotation_forces_it(node, env, kube, s3, relay):
    vol = volid()
    ctx, st, done = stage_pending(node, env, kube, relay, vol)
    [rc_pid] = rclone_pids(vol)
    n_req = len(kube.requests)
    # Nothing the frontend says forces it: NodeUnstage carries only the id
    # and the path, and without the annotation privd refuses.
    with pytest.raises(grpc.RpcError) as e:
        unstage_req(node, env, vol)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE, e.value
    assert healthy(st, vol) and rclone_pids(vol) == [rc_pid], "the refused unstage tore it down"
    assert not lost(done, st), "data changed by a refused unstage"
    evs = events(kube, vol, "UnuploadedData")
    assert len(evs) == 1, kube.events
    ev = evs[0]
    assert ev["type"] == "Warning" and "3 file(s)" in ev["message"], ev
    assert ev["involvedObject"]["kind"] == "PersistentVolumeClaim"
    assert ev["involvedObject"]["uid"], ev
    assert ev["source"]["host"] and ev["reportingInstance"], ev
    no_names(evs, done)
    # privd looked for the annotation on the PV and the PVC itself
    asked = kube.requests[n_req:]
    assert f"/api/v1/namespaces/{CLAIM_NS}/persistentvolumeclaims/{claim(vol)}" in asked, asked
    assert not forced_dirs(node, vol)

    # The operator accepts the risk: annotation on the PV.
    bind_claim(kube, vol, None, {ANN: "true"})
    t0 = time.monotonic()
    unstage(node, env, vol)
    took = time.monotonic() - t0
    assert took < 45, f"a forced unstage waited {took:.0f} s"
    assert_unstaged(env, vol)
    assert not alive(rc_pid)
    evs = events(kube, vol, "ForcedUnstageWithUnuploadedData")
    assert len(evs) == 1 and evs[0]["type"] == "Warning" and "3 file(s)" in evs[0]["message"], \
        kube.events
    no_names(evs, done)
    # the writes are kept, whole, in the encrypted cache, set aside
    [aside] = forced_dirs(node, vol)
    files = os.path.join(aside, "vfs")
    assert not lost(done, files), f"forced writes not kept in {aside}: {lost(done, files)}"
    assert sorted(os.listdir(os.path.join(aside, "vfsMeta"))) == sorted(done), \
        "rclone's metadata (the pending marks) not kept"
    assert not os.path.exists(os.path.join(node.cache_mount, "vfs", vol)), \
        "the volume's cache is still where a later rclone would upload it"
    assert not s3.keys(prefix=vol_prefix(vol) + "files/"), "test precondition: nothing uploaded"

    # S3 is back; the volume is staged here again: nothing of the set-aside
    # writes is uploaded over the bucket's (here: empty) state
    relay.restore()
    stage(node, env, vol, ctx)
    time.sleep(4)  # several write-back periods
    assert tree_digests(st) == {}, "set-aside writes came back by themselves"
    assert not s3.keys(prefix=vol_prefix(vol) + "files/")
    unstage(node, env, vol)
    assert_unstaged(env, vol)
    # README's recovery: stock rclone copies them into the volume
    sr = StockRclone(s3, vol, PASS)
    try:
        sr.copy_in(files)
    finally:
        sr.close()
    stage(node, env, vol, ctx)
    assert not lost(done, st), f"not recovered: {lost(done, st)}"
    unstage(node, env, vol)
    assert_unstaged(env, vol)


# ---- 2. forced by the PVC's annotation ------------------------------------------------

def test_pvc_annotation_forces_unstage(node, env, kube, s3, relay):
    vol = volid()
    ctx, st, done = stage_pending(node, env, kube, relay, vol, pvc_ann={ANN: "true"})
    t0 = time.monotonic()
    unstage(node, env, vol)
    assert time.monotonic() - t0 < 45
    assert_unstaged(env, vol)
    evs = events(kube, vol, "ForcedUnstageWithUnuploadedData")
    assert len(evs) == 1 and "3 file(s)" in evs[0]["message"], kube.events
    assert not events(kube, vol, "UnuploadedData"), "forced, yet reported as refused"
    no_names(evs, done)
    [aside] = forced_dirs(node, vol)
    assert not lost(done, os.path.join(aside, "vfs"))
    relay.restore()
    time.sleep(3)
    assert not s3.keys(prefix=vol_prefix(vol) + "files/"), "forced writes were uploaded"


# ---- 3. the supervisor's re-mount is reported -----------------------------------------

def test_remount_after_rclone_died_records_event(node, env, kube, s3, relay):
    relay.restore()
    vol = volid()
    stage(node, env, vol, s3_ctx())
    bind_claim(kube, vol)
    st = env.staging(vol)
    done = write_tree(st, {"r.txt": b"remount\n"})
    [old] = rclone_pids(vol)
    os.kill(old, signal.SIGKILL)
    assert wait_for(lambda: healthy(st, vol) and rclone_pids(vol) not in ([], [old]), 40), \
        diag(node, env, [vol])
    assert wait_for(lambda: events(kube, vol, "S3MountReestablished"), 20), kube.events
    [ev] = events(kube, vol, "S3MountReestablished")
    assert ev["involvedObject"]["name"] == claim(vol)
    assert not lost(done, st)
    unstage(node, env, vol)
    assert_unstaged(env, vol)


# ---- 4. rclone's teardown never unmounts the next mount --------------------------------

def fuse_conn(path):
    """The FUSE connection (fusectl) of the mount at path."""
    ctl = "/sys/fs/fuse/connections"
    if not os.listdir(ctl) and subprocess.run(["mount", "-t", "fusectl", "fusectl", ctl],
                                              capture_output=True).returncode:
        pytest.skip("no fusectl")
    return os.path.join(ctl, str(os.minor(os.stat(path).st_dev)))


def kill_driver_keep_rclone(node, vols):
    keep = {p for v in vols for p in rclone_pids(v)}
    pids = [p for p in [node.d.proc.pid] + descendants(node.d.proc.pid) if p not in keep]
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    node.d.proc.wait(10)
    if node.d.channel is not None:
        node.d.channel.close()
        node.d.channel = None
    node.d.log.close()
    assert wait_for(lambda: not any(alive(p) for p in pids), 20)


@pytest.mark.parametrize("adopted", [False, True], ids=["own-rclone", "adopted-rclone"])
def test_old_rclone_teardown_cannot_unmount_the_new_mount(node, env, kube, s3, relay, adopted):
    """The old rclone is hung (SIGSTOP, its FUSE connection aborted so the
    mount reads as dead) while the volume is unstaged and staged again; it
    is let go once the new mount is up. rclone's teardown unmounts its
    mountpoint by name if something of type rclone is mounted there: that
    must never be the new session's mount."""
    relay.restore()
    vol = volid()
    ctx = s3_ctx()
    stage(node, env, vol, ctx)
    st = env.staging(vol)
    done = write_tree(st, {"t.txt": b"teardown\n"})
    assert wait_for(lambda: len(s3.keys(prefix=vol_prefix(vol) + "files/")) == 1, 30)
    if adopted:  # privd restarts; the rclone it started before lives on
        kill_driver_keep_rclone(node, [vol])
        node.start()
        assert wait_for(lambda: "its mount is live" in node.output(), 60), node.output()[-2000:]
    [old] = rclone_pids(vol)
    conn = fuse_conn(st)
    # rclone's own mountpoint (kubelet's path is a bind of it)
    priv = os.path.join(os.path.dirname(node.cache_mount), "rclone-mnt", vol)
    assert mountinfo_of(priv) is not None
    os.kill(old, signal.SIGSTOP)
    try:
        with open(os.path.join(conn, "abort"), "w") as f:
            f.write("1")
        # kubelet's unstage and stage, retried as kubelet does
        deadline = time.monotonic() + 25
        while True:
            try:
                past_aborted(lambda: unstage(node, env, vol))
                past_aborted(lambda: stage(node, env, vol, ctx))
                if healthy(st, vol) and old not in rclone_pids(vol):
                    break
            except grpc.RpcError as e:
                # privd refuses while the old rclone lives: the safe answer
                if e.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED):
                    raise
            if not alive(old) or time.monotonic() > deadline:
                break
            time.sleep(1)
        up_while_old_alive = alive(old) and healthy(st, vol)
        serving = set(rclone_pids(vol)) - {old}
        mnt, pmnt = mountinfo_of(st), mountinfo_of(priv)
    finally:
        os.kill(old, signal.SIGCONT)
    assert wait_for(lambda: not alive(old), 30), "the old rclone did not exit"
    time.sleep(3)  # the old rclone's teardown has run
    if up_while_old_alive:
        # the mount that came up while the old rclone lived is still the
        # one at the staging path, served by the same rclone
        assert mountinfo_of(st) == mnt and set(rclone_pids(vol)) == serving, \
            f"the new mount was hit by the old rclone's teardown (and re-made)\n" \
            f"{diag(node, env, [vol])}"
        assert pmnt is not None and mountinfo_of(priv) == pmnt, \
            f"the old rclone's teardown unmounted the new session's mountpoint {priv}\n" \
            f"{diag(node, env, [vol])}"
    else:
        # privd waited for the old rclone (it refused until it was gone):
        # let kubelet's retry bring the volume up now
        assert wait_for(lambda: _try_stage(node, env, vol, ctx), 60), diag(node, env, [vol])
    assert healthy(st, vol), f"the new mount was hit by the old rclone's teardown\n" \
        f"{diag(node, env, [vol])}"
    assert not lost(done, st)
    unstage(node, env, vol)
    assert_unstaged(env, vol)


def _try_stage(node, env, vol, ctx):
    try:
        past_aborted(lambda: stage(node, env, vol, ctx))
    except grpc.RpcError:
        return False
    return healthy(env.staging(vol), vol)
