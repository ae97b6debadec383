"""The CSI spec's error-table rows that need a staged volume (issue 11),
on real dm-crypt through the real node socket: repeated calls are
idempotent, an incompatible second stage or publish is ALREADY_EXISTS, and
stats or expansion of a volume where it is not mounted is NOT_FOUND. The
rows decided without a staged volume are in tests/wire/test_conformance.py."""
import os

import grpc
import pytest

from lcw_e2e import Env, cleanup_env, csi_pb2, mount_cap, mount_of, rpc_code, volid

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/mapper/control"),
                                reason="no device-mapper here (run through tests/vm/vm-run.sh)")

C = grpc.StatusCode
MIB = 1 << 20
CTX = {"capacity": str(64 * MIB)}


@pytest.fixture(scope="module")
def env():
    e = Env()
    yield e
    cleanup_env(e)


@pytest.fixture(scope="module")
def node(env):
    d = env.node_driver()
    yield d
    assert d.stop() == 0, d.output()


def stage_req(env, vol, staging=None):
    return csi_pb2.NodeStageVolumeRequest(
        volume_id=vol, staging_target_path=staging or env.staging(vol),
        volume_capability=mount_cap(), secrets={"passphrase": "conformance"},
        volume_context=CTX)


def publish_req(env, vol, target, readonly=False):
    return csi_pb2.NodePublishVolumeRequest(
        volume_id=vol, staging_target_path=env.staging(vol), target_path=target,
        volume_capability=mount_cap(), readonly=readonly)


@pytest.fixture(scope="module")
def staged(env, node):
    """One volume staged and published; unpublished and unstaged (twice
    each, the spec's idempotency) at the end."""
    vol = volid()
    target = env.target(vol)
    n = node.node()
    n.NodeStageVolume(stage_req(env, vol), timeout=600)
    n.NodePublishVolume(publish_req(env, vol, target), timeout=60)
    yield vol, target
    for _ in range(2):
        n.NodeUnpublishVolume(csi_pb2.NodeUnpublishVolumeRequest(
            volume_id=vol, target_path=target), timeout=60)
    for _ in range(2):
        n.NodeUnstageVolume(csi_pb2.NodeUnstageVolumeRequest(
            volume_id=vol, staging_target_path=env.staging(vol)), timeout=120)
    assert mount_of(env.staging(vol)) is None


def test_stage_again_is_ok(env, node, staged):
    """NodeStageVolume: already staged at staging_target_path, identical
    capability: 0 OK."""
    vol, _ = staged
    assert rpc_code(node.node().NodeStageVolume, stage_req(env, vol), timeout=600) == C.OK


def test_stage_other_volume_at_that_path_already_exists(env, node, staged):
    """NodeStageVolume Errors, "Volume published but is incompatible": the
    staging path holds another volume: ALREADY_EXISTS, nothing created."""
    vol, _ = staged
    other = volid()
    code = rpc_code(node.node().NodeStageVolume,
                    stage_req(env, other, staging=env.staging(vol)), timeout=600)
    assert code == C.ALREADY_EXISTS
    assert not os.path.exists(env.backing(other))


def test_publish_again_is_ok(env, node, staged):
    """NodePublishVolume: same target_path and arguments: 0 OK."""
    vol, target = staged
    assert rpc_code(node.node().NodePublishVolume, publish_req(env, vol, target),
                    timeout=60) == C.OK


def test_publish_incompatible_already_exists(env, node, staged):
    """NodePublishVolume Errors, "Volume published but is incompatible":
    the same target_path with another readonly flag: ALREADY_EXISTS."""
    vol, target = staged
    assert rpc_code(node.node().NodePublishVolume, publish_req(env, vol, target, readonly=True),
                    timeout=60) == C.ALREADY_EXISTS


def test_stats_ok_and_not_found_elsewhere(env, node, staged):
    """NodeGetVolumeStats Errors, "Volume does not exist" on volume_path:
    the volume's own target answers; another id at that path, or the
    volume at a path where it is not mounted, is NOT_FOUND."""
    vol, target = staged
    n = node.node()
    r = n.NodeGetVolumeStats(csi_pb2.NodeGetVolumeStatsRequest(
        volume_id=vol, volume_path=target), timeout=60)
    assert r.usage[0].total > 0 and not r.volume_condition.abnormal
    for v, p in ((volid(), target), (vol, env.target(vol))):
        os.makedirs(p, exist_ok=True)
        assert rpc_code(n.NodeGetVolumeStats, csi_pb2.NodeGetVolumeStatsRequest(
            volume_id=v, volume_path=p), timeout=60) == C.NOT_FOUND


def test_expand_not_found_elsewhere(env, node, staged):
    """NodeExpandVolume Errors, "Volume does not exist": another id at this
    volume's staging path is NOT_FOUND, and nothing grows."""
    vol, _ = staged
    size = os.path.getsize(env.backing(vol))
    rng = csi_pb2.CapacityRange(required_bytes=128 * MIB)
    assert rpc_code(node.node().NodeExpandVolume, csi_pb2.NodeExpandVolumeRequest(
        volume_id=volid(), volume_path=env.staging(vol), capacity_range=rng),
        timeout=600) == C.NOT_FOUND
    assert os.path.getsize(env.backing(vol)) == size


def test_expand_without_capacity_range_fills_device(env, node, staged):
    """NodeExpandVolume, capacity_range "OPTIONAL ... MAY expand the volume to
    its maximum capacity": without it the file system grows to fill the
    device it has, no backing file grows, and the answer is the volume's
    capacity. A device grown behind the file system (here: the backing file
    extended and the mapping resized by an earlier expand that died before
    growing the file system) is filled by this call."""
    vol, target = staged
    n = node.node()
    size = os.path.getsize(env.backing(vol))
    r = n.NodeExpandVolume(csi_pb2.NodeExpandVolumeRequest(
        volume_id=vol, volume_path=target), timeout=600)
    assert r.capacity_bytes == size
    assert os.path.getsize(env.backing(vol)) == size
    # Grow the backing file as a half-done expansion would have, then
    # expand without a range: the file system must reach the new size.
    before = os.statvfs(target)
    with open(env.backing(vol), "r+b") as f:
        f.truncate(size + 32 * MIB)
    r = n.NodeExpandVolume(csi_pb2.NodeExpandVolumeRequest(
        volume_id=vol, volume_path=target), timeout=600)
    assert r.capacity_bytes == size + 32 * MIB
    after = os.statvfs(target)
    assert after.f_blocks * after.f_frsize >= before.f_blocks * before.f_frsize + 24 * MIB
