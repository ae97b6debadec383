"""End to end on real dm-crypt: csi-addons NodeReclaimSpace (issue 14).
With the StorageClass's allow-discards: "true", fstrim of the mounted file
system reaches the backing file through dm-crypt and the loop device, so the
blocks of deleted files become holes again (st_blocks shrinks); without it,
nothing is discarded. Runs where device-mapper exists (the VM harness)."""
import os

import grpc
import pytest

from lcw_e2e import Env, cleanup_env, csi_pb2, mount_cap, rpc_error, volid, write_random

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/mapper/control"),
                                reason="no device-mapper here (run through tests/vm/vm-run.sh)")

MIB = 1 << 20
PASS = "reclaim passphrase 5c1e"


@pytest.fixture(scope="module")
def env():
    e = Env(tag="e2e-trim")
    yield e
    cleanup_env(e)


@pytest.fixture(scope="module")
def node(env):
    d = env.node_driver()
    yield d
    d.stop()


def stage(node, env, vol, ctx):
    node.node().NodeStageVolume(csi_pb2.NodeStageVolumeRequest(
        volume_id=vol, staging_target_path=env.staging(vol), volume_capability=mount_cap(),
        secrets={"passphrase": PASS}, volume_context=ctx), timeout=600)


def unstage(node, env, vol):
    node.node().NodeUnstageVolume(csi_pb2.NodeUnstageVolumeRequest(
        volume_id=vol, staging_target_path=env.staging(vol)), timeout=120)


def reclaim(node, vol, path):
    from csiaddons import reclaimspace_pb2, reclaimspace_pb2_grpc
    stub = reclaimspace_pb2_grpc.ReclaimSpaceNodeStub(node.connect())
    return stub.NodeReclaimSpace(reclaimspace_pb2.NodeReclaimSpaceRequest(
        volume_id=vol, volume_path=path), timeout=300)


def allocated(path):
    return os.stat(path).st_blocks * 512


def write_then_delete(d, size):
    p = os.path.join(d, "big.bin")
    write_random(p, size)
    os.sync()
    os.unlink(p)
    os.sync()


def test_reclaim_space_punches_the_freed_blocks(node, env):
    vol = volid()
    stage(node, env, vol, {"capacity": str(128 * MIB), "allow-discards": "true"})
    st, f = env.staging(vol), env.backing(vol)
    reclaim(node, vol, st)  # whatever mkfs left
    base = allocated(f)
    write_then_delete(st, 48 * MIB)
    before = allocated(f)
    assert before >= base + 40 * MIB, (base, before)
    r = reclaim(node, vol, st)
    after = allocated(f)
    assert after <= before - 40 * MIB, (before, after)
    assert r.pre_usage.usage_bytes == before and r.post_usage.usage_bytes == after
    recs = [x for x in node.audit_records() if x.get("volume_id") == vol and x["op"] == "fstrim"]
    assert recs and recs[-1]["result"] == "ok"
    # a publish target of the volume works as volume_path too
    unstage(node, env, vol)


def test_reclaim_space_does_nothing_without_the_opt_in(node, env):
    vol = volid()
    stage(node, env, vol, {"capacity": str(128 * MIB)})
    st, f = env.staging(vol), env.backing(vol)
    write_then_delete(st, 32 * MIB)
    before = allocated(f)
    r = reclaim(node, vol, st)
    assert allocated(f) == before
    assert r.pre_usage.usage_bytes == r.post_usage.usage_bytes == before
    recs = [x for x in node.audit_records()
            if x.get("volume_id") == vol and x["op"] == "fstrim_skipped"]
    assert recs and "allow-discards" in recs[-1]["detail"]
    unstage(node, env, vol)


def test_reclaim_space_refusals(node, env):
    e = rpc_error(reclaim, node, volid(), env.staging("nothing-here"))
    assert e.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)
    e = rpc_error(reclaim, node, "e2e-x", "/etc")
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    e = rpc_error(stage, node, env, volid(), {"allow-discards": "yes"})
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
