"""GetCapacity on a local root that fills up (issue 11), on real dm-crypt in
the VM: every staged volume takes its bytes off the answer, and once the
answer drops below a volume's size the node plugin refuses CreateVolume with
RESOURCE_EXHAUSTED (CSI spec, CreateVolume errors: "Unsupported capacity"
is OUT_OF_RANGE; a node that has no room is RESOURCE_EXHAUSTED). The local
root is a 320 MiB tmpfs, so the numbers are exact (and its loop devices run
buffered: tmpfs refuses direct I/O)."""
import os
import subprocess

import grpc
import pytest

from lcw_e2e import NODE, TOPO_KEY, Env, cleanup_env, csi_pb2, mount_cap, rpc_error, volid

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/mapper/control"),
                                reason="no device-mapper here (run through tests/vm/vm-run.sh)")

MIB = 1 << 20
FS = 320 * MIB
RESERVE = FS // 100 * 10  # --local-reserve default: 10%
VOL = 64 * MIB


@pytest.fixture(scope="module")
def env():
    e = Env(tag="cap")
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FS},nosuid,nodev", "lcw-cap", e.local],
                   check=True)
    yield e
    cleanup_env(e)
    subprocess.run(["umount", "-l", e.local])


@pytest.fixture(scope="module")
def node(env):
    d = env.node_driver()
    yield d
    assert d.stop() == 0, d.output()


def capacity(node):
    return node.controller().GetCapacity(csi_pb2.GetCapacityRequest(
        volume_capabilities=[mount_cap("ext4")],
        accessible_topology=csi_pb2.Topology(segments={TOPO_KEY: NODE})), timeout=30)


def create(node, vol):
    return node.controller().CreateVolume(csi_pb2.CreateVolumeRequest(
        name=vol, capacity_range=csi_pb2.CapacityRange(required_bytes=VOL),
        volume_capabilities=[mount_cap("ext4")],
        accessibility_requirements=csi_pb2.TopologyRequirement(
            preferred=[csi_pb2.Topology(segments={TOPO_KEY: NODE})])), timeout=30).volume


def stage(node, env, v):
    node.node().NodeStageVolume(csi_pb2.NodeStageVolumeRequest(
        volume_id=v.volume_id, staging_target_path=env.staging(v.volume_id),
        volume_capability=mount_cap("ext4"), secrets={"passphrase": "fill it up"},
        volume_context=dict(v.volume_context)), timeout=600)


def unstage(node, env, vol):
    node.node().NodeUnstageVolume(csi_pb2.NodeUnstageVolumeRequest(
        volume_id=vol, staging_target_path=env.staging(vol)), timeout=120)


def test_capacity_drops_as_volumes_fill_the_root_then_create_is_refused(node, env):
    st = os.statvfs(env.local)
    first = capacity(node)
    assert first.available_capacity == st.f_bavail * st.f_frsize - RESERVE
    assert first.minimum_volume_size.value == 32 * MIB
    made, room = [], first.available_capacity
    while room >= VOL:
        v = create(node, volid())
        stage(node, env, v)  # the backing file is allocated here (fallocate)
        made.append(v.volume_id)
        now = capacity(node).available_capacity
        # each volume takes its size (and no more than a little metadata);
        # room for less than the smallest volume (32 MiB) is no room
        if room - VOL >= 33 * MIB:
            assert room - VOL - MIB <= now <= room - VOL, (room, now)
        else:
            assert now == 0 or room - VOL - MIB <= now <= room - VOL, (room, now)
        room = now
        assert len(made) <= 5, "the root cannot hold more than five 64 MiB volumes"
    assert len(made) == 4  # (320 - 32 reserve) / 64
    assert capacity(node).maximum_volume_size.value < VOL
    e = rpc_error(create, node, volid())
    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e.details()
    assert NODE in e.details()
    # unstaging frees nothing: the backing files keep their volumes' bytes
    for vol in made:
        unstage(node, env, vol)
    assert capacity(node).available_capacity == room
