"""Stranded writes (issue 13, item 3), in the dm-crypt VM with real FUSE, real
rclone, the S3 server and the stand-in API server.

The node dies (every process of the driver and rclone SIGKILLed) while the
volume holds writes rclone has not uploaded: two files changed in place over
objects already in the bucket, and two new ones. While the node is down,
another writer (stock rclone, as another node would) rewrites one of those
objects. When the driver comes back it re-mounts the volume; rclone alone
would upload all four over the bucket. privd uploads only what cannot
overwrite anything newer: the new files and the file whose object did not
change; the file whose object changed stays the other writer's in the
bucket, and this node's version is kept aside in the encrypted cache, with
an event and an abnormal volume condition, recoverable with stock rclone.

Run:  tests/vm/vm-run.sh -- env LCW_BIN_DIR=$PWD/build/bin /usr/bin/python3 -m pytest -q \
        tests/e2e/test_s3_stranded.py
"""
import glob
import os
import shutil
import tempfile
import time

import grpc
import pytest

from test_s3_lifecycle import (  # noqa: F401 (fixtures are used by name)
    PASS2, RECOVERY_S, REF_NAME, REF_NS, StockRclone, dead, diag, env, healthy, kube, lost,
    node, pytest_generate_tests, release_after_failure, s3, s3_ctx, stage, stats, unstage,
    wait_for, write_tree)
from test_s3_day2 import bind_claim, events, no_names
from lcw_e2e import volid

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/mapper/control"),
                                reason="no device-mapper here (run through tests/vm/vm-run.sh)")

A_FIRST = b"a: the bucket's first version of this file, 0123456789\n"
A_OTHER = b"a: rewritten by another node while this one was down\n"
D_FIRST = b"d: nobody else touches this one, 0123456789 abcdefghij\n"


def patch(path, off, data):
    """Change a file in place, as a database does: no truncation."""
    fd = os.open(path, os.O_WRONLY)
    try:
        assert os.pwrite(fd, data, off) == len(data)
        os.fsync(fd)
    finally:
        os.close(fd)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def files_in(stock, dest):
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    stock.copy_out(dest)
    return {os.path.relpath(os.path.join(d, n), dest): read(os.path.join(d, n))
            for d, _, names in os.walk(dest) for n in names}


def test_stranded_writes_go_up_only_over_unchanged_objects(node, env, kube, s3):
    vol = volid()
    # uploads wait 15 s after the last close: the kill comes well before
    ctx = s3_ctx(**{"rclone-vfs-write-back": "15s"})
    kube.add_pv(f"pv-{vol}", vol, ctx, {"name": REF_NAME, "namespace": REF_NS})
    bind_claim(kube, vol)
    stock = StockRclone(s3, vol, PASS2)
    scratch = tempfile.mkdtemp(prefix="lcw-stranded-")
    try:
        src = os.path.join(scratch, "src")
        os.makedirs(src)
        for name, data in (("a.txt", A_FIRST), ("d.txt", D_FIRST)):
            with open(os.path.join(src, name), "wb") as f:
                f.write(data)
        stock.copy_in(src)

        stage(node, env, vol, ctx, passphrase=PASS2)
        st = env.staging(vol)
        assert sorted(os.listdir(st)) == ["a.txt", "d.txt"]
        patch(os.path.join(st, "a.txt"), 0, b"A-LOCAL")
        patch(os.path.join(st, "d.txt"), 3, b"CHANGED HERE")
        done = write_tree(st, {"b.txt": b"new on this node\n", "new/dir/c.bin": 300000})
        d_local = D_FIRST[:3] + b"CHANGED HERE" + D_FIRST[15:]
        node.kill_everything([vol])
        assert dead(st), "mount still served after the kill"
        assert files_in(stock, os.path.join(scratch, "before")) == \
            {"a.txt": A_FIRST, "d.txt": D_FIRST}, "test precondition: nothing uploaded yet"

        # another node rewrites a.txt meanwhile
        other = os.path.join(scratch, "other")
        os.makedirs(other)
        with open(os.path.join(other, "a.txt"), "wb") as f:
            f.write(A_OTHER)
        stock.copy_in(other)

        node.start()
        assert wait_for(lambda: healthy(st, vol), RECOVERY_S), diag(node, env, [vol])
        # the write-back runs through the new mount once it is live, before
        # the publish targets are bound again (what pods read); the staging
        # path read here is live a moment earlier: wait for its outcome
        assert wait_for(lambda: events(kube, vol, "StrandedWritesKeptAside"), RECOVERY_S), \
            f"{kube.events}\n{diag(node, env, [vol])}"
        # the volume shows the other node's a.txt and this node's other files
        assert read(os.path.join(st, "a.txt")) == A_OTHER, \
            "a stranded write overwrote what another node wrote since"
        assert read(os.path.join(st, "d.txt")) == d_local, \
            f"the unchanged object's update is lost\n{diag(node, env, [vol])}"
        assert not lost(done, st), f"new files lost: {lost(done, st)}"

        # this node's a.txt is kept aside in the encrypted cache
        kept = glob.glob(os.path.join(node.cache_mount, "lcw-conflict", f"{vol}*_*", "vfs",
                                      "a.txt"))
        assert len(kept) == 1, f"kept aside: {kept}\n{diag(node, env, [vol])}"
        k = read(kept[0])
        assert k.startswith(b"A-LOCAL") and len(k) == len(A_FIRST), k
        assert os.path.exists(kept[0].replace(os.sep + "vfs" + os.sep, os.sep + "vfsMeta" + os.sep))
        [ev] = events(kube, vol, "StrandedWritesKeptAside")
        assert ev["type"] == "Warning" and "1 file(s)" in ev["message"], ev
        [up] = events(kube, vol, "StrandedWritesUploaded")
        assert up["type"] == "Normal" and "3 file(s)" in up["message"], up
        no_names([ev, up], ["a.txt", "b.txt", "d.txt", "c.bin", "new", "dir"])
        cond = stats(node, env, vol, st).volume_condition
        assert cond.abnormal and "kept aside" in cond.message, cond

        # once written back, the bucket holds exactly those decisions
        want = {"a.txt": A_OTHER, "d.txt": d_local, "b.txt": b"new on this node\n"}

        after = os.path.join(scratch, "after")

        def uploaded():
            got = files_in(stock, after)
            return all(got.get(k) == v for k, v in want.items()) and not lost(done, after)
        assert wait_for(uploaded, 90), sorted(files_in(stock, after))

        # the operator has looked at the kept copy and removes it: normal again
        shutil.rmtree(os.path.dirname(os.path.dirname(kept[0])))
        assert not stats(node, env, vol, st).volume_condition.abnormal

        deadline = time.monotonic() + 60
        while True:
            try:
                unstage(node, env, vol)
                break
            except grpc.RpcError as e:  # uploads still queued: kubelet retries
                if e.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                    raise
                time.sleep(2)
        final = os.path.join(scratch, "final")
        got = files_in(stock, final)
        assert {k: got[k] for k in want} == want and not lost(done, final)
    finally:
        stock.close()
        shutil.rmtree(scratch, ignore_errors=True)
